"""Damaged deployment files (.tflite, .onnx): every load ends in a clear error naming the path.

The good files are exported once from an untrained digits MLP (``model.export(format=...)``);
each case damages a copy with plain file operations, and ``helpers.loading.load_tflite`` /
``load_onnx`` must raise an :class:`~helpers.errors.ArtifactError` whose message starts with
the path and names the problem. The runtime opens each file in a child process first, so a
runtime that aborts cannot take the caller down: the last tests make the child crash on purpose.
"""

from __future__ import annotations

import signal
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from helpers import deploy, loading
from helpers.errors import (
    ArtifactError,
    ArtifactNotFoundError,
    CorruptArtifactError,
    RuntimeCrashError,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="signals differ on Windows")


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict[str, Path]:
    """A .tflite, an .onnx and a .keras file of one untrained digits MLP."""
    from helpers.kit.models import digits_mlp

    folder = tmp_path_factory.mktemp("deploy_good")
    model = digits_mlp(32)
    model.export(folder / "model.tflite", format="litert", verbose=False)
    with warnings.catch_warnings():
        # Keras's tf2onnx shim probes `np.object`; NumPy 2 warns on the removed alias.
        warnings.filterwarnings("ignore", message=".*np.object", category=FutureWarning)
        model.export(folder / "model.onnx", format="onnx", verbose=False)
    model.save(folder / "model.keras")
    rows = np.linspace(0, 1, 5 * 64, dtype=np.float32).reshape(5, 64)
    np.save(folder / "expected.npy", model.predict(rows, verbose=0))
    np.save(folder / "rows.npy", rows)
    return {
        "tflite": folder / "model.tflite",
        "onnx": folder / "model.onnx",
        "keras": folder / "model.keras",
        "folder": folder,
    }


def _truncate(fraction: float) -> Callable[[bytes], bytes]:
    return lambda data: data[: int(len(data) * fraction)]


def _flip_every(step: int) -> Callable[[bytes], bytes]:
    def flip(data: bytes) -> bytes:
        damaged = bytearray(data)
        for index in range(16, len(damaged), step):
            damaged[index] ^= 0xFF
        return bytes(damaged)

    return flip


# name: (kind, what to do with the good bytes, words the message must contain)
DAMAGE: dict[str, tuple[str, Callable[[bytes], bytes], str]] = {}
for _kind, _unreadable in (("tflite", "LiteRT cannot read it"),
                           ("onnx", "not a readable ONNX protobuf")):  # fmt: skip
    DAMAGE |= {
        f"{_kind} empty": (_kind, lambda data: b"", "is empty (0 bytes)"),
        f"{_kind} first 8 bytes only": (_kind, lambda data: data[:8], _unreadable),
        f"{_kind} truncated to 10%": (_kind, _truncate(0.1), _unreadable),
        f"{_kind} truncated to half": (_kind, _truncate(0.5), _unreadable),
        f"{_kind} one byte short": (_kind, lambda data: data[:-1], ""),
        f"{_kind} garbage": (_kind, lambda data: b"\x00garbage\xff" * 100, ""),
        f"{_kind} flipped bytes": (_kind, _flip_every(97), ""),
    }


def _write_case(good: dict[str, Path], tmp_path: Path, name: str) -> tuple[str, Path]:
    kind, damage, _ = DAMAGE[name]
    path = tmp_path / f"damaged.{kind}"
    path.write_bytes(damage(good[kind].read_bytes()))
    return kind, path


def _load(kind: str, path: Path, **kwargs) -> object:
    return (loading.load_tflite if kind == "tflite" else loading.load_onnx)(path, **kwargs)


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_damaged_file_gives_a_clear_error(good, tmp_path, name):
    kind, path = _write_case(good, tmp_path, name)
    with pytest.raises(ArtifactError) as raised:
        _load(kind, path)
    message = str(raised.value)
    assert message.startswith(f"{path}: "), message
    assert DAMAGE[name][2] in message, message
    if kind == "tflite" and path.stat().st_size >= 8 and "TFL3" not in message:
        assert "LiteRT" in message, message


@pytest.mark.parametrize("kind", ["tflite", "onnx"])
def test_missing_file_and_folder(tmp_path, kind):
    with pytest.raises(ArtifactNotFoundError, match=f"no such .{kind} file"):
        _load(kind, tmp_path / f"nowhere.{kind}")
    with pytest.raises(CorruptArtifactError, match="is a folder"):
        _load(kind, tmp_path)


def test_wrong_format_is_named(good, tmp_path):
    onnx_named_tflite = tmp_path / "really_onnx.tflite"
    onnx_named_tflite.write_bytes(good["onnx"].read_bytes())
    with pytest.raises(CorruptArtifactError, match="no TFL3 identifier"):
        loading.load_tflite(onnx_named_tflite)
    for source in ("tflite", "keras"):
        named_onnx = tmp_path / f"really_{source}.onnx"
        named_onnx.write_bytes(good[source].read_bytes())
        with pytest.raises(CorruptArtifactError, match="not a readable ONNX"):
            loading.load_onnx(named_onnx)
    assert zipfile.is_zipfile(good["keras"])


def test_good_files_load_and_match_keras(good):
    rows, expected = np.load(good["folder"] / "rows.npy"), np.load(good["folder"] / "expected.npy")
    interpreter = loading.load_tflite(good["tflite"])
    assert interpreter.get_input_details()[0]["shape_signature"].tolist() == [-1, 64]
    session = loading.load_onnx(good["onnx"])
    assert session.get_inputs()[0].name == "pixels"
    np.testing.assert_allclose(deploy.run_litert(good["tflite"], rows), expected, atol=1e-5)
    np.testing.assert_allclose(deploy.run_onnx(good["onnx"], rows), expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["tflite", "onnx"])
def test_a_runtime_crash_in_the_child_is_an_error_here(good, monkeypatch, kind):
    """A child that aborts (as a runtime can on a malformed file) never runs the load here."""
    crash = "import os, signal; os.kill(os.getpid(), signal.SIGABRT)"
    monkeypatch.setattr(loading, "_probe_command", lambda kind, path: [sys.executable, "-c", crash])
    opened = []
    monkeypatch.setattr(loading, "_open_onnx", lambda path: opened.append(path))
    monkeypatch.setattr(loading, "_open_tflite", lambda path: opened.append(path))
    with pytest.raises(RuntimeCrashError, match=signal.SIGABRT.name) as raised:
        _load(kind, good[kind])
    assert str(raised.value).startswith(f"{good[kind]}: opening it crashed")
    assert opened == []


def test_a_failing_child_reports_its_problem(good, monkeypatch):
    fail = "import sys; print('error: the runtime said no', file=sys.stderr); sys.exit(2)"
    monkeypatch.setattr(loading, "_probe_command", lambda kind, path: [sys.executable, "-c", fail])
    with pytest.raises(CorruptArtifactError, match="the runtime said no"):
        loading.load_onnx(good["onnx"])
