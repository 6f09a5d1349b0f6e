"""Training checkpoints (``tf.train.Checkpoint``): check them, list them, restore them safely.

A checkpoint is a *prefix* such as ``ckpts/ckpt-3`` naming two kinds of files:
``ckpt-3.index`` (a sorted table: for each variable its dtype, shape, and where its bytes are)
and ``ckpt-3.data-00000-of-00001`` (the bytes). A folder written by
``tf.train.CheckpointManager`` also holds a small text file, ``checkpoint``, naming the latest
prefix.

:func:`check` reads the index with plain Python and compares it with the data files (after
:func:`helpers.inspection.inspect_checkpoint`, the structural check every loader of the kit
shares) *before* TensorFlow opens them, so damage is reported as an
:class:`~helpers.errors.ArtifactError` naming the file and the problem. :func:`restore` also
matches the checkpoint with the objects it restores into (:func:`match_objects`) and refuses to
restore anything unless every variable finds its partner with the right shape
(:class:`~helpers.errors.ArtifactMismatchError` otherwise).

Serves notebook 02.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.errors import (
    ArtifactMismatchError,
    ArtifactNotFoundError,
    CorruptArtifactError,
    IncompleteArtifactError,
    describe,
)
from helpers.inspection import (
    checkpoint_data_files,
    checkpoint_index,
    checkpoint_prefixes,
    inspect_checkpoint,
)

if TYPE_CHECKING:
    import tensorflow as tf

STATE_FILE = "checkpoint"  # CheckpointManager's text file naming the latest prefix
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"  # the key of a variable ends with this
SAVE_COUNTER_KEY = "save_counter" + VALUE_SUFFIX
_TABLE_MAGIC = 0xDB4775248B80FB57  # last 8 bytes of every .index file (an SSTable)
_FOOTER_SIZE = 48
_BLOCK_TRAILER = 5  # 1 byte compression type + 4 bytes checksum


def misfit(
    path: str | os.PathLike[str],
    unused: list[str],
    missing: list[str],
    mismatched: list[str],
    hint: str = "",
) -> ArtifactMismatchError:
    """The error for a checkpoint that does not fit the objects it is restored into.

    ``unused``: keys in the file that no object takes; ``missing``: object variables the file
    lacks; ``mismatched``: variables whose shape or dtype differ. The error keeps the three
    lists as attributes of the same names.
    """
    parts = []
    if mismatched:
        parts.append("shape or dtype differs: " + "; ".join(mismatched))
    if missing:
        parts.append("not in the checkpoint: " + ", ".join(missing))
    if unused:
        parts.append("in the checkpoint but matched by no object: " + ", ".join(unused))
    problem = "does not fit the objects (nothing was restored)\n" + "\n".join(parts)
    error = ArtifactMismatchError(path, problem + (f"\n{hint}" if hint else ""))
    error.unused, error.missing, error.mismatched = unused, missing, mismatched
    return error


@dataclass(frozen=True)
class VariableInfo:
    """One tensor stored in a checkpoint, as its index records it."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int


def _short(key: str) -> str:
    return key.removesuffix(VALUE_SUFFIX)


# --- finding the checkpoint -------------------------------------------------------------------


