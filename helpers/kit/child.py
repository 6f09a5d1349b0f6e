"""The kit's child processes: ``python -m helpers.kit.child TASK ARGS...`` (kit machinery).

Every Python child process of the kit runs one task of :data:`TASKS`, started through
:mod:`helpers.kit.runner`, and every task reads its command line the same way
(:func:`helpers.kit.runner.call`: its parameters are its arguments and options).

``-m`` imports the package ``helpers`` first, which sets TensorFlow's log variables; a task
marked ``seeded`` also gets a notebook's setup first (``helpers.kit.setup.quiet_tensorflow``
and ``seed_everything``: seeds, op determinism, one thread per op). Nothing else is imported
before the task's own module, so a task that needs no TensorFlow never loads it.

The bodies of notebook 04's and notebook 11's children are here; the others are next to the
code they serve (:mod:`helpers.kit.reference`, :mod:`helpers.kit.sandbox_child`, ...).

Serves notebooks 04, 08, 11 and 12 (their child processes) and the reference model.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.kit import runner

PROG = "python -m helpers.kit.child"


@dataclass(frozen=True)
class Task:
    """A child task: ``module:function``, and whether it runs after a notebook's setup."""

    target: str
    seeded: bool = False

    def function(self) -> Callable[..., Any]:
        module, name = self.target.split(":")
        return getattr(importlib.import_module(module), name)


TASKS = {
    "build-reference": Task("helpers.kit.reference:build"),  # the cached reference model
    "load-in-sandbox": Task("helpers.kit.sandbox_child:main"),  # notebook 12, under nsjail
    "hold-namespace": Task("helpers.kit.distributed:_hold_namespace"),  # notebook 08's holder
    "distributed-worker": Task("helpers.kit.distributed_worker:main"),  # notebook 08's workers
    "probe": Task("helpers.loading:_probe_main"),  # open a .tflite or .onnx file once, here
    "train-with-backup": Task("helpers.kit.child:train_with_backup", seeded=True),  # nb 04
    # notebook 11 (helpers.long_runs), some of them killed on purpose
    "train-until": Task("helpers.kit.child:train_until", seeded=True),
    "train": Task("helpers.kit.child:train_uninterrupted", seeded=True),
    "resume": Task("helpers.kit.child:resume", seeded=True),
    "async-then-die": Task("helpers.kit.child:async_then_die", seeded=True),
    "async-until-written": Task("helpers.kit.child:async_until_written", seeded=True),
    "load-vocabulary": Task("helpers.kit.child:load_vocabulary", seeded=True),
}


def _notebook_setup() -> None:
    from helpers.kit.setup import quiet_tensorflow, seed_everything

    quiet_tensorflow()
    seed_everything()  # op determinism and one thread per op, exactly as in the notebooks


def main(arguments: Sequence[str] | None = None) -> int:
    """``python -m helpers.kit.child TASK ARGS...``: run one task of :data:`TASKS`."""
    arguments = list(sys.argv[1:] if arguments is None else arguments)
    if not arguments or arguments[0] not in TASKS:
        raise SystemExit(f"usage: {PROG} {{{','.join(TASKS)}}} ...")
    task = TASKS[arguments[0]]
    before = _notebook_setup if task.seeded else None
    return runner.call(task.function(), arguments[1:], f"{PROG} {arguments[0]}", before)


def train_with_backup(
    backup_dir: Path,
    model_out: Path,
    *,
    dropout: float = 0.0,
    seed_state: bool = False,
    interrupt_after: int | None = None,
) -> int:
    """Notebook 04's child: ``helpers.training.train`` with a backup, then save the model.

    Exits with ``helpers.training.INTERRUPTED_EXIT`` when ``interrupt_after`` stops it.
    """
    from helpers import training

    try:
        model = training.train(
            backup_dir, dropout=dropout, seed_state=seed_state, interrupt_after=interrupt_after
        )
    except training.TrainingInterrupted as error:
        print(f"TrainingInterrupted: {error}")
        return training.INTERRUPTED_EXIT
    model.save(model_out)
    print(f"finished {training.EPOCHS} epochs; model saved")
    return 0


# Notebook 11's children (:mod:`helpers.long_runs` starts them, and kills some on purpose).


def notebook_11_data() -> tuple[Any, Any]:
    """The first ``long_runs.TRAIN_SAMPLES`` training digits: what notebook 11's runs fit."""
    from helpers import long_runs
    from helpers.kit.data import load_digits

    digits = load_digits()
    return digits.x_train[: long_runs.TRAIN_SAMPLES], digits.y_train[: long_runs.TRAIN_SAMPLES]


