"""Checks for notebook 03's exercises: one digit at a time, and a flipped byte.

The checks call the signature and the loader themselves, on this machine, and compare the
learner's answers with what they get: bit-identity across batch sizes depends on the CPU, so
no expected list is written down anywhere.

Serves notebook 03.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from helpers.checks.core import exercise, expect, forbidden, require
from helpers.checks.fakes import batch_sizes, spy_signature
from helpers.errors import ArtifactError
from helpers.loading import load_savedmodel

DATA_FILE = Path("variables") / "variables.data-00000-of-00001"


def _keys(serving_default: Any) -> tuple[str, str]:
    """The signature's only input key and only output key."""
    _, keyword = serving_default.structured_input_signature
    (input_key,) = keyword
    (output_key,) = serving_default.structured_outputs
    return input_key, output_key


def _nudged(predictions: np.ndarray) -> np.ndarray:
    """``predictions`` with its first value moved by one float32 step: no batch matches it."""
    nudged = np.array(predictions, dtype=np.float32, copy=True)
    nudged.flat[0] = np.nextafter(nudged.flat[0], np.float32(np.inf), dtype=np.float32)
    return nudged


@exercise("3.1", "one digit at a time")
def exercise_1(exact_sizes: Any, serving_default: Any, x_test: Any, predictions: Any) -> str:
    """``exact_sizes(signature, x, predictions)``: the batch sizes N from 1 to 10 for which the
    first N rows of ``x``, sent as one batch, give exactly ``predictions[:N]``.

    The check calls it on the real signature (wrapped to record the batch sizes sent) with the
    real predictions, then with predictions one float32 step off in their first value (which no
    batch can match), and computes the truth itself: nothing is compared with a fixed list.
    """
    require(exact_sizes, "exact_sizes", "a function exact_sizes(signature, x, predictions)")
    expect(
        callable(exact_sizes),
        "`exact_sizes` should be a function of (signature, x, predictions), not a list typed "
        "in: the check calls it on other predictions too.",
    )
    input_key, output_key = _keys(serving_default)
    x, predictions = tf.constant(x_test), np.asarray(predictions)
    truth = [
        size
        for size in range(1, 11)
        if np.array_equal(
            serving_default(**{input_key: x[:size]})[output_key].numpy(), predictions[:size]
        )
    ]
    cases = (
        ("the notebook's predictions", predictions, truth),
        ("predictions one float32 step off in their first value", _nudged(predictions), []),
    )
    for label, given_predictions, expected in cases:
        recorder = spy_signature(serving_default)
        with forbidden("helpers.verify.compare"):
            answer = exact_sizes(recorder, x_test, given_predictions)
        expect(
            isinstance(answer, list | tuple | set | range)
            and all(isinstance(size, int | np.integer) for size in answer),
            f"exact_sizes returned {answer!r}: return a list of whole numbers, e.g. [2, 5].",
        )
        sent = batch_sizes(recorder)
        unsent = sorted(set(range(1, 11)) - sent)
        expect(
            not unsent,
            f"Your function never sent a batch of {unsent[:1] and unsent[0]} through the "
            "signature it was "
            "given: send the first N digits as one batch for every N (slicing the rows of a "
            "bigger batch, or of `predictions`, is not the same input).",
        )
        given = sorted({int(size) for size in answer})
        expect(
            given != list(range(1, 11)) or expected == given,
            f"With {label}, your function says every size gives the same bits, and that is "
            "not true: compare each batch's rows with `predictions[:N]` (the argument, not "
            "itself) with `np.array_equal`, not with a tolerance.",
        )
        expect(
            given == expected,
            f"With {label}, the sizes that give bit-identical rows are {expected}, and your "
            f"function says {given}: compare each batch's N rows with the first N rows of the "
            "`predictions` argument (not a global), exactly.",
        )
    return (
        "Your function's list matches this machine's, and it found none with predictions that "
        "no batch can match. Whether a digit sent alone is bit-identical to its row in the "
        "batch of 360 depends on the CPU and the kernels TensorFlow picks: a different batch is "
        "a different input, and op determinism only promises the same bits for the same input. "
        "Compare predictions made on the same batches, or use a tolerance."
    )


