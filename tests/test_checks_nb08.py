"""Notebook 08's exercise checks: a tiny Dense model, a one-device MirroredStrategy, temp files.

No worker process starts and nothing trains.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness.answers import solution
from tensorflow.python.distribute import multi_worker_util

from helpers.checks import nb08
from helpers.kit import distributed
from helpers.kit import distributed_worker as worker_script

OPTIMIZER_ERROR = AssertionError(
    "Unresolved object in checkpoint (root).optimizer._variables.2: attributes {...}"
)


@pytest.fixture(scope="module")
def strategy():
    return tf.distribute.MirroredStrategy(["/cpu:0"])


def _tiny(value: float | None = None, *, units: int = 2, build_optimizer: bool = True):
    """A compiled 3 -> ``units`` Dense model; with ``value``, every weight, slot and step set."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(units)])
    model.compile(optimizer="adam", loss="mse")
    if build_optimizer:
        model.optimizer.build(model.trainable_variables)
    if value is not None:
        for variable in [*model.weights, *model.optimizer.variables]:
            variable.assign(np.full(variable.shape, value, dtype=variable.dtype))
        model.optimizer.iterations.assign(int(value * 10))
    return model


def _save(model, prefix: Path) -> str:
    return tf.train.Checkpoint(model=model, optimizer=model.optimizer).save(prefix)


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    return _save(_tiny(0.5), folder / "plain"), _save(_tiny(0.3), folder / "mirrored")


def _restored(strategy, prefix, *, mirrored=True, build=True):
    scope = strategy.scope() if mirrored else tf.distribute.get_strategy().scope()
    with scope:
        model = _tiny(build_optimizer=build)
        checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
        checkpoint.restore(prefix).expect_partial()
    return model


def test_exercise_1_right_answer(strategy, paths, capsys):
    plain, other = paths
    assert nb08.exercise_1(OPTIMIZER_ERROR, _restored(strategy, plain), plain, strategy, other)
    assert "✅ Exercise 8.1" in capsys.readouterr().out


def test_exercise_1_placeholder(strategy, paths, capsys):
    plain, other = paths
    assert nb08.exercise_1(None, None, plain, strategy, other).solved is False
    assert nb08.exercise_1(OPTIMIZER_ERROR, ..., plain, strategy, other).solved is False
    out = capsys.readouterr().out.splitlines()
    assert "is not solved yet: set `caught`" in out[0]
    assert "is not solved yet: set `repaired`" in out[1]


@pytest.mark.parametrize(
    ("caught", "hint"),
    [
        ("Unresolved object in checkpoint", "catch the exception itself"),
        (ValueError("optimizer"), "not what `assert_consumed()` raises"),
        (AssertionError("Unresolved object (root).model.layers.0"), "do NOT call `optimizer"),
    ],
)
def test_exercise_1_wrong_error(strategy, paths, capsys, caught, hint):
    plain, other = paths
    assert (
        nb08.exercise_1(caught, _restored(strategy, plain), plain, strategy, other).solved is False
    )
    out = capsys.readouterr().out
    assert "❌ Exercise 8.1" in out and hint in out


@pytest.mark.parametrize(
    ("kwargs", "which", "hint"),
    [
        ({"mirrored": False}, 0, "ordinary variables on one device"),
        ({}, 1, "weights of `mirrored_path`"),
        ({"build": False}, 0, "no slots yet"),
    ],
)
def test_exercise_1_wrong_model(strategy, paths, capsys, kwargs, which, hint):
    plain, other = paths
    repaired = _restored(strategy, paths[which], **kwargs)
    assert nb08.exercise_1(OPTIMIZER_ERROR, repaired, plain, strategy, other).solved is False
    out = capsys.readouterr().out
    assert "❌ Exercise 8.1" in out and hint in out, out


def test_exercise_1_step_or_architecture(strategy, paths, capsys):
    plain, other = paths
    reset = _restored(strategy, plain)
    reset.optimizer.iterations.assign(0)
    with strategy.scope():
        wider = _tiny(units=4)
    for repaired, hint in [
        (reset, "optimizer is at step 0, not 5"),
        (wider, "not built like the saved model"),
    ]:
        assert nb08.exercise_1(OPTIMIZER_ERROR, repaired, plain, strategy, other).solved is False
        out = capsys.readouterr().out
        assert hint in out, out


