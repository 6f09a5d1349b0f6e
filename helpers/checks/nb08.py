"""Checks for notebook 08's exercises: restore across strategies, who writes where, load elsewhere.

Each check recomputes what it expects: exercise 1 restores the checkpoint itself into a clone of
the learner's model, exercise 2 applies TensorFlow's chief rule to clusters it builds, and
exercise 3 hashes the weights and predicts again. None of them starts a process or trains.

Serves notebook 08.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from helpers.checks.core import Hint, exercise, expect, habit, require
from helpers.kit import distributed
from helpers.kit import distributed_worker as worker_script
from helpers.verify import compare

#: Exercise 8.1's habit: catch what assert_consumed() raises; build `repaired` in the cell.
HABIT_1 = {
    "required": {
        r"assert_consumed\(": "Call `assert_consumed()` on the restore status: that is what "
        "catches the unbuilt optimizer.",
        r"\brepaired\s*=\s*[\w.]+\(": "Build `repaired` in this cell (`repaired = "
        "helpers.kit.models.digits_mlp()` under `strategy.scope()`), not a model from an earlier "
        "section.",
    },
    "forbidden": {
        r"AssertionError\(": "Do not build the error yourself: keep the one `assert_consumed()` "
        "raised (`except AssertionError as error: caught = error`).",
        r"helpers\.(checkpoints|checks)": "The kit's checkpoint helpers are off limits here: "
        "restore with `tf.train.Checkpoint` yourself.",
    },
}
#: Exercise 8.2's habit: write the chief rule yourself.
HABIT_2 = {
    "forbidden": {
        r"multi_worker_util|helpers\.checks|\bwrites_to\(": "Write the chief rule yourself "
        "from the task's type and the cluster's tasks: TensorFlow's `multi_worker_util` and "
        "the check's own code are off limits.",
    },
}
#: Exercise 8.3's habit: load the file, under the strategy, in this cell.
HABIT_3 = {
    "required": {
        r"load_model\(": "Load the workers' file with `keras.models.load_model`, in this cell: "
        "a model from an earlier section was not loaded from it.",
        r"strategy\.scope\(\)": "Load it inside `with strategy.scope():`.",
    },
    "forbidden": {
        r"helpers\.(loading|checks)": "The kit's loaders are off limits here: call "
        "`keras.models.load_model` yourself.",
    },
}


def _replicas(variable: Any, strategy: tf.distribute.Strategy) -> list[np.ndarray]:
    """Every local copy of a Keras or TensorFlow variable, as arrays (one if not mirrored)."""
    value = getattr(variable, "value", variable)
    return [np.asarray(copy) for copy in strategy.experimental_local_results(value)]


def _mirrored(model: keras.Model, strategy: tf.distribute.Strategy) -> bool:
    """True if every weight of ``model`` was created under ``strategy``, on all its replicas."""
    return bool(model.weights) and all(
        strategy.extended.variable_created_in_scope(weight.value)
        and len(strategy.experimental_local_results(weight.value)) == strategy.num_replicas_in_sync
        for weight in model.weights
    )


def _restored_reference(model: keras.Model, prefix: str) -> keras.Model:
    """A clone of ``model`` (no strategy) with ``prefix`` restored into it, optimizer included."""
    clone = keras.models.clone_model(model)
    optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
    optimizer.build(clone.trainable_variables)
    clone.optimizer = optimizer
    tf.train.Checkpoint(model=clone, optimizer=optimizer).restore(prefix).assert_consumed()
    return clone


def _holds(model: keras.Model, reference: keras.Model, strategy: tf.distribute.Strategy) -> bool:
    """True if every replica of every weight of ``model`` equals ``reference``'s weight."""
    return all(
        all(np.array_equal(copy, np.asarray(expected)) for copy in _replicas(weight, strategy))
        for weight, expected in zip(model.weights, reference.weights, strict=True)
    )


