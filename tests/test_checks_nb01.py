"""Notebook 01's exercise checks, on fake version folders and fake signatures (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.checks import nb01
from helpers.errors import NotASavedModelError
from helpers.inspection import SignatureInfo, TensorSpecInfo


def fake_export(folder: Path, weights: bytes) -> Path:
    """A folder that passes helpers.paths.is_complete_savedmodel, holding ``weights``."""
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "variables" / "variables.index").write_bytes(b"index")
    (folder / "variables" / "variables.data-00000-of-00001").write_bytes(weights)
    return folder


@pytest.fixture
def versions(tmp_path: Path) -> Path:
    """Notebook 01's state before the exercise: versions 1 and 2, and a crashed folder 3."""
    base = tmp_path / "digits_mlp"
    fake_export(base / "1", b"epoch 20")
    fake_export(base / "2", b"epoch 25")
    (base / "3" / "variables").mkdir(parents=True)
    return base


def verdict(capsys) -> str:
    return capsys.readouterr().out.strip()


def test_exercise_1_right_answer(versions, capsys):
    fake_export(versions / "4", b"epoch 27")
    assert nb01.exercise_1(versions / "4", versions, versions / "3").solved is True
    out = verdict(capsys)
    assert out.startswith("✅ Exercise 1.1 (a third version) solved.")
    assert "Folder 3 is skipped" in out
    # a string path works as well as a Path
    assert nb01.exercise_1(str(versions / "4"), str(versions), versions / "3").solved is True


def test_exercise_1_placeholder(versions, capsys):
    assert nb01.exercise_1(None, versions, versions / "3").solved is False
    assert "⏳ Exercise 1.1 (a third version) is not solved yet: set `latest_folder`" in verdict(
        capsys
    )


@pytest.mark.parametrize(
    ("setup", "answer", "hint"),
    [
        (lambda base: None, "2", "no version after the crashed folder 3"),
        (lambda base: fake_export(base / "4", b"epoch 27"), "3", "3 is the crashed one"),
        (lambda base: fake_export(base / "4", b"epoch 27"), "2", "returns folder 4, not 2"),
        (lambda base: fake_export(base / "4", b"epoch 25"), "4", "train `model` for two more"),
        (lambda base: (base / "4").mkdir(), "4", "newest folder, 4, is incomplete"),
        (
            lambda base: (fake_export(base / "4", b"epoch 27"), (base / ".5.partial").mkdir()),
            "4",
            ".5.partial is a half-finished publish",
        ),
    ],
    ids=[
        "no-new-export",
        "crashed-folder",
        "old-latest",
        "same-weights",
        "export-unfinished",
        "publish-unfinished",
    ],
)
def test_exercise_1_wrong_answers_get_specific_hints(versions, capsys, setup, answer, hint):
    setup(versions)
    assert nb01.exercise_1(versions / answer, versions, versions / "3").solved is False
    out = verdict(capsys)
    assert out.startswith("❌ Exercise 1.1 (a third version): not quite.")
    assert hint in out


def test_exercise_1_overwriting_the_crashed_folder_is_refused(versions, capsys):
    (versions / "3" / "variables").rmdir()
    (versions / "3").rmdir()
    fake_export(versions / "3", b"epoch 27")
    assert nb01.exercise_1(versions / "3", versions, versions / "3").solved is False
    assert "crashed export and must stay as it is" in verdict(capsys)


def signatures(key: str) -> list[SignatureInfo]:
    spec_in = (TensorSpecInfo(key, "float32", (None, 64)),)
    spec_out = (TensorSpecInfo("output_0", "float32", (None, 10)),)
    return [SignatureInfo(name, spec_in, spec_out) for name in ("serve", "serving_default")]


@pytest.fixture
def exports(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """A named export (key 'pixels') and an unnamed one (key 'keras_tensor_9'), faked."""
    named, unnamed = tmp_path / "digits_mlp" / "1", tmp_path / "unnamed_input"
    keys = {named: "pixels", unnamed: "keras_tensor_9"}

    def fake_signatures(path):
        return signatures(keys[Path(path)])

    monkeypatch.setattr("helpers.inspection.savedmodel_signatures", fake_signatures)
    return named, unnamed


def test_exercise_2_right_answer(exports, capsys):
    named, unnamed = exports
    assert nb01.exercise_2("keras_tensor_9", unnamed, named).solved is True
    out = verdict(capsys)
    assert out.startswith("✅ Exercise 1.2 (name the input) solved.")
    assert "'keras_tensor_9', a name Keras made up" in out


def test_exercise_2_placeholders(exports, capsys):
    named, unnamed = exports
    assert nb01.exercise_2(None, None, named).solved is False
    assert nb01.exercise_2(None, unnamed, named).solved is False
    first, second = verdict(capsys).splitlines()
    assert "is not solved yet: set `unnamed_export`" in first
    assert "is not solved yet: set `input_key`" in second


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        ("pixels", "'pixels' is the key of the named model"),
        ("inputs", "what tf.saved_model.save() would call it"),
        ("keras_tensor", "not called 'keras_tensor'"),
        (9, "should be a string"),
    ],
)
def test_exercise_2_wrong_keys_get_specific_hints(exports, capsys, answer, hint):
    named, unnamed = exports
    assert nb01.exercise_2(answer, unnamed, named).solved is False
    out = verdict(capsys)
    assert out.startswith("❌ Exercise 1.2 (name the input): not quite.")
    assert hint in out


def test_exercise_2_wrong_folders(exports, tmp_path, monkeypatch, capsys):
    named, unnamed = exports
    assert nb01.exercise_2("pixels", named, named).solved is False
    assert "export of the named model" in verdict(capsys)

    # a copy that still has a named input: the learner kept name="pixels"
    monkeypatch.setattr(
        "helpers.inspection.savedmodel_signatures", lambda path: signatures("pixels")
    )
    assert nb01.exercise_2("pixels", unnamed, named).solved is False
    assert "still called 'pixels'" in verdict(capsys)


def test_exercise_2_not_a_savedmodel(tmp_path, monkeypatch, capsys):
    def not_a_savedmodel(path):  # what helpers.inspection raises for a folder without one
        raise NotASavedModelError(path, "no saved_model.pb")

    monkeypatch.setattr("helpers.inspection.savedmodel_signatures", not_a_savedmodel)
    assert nb01.exercise_2("keras_tensor_9", tmp_path / "empty", tmp_path / "named").solved is False
    out = verdict(capsys)
    assert "unnamed_export is not a SavedModel" in out and "verbose=False" in out
