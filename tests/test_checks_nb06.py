"""Notebook 06's exercise checks, on a tiny Keras model and a tiny module with an asset."""

from __future__ import annotations

import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness.answers import solution

from helpers.checks import nb06

PIXELS = tf.TensorSpec([None, 64], tf.int32, name="pixels")
RAW = np.random.default_rng(0).integers(0, 17, size=(20, 64)).astype(np.int32)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(64,), name="pixels")
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(inputs))


@pytest.fixture(scope="module")
def probabilities(model):
    return model.predict(RAW / np.float32(16), verbose=0)


def export_top3(model, folder, *, name="top_3", spec=PIXELS, scale=True, k=3, keys=None):
    keys = keys or ("class_ids", "scores")

    def endpoint(pixels):
        x = tf.cast(pixels, tf.float32)
        best = tf.math.top_k(model(x / 16.0 if scale else x), k=k)
        return {keys[0]: best.indices, keys[1]: best.values}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name, endpoint, input_signature=[spec])
    archive.write_out(str(folder), verbose=False)
    return folder


def test_exercise_1_right_answer(model, probabilities, tmp_path, capsys):
    folder = export_top3(model, tmp_path / "top3")
    assert nb06.exercise_1(folder, RAW, probabilities).solved is True
    assert "✅ Exercise 6.1 (a top-3 signature) solved." in capsys.readouterr().out


def test_exercise_1_placeholder_and_not_an_export(probabilities, tmp_path, capsys):
    assert nb06.exercise_1(None, RAW, probabilities).solved is False
    assert nb06.exercise_1(tmp_path, RAW, probabilities).solved is False
    out = capsys.readouterr().out.splitlines()
    assert "not solved yet: set `top3_export`" in out[0]
    assert "has no saved_model.pb" in out[1]


@pytest.mark.parametrize(
    ("options", "hint"),
    [
        ({"name": "top3"}, "name the endpoint `top_3`"),
        ({"spec": tf.TensorSpec([1, 64], tf.int32, name="pixels")}, "so any batch size works"),
        ({"spec": tf.TensorSpec([None, 64], tf.float32, name="pixels")}, "raw int32 values"),
        ({"keys": ("ids", "values")}, "with the keys `class_ids` and `scores`"),
        ({"k": 2}, "`tf.math.top_k(..., k=3)`"),
        ({"scale": False}, "scale the raw pixels (`scale(pixels)`)"),
    ],
)
def test_exercise_1_wrong_answers(model, probabilities, tmp_path, capsys, options, hint):
    folder = export_top3(model, tmp_path / "wrong", **options)
    assert nb06.exercise_1(folder, RAW, probabilities).solved is False
    assert hint in capsys.readouterr().out


class Labelled(tf.Module):
    def __init__(self, labels_path):
        super().__init__()
        self.labels = tf.saved_model.Asset(str(labels_path))

    @tf.function(input_signature=[])
    def class_names(self):
        return {"names": tf.strings.split(tf.io.read_file(self.labels), "\n")}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("asset")
    (folder / "labels.txt").write_text("zero\none")
    module = Labelled(folder / "labels.txt")
    export = folder / "export"
    tf.saved_model.save(module, str(export), signatures={"class_names": module.class_names})
    return export


def broken_copy(deployed, tmp_path):
    broken = tmp_path / "broken"
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(deployed, broken)
    (broken / "assets" / "labels.txt").unlink()
    loaded = tf.saved_model.load(str(broken))
    try:
        loaded.signatures["class_names"]()
    except tf.errors.NotFoundError as error:
        return broken, error
    raise AssertionError("the call should fail without its asset")


def test_exercise_2_right_answer(deployed, tmp_path, capsys):
    broken, error = broken_copy(deployed, tmp_path)
    assert nb06.exercise_2(broken, "call", error).solved is True
    assert "✅ Exercise 6.2 (break the asset) solved." in capsys.readouterr().out


def test_exercise_2_placeholder_and_wrong_answers(deployed, tmp_path, capsys):
    broken, error = broken_copy(deployed, tmp_path)
    assert nb06.exercise_2(broken, None, None).solved is False
    assert nb06.exercise_2(broken, "load", error).solved is False
    assert nb06.exercise_2(broken, "later", error).solved is False
    assert nb06.exercise_2(broken, "call", "NotFoundError").solved is False
    assert nb06.exercise_2(broken, "call", ValueError("x")).solved is False
    out = capsys.readouterr().out.splitlines()
    assert "not solved yet: set `fails_at`" in out[0]
    assert "loading only records the asset's path" in out[1]
    assert 'should be "load" or "call"' in out[2]
    assert "should be the error itself" in out[3]
    assert "fails with NotFoundError, not ValueError" in out[4]


def test_exercise_2_asset_still_there(deployed, capsys):
    assert nb06.exercise_2(deployed, "call", RuntimeError("x")).solved is False
    assert "is still there: delete it from the copy" in capsys.readouterr().out


