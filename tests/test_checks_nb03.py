"""Notebook 03's exercise checks, with a fake signature and a tiny SavedModel in a temp folder."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tensorflow as tf

from helpers.checks import nb03
from helpers.errors import ArtifactError

EXACT_SIZES = {2, 5}  # the batch sizes for which the fake signature gives the full batch's bits


class FakeSignature:
    """Doubles its input; off by one float32 step unless the batch size is in EXACT_SIZES."""

    def __init__(self) -> None:
        self.structured_input_signature = ((), {"pixels": None})
        self.structured_outputs = {"output_0": None}

    def __call__(self, pixels):
        out = np.asarray(pixels) * np.float32(2)
        if len(out) not in EXACT_SIZES and len(out) != len(X):
            out = np.nextafter(out, np.float32(np.inf))
        return {"output_0": tf.constant(out)}


X = np.linspace(0.1, 1.0, 36, dtype=np.float32).reshape(12, 3)
SIGNATURE = FakeSignature()
PREDICTIONS = SIGNATURE(pixels=X)["output_0"].numpy()
ALONE = SIGNATURE(pixels=X[:1])["output_0"].numpy()


def test_exercise_1_right_answer(capsys):
    assert nb03.exercise_1(ALONE, [2, 5], SIGNATURE, X, PREDICTIONS).solved is True
    assert nb03.exercise_1(ALONE[0], (5, 2), SIGNATURE, X, PREDICTIONS).solved is True
    assert capsys.readouterr().out.count("✅ Exercise 3.1 (one digit at a time) solved.") == 2


def test_exercise_1_placeholder(capsys):
    assert nb03.exercise_1(None, None, SIGNATURE, X, PREDICTIONS).solved is False
    assert nb03.exercise_1(ALONE, ..., SIGNATURE, X, PREDICTIONS).solved is False
    out = capsys.readouterr().out.splitlines()
    assert "not solved yet: set `first_alone`" in out[0]
    assert "not solved yet: set `identical_sizes`" in out[1]


@pytest.mark.parametrize(
    ("alone", "sizes", "hint"),
    [
        ({"output_0": ALONE}, [2, 5], "take its `output_0` entry"),
        (PREDICTIONS, [2, 5], "send one digit, `x_test[:1]`"),
        (PREDICTIONS[:1], [2, 5], "not by slicing `predictions`"),
        (PREDICTIONS[1:2] + 1, [2, 5], "not the first digit's probabilities"),
        (ALONE, list(range(1, 11)), "compare with `np.array_equal`"),
        (ALONE, [1, 2, 5], "Batch size(s) [1] do not give bit-identical rows"),
        (ALONE, [2], "Batch size(s) [5] do give bit-identical rows too"),
        (ALONE, [0, 2, 5], "Only batch sizes from 1 to 10"),
        (ALONE, "2, 5", "should be a list of whole numbers"),
    ],
)
def test_exercise_1_wrong_answers(capsys, alone, sizes, hint):
    assert nb03.exercise_1(alone, sizes, SIGNATURE, X, PREDICTIONS).solved is False
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 3.1") and hint in out


class Tiny(tf.Module):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable(tf.range(64, dtype=tf.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32)])
    def __call__(self, x):
        return x * self.w


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export") / "1"
    tf.saved_model.save(Tiny(), str(folder))
    return folder


def _copy(export_dir, tmp_path, change=None):
    """A copy of the export whose data file is transformed by ``change(bytes) -> bytes``."""
    folder = tmp_path / "copy"
    shutil.copytree(export_dir, folder)
    if change:
        data = folder / nb03.DATA_FILE
        data.write_bytes(change(bytearray(data.read_bytes())))
    return folder


def _flip(raw, *positions):
    for position in positions or (len(raw) // 2,):
        raw[position] ^= 0xFF
    return bytes(raw)


def _error(folder):
    try:
        nb03.load_savedmodel(folder)
    except ArtifactError as error:
        return error
    raise AssertionError(f"{folder} loaded")


def test_exercise_2_right_answer(export_dir, tmp_path, capsys):
    folder = _copy(export_dir, tmp_path, _flip)
    assert nb03.exercise_2(folder, _error(folder), export_dir).solved is True
    out = capsys.readouterr().out
    assert out.startswith("✅ Exercise 3.2 (a flipped byte) solved. Caught: ")
    assert "checksum mismatch" in out


def test_exercise_2_placeholder(export_dir, capsys):
    assert nb03.exercise_2(None, None, export_dir).solved is False
    assert "not solved yet: set `flipped`" in capsys.readouterr().out


def test_exercise_2_refuses_the_export_itself(export_dir, capsys):
    assert nb03.exercise_2(export_dir, ValueError("x"), export_dir).solved is False
    assert "That is the reference export itself" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "caught", "hint"),
    [
        (lambda raw: bytes(raw[:100]), "own", "flip a byte, keep the size"),
        (None, ValueError("boom"), "The data file is unchanged"),
        (lambda raw: _flip(raw, 10, 20), "own", "2 bytes differ: change exactly one"),
        (_flip, "the error", "should be the exception itself"),
        (_flip, ValueError("Checksum does not match"), "That is a ValueError"),
        (_flip, ArtifactError("elsewhere", "other"), "not the one loading your copy raises"),
    ],
)
def test_exercise_2_wrong_answers(export_dir, tmp_path, capsys, change, caught, hint):
    folder = _copy(export_dir, tmp_path, change)
    if caught == "own":
        caught = _error(folder)
    assert nb03.exercise_2(folder, caught, export_dir).solved is False
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 3.2") and hint in out
