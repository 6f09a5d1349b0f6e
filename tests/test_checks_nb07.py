"""Notebook 07's exercise checks, on a tiny model with a registered activation and a fake map."""

from __future__ import annotations

import keras
import pytest
from harness.answers import solution

from helpers.checks import nb07

NAME = "test_kit07>capped"


@keras.saving.register_keras_serializable(package="test_kit07")
def capped(x):
    return keras.ops.minimum(keras.activations.relu(x), 6.0)


def tiny(activation):
    inputs = keras.Input(shape=(4,), name="pixels")
    return keras.Model(inputs, keras.layers.Dense(3, activation=activation)(inputs))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("activation")
    model = tiny(capped)
    model.save(folder / "a.keras")
    model.export(folder / "export", verbose=False)
    return folder / "a.keras", folder / "export"


def test_exercise_1_right_answer_and_the_registry_is_restored(saved, capsys):
    assert nb07.exercise_1(*saved, {"savedmodel"}).solved is True
    assert "✅ Exercise 7.1 (a custom activation) solved. Only ['savedmodel']" in (
        capsys.readouterr().out
    )
    assert keras.saving.get_registered_object(NAME) is capped


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (None, "not solved yet: set `loads_unregistered`"),
        ({"keras", "savedmodel"}, ".keras stores only the function's name (test_kit07>capped)"),
        ({"keras"}, ".keras stores only the function's name"),
        (set(), "traced it into graph operations"),
        ({"tflite"}, 'Answer with format names from "keras" and "savedmodel"'),
    ],
)
def test_exercise_1_wrong_answers(saved, capsys, answer, hint):
    assert nb07.exercise_1(*saved, answer).solved is False
    assert hint in capsys.readouterr().out


def test_exercise_1_builtin_activation_is_not_custom_code(tmp_path, capsys):
    model = tiny("relu")
    model.save(tmp_path / "b.keras")
    model.export(tmp_path / "export", verbose=False)
    assert (
        nb07.exercise_1(tmp_path / "b.keras", tmp_path / "export", {"savedmodel"}).solved is False
    )
    assert "config.json stores no registered function" in capsys.readouterr().out


def test_exercise_1_missing_files(saved, tmp_path, capsys):
    assert nb07.exercise_1(tmp_path / "none.keras", saved[1], {"savedmodel"}).solved is False
    assert nb07.exercise_1(saved[0], tmp_path, {"savedmodel"}).solved is False
    out = capsys.readouterr().out.splitlines()
    assert "is not a .keras file" in out[0]
    assert "has no saved_model.pb" in out[1]


# The decision map notebook 07 checks, as a plain dict (keeps[row][format]).
FORMATS = ("weights.h5", "keras", "checkpoint", "savedmodel", "tflite")
ROWS = {
    "architecture": (False, True, False, True, True),
    "weights": (True, True, True, True, True),
    "optimizer state": (True, True, True, False, False),
    "runs without custom class": (False, False, False, True, True),
    "signatures": (False, False, False, True, True),
    "runs without Python": (False, False, False, True, True),
}
KEEPS = {row: dict(zip(FORMATS, values, strict=True)) for row, values in ROWS.items()}
RESUME = {"architecture", "weights", "optimizer state"}
SERVER = {"signatures", "runs without Python"}


@pytest.mark.parametrize("server", ["savedmodel", "tflite"])
def test_exercise_2_right_answers(capsys, server):
    assert nb07.exercise_2("keras", RESUME, server, SERVER, KEEPS).solved is True
    out = capsys.readouterr().out
    assert "✅ Exercise 7.2 (choose a format for the job) solved. Resume: keras" in out
    assert "formats that fit: ['savedmodel', 'tflite']" in out


@pytest.mark.parametrize(
    ("answers", "hint"),
    [
        ((None, None, None, None), "not solved yet: set `resume_choice`"),
        (("keras", RESUME, "savedmodel", None), "not solved yet: set `server_needs`"),
        (("h5", RESUME, "savedmodel", SERVER), "should be one of"),
        (("keras", {"optimizer"}, "savedmodel", SERVER), "['optimizer'] are not rows of `keeps`"),
        (("checkpoint", {"optimizer state"}, "savedmodel", SERVER), "without calling"),
        (("keras", {"architecture"}, "savedmodel", SERVER), "Adam's step counter and moments"),
        (("checkpoint", RESUME, "savedmodel", SERVER), "`keeps['architecture']['checkpoint']`"),
        (("keras", RESUME, "savedmodel", {"signatures"}), "the server has no Python"),
        (("keras", RESUME, "keras", SERVER), "`keeps['runs without Python']['keras']` is False"),
    ],
)
def test_exercise_2_wrong_answers(capsys, answers, hint):
    assert nb07.exercise_2(*answers, KEEPS).solved is False
    assert hint in capsys.readouterr().out