@exercise("8.1", "restore across strategies, the careful way")
def exercise_1(
    caught: Any,
    repaired: Any,
    plain_path: str,
    strategy: tf.distribute.Strategy,
    other_path: str | None = None,
    *,
    source: str | None = None,
) -> str:
    """``caught``: what ``assert_consumed()`` raised; ``repaired``: a mirrored model, restored.

    ``source``: the answer cell's code (by default the recorded cell that set the answers).
    """
    require(
        caught, "caught", "the exception assert_consumed() raises when the optimizer is not built"
    )
    require(repaired, "repaired", "the model you built under the strategy and restored properly")
    habit(source, "caught", "repaired", **HABIT_1)
    expect(
        isinstance(caught, BaseException),
        f"`caught` is a {type(caught).__name__}: catch the exception itself "
        "(`except AssertionError as error: caught = error`).",
    )
    expect(
        isinstance(caught, AssertionError),
        f"`caught` is a {type(caught).__name__}, not what `assert_consumed()` raises when a "
        "saved value found no variable (an AssertionError): did the restore itself fail?",
    )
    expect(
        "optimizer" in str(caught),
        "This AssertionError does not name an optimizer value. Build the first model under the "
        "strategy, do NOT call `optimizer.build`, restore `plain_path`, then `assert_consumed()`.",
    )
    expect(
        isinstance(repaired, keras.Model) and getattr(repaired, "optimizer", None) is not None,
        "`repaired` should be a compiled Keras model (`helpers.kit.models.digits_mlp()`).",
    )
    expect(
        _mirrored(repaired, strategy),
        "`repaired` has ordinary variables on one device: create it inside "
        "`with strategy.scope():`, so that the restore fills every replica's copy.",
    )
    try:
        reference = _restored_reference(repaired, plain_path)
    except (AssertionError, ValueError) as error:
        raise Hint(
            "`repaired` is not built like the saved model, so the checkpoint does not fit it: "
            f"build it with `helpers.kit.models.digits_mlp()` ({type(error).__name__})."
        ) from error
    expect(
        len(repaired.optimizer.variables) == len(reference.optimizer.variables),
        "`repaired`'s optimizer has no slots yet, so the restore could not fill them: call "
        "`repaired.optimizer.build(repaired.trainable_variables)` before `restore`.",
    )
    if not _holds(repaired, reference, strategy):
        if other_path is not None:
            other = _restored_reference(repaired, other_path)
            expect(
                not _holds(repaired, other, strategy),
                "These are the weights of `mirrored_path`, saved under the strategy: restore "
                "`plain_path`, the one saved without a strategy after one more epoch.",
            )
        expect(
            False,
            "The weights match neither checkpoint: restore `plain_path` through "
            "`tf.train.Checkpoint(model=repaired, optimizer=repaired.optimizer)`.",
        )
    step = int(repaired.optimizer.iterations.numpy())
    expected_step = int(reference.optimizer.iterations.numpy())
    expect(
        step == expected_step,
        f"The weights are right, but the optimizer is at step {step}, not {expected_step}: "
        "pass `optimizer=repaired.optimizer` to the `tf.train.Checkpoint` too.",
    )
    expect(
        _holds_optimizer(repaired, reference, strategy),
        "The weights are right, but the optimizer's slots differ from the checkpoint's: build "
        "the optimizer, then restore, then call `assert_consumed()`.",
    )
    return (
        f"assert_consumed() caught the unbuilt optimizer; the repaired model holds the "
        f"checkpoint's {len(repaired.weights)} weights and optimizer step {step} on all "
        f"{strategy.num_replicas_in_sync} replicas."
    )


def _holds_optimizer(
    model: keras.Model, reference: keras.Model, strategy: tf.distribute.Strategy
) -> bool:
    pairs = zip(model.optimizer.variables, reference.optimizer.variables, strict=True)
    return all(
        all(np.array_equal(copy, np.asarray(expected)) for copy in _replicas(mine, strategy))
        for mine, expected in pairs
    )


