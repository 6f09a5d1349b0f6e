"""One worker of notebook 08's multi-worker job: ``python -m helpers.kit.child distributed-worker``.

It reads its role from ``TF_CONFIG`` (set by :mod:`helpers.kit.distributed`), trains the kit's
digits MLP under ``tf.distribute.MultiWorkerMirroredStrategy`` in a custom loop (Keras 3.15's
``fit`` fails with several workers), keeps a checkpoint backup after every epoch, resumes from
it when restarted, and saves the model. Worker 0 is the chief: it alone writes to the real
paths; every other worker writes the same files to a temporary folder of its own and removes it
(:func:`is_chief`, :func:`temp_dir` and :func:`write_path`, written out in notebook 08).

Every run is bounded: a watchdog ends the process with exit code :data:`TIMEOUT_EXIT` after
``--timeout`` seconds, whatever it is doing (for example waiting on a peer that died).
:func:`main`'s parameters are the worker's options (``--job-dir DIR --epochs 4 ...``).
It prints short status lines (``worker 1: ...``) and, last, one ``RESULT {json}`` line.

Serves notebook 08.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras  # the package ``helpers`` was imported first: TF's log variables are set
import tensorflow as tf

import helpers

TIMEOUT_EXIT = 124
GLOBAL_BATCH = 64
RESULT_PREFIX = "RESULT "


def chief_paths(job_dir: Path) -> dict[str, Path]:
    """Where the chief writes: the backup folder and the final model (the "real" paths)."""
    return {"backup": job_dir / "backup", "model": job_dir / "model.keras"}


def is_chief(task_type: str, task_id: int) -> bool:
    """True for the task that writes the real files: worker 0, in a cluster without a "chief"."""
    return task_type == "worker" and task_id == 0


def temp_dir(parent: Path, task_type: str, task_id: int) -> Path:
    """The temporary folder, inside ``parent``, that a non-chief task writes to and removes."""
    return parent / f"tmp_{task_type}{task_id}"


def write_path(real_path: Path, task_type: str, task_id: int) -> Path:
    """Where a task writes what belongs at ``real_path``: the chief writes ``real_path``
    itself; any other task the same name inside its own temporary folder beside it."""
    if is_chief(task_type, task_id):
        return real_path
    return temp_dir(real_path.parent, task_type, task_id) / real_path.name


def weights_digest(weights: Sequence[Any]) -> str:
    """SHA-256 of every weight array's bytes, in order: equal digests mean equal weights."""
    digest = hashlib.sha256()
    for array in weights:
        digest.update(memoryview(array).tobytes())
    return digest.hexdigest()


def _watchdog(seconds: float, say: Any) -> None:
    def expire() -> None:
        say(f"timed out after {seconds:.0f} s, exiting")
        os._exit(TIMEOUT_EXIT)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()


def main(
    *,
    job_dir: Path,
    epochs: int = 4,
    pause_after_epoch: int = 0,
    show_fit_error: bool = False,
    timeout: float = 120.0,
) -> int:
    """Train (or resume) in the shared ``job_dir``; print ``RESULT {json}`` last.

    ``pause_after_epoch`` (non-chief only): after this epoch's backup exists, write a marker
    file and wait, to be killed by the launcher; 0 means never. ``show_fit_error``: first try
    ``model.fit`` and report its error. ``timeout``: the hard limit, in seconds.
    """
    if "TF_CONFIG" not in os.environ:
        raise RuntimeError("TF_CONFIG is not set: start workers with helpers.kit.distributed")
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]

    def say(message: str) -> None:
        print(f"worker {index}: {message}", flush=True)

    _watchdog(timeout, say)
    helpers.kit.setup.quiet_tensorflow()
    helpers.kit.setup.seed_everything()

    # Must come before any other TensorFlow call: it starts this task's gRPC server.
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    task_type, task_id = strategy.cluster_resolver.task_type, strategy.cluster_resolver.task_id
    chief = is_chief(task_type, task_id)
    say(f"{'chief' if chief else 'worker'}, {strategy.num_replicas_in_sync} replicas in sync")

    dataset = digits_dataset()
    with strategy.scope():
        model = helpers.kit.models.digits_mlp()
        model.optimizer.build(model.trainable_variables)
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    if show_fit_error:
        say("model.fit " + fit_error(model, dataset))

    # The backup: a checkpoint of model, optimizer and epoch counter after every epoch.
    def done() -> int:
        return int(epoch.numpy())

    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, epoch=epoch)
    backup_dir = chief_paths(job_dir)["backup"]
    write_dir = write_path(backup_dir, task_type, task_id)
    manager = tf.train.CheckpointManager(checkpoint, write_dir, max_to_keep=1)
    latest = tf.train.latest_checkpoint(backup_dir)  # every worker reads the chief's backup
    if latest:
        checkpoint.restore(latest).assert_consumed()
        say(f"restored the backup of epoch {done()}, resuming at epoch {done() + 1}")
    else:
        say("no backup, starting at epoch 1")

    train_epoch = make_train_epoch(strategy, model)
    distributed = strategy.experimental_distribute_dataset(dataset)
    losses = []
    while done() < epochs:
        losses.append(train_epoch(distributed))
        epoch.assign_add(1)
        manager.save(checkpoint_number=done())  # every worker saves: it may need them all
        if not chief:
            shutil.rmtree(write_dir.parent)
        say(f"epoch {done()} done, backup saved")
        if not chief and done() == pause_after_epoch:
            pause(job_dir, backup_dir, done(), say)

    model_path = write_path(chief_paths(job_dir)["model"], task_type, task_id)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model.save(model_path)
    if chief:
        shutil.rmtree(backup_dir)  # the job is complete: the backup has served its purpose
        say("saved the model; removed the backup")
    else:
        shutil.rmtree(model_path.parent)
        say("saved the model to a temporary folder; removed it")

    result = {
        "index": index,
        "epochs_run": list(range(epochs - len(losses) + 1, epochs + 1)),
        "losses": losses,
        "weights_sha256": weights_digest(model.get_weights()),
    }
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


