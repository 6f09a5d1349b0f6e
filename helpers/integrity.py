"""SHA-256 manifests: write one after a save, verify it before a load.

The manifest is in ``sha256sum`` format (``<hex digest>  <relative path>`` per line), so it can
also be checked without Python: ``cd FOLDER && sha256sum -c MANIFEST.sha256``. For a folder
(SavedModel, checkpoint directory) it lives inside the folder as ``MANIFEST.sha256`` and lists
every other file; for a single file (``.keras``, ``.weights.h5``) it is a sibling
``<name>.sha256``.

Serves notebooks 05, 09 and 13.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from helpers.errors import ArtifactNotFoundError, IntegrityError

MANIFEST_NAME = "MANIFEST.sha256"
CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 hex digest of one file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_path(artifact: str | os.PathLike[str]) -> Path:
    """Where the manifest of ``artifact`` (a folder or a single file) lives."""
    artifact = Path(artifact)
    if artifact.is_dir():
        return artifact / MANIFEST_NAME
    return artifact.with_name(artifact.name + ".sha256")


def hashed_files(artifact: Path) -> dict[str, Path]:
    """The files a manifest lists, ``{relative path: path}``: every file under a folder except
    the manifest itself, or the one file."""
    if artifact.is_dir():
        return {
            file.relative_to(artifact).as_posix(): file
            for file in sorted(artifact.rglob("*"))
            if file.is_file() and file.name != MANIFEST_NAME
        }
    return {artifact.name: artifact}


def write_manifest(artifact: str | os.PathLike[str]) -> Path:
    """Hash every file of ``artifact`` and write its manifest; returns the manifest's path."""
    artifact = Path(artifact)
    if not artifact.exists():
        raise ArtifactNotFoundError(artifact, "nothing to write a manifest for")
    lines = [f"{sha256_file(file)}  {name}\n" for name, file in hashed_files(artifact).items()]
    target = manifest_path(artifact)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text("".join(lines), encoding="utf-8")
    os.replace(temporary, target)  # a reader never sees half a manifest
    return target


def read_manifest(artifact: str | os.PathLike[str]) -> dict[str, str]:
    """The manifest of ``artifact`` as ``{relative path: hex digest}``."""
    artifact = Path(artifact)
    target = manifest_path(artifact)
    if not target.is_file():
        raise IntegrityError(artifact, f"no manifest ({target.name}): cannot verify it")
    entries: dict[str, str] = {}
    for number, line in enumerate(target.read_text(encoding="utf-8").splitlines(), start=1):
        digest, separator, name = line.partition("  ")
        if not separator or len(digest) != 64 or not name:
            raise IntegrityError(artifact, f"{target.name} line {number} is malformed: {line!r}")
        entries[name] = digest
    return entries


def verify_manifest(artifact: str | os.PathLike[str]) -> int:
    """Check ``artifact`` against its manifest; return the number of files verified.

    Raises :class:`~helpers.errors.IntegrityError` naming every changed, missing or unexpected file.
    """
    artifact = Path(artifact)
    if not artifact.exists():
        raise ArtifactNotFoundError(artifact, "no such file or folder to verify")
    expected = read_manifest(artifact)
    actual = hashed_files(artifact)
    problems = [f"missing {name}" for name in expected if name not in actual]
    problems += [f"unexpected {name}" for name in actual if name not in expected]
    problems += [
        f"changed {name}"
        for name, digest in expected.items()
        if name in actual and sha256_file(actual[name]) != digest
    ]
    if problems:
        raise IntegrityError(artifact, "does not match its manifest: " + "; ".join(problems))
    return len(expected)
