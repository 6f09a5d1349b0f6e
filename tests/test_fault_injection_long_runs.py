"""Faults and kills for notebook 11: each ends in a clear error or the previous good save.

Half-written and missing shards (Keras ``max_shard_size`` and TF ``MaxShardSizePolicy``), an
index that names a missing shard, a backup torn during its own write (with and without
``double_checkpoint``), a training process killed with ``SIGKILL`` in mid-epoch, and an
asynchronous checkpoint whose process is killed before ``sync()``.
"""

from __future__ import annotations

import json
import re
import shutil
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import long_runs
from helpers.errors import ArtifactError
from helpers.kit import child, faults
from helpers.kit.models import digits_mlp

SHARD_GB = 9000 / 1024**3  # the digits MLP with its optimizer built: several shards


def _trained():
    keras.utils.set_random_seed(0)
    x, y = child.notebook_11_data()
    model = digits_mlp()
    model.fit(x[:64], y[:64], epochs=1, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sharded")
    model = _trained()
    model.save_weights(folder / "m.weights.json", max_shard_size=SHARD_GB)
    shards = sorted(path.name for path in folder.glob("m_*.weights.h5"))
    assert len(shards) >= 3
    return folder, model, shards


def _copy(source, target):
    shutil.copytree(source, target)
    return target


def _fresh():
    model = digits_mlp()
    model.optimizer.build(model.trainable_variables)
    return model


def test_intact_sharded_save_reloads_every_variable(sharded):
    folder, model, _ = sharded
    fresh = _fresh()
    fresh.load_weights(folder / "m.weights.json")
    for a, b in zip(
        model.weights + model.optimizer.variables,
        fresh.weights + fresh.optimizer.variables,
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("which", [0, 1, -1])
def test_half_written_shard_raises(sharded, tmp_path, which):
    folder, _, shards = sharded
    copy = _copy(folder, tmp_path / "copy")
    faults.truncate(copy / shards[which])
    # a shard holding only the optimizer's variables: Keras wraps the OSError in a ValueError
    with pytest.raises((OSError, ValueError), match="truncated file"):
        _fresh().load_weights(copy / "m.weights.json")


@pytest.mark.parametrize("which", [0, 1, -1])
def test_missing_shard_raises_naming_it(sharded, tmp_path, which):
    folder, _, shards = sharded
    copy = _copy(folder, tmp_path / "copy")
    (copy / shards[which]).unlink()
    with pytest.raises((FileNotFoundError, ValueError), match=re.escape(shards[which])):
        _fresh().load_weights(copy / "m.weights.json")


def test_index_naming_a_shard_that_does_not_exist_raises(sharded, tmp_path):
    folder, _, _ = sharded
    copy = _copy(folder, tmp_path / "copy")
    index = json.loads((copy / "m.weights.json").read_text())
    group = sorted(index["weight_map"])[-1]
    index["weight_map"][group] = ["m_00042.weights.h5"]
    (copy / "m.weights.json").write_text(json.dumps(index))
    with pytest.raises(FileNotFoundError, match=r"m_00042\.weights\.h5"):
        _fresh().load_weights(copy / "m.weights.json")


def test_missing_index_raises(sharded, tmp_path):
    folder, _, _ = sharded
    copy = _copy(folder, tmp_path / "copy")
    (copy / "m.weights.json").unlink()
    with pytest.raises(FileNotFoundError):
        _fresh().load_weights(copy / "m.weights.json")


def _tf_sharded(folder, model):
    options = tf.train.CheckpointOptions(
        experimental_sharding_callback=tf.train.experimental.MaxShardSizePolicy(max_shard_size=4000)
    )
    return tf.train.Checkpoint(model=model).write(folder / "ckpt", options=options)


def test_tf_checkpoint_with_a_missing_or_torn_data_file_raises(tmp_path):
    model = _trained()
    prefix = _tf_sharded(tmp_path / "good", model)
    data = sorted((tmp_path / "good").glob("ckpt.data-*"))
    assert len(data) > 1
    restored = keras.models.clone_model(model)
    tf.train.Checkpoint(model=restored).read(prefix).assert_consumed()

    missing = _copy(tmp_path / "good", tmp_path / "missing")
    (missing / data[1].name).unlink()
    with pytest.raises((tf.errors.NotFoundError, tf.errors.DataLossError)):
        tf.train.Checkpoint(model=keras.models.clone_model(model)).read(str(missing / "ckpt"))

    torn = _copy(tmp_path / "good", tmp_path / "torn")
    faults.truncate(torn / data[-1].name)
    # a torn data file: "IndexError: Read less bytes than requested" from the reader
    with pytest.raises((IndexError, tf.errors.OutOfRangeError, tf.errors.DataLossError)):
        tf.train.Checkpoint(model=keras.models.clone_model(model)).read(str(torn / "ckpt"))


def _backup(folder, *, double: bool, stop_at: int = 30):
    class Stop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations) == stop_at:
                raise KeyboardInterrupt

    x, y = child.notebook_11_data()
    keras.utils.set_random_seed(0)
    callback = keras.callbacks.BackupAndRestore(folder, save_freq=8, double_checkpoint=double)
    with pytest.raises(KeyboardInterrupt):
        digits_mlp().fit(
            x, y, epochs=3, batch_size=32, shuffle=False, callbacks=[callback, Stop()], verbose=0
        )
    return callback


def _restored_step(folder, *, double: bool) -> int:
    model = digits_mlp()
    callback = keras.callbacks.BackupAndRestore(folder, save_freq=8, double_checkpoint=double)
    callback.set_model(model)
    callback.on_train_begin()
    return int(model.optimizer.iterations)


def test_torn_backup_falls_back_to_the_previous_one_with_double_checkpoint(tmp_path):
    _backup(tmp_path / "b", double=True)
    faults.truncate(tmp_path / "b" / "latest.weights.h5")
    assert _restored_step(tmp_path / "b", double=True) == 16
    position = json.loads((tmp_path / "b" / "training_metadata.json").read_text())
    assert position == {"epoch": 0, "batch": 15}


def test_torn_backup_without_double_checkpoint_raises(tmp_path):
    _backup(tmp_path / "b", double=False)
    assert not list((tmp_path / "b").glob("*.bkp"))
    faults.truncate(tmp_path / "b" / "latest.weights.h5")
    with pytest.raises(OSError, match="truncated file"):
        _restored_step(tmp_path / "b", double=False)


def test_torn_backup_and_torn_bkp_raise(tmp_path):
    _backup(tmp_path / "b", double=True)
    faults.truncate(tmp_path / "b" / "latest.weights.h5")
    faults.truncate(tmp_path / "b" / "latest.weights.h5.bkp")
    with pytest.raises(OSError, match="truncated file"):
        _restored_step(tmp_path / "b", double=True)


def _weights(path):
    model = digits_mlp()
    model.optimizer.build(model.trainable_variables)
    model.load_weights(path)
    return [np.asarray(v) for v in model.weights + model.optimizer.variables]


def test_sigkill_in_mid_epoch_then_exact_resume_in_a_fresh_process(tmp_path):
    """A real SIGKILL of a child running fit, a resume in another: exactly the plain run."""
    killed = long_runs.kill_at_step(tmp_path / "backup", 30)
    assert killed.returncode == -signal.SIGKILL and killed.stdout == "paused after step 30"
    position = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert position == {"epoch": 1, "batch": 3}
    assert (tmp_path / "backup" / "latest.weights.h5.bkp").is_file()

    long_runs.run_child("resume", tmp_path / "backup", tmp_path / "resumed.weights.h5")
    long_runs.run_child("train", tmp_path / "plain.weights.h5")
    resumed, plain = (
        _weights(tmp_path / "resumed.weights.h5"),
        _weights(tmp_path / "plain.weights.h5"),
    )
    assert len(resumed) == len(plain)
    for a, b in zip(resumed, plain, strict=True):
        np.testing.assert_array_equal(a, b)


def test_kill_at_step_reports_a_child_that_never_pauses(tmp_path):
    with pytest.raises(ArtifactError, match="child never paused"):
        long_runs.kill_at_step(tmp_path / "backup", 10_000)


def _restored_values(prefix) -> set[float]:
    variables = long_runs.async_variables()
    status = tf.train.Checkpoint(variables=variables).read(prefix)
    status.assert_existing_objects_matched().expect_partial()  # save_counter: not needed
    return {float(v) for variable in variables for v in np.unique(variable.numpy())}


def test_async_save_killed_after_its_write_before_it_is_recorded_is_not_latest(tmp_path):
    """Deterministic: the kill comes once the second save's files are complete and before the
    CheckpointManager records it. latest_checkpoint stays on the first save."""
    killed = long_runs.kill_when_written(tmp_path / "ckpt")
    assert killed.returncode == -signal.SIGKILL
    assert killed.stdout == f"{long_runs.WRITTEN} ckpt-2"
    latest = tf.train.latest_checkpoint(tmp_path / "ckpt")
    assert latest is not None and latest.endswith("ckpt-1")
    assert _restored_values(latest) == {long_runs.ASYNC_VALUES[0]}
    # the second save is on disk, complete, but nobody points at it
    assert _restored_values(str(tmp_path / "ckpt" / "ckpt-2")) == {long_runs.ASYNC_VALUES[1]}


def test_async_checkpoint_killed_before_sync_leaves_one_whole_save(tmp_path, record_property):
    """A kill right after save() returns, wherever the write is: the newest recorded
    checkpoint holds one save, not a mixture. Which one depends on the race; the outcome is
    recorded as the test's ``outcome`` property (in the JUnit report) and checked for each."""
    status = long_runs.run_killed_child("async-then-die", tmp_path / "ckpt")
    assert status == -signal.SIGKILL
    latest = tf.train.latest_checkpoint(tmp_path / "ckpt")
    assert latest is not None
    values = _restored_values(latest)
    if latest.endswith("ckpt-1"):
        record_property("outcome", "the save in flight was lost")
        assert values == {long_runs.ASYNC_VALUES[0]}
    else:
        record_property("outcome", "the save in flight completed before the kill")
        assert latest.endswith("ckpt-2") and values == {long_runs.ASYNC_VALUES[1]}