def digits_dataset() -> tf.data.Dataset:
    """The digits training set in global batches, sharded between workers by batch halves."""
    digits = helpers.kit.data.load_digits()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return (
        tf.data.Dataset.from_tensor_slices((digits.x_train, digits.y_train))
        .batch(GLOBAL_BATCH, drop_remainder=True)
        .with_options(options)
    )


FIT_FAILS = (
    "fails (ValueError): Keras met a PerReplica value, one tensor per replica, where it needed "
    "a single tensor (keras-team/keras#20585); training with a custom loop instead"
)


def fit_error(model: keras.Model, dataset: tf.data.Dataset) -> str:
    """What ``model.fit`` does under ``MultiWorkerMirroredStrategy`` with several workers.

    Returns :data:`FIT_FAILS` for the known failure (Keras 3 issue keras-team/keras#20585),
    ``"works"`` if a newer Keras trains, or ``"fails (ErrorType): first line"`` otherwise.
    """
    try:
        model.fit(dataset.take(1), epochs=1, verbose=0)
    except (ValueError, TypeError) as error:
        message = str(error)
        if isinstance(error, ValueError) and "PerReplica" in message and "convert" in message:
            return FIT_FAILS
        return f"fails ({type(error).__name__}): {message.splitlines()[0][:80]}"
    return "works"


def make_train_epoch(strategy: tf.distribute.Strategy, model: keras.Model) -> Any:
    """``train_epoch(distributed_dataset) -> mean loss``: one epoch of synchronous training.

    Each step is one ``tf.function`` call (the loop over batches stays in Python, which keeps
    the input pipeline out of the traced graph).
    """
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)

    def replica_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            per_example = loss_fn(y, model(x, training=True))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=GLOBAL_BATCH)
        gradients = tape.gradient(loss, model.trainable_variables)
        # Keras's optimizer sums the gradients of all replicas (an all-reduce) before applying.
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def train_step(x: Any, y: Any) -> tf.Tensor:
        losses = strategy.run(replica_step, args=(x, y))
        return strategy.reduce("SUM", losses, axis=None)

    def train_epoch(batches: Any) -> float:
        losses = [float(train_step(x, y)) for x, y in batches]
        return sum(losses) / len(losses)

    return train_epoch


def pause(job_dir: Path, chief_backup: Path, epoch: int, say: Any) -> None:
    """Wait for the chief's backup of ``epoch``, write the marker, then wait to be killed.

    The launcher sees the marker and kills this process: a worker lost at a known point.
    The watchdog ends the wait if nobody does.
    """
    wanted = f"ckpt-{epoch}"
    while not (chief_backup / f"{wanted}.index").exists():
        time.sleep(0.05)
    say(f"the chief's backup of epoch {epoch} exists; waiting to be stopped")
    paused_marker(job_dir).write_text(str(os.getpid()))
    while True:
        time.sleep(1)


def paused_marker(job_dir: Path) -> Path:
    """The file a pausing worker writes when it is ready to be killed."""
    return job_dir / "worker_paused"


def parse_result(log_text: str) -> dict[str, Any]:
    """The ``RESULT {json}`` a worker printed last; ``ValueError`` if it printed none."""
    for line in reversed(log_text.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise ValueError("no RESULT line: the worker did not finish")