def train_until(backup_dir: Path, step: int) -> None:
    """``fit`` with ``BackupAndRestore(save_freq, double_checkpoint=True)``; after training step
    ``step``, print ``long_runs.PAUSED`` and wait to be killed."""
    import keras

    from helpers import long_runs
    from helpers.kit.models import digits_mlp

    class PauseAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations) == step:
                print(f"{long_runs.PAUSED} {step}", flush=True)
                time.sleep(600)  # the parent kills us here

    x, y = notebook_11_data()
    model = digits_mlp()
    backup = keras.callbacks.BackupAndRestore(
        backup_dir, save_freq=long_runs.SAVE_FREQ, double_checkpoint=True
    )
    model.fit(
        x,
        y,
        epochs=long_runs.EPOCHS,
        batch_size=long_runs.BATCH_SIZE,
        shuffle=False,
        callbacks=[backup, PauseAt()],
        verbose=0,
    )


def train_uninterrupted(weights_out: Path) -> None:
    """The same ``fit``, never interrupted; save the finished weights."""
    from helpers import long_runs
    from helpers.kit.models import digits_mlp

    x, y = notebook_11_data()
    model = digits_mlp()
    model.fit(
        x, y, epochs=long_runs.EPOCHS, batch_size=long_runs.BATCH_SIZE, shuffle=False, verbose=0
    )
    model.save_weights(weights_out)


def resume(backup_dir: Path, weights_out: Path) -> None:
    """``long_runs.resume_from_backup``, then save the finished weights."""
    from helpers import long_runs
    from helpers.kit.models import digits_mlp

    x, y = notebook_11_data()
    model = long_runs.resume_from_backup(
        digits_mlp(), x, y, backup_dir, epochs=long_runs.EPOCHS, batch_size=long_runs.BATCH_SIZE
    )
    model.save_weights(weights_out)
    print(f"resumed at step {int(model.optimizer.iterations)}; weights saved")


def async_then_die(folder: Path) -> None:
    """A good checkpoint, a background save of changed values, then SIGKILL before ``sync()``."""
    import tensorflow as tf

    from helpers.long_runs import ASYNC_SHAPE, ASYNC_VALUES, async_variables

    variables = async_variables()
    checkpoint = tf.train.Checkpoint(variables=variables)
    manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=3)
    background = tf.train.CheckpointOptions(enable_async=True)
    for variable in variables:
        variable.assign(tf.fill(ASYNC_SHAPE, ASYNC_VALUES[0]))
    manager.save(options=background)
    checkpoint.sync()  # the first save is complete on disk
    for variable in variables:
        variable.assign(tf.fill(ASYNC_SHAPE, ASYNC_VALUES[1]))
    manager.save(options=background)  # returns at once; the write goes on in a thread
    os.kill(os.getpid(), signal.SIGKILL)  # dies before checkpoint.sync()


def async_until_written(folder: Path) -> None:
    """The same two saves through a ``CheckpointManager``; the second holds its thread once its
    files are written, before the manager records it: print ``long_runs.WRITTEN``, wait."""
    import tensorflow as tf

    from helpers.long_runs import ASYNC_SHAPE, ASYNC_VALUES, WRITTEN, async_variables

    variables = async_variables()
    checkpoint = tf.train.Checkpoint(variables=variables)
    manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=3)
    for variable in variables:
        variable.assign(tf.fill(ASYNC_SHAPE, ASYNC_VALUES[0]))
    manager.save(options=tf.train.CheckpointOptions(enable_async=True))
    checkpoint.sync()  # the first save is complete on disk and recorded

    def hold(save_path: str) -> None:
        # Write callbacks run in the background thread after the files are written; the
        # manager's own callback, which records the save, runs after the ones given here.
        print(f"{WRITTEN} {Path(save_path).name}", flush=True)
        time.sleep(600)  # the parent kills us here

    for variable in variables:
        variable.assign(tf.fill(ASYNC_SHAPE, ASYNC_VALUES[1]))
    held = tf.train.CheckpointOptions(enable_async=True, experimental_write_callbacks=[hold])
    manager.save(options=held)  # returns at once; the write goes on in a thread
    time.sleep(600)


def load_vocabulary(model_path: Path, *words: str) -> None:
    """Load a ``.keras`` file holding a ``WordEmbedding``; print its vocabulary and scores."""
    import keras

    from helpers.stateful_layers import WordEmbedding

    model = keras.models.load_model(model_path)
    (layer,) = [layer for layer in model.layers if isinstance(layer, WordEmbedding)]
    scores = model.predict(layer.encode(list(words))[None, :], verbose=0)
    print(json.dumps({"vocabulary": layer.vocabulary, "scores": scores.tolist()}))


if __name__ == "__main__":
    sys.exit(main())
