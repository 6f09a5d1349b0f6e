"""The kit's machinery: notebook setup, paths, data, the reference model, plots, child processes,
the sandbox, the multi-worker launcher and the MLflow server plumbing.

Notebooks call these to get going; none of it is what a notebook teaches. Submodules are imported
on first use: ``helpers.kit.setup``, ``helpers.kit.data``, ...

Serves every notebook.
"""

from __future__ import annotations

from helpers import lazy_submodules

__getattr__ = lazy_submodules(__name__)