def _latest_in_state_file(folder: Path) -> str | None:
    state = folder / STATE_FILE
    if not state.is_file():
        return None
    for line in state.read_text(encoding="utf-8", errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model_checkpoint_path":
            return value.strip().strip('"')
    return None


def resolve(path: str | os.PathLike[str]) -> Path:
    """The checkpoint prefix for ``path``: a prefix itself, or a folder (its latest checkpoint).

    Raises :class:`~helpers.errors.IncompleteArtifactError` (or
    :class:`~helpers.errors.ArtifactNotFoundError`) naming what is missing.
    """
    path = Path(path)
    if path.is_dir():
        named = _latest_in_state_file(path)
        prefixes = [prefix.name for prefix in checkpoint_prefixes(path)]
        if named is not None:
            prefix = Path(named) if Path(named).is_absolute() else path / named
            index = checkpoint_index(prefix)
            if not index.is_file():
                raise IncompleteArtifactError(
                    path,
                    f"the {STATE_FILE!r} file names {named!r}, but {index.name} is "
                    "missing (deleted, or a save that did not finish)",
                )
            return prefix
        if prefixes:
            raise IncompleteArtifactError(
                path,
                f"no {STATE_FILE!r} file saying which checkpoint is the latest; pass one of "
                f"these prefixes instead: {', '.join(prefixes)}",
            )
        present = sorted(child.name for child in path.iterdir()) or ["nothing"]
        raise IncompleteArtifactError(
            path, f"no checkpoint in this folder (it contains: {', '.join(present)})"
        )
    if checkpoint_index(path).is_file():
        return path
    if not path.parent.is_dir():
        raise ArtifactNotFoundError(path, "no such checkpoint folder")
    if checkpoint_data_files(path):
        raise IncompleteArtifactError(
            path, f"{checkpoint_index(path).name} is missing: the data files alone cannot be read"
        )
    if path.suffix == ".index" or ".data-" in path.name:
        raise ArtifactNotFoundError(
            path, "is one file of a checkpoint; pass the prefix (the name before '.index')"
        )
    raise ArtifactNotFoundError(path, "no such checkpoint (no folder, no .index file)")


# --- reading the index without TensorFlow's C++ reader ----------------------------------------


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise ValueError("varint runs past the end")
        byte = data[position]
        result |= (byte & 0x7F) << shift
        position += 1
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _block(data: bytes, handle: tuple[int, int]) -> bytes:
    offset, size = handle
    if offset + size + _BLOCK_TRAILER > len(data):
        raise ValueError(f"a block at byte {offset} runs past the end of the file")
    if data[offset + size] != 0:
        raise ValueError("compressed index blocks are not supported")
    return data[offset : offset + size]


def _block_entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise ValueError("block too short")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * restarts
    if end < 0:
        raise ValueError("bad restart count")
    position, key = 0, b""
    while position < end:
        shared, position = _varint(block, position)
        unshared, position = _varint(block, position)
        length, position = _varint(block, position)
        if shared > len(key) or position + unshared + length > end:
            raise ValueError("entry runs past its block")
        key = key[:shared] + block[position : position + unshared]
        position += unshared
        yield key, block[position : position + length]
        position += length


def _read_table(index: Path) -> dict[bytes, bytes]:
    data = index.read_bytes()
    if len(data) < _FOOTER_SIZE:
        raise ValueError(f"only {len(data)} bytes, shorter than an index footer")
    footer = data[-_FOOTER_SIZE:]
    if struct.unpack("<Q", footer[-8:])[0] != _TABLE_MAGIC:
        raise ValueError("no index footer at the end (truncated, or not a checkpoint index)")
    _, position = _varint(footer, 0)  # meta-index handle (unused)
    _, position = _varint(footer, position)
    index_offset, position = _varint(footer, position)
    index_size, _ = _varint(footer, position)
    table: dict[bytes, bytes] = {}
    for _, handle in _block_entries(_block(data, (index_offset, index_size))):
        offset, position = _varint(handle, 0)
        size, _ = _varint(handle, position)
        table.update(_block_entries(_block(data, (offset, size))))
    return table


@dataclass
class _Index:
    num_shards: int
    entries: dict[str, Any] = field(default_factory=dict)  # name -> BundleEntryProto


def _read_index(prefix: Path) -> _Index:
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import tensor_bundle_pb2

    index = checkpoint_index(prefix)
    try:
        table = _read_table(index)
        header = tensor_bundle_pb2.BundleHeaderProto.FromString(table.pop(b""))
        entries = {
            key.decode("utf-8"): tensor_bundle_pb2.BundleEntryProto.FromString(value)
            for key, value in table.items()
        }
    except KeyError:
        raise CorruptArtifactError(index, "damaged index: it has no header entry") from None
    except (ValueError, DecodeError, UnicodeDecodeError) as error:
        raise CorruptArtifactError(index, f"damaged index: {error}") from error
    return _Index(header.num_shards, entries)


def _data_file(prefix: Path, shard: int, num_shards: int) -> Path:
    return prefix.with_name(f"{prefix.name}.data-{shard:05d}-of-{num_shards:05d}")


def check(path: str | os.PathLike[str], *, read_values: bool = True) -> Path:
    """Check a checkpoint (prefix or folder) before TensorFlow reads it; return its prefix.

    The index must be complete, every data shard (:func:`helpers.inspection.inspect_checkpoint`)
    and every shard the index names must exist and be long enough for every tensor the index
    places in it. With ``read_values`` every tensor is then read once through TensorFlow, which
    verifies each one's checksum (all but ``tf.variant`` tensors, such as a ``tf.data``
    iterator's state, which the reader cannot return). Raises
    :class:`~helpers.errors.ArtifactError`: not found, incomplete or corrupt.
    """
    prefix = resolve(path)
    index = _read_index(prefix)  # before the data files: a damaged index is named as such
    inspect_checkpoint(prefix)
    needed = [0] * max(index.num_shards, 1)
    last = [""] * len(needed)
    for name, entry in index.entries.items():
        if entry.shard_id >= len(needed):
            raise CorruptArtifactError(
                checkpoint_index(prefix), f"damaged index: {name} is in shard {entry.shard_id}"
            )
        end = entry.offset + entry.size
        if end > needed[entry.shard_id]:
            needed[entry.shard_id], last[entry.shard_id] = end, name
    for shard, size in enumerate(needed):
        data = _data_file(prefix, shard, index.num_shards)
        if not data.is_file():
            raise IncompleteArtifactError(data, "data file missing (the index refers to it)")
        actual = data.stat().st_size
        if actual < size:
            raise CorruptArtifactError(
                data,
                f"truncated: {actual:,} bytes, but the index places {last[shard]} up to byte "
                f"{size:,}",
            )
    if read_values:
        _read_every_tensor(prefix)
    return prefix


def _read_every_tensor(prefix: Path) -> None:
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(prefix))
        for name, dtype in sorted(reader.get_variable_to_dtype_map().items()):
            if dtype != tf.variant:  # a tf.data iterator's state cannot be read back here
                reader.get_tensor(name)
    except (tf.errors.OpError, IndexError, ValueError) as error:
        raise CorruptArtifactError(
            prefix, f"damaged data: {describe(error, None, limit=160)}"
        ) from error


