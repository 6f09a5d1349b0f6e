"""helpers.long_runs and helpers.stateful_layers: the code notebook 11 shows, and its plumbing."""

from __future__ import annotations

import json
import shutil
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from nbsource import assert_same_code

from helpers import long_runs
from helpers.errors import ArtifactError
from helpers.kit import child, faults
from helpers.kit.models import digits_mlp
from helpers.stateful_layers import WordEmbedding

STEPS_PER_EPOCH = long_runs.TRAIN_SAMPLES // long_runs.BATCH_SIZE


def test_notebook_shows_the_code_the_package_runs():
    assert_same_code("11", long_runs.resume_from_backup)
    assert_same_code("11", WordEmbedding)


class _StopAt(keras.callbacks.Callback):
    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations) == self.step:
            raise KeyboardInterrupt  # stands in for the kill: nothing after this step runs


def _fit(model, x, y, callbacks=()):
    model.fit(
        x,
        y,
        epochs=long_runs.EPOCHS,
        batch_size=long_runs.BATCH_SIZE,
        shuffle=False,
        callbacks=list(callbacks),
        verbose=0,
    )
    return model


@pytest.fixture(scope="module")
def reference():
    tf.config.experimental.enable_op_determinism()  # every run below is in this process
    x, y = child.notebook_11_data()
    keras.utils.set_random_seed(0)
    return x, y, _fit(digits_mlp(), x, y)


def _interrupted_backup(folder, x, y, stop_at):
    keras.utils.set_random_seed(0)
    backup = keras.callbacks.BackupAndRestore(
        folder, save_freq=long_runs.SAVE_FREQ, double_checkpoint=True
    )
    with pytest.raises(KeyboardInterrupt):
        _fit(digits_mlp(), x, y, [backup, _StopAt(stop_at)])
    return folder


def _assert_same_state(a, b):
    for x, y in zip(
        a.weights + a.optimizer.variables, b.weights + b.optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=x.path)


@pytest.mark.parametrize("stop_at", [30, 40, 50])  # mid-epoch; the last batch of an epoch; later
def test_resume_from_backup_matches_the_uninterrupted_run(tmp_path, reference, stop_at):
    x, y, uninterrupted = reference
    backup = _interrupted_backup(tmp_path / "backup", x, y, stop_at)
    position = json.loads((backup / "training_metadata.json").read_text())
    saved_step = stop_at // long_runs.SAVE_FREQ * long_runs.SAVE_FREQ
    assert position["epoch"] * STEPS_PER_EPOCH + position["batch"] + 1 == saved_step
    resumed = long_runs.resume_from_backup(
        digits_mlp(), x, y, backup, epochs=long_runs.EPOCHS, batch_size=long_runs.BATCH_SIZE
    )
    _assert_same_state(uninterrupted, resumed)


def _resume(backup, x, y):
    return long_runs.resume_from_backup(
        digits_mlp(), x, y, backup, epochs=long_runs.EPOCHS, batch_size=long_runs.BATCH_SIZE
    )


def _kill_between_the_two_writes(backup):
    """The state a kill after save_weights and before the metadata write leaves (Keras 3.15.1
    writes latest.weights.h5, then training_metadata.json): the metadata of the save before."""
    shutil.copy(backup / "training_metadata.json.bkp", backup / "training_metadata.json")


