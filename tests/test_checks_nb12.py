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
    """One file at each level: none (a.keras), info only (d_table), warning (e.keras: a class
    from outside Keras), danger (b.keras: a member climbing out of the archive)."""
    import keras
    import tensorflow as tf

    from helpers import custom_objects

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
    custom_objects.digits_resnet(8, 1).save(folder / "e.keras")
    module = tf.Module()
    module.table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(["a", "b"], [0, 1]), default_value=-1
    )
    tf.saved_model.save(module, str(folder / "d_table"))
    made = {name: folder / name for name in ("a.keras", "b.keras", "d_table", "e.keras")}
    levels = {name: safety.worst(safety.scan(path)) for name, path in made.items()}
    assert levels == {"a.keras": "info", "b.keras": "danger", "d_table": "info",
                      "e.keras": "warning"}, levels  # fmt: skip
    assert safety.scan(made["d_table"]), "d_table should have an info finding"
    return made


RIGHT = {"a.keras": "load", "b.keras": "refuse", "d_table": "load", "e.keras": "refuse"}
SOLUTION = """findings = {name: safety.scan(path) for name, path in mystery.items()}
decisions = {
    name: "load" if safety.worst(found) == "info" else "refuse" for name, found in findings.items()
}
"""


def right_answer(files):
    findings = {name: safety.scan(path) for name, path in files.items()}
    return findings, dict(RIGHT)


def test_exercise_1_right_answer(files, capsys):
    assert nb12.exercise_1(*right_answer(files), files, source=SOLUTION).solved is True
    assert "✅ Exercise 12.1" in capsys.readouterr().out


def test_exercise_1_the_notebooks_solution_is_accepted(files, capsys):
    from nbsource import code_cells

    (cell,) = [c for c in code_cells("12") if "# BEGIN SOLUTION" in c and "decisions" in c]
    assert nb12.exercise_1(*right_answer(files), files, source=cell).solved is True


def test_exercise_1_accepts_a_scan_written_another_way(files, capsys):
    findings = {}
    for name in sorted(files):
        findings[name] = tuple(safety.scan(str(files[name])))
    decisions = {name: ("refuse" if any(f.severity != "info" for f in found) else "load")
                 for name, found in findings.items()}  # fmt: skip
    other = (
        "findings = {}\n"
        "for name in sorted(mystery):\n"
        "    findings[name] = tuple(safety.scan(str(mystery[name])))\n"
        "decisions = {name: ('refuse' if any(f.severity != 'info' for f in found) else 'load')\n"
        "             for name, found in findings.items()}\n"
    )
    assert nb12.exercise_1(findings, decisions, files, source=other).solved is True


def only_danger(findings):
    return {n: "refuse" if safety.worst(f) == "danger" else "load" for n, f in findings.items()}


def any_finding(findings):
    return {n: "refuse" if f else "load" for n, f in findings.items()}


@pytest.mark.parametrize(
    ("change", "source", "hint"),
    [
        (lambda f, d: (None, d), SOLUTION, "not solved yet: set `findings`"),
        (lambda f, d: (f, None), SOLUTION, "not solved yet: set `decisions`"),
        (lambda f, d: ({"a.keras": f["a.keras"]}, d), SOLUTION, "Scan every file"),
        (lambda f, d: (f, {**d, "b.keras": "maybe"}), SOLUTION, 'Each decision is "load" or'),
        (lambda f, d: (f, {**d, "b.keras": "load"}), SOLUTION, "its worst finding is 'danger'"),
        (lambda f, d: ({n: [] for n in f}, d), SOLUTION, "is not what"),
        # policy "refuse only danger": the warning file is loaded
        (
            lambda f, d: (f, only_danger(f)),
            SOLUTION.replace('== "info"', '!= "danger"'),
            "refuse it too, not only danger",
        ),
        # policy "refuse anything with a finding": the info-only file is refused
        (
            lambda f, d: (f, any_finding(f)),
            SOLUTION.replace('worst(found) == "info"', 'worst(found) == "info" and not found'),
            "info findings are facts worth knowing",
        ),
        # a value typed in instead of computed (right values, but not from the scan)
        (
            lambda f, d: (f, d),
            SOLUTION.split("decisions =")[0] + "decisions = " + repr(RIGHT),
            "`decisions` is typed in",
        ),
        # a required step skipped: deciding without looking at severities
        (
            lambda f, d: (f, d),
            "findings = {n: safety.scan(p) for n, p in mystery.items()}\n"
            "decisions = {n: ['refuse', 'load'][n in ('a.keras', 'd_table')] for n in findings}\n",
            "Decide from the severities",
        ),
        # the forbidden shortcut the task names: loading a file to see what it does
        (
            lambda f, d: (f, d),
            SOLUTION + "probe = safety.load_in_sandbox(mystery['e.keras'], x, workdir='w')\n",
            "Loading a mystery file to see what it does is off limits",
        ),
        (
            lambda f, d: (f, d),
            SOLUTION + "helpers.checks.nb12.exercise_1(findings, decisions, mystery)\n",
            "The check's own code is off limits",
        ),
        # an object from an earlier cell: section 5's `findings` (one list, not a dict by name)
        (lambda f, d: (f["b.keras"], d), SOLUTION, "`findings` should be a dict"),
        # a comparison of a value with itself
        (lambda f, d: (f, d), SOLUTION + "assert findings == findings\n", "compares a value with"),
    ],
)
def test_exercise_1_wrong_answers(files, rejected, change, source, hint):
    findings, decisions = change(*right_answer(files))
    assert hint in rejected(nb12.exercise_1(findings, decisions, files, source=source))


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
        pytest.skip(safety.sandbox_unavailable())
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