def test_exercise_1_unknown_weights(strategy, paths, capsys):
    plain, other = paths
    with strategy.scope():
        repaired = _tiny(0.9)
    assert nb08.exercise_1(OPTIMIZER_ERROR, repaired, plain, strategy, other).solved is False
    assert "match neither checkpoint" in capsys.readouterr().out


def _answer(tf_config, job_dir):
    """A right answer, written independently of nb08.writes_to."""
    config = json.loads(tf_config)
    kind, index = config["task"]["type"], config["task"]["index"]
    chief = kind == "chief" or (
        kind == "worker" and index == 0 and "chief" not in config["cluster"]
    )
    if chief:
        return os.path.join(job_dir, "backup")  # a str is a fine answer too
    return Path(job_dir) / f"tmp_worker{index}" / "backup"


def test_writes_to_follows_tensorflows_chief_rule(tmp_path):
    for cluster in nb08._clusters():
        for kind, index in nb08._tasks(cluster):
            config = distributed.tf_config(cluster, index, task_type=kind)
            chief = multi_worker_util.is_chief(cluster, kind, index)
            real = worker_script.chief_paths(tmp_path)["backup"]
            assert (nb08.writes_to(config, tmp_path) == real) is chief
            assert nb08.writes_to(config, tmp_path) == Path(_answer(config, tmp_path))


def test_exercise_2_right_answer(tmp_path, capsys):
    assert nb08.exercise_2(_answer, tmp_path / "backup", tmp_path).solved is True
    out = capsys.readouterr().out
    assert "✅ Exercise 8.2" in out and "all 6 tasks" in out


def test_exercise_2_placeholder(tmp_path, capsys):
    assert nb08.exercise_2(None, None, tmp_path).solved is False
    assert nb08.exercise_2(_answer, None, tmp_path).solved is False
    out = capsys.readouterr().out.splitlines()
    assert "is not solved yet: set `backup_dir`" in out[0]
    assert "is not solved yet: set `restart_reads`" in out[1]


def _index_zero_is_chief(tf_config, job_dir):  # the worker script's rule, not TensorFlow's
    index = json.loads(tf_config)["task"]["index"]
    return Path(job_dir) / ("backup" if index == 0 else f"tmp_worker{index}/backup")


def _from_environment(tf_config, job_dir):
    return _answer(os.environ["NB08_TEST_UNSET"], job_dir)


