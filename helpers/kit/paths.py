"""Where things are written: the artifacts folder, timestamped and numbered version folders."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from helpers.errors import ArtifactNotFoundError, IncompleteVersionError

ARTIFACTS_ENV = "KIT_ARTIFACTS_DIR"


def repo_root() -> Path:
    """The kit's top folder (the package is installed in editable mode from it)."""
    return Path(__file__).resolve().parent.parent


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


def version_dirs(base: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """The numbered children ``base/1``, ``base/2``... as ``(number, path)``, lowest first."""
    base = Path(base)
    if not base.is_dir():
        return []
    found = [
        (int(child.name), child)
        for child in base.iterdir()
        if child.is_dir() and child.name.isdigit() and child.name.isascii()
    ]
    return sorted(found)


def next_version_dir(base: str | os.PathLike[str]) -> Path:
    """``base/N`` where N is one more than the highest existing number, complete or not."""
    existing = version_dirs(base)
    number = existing[-1][0] + 1 if existing else 1
    return Path(base) / str(number)


def is_complete_savedmodel(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` holds a non-empty ``saved_model.pb`` and a variables index."""
    path = Path(path)
    graph = path / "saved_model.pb"
    return (
        graph.is_file()
        and graph.stat().st_size > 0
        and (path / "variables" / "variables.index").is_file()
    )


def latest_version(base: str | os.PathLike[str]) -> Path:
    """The highest-numbered *complete* SavedModel version under ``base``.

    Folders that are not plain numbers (``.tmp-3``, ``3.partial``) are never versions; numbered
    folders that are incomplete (being written, or left by a crash) are skipped.
    """
    base = Path(base)
    if not base.exists():
        raise ArtifactNotFoundError(base, "no such folder of model versions")
    if not base.is_dir():
        raise IncompleteVersionError(base, "is a file, not a folder of numbered versions")
    versions = version_dirs(base)
    for _, folder in reversed(versions):
        if is_complete_savedmodel(folder):
            return folder
    if versions:
        skipped = ", ".join(folder.name for _, folder in versions)
        raise IncompleteVersionError(base, f"no complete version (incomplete: {skipped})")
    raise IncompleteVersionError(base, "no numbered version folders (expected 1, 2, ...)")