def writes_to(config: str, job_dir: Path) -> Path:
    """Where the task ``config`` names writes its backup, by TensorFlow's chief rule.

    With a ``"chief"`` task in the cluster, that task is the chief; without one, worker 0 is.
    The chief writes the real backup folder; every other task its own temporary folder.
    """
    parsed = json.loads(config)
    task, cluster = parsed["task"], parsed["cluster"]
    if "chief" in cluster:
        chief = task["type"] == "chief"
    else:
        chief = task["type"] == "worker" and task["index"] == 0
    if chief:
        return worker_script.chief_paths(job_dir)["backup"]
    return worker_script.temp_dir(job_dir, task["type"], task["index"]) / "backup"


def _clusters() -> list[dict[str, list[str]]]:
    """Two clusters to try an answer on: three workers; a chief and two workers."""
    hosts = [f"trainer-{i}.training.internal:2222" for i in range(3)]
    return [{"worker": hosts}, {"chief": hosts[:1], "worker": hosts[1:]}]


def _tasks(cluster: dict[str, list[str]]) -> list[tuple[str, int]]:
    return [(kind, index) for kind in cluster for index in range(len(cluster[kind]))]


def _why_wrong(got: Path, config: str, job_dir: Path) -> str:
    """The hint for a wrong folder ``got`` for task ``config``."""
    parsed = json.loads(config)
    kind, index = parsed["task"]["type"], parsed["task"]["index"]
    has_chief = "chief" in parsed["cluster"]
    task = f"task {kind}/{index}" + (" (the cluster has a 'chief' task)" if has_chief else "")
    real = worker_script.chief_paths(job_dir)["backup"]
    expected = writes_to(config, job_dir)
    if expected == real:
        who = "the 'chief' task is the chief" if has_chief else "without a 'chief' task, worker 0"
        return f"{task}: {who} writes the real backup folder, `job_dir / 'backup'`."
    if got == real:
        if has_chief and kind == "worker" and index == 0:
            return (
                f"{task}: with a 'chief' task in the cluster, that task is the chief and "
                "worker 0 is an ordinary worker (TensorFlow's rule): it writes to its temporary "
                "folder."
            )
        return (
            f"{task} is not the chief: if it wrote the real backup folder, several workers "
            "would write the same files at once. It writes into its own temporary folder."
        )
    if got == worker_script.temp_dir(job_dir, kind, index):
        return (
            f"{task}: that is its temporary folder, but the CheckpointManager writes into "
            "`backup` inside it (`temp_dir(job_dir, task_type, task_id) / 'backup'`)."
        )
    if got.parent.parent == job_dir and got.name == "backup":
        return f"{task}: each task's temporary folder is named after its own type and index."
    return f"{task}: your function returned {_shown(got, job_dir)}."


def _shown(path: Path, job_dir: Path) -> str:
    """``path`` relative to ``job_dir`` when inside it (for hints), else as given."""
    try:
        return "job_dir / " + repr(path.relative_to(job_dir).as_posix())
    except ValueError:
        return repr(path.as_posix())


@exercise("8.2", "who writes where")
def exercise_2(
    backup_dir: Any,
    restart_reads: Any,
    job_dir: str | os.PathLike[str],
    *,
    source: str | None = None,
) -> str:
    """``backup_dir(tf_config, job_dir)`` follows the chief rule; ``restart_reads`` is shared.

    ``source``: the answer cell's code (by default the recorded cell that set the answers).
    """
    require(backup_dir, "backup_dir", "a function of (tf_config, job_dir)")
    require(restart_reads, "restart_reads", "the folder a restarted worker restores from")
    habit(source, "backup_dir", "restart_reads", **HABIT_2)
    expect(
        callable(backup_dir),
        "`backup_dir` should be a function: `def backup_dir(tf_config, job_dir): ...`.",
    )
    job = Path(job_dir)
    tried = 0
    for cluster in _clusters():
        for kind, index in _tasks(cluster):
            config = distributed.tf_config(cluster, index, task_type=kind)
            try:
                answer = backup_dir(config, job)
            except Exception as error:
                raise Hint(
                    f"Your function raised {type(error).__name__}: {error} for "
                    f"TF_CONFIG={config}: read the task from its argument, "
                    "`json.loads(tf_config)['task']`, not from os.environ."
                ) from error
            expect(
                isinstance(answer, str | os.PathLike),
                f"`backup_dir` returned a {type(answer).__name__}: return a folder path.",
            )
            got = Path(answer)
            expect(got == writes_to(config, job), _why_wrong(got, config, job))
            tried += 1
    real = worker_script.chief_paths(job)["backup"]
    expect(
        isinstance(restart_reads, str | os.PathLike),
        "`restart_reads` should be a folder path.",
    )
    reads = Path(restart_reads)
    expect(
        not (reads.name == "backup" and reads.parent.name.startswith("tmp_")),
        "A temporary folder is removed after every save, and on a real cluster it is on the "
        "worker's own disk: a restarted worker restores from the chief's backup.",
    )
    expect(
        reads == real,
        f"{_shown(reads, job)} is not where the backups are: every worker restores the "
        "chief's backup folder (`tf.train.latest_checkpoint(backup_dir)` in the worker script).",
    )
    return (
        f"right for all {tried} tasks of both clusters. Every worker restores the chief's "
        "backup, so it must be on storage that all machines can read."
    )