def _torn_metadata(backup):
    text = (backup / "training_metadata.json").read_text()
    (backup / "training_metadata.json").write_text(text[: len(text) // 2])


def _torn_weights(backup):
    faults.truncate(backup / "latest.weights.h5")


@pytest.mark.parametrize("damage", [_kill_between_the_two_writes, _torn_metadata, _torn_weights])
def test_resume_from_backup_falls_back_to_the_bkp_pair(tmp_path, reference, capsys, damage):
    x, y, uninterrupted = reference
    backup = _interrupted_backup(tmp_path / "backup", x, y, 30)
    damage(backup)
    _assert_same_state(uninterrupted, _resume(backup, x, y))
    assert capsys.readouterr().out.endswith("): resumed from the .bkp pair\n")


def test_resume_from_backup_says_why_it_fell_back(tmp_path, reference, capsys):
    x, y, _ = reference
    backup = _interrupted_backup(tmp_path / "backup", x, y, 30)
    _kill_between_the_two_writes(backup)
    _resume(backup, x, y)
    assert capsys.readouterr().out == (
        "latest backup unusable (training_metadata.json says step 16, latest.weights.h5 holds "
        "step 24): resumed from the .bkp pair\n"
    )


def test_resume_from_backup_without_a_usable_pair_names_the_folder(tmp_path, reference):
    x, y, _ = reference
    backup = _interrupted_backup(tmp_path / "backup", x, y, 30)
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 1, "batch": 7}))
    faults.truncate(backup / "latest.weights.h5.bkp")
    with pytest.raises(ValueError, match=r"backup: no usable backup \(") as raised:
        _resume(backup, x, y)
    message = str(raised.value)
    assert str(backup) in message
    assert "training_metadata.json says step 28, latest.weights.h5 holds step 24" in message
    assert "training_metadata.json.bkp + latest.weights.h5.bkp: OSError" in message


def test_resume_from_backup_of_a_missing_folder_names_it(tmp_path, reference):
    x, y, _ = reference
    with pytest.raises(ValueError, match=r"nowhere: no usable backup .*FileNotFoundError"):
        _resume(tmp_path / "nowhere", x, y)


def test_word_embedding_round_trip_keeps_vocabulary_weights_and_build_config(tmp_path):
    keras.utils.set_random_seed(0)
    layer = WordEmbedding(3, name="words")
    layer.adapt(["b", "a", "c", "a"])
    assert layer.vocabulary == ["a", "b", "c"]
    np.testing.assert_array_equal(layer.encode(["c", "zz", "a"]), [3, 0, 1])
    inputs = keras.Input(shape=(None,), dtype="int32")
    model = keras.Model(inputs, layer(inputs))
    assert tuple(layer.table.shape) == (4, 3)
    model.save(tmp_path / "m.keras")

    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        layers = json.loads(archive.read("config.json"))["config"]["layers"]
    (saved,) = [entry for entry in layers if entry["name"] == "words"]
    assert saved["build_config"] == {"vocabulary_size": 3}

    loaded = keras.models.load_model(tmp_path / "m.keras")
    (restored,) = [lyr for lyr in loaded.layers if isinstance(lyr, WordEmbedding)]
    assert restored.vocabulary == ["a", "b", "c"]
    np.testing.assert_array_equal(np.asarray(restored.table), np.asarray(layer.table))


def test_empty_vocabulary_round_trips(tmp_path):
    layer = WordEmbedding(2)
    inputs = keras.Input(shape=(None,), dtype="int32")
    keras.Model(inputs, layer(inputs)).save(tmp_path / "empty.keras")
    loaded = keras.models.load_model(tmp_path / "empty.keras")
    (restored,) = [lyr for lyr in loaded.layers if isinstance(lyr, WordEmbedding)]
    assert restored.vocabulary == [] and tuple(restored.table.shape) == (1, 2)


def test_the_children_reject_an_unknown_command():
    from helpers.kit import child  # notebook 11's children are tasks of the kit's dispatcher

    with pytest.raises(SystemExit, match=r"usage: python -m helpers\.kit\.child"):
        child.main(["no-such-command"])
    with pytest.raises(SystemExit, match="usage"):
        child.main([])


def test_run_child_reports_a_failed_child(tmp_path):
    with pytest.raises(ArtifactError, match="child process failed"):
        long_runs.run_child("no-such-command", tmp_path)


def test_run_killed_child_refuses_a_child_that_exits_by_itself(tmp_path):
    with pytest.raises(ArtifactError, match="child was not killed"):
        long_runs.run_killed_child("no-such-command", tmp_path)