def test_exercise_2_rejects_an_error_not_raised_by_this_folder(deployed, tmp_path, capsys):
    broken, _ = broken_copy(deployed, tmp_path / "mine")
    _, elsewhere = broken_copy(deployed, tmp_path / "other")
    made_up = tf.errors.NotFoundError(None, None, "No such file or directory")
    assert nb06.exercise_2(broken, "call", made_up).solved is False
    assert nb06.exercise_2(broken, "call", elsewhere).solved is False
    out = capsys.readouterr().out.splitlines()
    assert all("does not name this folder's missing `assets/labels.txt`" in line for line in out)


# --- The habit: what the answer cell did, not only what it produced (issue 22) ----------------


def test_exercise_1_accepts_the_solution_and_another_correct_answer(
    model, probabilities, tmp_path, capsys
):
    folder = export_top3(model, tmp_path / "top3")
    assert nb06.exercise_1(folder, RAW, probabilities, source=solution("06", "top3_export"))
    other = (
        "archive = keras.export.ExportArchive()\narchive.track(model)\n"
        "archive.add_endpoint('top_3', lambda p: dict(zip(('scores', 'class_ids'), "
        "tf.math.top_k(model(tf.cast(p, tf.float32) / 16), 3))), input_signature=[PIXELS])\n"
        "top3_export = ARTIFACTS / 'top3_export'\narchive.write_out(str(top3_export))\n"
    )
    assert nb06.exercise_1(folder, RAW, probabilities, source=other)


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        (  # a required step skipped: no ExportArchive
            "top3_export = ARTIFACTS / 'top3_export'\nbest = tf.math.top_k(x, k=3)\n",
            "Build the export with `keras.export.ExportArchive`",
        ),
        (  # the forbidden shortcut the task names
            "archive = keras.export.ExportArchive()\nbest = tf.math.top_k(x, k=3)\n"
            "tf.saved_model.save(module, str(top3_export))\n",
            "`tf.saved_model.save` and the kit's helpers are off limits",
        ),
        (  # the forbidden shortcut the task names
            "archive = keras.export.ExportArchive()\nbest = tf.math.top_k(x, k=3)\n"
            "helpers.serving.export_top_k(model, top3_export)\n",
            "`tf.saved_model.save` and the kit's helpers are off limits",
        ),
    ],
)
def test_exercise_1_rejects_answers_that_skip_the_habit(
    model, probabilities, tmp_path, rejected, source, hint
):
    folder = export_top3(model, tmp_path / "top3")
    assert hint in rejected(nb06.exercise_1(folder, RAW, probabilities, source=source))


def test_exercise_1_rejects_an_earlier_export(model, probabilities, tmp_path, rejected):
    """An object from an earlier cell: section 3's export, without `top_3`."""
    folder = export_top3(model, tmp_path / "keras_export", name="probabilities")
    assert "name the endpoint `top_3`" in rejected(nb06.exercise_1(folder, RAW, probabilities))


def test_exercise_2_accepts_the_solution_and_another_correct_answer(deployed, tmp_path, capsys):
    broken, error = broken_copy(deployed, tmp_path)
    assert nb06.exercise_2(broken, "call", error, source=solution("06", "fails_at"))
    other = (
        "fails_at = None\nloaded = tf.saved_model.load(str(broken_export))\n"
        "for step, run in [('call', lambda: loaded.signatures['class_names']())]:\n"
        "    try:\n        run()\n    except tf.errors.NotFoundError as error:\n"
        "        fails_at, caught = step, error\n"
    )
    assert nb06.exercise_2(broken, "call", error, source=other)


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ('fails_at = "call"\ncaught = error\n', "`fails_at` is typed in"),  # typed in
        (  # the forbidden shortcut: an error built by hand
            "fails_at = first\ncaught = tf.errors.NotFoundError(None, None, m)\n",
            "Do not build the error yourself",
        ),
        (  # the forbidden shortcut: the kit's helpers
            "fails_at = helpers.loading.where_it_fails(broken_export)\n",
            "The kit's helpers are off limits here",
        ),
    ],
)
def test_exercise_2_rejects_answers_that_skip_the_habit(deployed, tmp_path, rejected, source, hint):
    broken, error = broken_copy(deployed, tmp_path)
    assert hint in rejected(nb06.exercise_2(broken, "call", error, source=source))


def test_exercise_2_rejects_the_table_exports_error(deployed, tmp_path, rejected):
    """An object from an earlier cell: the FileNotFoundError section 2's table export raised."""
    broken, _ = broken_copy(deployed, tmp_path)
    earlier = FileNotFoundError(f"{tmp_path}/table_without_asset/assets/vocabulary.txt")
    out = rejected(nb06.exercise_2(broken, "call", earlier))
    assert "fails with NotFoundError, not FileNotFoundError" in out
