"""Look inside saved artifacts without loading them: files, sizes, roles and signatures."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from helpers.errors import ArtifactNotFoundError, NotAKerasArchiveError, NotASavedModelError

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


def require_savedmodel(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` is a SavedModel folder; raise a clear error if it is not."""
    path = Path(path)
    if not path.exists():
        raise ArtifactNotFoundError(path, "no such SavedModel folder")
    if not path.is_dir():
        raise NotASavedModelError(path, "is a file; a SavedModel is a folder")
    graph = path / "saved_model.pb"
    if not graph.is_file():
        present = sorted(child.name for child in path.iterdir()) or ["nothing"]
        raise NotASavedModelError(
            path, f"no saved_model.pb, so not a SavedModel (contains: {', '.join(present)})"
        )
    if graph.stat().st_size == 0:
        raise NotASavedModelError(path, "saved_model.pb is empty (an interrupted save?)")
    if not (path / "variables" / "variables.index").is_file():
        raise NotASavedModelError(path, "variables/variables.index is missing (partial save?)")
    return path


def savedmodel_files(path: str | os.PathLike[str]) -> list[FileEntry]:
    """Every file of a SavedModel folder with its size and role, in path order."""
    root = require_savedmodel(path)
    entries = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = file.relative_to(root).as_posix()
        entries.append(FileEntry(relative, file.stat().st_size, _savedmodel_role(relative)))
    return entries


def keras_archive_members(path: str | os.PathLike[str]) -> list[FileEntry]:
    """The members of a ``.keras`` zip archive, with their sizes and roles."""
    path = Path(path)
    if not path.exists():
        raise ArtifactNotFoundError(path, "no such .keras file")
    if not path.is_file():
        raise NotAKerasArchiveError(path, "is a folder; a .keras model is a single zip file")
    if not zipfile.is_zipfile(path):
        raise NotAKerasArchiveError(path, "is not a zip archive, so not a .keras model")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise NotAKerasArchiveError(path, f"unreadable zip archive ({error})") from error
    names = {info.filename for info in infos}
    missing = {"config.json", "metadata.json"} - names
    if missing:
        raise NotAKerasArchiveError(path, f"zip archive lacks {', '.join(sorted(missing))}")
    return [
        FileEntry(info.filename, info.file_size, KERAS_ROLES.get(info.filename.split("/")[0], ""))
        for info in infos
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

    root = require_savedmodel(path)
    saved_model = saved_model_pb2.SavedModel()
    try:
        saved_model.ParseFromString((root / "saved_model.pb").read_bytes())
    except DecodeError as error:
        raise NotASavedModelError(root, f"saved_model.pb is corrupt ({error})") from error
    if not saved_model.meta_graphs:
        raise NotASavedModelError(root, "saved_model.pb holds no meta graph")
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
    keras_archive_members(path)  # validates
    with zipfile.ZipFile(path) as archive:
        try:
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise NotAKerasArchiveError(
                Path(path), f"config.json is not valid JSON ({error})"
            ) from error
    layers = config.get("config", {}).get("layers", [])
    return {
        "class_name": config.get("class_name"),
        "layers": [layer.get("name") for layer in layers],
        "keras_version": metadata.get("keras_version"),
    }
