"""Run TensorFlow's command-line tools from the kit's own environment and capture their text.

Serves notebooks 01, 02 and 03.
"""

from __future__ import annotations

import sys
from pathlib import Path

from helpers.kit import runner


def _script(name: str) -> str:
    """The console script installed next to the running interpreter (works without PATH)."""
    folder = Path(sys.executable).parent
    for candidate in (folder / name, folder / f"{name}.exe"):
        if candidate.exists():
            return str(candidate)
    raise FileNotFoundError(f"{name} is not installed next to {sys.executable}")


def saved_model_cli(*args: str, timeout: float = 300) -> str:
    """Run ``saved_model_cli ARGS`` and return its standard output, with plain line endings.

    Raises :class:`~helpers.kit.runner.ChildFailed` (a ``RuntimeError``) naming the command and
    quoting the end of the tool's error output when it fails.
    """
    spec = runner.Spec(command=[_script("saved_model_cli"), *args], timeout=timeout)
    return runner.run(spec).stdout.strip()
