"""Look inside saved artifacts without loading them: files, sizes, roles and signatures.

The first step of every load in the kit: one structural check per kind of artifact, file names
and sizes only (nothing is parsed, nothing imported): :func:`inspect_savedmodel`,
:func:`inspect_keras`, :func:`inspect_checkpoint`. The integrity check
(:mod:`helpers.integrity`, :mod:`helpers.artifacts`) comes next, then the load
(:mod:`helpers.loading`, :mod:`helpers.artifacts`, :mod:`helpers.checkpoints`). The scanner of
notebook 12 (:mod:`helpers.safety`) shares the file checks (:func:`checkpoint_index`,
:func:`checkpoint_data_files`, :func:`checkpoint_prefixes`), never the loading.

Serves notebooks 06, 07 and 09 (and, through the load pipeline, 01-03).
"""

from __future__ import annotations

import glob
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from helpers.errors import ArtifactNotFoundError, CorruptArtifactError, IncompleteArtifactError

SAVEDMODEL_ROLES = {
    "saved_model.pb": "the program: graph functions, signatures, object tree",
    "fingerprint.pb": "64-bit hashes that identify this export; nothing verifies them at load",
    "keras_metadata.pb": "Keras 2 layer metadata (legacy)",
    "variables/variables.index": "table of contents: which variable is where",
    "assets": "extra files the graph reads (vocabularies, label lists)",
    "assets.extra": "files for tools, not read by the graph",
}
KERAS_ROLES = {
    "metadata.json": "Keras version and save date",
    "config.json": "architecture and compile settings (JSON)",
    "model.weights.h5": "weights and optimizer variables (HDF5)",
    "assets": "files of layers that have them (vocabularies)",
}


@dataclass(frozen=True)
class FileEntry:
    """One file of an artifact: its path inside it, its size and what it is for."""

    path: str
    size: int
    role: str


@dataclass(frozen=True)
class TensorSpecInfo:
    """A signature's input or output: key, dtype and shape (``None`` = any size)."""

    key: str
    dtype: str
    shape: tuple[int | None, ...] | None


@dataclass(frozen=True)
class SignatureInfo:
    """One entry of a SavedModel's ``signatures`` mapping."""

    key: str
    inputs: tuple[TensorSpecInfo, ...]
    outputs: tuple[TensorSpecInfo, ...]


def human_size(size: int, decimals: int = 1) -> str:
    """``1536`` -> ``'1.5 KiB'``; never in bytes, whose exact count can vary between saves
    (``fingerprint.pb`` holds variable-length encoded hashes)."""
    value = size / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.{decimals}f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _savedmodel_role(relative: str) -> str:
    if relative in SAVEDMODEL_ROLES:
        return SAVEDMODEL_ROLES[relative]
    if relative.startswith("variables/variables.data-"):
        shard = relative.rsplit("-", 3)
        return f"variable values, shard {int(shard[-3]) + 1} of {int(shard[-1])}"
    top = relative.split("/", 1)[0]
    if top in SAVEDMODEL_ROLES:
        return SAVEDMODEL_ROLES[top]
    return "not part of the SavedModel format"


# --- the structural checks: which files are there ---------------------------------------------

VARIABLES_PREFIX = Path("variables") / "variables"  # a SavedModel's variables: a checkpoint
_SHARD = re.compile(r"\.data-(\d{5})-of-(\d{5})$")


def checkpoint_index(prefix: str | os.PathLike[str]) -> Path:
    """The index file ``<prefix>.index`` of the checkpoint ``prefix``."""
    prefix = Path(prefix)
    return prefix.with_name(prefix.name + ".index")


def checkpoint_data_files(prefix: str | os.PathLike[str]) -> list[Path]:
    """Every file named ``<prefix>.data-*`` (the checkpoint's values), sorted."""
    prefix = Path(prefix)
    return sorted(prefix.parent.glob(f"{glob.escape(prefix.name)}.data-*"))


def checkpoint_prefixes(folder: str | os.PathLike[str]) -> list[Path]:
    """The checkpoint prefixes in ``folder``: one per ``*.index`` file, sorted."""
    return [index.with_suffix("") for index in sorted(Path(folder).glob("*.index"))]


