"""Plumbing for the TensorFlow saving kit's notebooks.

Importing this package first sets TensorFlow's log variables, so that a later
``import tensorflow`` prints nothing to stderr (JupyterLab shows stderr as a pink,
alarming box, and the lines would break the notebooks' output comparison).
Submodules are imported on first use: ``helpers.artifacts``, ``helpers.kit.setup``, ...

Serves every notebook (it quiets TensorFlow before anything imports it).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from types import ModuleType

# Must happen before TensorFlow is imported anywhere in the process.
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # C++ INFO, WARNING and ERROR lines off
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # no oneDNN banner; also exact, portable CPU maths

__all__ = ["lazy_submodules"]


def lazy_submodules(package: str) -> Callable[[str], ModuleType]:
    """A module ``__getattr__`` (PEP 562) that imports ``<package>.<name>`` on first use."""

    def __getattr__(name: str) -> ModuleType:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"{package}.{name}":
                raise AttributeError(f"module {package!r} has no submodule {name!r}") from None
            raise

    return __getattr__


__getattr__ = lazy_submodules(__name__)
