"""Notebook 01's exercise checks, on stand-in version folders and fake signatures (no TF)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import helpers
from helpers.checks import nb01
from helpers.errors import IncompleteArtifactError
from helpers.inspection import SignatureInfo, TensorSpecInfo


def fake_export(folder: Path, weights: bytes) -> Path:
    """A folder that passes helpers.artifacts.is_complete_savedmodel, holding ``weights``."""
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


def highest_complete(versions):  # the notebook's solution
    numbered = [child for child in versions.iterdir() if child.name.isdigit()]
    complete = [child for child in numbered if (child / "saved_model.pb").is_file()]
    return max(complete, key=lambda child: int(child.name))


def newest_first(versions):  # another right answer: walk down from the highest number
    numbers = sorted((int(n) for n in os.listdir(versions) if n.isdigit()), reverse=True)
    for number in numbers:
        if (Path(versions) / str(number) / "saved_model.pb").exists():
            return str(Path(versions) / str(number))
    return None


def test_exercise_1_right_answers(versions, capsys):
    fake_export(versions / "4", b"epoch 27")
    assert nb01.exercise_1(highest_complete, versions, versions / "3").solved is True
    out = verdict(capsys)
    assert out.startswith("✅ Exercise 1.1 (a third version) solved.")
    assert "Folder 3 is skipped" in out and "3 other folders too" in out
    assert nb01.exercise_1(newest_first, str(versions), versions / "3").solved is True


def test_exercise_1_placeholder(versions, capsys):
    assert nb01.exercise_1(None, versions, versions / "3").solved is False
    assert "⏳ Exercise 1.1 (a third version) is not solved yet: set `latest_complete`" in verdict(
        capsys
    )


def _the_kits_lookup(versions):  # the shortcut the task puts off limits
    return helpers.artifacts.latest_complete_savedmodel(versions)


def _the_kits_list(versions):
    return helpers.artifacts.version_dirs(versions)[-1][1]


def _highest_number(versions):  # skips the completeness test
    return max((c for c in versions.iterdir() if c.name.isdigit()), key=lambda c: int(c.name))


def _sorted_as_text(versions):  # "9" > "10"
    numbered = [c for c in versions.iterdir() if c.name.isdigit()]
    return max((c for c in numbered if (c / "saved_model.pb").is_file()), key=lambda c: c.name)


def _any_complete_folder(versions):  # takes names that are not numbers, ranked above numbers
    complete = [c for c in versions.iterdir() if (c / "saved_model.pb").is_file()]
    return max(complete, key=lambda c: int(c.name) if c.name.isdigit() else float("inf"))


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda base: base / "4", "should be a function of the versions folder"),
        (lambda base: lambda v: base / "4", "your latest_complete returned '4', not '2'"),
        (lambda base: lambda v: base / "2", "returned folder 2, but the highest complete"),
        (lambda base: lambda v: base / "3", "returned folder 3, the crashed one"),
        (lambda base: _highest_number, "your latest_complete returned '3', not '2'"),
        (lambda base: _sorted_as_text, "returned '9', not '10'"),
        (lambda base: _any_complete_folder, "'.2.partial', 'notes', your latest_complete"),
        (
            lambda base: _the_kits_lookup,
            "`helpers.artifacts.latest_complete_savedmodel` is off limits",
        ),
        (lambda base: _the_kits_list, "`helpers.artifacts.version_dirs` is off limits"),
        (lambda base: lambda v: 4, "returned 4: return the folder"),
    ],
    ids=[
        "a folder typed in",
        "a function returning a typed folder",
        "version 2, from an earlier cell",
        "the crashed folder",
        "completeness skipped",
        "numbers compared as text",
        "names that are not numbers",
        "kit's latest_complete_savedmodel",
        "kit's version_dirs",
        "not a path",
    ],
)
def test_exercise_1_wrong_functions(versions, capsys, answer, hint):
    fake_export(versions / "4", b"epoch 27")
    assert nb01.exercise_1(answer(versions), versions, versions / "3").solved is False
    out = verdict(capsys)
    assert out.startswith("❌ Exercise 1.1 (a third version)") and hint in out, out


@pytest.mark.parametrize(
    ("setup", "hint"),
    [
        (lambda base: None, "no version after the crashed folder 3"),
        (lambda base: fake_export(base / "4", b"epoch 25"), "train `model` for two more"),
        (lambda base: (base / "4").mkdir(), "newest folder, 4, is incomplete"),
        (
            lambda base: (fake_export(base / "4", b"epoch 27"), (base / ".5.partial").mkdir()),
            ".5.partial is a half-finished publish",
        ),
    ],
    ids=["no new export", "not trained", "export unfinished", "publish unfinished"],
)
def test_exercise_1_skipped_steps(versions, capsys, setup, hint):
    setup(versions)
    assert nb01.exercise_1(highest_complete, versions, versions / "3").solved is False
    out = verdict(capsys)
    assert out.startswith("❌ Exercise 1.1 (a third version): not quite.") and hint in out


def test_exercise_1_overwriting_the_crashed_folder_is_refused(versions, capsys):
    (versions / "3" / "variables").rmdir()
    (versions / "3").rmdir()
    fake_export(versions / "3", b"epoch 27")
    assert nb01.exercise_1(highest_complete, versions, versions / "3").solved is False
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


def reader(named: Path, unnamed: Path):
    """A stand-in for the learner's read_input_key: what each (faked) export's key is."""
    return lambda folder: {named: "pixels", unnamed: "keras_tensor_9"}[Path(folder)]


def test_exercise_2_right_answer(exports, capsys):
    named, unnamed = exports
    assert nb01.exercise_2(reader(named, unnamed), unnamed, named).solved is True
    out = verdict(capsys)
    assert out.startswith("✅ Exercise 1.2 (name the input) solved.")
    assert "'keras_tensor_9', a name Keras made up (the named export's is 'pixels')" in out
    # a str folder works as well as a Path
    assert nb01.exercise_2(reader(named, unnamed), str(unnamed), named).solved is True


def test_exercise_2_placeholders(exports, capsys):
    named, unnamed = exports
    assert nb01.exercise_2(None, None, named).solved is False
    assert nb01.exercise_2(None, unnamed, named).solved is False
    first, second = verdict(capsys).splitlines()
    assert "is not solved yet: set `unnamed_export`" in first
    assert "is not solved yet: set `read_input_key`" in second


def _the_kits_signatures(folder):  # the shortcut the task puts off limits
    (serving,) = [s for s in helpers.inspection.savedmodel_signatures(folder) if s.key == "serve"]
    return serving.inputs[0].key


def _the_kits_cli(folder):
    helpers.kit.cli.saved_model_cli("show", "--dir", str(folder), "--all")
    return "pixels"


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda n, u: "keras_tensor_9", "should be a function of an export folder"),
        (lambda n, u: lambda f: "keras_tensor_9", "returned 'keras_tensor_9', but that export"),
        (lambda n, u: lambda f: "pixels", "returned 'pixels', but that export's"),
        (lambda n, u: lambda f: "inputs", "what tf.saved_model.save() would call it"),
        (lambda n, u: lambda f: 9, "returned 9: return the key's name"),
        (lambda n, u: _the_kits_signatures, "`helpers.inspection.savedmodel_signatures` is off"),
        (lambda n, u: _the_kits_cli, "`helpers.kit.cli.saved_model_cli` is off limits"),
    ],
    ids=[
        "a key typed in",
        "a function returning a typed key",
        "the named model's key",
        "tf.saved_model.save's key",
        "not a string",
        "kit's signature reader",
        "kit's saved_model_cli",
    ],
)
def test_exercise_2_wrong_functions(exports, capsys, answer, hint):
    named, unnamed = exports
    assert nb01.exercise_2(answer(named, unnamed), unnamed, named).solved is False
    out = verdict(capsys)
    assert out.startswith("❌ Exercise 1.2 (name the input)") and hint in out, out


def test_exercise_2_wrong_folders(exports, monkeypatch, capsys):
    named, unnamed = exports
    # the named export from an earlier cell, given as the copy's
    assert nb01.exercise_2(reader(named, unnamed), named, named).solved is False
    assert "export of the named model" in verdict(capsys)

    # a copy that still has a named input: the learner kept name="pixels"
    monkeypatch.setattr(
        "helpers.inspection.savedmodel_signatures", lambda path: signatures("pixels")
    )
    assert nb01.exercise_2(lambda f: "pixels", unnamed, named).solved is False
    assert "still called 'pixels'" in verdict(capsys)


def test_exercise_2_not_a_savedmodel(tmp_path, monkeypatch, capsys):
    def not_a_savedmodel(path):  # what helpers.inspection raises for a folder without one
        raise IncompleteArtifactError(path, "no saved_model.pb")

    monkeypatch.setattr("helpers.inspection.savedmodel_signatures", not_a_savedmodel)
    answer = nb01.exercise_2(lambda f: "k", tmp_path / "empty", tmp_path / "named")
    assert answer.solved is False
    out = verdict(capsys)
    assert "unnamed_export is not a SavedModel" in out and "verbose=False" in out
