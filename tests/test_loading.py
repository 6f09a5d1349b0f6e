"""helpers.loading: damaged SavedModels fail with the path and the problem, never a crash."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers import loading
from helpers.errors import (
    ArtifactError,
    ArtifactNotFoundError,
    CorruptArtifactError,
)

DATA = "variables/variables.data-00000-of-00001"
INDEX = "variables/variables.index"


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """An untrained digits MLP, exported and saved as .keras (fast: no training)."""
    from helpers.kit.models import digits_mlp

    folder = tmp_path_factory.mktemp("saved")
    model = digits_mlp()
    model.export(folder / "export", verbose=False)
    model.save(folder / "model.keras")
    return folder


def _truncate(length_of):
    def damage(folder: Path) -> None:
        data = (folder / DATA).read_bytes()
        (folder / DATA).write_bytes(data[: length_of(len(data))])

    return damage


def _flip_data_byte(folder: Path) -> None:
    data = bytearray((folder / DATA).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / DATA).write_bytes(bytes(data))


def _two_shards_one_missing(folder: Path) -> None:
    (folder / DATA).rename(folder / "variables/variables.data-00000-of-00002")


INCOMPLETE, CORRUPT = "IncompleteArtifactError", "CorruptArtifactError"

# case -> (damage, expected error class, phrase that must appear in the message): a file
# missing or empty is incomplete, a file there but unreadable (truncated, damaged) is corrupt
DAMAGE = {
    "no saved_model.pb": (
        lambda f: (f / "saved_model.pb").unlink(),
        INCOMPLETE,
        "no saved_model.pb",
    ),
    "empty saved_model.pb": (
        lambda f: (f / "saved_model.pb").write_bytes(b""),
        INCOMPLETE,
        "is empty",
    ),
    "garbage saved_model.pb": (
        lambda f: (f / "saved_model.pb").write_bytes(b"\xff\x00garbage" * 50),
        CORRUPT,
        "saved_model.pb is corrupt",
    ),
    "truncated saved_model.pb": (
        lambda f: (f / "saved_model.pb").write_bytes((f / "saved_model.pb").read_bytes()[:999]),
        CORRUPT,
        "saved_model.pb is corrupt",
    ),
    "no variables index": (
        lambda f: (f / INDEX).unlink(),
        INCOMPLETE,
        "variables.index is missing",
    ),
    "garbage variables index": (
        lambda f: (f / INDEX).write_bytes(b"\x01" * 600),
        CORRUPT,
        "variables/variables.index is unreadable",
    ),
    "no data shard": (lambda f: (f / DATA).unlink(), INCOMPLETE, "no variables.data-* file"),
    "one of two shards missing": (
        _two_shards_one_missing,
        INCOMPLETE,
        "lacks variables.data-00001-of-00002",
    ),
    "empty data": (_truncate(lambda n: 0), CORRUPT, "shorter than variables.index says"),
    "half the data": (_truncate(lambda n: n // 2), CORRUPT, "shorter than variables.index says"),
    "data one byte short": (
        _truncate(lambda n: n - 1),
        CORRUPT,
        "shorter than variables.index says",
    ),
    "one flipped data byte": (_flip_data_byte, CORRUPT, "checksum mismatch"),
}

CHILD = """
import json, sys
import helpers
from helpers.errors import ArtifactError
from helpers.loading import load_savedmodel
results = {}
for case, folder in json.loads(sys.argv[1]).items():
    try:
        load_savedmodel(folder)
        results[case] = ["loaded", ""]
    except ArtifactError as error:
        results[case] = [type(error).__name__, str(error)]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def damaged_results(saved, tmp_path_factory) -> tuple[dict[str, Path], dict[str, list[str]]]:
    """Load every damaged copy in ONE child process: a crash there cannot take pytest down."""
    base = tmp_path_factory.mktemp("damaged")
    folders = {}
    for number, (case, (damage, _, _)) in enumerate(DAMAGE.items()):
        folder = base / f"case{number}"
        shutil.copytree(saved / "export", folder)
        damage(folder)
        folders[case] = folder
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps({k: str(v) for k, v in folders.items()})],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"child crashed ({result.returncode}):\n{result.stderr[-3000:]}"
    return folders, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_savedmodel_gives_a_clear_error(damaged_results, case):
    folders, results = damaged_results
    kind, message = results[case]
    assert kind == DAMAGE[case][1], f"{case}: {kind} {message}"
    assert message.startswith(f"{folders[case]}: "), "the message must start with the path"
    assert DAMAGE[case][2] in message, message


def test_missing_and_file_paths(tmp_path):
    with pytest.raises(ArtifactNotFoundError, match="no such SavedModel folder"):
        loading.load_savedmodel(tmp_path / "nowhere")
    a_file = tmp_path / "model.pb"
    a_file.write_bytes(b"x")
    with pytest.raises(CorruptArtifactError, match="is a file"):
        loading.load_savedmodel(a_file)


def test_intact_export_checks_and_loads(saved):
    signatures = {s.key for s in loading.check_savedmodel(saved / "export")}
    assert signatures == {"serve", "serving_default"}
    loaded = loading.load_savedmodel(saved / "export")
    x = np.zeros((8, 64), np.float32)
    assert loaded.serve(x).shape == (8, 10)


def test_read_values_false_only_opens_the_index(saved, tmp_path):
    folder = tmp_path / "flipped"
    shutil.copytree(saved / "export", folder)
    _flip_data_byte(folder)
    loading.check_savedmodel(folder, read_values=False)  # the index is intact
    with pytest.raises(CorruptArtifactError, match="checksum mismatch"):
        loading.check_savedmodel(folder)


def test_tensorflow_failure_after_checks_is_wrapped(saved, monkeypatch):
    import tensorflow as tf

    def refuse(path, *args, **kwargs):
        raise tf.errors.NotFoundError(None, None, "Op type not registered 'Imaginary'\nmore")

    monkeypatch.setattr(tf.saved_model, "load", refuse)
    with pytest.raises(CorruptArtifactError) as caught:
        loading.load_savedmodel(saved / "export")
    assert str(caught.value) == (
        f"{saved / 'export'}: TensorFlow could not load it: "
        "NotFoundError: Op type not registered 'Imaginary'"
    )
    assert isinstance(caught.value, ArtifactError)


def test_signature_lookup(saved):
    loaded = loading.load_savedmodel(saved / "export")
    assert loading.signature(loaded) is loaded.signatures["serving_default"]
    with pytest.raises(KeyError, match=r"available: serve, serving_default"):
        loading.signature(loaded, "predict")
    with pytest.raises(TypeError, match="not a loaded SavedModel"):
        loading.signature(object())


def test_load_keras(saved, tmp_path):
    model = loading.load_keras(saved / "model.keras", compile=False)  # keyword passed on
    assert model.name == "digits_mlp"
    with pytest.raises(ArtifactNotFoundError):
        loading.load_keras(tmp_path / "missing.keras")
    not_zip = tmp_path / "broken.keras"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(CorruptArtifactError, match="not a zip archive"):
        loading.load_keras(not_zip)
    bad_config = tmp_path / "bad_config.keras"
    with zipfile.ZipFile(bad_config, "w") as archive:
        archive.writestr("config.json", "{not json")
        archive.writestr("metadata.json", "{}")
    with pytest.raises(CorruptArtifactError, match=r"bad_config\.keras: Keras could not load it"):
        loading.load_keras(bad_config)
