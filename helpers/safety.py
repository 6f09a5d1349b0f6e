"""Loading models from others (notebook 12): a scanner that reads without loading, and a sandbox.

:func:`scan` inspects a ``.keras`` archive, an HDF5 file (``.h5``, ``.weights.h5``), a SavedModel
folder or a TensorFlow checkpoint *without deserializing it*: zip member names and sizes, the
JSON config as plain data, HDF5 metadata through h5py (links, storage layout, declared shapes:
no dataset is read), and ``saved_model.pb`` parsed with the protobuf classes, every function of
its library walked op by op. It returns :class:`Finding` objects with a severity.

:func:`load_in_sandbox` loads and calls a model in a child process with no network, a read-only
view of every file but a scratch folder, no home folder, and limits on memory, CPU time and file
size (Linux, via ``unshare``; see :mod:`helpers.sandbox_child`). A scan is a hint; the sandbox is
the protection.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helpers.errors import ArtifactError

SEVERITIES = ("info", "warning", "danger")

# Members Keras 3.15 writes into a .keras archive (saving_lib.py); assets/ holds layer assets.
KERAS_MEMBERS = {"config.json", "metadata.json", "model.weights.h5", "model.weights.npz"}
ZIP_MAX_RATIO = 100  # Keras 3.15.1 refuses zip members expanding more than 100x (saving_lib.py)
BOMB_FLOOR_BYTES = 16 << 20  # below 16 MiB, no size is worth a finding
BOMB_MAX_RATIO = 100  # declared bytes over stored bytes
READ_LIMIT_BYTES = 256 << 20  # largest archive member the scanner reads into memory

# Names that have no business in a model's configuration: each was a way around safe_mode
# (CVE-2025-1550, -8747, -9906, CVE-2026-1462) or reads files and URLs (CVE-2025-12058).
DANGEROUS_CONFIG_NAMES = {
    "Lambda": "runs Python bytecode stored in the file",
    "TFSMLayer": "loads a SavedModel from a path named in the file",
    "enable_unsafe_deserialization": "switches safe_mode off",
    "get_file": "downloads a file",
    "load_model": "loads another model",
    "StringLookup": "may read a vocabulary file or URL named in the file",
}
# TensorFlow ops that touch files, processes or the network, by what they do.
FILE_OPS = {
    "WriteFile": "writes a file",
    "ReadFile": "reads a file",
    "MatchingFiles": "lists files",
    "DeleteFile": "deletes a file",
    "Save": "writes a checkpoint",
    "SaveSlices": "writes a checkpoint",
    "ImmutableConst": "maps a file into memory",
    "TFRecordDataset": "reads files",
    "TFRecordDatasetV2": "reads files",
    "TextLineDataset": "reads files",
    "FixedLengthRecordDataset": "reads files",
    "DatasetToTFRecord": "writes a file",
    "SaveDataset": "writes files",
    "SaveDatasetV2": "writes files",
    "CreateSummaryFileWriter": "writes files",
    "WriteSummary": "writes files",
    "InitializeTableFromTextFile": "reads a file",
    "InitializeTableFromTextFileV2": "reads a file",
}
PROCESS_OPS = {
    "PyFunc": "calls Python code of the loading process",
    "PyFuncStateless": "calls Python code of the loading process",
    "EagerPyFunc": "calls Python code of the loading process",
}
# Every SavedModel saves and restores its own variables with these, inside two functions.
CHECKPOINT_OPS = {"SaveV2", "RestoreV2", "MergeV2Checkpoints"}
CHECKPOINT_FUNCTIONS = re.compile(r"_traced_(save|restore)_\d+$")
ALLOCATING_OPS = {"Fill", "Zeros", "Ones", "RandomUniform", "RandomStandardNormal", "Empty"}
REMOTE_PATH = re.compile(rb"^(gs|s3|hdfs|https?|ftp)://", re.IGNORECASE)
SAVEDMODEL_ENTRIES = {"saved_model.pb", "fingerprint.pb", "variables", "assets", "assets.extra"}


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

    ``allowed`` lists registered names or prefixes (``"my_team>"``) of custom classes you
    trust; other classes from outside Keras are reported. Raises :class:`ArtifactError` for a
    path that does not exist or is not a format the scanner knows.
    """
    path = Path(path)
    allow = tuple(allowed)
    if not path.exists() and not Path(f"{path}.index").exists():
        raise ArtifactError(path, "does not exist")
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            findings = list(_scan_savedmodel(path))
        else:
            findings = list(_scan_checkpoint_dir(path))
    elif Path(f"{path}.index").is_file():
        findings = list(_scan_checkpoint(path))
    elif zipfile.is_zipfile(path):
        findings = list(_scan_keras_archive(path, allow))
    elif path.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n":
        findings = list(_scan_hdf5_file(path, allow))
    else:
        raise ArtifactError(path, "not a .keras archive, HDF5 file, SavedModel or checkpoint")
    return sorted(findings, key=lambda f: (-SEVERITIES.index(f.severity), f.where))