@exercise("8.3", "load the workers' model elsewhere")
def exercise_3(
    model_file: Any,
    elsewhere: Any,
    predictions: Any,
    job_dir: str | os.PathLike[str],
    results: Sequence[dict[str, Any]],
    strategy: tf.distribute.Strategy,
    x: Any,
    digest: Callable[[Sequence[Any]], str] = worker_script.weights_digest,
    *,
    source: str | None = None,
) -> str:
    """The chief's file, loaded under ``strategy``: the workers' weights, predicting ``x``.

    ``source``: the answer cell's code (by default the recorded cell that set the answers).
    """
    require(model_file, "model_file", "the path of the file you loaded")
    require(elsewhere, "elsewhere", "the model you loaded under the strategy")
    require(predictions, "predictions", "elsewhere.predict(digits.x_test, verbose=0)")
    habit(source, "model_file", "elsewhere", "predictions", **HABIT_3)
    job = Path(job_dir)
    expect(
        isinstance(model_file, str | os.PathLike),
        "`model_file` should be the path you passed to `keras.models.load_model`.",
    )
    path = Path(model_file)
    chief_file = worker_script.chief_paths(job)["model"]
    expect(
        worker_script.temp_dir(job, "worker", 1) not in path.parents,
        "Worker 1 saved its copy into its temporary folder and removed it at once: only the "
        "chief's file is left.",
    )
    expect(
        path.resolve() == chief_file.resolve(),
        f"{path.name} is not the file the workers wrote: the chief saved the job's model to "
        "`job_dir / 'model.keras'`.",
    )
    expect(
        isinstance(elsewhere, keras.Model),
        "`elsewhere` should be the model `keras.models.load_model` returned.",
    )
    expect(
        _mirrored(elsewhere, strategy),
        "`elsewhere` has ordinary variables: call `keras.models.load_model` inside "
        "`with strategy.scope():` to load it mirrored on the two logical CPUs.",
    )
    workers = {result["weights_sha256"] for result in results}
    expect(len(workers) == 1, "The workers ended with different weights: rerun section 4.")
    expect(
        digest(elsewhere.get_weights()) in workers,
        "`elsewhere` does not hold the weights both workers ended with: load the chief's file "
        "and do not train it further.",
    )
    expected = elsewhere.predict(x, verbose=0)
    array = np.asarray(predictions)
    expect(
        array.shape == expected.shape,
        f"`predictions` has shape {array.shape}, not {expected.shape}: predict all of "
        "`digits.x_test` with `elsewhere`.",
    )
    same = compare(expected, array, names=("elsewhere, again", "your predictions"))
    expect(
        same.identical,
        f"Your predictions differ from `elsewhere`'s (max |difference| {same.max_abs_diff:.1e}): "
        "predict with the model you loaded under the strategy, on `digits.x_test`.",
    )
    return (
        f"the chief's file, trained by {len(results)} processes, loaded mirrored on "
        f"{strategy.num_replicas_in_sync} replicas with the same weights: nothing in it "
        "remembers how it was trained."
    )
