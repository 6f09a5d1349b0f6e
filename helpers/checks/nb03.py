"""Checks for notebook 03's exercises: one digit at a time, and a flipped byte.

The checks call the signature and the loader themselves, on this machine, and compare the
learner's answers with what they get: bit-identity across batch sizes depends on the CPU, so
no expected list is written down anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from helpers.checks.core import exercise, expect, require
from helpers.errors import ArtifactError
from helpers.loading import load_savedmodel

DATA_FILE = Path("variables") / "variables.data-00000-of-00001"


def _keys(serving_default: Any) -> tuple[str, str]:
    """The signature's only input key and only output key."""
    _, keyword = serving_default.structured_input_signature
    (input_key,) = keyword
    (output_key,) = serving_default.structured_outputs
    return input_key, output_key


@exercise("3.1", "one digit at a time")
def exercise_1(
    first_alone: Any,
    identical_sizes: Any,
    serving_default: Any,
    x_test: Any,
    predictions: np.ndarray,
) -> str:
    """``first_alone``: digit 0 sent alone; ``identical_sizes``: batch sizes 1-10 exact here."""
    require(first_alone, "first_alone", "the output of serving_default for the first digit alone")
    require(identical_sizes, "identical_sizes", "a list of the batch sizes from 1 to 10")
    input_key, output_key = _keys(serving_default)
    expect(
        not isinstance(first_alone, dict),
        f"`serving_default` returns a dictionary: take its `{output_key}` entry.",
    )
    alone = np.asarray(first_alone)
    expect(
        alone.size == predictions.shape[1],
        f"`first_alone` has shape {alone.shape}: send one digit, `x_test[:1]` (a batch of 1), "
        f"so you get {predictions.shape[1]} probabilities back.",
    )
    x = tf.constant(x_test)
    expected = serving_default(**{input_key: x[:1]})[output_key].numpy()
    if not np.array_equal(alone.reshape(expected.shape), expected):
        close = np.allclose(alone.reshape(-1), predictions[0], atol=1e-6)
        expect(
            False,
            "Close to row 0 of `predictions` but not what a batch of 1 gives: compute it with "
            "`serving_default` on `x_test[:1]`, not by slicing `predictions`."
            if close
            else "These are not the first digit's probabilities: send `x_test[:1]`.",
        )
    expect(
        isinstance(identical_sizes, list | tuple | set | range)
        and all(isinstance(size, int | np.integer) for size in identical_sizes),
        "`identical_sizes` should be a list of whole numbers, e.g. [2, 5].",
    )
    truth = {
        size
        for size in range(1, 11)
        if np.array_equal(
            serving_default(**{input_key: x[:size]})[output_key].numpy(), predictions[:size]
        )
    }
    given = {int(size) for size in identical_sizes}
    expect(given <= set(range(1, 11)), "Only batch sizes from 1 to 10 are asked for.")
    expect(
        not (given > truth and given == set(range(1, 11))),
        "Not every size gives the same bits: compare with `np.array_equal` (or "
        "`helpers.verify.compare(...).identical`), not with a tolerance or `allclose`.",
    )
    missing, extra = sorted(truth - given), sorted(given - truth)
    expect(
        not extra,
        f"Batch size(s) {extra} do not give bit-identical rows: send the first N digits as one "
        "batch and compare all N rows with `predictions[:N]`, exactly.",
    )
    expect(
        not missing,
        f"Batch size(s) {missing} do give bit-identical rows too: check every size from 1 to 10.",
    )
    return (
        "Your list matches this machine. A different batch is a different input, and op "
        "determinism only promises the same bits for the same input: compare predictions made "
        "on the same batches, or use a tolerance."
    )


@exercise("3.2", "a flipped byte")
def exercise_2(flipped: Any, caught: Any, export_dir: str | os.PathLike[str]) -> str:
    """``flipped``: a copy of the export with one byte of its data file changed; ``caught``: the
    error ``helpers.loading.load_savedmodel`` raised for it."""
    require(flipped, "flipped", "the folder of your damaged copy")
    require(caught, "caught", "the error `helpers.loading.load_savedmodel` raised")
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
    expect(changed > 0, "The data file is unchanged: write the modified bytes back to the copy.")
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