def variables(path: str | os.PathLike[str]) -> list[VariableInfo]:
    """Every tensor of a checkpoint (prefix or folder), read from its index, sorted by name."""
    from tensorflow import dtypes

    prefix = resolve(path)
    return [
        VariableInfo(
            name,
            tuple(dim.size for dim in entry.shape.dim),
            dtypes.as_dtype(entry.dtype).name,
            entry.size,
        )
        for name, entry in sorted(_read_index(prefix).entries.items())
    ]


def format_variables(infos: list[VariableInfo], *, strip: str = VALUE_SUFFIX) -> str:
    """A fixed-width table (name, shape, dtype, bytes) with a total; ``strip`` shortens names."""

    def short(name: str) -> str:
        return name[: -len(strip)] if strip and name.endswith(strip) else name

    width = max([len(short(info.name)) for info in infos] + [8])
    rows = [f"{'variable':<{width}}  {'shape':<10}  {'dtype':<7}  {'bytes':>8}"]
    for info in infos:
        shape = str(info.shape).replace(",)", ")")
        rows.append(f"{short(info.name):<{width}}  {shape:<10}  {info.dtype:<7}  {info.nbytes:>8,}")
    total = sum(info.nbytes for info in infos)
    rows.append(
        f"{'total (' + str(len(infos)) + ' tensors)':<{width}}  {'':<10}  {'':<7}  {total:>8,}"
    )
    return "\n".join(rows)


