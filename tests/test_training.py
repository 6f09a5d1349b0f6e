"""helpers.training: interrupt and resume with BackupAndRestore, seed-state backup, pruning."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from helpers import training  # helpers first: it quiets TensorFlow before TF is imported
from helpers.errors import ArtifactError, ArtifactNotFoundError
from helpers.kit.data import Digits
from helpers.kit.models import digits_mlp


@pytest.fixture(scope="module")
def tiny() -> Iterator[Digits]:
    """64 random "digits" (two steps of 32 per epoch), with op determinism on meanwhile."""
    import tensorflow as tf
    from tensorflow.python.framework import config  # the only home of is_/disable_ (2.21)

    was_enabled = config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(0)
    x = rng.random((64, 64), dtype=np.float32)
    y = rng.integers(0, 10, size=64).astype(np.int32)
    try:
        yield Digits(x, y, x[:8], y[:8], scaled=True)
    finally:
        if not was_enabled:  # other tests' unseeded random ops would fail under it
            config.disable_op_determinism()


def weights_equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights(), strict=True))


def interrupted_then_resumed(backup: Path, tiny: Digits, **options):
    with pytest.raises(training.TrainingInterrupted, match="after epoch 1"):
        training.train(backup, interrupt_after=1, epochs=3, digits=tiny, **options)
    assert (backup / "training_metadata.json").is_file()
    resumed = training.train(backup, epochs=3, digits=tiny, **options)
    assert not backup.exists(), "BackupAndRestore deletes its backup after a finished fit"
    return resumed


def test_resumed_run_is_bit_identical(tmp_path: Path, tiny: Digits):
    reference = training.train(tmp_path / "reference", epochs=3, digits=tiny)
    resumed = interrupted_then_resumed(tmp_path / "backup", tiny)
    assert int(resumed.optimizer.iterations) == int(reference.optimizer.iterations) == 6
    assert weights_equal(reference, resumed)


def test_dropout_needs_the_seed_state_to_resume_exactly(tmp_path: Path, tiny: Digits):
    reference = training.train(tmp_path / "reference", dropout=0.5, epochs=3, digits=tiny)
    plain = interrupted_then_resumed(tmp_path / "plain", tiny, dropout=0.5)
    fixed = interrupted_then_resumed(tmp_path / "fixed", tiny, dropout=0.5, seed_state=True)
    assert not weights_equal(reference, plain)
    assert weights_equal(reference, fixed)


def test_seed_states_are_the_variables_weights_leave_out():
    assert training.seed_states(digits_mlp()) == []
    (state,) = training.seed_states(digits_mlp(dropout=0.2))
    assert state.name == "seed_generator_state"


def test_seed_state_backup_refuses_a_file_for_another_model(tmp_path: Path):
    np.save(tmp_path / training.SEED_STATE_FILE, np.zeros((2, 2), dtype=np.int64))
    callback = training.SeedStateBackup(tmp_path)
    callback.set_model(digits_mlp(dropout=0.2))
    with pytest.raises(ArtifactError, match="holds 2 seed states but the model has 1"):
        callback.on_train_begin()


def test_interrupt_after_rejects_epoch_zero():
    with pytest.raises(ValueError, match="at least 1"):
        training.InterruptAfter(0)


def make_checkpoints(folder: Path, epochs: list[int]) -> None:
    folder.mkdir(exist_ok=True)
    for epoch in epochs:
        (folder / f"epoch{epoch}-val_loss0.5.weights.h5").write_bytes(b"x")


def test_prune_keeps_newest_by_epoch_number_and_the_chosen_one(tmp_path: Path):
    make_checkpoints(tmp_path, [1, 2, 3, 9, 10])  # unpadded: "10" sorts before "2" as text
    (tmp_path / "best.keras").write_bytes(b"x")
    chosen = tmp_path / "epoch2-val_loss0.5.weights.h5"
    deleted = training.prune_checkpoints(tmp_path, keep_last=2, keep=[chosen])
    assert sorted(training.checkpoint_epoch(path) for path in deleted) == [1, 3]
    left = sorted(path.name for path in tmp_path.iterdir())
    assert left == [
        "best.keras",
        "epoch10-val_loss0.5.weights.h5",
        "epoch2-val_loss0.5.weights.h5",
        "epoch9-val_loss0.5.weights.h5",
    ]


def test_prune_keep_last_zero_deletes_all_but_kept(tmp_path: Path):
    make_checkpoints(tmp_path, [1, 2])
    assert len(training.prune_checkpoints(tmp_path, keep_last=0)) == 2
    assert list(tmp_path.iterdir()) == []


def test_prune_bad_inputs(tmp_path: Path):
    with pytest.raises(ArtifactNotFoundError, match="no such checkpoint folder"):
        training.prune_checkpoints(tmp_path / "missing", keep_last=1)
    with pytest.raises(ValueError, match="keep_last"):
        training.prune_checkpoints(tmp_path, keep_last=-1)
    (tmp_path / "epoch_final.weights.h5").write_bytes(b"x")
    with pytest.raises(ArtifactError, match="epochNN-"):
        training.prune_checkpoints(tmp_path, keep_last=1)


def test_checkpoint_epoch():
    assert training.checkpoint_epoch("dir/epoch07-val_loss0.320.weights.h5") == 7
    with pytest.raises(ArtifactError):
        training.checkpoint_epoch("latest.weights.h5")


@pytest.mark.parametrize(
    "name", ["TrainingInterrupted", "InterruptAfter", "train", "seed_states", "SeedStateBackup"]
)
def test_notebook_04_shows_the_code_the_package_runs(name: str):
    from nbsource import assert_same_code

    assert_same_code("04", getattr(training, name))


def test_notebook_04_uses_the_package_constants():
    import ast

    from nbsource import code_cells

    values = {}
    for text in code_cells("04"):
        for node in ast.parse(text).body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    names = target.elts if isinstance(target, ast.Tuple) else [target]
                    for index, name in enumerate(names):
                        if isinstance(name, ast.Name):
                            value = node.value
                            if isinstance(value, ast.Tuple):
                                value = value.elts[index]
                            if isinstance(value, ast.Constant):
                                values[name.id] = value.value
    for constant in ("EPOCHS", "TRAIN_SAMPLES", "SEED", "SEED_STATE_FILE"):
        assert values[constant] == getattr(training, constant), constant
