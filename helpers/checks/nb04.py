"""Checks for notebook 04's exercises: pick the best epoch by accuracy, read a backup back.

No check trains anything: the first feeds the training history to a real ModelCheckpoint on
the trained model, the second loads the backup file itself into a fresh model and compares.

Serves notebook 04.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from helpers.checks.core import exercise, expect, habit, require

#: Exercise 4.1's habit: compute the epoch from the history, without training again.
HABIT_1 = {
    "computed": {
        "accuracy_epoch": "`accuracy_epoch` is typed in: compute it from "
        '`history["val_accuracy"]` (which epoch has the highest value?).'
    },
    "required": {
        r"\bhistory\b": 'Answer from the training history: read `history["val_accuracy"]`.'
    },
    "forbidden": {
        r"\.fit\(|ModelCheckpoint\(|helpers\.checks": "Answer from `history` alone: training "
        "again, a new `ModelCheckpoint` and the check's own code are off limits here.",
    },
}
#: Exercise 4.2's habit: read the backup's files, with Keras, not through the kit's helpers.
HABIT_2 = {
    "computed": {
        "epochs_done": "`epochs_done` is typed in: read it from the backup's "
        "`training_metadata.json` (`json.loads(...)['epoch']`)."
    },
    "required": {
        r"training_metadata\.json": "Read `epochs_done` from the backup's "
        "`training_metadata.json`.",
        r"load_weights\(": "Load `latest.weights.h5` into the fresh model with `load_weights`.",
    },
    "forbidden": {
        r"helpers\.(training|checkpoints|checks)": "The kit's training and checkpoint helpers are "
        "off limits here: read the backup with `json` and `load_weights` yourself.",
    },
}
METADATA = "training_metadata.json"
BACKUP_WEIGHTS = "latest.weights.h5"


def _best_epoch(values: list[float], higher_is_better: bool) -> int:
    """The epoch (from 1) a ``save_best_only`` checkpoint holds: the last strict improvement."""
    best, epoch = None, 0
    for index, value in enumerate(values, start=1):
        if best is None or (value > best if higher_is_better else value < best):
            best, epoch = value, index
    return epoch


def _keras_best_epoch(model: Any, monitor: str, values: list[float]) -> tuple[int, bool]:
    """The epoch (from 1) Keras's own ``ModelCheckpoint(save_best_only=True)`` would keep, and
    whether it chose "higher is better", for ``monitor`` in "auto" mode on ``model``."""
    import keras  # imported only when this check runs

    callback = keras.callbacks.ModelCheckpoint(
        "never_written.keras", monitor=monitor, save_best_only=True
    )
    callback.set_model(model)
    callback._set_monitor_op()  # Keras 3.15's "auto" rule: private, so run, not re-implemented
    best, epoch = None, 0
    for index, value in enumerate(values, start=1):
        if bool(callback._is_improvement(value, best)):
            best, epoch = value, index
    return epoch, callback.monitor_op is keras.ops.greater


@exercise("4.1", "monitor accuracy")
def exercise_1(
    accuracy_epoch: Any,
    history: dict[str, list[float]],
    model: Any,
    *,
    source: str | None = None,
) -> str:
    """``accuracy_epoch``: the epoch ``best.keras`` would hold with ``monitor="val_accuracy"``.

    The expected epoch comes from a real ``ModelCheckpoint`` attached to the trained ``model``
    (it infers the direction from the compiled metric), fed the run's ``history``. ``source``:
    the answer cell's code (by default the recorded cell that set ``accuracy_epoch``).
    """
    require(accuracy_epoch, "accuracy_epoch", "an epoch number, counted from 1")
    habit(source, "accuracy_epoch", **HABIT_1)
    accuracies = history["val_accuracy"]
    expect(
        isinstance(accuracy_epoch, int | np.integer) and not isinstance(accuracy_epoch, bool),
        "`accuracy_epoch` should be a whole number: an epoch, counted from 1.",
    )
    answer = int(accuracy_epoch)
    expect(1 <= answer <= len(accuracies), f"The run had epochs 1 to {len(accuracies)}.")
    expected, higher_is_better = _keras_best_epoch(model, "val_accuracy", accuracies)
    if answer != expected:
        loss_epoch, _ = _keras_best_epoch(model, "val_loss", history["val_loss"])
        last_max = len(accuracies) - int(np.argmax(accuracies[::-1]))
        expect(
            answer != loss_epoch,
            f"Epoch {answer} has the lowest val_loss; with `monitor='val_accuracy'` the file "
            "keeps the highest val_accuracy instead.",
        )
        expect(
            answer != _best_epoch(accuracies, higher_is_better=False),
            f"Epoch {answer} has the *lowest* val_accuracy: Keras infers mode='max' for it "
            "(the compiled accuracy metric says higher is better).",
        )
        expect(
            answer != expected - 1,
            "One epoch too early: `np.argmax` counts from 0, epochs (and file names) from 1.",
        )
        expect(
            answer != last_max,
            f"Epoch {answer} only ties the best accuracy: a tie is no improvement, so the file "
            "keeps the first epoch that reached it.",
        )
        expect(False, f"Epoch {answer} is not the one: look for the highest `val_accuracy`.")
    direction = "mode='max'" if higher_is_better else "mode='min'"
    return (
        f"Epoch {expected}: Keras's ModelCheckpoint, asked here, picks {direction} for "
        "val_accuracy from the compiled metric, and overwrites the file only on a strict "
        "improvement."
    )


@exercise("4.2", "read a backup back")
def exercise_2(
    epochs_done: Any,
    restored: Any,
    backup_dir: str | os.PathLike[str],
    *,
    source: str | None = None,
) -> str:
    """``epochs_done`` from the backup's metadata; ``restored``: a model loaded from its weights.

    ``source``: the answer cell's code (by default the recorded cell that set the answers).
    """
    require(epochs_done, "epochs_done", "the epoch number in training_metadata.json")
    require(restored, "restored", "a fresh model with latest.weights.h5 loaded")
    habit(source, "epochs_done", "restored", **HABIT_2)
    folder = Path(backup_dir)
    expect(
        (folder / METADATA).is_file() and (folder / BACKUP_WEIGHTS).is_file(),
        f"No backup in {folder.name}: a `fit` that finishes deletes it. Interrupt the training "
        "(`interrupt_after=1`) so that it stays.",
    )
    on_disk = json.loads((folder / METADATA).read_text())["epoch"]
    expect(
        isinstance(epochs_done, int | np.integer) and not isinstance(epochs_done, bool),
        "`epochs_done` should be a whole number, read from training_metadata.json.",
    )
    expect(
        int(epochs_done) == on_disk,
        f"{METADATA} says {on_disk}: read its 'epoch' value, the number of epochs done "
        "(also the index of the next one to run).",
    )
    expect(
        all(hasattr(restored, name) for name in ("weights", "optimizer")),
        "`restored` should be the Keras model you loaded the backup into.",
    )
    from helpers.kit.models import digits_mlp  # keras: imported only when this check runs

    expected = digits_mlp()
    expected.optimizer.build(expected.trainable_variables)
    expected.load_weights(folder / BACKUP_WEIGHTS)
    expect(
        len(restored.weights) == len(expected.weights)
        and all(
            np.array_equal(np.asarray(a), np.asarray(b))
            for a, b in zip(restored.weights, expected.weights, strict=True)
        ),
        f"The weights differ from {BACKUP_WEIGHTS}: call `load_weights` on a fresh "
        "`digits_mlp()` with that file.",
    )
    steps = int(expected.optimizer.iterations)
    expect(
        int(restored.optimizer.iterations) == steps,
        f"The weights are right but the optimizer is at step {int(restored.optimizer.iterations)}"
        f", not {steps}: build the optimizer *before* `load_weights`, so its state loads too.",
    )
    return (
        f"The backup holds {on_disk} epoch(s) of training: weights and optimizer state "
        f"(step {steps}), which is all BackupAndRestore needs to resume."
    )