# --- matching a checkpoint with Python objects ------------------------------------------------


def _children(obj: Any) -> dict[str, Any]:
    import tensorflow as tf

    return dict(tf.train.TrackableView(obj).children(obj))


def _object_paths(root: Any) -> dict[int, tuple[str, Any]]:
    """``id(object) -> (shortest path, object)`` for everything reachable from ``root``."""
    found: dict[int, tuple[str, Any]] = {id(root): ("", root)}
    queue = [root]
    while queue:
        obj = queue.pop(0)
        base = found[id(obj)][0]
        for name, child in _children(obj).items():
            if id(child) not in found:
                found[id(child)] = (f"{base}/{name}" if base else name, child)
                queue.append(child)
    return found


def _object_graph(prefix: Path) -> Any:
    import tensorflow as tf
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    reader = tf.train.load_checkpoint(str(prefix))
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor(OBJECT_GRAPH_KEY))
    return graph


def match_objects(
    checkpoint: tf.train.Checkpoint, path: str | os.PathLike[str]
) -> dict[str, list[str]]:
    """Match a checkpoint's object graph with ``checkpoint``'s objects, without restoring.

    Returns ``{"unused": [...], "missing": [...], "mismatched": [...]}`` (see :func:`misfit`).
    Checks the files first with :func:`check`.
    """
    import tensorflow as tf

    prefix = check(path)
    entries = _read_index(prefix).entries
    graph = _object_graph(prefix)
    matched: dict[int, Any] = {0: checkpoint}
    queue = [0]
    while queue:
        node_id = queue.pop(0)
        children = _children(matched[node_id])
        for child in graph.nodes[node_id].children:
            if child.node_id not in matched and child.local_name in children:
                matched[child.node_id] = children[child.local_name]
                queue.append(child.node_id)
    unused, mismatched = [], []
    for node_id, node in enumerate(graph.nodes):
        for attribute in node.attributes:
            key = attribute.checkpoint_key
            if node_id not in matched:
                if key != SAVE_COUNTER_KEY:  # created by restore() itself
                    unused.append(_short(key))
                continue
            obj, entry = matched[node_id], entries.get(key)
            if isinstance(obj, tf.Variable) and entry is not None:
                saved_shape = tuple(dim.size for dim in entry.shape.dim)
                saved_dtype = tf.dtypes.as_dtype(entry.dtype)
                if saved_shape != tuple(obj.shape) or saved_dtype != obj.dtype:
                    mismatched.append(
                        f"{_short(key)} is "
                        f"{saved_dtype.name}{list(saved_shape)} in the checkpoint but "
                        f"{obj.dtype.name}{list(obj.shape)} in the object"
                    )
    restored = {id(obj) for obj in matched.values()}
    missing = sorted(
        path or "(root)"
        for path, obj in _object_paths(checkpoint).values()
        if isinstance(obj, tf.Variable) and id(obj) not in restored and path != "save_counter"
    )
    return {"unused": sorted(unused), "missing": missing, "mismatched": mismatched}


def _unbuilt_keras(checkpoint: tf.train.Checkpoint) -> tuple[list[str], list[tuple[str, Any]]]:
    """Direct children that are unbuilt Keras layers/models, and unbuilt Keras optimizers."""
    import keras

    layers, optimizers = [], []
    for name, child in _children(checkpoint).items():
        if isinstance(child, keras.optimizers.Optimizer) and not child.built:
            optimizers.append((name, child))
        elif isinstance(child, keras.layers.Layer) and not child.built:
            layers.append(name)
    return layers, optimizers


def _trainable_owners(checkpoint: tf.train.Checkpoint) -> list[tuple[str, Any]]:
    import keras
    import tensorflow as tf

    return [
        (name, child)
        for name, child in _children(checkpoint).items()
        if isinstance(child, (tf.Module, keras.layers.Layer))
        and not isinstance(child, keras.optimizers.Optimizer)
        and child.trainable_variables
    ]


