"""Notebook 11's exercise checks: right answers (several ways), placeholders, and wrong answers
of every kind the kit's checks must reject: a value typed in, a step skipped, the forbidden
shortcut, an object from an earlier cell, a comparison of a value with itself, and an answer
that raises."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import keras
import pytest
import tensorflow as tf

import helpers
from helpers.checks import nb11
from helpers.kit.models import digits_mlp


def _named(index_path):
    shards = json.loads(Path(index_path).read_text())["weight_map"].values()
    return sorted(
        {name for entry in shards for name in (entry if isinstance(entry, list) else [entry])}
    )


def model_solution(index_path):
    broken = []
    for name in _named(index_path):
        try:
            with h5py.File(Path(index_path).with_name(name), "r"):
                pass
        except OSError:
            broken.append(name)
    return broken


def other_solution(index_path):
    """Also right: reads every dataset of every shard, returns a tuple."""
    folder = Path(index_path).parent
    bad = set()
    for name in _named(index_path):
        try:
            with h5py.File(folder / name, "r") as handle:
                handle.visititems(
                    lambda _, item: item[()] if isinstance(item, h5py.Dataset) else None
                )
        except Exception:
            bad.add(name)
    return tuple(sorted(bad))


def third_solution(index_path):
    """Also right: a string path and os.path, any exception counts, returns a set."""
    with open(index_path) as handle:
        weight_map = json.load(handle)["weight_map"]
    names = set()
    for entry in weight_map.values():
        names |= set(entry) if isinstance(entry, list) else {entry}
    broken = set()
    for name in names:
        try:
            h5py.File(os.path.join(os.path.dirname(index_path), name), "r").close()
        except Exception:
            broken.add(name)
    return broken


def exists_only(index_path):
    """Skips the step that matters: opening each shard."""
    return [name for name in _named(index_path) if not Path(index_path).with_name(name).exists()]


def same_size_as_itself(index_path):
    """A comparison of a value with itself: a size always equals itself."""
    broken = []
    for name in _named(index_path):
        path = Path(index_path).with_name(name)
        if not path.exists() or path.stat().st_size != path.stat().st_size:
            broken.append(name)
    return broken


def without_try(index_path):
    """Lets h5py's OSError escape instead of reporting the shard."""
    for name in _named(index_path):
        with h5py.File(Path(index_path).with_name(name), "r"):
            pass
    return []


def string_arithmetic(index_path):
    """Treats the path as a string: TypeError."""
    return json.loads(open(index_path + "").read())


def probe_with_keras(index_path):
    """The forbidden shortcut: lets Keras load the weights to find out."""
    try:
        digits_mlp().load_weights(index_path)
    except (OSError, ValueError):
        return model_solution(index_path)
    return []


def with_the_kits_helpers(index_path):
    """The forbidden shortcut: one of the kit's helpers does part of the work."""
    for name in _named(index_path):
        path = Path(index_path).with_name(name)
        if path.exists():
            helpers.integrity.sha256_file(path)
    return model_solution(index_path)


def _unopenable(paths):
    broken = []
    for path in sorted(paths):
        try:
            with h5py.File(path, "r"):
                pass
        except OSError:
            broken.append(path.name)
    return broken


def from_folder_listing(index_path):
    """Opens the shard files it finds in the folder instead of those the index names."""
    return _unopenable(Path(index_path).parent.glob("model_*.weights.h5"))


def every_h5_in_folder(index_path):
    """Reports broken files the index does not name."""
    return _unopenable(Path(index_path).parent.glob("*.weights.h5"))


def index_and_folder(index_path):
    """Right about the index's shards, but also reports broken files the index does not name."""
    return sorted(set(model_solution(index_path)) | set(every_h5_in_folder(index_path)))


@pytest.fixture(scope="module")
def section_4_index(tmp_path_factory):
    """Like notebook 11's section 4: wide.weights.json with wide_00001.weights.h5 missing."""
    folder = tmp_path_factory.mktemp("sharded_shard_missing")
    digits_mlp().save_weights(folder / "wide.weights.json", max_shard_size=nb11.SHARD_SIZE_GB)
    (folder / "wide_00001.weights.h5").unlink()
    return folder / "wide.weights.json"


def test_exercise_1_right_answers(capsys):
    for answer in (model_solution, other_solution, third_solution):
        verdict = nb11.exercise_1(answer)
        assert verdict.solved is True and verdict.error is None
    assert capsys.readouterr().out.count("✅ Exercise 11.1 (check every shard before loading)") == 3


def test_exercise_1_placeholder(capsys):
    assert nb11.exercise_1(None).solved is False
    assert "not solved yet: set `unreadable_shards`" in capsys.readouterr().out


def test_exercise_1_wrong_answers(capsys, section_4_index):
    cases = [
        # values typed in: what section 4 printed, and a name that happens to be in the index
        (lambda index: ["wide_00001.weights.h5"], "which the index you were given does not name"),
        (lambda index: ["model_00000.weights.h5"], "On an intact save your function reports"),
        (lambda index: [], "is missing"),
        # a required step skipped: the shards are never opened
        (exists_only, "cut short (a half-written save) but exists"),
        # the forbidden shortcuts named in the task
        (probe_with_keras, "called Model.load_weights: off limits"),
        (with_the_kits_helpers, "called helpers.integrity.sha256_file: off limits"),
        # an object from an earlier cell: section 4's index instead of the argument
        (lambda index: model_solution(section_4_index), "Compute the answer from index_path"),
        # a comparison of a value with itself
        (same_size_as_itself, "its size says nothing unless it is compared with something"),
        # exceptions inside the learner's function become a sentence that teaches
        (without_try, "raised FileNotFoundError: [Errno 2] Unable to synchronously open file"),
        (without_try, "catch it (try: ... except OSError:)"),
        (string_arithmetic, "raised TypeError"),
        (string_arithmetic, "is called with one argument, the index path (a pathlib.Path)"),
        (lambda: [], "raised TypeError"),
        # other mistakes
        (from_folder_listing, "Take the names from the index's weight_map"),
        (every_h5_in_folder, "Take the names from the index's weight_map"),
        (index_and_folder, "Report only the shards the index names"),
        (lambda index: "model_00000.weights.h5", "Return a list of file names"),
        (42, "should be a function"),
    ]
    for answer, hint in cases:
        verdict = nb11.exercise_1(answer)
        out = capsys.readouterr().out
        assert verdict.solved is False and out.startswith("❌ Exercise 11.1"), out
        assert hint in out, (hint, out)
        # rejected by a hint that teaches, not by an exception inside the check
        assert verdict.error is None and "Traceback" not in out, out


