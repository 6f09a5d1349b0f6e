"""Where things are written: the artifacts folder and timestamped folders.

Numbered version folders (``base/1``, ``base/2``...) are a lesson, not machinery: they live in
:mod:`helpers.artifacts` (``version_dirs``, ``next_version_dir``, ``latest_complete_savedmodel``).

Serves notebooks 02, 06, 07, 08, 09, 10 and 12.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

ARTIFACTS_ENV = "KIT_ARTIFACTS_DIR"


def repo_root() -> Path:
    """The kit's top folder (the package is installed in editable mode from it)."""
    return Path(__file__).resolve().parents[2]  # helpers/kit/paths.py


def artifacts_root() -> Path:
    """The git-ignored folder all notebooks write under (``$KIT_ARTIFACTS_DIR`` overrides)."""
    override = os.environ.get(ARTIFACTS_ENV)
    return Path(override).resolve() if override else repo_root() / "artifacts"


def relative(path: str | os.PathLike[str]) -> Path:
    """``path`` relative to the working directory when possible (no user names in outputs)."""
    try:
        return Path(os.path.relpath(path))
    except ValueError:  # another drive on Windows
        return Path(path)


def notebook_artifacts(notebook: str, *, clean: bool = True) -> Path:
    """The notebook's own folder under ``artifacts/``, emptied first when ``clean``."""
    folder = artifacts_root() / notebook
    if clean and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return relative(folder)


def show(path: str | os.PathLike[str]) -> str:
    """A path for printing: relative to the kit's top folder, with forward slashes."""
    resolved = Path(path).resolve()
    for base in (artifacts_root().parent, repo_root()):
        try:
            return resolved.relative_to(base).as_posix()
        except ValueError:
            continue
    return Path(path).as_posix()


def timestamp(now: dt.datetime | None = None) -> str:
    """``YYYYmmdd-HHMMSS``, the seed's folder-name habit (sorts in time order)."""
    return (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")


def timestamped_dir(
    parent: str | os.PathLike[str], prefix: str, now: dt.datetime | None = None
) -> Path:
    """A new, not yet existing ``parent/prefix_YYYYmmdd-HHMMSS`` (``-2``, ``-3``... on a clash)."""
    candidate = Path(parent) / f"{prefix}_{timestamp(now)}"
    base, suffix = candidate, 2
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{suffix}")
        suffix += 1
    return candidate
