"""Pytest set-up for the whole kit (unit tests and notebooks alike).

Every tool that would write under the home folder (Keras, IPython, Jupyter, matplotlib) is
pointed at a throwaway folder before any kernel starts; notebook kernels inherit it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from helpers.kit.setup import isolated_home_env

_scratch_home: Path | None = None


def pytest_configure(config) -> None:
    global _scratch_home
    _scratch_home = Path(tempfile.mkdtemp(prefix="kit-test-home-"))
    for name, folder in isolated_home_env(_scratch_home).items():
        Path(folder).mkdir(parents=True, exist_ok=True)
        os.environ[name] = folder


def pytest_unconfigure(config) -> None:
    if _scratch_home is not None:
        shutil.rmtree(_scratch_home, ignore_errors=True)