class Scores(tf.Module):
    def __init__(self, outputs=10):
        super().__init__()
        self.kernel = tf.Variable(tf.random.normal([64, outputs]))

    @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32)])
    def score(self, pixels):
        return pixels @ self.kernel


def model_save(folder):
    tf.saved_model.save(Scores(), folder)


def other_save(folder):
    """Also right: a softmax, a named input, a bias, the folder as a string, __call__ too."""

    class Softmaxed(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(tf.random.normal([64, 10], stddev=0.1))
            self.bias = tf.Variable(tf.zeros([10]))

        @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32, name="pixels")])
        def score(self, pixels):
            return tf.nn.softmax(pixels @ self.kernel + self.bias)

        @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32)])
        def __call__(self, pixels):
            return self.score(pixels)

    tf.saved_model.save(Softmaxed(), str(folder))


class TracedOnce(Scores):
    @tf.function
    def score(self, pixels):
        return pixels @ self.kernel


def traced_for_8(folder):
    """Skips the input_signature: traced for a batch of 8 only."""
    module = TracedOnce()
    module.score(tf.zeros([8, 64]))
    tf.saved_model.save(module, folder)


def traced_for_some(folder):
    """Traced for a few batch sizes (1 among them) instead of given a signature."""
    module = TracedOnce()
    for rows in (1, 8, 32):
        module.score(tf.zeros([rows, 64]))
    tf.saved_model.save(module, folder)


class Typed(Scores):
    @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32)])
    def score(self, pixels):
        return tf.ones([tf.shape(pixels)[0], 10])  # typed-in scores


class SelfCompared(Scores):
    @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32)])
    def score(self, pixels):
        return tf.cast(tf.equal(pixels, pixels), tf.float32)[:, :10]


class OnlyCall(tf.Module):
    """Section 7's ScorerAnyBatch: __call__ with a signature, no score."""

    def __init__(self):
        super().__init__()
        self.kernel = tf.Variable(tf.random.normal([64, 10], stddev=0.1))

    @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32, name="pixels")])
    def __call__(self, pixels):
        return tf.nn.softmax(pixels @ self.kernel)


def keras_export(folder):
    """The forbidden shortcut: a Keras model exported (its endpoint renamed to score)."""
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    model.export(folder, verbose=False)


def kits_model(folder):
    """The forbidden shortcut: the kit builds the model."""
    helpers.kit.models.digits_mlp()
    tf.saved_model.save(Scores(), folder)


@pytest.fixture(scope="module")
def section_7_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("section7") / "scorer_any_batch"
    tf.saved_model.save(OnlyCall(), str(folder))
    return folder


def test_exercise_2_right_answers(capsys):
    for answer in (model_save, other_save):
        verdict = nb11.exercise_2(answer)
        assert verdict.solved is True and verdict.error is None
    assert capsys.readouterr().out.count("✅ Exercise 11.2 (serve any batch size) solved.") == 2


def test_exercise_2_placeholder(capsys):
    assert nb11.exercise_2(None).solved is False
    assert "not solved yet: set `save_scorer`" in capsys.readouterr().out


def test_exercise_2_wrong_answers(tmp_path, capsys, section_7_folder):
    own_folder = tmp_path / "mine"
    cases = [
        # values typed in
        (lambda folder: tf.saved_model.save(Typed(), folder), "got the same scores"),
        # a required step skipped: no input_signature, or no save at all
        (traced_for_8, "refused a batch of 1"),
        (traced_for_some, "refused a batch of"),
        (lambda folder: None, "Nothing was saved in the folder save_scorer was given"),
        # the forbidden shortcuts named in the task
        (keras_export, "save_scorer called Model.export: off limits"),
        (kits_model, "save_scorer called helpers.kit.models.digits_mlp: off limits"),
        # objects from earlier cells: section 7's folder copied, or a folder of its own
        (lambda folder: shutil.copytree(section_7_folder, folder), "section 7's scorer"),
        (lambda folder: tf.saved_model.save(Scores(), own_folder), "Save to its argument"),
        # a comparison of a value with itself
        (lambda folder: tf.saved_model.save(SelfCompared(), folder), "comparison of the input"),
        # exceptions inside the learner's function become a sentence that teaches
        (lambda: None, "raised TypeError"),
        # other mistakes
        (lambda folder: tf.saved_model.save(Scores(outputs=3), folder), "not (1, 10)"),
        (str(section_7_folder), "should be a function of the folder"),
    ]
    for answer, hint in cases:
        verdict = nb11.exercise_2(answer)
        out = capsys.readouterr().out
        assert verdict.solved is False and out.startswith("❌ Exercise 11.2"), out
        assert hint in out, (hint, out)
        # rejected by a hint that teaches, not by an exception inside the check
        assert verdict.error is None and "Traceback" not in out, out
