"""Loading models from others (notebook 12): a scanner that reads without loading, and a sandbox.

:func:`scan` inspects a ``.keras`` archive, an HDF5 file (``.h5``, ``.weights.h5``), a SavedModel
folder or a TensorFlow checkpoint *without deserializing it*: zip member names and sizes, the
JSON config as plain data, HDF5 metadata through h5py (links, storage layout, declared shapes:
no dataset is read), and ``saved_model.pb`` parsed with the protobuf classes, every function of
its library walked op by op against an allowlist. It returns :class:`Finding` objects with a
severity. Which files make a checkpoint or a SavedModel's variables it learns from
:mod:`helpers.inspection`, the structural checks the kit's loaders share; it never calls a
loader.

:func:`load_in_sandbox` (from :mod:`helpers.kit.sandbox`) loads and calls a model under nsjail. A
scan is a hint; the sandbox is the protection.

Serves notebook 12.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.errors import ArtifactNotFoundError
from helpers.inspection import (
    VARIABLES_PREFIX,
    checkpoint_data_files,
    checkpoint_index,
    checkpoint_prefixes,
)

SEVERITIES = ("info", "warning", "danger")

# Members Keras 3.15 writes into a .keras archive (saving_lib.py); assets/ holds layer assets.
KERAS_MEMBERS = {"config.json", "metadata.json", "model.weights.h5", "model.weights.npz"}
ZIP_MAX_RATIO = 100  # Keras 3.15.1 refuses zip members expanding more than 100x (saving_lib.py)
BOMB_FLOOR_BYTES = 16 << 20  # below 16 MiB, no size is worth a finding
BOMB_MAX_RATIO = 100  # declared bytes over stored bytes
READ_LIMIT_BYTES = 256 << 20  # largest member or file the scanner reads into memory
ALLOCATION_LIMIT_BYTES = 1 << 30  # any op output statically larger than this is flagged
MAX_ITEMS = 200_000  # zip members, HDF5 objects, graph nodes, JSON values: beyond, not inspected
MAX_DEPTH = 200  # nesting of JSON configs and HDF5 groups
MAX_SHOWN = 1_000  # characters of a path or message quoted in a finding: real paths fit whole
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

# Names that have no business in a model's configuration: each was a way around safe_mode
# (CVE-2025-1550, -8747, -9906, CVE-2026-1462) or downloads or loads another file.
DANGEROUS_CONFIG_NAMES = {
    "Lambda": "runs Python bytecode stored in the file",
    "TFSMLayer": "loads a SavedModel from a path named in the file",
    "enable_unsafe_deserialization": "switches safe_mode off",
    "get_file": "downloads a file",
    "load_model": "loads another model",
}
# A string in a config that names a place: a URL, file://, an absolute, home or relative path.
LOCATION = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://|/|~|\.\.?[/\\]|[A-Za-z]:[/\\]|\\\\)")

# The ops `model.export` and `tf.saved_model.save` emit for ordinary models: the kit's own
# exports (the digits MLP, a custom ResNet, a tf.Module with raw variables, a lookup table),
# TensorFlow's saving code (save/restore functions: SaveV2, RestoreV2, MergeV2Checkpoints,
# ShardedFilename, StringJoin, StaticRegexFullMatch; saving/functional_saver.py), and the
# arithmetic of common Keras layers. Any other op is at least a warning.
ALLOWED_OPS = frozenset(
    """
    Abs AddN AddV2 All Any ArgMax ArgMin AssignAddVariableOp AssignSubVariableOp
    AssignVariableOp AvgPool AvgPool3D BatchMatMulV2 BatchMatMulV3 BiasAdd BroadcastArgs
    BroadcastTo Cast Ceil CheckNumerics ConcatV2 Const Conv2D Conv3D Cos Cumsum
    DepthwiseConv2dNative DisableCopyOnRead Einsum Elu Equal Erf Exp ExpandDims Fill Floor
    FloorDiv FloorMod FusedBatchNormV3 GatherV2 Greater GreaterEqual HashTableV2 Identity
    IdentityN IsNan LeakyRelu Less LessEqual Log Log1p LogSoftmax LogicalAnd LogicalNot
    LogicalOr LookupTableFindV2 LookupTableImportV2 LookupTableSizeV2 MatMul Max MaxPool
    MaxPool3D Maximum Mean MergeV2Checkpoints Min Minimum Mod Mul Neg NoOp NotEqual OneHot
    OnesLike Pack Pad PadV2 PartitionedCall Placeholder Pow Prod RandomStandardNormal
    RandomUniform Range Rank ReadVariableOp RealDiv Reciprocal Relu Relu6 Reshape ResizeBilinear
    ResizeNearestNeighbor RestoreV2 Round Rsqrt SaveV2 Select SelectV2 Selu Shape ShapeN
    ShardedFilename Sigmoid Sign Sin Size Slice Softmax Softplus Softsign Split SplitV Sqrt
    Square SquaredDifference Squeeze StatefulPartitionedCall StaticRegexFullMatch StopGradient
    StridedSlice StringJoin Sub Sum Tanh Tile Transpose Unpack VarHandleOp VarIsInitializedOp
    ZerosLike
    """.split()  # noqa: SIM905
)
# Outside the saver and restorer, these write or read checkpoint files (saving code above).
CHECKPOINT_OPS = {"SaveV2": "save", "MergeV2Checkpoints": "save", "RestoreV2": "restore"}
# Ops known to touch files, processes or the network: danger rather than warning.
FILE_OPS = {
    "WriteFile": "writes a file",
    "ReadFile": "reads a file",
    "MatchingFiles": "lists files",
    "DeleteFile": "deletes a file",
    "Save": "writes a checkpoint",
    "SaveSlices": "writes a checkpoint",
    "Restore": "reads a checkpoint",
    "RestoreSlice": "reads a checkpoint",
    "ImmutableConst": "maps a file into memory",
    "InitializeTableFromTextFile": "reads a file",
    "InitializeTableFromTextFileV2": "reads a file",
    "CreateSummaryFileWriter": "writes files",
    "WriteSummary": "writes files",
    "DatasetToTFRecord": "writes a file",
    "LoadDataset": "reads files",
    "DistributedSave": "writes files",
}
# Dataset ops whose names say they read or write files (TFRecordDataset, SaveDatasetV2, ...).
FILE_DATASET = re.compile(
    r"(TFRecord|TextLine|FixedLengthRecord|CSV|Sql|LMDB|Save|Load|Snapshot|Cache|MatchingFiles)"
    r".*Dataset|Dataset.*(TFRecord|Save|Load)"
)
PROCESS_OPS = {
    "PyFunc": "calls Python code of the loading process",
    "PyFuncStateless": "calls Python code of the loading process",
    "EagerPyFunc": "calls Python code of the loading process",
}
SAVEDMODEL_ENTRIES = {
    "saved_model.pb", "saved_model.pbtxt", "fingerprint.pb", "variables", "assets", "assets.extra",
}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One observation: how serious (``info`` < ``warning`` < ``danger``), where, and what."""

    severity: str
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.severity:>7}  {self.where}: {self.what}"


