from __future__ import annotations

import pytest

from helpers import integrity
from helpers.errors import ArtifactNotFoundError, IntegrityError


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "model"
    (root / "variables").mkdir(parents=True)
    (root / "saved_model.pb").write_bytes(b"graph")
    (root / "variables" / "variables.index").write_bytes(b"index")
    return root


def test_folder_manifest_round_trip_in_sha256sum_format(folder):
    manifest = integrity.write_manifest(folder)
    assert manifest == folder / integrity.MANIFEST_NAME
    lines = manifest.read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == [
        "saved_model.pb",
        "variables/variables.index",
    ]
    assert integrity.verify_manifest(folder) == 2


def test_every_kind_of_damage_is_named(folder):
    integrity.write_manifest(folder)
    (folder / "saved_model.pb").write_bytes(b"grapH")
    (folder / "variables" / "variables.index").unlink()
    (folder / "extra.bin").write_bytes(b"?")
    with pytest.raises(IntegrityError) as caught:
        integrity.verify_manifest(folder)
    message = str(caught.value)
    assert str(folder) in message
    for problem in (
        "changed saved_model.pb",
        "missing variables/variables.index",
        "unexpected extra.bin",
    ):
        assert problem in message


def test_single_file_manifest_is_a_sibling(tmp_path):
    model = tmp_path / "m.keras"
    model.write_bytes(b"zip")
    assert integrity.write_manifest(model) == tmp_path / "m.keras.sha256"
    assert integrity.verify_manifest(model) == 1
    model.write_bytes(b"zap")
    with pytest.raises(IntegrityError, match=r"changed m\.keras"):
        integrity.verify_manifest(model)


def test_missing_and_malformed_manifests(folder, tmp_path):
    with pytest.raises(IntegrityError, match="no manifest"):
        integrity.verify_manifest(folder)
    (folder / integrity.MANIFEST_NAME).write_text("not a digest line\n")
    with pytest.raises(IntegrityError, match="line 1 is malformed"):
        integrity.verify_manifest(folder)
    with pytest.raises(ArtifactNotFoundError):
        integrity.verify_manifest(tmp_path / "nothing")
    with pytest.raises(ArtifactNotFoundError):
        integrity.write_manifest(tmp_path / "nothing")