def _try_flipper(flip_middle_byte: Any) -> None:
    """Call the learner's ``flip_middle_byte`` on scratch files of two sizes; raise a Hint
    unless it changed exactly the middle byte, in place, keeping the size."""
    with tempfile.TemporaryDirectory() as scratch:
        for size in (11, 1000):
            path = Path(scratch) / f"{size}.bin"
            original = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
            path.write_bytes(original)
            with forbidden("helpers.kit.faults.flip_byte"):
                flip_middle_byte(path)
            after = path.read_bytes()
            expect(
                len(after) == size,
                f"On a {size}-byte file your flip_middle_byte left {len(after)} bytes: change "
                "one byte, keep the size.",
            )
            changed = [i for i, (a, b) in enumerate(zip(original, after, strict=True)) if a != b]
            expect(
                changed == [size // 2],
                f"On a {size}-byte file your flip_middle_byte changed the byte(s) at "
                f"{changed[:5]}, not the middle one ({size // 2}): compute the position from "
                "the file's length.",
            )


@exercise("3.2", "a flipped byte")
def exercise_2(
    flip_middle_byte: Any, flipped: Any, caught: Any, export_dir: str | os.PathLike[str]
) -> str:
    """``flip_middle_byte(path)``: changes a file's middle byte in place; ``flipped``: a copy of
    the export damaged with it; ``caught``: the error ``helpers.loading.load_savedmodel``
    raised for that copy."""
    require(flip_middle_byte, "flip_middle_byte", "a function flip_middle_byte(path)")
    require(flipped, "flipped", "the folder of your damaged copy")
    require(caught, "caught", "the error `helpers.loading.load_savedmodel` raised")
    expect(
        callable(flip_middle_byte),
        "`flip_middle_byte` should be a function of a file's path: the check calls it on files "
        "of its own.",
    )
    _try_flipper(flip_middle_byte)
    folder, original = Path(flipped), Path(export_dir)
    expect(
        folder.resolve() != original.resolve(),
        "That is the reference export itself: damage a *copy* (`shutil.copytree`). To repair "
        "the cache, delete its folder and rerun the notebook.",
    )
    data, original_data = folder / DATA_FILE, original / DATA_FILE
    expect(
        data.is_file(), f"{folder.as_posix()} has no {DATA_FILE.as_posix()}: copy the whole export."
    )
    damaged, intact = data.read_bytes(), original_data.read_bytes()
    expect(
        len(damaged) == len(intact),
        f"The data file is {len(damaged)} bytes instead of {len(intact)}: flip a byte, keep the "
        "size (a truncated file is section 9's case).",
    )
    changed = int(
        np.count_nonzero(np.frombuffer(damaged, np.uint8) != np.frombuffer(intact, np.uint8))
    )
    expect(changed > 0, "The data file is unchanged: call flip_middle_byte on the copy's file.")
    expect(changed == 1, f"{changed} bytes differ: change exactly one.")
    expect(
        isinstance(caught, BaseException),
        "`caught` should be the exception itself: `except helpers.errors.ArtifactError as error`.",
    )
    expect(
        isinstance(caught, ArtifactError),
        f"That is a {type(caught).__name__}: load the copy with "
        "`helpers.loading.load_savedmodel`, which raises an ArtifactError naming the problem.",
    )
    expect(
        caught.__traceback__ is not None,
        "That error was built, never raised: load the copy and keep the error it raises.",
    )
    expect(
        Path(caught.path).resolve() == folder.resolve()
        or folder.resolve() in Path(caught.path).resolve().parents,
        f"That error is about {Path(caught.path).as_posix()}, not your copy (an error from an "
        "earlier cell?): load `flipped` and keep that error.",
    )
    try:
        load_savedmodel(folder)
    except ArtifactError as error:
        expect(
            str(caught) == str(error),
            "That error is not the one loading your copy raises now: load `flipped` again and "
            "keep that error.",
        )
        problem = error.problem
    else:
        expect(False, "Your copy loads without an error: flip a byte inside the data file.")
    return (
        f"Caught: {problem}. The size is unchanged, so only the checksums in the index reveal "
        "the damage."
    )
