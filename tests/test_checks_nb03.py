"""Notebook 03's exercise checks, with a fake signature and a tiny SavedModel in a temp folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import helpers
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


def exact_sizes(signature, x, predictions):  # the notebook's solution
    (input_key,) = signature.structured_input_signature[1]
    (output_key,) = signature.structured_outputs
    return [
        size
        for size in range(1, 11)
        if np.array_equal(signature(**{input_key: x[:size]})[output_key], predictions[:size])
    ]


def by_bytes(signature, x, predictions):  # another right answer
    found = []
    for size in range(10, 0, -1):
        batch = tf.constant(x[:size])
        rows = signature(pixels=batch)["output_0"].numpy()
        if rows.tobytes() == np.asarray(predictions[:size]).tobytes():
            found.append(size)
    return tuple(found)


def test_exercise_1_right_answers(capsys):
    assert nb03.exercise_1(exact_sizes, SIGNATURE, X, PREDICTIONS).solved is True
    assert nb03.exercise_1(by_bytes, SIGNATURE, X, PREDICTIONS).solved is True
    out = capsys.readouterr().out
    assert out.count("✅ Exercise 3.1 (one digit at a time) solved.") == 2
    assert "Your function's list matches this machine's" in out


def test_exercise_1_placeholder(capsys):
    assert nb03.exercise_1(None, SIGNATURE, X, PREDICTIONS).solved is False
    assert "not solved yet: set `exact_sizes`" in capsys.readouterr().out


def _one_batch_sliced(signature, x, predictions):  # slicing the rows of a batch of 10
    ten = np.asarray(signature(pixels=x[:10])["output_0"])
    return [n for n in range(1, 11) if np.array_equal(ten[:n], predictions[:n])]


def _predictions_sliced(signature, x, predictions):  # no batch sent at all
    return [n for n in range(1, 11) if np.array_equal(predictions[:n], predictions[:n])]


def _from_two_only(signature, x, predictions):  # skips the batch of one
    (key,) = signature.structured_input_signature[1]
    return [
        n
        for n in range(2, 11)
        if np.array_equal(signature(**{key: x[:n]})["output_0"], predictions[:n])
    ]


def _global_predictions(signature, x, predictions):  # the notebook's array, not the argument
    return exact_sizes(signature, x, PREDICTIONS)


def _global_signature(signature, x, predictions):  # the notebook's signature, not the argument
    return exact_sizes(SIGNATURE, x, predictions)


def _compared_with_itself(signature, x, predictions):
    rows = {n: np.asarray(signature(pixels=x[:n])["output_0"]) for n in range(1, 11)}
    return [n for n, batch in rows.items() if np.array_equal(batch, batch)]


def _within_tolerance(signature, x, predictions):
    rows = {n: np.asarray(signature(pixels=x[:n])["output_0"]) for n in range(1, 11)}
    return [n for n, batch in rows.items() if np.allclose(batch, predictions[:n])]


def _the_kits_compare(signature, x, predictions):  # the shortcut the task puts off limits
    rows = {n: np.asarray(signature(pixels=x[:n])["output_0"]) for n in range(1, 11)}
    compare = helpers.verify.compare
    return [n for n, batch in rows.items() if compare(predictions[:n], batch).identical]


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        ([2, 5], "should be a function of (signature, x, predictions), not a list typed in"),
        (lambda s, x, p: [2, 5], "never sent a batch of 1"),
        (_one_batch_sliced, "never sent a batch of 1"),
        (_predictions_sliced, "never sent a batch of 1"),
        (_from_two_only, "never sent a batch of 1"),
        (_global_signature, "never sent a batch of 1"),
        (_global_predictions, "are [], and your function says [2, 5]"),
        (_compared_with_itself, "says every size gives the same bits, and that is not true"),
        (_within_tolerance, "says every size gives the same bits, and that is not true"),
        (_the_kits_compare, "`helpers.verify.compare` is off limits"),
        (lambda s, x, p: "2, 5", "return a list of whole numbers"),
    ],
    ids=[
        "a list typed in",
        "a function returning a typed list",
        "rows of one batch sliced",
        "predictions sliced",
        "batch of one skipped",
        "earlier cell's signature",
        "earlier cell's predictions",
        "compared with itself",
        "tolerance",
        "kit's compare",
        "not a list",
    ],
)
def test_exercise_1_wrong_answers(capsys, answer, hint):
    assert nb03.exercise_1(answer, SIGNATURE, X, PREDICTIONS).solved is False
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 3.1") and hint in out, out


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


def flip_middle_byte(path):  # the notebook's solution
    raw = bytearray(Path(path).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    Path(path).write_bytes(bytes(raw))


def add_one_in_the_middle(path):  # another right answer: a different change, same place
    with open(path, "r+b") as stream:
        stream.seek(0, 2)
        middle = stream.tell() // 2
        stream.seek(middle)
        value = stream.read(1)[0]
        stream.seek(middle)
        stream.write(bytes([(value + 1) % 256]))


def _copy(export_dir, tmp_path, change=None, name="copy"):
    """A copy of the export whose data file is transformed by ``change(path)``."""
    folder = tmp_path / name
    shutil.copytree(export_dir, folder)
    if change:
        change(folder / nb03.DATA_FILE)
    return folder


def _error(folder):
    try:
        nb03.load_savedmodel(folder)
    except ArtifactError as error:
        return error
    raise AssertionError(f"{folder} loaded")


@pytest.mark.parametrize("flipper", [flip_middle_byte, add_one_in_the_middle])
def test_exercise_2_right_answers(export_dir, tmp_path, capsys, flipper):
    folder = _copy(export_dir, tmp_path, flipper)
    assert nb03.exercise_2(flipper, folder, _error(folder), export_dir).solved is True
    out = capsys.readouterr().out
    assert out.startswith("✅ Exercise 3.2 (a flipped byte) solved. Caught: ")
    assert "checksum mismatch" in out


def test_exercise_2_placeholder(export_dir, capsys):
    assert nb03.exercise_2(None, None, None, export_dir).solved is False
    assert "not solved yet: set `flip_middle_byte`" in capsys.readouterr().out


def test_exercise_2_refuses_the_export_itself(export_dir, capsys):
    assert (
        nb03.exercise_2(flip_middle_byte, export_dir, ValueError("x"), export_dir).solved is False
    )
    assert "That is the reference export itself" in capsys.readouterr().out


def _byte_five(path):  # a position typed in
    raw = bytearray(Path(path).read_bytes())
    raw[5] ^= 0xFF
    Path(path).write_bytes(bytes(raw))


def _cut(path):  # keeps the first half
    raw = Path(path).read_bytes()
    Path(path).write_bytes(raw[: len(raw) // 2])


def _flip_two(path):
    raw = bytearray(Path(path).read_bytes())
    raw[1] ^= 0xFF
    raw[len(raw) // 2] ^= 0xFF
    Path(path).write_bytes(bytes(raw))


def _beside(path):  # writes the damage into a new file, leaves the one given unchanged
    raw = bytearray(Path(path).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    Path(str(path) + ".flipped").write_bytes(bytes(raw))


def _the_kits_flip(path):  # the shortcut the task puts off limits
    helpers.kit.faults.flip_byte(Path(path))


@pytest.mark.parametrize(
    ("flipper", "hint"),
    [
        (b"\x00", "should be a function of a file's path"),
        (_byte_five, "changed the byte(s) at [5], not the middle one (500)"),
        (_cut, "your flip_middle_byte left 5 bytes: change one byte, keep the size"),
        (_flip_two, "changed the byte(s) at [1, 5], not the middle one (5)"),
        (_beside, "changed the byte(s) at [], not the middle one"),
        (_the_kits_flip, "`helpers.kit.faults.flip_byte` is off limits"),
    ],
    ids=["a value", "position typed in", "cut short", "two bytes", "a new file", "kit's flip"],
)
def test_exercise_2_wrong_flippers(export_dir, tmp_path, capsys, flipper, hint):
    folder = _copy(export_dir, tmp_path, flip_middle_byte)
    assert nb03.exercise_2(flipper, folder, _error(folder), export_dir).solved is False
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 3.2") and hint in out, out


def _built_not_raised(folder):
    return ArtifactError(folder, _error(folder).problem)


@pytest.mark.parametrize(
    ("change", "caught", "hint"),
    [
        (_cut, "own", "flip a byte, keep the size"),
        (None, ValueError("boom"), "The data file is unchanged"),
        (_flip_two, "own", "2 bytes differ: change exactly one"),
        (flip_middle_byte, "the error", "should be the exception itself"),
        (flip_middle_byte, ValueError("Checksum does not match"), "That is a ValueError"),
        (flip_middle_byte, "built", "That error was built, never raised"),
        (flip_middle_byte, "earlier", "not your copy (an error from an earlier cell?)"),
    ],
    ids=[
        "cut",
        "unchanged",
        "two bytes",
        "not an exception",
        "another exception",
        "error typed in",
        "earlier cell's error",
    ],
)
def test_exercise_2_wrong_copies_and_errors(export_dir, tmp_path, capsys, change, caught, hint):
    folder = _copy(export_dir, tmp_path, change)
    if caught == "own":
        caught = _error(folder)
    elif caught == "built":
        caught = _built_not_raised(folder)
    elif caught == "earlier":
        caught = _error(_copy(export_dir, tmp_path, _cut, name="earlier"))
    assert nb03.exercise_2(flip_middle_byte, folder, caught, export_dir).solved is False
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 3.2") and hint in out, out
