"""Notebook 12's exercise checks: decide from a scan, contain an unknown model."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

import helpers  # noqa: F401  (quiet TensorFlow first)
from helpers import safety
from helpers.checks import nb12


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import keras

    folder = tmp_path_factory.mktemp("mystery")
    inputs = keras.Input(shape=(4,), name="features")
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(folder / "a.keras")
    with (
        zipfile.ZipFile(folder / "a.keras") as old,
        zipfile.ZipFile(folder / "b.keras", "w") as new,
    ):
        for name in old.namelist():
            new.writestr(name, old.read(name))
        new.writestr("../escape.txt", b"x")
    return {"a.keras": folder / "a.keras", "b.keras": folder / "b.keras"}


def right_answer(files):
    findings = {name: safety.scan(path) for name, path in files.items()}
    return findings, {"a.keras": "load", "b.keras": "refuse"}


def test_exercise_1_right_answer(files, capsys):
    assert nb12.exercise_1(*right_answer(files), files).solved is True
    assert "✅ Exercise 12.1" in capsys.readouterr().out


def test_exercise_1_accepts_a_scan_written_another_way(files, capsys):
    findings = {}
    for name in sorted(files):
        findings[name] = tuple(safety.scan(str(files[name])))
    decisions = {name: ("refuse" if any(f.severity != "info" for f in found) else "load")
                 for name, found in findings.items()}  # fmt: skip
    assert nb12.exercise_1(findings, decisions, files).solved is True


@pytest.mark.parametrize(
    ("change", "hint"),
    [
        (lambda f, d: (None, d), "not solved yet: set `findings`"),
        (lambda f, d: (f, None), "not solved yet: set `decisions`"),
        (lambda f, d: ({"a.keras": f["a.keras"]}, d), "Scan every file"),
        (lambda f, d: (f, {**d, "b.keras": "maybe"}), 'Each decision is "load" or "refuse"'),
        (lambda f, d: (f, {**d, "b.keras": "load"}), "its worst finding is 'danger'"),
        (lambda f, d: ({"a.keras": [], "b.keras": []}, {**d, "b.keras": "load"}), "is not what"),
        (lambda f, d: (f, {"a.keras": "refuse", "b.keras": "refuse"}), "'load'"),
    ],
)
def test_exercise_1_wrong_answers(files, capsys, change, hint):
    findings, decisions = change(*right_answer(files))
    assert nb12.exercise_1(findings, decisions, files).solved is False
    assert hint in capsys.readouterr().out


def test_exercise_2_placeholders_and_wrong_types(tmp_path, capsys):
    assert nb12.exercise_2(None, None, tmp_path, tmp_path / "x").solved is False
    assert "not solved yet: set `run`" in capsys.readouterr().out
    assert nb12.exercise_2("run", [], tmp_path, tmp_path / "x").solved is False
    assert "should be the SandboxRun" in capsys.readouterr().out


def fake_run(model, written, error="PermissionDeniedError: x; Read-only file system"):
    return safety.SandboxRun(model.resolve(), None, error, model, written)


def test_exercise_2_right_answer_and_escapes(tmp_path, capsys):
    suspect, target = tmp_path / "suspect", tmp_path / "escaped.txt"
    suspect.mkdir()
    run = fake_run(suspect, ["note.txt"])
    assert nb12.exercise_2(run, ["note.txt"], suspect, target).solved is True
    assert "failed (Read-only file system)" in capsys.readouterr().out
    target.write_text("escaped")  # as if the learner had loaded it in the kernel
    assert nb12.exercise_2(run, ["note.txt"], suspect, target).solved is False
    assert "exists outside the sandbox" in capsys.readouterr().out


def test_exercise_2_other_model_or_wrong_list(tmp_path, capsys):
    suspect, other = tmp_path / "suspect", tmp_path / "other"
    suspect.mkdir()
    other.mkdir()
    assert nb12.exercise_2(fake_run(other, ["a"]), ["a"], suspect, tmp_path / "t").solved is False
    assert "not the suspect" in capsys.readouterr().out
    assert nb12.exercise_2(fake_run(suspect, ["a"]), [], suspect, tmp_path / "t").solved is False
    assert "`run.written` is ['a']" in capsys.readouterr().out
    assert nb12.exercise_2(fake_run(suspect, []), [], suspect, tmp_path / "t").solved is False
    assert "wrote nothing" in capsys.readouterr().out


def test_exercise_2_with_a_real_sandbox(tmp_path, capsys):
    if safety.sandbox_unavailable() is not None:
        pytest.skip("no namespaces here")
    import tensorflow as tf

    target = (tmp_path / "escaped.txt").resolve()

    class Suspect(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x):
            tf.io.write_file("note.txt", "hi")
            tf.io.write_file(str(target), "escaped")
            return {"y": x}

    suspect = Suspect()
    tf.saved_model.save(
        suspect, str(tmp_path / "suspect"), signatures={"serving_default": suspect.serve}
    )
    run = safety.load_in_sandbox(
        tmp_path / "suspect", np.ones((1, 4), np.float32), workdir=tmp_path
    )
    assert nb12.exercise_2(run, run.written, tmp_path / "suspect", target).solved is True
    assert not target.exists()