def worst(findings: Iterable[Finding]) -> str:
    """The highest severity among ``findings`` (``"info"`` when there are none)."""
    return max((f.severity for f in findings), key=SEVERITIES.index, default="info")


def scan(path: str | os.PathLike[str], *, allowed: Iterable[str] = ()) -> list[Finding]:
    """Inspect a model file or folder without loading it; findings sorted, worst first.

    The format is picked as Keras and TensorFlow pick it (extension, ``saved_model.pb`` before
    ``.pbtxt``, a ``config.json`` folder); a file two loaders would read differently is reported.
    ``allowed`` lists registered names or prefixes (``"my_team>"``) of custom classes you
    trust; other classes from outside Keras are reported. Never raises on what the file holds:
    what cannot be fully inspected is a warning. Raises
    :class:`~helpers.errors.ArtifactNotFoundError` only for a path that does not exist.
    """
    path = Path(path)
    if not path.exists() and not checkpoint_index(path).exists():
        raise ArtifactNotFoundError(path, "does not exist")
    findings: list[Finding] = []
    try:
        for finding in _scan(path, tuple(allowed)):
            findings.append(finding)
            if len(findings) > MAX_ITEMS:
                findings.append(Finding("warning", path.name, "too many findings: stopped"))
                break
    except (Exception, RecursionError) as error:  # hostile input: never a crash, a warning
        findings.append(
            Finding("warning", path.name, f"not fully inspected: {type(error).__name__}: "
                    f"{_clipped(str(error))}")
        )  # fmt: skip
    return sorted(set(findings), key=lambda f: (-SEVERITIES.index(f.severity), f.where, f.what))


