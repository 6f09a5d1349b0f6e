"""helpers.predict: the command-line predictor, in a fresh process and through main()."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import predict
from helpers.verify import assert_same


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    """An untrained digits MLP exported with model.export() (fast: no training)."""
    from helpers.models import digits_mlp

    folder = tmp_path_factory.mktemp("predict") / "export"
    digits_mlp().export(folder, verbose=False)
    return folder


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inputs") / "batch.npy"
    np.save(path, np.random.default_rng(0).random((12, 64), dtype=np.float32))
    return path


def expected(export: Path, batch: Path) -> np.ndarray:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(export))
    return loaded.serve(tf.constant(np.load(batch))).numpy()


def test_fresh_process_writes_bit_identical_predictions(export, batch, tmp_path):
    output = tmp_path / "out" / "predictions.npy"
    command = [sys.executable, "-m", "helpers.predict", str(export), str(batch), str(output)]
    result = subprocess.run(
        [*command, "--threads", "1"], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "a quiet tool: nothing on stderr when all is well"
    summary = json.loads(result.stdout)
    assert summary == {
        "signature": "serving_default",
        "input": {"key": "pixels", "shape": [12, 64]},
        "output": {"key": "output_0", "shape": [12, 10], "dtype": "float32"},
    }
    assert_same(expected(export, batch), np.load(output), names=("in process", "fresh process"))
    assert not list(output.parent.glob("*.partial*")), "no temporary file left behind"


def test_main_casts_float64_input(export, batch, tmp_path, capsys):
    as_float64 = tmp_path / "batch64.npy"
    np.save(as_float64, np.load(batch).astype(np.float64))
    output = tmp_path / "out.npy"
    assert predict.main([str(export), str(as_float64), str(output)]) == 0
    assert json.loads(capsys.readouterr().out)["input"]["shape"] == [12, 64]
    assert_same(expected(export, batch), np.load(output))


def run_main(capsys, *args: str) -> tuple[int, str]:
    status = predict.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    assert captured.out == "", "no summary when it fails"
    return status, captured.err


def test_missing_model(tmp_path, batch, capsys):
    status, err = run_main(capsys, tmp_path / "none", batch, tmp_path / "o.npy")
    assert status == 2
    assert err == f"error: {tmp_path / 'none'}: no such SavedModel folder\n"


def test_damaged_model_is_reported_not_loaded(export, batch, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(export, broken)
    (broken / "saved_model.pb").write_bytes(b"garbage" * 20)
    status, err = run_main(capsys, broken, batch, tmp_path / "o.npy")
    assert status == 2 and f"{broken}: saved_model.pb is corrupt" in err
    assert not (tmp_path / "o.npy").exists()


@pytest.mark.parametrize(
    ("array", "phrase"),
    [
        (np.zeros((3, 63), np.float32), "has shape (3, 63), the signature needs (?, 64)"),
        (np.zeros(64, np.float32), "has shape (64,), the signature needs (?, 64)"),
        (np.zeros((3, 64), np.complex64), "holds complex64, the signature needs float32"),
        (np.array([{"a": 1}], dtype=object), "not a readable .npy array"),
    ],
    ids=["columns", "rank", "dtype", "pickled"],
)
def test_bad_inputs(export, tmp_path, capsys, array, phrase):
    path = tmp_path / "bad.npy"
    np.save(path, array, allow_pickle=True)
    status, err = run_main(capsys, export, path, tmp_path / "o.npy")
    assert status == 2
    assert err.startswith(f"error: {path}: ") and phrase in err, err


def test_missing_input_file(export, tmp_path, capsys):
    status, err = run_main(capsys, export, tmp_path / "no.npy", tmp_path / "o.npy")
    assert status == 2 and "no such input .npy file" in err


def test_unknown_signature_and_output(export, batch, tmp_path, capsys):
    status, err = run_main(capsys, export, batch, tmp_path / "o.npy", "--signature", "classify")
    assert status == 2 and "no signature 'classify'" in err and "serving_default" in err
    status, err = run_main(capsys, export, batch, tmp_path / "o.npy", "--output-key", "logits")
    assert status == 2 and "no output 'logits' (outputs: output_0)" in err


def test_uses_no_model_building_code():
    """The entry point must work with the artifact alone: no Keras, no kit model code."""
    tree = ast.parse(Path(predict.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    forbidden = {"keras", "helpers.models", "helpers.data", "helpers.reference"}
    assert not imported & forbidden, imported & forbidden
    assert {"tensorflow", "numpy", "helpers.loading"} <= imported
