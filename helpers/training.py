"""Training that saves as it goes (written out in notebook 04): interrupt a ``fit``, resume.

:func:`run_in_child` runs :func:`train` (the kit's digits MLP, ``helpers.kit.models.digits_mlp``,
with ``keras.callbacks.BackupAndRestore``) in its own process, the way a training job on a
machine that can crash would run: ``python -m helpers.kit.child train-with-backup BACKUP_DIR
MODEL_OUT [--dropout R] [--seed-state] [--interrupt-after N]``. With ``--interrupt-after N`` a
callback raises :class:`TrainingInterrupted` at the end of epoch N, after the backup of that
epoch is written, and the process exits with status :data:`INTERRUPTED_EXIT`. Run it again
without the flag and it resumes from the backup and saves the finished model to ``MODEL_OUT``
(a ``.keras`` file).

Serves notebook 04.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from helpers.errors import ArtifactError, ArtifactNotFoundError
from helpers.kit import runner
from helpers.kit.data import Digits, load_digits
from helpers.kit.models import BATCH_SIZE, digits_mlp

EPOCHS = 4
TRAIN_SAMPLES = 640  # the first 640 training digits: 20 steps of 32 per epoch
SEED = 0
INTERRUPTED_EXIT = 3
SEED_STATE_FILE = "seed_states.npy"


class TrainingInterrupted(RuntimeError):
    """Raised on purpose by :class:`InterruptAfter`: a crash at a known, repeatable moment."""


class InterruptAfter(keras.callbacks.Callback):
    """Raise :class:`TrainingInterrupted` at the end of epoch ``epochs`` (counted from 1).

    Put it *after* ``BackupAndRestore`` in the callbacks list, so that epoch's backup exists.
    """

    def __init__(self, epochs: int) -> None:
        super().__init__()
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        self.epochs = epochs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 == self.epochs:
            raise TrainingInterrupted(f"interrupted on purpose after epoch {self.epochs}")


def seed_states(model: keras.Model) -> list[keras.Variable]:
    """The model's random-seed states: the variables that ``model.weights`` leaves out.

    Dropout (and other random layers) draw from a ``SeedGenerator`` whose state advances at
    every training step. ``save_weights`` and ``BackupAndRestore`` do not save it.
    """
    weight_ids = {id(weight) for weight in model.weights}
    return [variable for variable in model.variables if id(variable) not in weight_ids]


class SeedStateBackup(keras.callbacks.Callback):
    """Back up the model's seed states next to ``BackupAndRestore``'s files, and restore them.

    Put it after ``BackupAndRestore`` (same ``backup_dir``): it saves at every epoch end and
    restores at the start of ``fit`` when a saved state exists.
    """

    def __init__(self, backup_dir: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(backup_dir) / SEED_STATE_FILE

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.path.is_file():
            return
        saved = np.load(self.path)
        states = seed_states(self.model)
        if len(saved) != len(states):
            raise ArtifactError(
                self.path, f"holds {len(saved)} seed states but the model has {len(states)}"
            )
        for variable, value in zip(states, saved, strict=True):
            variable.assign(value)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        np.save(self.path, np.stack([np.asarray(v) for v in seed_states(self.model)]))


def train(
    backup_dir: str | os.PathLike[str],
    *,
    dropout: float = 0.0,
    seed_state: bool = False,
    interrupt_after: int | None = None,
    epochs: int = EPOCHS,
    digits: Digits | None = None,
) -> keras.Model:
    """Seed, build the digits MLP, ``fit`` it with ``BackupAndRestore(backup_dir)``.

    Trains on the first :data:`TRAIN_SAMPLES` training digits. With op determinism on, the same
    call in any process trains the same weights, resumed or not (without Dropout, or with
    ``seed_state=True``).
    """
    digits = digits or load_digits()
    keras.utils.set_random_seed(SEED)
    model = digits_mlp(dropout=dropout)  # built (it has an Input), as BackupAndRestore needs
    callbacks: list[keras.callbacks.Callback] = [keras.callbacks.BackupAndRestore(backup_dir)]
    if seed_state:
        callbacks.append(SeedStateBackup(backup_dir))
    if interrupt_after is not None:
        callbacks.append(InterruptAfter(interrupt_after))
    model.fit(
        digits.x_train[:TRAIN_SAMPLES],
        digits.y_train[:TRAIN_SAMPLES],
        epochs=epochs,
        batch_size=BATCH_SIZE,
        callbacks=callbacks,
        verbose=0,
    )
    return model


def run_in_child(
    backup_dir: str | os.PathLike[str],
    model_out: str | os.PathLike[str],
    *,
    dropout: float = 0.0,
    seed_state: bool = False,
    interrupt_after: int | None = None,
    timeout: float = 300,
) -> runner.Result:
    """Run :func:`train` in a fresh Python process (the ``train-with-backup`` child task).

    Returns the finished process (its ``returncode`` is :data:`INTERRUPTED_EXIT` after an
    interruption); raises :class:`~helpers.errors.ArtifactError` if it failed otherwise.
    """
    options = [
        *(["--dropout", dropout] if dropout else []),
        *(["--seed-state"] if seed_state else []),
        *(["--interrupt-after", interrupt_after] if interrupt_after is not None else []),
    ]
    spec = runner.Spec(
        task="train-with-backup", args=[backup_dir, model_out, *options], timeout=timeout
    )
    result = runner.run(spec, check=False)
    if result.timed_out or result.returncode not in (0, INTERRUPTED_EXIT):
        raise ArtifactError(backup_dir, f"training process failed: {result.failure()}")
    return result


def checkpoint_epoch(path: str | os.PathLike[str]) -> int:
    """The epoch number at the start of a checkpoint's name: ``epoch03-...`` -> 3."""
    match = re.match(r"epoch(\d+)-", Path(path).name)
    if not match:
        raise ArtifactError(path, "name does not start with 'epochNN-': not a per-epoch file")
    return int(match.group(1))


def prune_checkpoints(
    folder: str | os.PathLike[str],
    *,
    keep_last: int,
    keep: Sequence[str | os.PathLike[str]] = (),
    pattern: str = "epoch*.weights.h5",
) -> list[Path]:
    """Delete per-epoch checkpoints in ``folder`` except the ``keep_last`` newest and ``keep``.

    "Newest" is by the epoch number in the name, not by file time. Returns the deleted paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ArtifactNotFoundError(folder, "no such checkpoint folder")
    if keep_last < 0:
        raise ValueError(f"keep_last must be >= 0, got {keep_last}")
    files = sorted(folder.glob(pattern), key=checkpoint_epoch)
    protected = {Path(path).resolve() for path in keep}
    newest = files[len(files) - keep_last :] if keep_last else []
    doomed = [f for f in files if f not in newest and f.resolve() not in protected]
    for path in doomed:
        path.unlink()
    return doomed