@pytest.mark.parametrize(
    ("answer", "reads", "hint"),
    [
        ("backup", "backup", "should be a function"),
        (lambda c, j: Path(j) / "backup", "backup", "task worker/1 is not the chief"),
        (_index_zero_is_chief, "backup", "worker 0 is an ordinary worker (TensorFlow's rule)"),
        (
            lambda c, j: (
                _answer(c, j)
                if "tmp_worker" not in str(_answer(c, j))
                else Path(j) / "tmp_worker9/backup"
            ),
            "backup",
            "each task's temporary folder is named after its own type and index",
        ),
        (
            lambda c, j: (
                Path(_answer(c, j)).parent if "tmp_worker" in str(_answer(c, j)) else _answer(c, j)
            ),
            "backup",
            "into `backup` inside it",
        ),
        (lambda c, j: Path(j) / "tmp_worker0/backup", "backup", "worker 0 writes the real"),
        (_from_environment, "backup", "Your function raised KeyError"),
        (lambda c, j: 3, "backup", "returned a int"),
        (_answer, "tmp_worker1/backup", "restores from the chief's backup"),
        (_answer, ".", "is not where the backups are"),
    ],
)
def test_exercise_2_wrong(tmp_path, capsys, answer, reads, hint):
    assert nb08.exercise_2(answer, tmp_path / reads, tmp_path).solved is False
    out = capsys.readouterr().out
    assert "❌ Exercise 8.2" in out and hint in out, out


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A job folder with the chief's model.keras and the workers' matching RESULT digests."""
    job_dir = tmp_path_factory.mktemp("job")
    model = _tiny(0.25)
    model.save(worker_script.chief_paths(job_dir)["model"])
    model.save(job_dir / "other.keras")
    digest = worker_script.weights_digest(model.get_weights())
    results = [{"index": i, "weights_sha256": digest} for i in range(2)]
    return job_dir, results, np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3)


def _loaded(strategy, path, *, mirrored=True):
    if not mirrored:
        return keras.models.load_model(path)
    with strategy.scope():
        return keras.models.load_model(path)


def test_exercise_3_right_answer(strategy, job, capsys):
    job_dir, results, x = job
    model_file = job_dir / "model.keras"
    model = _loaded(strategy, model_file)
    predictions = model.predict(x, verbose=0)
    assert nb08.exercise_3(str(model_file), model, predictions, job_dir, results, strategy, x)
    assert "✅ Exercise 8.3" in capsys.readouterr().out


def test_exercise_3_placeholder(strategy, job, capsys):
    job_dir, results, x = job
    assert nb08.exercise_3(None, None, None, job_dir, results, strategy, x).solved is False
    assert "is not solved yet: set `model_file`" in capsys.readouterr().out


def test_exercise_3_wrong_file(strategy, job, capsys):
    job_dir, results, x = job
    model = _loaded(strategy, job_dir / "model.keras")
    predictions = model.predict(x, verbose=0)
    for path, hint in [
        (job_dir / "tmp_worker1" / "model.keras", "Worker 1 saved its copy"),
        (job_dir / "other.keras", "other.keras is not the file the workers wrote"),
    ]:
        assert (
            nb08.exercise_3(path, model, predictions, job_dir, results, strategy, x).solved is False
        )
        assert hint in capsys.readouterr().out


def test_exercise_3_wrong_model_or_predictions(strategy, job, capsys):
    job_dir, results, x = job
    model_file = job_dir / "model.keras"
    plain = _loaded(strategy, model_file, mirrored=False)
    changed = _loaded(strategy, model_file)
    changed.set_weights([w + 1 for w in changed.get_weights()])
    right = _loaded(strategy, model_file)
    cases = [
        (plain, plain.predict(x, verbose=0), "`elsewhere` has ordinary variables"),
        (changed, changed.predict(x, verbose=0), "does not hold the weights both workers"),
        (right, right.predict(x[:2], verbose=0), "has shape (2, 2), not (4, 2)"),
        (right, changed.predict(x, verbose=0), "Your predictions differ"),
        ("a model", None, "should be the model"),
    ]
    for model, predictions, hint in cases:
        predictions = np.zeros(1) if predictions is None else predictions
        assert (
            nb08.exercise_3(model_file, model, predictions, job_dir, results, strategy, x).solved
            is False
        )
        out = capsys.readouterr().out
        assert hint in out, out


# --- The habit: what the answer cell did, not only what it produced (issue 22) ----------------


def test_exercise_1_accepts_the_solution_and_another_correct_answer(strategy, paths, capsys):
    plain, other = paths
    model = _restored(strategy, plain)
    assert nb08.exercise_1(
        OPTIMIZER_ERROR, model, plain, strategy, other, source=solution("08", "caught")
    )
    alternative = (
        "with strategy.scope():\n    first = helpers.kit.models.digits_mlp()\n"
        "    status = tf.train.Checkpoint(model=first, optimizer=first.optimizer)"
        ".read(plain_path)\n"
        "    try:\n        status.assert_consumed()\n    except AssertionError as e:\n"
        "        caught = e\n    repaired = keras.models.clone_model(first)\n"
    )
    assert nb08.exercise_1(OPTIMIZER_ERROR, model, plain, strategy, other, source=alternative)


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        (  # typed in: the error built by hand
            "caught = AssertionError('Unresolved object in checkpoint (root).optimizer')\n"
            "repaired = helpers.kit.models.digits_mlp()\nstatus.assert_consumed()\n",
            "Do not build the error yourself",
        ),
        (  # a required step skipped: assert_consumed() never called
            "with strategy.scope():\n    repaired = helpers.kit.models.digits_mlp()\n",
            "Call `assert_consumed()` on the restore status",
        ),
        (  # the forbidden shortcut: the kit's restore helper
            "repaired = helpers.kit.models.digits_mlp()\nstatus.assert_consumed()\n"
            "helpers.checkpoints.restore(tf.train.Checkpoint(model=repaired), p)\n",
            "The kit's checkpoint helpers are off limits",
        ),
        (  # an object from an earlier cell: section 3's restored model
            "status.assert_consumed()\nrepaired = mirrored_model\n",
            "Build `repaired` in this cell",
        ),
        (  # a comparison of a value with itself
            "repaired = helpers.kit.models.digits_mlp()\nstatus.assert_consumed()\n"
            "assert repaired.get_weights()[0].sum() == repaired.get_weights()[0].sum()\n",
            "compares a value with itself",
        ),
    ],
)
def test_exercise_1_rejects_answers_that_skip_the_habit(strategy, paths, rejected, source, hint):
    plain, other = paths
    model = _restored(strategy, plain)
    out = rejected(nb08.exercise_1(OPTIMIZER_ERROR, model, plain, strategy, other, source=source))
    assert hint in out


def test_exercise_2_accepts_the_solution_and_another_correct_answer(tmp_path, capsys):
    source = solution("08", "backup_dir")
    assert nb08.exercise_2(_answer, tmp_path / "backup", tmp_path, source=source)
    other = "backup_dir = _answer\nrestart_reads = job_dir / 'backup'\n"
    assert nb08.exercise_2(_answer, tmp_path / "backup", tmp_path, source=other)


@pytest.mark.parametrize(
    "source",
    [
        "from tensorflow.python.distribute import multi_worker_util\n"
        "def backup_dir(c, j):\n    return multi_worker_util.is_chief(...)\n",
        "backup_dir = helpers.checks.nb08.writes_to\n",
    ],
)
def test_exercise_2_rejects_the_forbidden_shortcuts(tmp_path, rejected, source):
    out = rejected(nb08.exercise_2(_answer, tmp_path / "backup", tmp_path, source=source))
    assert "Write the chief rule yourself" in out


def test_exercise_3_accepts_the_solution_and_another_correct_answer(strategy, job, capsys):
    job_dir, results, x = job
    model_file = job_dir / "model.keras"
    model = _loaded(strategy, model_file)
    predictions = model.predict(x, verbose=0)
    args = (model_file, model, predictions, job_dir, results, strategy, x)
    assert nb08.exercise_3(*args, source=solution("08", "model_file"))
    other = (
        "model_file = job_dir / 'model.keras'\nwith strategy.scope():\n"
        "    elsewhere = keras.models.load_model(str(model_file), compile=False)\n"
        "predictions = np.asarray(elsewhere(digits.x_test))\n"
    )
    assert nb08.exercise_3(
        *args, source=other.replace("scope = strategy.scope()\nwith scope", "with strategy.scope()")
    )


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        (  # an object from an earlier cell: the model section 4 trained, never loaded here
            "model_file = job_dir / 'model.keras'\nwith strategy.scope():\n"
            "    elsewhere = trained\npredictions = elsewhere.predict(digits.x_test)\n",
            "Load the workers' file with `keras.models.load_model`",
        ),
        (  # a required step skipped: no strategy
            "model_file = job_dir / 'model.keras'\n"
            "elsewhere = keras.models.load_model(model_file)\n",
            "Load it inside `with strategy.scope():`",
        ),
        (  # the forbidden shortcut
            "with strategy.scope():\n    elsewhere = helpers.loading.load_keras(model_file)\n"
            "keras.models.load_model\n",
            "The kit's loaders are off limits",
        ),
        (  # a comparison of a value with itself
            "with strategy.scope():\n    elsewhere = keras.models.load_model(model_file)\n"
            "same = digest(elsewhere.get_weights()) == digest(elsewhere.get_weights())\n",
            "compares a value with itself",
        ),
    ],
)
def test_exercise_3_rejects_answers_that_skip_the_habit(strategy, job, rejected, source, hint):
    job_dir, results, x = job
    model_file = job_dir / "model.keras"
    model = _loaded(strategy, model_file)
    args = (model_file, model, model.predict(x, verbose=0), job_dir, results, strategy, x)
    assert hint in rejected(nb08.exercise_3(*args, source=source))