def _clipped(text: str | bytes) -> str | bytes:
    """Quote text whole up to MAX_SHOWN: a cut path would hide where a file writes."""
    if len(text) <= MAX_SHOWN:
        return text
    marker = f"... ({len(text) - MAX_SHOWN} more)"
    return text[:MAX_SHOWN] + (marker.encode() if isinstance(text, bytes) else marker)


def _scan(path: Path, allow: tuple[str, ...]) -> Iterator[Finding]:
    if path.is_dir():
        yield from _scan_folder(path, allow)
        return
    if not path.exists():  # a checkpoint prefix: name.index and name.data-*
        yield from _scan_checkpoint(path)
        return
    name = path.name.lower()
    is_zip = zipfile.is_zipfile(path)
    is_hdf5 = _is_hdf5(path)
    if is_zip and is_hdf5:
        yield Finding("danger", path.name, "both a zip archive and an HDF5 file (a polyglot): "
                      "different loaders read different contents")  # fmt: skip
    if name.endswith((".h5", ".hdf5")):  # Keras: legacy HDF5 loader or load_weights
        if not is_hdf5:
            yield Finding("warning", path.name, "named .h5 but not an HDF5 file: Keras refuses it")
    elif name.endswith(".keras"):  # Keras: a zip archive, else refused
        if not is_zip:
            yield Finding("warning", path.name, "named .keras but not a zip archive: Keras "
                          "refuses it")  # fmt: skip
    elif checkpoint_index(path).is_file():
        yield from _scan_checkpoint(path)
        return
    elif is_zip or is_hdf5:
        yield Finding("warning", path.name, "an extension Keras's load_model does not accept")
    if is_zip:
        yield from _scan_keras_archive(path, allow)
    if is_hdf5:
        yield from _scan_hdf5(path, path.name, allow)
    if not is_zip and not is_hdf5:
        yield Finding("warning", path.name, "not a .keras archive, HDF5 file, SavedModel or "
                      "checkpoint: not inspected")  # fmt: skip