def test_exercise_1_function_left_unregistered_gets_a_hint(saved, capsys):
    registry = keras.saving.get_custom_objects()
    function = registry.pop(NAME)
    try:
        assert nb07.exercise_1(*saved, {"savedmodel"}).solved is False
    finally:
        registry[NAME] = function
    assert "['test_kit07>capped'] is not registered in this kernel" in capsys.readouterr().out


# --- The habit: what the answer cell did, not only what it produced (issue 22) ----------------


ALTERNATIVE_1 = """
registry = keras.saving.get_custom_objects()
taken = registry.pop("test_kit07>capped")
works = []
try:
    for fmt, attempt in (("keras", lambda: keras.models.load_model(k)),
                         ("savedmodel", lambda: keras.layers.TFSMLayer(e, call_endpoint="serve"))):
        try:
            attempt()
            works.append(fmt)
        except TypeError:
            pass
finally:
    registry["test_kit07>capped"] = taken
loads_unregistered = set(works)
"""


def test_exercise_1_accepts_the_notebook_solution_and_another_correct_answer(saved, capsys):
    source = solution("07", "loads_unregistered")
    assert nb07.exercise_1(*saved, {"savedmodel"}, source=source).solved
    assert nb07.exercise_1(*saved, {"savedmodel"}, source=ALTERNATIVE_1).solved
    assert capsys.readouterr().out.count("✅") == 2


@pytest.mark.parametrize(
    ("edit", "hint"),
    [
        (  # a value typed in instead of computed
            lambda cell: 'loads_unregistered = {"savedmodel"}\n',
            "`loads_unregistered` is typed in",
        ),
        (  # a required step skipped: the function never leaves the registry
            lambda cell: cell.replace(
                'keras.saving.get_custom_objects().pop("kit07>relu6")', "1"
            ).replace('keras.saving.get_custom_objects()["kit07>relu6"] = function', "pass"),
            "Take the function out of `keras.saving.get_custom_objects()`",
        ),
        (  # the forbidden shortcut the task names
            lambda cell: cell.replace(
                "relu6_served = tf.saved_model.load(str(activation_export))",
                "relu6_served = helpers.deploy.load(activation_export)",
            ),
            "`helpers` is off limits in this exercise",
        ),
    ],
)
def test_exercise_1_rejects_answers_that_skip_the_habit(saved, rejected, edit, hint):
    source = edit(solution("07", "loads_unregistered"))
    assert hint in rejected(nb07.exercise_1(*saved, {"savedmodel"}, source=source))


def test_exercise_1_rejects_an_export_of_another_model(saved, tmp_path, rejected):
    """An object from an earlier cell: an export that is not the model saved as .keras."""
    other = tiny(capped)  # same architecture, other random weights
    other.export(tmp_path / "other_export", verbose=False)
    out = rejected(nb07.exercise_1(saved[0], tmp_path / "other_export", {"savedmodel"}))
    assert "predicts differently from `a.keras`" in out


def test_exercise_2_accepts_the_notebook_solution_and_another_correct_answer(capsys):
    source = solution("07", "resume_choice")
    assert nb07.exercise_2("keras", RESUME, "savedmodel", SERVER, KEEPS, source=source)
    alternative = (
        "needs = {'resume': {'architecture', 'optimizer state'}, "
        "'server': {'signatures', 'runs without Python', 'weights'}}\n"
        "fit = {job: [f for f in FORMATS if all(keeps[r][f] for r in rows)] "
        "for job, rows in needs.items()}\n"
        "resume_choice, resume_needs = fit['resume'][0], needs['resume']\n"
        "server_choice, server_needs = fit['server'][-1], needs['server']\n"
    )
    assert nb07.exercise_2("keras", RESUME, "tflite", SERVER, KEEPS, source=alternative)


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        (  # typed in without a look at the map
            'resume_choice, resume_needs = "keras", {"architecture", "optimizer state"}\n'
            'server_choice, server_needs = "savedmodel", {"signatures", "runs without Python"}\n',
            "Justify each choice with the map: read `keeps`",
        ),
        (  # the forbidden shortcut: change the map so a choice fits
            'keeps["architecture"]["checkpoint"] = True\nresume_choice = "checkpoint"\n',
            "Leave `keeps` as section 3's checks made it",
        ),
        (  # the forbidden shortcut: read the check's own table
            "resume_needs = helpers.checks.nb07.JOBS['resume']\n",
            "The check's own tables are off limits",
        ),
    ],
)
def test_exercise_2_rejects_answers_that_skip_the_habit(rejected, source, hint):
    out = rejected(nb07.exercise_2("keras", RESUME, "savedmodel", SERVER, KEEPS, source=source))
    assert hint in out
