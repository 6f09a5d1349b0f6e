"""helpers.checkpoints: listing, checking and safe restoring, including damaged checkpoints."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import helpers  # noqa: F401  (quiets TensorFlow before it is imported)
from helpers import checkpoints
from helpers.errors import (
    ArtifactMismatchError,
    ArtifactNotFoundError,
    CorruptArtifactError,
    IncompleteArtifactError,
)


class Tiny(tf.Module):
    def __init__(self, hidden: int = 4, fill: float = 0.0) -> None:
        super().__init__()
        self.w = tf.Variable(tf.fill([3, hidden], fill), name="w")
        self.b = tf.Variable(tf.fill([hidden], fill), name="b")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return tf.matmul(x, self.w) + self.b


class Net(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(x)


def _train_one_step(model: Tiny, optimizer: keras.optimizers.Optimizer) -> None:
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(tf.ones([2, 3])) ** 2)
    variables = model.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A folder with two CheckpointManager checkpoints of a trained Tiny + Adam + step."""
    folder = tmp_path_factory.mktemp("ckpts")
    model, optimizer = Tiny(fill=0.5), keras.optimizers.Adam(0.1)
    step = tf.Variable(0, dtype=tf.int64)
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=model, optimizer=optimizer, step=step), folder, max_to_keep=3
    )
    for _ in range(2):
        _train_one_step(model, optimizer)
        step.assign_add(1)
        manager.save()
    return folder


@pytest.fixture
def copy(saved: Path, tmp_path: Path) -> Path:
    """A private copy of ``saved`` that a test may damage."""
    target = tmp_path / "copy"
    shutil.copytree(saved, target)
    return target


def fresh() -> tuple[Tiny, keras.optimizers.Optimizer, tf.Variable, tf.train.Checkpoint]:
    model, optimizer = Tiny(fill=-1.0), keras.optimizers.Adam(0.1)
    step = tf.Variable(0, dtype=tf.int64)
    return model, optimizer, step, tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)


# --- listing ---------------------------------------------------------------------------------


def test_resolve_folder_gives_latest_prefix(saved: Path):
    assert checkpoints.resolve(saved) == saved / "ckpt-2"
    assert checkpoints.resolve(saved / "ckpt-1") == saved / "ckpt-1"


def test_variables_agree_with_tensorflow(saved: Path):
    infos = {info.name: info for info in checkpoints.variables(saved)}
    assert dict(tf.train.list_variables(str(saved))) == {
        name: list(info.shape) for name, info in infos.items()
    }
    weight = infos["model/w/.ATTRIBUTES/VARIABLE_VALUE"]
    assert (weight.shape, weight.dtype, weight.nbytes) == ((3, 4), "float32", 48)
    assert infos["step/.ATTRIBUTES/VARIABLE_VALUE"].dtype == "int64"
    data = saved / "ckpt-2.data-00000-of-00001"
    assert sum(info.nbytes for info in infos.values()) == data.stat().st_size


def test_format_variables_table(saved: Path):
    table = checkpoints.format_variables(checkpoints.variables(saved))
    lines = table.splitlines()
    assert lines[0].split() == ["variable", "shape", "dtype", "bytes"]
    assert any(line.split() == ["model/w", "(3,", "4)", "float32", "48"] for line in lines)
    assert any(line.split() == ["step", "()", "int64", "8"] for line in lines)
    assert lines[-1].startswith("total (11 tensors)")


# --- restoring ---------------------------------------------------------------------------------


def test_restore_builds_optimizer_and_restores_everything(saved: Path):
    model, optimizer, step, checkpoint = fresh()
    assert not optimizer.built
    report = checkpoints.restore(checkpoint, saved)
    assert report.built == ("optimizer",) and report.skipped == ()
    assert int(step) == 2 and int(optimizer.iterations) == 2
    reader = tf.train.load_checkpoint(str(saved))
    np.testing.assert_array_equal(
        model.w.numpy(), reader.get_tensor("model/w/.ATTRIBUTES/VARIABLE_VALUE")
    )
    assert "restored 9 tensors from ckpt-2" in str(report)


def test_model_only_restore_needs_partial(saved: Path):
    model = Tiny(fill=-1.0)
    checkpoint = tf.train.Checkpoint(model=model)
    with pytest.raises(ArtifactMismatchError, match="partial=True") as caught:
        checkpoints.restore(checkpoint, saved)
    assert "optimizer/_iterations" in caught.value.unused and "step" in caught.value.unused
    assert float(model.w[0, 0]) == -1.0  # nothing was restored
    report = checkpoints.restore(checkpoint, saved, partial=True)
    assert float(model.w[0, 0]) != -1.0
    assert (report.restored, len(report.skipped)) == (2, 7)


def test_different_architecture_names_variable_and_shapes(saved: Path):
    model = Tiny(hidden=5, fill=-1.0)
    with pytest.raises(ArtifactMismatchError) as caught:
        checkpoints.restore(tf.train.Checkpoint(model=model), saved, partial=True)
    message = str(caught.value)
    assert "model/w is float32[3, 4] in the checkpoint but float32[3, 5] in the object" in message
    assert str(saved / "ckpt-2") in message
    assert float(model.w[0, 0]) == -1.0  # nothing was restored


def test_variable_missing_from_checkpoint_is_named(saved: Path):
    model = Tiny()
    model.extra = tf.Variable(1.0)
    with pytest.raises(ArtifactMismatchError) as caught:
        checkpoints.restore(tf.train.Checkpoint(model=model), saved, partial=True)
    assert caught.value.missing == ["model/extra"]