def missing_shards(prefix: str | os.PathLike[str]) -> list[str] | None:
    """The data files ``<prefix>.data-NNNNN-of-MMMMM`` that the present ones' names promise
    but that are absent (``[]``: none is); ``None`` when there is no such file at all."""
    prefix = Path(prefix)
    shards = [
        match
        for file in checkpoint_data_files(prefix)
        if (match := _SHARD.fullmatch(file.name[len(prefix.name) :]))
    ]
    if not shards:
        return None
    total = int(shards[0].group(2))
    present = {int(match.group(1)) for match in shards}
    return [f"{prefix.name}.data-{n:05d}-of-{total:05d}" for n in range(total) if n not in present]


def inspect_savedmodel(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` is a complete SavedModel folder, from its files alone.

    A non-empty ``saved_model.pb``, ``variables/variables.index`` and every
    ``variables.data-*`` shard the shards' names promise. Raises
    :class:`~helpers.errors.ArtifactNotFoundError`, :class:`~helpers.errors.CorruptArtifactError`
    (a file, not a folder) or :class:`~helpers.errors.IncompleteArtifactError`; returns the path.
    """
    path = Path(path)
    if not path.exists():
        raise ArtifactNotFoundError(path, "no such SavedModel folder")
    if not path.is_dir():
        raise CorruptArtifactError(path, "is a file; a SavedModel is a folder")
    graph = path / "saved_model.pb"
    if not graph.is_file():
        present = sorted(child.name for child in path.iterdir()) or ["nothing"]
        raise IncompleteArtifactError(
            path, f"no saved_model.pb, so not a SavedModel (contains: {', '.join(present)})"
        )
    if graph.stat().st_size == 0:
        raise IncompleteArtifactError(path, "saved_model.pb is empty (an interrupted save?)")
    if not checkpoint_index(path / VARIABLES_PREFIX).is_file():
        raise IncompleteArtifactError(path, "variables/variables.index is missing (partial save?)")
    missing = missing_shards(path / VARIABLES_PREFIX)
    if missing is None:
        raise IncompleteArtifactError(
            path, "variables/ has an index but no variables.data-* file (partial copy?)"
        )
    if missing:
        raise IncompleteArtifactError(
            path, f"variables/ lacks {', '.join(missing)} (partial copy?)"
        )
    return path


def inspect_checkpoint(prefix: str | os.PathLike[str]) -> Path:
    """Check that the checkpoint ``prefix`` is complete, from its files alone: a non-empty
    ``<prefix>.index`` and every ``<prefix>.data-*`` shard the shards' names promise.

    Raises :class:`~helpers.errors.IncompleteArtifactError` naming the prefix; returns it.
    (:func:`helpers.checkpoints.resolve` finds the prefix of a folder.)
    """
    prefix = Path(prefix)
    index = checkpoint_index(prefix)
    if not index.is_file() or index.stat().st_size == 0:
        raise IncompleteArtifactError(prefix, f"{index.name} is missing or empty (partial save?)")
    missing = missing_shards(prefix)
    if missing is None:
        raise IncompleteArtifactError(
            prefix, f"data file missing: no {prefix.name}.data-* file (partial save?)"
        )
    if missing:
        raise IncompleteArtifactError(
            prefix, f"data file missing: {', '.join(missing)} (partial save or copy?)"
        )
    return prefix


def _keras_infos(path: str | os.PathLike[str]) -> list[zipfile.ZipInfo]:
    path = Path(path)
    if not path.exists():
        raise ArtifactNotFoundError(path, "no such .keras file")
    if not path.is_file():
        raise CorruptArtifactError(path, "is a folder; a .keras model is a single zip file")
    if not zipfile.is_zipfile(path):
        raise CorruptArtifactError(path, "is not a zip archive, so not a .keras model")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise CorruptArtifactError(path, f"unreadable zip archive ({error})") from error
    names = {info.filename for info in infos}
    missing = {"config.json", "metadata.json"} - names
    if missing:
        raise IncompleteArtifactError(path, f"zip archive lacks {', '.join(sorted(missing))}")
    return infos


def inspect_keras(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` is a ``.keras`` zip archive with its ``config.json`` and
    ``metadata.json``, from the zip directory alone (no member is read); returns the path.

    Raises :class:`~helpers.errors.ArtifactNotFoundError`,
    :class:`~helpers.errors.CorruptArtifactError` or
    :class:`~helpers.errors.IncompleteArtifactError`.
    """
    _keras_infos(path)
    return Path(path)


# --- what the files are for ---------------------------------------------------------------------


def savedmodel_files(path: str | os.PathLike[str]) -> list[FileEntry]:
    """Every file of a SavedModel folder with its size and role, in path order."""
    root = inspect_savedmodel(path)
    entries = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = file.relative_to(root).as_posix()
        entries.append(FileEntry(relative, file.stat().st_size, _savedmodel_role(relative)))
    return entries


def keras_archive_members(path: str | os.PathLike[str]) -> list[FileEntry]:
    """The members of a ``.keras`` zip archive (checked by :func:`inspect_keras`), with their
    sizes and roles."""
    return [
        FileEntry(info.filename, info.file_size, KERAS_ROLES.get(info.filename.split("/")[0], ""))
        for info in _keras_infos(path)
        if not info.is_dir()
    ]


def format_files(entries: list[FileEntry]) -> str:
    """A fixed-width table of :class:`FileEntry` rows with a total.

    The total is rounded to whole units: it moves by a few bytes from one save to the next.
    """
    width = max([len(entry.path) for entry in entries] + [4])
    rows = [
        f"{entry.path:<{width}}  {human_size(entry.size):>10}  {entry.role}" for entry in entries
    ]
    total = sum(entry.size for entry in entries)
    rows.append(f"{'total':<{width}}  {'≈ ' + human_size(total, decimals=0):>10}")
    return "\n".join(rows)


def _tensor_infos(mapping) -> tuple[TensorSpecInfo, ...]:  # protobuf map of TensorInfo
    from tensorflow import dtypes

    infos = []
    for key in sorted(mapping):
        info = mapping[key]
        shape = None
        if not info.tensor_shape.unknown_rank:
            shape = tuple(None if dim.size < 0 else dim.size for dim in info.tensor_shape.dim)
        infos.append(TensorSpecInfo(key, dtypes.as_dtype(info.dtype).name, shape))
    return tuple(infos)


def savedmodel_signatures(path: str | os.PathLike[str]) -> list[SignatureInfo]:
    """The serving signatures of a SavedModel, read from ``saved_model.pb`` without loading it."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    root = inspect_savedmodel(path)
    saved_model = saved_model_pb2.SavedModel()
    try:
        saved_model.ParseFromString((root / "saved_model.pb").read_bytes())
    except DecodeError as error:
        raise CorruptArtifactError(root, f"saved_model.pb is corrupt ({error})") from error
    if not saved_model.meta_graphs:
        raise CorruptArtifactError(root, "saved_model.pb holds no meta graph")
    signature_defs = saved_model.meta_graphs[0].signature_def
    return [
        SignatureInfo(
            key,
            _tensor_infos(signature_defs[key].inputs),
            _tensor_infos(signature_defs[key].outputs),
        )
        for key in sorted(signature_defs)
        if not key.startswith("__")  # internal entries such as __saved_model_init_op
    ]


def format_signatures(signatures: list[SignatureInfo]) -> str:
    """One block per signature: its inputs and outputs with dtype and shape."""

    def spec(info: TensorSpecInfo) -> str:
        shape = "unknown" if info.shape is None else str(tuple(info.shape)).replace("None", "?")
        return f"{info.key}: {info.dtype} {shape.replace(',)', ')')}"

    blocks = []
    for signature in signatures:
        lines = [f"signature {signature.key!r}"]
        lines += [f"  input  {spec(info)}" for info in signature.inputs]
        lines += [f"  output {spec(info)}" for info in signature.outputs]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def keras_config_summary(path: str | os.PathLike[str]) -> dict[str, object]:
    """The class, layer names and Keras version recorded inside a ``.keras`` archive."""
    inspect_keras(path)
    with zipfile.ZipFile(path) as archive:
        try:
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CorruptArtifactError(
                Path(path), f"config.json is not valid JSON ({error})"
            ) from error
    layers = config.get("config", {}).get("layers", [])
    return {
        "class_name": config.get("class_name"),
        "layers": [layer.get("name") for layer in layers],
        "keras_version": metadata.get("keras_version"),
    }