def _is_hdf5(path: Path) -> bool:
    """HDF5's signature at 0, 512, 1024, 2048, ... (where the format lets the superblock sit)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        offset = 0
        while offset + 8 <= size:
            handle.seek(offset)
            if handle.read(8) == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def _scan_folder(folder: Path, allow: tuple[str, ...]) -> Iterator[Finding]:
    """A SavedModel (as TensorFlow picks it), a Keras folder (config.json) or checkpoints."""
    pb, pbtxt, cpb = (folder / f"saved_model.{ext}" for ext in ("pb", "pbtxt", "cpb"))
    known = False
    if pb.is_file() or pbtxt.is_file() or cpb.is_file():
        known = True
        yield from _scan_savedmodel(folder)
    if (folder / "config.json").is_file():  # keras.models.load_model reads such a folder
        known = True
        yield Finding("info" if not pb.is_file() else "warning", "config.json",
                      "a Keras model folder (load_model reads it)")  # fmt: skip
        yield from _scan_keras_folder(folder, allow)
    if not known:
        if not checkpoint_prefixes(folder):
            yield Finding("warning", folder.name, "neither a SavedModel, a Keras folder nor a "
                          "checkpoint: not inspected")  # fmt: skip
            return
        yield from _scan_checkpoint_dir(folder)


# --- .keras archives and configs ------------------------------------------------------------


def _scan_keras_archive(path: Path, allow: tuple[str, ...]) -> Iterator[Finding]:
    import io

    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if len(members) > MAX_ITEMS:
            yield Finding("warning", path.name, f"{len(members):,} members: not inspected")
            return
        names = [info.filename for info in members]
        for name in sorted({n for n in names if names.count(n) > 1}):
            yield Finding("danger", name, "appears more than once: readers may pick different ones")
        for info in members:
            name = info.filename
            parts = Path(name).parts
            if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
                yield Finding("danger", name, "member name escapes the archive (absolute or ..)")
            elif name not in KERAS_MEMBERS and not name.startswith("assets/"):
                yield Finding("warning", name, "member Keras does not write")
            if info.file_size > BOMB_FLOOR_BYTES and info.file_size > ZIP_MAX_RATIO * max(
                info.compress_size, 1
            ):
                yield Finding(
                    "danger",
                    name,
                    f"expands {info.file_size / max(info.compress_size, 1):,.0f}x "
                    f"({info.file_size:,} bytes): a decompression bomb",
                )
                continue
            wanted = name == "config.json" or name.endswith(".h5")
            if wanted and info.file_size > READ_LIMIT_BYTES:
                yield Finding("warning", name, f"{info.file_size:,} bytes: too big, not inspected")
            elif name == "config.json":
                yield from _scan_config_text(archive.read(info), name, allow)
            elif name.endswith(".h5"):
                yield from _scan_hdf5(io.BytesIO(archive.read(info)), name, allow)
        if "config.json" not in names:
            yield Finding("warning", path.name, "no config.json: not a Keras 3 archive")


def _scan_keras_folder(folder: Path, allow: tuple[str, ...]) -> Iterator[Finding]:
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            yield Finding("danger", entry.name, f"symbolic link to {os.readlink(entry)}")
        elif entry.name == "config.json" and entry.stat().st_size <= READ_LIMIT_BYTES:
            yield from _scan_config_text(entry.read_bytes(), entry.name, allow)
        elif entry.name.endswith(".h5") and entry.is_file():
            yield from _scan_hdf5(entry, entry.name, allow)


def _scan_config_text(text: bytes | str, where: str, allow: tuple[str, ...]) -> Iterator[Finding]:
    try:
        config = json.loads(text)
    except (ValueError, RecursionError) as error:
        yield Finding("warning", where, f"not valid JSON, not inspected ({_clipped(str(error))})")
    else:
        yield from _scan_config(config, where, allow)


def _scan_config(root: Any, where: str, allow: tuple[str, ...]) -> Iterator[Finding]:
    """Walk a Keras config as plain JSON data; nothing is imported or called."""
    pending: list[tuple[Any, str, int]] = [(root, "", 0)]
    seen = 0
    while pending:
        node, trail, depth = pending.pop()
        seen += 1
        if seen > MAX_ITEMS or depth > MAX_DEPTH:
            yield Finding("warning", where, "too large or too deeply nested: not fully inspected")
            return
        here = f"{where}:{trail or '/'}"
        if isinstance(node, dict):
            yield from _config_node(node, here, allow)
            pending += [(value, f"{trail}/{key}", depth + 1) for key, value in node.items()]
        elif isinstance(node, list):
            pending += [(value, f"{trail}/{index}", depth + 1) for index, value in enumerate(node)]
        elif isinstance(node, str) and LOCATION.match(node):
            yield Finding("warning", here, f"names a file or remote location {_clipped(node)!r}")


def _config_node(node: dict, here: str, allow: tuple[str, ...]) -> Iterator[Finding]:
    class_name = node.get("class_name")
    module = node.get("module")
    registered = node.get("registered_name")
    for name in (class_name, registered, node.get("config") if class_name == "function" else None):
        if isinstance(name, str) and name in DANGEROUS_CONFIG_NAMES:
            yield Finding("danger", here, f"names {name}: {DANGEROUS_CONFIG_NAMES[name]}")
    if isinstance(module, str) and not (module == "keras" or module.startswith("keras.")):
        name = registered if isinstance(registered, str) else f"{module}.{class_name}"
        if not any(name == a or (a.endswith(">") and name.startswith(a)) for a in allow):
            severity = "danger" if class_name in ("function", "__lambda__") else "warning"
            yield Finding(
                severity,
                here,
                f"{class_name} from module {module!r} (not Keras, not allowed): the loader "
                "must import code for it",
            )


# --- HDF5 -----------------------------------------------------------------------------------


def _scan_hdf5(source: Any, where: str, allow: tuple[str, ...]) -> Iterator[Finding]:
    """Links, storage and declared sizes through h5py metadata calls; no dataset is read."""
    import h5py

    try:
        handle = h5py.File(source, "r")
    except (OSError, ValueError) as error:
        yield Finding("warning", where, f"not a readable HDF5 file ({error})")
        return
    with handle:
        for key in ("model_config", "training_config"):
            text = handle.attrs.get(key)
            if isinstance(text, bytes | str):
                yield from _scan_config_text(text, f"{where}:@{key}", allow)
        yield from _walk_hdf5(handle, where)


def _walk_hdf5(root: Any, where: str) -> Iterator[Finding]:
    import h5py

    pending, seen = [(root, 0)], 0
    while pending:
        group, depth = pending.pop()
        if depth > MAX_DEPTH:
            yield Finding("warning", where, "groups nested too deeply: not fully inspected")
            return
        for name in group:
            seen += 1
            if seen > MAX_ITEMS:
                yield Finding("warning", where, "too many objects: not fully inspected")
                return
            link = group.get(name, getlink=True)
            here = f"{where}:{group.name.rstrip('/')}/{name}"
            if isinstance(link, h5py.ExternalLink):
                yield Finding("danger", here, f"external link to {link.filename}:{link.path}")
                continue
            if isinstance(link, h5py.SoftLink):
                yield Finding("danger", here, f"soft link to {link.path}")
                continue
            item = group[name]
            if isinstance(item, h5py.Group):
                pending.append((item, depth + 1))
            elif isinstance(item, h5py.Dataset):
                yield from _hdf5_dataset(item, here)


def _hdf5_dataset(item: Any, here: str) -> Iterator[Finding]:
    import h5py

    if item.external:
        files = sorted({str(entry[0]) for entry in item.external})
        yield Finding("danger", here, f"stores its bytes in other files: {files}")
        return
    if item.is_virtual:
        sources = sorted({source.file_name for source in item.virtual_sources()})
        yield Finding("danger", here, f"virtual dataset mapping {sources}")
        return
    declared = math.prod(item.shape or ()) * item.dtype.itemsize
    stored = item.id.get_storage_size()
    if declared > BOMB_FLOOR_BYTES and declared > BOMB_MAX_RATIO * max(stored, 1):
        yield Finding(
            "danger",
            here,
            f"declares {declared:,} bytes but stores {stored:,}: reading it allocates them",
        )
    if item.dtype.kind == "O" or h5py.check_dtype(ref=item.dtype) is not None:
        yield Finding("warning", here, f"holds objects or references ({item.dtype})")


# --- SavedModel -----------------------------------------------------------------------------


def _scan_savedmodel(folder: Path) -> Iterator[Finding]:
    """The protocol buffer TensorFlow's loader reads: saved_model.pb, else saved_model.pbtxt."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    yield from _scan_folder_files(folder, SAVEDMODEL_ENTRIES)
    pb, pbtxt = folder / "saved_model.pb", folder / "saved_model.pbtxt"
    if not pb.is_file() and not pbtxt.is_file():
        yield Finding("warning", "saved_model.cpb", "a chunked SavedModel: not inspected")
        return
    if pb.is_file() and pbtxt.is_file():
        yield Finding("warning", "saved_model.pbtxt", "beside saved_model.pb, which TensorFlow "
                      "loads instead: a decoy, both inspected")  # fmt: skip
    for source in (pb, pbtxt):
        if not source.is_file():
            continue
        if source.stat().st_size > READ_LIMIT_BYTES * 4:
            yield Finding("warning", source.name, "too big: not inspected")
            continue
        proto = saved_model_pb2.SavedModel()
        try:
            if source is pb:
                proto.ParseFromString(source.read_bytes())
            else:
                text_format.Parse(source.read_text(errors="replace"), proto)
        except Exception as error:  # protobuf's DecodeError, ParseError
            yield Finding("danger", source.name, f"does not parse ({_clipped(str(error))})")
            continue
        for meta_graph in proto.meta_graphs:
            yield from _scan_graph(meta_graph)
    if checkpoint_index(folder / VARIABLES_PREFIX).is_file():
        yield from _scan_checkpoint(folder / VARIABLES_PREFIX, label="variables/")


def _scan_folder_files(folder: Path, expected: set[str]) -> Iterator[Finding]:
    for entry in sorted(folder.rglob("*")):
        relative = entry.relative_to(folder).as_posix()
        if entry.is_symlink():
            yield Finding("danger", relative, f"symbolic link to {os.readlink(entry)}")
        elif entry.parent == folder and entry.name not in expected:
            yield Finding("info", relative, "not part of a SavedModel (the loader ignores it)")


def _saver_functions(meta_graph: Any) -> dict[str, str]:
    """The functions the graph's SaverDef names: {function name: "save" or "restore"}."""
    saver = meta_graph.saver_def
    wanted = {saver.save_tensor_name.split(":")[0]: "save", saver.restore_op_name: "restore"}
    found = {}
    for node in meta_graph.graph_def.node:
        if node.name in wanted and node.op in ("StatefulPartitionedCall", "PartitionedCall"):
            found[node.attr["f"].func.name] = wanted[node.name]
    return found


def _scan_graph(meta_graph: Any) -> Iterator[Finding]:
    from tensorflow.python.framework import op_def_registry

    functions = meta_graph.graph_def.library.function
    nodes_total = len(meta_graph.graph_def.node) + sum(len(f.node_def) for f in functions)
    if nodes_total > MAX_ITEMS:
        yield Finding("warning", "graph", f"{nodes_total:,} nodes: not inspected")
        return
    library = {function.signature.name: function for function in functions}
    at_load = load_time_functions(meta_graph, library)
    if at_load:
        yield Finding(
            "info",
            "object graph",
            f"{len(at_load)} function(s) run by tf.saved_model.load itself (resource "
            "initializers and what they call)",
        )
    savers = _saver_functions(meta_graph)
    bodies = [("graph", list(meta_graph.graph_def.node), None)]
    bodies += [(name, list(function.node_def), function) for name, function in library.items()]
    for name, nodes, function in bodies:
        when = "at load time" if name in at_load else "when called"
        for node in nodes:
            op, here = node.op, f"{name}/{node.name}"
            if op in library:
                continue  # a call of a library function, walked on its own
            if op in FILE_OPS or FILE_DATASET.search(op):
                yield Finding("danger", here, f"{op} {FILE_OPS.get(op, 'touches files')} {when}")
            elif op in PROCESS_OPS:
                yield Finding("danger", here, f"{op} {PROCESS_OPS[op]} {when}")
            elif op in CHECKPOINT_OPS:
                yield from _checkpoint_op(node, here, function, savers.get(name), name in at_load)
            elif op == "PrintV2":
                stream = node.attr["output_stream"].s.decode(errors="replace")
                if stream.startswith("file://"):
                    yield Finding("danger", here, f"PrintV2 appends to {stream} {when}")
                else:
                    yield Finding("warning", here, f"PrintV2 to {stream} {when}")
            elif op_def_registry.get(op) is None:
                yield Finding("danger", here, f"op {op} is not a TensorFlow op (a custom kernel)")
            elif op not in ALLOWED_OPS:
                yield Finding("warning", here, f"op {op} is not among the ops ordinary exports "
                              f"use ({when})")  # fmt: skip
            if op == "Const":
                for value in node.attr["value"].tensor.string_val:
                    if LOCATION.match(value.decode(errors="replace")):
                        yield Finding("warning", here, f"constant names {_clipped(value)!r}")
    yield from _static_sizes(meta_graph, library)


