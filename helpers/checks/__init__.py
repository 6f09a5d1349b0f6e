"""Auto-checks for the notebooks' exercises: ``helpers.checks.nb01.exercise_1(...)``.

Each notebook's checks live in ``helpers/checks/nbNN.py``; the shared machinery is in
:mod:`helpers.checks.core`. Submodules are imported on first use, like ``helpers`` itself.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def __getattr__(name: str) -> ModuleType:
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"{__name__}.{name}":
            raise AttributeError(f"module 'helpers.checks' has no submodule {name!r}") from None
        raise