def test_unbuilt_keras_model_is_refused(tmp_path: Path):
    net = Net()
    net(tf.ones([1, 3]))
    prefix = tf.train.Checkpoint(net=net).write(str(tmp_path / "net"))
    unbuilt = Net()
    with pytest.raises(ArtifactMismatchError, match="unbuilt Keras model"):
        checkpoints.restore(tf.train.Checkpoint(net=unbuilt), prefix)
    fresh_net = Net()
    checkpoints.restore(
        tf.train.Checkpoint(net=fresh_net), prefix, build=lambda: fresh_net(tf.ones([1, 3]))
    )
    np.testing.assert_array_equal(fresh_net.dense.kernel.numpy(), net.dense.kernel.numpy())


def test_optimizer_ambiguity_is_an_error(saved: Path):
    checkpoint = tf.train.Checkpoint(a=Tiny(), b=Tiny(), optimizer=keras.optimizers.Adam())
    with pytest.raises(ArtifactMismatchError, match="2 models next to it"):
        checkpoints.restore(checkpoint, saved)


# --- bad input -----------------------------------------------------------------------------------


def test_missing_folder(tmp_path: Path):
    with pytest.raises(ArtifactNotFoundError, match="no such checkpoint folder"):
        checkpoints.check(tmp_path / "nowhere" / "ckpt-1")
    with pytest.raises(ArtifactNotFoundError) as caught:
        checkpoints.check(tmp_path / "ckpt-9")
    assert caught.value.path == tmp_path / "ckpt-9"


def test_folder_without_checkpoint(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(
        IncompleteArtifactError,
        match=r"no checkpoint in this folder \(it contains: notes.txt\)",
    ):
        checkpoints.check(tmp_path)


def test_folder_without_state_file_lists_prefixes(copy: Path):
    (copy / "checkpoint").unlink()
    with pytest.raises(IncompleteArtifactError, match="ckpt-1, ckpt-2"):
        checkpoints.check(copy)
    assert checkpoints.check(copy / "ckpt-1") == copy / "ckpt-1"


def test_missing_index(copy: Path):
    (copy / "ckpt-2.index").unlink()
    with pytest.raises(
        IncompleteArtifactError, match=r"names 'ckpt-2', but ckpt-2\.index is missing"
    ):
        checkpoints.check(copy)
    with pytest.raises(IncompleteArtifactError, match=r"ckpt-2\.index is missing"):
        checkpoints.check(copy / "ckpt-2")


def test_file_instead_of_prefix(saved: Path):
    with pytest.raises(ArtifactNotFoundError, match="pass the prefix"):
        checkpoints.check(saved / "ckpt-2.data-00000-of-00001")


@pytest.mark.parametrize("keep", [0, 100, 150])
def test_truncated_data_detected_before_tensorflow_reads_it(copy: Path, keep: int):
    data = copy / "ckpt-2.data-00000-of-00001"
    os.truncate(data, keep)
    with pytest.raises(CorruptArtifactError, match=r"truncated: .* bytes, but the index") as caught:
        checkpoints.check(copy, read_values=False)
    assert caught.value.path == data
    model, _, _, checkpoint = fresh()
    with pytest.raises(CorruptArtifactError, match="truncated"):
        checkpoints.restore(checkpoint, copy)
    assert float(model.w[0, 0]) == -1.0


def test_missing_data_file(copy: Path):
    (copy / "ckpt-2.data-00000-of-00001").unlink()
    with pytest.raises(IncompleteArtifactError, match="data file missing"):
        checkpoints.check(copy)


@pytest.mark.parametrize("keep", [0, 20, -1])
def test_truncated_index(copy: Path, keep: int):
    index = copy / "ckpt-2.index"
    os.truncate(index, keep if keep >= 0 else index.stat().st_size - 1)
    with pytest.raises(CorruptArtifactError, match="damaged index") as caught:
        checkpoints.check(copy)
    assert caught.value.path == index


def test_flipped_byte_in_data_caught_by_checksum(copy: Path):
    data = copy / "ckpt-2.data-00000-of-00001"
    content = bytearray(data.read_bytes())
    content[10] ^= 0xFF  # same size: only the checksums can tell
    data.write_bytes(bytes(content))
    checkpoints.check(copy, read_values=False)  # sizes alone look fine
    with pytest.raises(CorruptArtifactError, match=r"damaged data: .*[Cc]hecksum"):
        checkpoints.check(copy)


FUZZ_CHILD = """
import shutil, sys
from pathlib import Path
import helpers
from helpers import checkpoints
from helpers.errors import CorruptArtifactError, IncompleteArtifactError

work = Path(sys.argv[2])
shutil.copytree(sys.argv[1], work)
outcomes = {"ok": 0, "refused": 0}
for name in ("ckpt-2.index", "ckpt-2.data-00000-of-00001"):
    path = work / name
    original = path.read_bytes()
    for position in range(0, len(original), max(1, len(original) // 40)):
        damaged = bytearray(original)
        damaged[position] ^= 0x5A
        path.write_bytes(bytes(damaged))
        try:
            checkpoints.check(work)
            outcomes["ok"] += 1
        except (CorruptArtifactError, IncompleteArtifactError):
            outcomes["refused"] += 1
    path.write_bytes(original)
print(outcomes["ok"], outcomes["refused"])
"""


def test_damaged_bytes_never_crash_the_process(saved: Path, tmp_path: Path):
    """Flip one byte at a time in the index and the data: a clear error, never an abort.

    Runs in a child process, because a TensorFlow C++ check failure would kill the process
    (and with it a notebook's kernel) instead of raising.
    """
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", FUZZ_CHILD, str(saved), str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"child died ({result.returncode}): {result.stderr[-2000:]}"
    ok, refused = map(int, result.stdout.split())
    # Every flip in the data changes a checksummed tensor; only padding and unused parts
    # of the index (footer padding, block trailers) may change without consequence.
    assert refused >= 60 and refused > 3 * ok, (ok, refused)
