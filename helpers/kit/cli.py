"""Run TensorFlow's command-line tools from the kit's own environment and capture their text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _script(name: str) -> str:
    """The console script installed next to the running interpreter (works without PATH)."""
    folder = Path(sys.executable).parent
    for candidate in (folder / name, folder / f"{name}.exe"):
        if candidate.exists():
            return str(candidate)
    raise FileNotFoundError(f"{name} is not installed next to {sys.executable}")


def saved_model_cli(*args: str, timeout: float = 300) -> str:
    """Run ``saved_model_cli ARGS`` and return its standard output, with plain line endings.

    Raises ``RuntimeError`` carrying the tool's error output when it fails.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    result = subprocess.run(
        [_script("saved_model_cli"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"saved_model_cli {' '.join(args)} failed (exit {result.returncode}):\n"
            + result.stderr.strip()[-2000:]
        )
    return result.stdout.replace("\r\n", "\n").strip()
