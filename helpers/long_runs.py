"""Kit plumbing for notebook 11: child processes to kill, and the mid-epoch resume it teaches.

Not a lesson in itself. The notebook starts fresh Python processes through this module, tasks
of :mod:`helpers.kit.child` (``python -m helpers.kit.child COMMAND ...``, started by
:mod:`helpers.kit.runner`), and kills some of them on purpose:

- ``train-until BACKUP_DIR STEP``: ``fit`` the digits MLP with
  ``BackupAndRestore(save_freq=SAVE_FREQ, double_checkpoint=True)``; after training step
  STEP it prints :data:`PAUSED` and waits, so that the parent can ``SIGKILL`` it at a known
  moment (:func:`kill_at_step`).
- ``train WEIGHTS_OUT``: the same ``fit``, never interrupted; save the finished weights.
- ``resume BACKUP_DIR WEIGHTS_OUT``: :func:`resume_from_backup` (written out in notebook 11),
  then save the finished weights.
- ``async-then-die CHECKPOINT_DIR``: a good checkpoint, then a background save of changed
  values, then ``SIGKILL`` before ``checkpoint.sync()``, at whatever point the write is.
- ``async-until-written CHECKPOINT_DIR``: the same two saves through a ``CheckpointManager``,
  but the second one holds its background thread once its files are written and before the
  manager records it: it prints :data:`WRITTEN` and waits, so that the parent can ``SIGKILL``
  it at that moment (:func:`kill_when_written`).
- ``load-vocabulary MODEL WORD...``: load a ``.keras`` file holding
  :class:`helpers.stateful_layers.WordEmbedding` and print what it holds.

Every child runs with the kit's seeding and op determinism (``helpers.kit.setup``), like the
notebook; their bodies are in :mod:`helpers.kit.child`.

Serves notebook 11.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from helpers.errors import ArtifactError
from helpers.kit import runner

TRAIN_SAMPLES = 640  # the first 640 training digits: 20 steps of 32 per epoch
BATCH_SIZE = 32
EPOCHS = 3
SAVE_FREQ = 8  # BackupAndRestore saves after every 8 training steps
PAUSED = "paused after step"
WRITTEN = "written, not yet recorded:"
ASYNC_VALUES = (1.0, 2.0)  # the first (synced) save holds 1.0 everywhere, the second 2.0
ASYNC_SHAPE = (1024, 1024)
ASYNC_VARIABLES = 4  # 4 x 4 MiB of float32


def resume_from_backup(model, x, y, backup_dir, *, epochs, batch_size):
    """Finish a ``fit`` that ``BackupAndRestore(save_freq=N)`` backed up in mid-epoch.

    Keras 3.15.1 resumes at the start of the backed-up epoch; this skips the batches of that
    epoch already done, so the data must come in a fixed order (``shuffle=False``). It takes
    the newest pair of files (weights, position) that can be read and agree on the step: the
    latest, else the ``.bkp`` pair of ``double_checkpoint=True``. If none does, it raises
    ``ValueError`` naming the folder and what is wrong with each pair.
    """
    backup_dir = Path(backup_dir)
    steps_per_epoch = math.ceil(len(x) / batch_size)
    model.optimizer.build(model.trainable_variables)  # so the optimizer's state loads too
    problems = []
    for suffix in ("", ".bkp"):  # the latest save, then the one before it
        weights = backup_dir / f"latest.weights.h5{suffix}"
        metadata = backup_dir / f"training_metadata.json{suffix}"
        try:  # probe: a pair that cannot be read is skipped; none left raises below
            position = json.loads(metadata.read_text())
            epoch, batches_done = position["epoch"], position["batch"] + 1
            with tempfile.TemporaryDirectory() as scratch:  # load_weights wants *.weights.h5
                model.load_weights(shutil.copy(weights, Path(scratch) / "backup.weights.h5"))
        except (OSError, ValueError, KeyError, TypeError) as error:  # missing, torn, not JSON
            problems.append(f"{metadata.name} + {weights.name}: {type(error).__name__}")
            continue
        expected_step = epoch * steps_per_epoch + batches_done
        if int(model.optimizer.iterations) == expected_step:
            break
        # the two files are from different saves: a kill between the weights and the metadata
        problems.append(
            f"{metadata.name} says step {expected_step}, "
            f"{weights.name} holds step {int(model.optimizer.iterations)}"
        )
    else:
        raise ValueError(f"{backup_dir}: no usable backup ({'; '.join(problems)})")
    if problems:
        print(f"latest backup unusable ({problems[0]}): resumed from the .bkp pair")
    if batches_done < steps_per_epoch:  # the rest of the interrupted epoch
        start = batches_done * batch_size
        model.fit(x[start:], y[start:], batch_size=batch_size, shuffle=False, verbose=0)
    model.fit(
        x,
        y,
        initial_epoch=epoch + 1,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=False,
        verbose=0,
    )
    return model


def _spec(*arguments: str | os.PathLike[str], timeout: float = 300) -> runner.Spec:
    return runner.Spec(task=str(arguments[0]), args=arguments[1:], timeout=timeout)


def run_child(*arguments: str | os.PathLike[str], timeout: float = 300) -> str:
    """Run the child ``COMMAND ARGUMENTS...`` to the end; return its stdout.

    Raises :class:`~helpers.errors.ArtifactError` (naming the first argument) if it fails.
    """
    result = runner.run(_spec(*arguments, timeout=timeout), check=False)
    if not result.ok:
        raise ArtifactError(arguments[0], f"child process failed: {result.failure()}")
    return result.stdout


def run_killed_child(*arguments: str | os.PathLike[str], timeout: float = 300) -> int:
    """Run a child that kills itself (``async-then-die``); return its (negative) exit status.

    Raises :class:`~helpers.errors.ArtifactError` if it exits by itself instead.
    """
    result = runner.run(_spec(*arguments, timeout=timeout), check=False)
    if result.returncode >= 0 or result.timed_out:
        raise ArtifactError(arguments[0], f"child was not killed: {result.failure()}")
    return result.returncode


@dataclass
class Killed:
    """A child process that was killed: its exit status and what it printed before."""

    returncode: int
    stdout: str


def _kill_on_line(
    arguments: Sequence[str | os.PathLike[str]], starts: str, timeout: float
) -> Killed:
    """Start the child ``COMMAND ARGUMENTS...``; ``SIGKILL`` it once it prints a line that
    starts with ``starts``."""
    child = runner.start(_spec(*arguments))
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # blocks until the child reaches the point (or dies)
        if not line.startswith(starts):
            child.wait(timeout)
            stderr = child.stderr.read()[-2000:] if child.stderr else ""
            raise ArtifactError(arguments[1], f"child never paused:\n{stderr}")
        child.kill()  # SIGKILL: no exception, no cleanup: a crash
        child.wait(timeout)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    return Killed(child.returncode, line.strip())


def kill_at_step(backup_dir: str | os.PathLike[str], step: int, timeout: float = 300) -> Killed:
    """Start ``train-until BACKUP_DIR STEP`` and ``SIGKILL`` it once it reports that step."""
    return _kill_on_line(["train-until", backup_dir, str(step)], PAUSED, timeout)


def kill_when_written(checkpoint_dir: str | os.PathLike[str], timeout: float = 300) -> Killed:
    """Start ``async-until-written CHECKPOINT_DIR``; ``SIGKILL`` it once its second background
    save is written and not yet recorded by the ``CheckpointManager``."""
    return _kill_on_line(["async-until-written", checkpoint_dir], WRITTEN, timeout)


def async_variables() -> list:
    """The variables the ``async-then-die`` child saves (16 MiB of float32 in all)."""
    import tensorflow as tf

    return [tf.Variable(tf.zeros(ASYNC_SHAPE), name=f"w{i}") for i in range(ASYNC_VARIABLES)]
