"""Checks for notebook 11's exercises: check every shard before loading, serve any batch size.

Both answers are functions, and the checks call them on inputs they make themselves, so an
answer must compute its result, not type it in or reuse an object from an earlier cell. The
first check damages sharded saves of its own (a shard missing, a shard cut short, an unrelated
broken file) and runs the learner's function on each; the second has the learner's function
save into a folder the check picks, loads it and calls it with batch sizes drawn at random.
While the learner's function runs, the shortcuts the task puts off limits (the kit's
``helpers`` and the Keras calls named in the task) are watched with ``unittest.mock``.

Serves notebook 11.
"""

from __future__ import annotations

import contextlib
import inspect
import random
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from helpers.checks.core import exercise, expect, require
from helpers.errors import describe

SHARD_SIZE_GB = 9000 / 1024**3  # about 9 KB per shard: the digits MLP needs several


@contextlib.contextmanager
def _watched(keras_calls: dict[str, tuple[Any, str]]) -> Iterator[list[str]]:
    """Record calls to the kit's own functions (``helpers.*`` outside ``helpers.checks``) and
    to ``keras_calls`` (``{shown name: (owner, attribute)}``) while the block runs."""
    used: list[str] = []
    targets = [(owner, attribute, name) for name, (owner, attribute) in keras_calls.items()]
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith("helpers."):
            continue
        if module_name.startswith("helpers.checks"):
            continue  # the checks themselves call helpers
        for attribute, value in vars(module).items():
            if inspect.isfunction(value) and value.__module__ == module_name:
                targets.append((module, attribute, f"{module_name}.{attribute}"))

    def recording(original: Callable[..., Any], name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            used.append(name)
            return original(*args, **kwargs)

        return call

    with contextlib.ExitStack() as stack:
        for owner, attribute, name in targets:
            original = getattr(owner, attribute)
            stack.enter_context(mock.patch.object(owner, attribute, recording(original, name)))
        yield used


def _quoted(error: BaseException) -> str:
    return describe(error, None, limit=160)


def _raised(error: Exception, case: str) -> str:
    """What to tell a learner whose function raised ``error`` on ``case``."""
    if isinstance(error, OSError):
        advice = (
            "h5py.File raises OSError for a shard that is missing or cut short: catch it "
            "(try: ... except OSError:) and add that shard's name to the list you return, "
            "instead of letting it escape. An error that escapes names no shard."
        )
    elif isinstance(error, TypeError):
        advice = (
            "Your function is called with one argument, the index path (a pathlib.Path): "
            "read it with Path(index_path).read_text() and open each shard with "
            "Path(index_path).with_name(name)."
        )
    elif isinstance(error, KeyError):
        advice = 'The shard names are in the index\'s "weight_map", as lists or as strings.'
    else:
        advice = "Read the index you are given, then try to open each shard it names."
    return f"On {case}, your function raised {_quoted(error)}. {advice}"


def _sharded_save(folder: Path) -> list[str]:
    """A sharded save of the digits MLP in ``folder``; the shard names, in order."""
    from helpers.kit.models import digits_mlp  # keras: imported only when this check runs

    folder.mkdir(parents=True)
    digits_mlp().save_weights(folder / "model.weights.json", max_shard_size=SHARD_SIZE_GB)
    return sorted(path.name for path in folder.glob("model_*.weights.h5"))


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _answer(function: Callable[[Any], Any], index: Path, case: str, named: list[str]) -> list[str]:
    import keras  # imported only when this check runs

    keras_loads = {
        "Model.load_weights": (keras.Model, "load_weights"),
        "keras.saving.load_weights": (keras.saving, "load_weights"),
    }
    with _watched(keras_loads) as used:
        try:
            found = function(index)
        except Exception as error:  # the learner's code: say what went wrong, and why
            expect(False, _raised(error, case))
    expect(
        not used,
        f"Your function called {used[0] if used else ''}: off limits here. The point is to "
        "find a broken shard before Keras (or the kit) loads anything: open each shard with "
        "h5py yourself.",
    )
    expect(
        isinstance(found, list | tuple | set | frozenset)
        and all(isinstance(name, str) for name in found),
        "Return a list of file names (strings), e.g. ['model_00001.weights.h5'].",
    )
    strangers = sorted(set(found) - set(named))
    expect(
        not strangers or not all((index.parent / name).exists() for name in strangers),
        f"On {case}, you returned {strangers}: files in the folder that the index does not "
        "name. Report only the shards the index names.",
    )
    expect(
        not strangers,
        f"On {case}, you returned {strangers}, which the index you were given does not name. "
        "Compute the answer from index_path, the argument: not from names typed in or a "
        "folder from an earlier cell.",
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
        found = _answer(
            unreadable_shards, root / "intact" / "model.weights.json", "an intact save", shards
        )
        expect(
            found == [],
            f"On an intact save your function reports {found}: it should return [] there.",
        )

        _sharded_save(root / "missing")
        (root / "missing" / shards[0]).unlink()
        found = _answer(
            unreadable_shards, root / "missing" / "model.weights.json", "a missing shard", shards
        )
        expect(
            found == [shards[0]],
            f"A shard named in the index is missing ({shards[0]}); you returned {found}. "
            "Take the names from the index's weight_map, not from the folder listing.",
        )

        _sharded_save(root / "cut")
        _cut(root / "cut" / shards[-1])
        found = _answer(
            unreadable_shards, root / "cut" / "model.weights.json", "a shard cut short", shards
        )
        expect(
            found == [shards[-1]],
            f"{shards[-1]} is cut short (a half-written save) but exists; you returned {found}."
            " A file that exists is not a readable one, and its size says nothing unless it is "
            "compared with something else: open each with h5py.File(path, 'r').",
        )

        _sharded_save(root / "stray")
        (root / "stray" / "notes_00000.weights.h5").write_bytes(b"not an HDF5 file")
        found = _answer(
            unreadable_shards, root / "stray" / "model.weights.json", "a stray file", shards
        )
        expect(
            found == [],
            f"The folder holds a broken file the index does not name; you returned {found}. "
            "Report only the shards the index names.",
        )
    return (
        "Every shard the index names is opened before loading: a missing or torn one is "
        "reported by name, before Keras gets to it."
    )


def _scores(score: Any, rows: int, seed: int) -> np.ndarray:
    inputs = np.random.default_rng(seed).random((rows, 64), dtype=np.float32)
    return np.asarray(score(inputs))


@exercise("11.2", "serve any batch size")
def exercise_2(save_scorer: Any) -> str:
    """``save_scorer(folder)``: saves a module whose loaded ``score`` answers any batch size."""
    require(save_scorer, "save_scorer", "a function that saves your module to the given folder")
    expect(callable(save_scorer), "`save_scorer` should be a function of the folder to save to.")
    import keras  # imported only when this check runs
    import tensorflow as tf

    shortcuts = {
        "Model.export": (keras.Model, "export"),
        "keras.export.ExportArchive.write_out": (keras.export.ExportArchive, "write_out"),
    }
    with tempfile.TemporaryDirectory(prefix="kit-nb11-") as base:
        folder = Path(base) / "scorer"
        with _watched(shortcuts) as used:
            try:
                save_scorer(folder)
            except Exception as error:  # the learner's code: say what went wrong
                expect(
                    False,
                    f"Calling save_scorer(folder) raised {_quoted(error)}. It gets one "
                    "argument, the folder (a pathlib.Path); build your module and save it "
                    "there with tf.saved_model.save(module, folder).",
                )
        expect(
            not used,
            f"save_scorer called {used[0] if used else ''}: off limits here. Write the "
            "tf.Module and its tf.function yourself, and save it with tf.saved_model.save.",
        )
        expect(
            (folder / "saved_model.pb").is_file(),
            "Nothing was saved in the folder save_scorer was given. Save to its argument, "
            "with tf.saved_model.save(module, folder): not to a folder of your own, and not "
            "by reusing a folder from an earlier cell.",
        )
        loaded = tf.saved_model.load(str(folder))
        score = getattr(loaded, "score", None)
        expect(
            callable(score),
            "The loaded object has no `score` function. Decorate a method called `score` with "
            "tf.function (section 7's scorer has only `__call__`: write your own module).",
        )
        sizes = [1, *random.sample(range(2, 200), 2)]
        for rows in sizes:
            try:
                scores = _scores(score, rows, seed=rows)
            except (ValueError, TypeError) as error:
                expect(
                    False,
                    f"The loaded `score` refused a batch of {rows} ({_quoted(error)}). It "
                    "only has the versions traced before the save: give `tf.function` an "
                    "input_signature with None for the batch size.",
                )
            expect(
                scores.shape == (rows, 10),
                f"A batch of {rows} rows gave scores of shape {scores.shape}, not ({rows}, 10).",
            )
        expect(
            not np.array_equal(_scores(score, 5, seed=1), _scores(score, 5, seed=2)),
            "Two different batches of pixels got the same scores: compute the scores from the "
            "pixels (e.g. pixels @ kernel with a tf.Variable), not as values typed in or a "
            "comparison of the input with itself.",
        )
    return (
        "The loaded `score` answered a batch of 1 and two batch sizes drawn at random, with "
        "scores computed from the pixels: one trace with a None batch dimension serves them all."
    )