def _checkpoint_op(
    node: Any, here: str, function: Any, role: str | None, at_load: bool
) -> Iterator[Finding]:
    """SaveV2/MergeV2Checkpoints only in the saver, RestoreV2 only in the restorer, with the
    file prefix coming from the function's argument (the path the caller gives)."""
    if at_load or role != CHECKPOINT_OPS[node.op] or function is None:
        yield Finding("danger", here, f"{node.op} outside the SavedModel's own "
                      f"{CHECKPOINT_OPS[node.op]} function (reads or writes checkpoint files"
                      f"{' at load time' if at_load else ''})")  # fmt: skip
        return
    arguments = {arg.name for arg in function.signature.input_arg[:1]}
    body = {n.name: n for n in function.node_def}
    pending, seen, from_argument = [node.input[0]] if node.input else [], set(), False
    while pending:
        source = pending.pop().lstrip("^").split(":")[0]
        if source in seen:
            continue
        seen.add(source)
        if source in arguments:
            from_argument = True
        elif source in body:
            pending += list(body[source].input)
    if not from_argument:
        yield Finding("danger", here, f"{node.op} with a file prefix that is not the path the "
                      "caller gives: a fixed location")  # fmt: skip


def _static_sizes(meta_graph: Any, library: dict[str, Any]) -> Iterator[Finding]:
    """Any op whose output TensorFlow's shape inference knows to exceed the bound."""
    import tensorflow as tf
    from tensorflow.python.framework import function_def_to_graph

    for node in meta_graph.graph_def.node:
        if node.op == "Const":
            dims = [d.size for d in node.attr["value"].tensor.tensor_shape.dim]
            size = math.prod(dims) * tf.as_dtype(node.attr["dtype"].type).size
            if size > ALLOCATION_LIMIT_BYTES:
                yield Finding("danger", f"graph/{node.name}", f"a constant of {size:,} bytes")
    base = tf.Graph()  # holds the library, so that calls between functions resolve
    holder = tf.compat.v1.GraphDef()
    holder.library.CopyFrom(meta_graph.graph_def.library)
    holder.versions.CopyFrom(meta_graph.graph_def.versions)
    try:
        with base.as_default():
            tf.graph_util.import_graph_def(holder, name="")
    except Exception as error:  # a library TensorFlow itself would not import
        yield Finding("warning", "library", f"does not import ({type(error).__name__}): "
                      "sizes not inspected")  # fmt: skip
        return
    for name, function in library.items():
        try:
            with base.as_default():
                graph = function_def_to_graph.function_def_to_graph(function)
        except Exception as error:  # a body TensorFlow itself would not import
            yield Finding("warning", name, f"shapes not inferred ({type(error).__name__}): "
                          "not fully inspected")  # fmt: skip
            continue
        for operation in graph.get_operations():
            for output in operation.outputs:
                shape = output.shape
                if not shape.is_fully_defined() or output.dtype == tf.resource:
                    continue
                size = shape.num_elements() * max(output.dtype.size, 1)
                if size > ALLOCATION_LIMIT_BYTES:
                    yield Finding("danger", f"{name}/{operation.name}",
                                  f"{operation.type} makes a tensor of {size:,} bytes")  # fmt: skip


