"""Checks for notebook 11's exercises: check every shard before loading, serve any batch size.

The first check damages sharded saves of its own (a shard missing, a shard cut short, an
unrelated broken file) and runs the learner's function on each; the second loads the
learner's SavedModel and calls it with batch sizes drawn at random.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from helpers.checks.core import exercise, expect, require

SHARD_SIZE_GB = 9000 / 1024**3  # about 9 KB per shard: the digits MLP needs several


def _sharded_save(folder: Path) -> list[str]:
    """A sharded save of the digits MLP in ``folder``; the shard names, in order."""
    from helpers.models import digits_mlp  # keras: imported only when this check runs

    folder.mkdir(parents=True)
    digits_mlp().save_weights(folder / "model.weights.json", max_shard_size=SHARD_SIZE_GB)
    return sorted(path.name for path in folder.glob("model_*.weights.h5"))


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _answer(function: Callable[[Any], Any], index: Path) -> list[str]:
    found = function(index)
    expect(
        isinstance(found, list | tuple | set | frozenset)
        and all(isinstance(name, str) for name in found),
        "Return a list of file names (strings), e.g. ['model_00001.weights.h5'].",
    )
    return sorted(found)


@exercise("11.1", "check every shard before loading")
def exercise_1(unreadable_shards: Any) -> str:
    """``unreadable_shards(index_path)``: the shards the index names that cannot be opened."""
    require(unreadable_shards, "unreadable_shards", "a function of the index path")
    expect(callable(unreadable_shards), "`unreadable_shards` should be a function.")
    with tempfile.TemporaryDirectory(prefix="kit-nb11-") as base:
        root = Path(base)
        shards = _sharded_save(root / "intact")
        expect(len(shards) >= 2, "internal: the test save has a single shard")
        index = root / "intact" / "model.weights.json"
        expect(
            _answer(unreadable_shards, index) == [],
            "On an intact save your function reports shards: it should return [] there.",
        )

        _sharded_save(root / "missing")
        (root / "missing" / shards[0]).unlink()
        found = _answer(unreadable_shards, root / "missing" / "model.weights.json")
        expect(
            found == [shards[0]],
            f"A shard named in the index is missing ({shards[0]}); you returned {found}. "
            "Take the names from the index's weight_map, not from the folder listing.",
        )

        _sharded_save(root / "cut")
        _cut(root / "cut" / shards[-1])
        found = _answer(unreadable_shards, root / "cut" / "model.weights.json")
        expect(
            found == [shards[-1]],
            f"{shards[-1]} is cut short (a half-written save) but exists; you returned {found}."
            " A file that exists is not a readable one: open each with h5py.File(path, 'r').",
        )

        _sharded_save(root / "stray")
        (root / "stray" / "notes_00000.weights.h5").write_bytes(b"not an HDF5 file")
        found = _answer(unreadable_shards, root / "stray" / "model.weights.json")
        expect(
            found == [],
            f"The folder holds a broken file the index does not name; you returned {found}. "
            "Report only the shards the index names.",
        )
    return (
        "Every shard the index names is opened before loading: a missing or torn one is "
        "reported by name, before Keras gets to it."
    )


def _call(loaded: Any, rows: int) -> np.ndarray:
    inputs = np.random.default_rng(rows).random((rows, 64), dtype=np.float32)
    return np.asarray(loaded(inputs))


@exercise("11.2", "serve any batch size")
def exercise_2(saved_dir: Any) -> str:
    """``saved_dir``: a SavedModel whose loaded ``__call__`` answers any batch of [n, 64]."""
    require(saved_dir, "exercise_2_dir", "the folder you saved to")
    folder = Path(os.fspath(saved_dir))
    expect(
        (folder / "saved_model.pb").is_file(),
        f"{folder.name} holds no saved_model.pb: save with tf.saved_model.save(module, path).",
    )
    import tensorflow as tf  # imported only when this check runs

    loaded = tf.saved_model.load(str(folder))
    expect(callable(loaded), "The loaded object cannot be called: decorate `__call__`.")
    sizes = [1, *random.sample(range(2, 200), 2)]
    for rows in sizes:
        try:
            scores = _call(loaded, rows)
        except (ValueError, TypeError) as error:
            first = str(error).strip().splitlines()[0]
            raise_hint = (
                f"The loaded function refused a batch of {rows} ({first}). It only has the "
                "versions traced before the save: give `tf.function` an input_signature "
                "with None for the batch size."
            )
            expect(False, raise_hint)
        expect(
            scores.shape == (rows, 10),
            f"A batch of {rows} rows gave scores of shape {scores.shape}, not ({rows}, 10).",
        )
    return (
        "The loaded function answered a batch of 1 and two batch sizes drawn at random: "
        "one trace with a None batch dimension serves them all."
    )