@dataclass(frozen=True)
class RestoreReport:
    """What :func:`restore` did: the prefix, how many values it restored (not counting the
    object graph and the save counter), the checkpoint keys it left out, what it built."""

    prefix: Path
    restored: int
    skipped: tuple[str, ...]
    built: tuple[str, ...]

    def __str__(self) -> str:
        text = f"restored {self.restored} tensors from {self.prefix.name}"
        if self.built:
            text += f" (built first: {', '.join(self.built)})"
        if self.skipped:
            text += f"; left out on purpose: {len(self.skipped)}"
        return text


def restore(
    checkpoint: tf.train.Checkpoint,
    path: str | os.PathLike[str],
    *,
    partial: bool = False,
    build: Callable[[], object] | None = None,
) -> RestoreReport:
    """Build, check, restore, assert: ``checkpoint``'s objects get ``path``'s values, or nothing.

    1. ``build()`` runs first if given (e.g. ``lambda: model(sample_batch)`` for a Keras model).
       An unbuilt Keras optimizer is built on the trainable variables of the one model next
       to it in ``checkpoint``; an unbuilt Keras layer or model is an error (its variables do
       not exist yet, and a restore would silently miss them).
    2. The files are checked (:func:`check`) and matched with the objects
       (:func:`match_objects`). Anything that does not fit raises
       :class:`~helpers.errors.ArtifactMismatchError` (:func:`misfit`) *before* any value
       is assigned. With ``partial=True`` checkpoint values no object takes (say, optimizer
       slots when restoring a model alone) are allowed; missing or misshapen ones never are.
    3. ``checkpoint.restore`` runs, then TensorFlow's own assertion: ``assert_consumed()``, or
       ``expect_partial()`` + ``assert_existing_objects_matched()`` when ``partial``.
    """
    if build is not None:
        build()
    layers, optimizers = _unbuilt_keras(checkpoint)
    if layers:
        raise ArtifactMismatchError(
            path,
            f"{', '.join(layers)}: unbuilt Keras model or layer, whose variables do not exist "
            "yet; call it on a batch (or pass build=...) before restoring",
        )
    built = []
    for name, optimizer in optimizers:
        owners = _trainable_owners(checkpoint)
        if len(owners) != 1:
            raise ArtifactMismatchError(
                path,
                f"{name}: unbuilt optimizer and {len(owners)} models next to it; build it "
                "yourself: optimizer.build(model.trainable_variables)",
            )
        optimizer.build(owners[0][1].trainable_variables)
        built.append(name)
    prefix = resolve(path)
    found = match_objects(checkpoint, prefix)
    entries = _read_index(prefix).entries
    unused = [] if partial else found["unused"]
    if unused or found["missing"] or found["mismatched"]:
        hint = ""
        if any("/_variables/" in key for key in unused):
            hint = "(optimizer slots left over: restore with partial=True for a model alone)"
        raise misfit(prefix, unused, found["missing"], found["mismatched"], hint)
    status = checkpoint.restore(str(prefix))
    try:
        if SAVE_COUNTER_KEY not in entries:
            # Written by Checkpoint.write(): TensorFlow's assertions would blame the save
            # counter that restore() creates; match_objects() above already proved the match.
            status.expect_partial()
            status.assert_nontrivial_match()
        elif partial:
            status.expect_partial()
            status.assert_existing_objects_matched()
        else:
            status.assert_consumed()
    except AssertionError as error:
        raise ArtifactMismatchError(
            prefix, f"TensorFlow's restore assertion failed: {error}"
        ) from error
    total = len([key for key in entries if key not in (OBJECT_GRAPH_KEY, SAVE_COUNTER_KEY)])
    return RestoreReport(prefix, total - len(found["unused"]), tuple(found["unused"]), tuple(built))