def load_time_functions(meta_graph: Any, library: dict[str, Any]) -> set[str]:
    """Functions run during ``tf.saved_model.load``: resource initializers and their callees."""
    nodes = meta_graph.object_graph_def.nodes
    roots: set[str] = set()
    for node in nodes:
        if node.WhichOneof("kind") != "resource":
            continue
        for child in node.children:
            if child.local_name in ("_create_resource", "_initialize"):
                function = nodes[child.node_id]
                if function.WhichOneof("kind") == "function":
                    roots.update(function.function.concrete_functions)
    reached: set[str] = set()
    pending = [name for name in roots if name in library]
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        for node in library[name].node_def:
            called = [node.op] + [value.func.name for value in node.attr.values()]
            pending += [c for c in called if c in library and c not in reached]
    return reached


# --- checkpoints ----------------------------------------------------------------------------


def _scan_checkpoint_dir(folder: Path) -> Iterator[Finding]:
    state = folder / "checkpoint"
    for entry in sorted(folder.rglob("*")):
        if entry.is_symlink():
            yield Finding("danger", entry.name, f"symbolic link to {os.readlink(entry)}")
    seen: set[str] = set()
    if state.is_file() and state.stat().st_size <= READ_LIMIT_BYTES:
        for line in state.read_text(errors="replace").splitlines():
            match = re.search(r'"(.*)"', line)
            target = match.group(1) if match else ""
            if (target.startswith("/") or ".." in Path(target).parts) and target not in seen:
                seen.add(target)
                yield Finding("warning", "checkpoint", f"points outside the folder: {target}")
    for prefix in checkpoint_prefixes(folder):
        yield from _scan_checkpoint(prefix, label=prefix.name)


def _scan_checkpoint(prefix: Path, label: str | None = None) -> Iterator[Finding]:
    """Declared variable sizes (from the index) against the bytes in the data files."""
    import tensorflow as tf

    label = label or prefix.name
    data_files = checkpoint_data_files(prefix)
    for entry in [checkpoint_index(prefix), *data_files]:
        if entry.is_symlink():
            yield Finding("danger", entry.name, f"symbolic link to {os.readlink(entry)}")
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    except Exception as error:  # tf.errors.* for a damaged index
        yield Finding("danger", label, f"index does not parse ({type(error).__name__})")
        return
    declared = sum(
        math.prod(shape) * (dtypes[name].size if dtypes[name] != tf.string else 0)
        for name, shape in shapes.items()
    )
    stored = sum(p.stat().st_size for p in data_files)
    if declared > stored:
        severity = "danger" if declared > BOMB_FLOOR_BYTES else "warning"
        yield Finding(
            severity, label, f"variables declare {declared:,} bytes, data holds {stored:,}"
        )


# --- the sandbox (helpers.kit.sandbox) ---------------------------------------------------------

from helpers.kit.sandbox import (  # noqa: E402  (notebook 12 calls them as safety.*)
    SandboxRun,
    SandboxUnavailable,
    load_in_sandbox,
    sandbox_unavailable,
)

__all__ = [
    "Finding",
    "SandboxRun",
    "SandboxUnavailable",
    "load_in_sandbox",
    "sandbox_unavailable",
    "scan",
    "worst",
]