# --- .keras archives and configs ------------------------------------------------------------


def _scan_keras_archive(path: Path, allow: tuple[str, ...]) -> Iterator[Finding]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
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
            if name == "config.json" and info.file_size <= READ_LIMIT_BYTES:
                try:
                    config = json.loads(archive.read(info))
                except ValueError as error:
                    yield Finding("warning", name, f"not valid JSON ({error})")
                else:
                    yield from _scan_config(config, name, allow)
            elif name.endswith(".h5") and info.file_size <= READ_LIMIT_BYTES:
                import io

                yield from _scan_hdf5(io.BytesIO(archive.read(info)), name, allow)
        if "config.json" not in archive.namelist():
            yield Finding("warning", path.name, "no config.json: not a Keras 3 archive")


def _scan_config(
    node: Any, where: str, allow: tuple[str, ...], trail: str = ""
) -> Iterator[Finding]:
    """Walk a Keras config as plain JSON data; nothing is imported or called."""
    if isinstance(node, dict):
        class_name = node.get("class_name")
        module = node.get("module")
        registered = node.get("registered_name")
        here = f"{where}:{trail or '/'}"
        for name in (
            class_name,
            registered,
            node.get("config") if class_name == "function" else None,
        ):
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
        for key, value in node.items():
            yield from _scan_config(value, where, allow, f"{trail}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _scan_config(value, where, allow, f"{trail}/{index}")
    elif isinstance(node, str) and REMOTE_PATH.match(node.encode()):
        yield Finding("warning", f"{where}:{trail}", f"names a remote location {node!r}")


# --- HDF5 -----------------------------------------------------------------------------------


def _scan_hdf5_file(path: Path, allow: tuple[str, ...]) -> Iterator[Finding]:
    yield from _scan_hdf5(path, path.name, allow)


def _scan_hdf5(source: Any, where: str, allow: tuple[str, ...]) -> Iterator[Finding]:
    """Links, storage and declared sizes through h5py metadata calls; no dataset is read."""
    import h5py

    try:
        handle = h5py.File(source, "r")
    except OSError as error:
        yield Finding("warning", where, f"not a readable HDF5 file ({error})")
        return
    with handle:
        for key in ("model_config", "training_config"):
            text = handle.attrs.get(key)
            if isinstance(text, bytes | str):
                try:
                    config = json.loads(text)
                except ValueError:
                    yield Finding("warning", f"{where}:@{key}", "attribute is not valid JSON")
                else:
                    yield from _scan_config(config, f"{where}:@{key}", allow)
        yield from _walk_hdf5(handle, where)


def _walk_hdf5(group: Any, where: str) -> Iterator[Finding]:
    import h5py

    for name in group:
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
            yield from _walk_hdf5(item, where)
            continue
        if not isinstance(item, h5py.Dataset):
            continue
        if item.external:
            files = sorted({str(entry[0]) for entry in item.external})
            yield Finding("danger", here, f"stores its bytes in other files: {files}")
            continue
        if item.is_virtual:
            sources = sorted({source.file_name for source in item.virtual_sources()})
            yield Finding("danger", here, f"virtual dataset mapping {sources}")
            continue
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
    from tensorflow.core.protobuf import saved_model_pb2

    yield from _scan_folder_files(folder, SAVEDMODEL_ENTRIES)
    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString((folder / "saved_model.pb").read_bytes())
    except Exception as error:  # protobuf's DecodeError
        yield Finding("danger", "saved_model.pb", f"does not parse ({error})")
        return
    for meta_graph in proto.meta_graphs:
        yield from _scan_graph(meta_graph)
    if (folder / "variables" / "variables.index").is_file():
        yield from _scan_checkpoint(folder / "variables" / "variables", label="variables/")


def _scan_folder_files(folder: Path, expected: set[str]) -> Iterator[Finding]:
    for entry in sorted(folder.rglob("*")):
        relative = entry.relative_to(folder).as_posix()
        if entry.is_symlink():
            yield Finding("danger", relative, f"symbolic link to {os.readlink(entry)}")
        elif entry.parent == folder and entry.name not in expected:
            yield Finding("info", relative, "not part of a SavedModel (the loader ignores it)")


def _scan_graph(meta_graph: Any) -> Iterator[Finding]:
    from tensorflow.python.framework import op_def_registry

    library = {
        function.signature.name: function for function in meta_graph.graph_def.library.function
    }
    at_load = load_time_functions(meta_graph, library)
    if at_load:
        yield Finding(
            "info",
            "object graph",
            f"{len(at_load)} function(s) run by tf.saved_model.load itself (resource "
            "initializers and what they call)",
        )
    bodies = [("graph", list(meta_graph.graph_def.node))]
    bodies += [(name, list(function.node_def)) for name, function in library.items()]
    for name, nodes in bodies:
        when = "at load time" if name in at_load else "when called"
        raise_to = "danger"
        constants = {node.name: node for node in nodes if node.op == "Const"}
        for node in nodes:
            op = node.op
            here = f"{name}/{node.name}"
            if op in FILE_OPS:
                yield Finding(raise_to, here, f"{op} {FILE_OPS[op]} {when}")
            elif op in PROCESS_OPS:
                yield Finding(raise_to, here, f"{op} {PROCESS_OPS[op]} {when}")
            elif op in CHECKPOINT_OPS and not CHECKPOINT_FUNCTIONS.search(name):
                yield Finding("warning", here, f"{op} outside the SavedModel's own save/restore")
            elif op == "PrintV2":
                stream = node.attr["output_stream"].s.decode(errors="replace")
                if stream.startswith("file://"):
                    yield Finding(raise_to, here, f"PrintV2 appends to {stream} {when}")
                else:
                    yield Finding("info", here, f"PrintV2 to {stream}")
            elif op in ALLOCATING_OPS:
                size = _constant_shape_elements(node, constants)
                if size is not None and size * 4 > BOMB_FLOOR_BYTES * 64:
                    yield Finding("danger", here, f"{op} allocates {size:,} elements {when}")
            elif op == "Const":
                tensor = node.attr["value"].tensor
                for value in tensor.string_val:
                    if REMOTE_PATH.match(value):
                        yield Finding("warning", here, f"constant names {value[:80]!r}")
            elif op not in library and op_def_registry.get(op) is None:
                yield Finding("danger", here, f"op {op} is not a TensorFlow op (a custom kernel)")


def _constant_shape_elements(node: Any, constants: dict[str, Any]) -> int | None:
    import tensorflow as tf

    if not node.input:
        return None
    source = constants.get(node.input[0].split(":")[0].lstrip("^"))
    if source is None:
        return None
    shape = tf.make_ndarray(source.attr["value"].tensor)
    return int(np.prod(shape, dtype=np.float64)) if shape.ndim == 1 else None


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
    indexes = sorted(folder.glob("*.index"))
    if not indexes:
        raise ArtifactError(folder, "neither a SavedModel (no saved_model.pb) nor a checkpoint")
    state = folder / "checkpoint"
    for entry in sorted(folder.rglob("*")):
        if entry.is_symlink():
            yield Finding("danger", entry.name, f"symbolic link to {os.readlink(entry)}")
    seen: set[str] = set()
    if state.is_file():
        for line in state.read_text(errors="replace").splitlines():
            match = re.search(r'"(.*)"', line)
            target = match.group(1) if match else ""
            if (target.startswith("/") or ".." in Path(target).parts) and target not in seen:
                seen.add(target)
                yield Finding("warning", "checkpoint", f"points outside the folder: {target}")
    for index in indexes:
        yield from _scan_checkpoint(index.with_suffix(""), label=f"{index.stem}")


def _scan_checkpoint(prefix: Path, label: str | None = None) -> Iterator[Finding]:
    """Declared variable sizes (from the index) against the bytes in the data files."""
    import tensorflow as tf

    label = label or prefix.name
    for entry in [Path(f"{prefix}.index"), *prefix.parent.glob(f"{prefix.name}.data-*")]:
        if entry.is_symlink():
            yield Finding("danger", entry.name, f"symbolic link to {os.readlink(entry)}")
    try:
        reader = tf.train.load_checkpoint(str(prefix))
    except Exception as error:  # tf.errors.* for a damaged index
        yield Finding("danger", label, f"index does not parse ({type(error).__name__})")
        return
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    declared = sum(
        math.prod(shape) * (dtypes[name].size if dtypes[name] != tf.string else 0)
        for name, shape in shapes.items()
    )
    stored = sum(p.stat().st_size for p in prefix.parent.glob(f"{prefix.name}.data-*"))
    if declared > stored:
        severity = "danger" if declared > BOMB_FLOOR_BYTES else "warning"
        yield Finding(
            severity, label, f"variables declare {declared:,} bytes, data holds {stored:,}"
        )


# --- the sandbox ----------------------------------------------------------------------------


HOME_IN_SCRATCH = ".home"  # the child's HOME: Keras and matplotlib write their caches there


class SandboxUnavailable(RuntimeError):
    """This system cannot build the sandbox (not Linux, no ``unshare``, no namespaces)."""


@dataclass
class SandboxRun:
    """What happened in the sandbox: ``outputs`` or ``error``, and the files written in scratch.

    ``written`` leaves out the child's home folder (``.home``: library caches).
    """

    model: Path
    outputs: np.ndarray | None
    error: str | None
    scratch: Path
    written: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def sandbox_unavailable() -> str | None:
    """``None`` if :func:`load_in_sandbox` can run here, else the reason."""
    if not sys.platform.startswith("linux"):
        return f"namespaces are a Linux feature (this is {sys.platform})"
    if shutil.which("unshare") is None:
        return "no 'unshare' program (util-linux) on PATH"
    probe = subprocess.run(
        [*_unshare(), "true"], capture_output=True, text=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        return f"unshare failed: {probe.stderr.strip() or probe.returncode}"
    return None


def _unshare() -> list[str]:
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return ["unshare", *user, "--net", "--mount", "--"]


def load_in_sandbox(
    path: str | os.PathLike[str],
    inputs: np.ndarray,
    *,
    workdir: str | os.PathLike[str],
    safe_mode: bool = True,
    memory_mb: int = 4096,
    cpu_seconds: int = 60,
    file_mb: int = 16,
) -> SandboxRun:
    """Load ``path`` and call it on ``inputs`` in a confined child process.

    The child has no network (a private network namespace with only a loopback interface,
    down), sees every file read-only except a new scratch folder under ``workdir`` (its working
    directory, ``HOME`` and ``TMPDIR``), does not see the real home folder, and is limited to
    ``memory_mb`` of address space, ``cpu_seconds`` of CPU (and twice that of wall time) and
    files of ``file_mb``. ``safe_mode`` is passed to ``keras.models.load_model``.
    Raises :class:`SandboxUnavailable` where the sandbox cannot be built.
    """
    reason = sandbox_unavailable()
    if reason:
        raise SandboxUnavailable(f"no sandbox on this system: {reason}")
    model = Path(path).resolve()
    if not model.exists():
        raise ArtifactError(model, "does not exist")
    Path(workdir).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="sandbox-", dir=workdir)).resolve()
    scratch, results = root / "scratch", root / "results"
    scratch.mkdir()
    results.mkdir()
    np.save(root / "inputs.npy", np.asarray(inputs), allow_pickle=False)
    home = Path.home().resolve()
    needed = {sys.prefix, sys.base_prefix, Path(sys.executable).resolve().parent}
    needed |= {Path(__file__).resolve().parent.parent, model if model.is_dir() else model.parent}
    keep = sorted({Path(p).resolve() for p in needed if _is_within(Path(p).resolve(), home)})
    keep = [p for p in keep if not any(q != p and _is_within(p, q) for q in keep)]
    if _is_within(root, home) or home in keep:
        keep, home = [], None  # the sandbox lives in the home folder: cannot hide it
    stage = root / "stage"
    for index in range(len(keep)):
        (stage / str(index)).mkdir(parents=True)
    spec = {
        "model": str(model),
        "inputs": str(root / "inputs.npy"),
        "scratch": str(scratch),
        "results": str(results),
        "home": str(home) if home is not None and home.is_dir() else None,
        "keep": [str(folder) for folder in keep],
        "stage": str(stage),
        "safe_mode": safe_mode,
        "memory_bytes": memory_mb << 20,
        "cpu_seconds": cpu_seconds,
        "file_bytes": file_mb << 20,
    }
    (root / "spec.json").write_text(json.dumps(spec))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch / HOME_IN_SCRATCH),
        "TMPDIR": str(scratch),
        "KERAS_HOME": str(scratch / HOME_IN_SCRATCH / ".keras"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    argv = [*_unshare(), sys.executable, "-m", "helpers.sandbox_child", str(root / "spec.json")]
    try:
        child = subprocess.run(
            argv, env=env, cwd=scratch, capture_output=True, text=True,
            timeout=2 * cpu_seconds, check=False,
        )  # fmt: skip
        returncode, stderr = child.returncode, child.stderr.strip().splitlines()
    except subprocess.TimeoutExpired:
        returncode, stderr = None, []
    written = sorted(
        p.relative_to(scratch).as_posix()
        for p in scratch.rglob("*")
        if p.is_file() and HOME_IN_SCRATCH not in p.relative_to(scratch).parts
    )
    result_file = results / "result.json"
    if result_file.is_file():
        result = json.loads(result_file.read_text())
        if result.get("error") is None:
            outputs = np.load(results / "outputs.npy", allow_pickle=False)
            return SandboxRun(model, outputs, None, scratch, written)
        return SandboxRun(model, None, result["error"], scratch, written)
    if returncode is None:
        error = f"stopped after {2 * cpu_seconds} s of wall time"
    elif returncode < 0:
        error = f"killed by {signal.Signals(-returncode).name}"
    else:
        error = f"exited with status {returncode} before reporting"
    if stderr:
        error += f" ({stderr[-1]})"
    return SandboxRun(model, None, error, scratch, written)


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents
