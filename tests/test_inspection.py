from __future__ import annotations

import zipfile

import pytest

from helpers import inspection
from helpers.errors import ArtifactNotFoundError, CorruptArtifactError, IncompleteArtifactError


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """An untrained digits MLP, exported and saved as .keras (fast: no training)."""
    from helpers.kit.models import digits_mlp

    folder = tmp_path_factory.mktemp("saved")
    model = digits_mlp()
    model.export(folder / "export", verbose=False)
    model.save(folder / "model.keras")
    return folder


def test_human_size():
    assert inspection.human_size(96) == "0.1 KiB"
    assert inspection.human_size(1536) == "1.5 KiB"
    assert inspection.human_size(5 * 1024**2) == "5.0 MiB"
    assert inspection.human_size(3 * 1024**3, decimals=0) == "3 GiB"


def test_savedmodel_files_have_roles(saved):
    entries = {entry.path: entry for entry in inspection.savedmodel_files(saved / "export")}
    assert {"saved_model.pb", "fingerprint.pb", "variables/variables.index"} <= set(entries)
    data = entries["variables/variables.data-00000-of-00001"]
    assert data.role == "variable values, shard 1 of 1" and data.size > 0
    table = inspection.format_files(list(entries.values()))
    assert table.splitlines()[-1].startswith("total") and "≈" in table


def test_signatures_read_without_loading(saved):
    signatures = {s.key: s for s in inspection.savedmodel_signatures(saved / "export")}
    assert set(signatures) == {"serve", "serving_default"}
    (pixels,) = signatures["serving_default"].inputs
    assert (pixels.key, pixels.dtype, pixels.shape) == ("pixels", "float32", (None, 64))
    (output,) = signatures["serving_default"].outputs
    assert output.shape == (None, 10)
    text = inspection.format_signatures(list(signatures.values()))
    assert "input  pixels: float32 (?, 64)" in text


def test_keras_archive_members(saved):
    members = {
        entry.path: entry for entry in inspection.keras_archive_members(saved / "model.keras")
    }
    assert set(members) == {"metadata.json", "config.json", "model.weights.h5"}
    assert members["config.json"].role.startswith("architecture")
    summary = inspection.keras_config_summary(saved / "model.keras")
    assert summary["layers"] == ["pixels", "hidden", "probabilities"]


def test_savedmodel_bad_inputs_name_path_and_problem(tmp_path, saved):
    cases = {
        tmp_path / "missing": (ArtifactNotFoundError, "no such SavedModel folder"),
        saved / "model.keras": (CorruptArtifactError, "is a file"),
        tmp_path: (IncompleteArtifactError, "no saved_model.pb"),
    }
    for path, (error_type, problem) in cases.items():
        with pytest.raises(error_type, match=problem) as caught:
            inspection.savedmodel_files(path)
        assert caught.value.path == path


def test_partial_and_corrupt_savedmodels(tmp_path):
    folder = tmp_path / "partial"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"")
    with pytest.raises(IncompleteArtifactError, match="empty"):
        inspection.savedmodel_signatures(folder)
    (folder / "saved_model.pb").write_bytes(b"\xff" * 64)
    with pytest.raises(IncompleteArtifactError, match=r"variables\.index is missing"):
        inspection.savedmodel_signatures(folder)
    (folder / "variables").mkdir()
    (folder / "variables" / "variables.index").write_bytes(b"")
    with pytest.raises(IncompleteArtifactError, match=r"no variables\.data-\* file"):
        inspection.savedmodel_signatures(folder)
    (folder / "variables" / "variables.data-00000-of-00002").write_bytes(b"values")
    with pytest.raises(IncompleteArtifactError, match=r"lacks variables\.data-00001-of-00002"):
        inspection.inspect_savedmodel(folder)
    (folder / "variables" / "variables.data-00001-of-00002").write_bytes(b"values")
    assert inspection.inspect_savedmodel(folder) == folder  # the files alone look complete
    with pytest.raises(CorruptArtifactError, match="corrupt"):
        inspection.savedmodel_signatures(folder)


def test_checkpoint_files_and_inspect_checkpoint(tmp_path):
    prefix = tmp_path / "ckpt[1]"  # glob characters in the name are taken literally
    assert inspection.checkpoint_index(prefix) == tmp_path / "ckpt[1].index"
    assert inspection.missing_shards(prefix) is None
    with pytest.raises(IncompleteArtifactError, match=r"ckpt\[1\]\.index is missing or empty"):
        inspection.inspect_checkpoint(prefix)
    inspection.checkpoint_index(prefix).write_bytes(b"index")
    (tmp_path / "other.index").write_bytes(b"index")
    assert inspection.checkpoint_prefixes(tmp_path) == [prefix, tmp_path / "other"]
    with pytest.raises(IncompleteArtifactError, match=r"data file missing: no ckpt\[1\]\.data"):
        inspection.inspect_checkpoint(prefix)
    (tmp_path / "ckpt[1].data-00001-of-00003").write_bytes(b"values")
    (tmp_path / "ckpt1.data-00000-of-00003").write_bytes(b"another checkpoint's values")
    assert inspection.checkpoint_data_files(prefix) == [tmp_path / "ckpt[1].data-00001-of-00003"]
    assert inspection.missing_shards(prefix) == [
        "ckpt[1].data-00000-of-00003",
        "ckpt[1].data-00002-of-00003",
    ]
    with pytest.raises(IncompleteArtifactError, match="data file missing") as caught:
        inspection.inspect_checkpoint(prefix)
    assert caught.value.path == prefix
    for shard in (0, 2):
        (tmp_path / f"ckpt[1].data-0000{shard}-of-00003").write_bytes(b"values")
    assert inspection.inspect_checkpoint(prefix) == prefix


def test_keras_bad_inputs(tmp_path):
    not_zip = tmp_path / "fake.keras"
    not_zip.write_text("hello")
    with pytest.raises(CorruptArtifactError, match="not a zip archive"):
        inspection.inspect_keras(not_zip)
    with pytest.raises(ArtifactNotFoundError):
        inspection.keras_archive_members(tmp_path / "missing.keras")
    with pytest.raises(CorruptArtifactError, match="is a folder"):
        inspection.inspect_keras(tmp_path)
    incomplete = tmp_path / "incomplete.keras"
    with zipfile.ZipFile(incomplete, "w") as archive:
        archive.writestr("config.json", "{}")
    with pytest.raises(IncompleteArtifactError, match=r"lacks metadata\.json"):
        inspection.keras_archive_members(incomplete)
    broken = tmp_path / "broken.keras"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("config.json", "{not json")
        archive.writestr("metadata.json", "{}")
    assert inspection.inspect_keras(broken) == broken  # the zip directory is complete
    with pytest.raises(CorruptArtifactError, match="not valid JSON"):
        inspection.keras_config_summary(broken)
