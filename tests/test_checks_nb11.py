"""Notebook 11's exercise checks: right answers (two ways), placeholders, and wrong answers."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import tensorflow as tf

from helpers.checks import nb11


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


def exists_only(index_path):
    return [name for name in _named(index_path) if not Path(index_path).with_name(name).exists()]


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


def test_exercise_1_right_answers(capsys):
    assert nb11.exercise_1(model_solution).solved is True
    assert nb11.exercise_1(other_solution).solved is True
    assert capsys.readouterr().out.count("✅ Exercise 11.1 (check every shard before loading)") == 2


def test_exercise_1_placeholder(capsys):
    assert nb11.exercise_1(None).solved is False
    assert "not solved yet: set `unreadable_shards`" in capsys.readouterr().out


def test_exercise_1_wrong_answers(capsys):
    cases = [
        (exists_only, "cut short (a half-written save) but exists"),
        (from_folder_listing, "Take the names from the index's weight_map"),
        (every_h5_in_folder, "Take the names from the index's weight_map"),
        (index_and_folder, "Report only the shards the index names"),
        (lambda index: "model_00000.weights.h5", "Return a list of file names"),
        (lambda index: ["model_00000.weights.h5"], "On an intact save your function reports"),
        (42, "should be a function"),
    ]
    for answer, hint in cases:
        assert nb11.exercise_1(answer).solved is False
        out = capsys.readouterr().out
        assert out.startswith("❌ Exercise 11.1") and hint in out, out


class AnyBatch(tf.Module):
    def __init__(self, outputs=10):
        super().__init__()
        self.kernel = tf.Variable(tf.ones([64, outputs]))

    @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32)])
    def __call__(self, pixels):
        return pixels @ self.kernel


class TracedOnce(tf.Module):
    def __init__(self):
        super().__init__()
        self.kernel = tf.Variable(tf.ones([64, 10]))

    @tf.function
    def __call__(self, pixels):
        return pixels @ self.kernel


def _saved(module, folder, trace_with=None):
    if trace_with is not None:
        module(tf.constant(trace_with))
    tf.saved_model.save(module, str(folder))
    return folder


def _traced_for_some(folder):
    """Traced for a few batch sizes (1 among them) instead of given a signature."""
    module = TracedOnce()
    for rows in (1, 8, 32):
        module(tf.zeros([rows, 64]))
    return _saved(module, folder)


def test_exercise_2_right_answers(tmp_path, capsys):
    assert nb11.exercise_2(_saved(AnyBatch(), tmp_path / "a")).solved is True
    # also right: a softmax on top, a named input, the folder as a string

    class Softmaxed(AnyBatch):
        @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32, name="pixels")])
        def __call__(self, pixels):
            return tf.nn.softmax(pixels @ self.kernel)

    assert nb11.exercise_2(str(_saved(Softmaxed(), tmp_path / "b"))).solved is True
    assert capsys.readouterr().out.count("✅ Exercise 11.2 (serve any batch size) solved.") == 2


def test_exercise_2_placeholder(capsys):
    assert nb11.exercise_2(None).solved is False
    assert "not solved yet: set `exercise_2_dir`" in capsys.readouterr().out


def test_exercise_2_wrong_answers(tmp_path, capsys):
    batch = np.zeros((8, 64), np.float32)
    cases = [
        (_saved(TracedOnce(), tmp_path / "traced", batch), "refused a batch of 1"),
        (_traced_for_some(tmp_path / "some"), "refused a batch of"),
        (_saved(AnyBatch(outputs=3), tmp_path / "three"), "not (1, 10)"),
        (tmp_path, "holds no saved_model.pb"),
    ]
    for answer, hint in cases:
        assert nb11.exercise_2(answer).solved is False
        out = capsys.readouterr().out
        assert out.startswith("❌ Exercise 11.2") and hint in out, out
