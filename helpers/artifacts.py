"""Hardened saving and loading: atomic numbered versions, manifests, checks around every load.

A save writes into a temporary sibling folder (``base/.tmp-<pid>-<random>``), adds a probe
(a few inputs and the model's outputs for them) and a SHA-256 manifest, flushes every file and
folder to disk, and only then renames the folder to the next free number. A reader resolving
"latest" sees either the old versions or the new, complete one; never half of it.

A load checks, before TensorFlow or Keras reads a byte: the manifest (:mod:`helpers.integrity`),
the folder's files (:mod:`helpers.inspection`, the same structural checks every loader of the kit
runs) and, for a SavedModel, the signatures parsed from ``saved_model.pb``; then loads inside a
guard that turns library errors into :class:`~helpers.errors.CorruptArtifactError`; then
compares inputs, outputs and variables with what the caller expects, and re-runs the probe.
Every failure is an :class:`~helpers.errors.ArtifactError` naming the path and the problem.

Two rules answer "which version is the latest?", one per layout: :func:`latest_published_version`
(the highest numbered folder with a manifest: versions this module wrote) and
:func:`latest_complete_savedmodel` (the highest numbered folder holding a complete SavedModel:
versions exported straight into numbered folders, notebook 01's layout).

Serves notebooks 09 (taught there) and 01, 13 (versions, manifests).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helpers import inspection
from helpers.errors import (
    ArtifactError,
    ArtifactMismatchError,
    ArtifactNotFoundError,
    CorruptArtifactError,
    IncompleteArtifactError,
    describe,
)
from helpers.integrity import MANIFEST_NAME, verify_manifest, write_manifest

TEMP_PREFIX = ".tmp-"
PROBE_NAME = "probe.npz"
KERAS_NAME = "model.keras"
CHECKPOINT_PREFIX = "ckpt"
# The steps of :func:`save_version`, in order; ``on_step`` is called with each name.
SAVE_STEPS = (
    "temp-created",
    "written",
    "probe-written",
    "manifest-written",
    "files-synced",
    "before-rename",
    "renamed",
    "parent-synced",
)

StepHook = Callable[[str], None]


# --- flushing to disk -----------------------------------------------------------------------


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush one file's data to the disk."""
    with open(path, "rb+" if os.name == "nt" else "rb") as stream:  # Windows needs write access
        os.fsync(stream.fileno())


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (names, renames) to the disk, where the OS allows it."""
    if os.name == "nt":  # os.open cannot open a folder on Windows: nothing to flush here
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError:  # EINVAL: this file system cannot flush a folder (see fsync(2))
        pass
    finally:
        os.close(descriptor)


def sync_tree(folder: str | os.PathLike[str]) -> int:
    """Flush every file and sub-folder under ``folder``, deepest first; returns the file count."""
    count = 0
    for root, _, files in os.walk(folder, topdown=False):
        for name in files:
            fsync_file(Path(root) / name)
            count += 1
        fsync_dir(root)
    return count


# --- what a loaded model must look like -----------------------------------------------------


def _dtype_name(dtype: Any) -> str:
    return dtype if isinstance(dtype, str) else dtype.name


def _shape(shape: Any) -> tuple[int | None, ...]:
    return tuple(None if dim is None else int(dim) for dim in shape)


@dataclass(frozen=True)
class Expected:
    """What the caller expects to load: one input, one output, and the variables' shapes."""

    input_key: str
    input_shape: tuple[int | None, ...]
    input_dtype: str
    output_shape: tuple[int | None, ...]
    variables: tuple[tuple[tuple[int, ...], str], ...]  # sorted (shape, dtype) pairs

    @classmethod
    def from_model(cls, model: Any) -> Expected:
        """The expectation a single-input, single-output Keras model defines."""
        (inputs,), (outputs,) = model.inputs, model.outputs
        return cls(
            input_key=inputs.name,
            input_shape=_shape(inputs.shape),
            input_dtype=_dtype_name(inputs.dtype),
            output_shape=_shape(outputs.shape),
            variables=_variable_specs(model.weights),
        )


def _variable_specs(variables: Any) -> tuple[tuple[tuple[int, ...], str], ...]:
    specs = [(tuple(int(d) for d in v.shape), _dtype_name(v.dtype)) for v in variables]
    return tuple(sorted(specs))


def _format(value: object) -> str:
    if isinstance(value, tuple) and value and all(isinstance(v, tuple) for v in value):
        dtypes = sorted({dtype for _, dtype in value})  # variable specs: ((shape, dtype), ...)
        shapes = " ".join(str(shape).replace(",)", ")") for shape, _ in value)
        return f"{len(value)} tensors {shapes} of {'/'.join(dtypes)}"
    return str(value).replace("None", "?").replace(",)", ")")


def _check(path: Path, what: str, found: object, expected: object) -> None:
    if found != expected:
        raise ArtifactMismatchError(
            path, f"{what}: found {_format(found)}, expected {_format(expected)}"
        )


# --- numbered version folders --------------------------------------------------------------


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
    """True if :func:`helpers.inspection.inspect_savedmodel` finds every file a SavedModel
    needs in ``path`` (a non-empty ``saved_model.pb``, the variables index and its shards)."""
    try:
        inspection.inspect_savedmodel(path)
    except ArtifactError:
        return False
    return True


def latest_complete_savedmodel(base: str | os.PathLike[str]) -> Path:
    """The highest-numbered *complete* SavedModel version under ``base`` (notebook 01's layout).

    Folders that are not plain numbers (``.tmp-3``, ``3.partial``) are never versions; numbered
    folders that are incomplete (being written, or left by a crash) are skipped. For versions
    written by :func:`save_version`, see :func:`latest_published_version`.
    """
    base = Path(base)
    if not base.exists():
        raise ArtifactNotFoundError(base, "no such folder of model versions")
    if not base.is_dir():
        raise IncompleteArtifactError(base, "is a file, not a folder of numbered versions")
    versions = version_dirs(base)
    for _, folder in reversed(versions):
        if is_complete_savedmodel(folder):
            return folder
    if versions:
        skipped = ", ".join(folder.name for _, folder in versions)
        raise IncompleteArtifactError(base, f"no complete version (incomplete: {skipped})")
    raise IncompleteArtifactError(base, "no numbered version folders (expected 1, 2, ...)")


# --- saving ---------------------------------------------------------------------------------


def temp_sibling(base: str | os.PathLike[str]) -> Path:
    """A new empty folder ``base/.tmp-<pid>-<random>``: never a version number, and it names
    the process writing it, so :func:`abandoned` can tell when that writer is gone."""
    Path(base).mkdir(parents=True, exist_ok=True)
    temp = tempfile.mkdtemp(dir=base, prefix=f"{TEMP_PREFIX}{os.getpid()}-")
    os.chmod(temp, 0o755)  # mkdtemp makes it private; a server may run as another user
    return Path(temp)


def publish(temp: Path, base: str | os.PathLike[str], on_step: StepHook | None = None) -> Path:
    """Make the finished folder ``temp`` the next numbered version under ``base``, durably."""
    step = on_step or (lambda name: None)
    write_manifest(temp)
    step("manifest-written")
    sync_tree(temp)  # every file's data and every folder's entries are on the disk
    step("files-synced")
    while True:
        target = next_version_dir(base)
        step("before-rename")
        try:
            os.rename(temp, target)  # atomic; refuses a non-empty target: another's version
            break
        except OSError:
            if not (target.exists() and temp.exists()):
                raise  # a real failure, not a lost race for the number
    step("renamed")
    fsync_dir(base)  # the rename itself is on the disk
    step("parent-synced")
    return target


def save_version(
    base: str | os.PathLike[str],
    write: Callable[[Path], None],
    *,
    probe: tuple[Any, Any] | None = None,
    on_step: StepHook | None = None,
) -> Path:
    """Write a new numbered version under ``base`` atomically; returns its folder.

    ``write(folder)`` fills the temporary folder; ``probe`` (inputs, outputs) is stored as
    ``probe.npz``; then :func:`publish`. ``on_step`` is called with each name in
    :data:`SAVE_STEPS` (the fault-injection tests kill the process there).
    """
    step = on_step or (lambda name: None)
    temp = temp_sibling(base)
    step("temp-created")
    try:
        write(temp)
        step("written")
        if probe is not None:
            np.savez(temp / PROBE_NAME, inputs=probe[0], outputs=probe[1])
            step("probe-written")
        return publish(temp, base, on_step)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)  # nothing left if the save fails
        raise


def _probe(model: Any, inputs: Any) -> tuple[Any, Any]:
    return inputs, model.predict(inputs, verbose=0)


def export_savedmodel_version(
    model: Any,
    base: str | os.PathLike[str],
    *,
    probe_inputs: Any = None,
    on_step: StepHook | None = None,
) -> Path:
    """``model.export()`` a Keras model as the next SavedModel version under ``base``."""
    probe = None if probe_inputs is None else _probe(model, probe_inputs)
    return save_version(
        base, lambda folder: model.export(folder, verbose=False), probe=probe, on_step=on_step
    )


def save_keras_version(
    model: Any,
    base: str | os.PathLike[str],
    *,
    probe_inputs: Any = None,
    on_step: StepHook | None = None,
) -> Path:
    """``model.save()`` a Keras model as ``base/N/model.keras``, atomically."""
    probe = None if probe_inputs is None else _probe(model, probe_inputs)
    return save_version(
        base, lambda folder: model.save(folder / KERAS_NAME), probe=probe, on_step=on_step
    )


def save_checkpoint_version(
    checkpoint: Any,
    base: str | os.PathLike[str],
    *,
    probe: tuple[Any, Any] | None = None,
    on_step: StepHook | None = None,
) -> Path:
    """``checkpoint.write()`` a ``tf.train.Checkpoint`` as ``base/N/ckpt.*``, atomically."""
    return save_version(
        base,
        lambda folder: checkpoint.write(str(folder / CHECKPOINT_PREFIX)),
        probe=probe,
        on_step=on_step,
    )


# --- finding versions and cleaning up -------------------------------------------------------


def published_versions(base: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """Numbered folders under ``base`` that carry a manifest (a finished save), lowest first."""
    return [
        (number, folder)
        for number, folder in version_dirs(base)
        if (folder / MANIFEST_NAME).is_file()
    ]


def latest_published_version(base: str | os.PathLike[str]) -> Path:
    """The highest published version under ``base``: the highest numbered folder with a manifest
    (not yet verified: see :func:`load_latest`). For SavedModels exported straight into numbered
    folders, see :func:`latest_complete_savedmodel`."""
    base = Path(base)
    if not base.is_dir():
        raise ArtifactNotFoundError(base, "no such folder of model versions")
    versions = published_versions(base)
    if not versions:
        raise IncompleteArtifactError(
            base, "no published version (no numbered folder with a manifest)"
        )
    return versions[-1][1]


def writer_pid(name: str) -> int | None:
    """The process id in a temporary folder's name ``.tmp-<pid>-<random>``, if it has one."""
    match = re.fullmatch(rf"{re.escape(TEMP_PREFIX)}(\d+)-.*", name)
    return int(match.group(1)) if match else None


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (signal 0 sends nothing)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, but belongs to another user
        return True
    return True


def abandoned(
    base: str | os.PathLike[str], *, max_age: float | None = None, same_host: bool = True
) -> list[Path]:
    """Temporary folders under ``base`` whose writer is gone, or older than ``max_age`` seconds.

    A writer is gone when the process id in the folder's name no longer exists; that only means
    something if every writer runs on this machine: on shared storage pass ``same_host=False``
    and rely on ``max_age``.
    """
    found = []
    for folder in sorted(Path(base).glob(f"{TEMP_PREFIX}*")):
        pid = writer_pid(folder.name)
        writer_gone = same_host and pid is not None and not process_alive(pid)
        too_old = max_age is not None and time.time() - folder.stat().st_mtime > max_age
        if folder.is_dir() and (writer_gone or too_old):
            found.append(folder)
    return found


def unpublished_versions(base: str | os.PathLike[str]) -> list[Path]:
    """Numbered folders without a manifest (left by a writer that did not save atomically)."""
    published = {folder for _, folder in published_versions(base)}
    return [folder for _, folder in version_dirs(base) if folder not in published]


def clean_abandoned(
    base: str | os.PathLike[str],
    *,
    max_age: float | None = None,
    same_host: bool = True,
    unpublished: bool = False,
) -> list[Path]:
    """Delete :func:`abandoned` temporary folders; returns what was deleted.

    ``unpublished=True`` also deletes numbered folders without a manifest: only safe when no
    tool writes versions the naive way (straight into a numbered folder) at the same time.
    """
    doomed = abandoned(base, max_age=max_age, same_host=same_host)
    if unpublished:
        doomed += unpublished_versions(base)
    for folder in doomed:
        shutil.rmtree(folder)
    return doomed


# --- checking and loading -------------------------------------------------------------------


def detect_kind(folder: Path) -> str:
    """``'savedmodel'``, ``'keras'`` or ``'checkpoint'``, from the files in a version folder."""
    if (folder / "saved_model.pb").exists() or (folder / "variables").exists():
        return "savedmodel"
    if (folder / KERAS_NAME).exists():
        return "keras"
    if any(folder.glob(f"{CHECKPOINT_PREFIX}.*")):
        return "checkpoint"
    present = sorted(child.name for child in folder.iterdir()) or ["nothing"]
    raise IncompleteArtifactError(
        folder, f"holds no SavedModel, {KERAS_NAME} or checkpoint (contains: {', '.join(present)})"
    )


def verify_version_folder(
    folder: str | os.PathLike[str], *, manifest: bool = True, parse: bool = True
) -> str:
    """Check a version folder without loading it; returns its kind.

    Checks the manifest (unless ``manifest=False``), then the files each kind needs (the
    :mod:`helpers.inspection` check of that kind); with ``parse=True`` (the default) also
    parses a SavedModel's ``saved_model.pb`` and signatures (this imports TensorFlow) and a
    ``.keras`` file's ``config.json``.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ArtifactNotFoundError(folder, "no such version folder")
    if not folder.is_dir():
        raise IncompleteArtifactError(folder, "is a file; a version is a folder")
    if manifest:
        verify_manifest(folder)
    kind = detect_kind(folder)
    try:
        if kind == "savedmodel":
            inspection.inspect_savedmodel(folder)
            if parse:
                inspection.savedmodel_signatures(folder)
        elif kind == "keras":
            inspection.inspect_keras(folder / KERAS_NAME)
            if parse:
                inspection.keras_config_summary(folder / KERAS_NAME)
        else:
            inspection.inspect_checkpoint(folder / CHECKPOINT_PREFIX)
    except OSError as error:  # unreadable: a dangling link, a folder in place of a file...
        raise CorruptArtifactError(
            folder, f"cannot read it ({describe(error, None, limit=160)})"
        ) from error
    return kind


@contextlib.contextmanager
def _guard(path: Path, library: str) -> Iterator[None]:
    """Turn whatever the library raises into a :class:`CorruptArtifactError` naming ``path``."""
    try:
        yield
    except ArtifactError:
        raise
    except Exception as error:
        raise CorruptArtifactError(
            path, f"{library} could not load it ({describe(error, None, limit=160)})"
        ) from error


@dataclass
class Loaded:
    """A verified, loaded version: the object, a ``predict(inputs)`` function, and its checks."""

    path: Path
    kind: str
    model: Any
    predict: Callable[[Any], Any]
    checks: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # newer versions passed over (fallback)


def _check_signature(folder: Path, expect: Expected) -> None:
    signatures = {s.key: s for s in inspection.savedmodel_signatures(folder)}
    if "serving_default" not in signatures:
        raise ArtifactMismatchError(
            folder, f"no serving_default signature (has {sorted(signatures)})"
        )
    signature = signatures["serving_default"]
    _check(folder, "the input keys", [i.key for i in signature.inputs], [expect.input_key])
    _check(folder, "the input dtype", signature.inputs[0].dtype, expect.input_dtype)
    _check(folder, "the input shape", signature.inputs[0].shape, expect.input_shape)
    _check(folder, "the number of outputs", len(signature.outputs), 1)
    _check(folder, "the output shape", signature.outputs[0].shape, expect.output_shape)


def _load_savedmodel(folder: Path, expect: Expected | None) -> tuple[Any, Callable[[Any], Any]]:
    import tensorflow as tf

    if expect is not None:
        _check_signature(folder, expect)
    with _guard(folder, "tf.saved_model.load"):
        loaded = tf.saved_model.load(str(folder))
        if not hasattr(loaded, "serve"):
            raise ArtifactMismatchError(folder, "has no 'serve' endpoint (not a model.export()?)")
    if expect is not None:
        _check(
            folder,
            "variables",
            _variable_specs(loaded.variables),
            expect.variables,
        )

    def predict(inputs: Any) -> Any:
        with _guard(folder, "the 'serve' endpoint"):
            return loaded.serve(tf.constant(inputs)).numpy()

    return loaded, predict


def _load_keras(folder: Path, expect: Expected | None, safe_mode: bool) -> tuple[Any, Any]:
    import keras

    path = folder / KERAS_NAME if folder.is_dir() else folder
    with _guard(path, "keras.models.load_model"):
        model = keras.models.load_model(path, safe_mode=safe_mode)
    if expect is not None:
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ArtifactMismatchError(path, "expected a model with one input and one output")
        found = Expected.from_model(model)
        _check(path, "the input name", found.input_key, expect.input_key)
        _check(path, "the input dtype", found.input_dtype, expect.input_dtype)
        _check(path, "the input shape", found.input_shape, expect.input_shape)
        _check(path, "the output shape", found.output_shape, expect.output_shape)
        _check(path, "variables", found.variables, expect.variables)

    def predict(inputs: Any) -> Any:
        with _guard(path, "Keras predict"):
            return model.predict(inputs, verbose=0)

    return model, predict


def _load_checkpoint(folder: Path, model: Any) -> tuple[Any, Callable[[Any], Any]]:
    import tensorflow as tf

    if model is None:
        raise ArtifactMismatchError(folder, "is a checkpoint: pass restore_into=<a built model>")
    with _guard(folder, "tf.train.Checkpoint.read"):
        status = tf.train.Checkpoint(model=model).read(str(folder / CHECKPOINT_PREFIX))
        status.assert_existing_objects_matched()
        status.expect_partial()  # the optimizer's slots may be absent from the target

    def predict(inputs: Any) -> Any:
        return model.predict(inputs, verbose=0)

    return model, predict


def _check_probe(folder: Path, predict: Callable[[Any], Any], atol: float) -> str:
    from helpers import verify

    probe_path = folder / PROBE_NAME
    with _guard(probe_path, "numpy.load"), np.load(probe_path, allow_pickle=False) as probe:
        inputs, outputs = probe["inputs"], probe["outputs"]
    try:
        comparison = verify.compare(outputs, predict(inputs), atol=atol, names=("saved", "loaded"))
    except AssertionError as error:  # shapes differ
        raise ArtifactMismatchError(folder, f"probe: {error}") from error
    if not comparison.ok:
        raise ArtifactMismatchError(folder, f"probe predictions differ: {comparison}")
    return f"probe: {len(inputs)} inputs, {comparison}"


def load_version(
    folder: str | os.PathLike[str],
    *,
    expect: Expected | None = None,
    restore_into: Any = None,
    manifest: bool = True,
    probe: bool = True,
    probe_atol: float = 1e-5,
    safe_mode: bool = True,
) -> Loaded:
    """Verify and load one version folder (SavedModel, ``.keras`` or checkpoint).

    Order: :func:`verify_version_folder` (manifest, structure, signatures), the expected inputs and
    outputs, the load itself (library errors become :class:`CorruptArtifactError`), the
    expected variables, then the stored probe (``probe.npz``, if the save wrote one) must give
    the same predictions within ``probe_atol``. A checkpoint is restored into ``restore_into``
    (a built Keras model of the expected architecture).
    """
    folder = Path(folder)
    checks = []
    kind = verify_version_folder(folder, manifest=manifest)
    if manifest:
        checks.append("manifest: every file's SHA-256 matches")
    if kind == "savedmodel":
        model, predict = _load_savedmodel(folder, expect)
    elif kind == "keras":
        model, predict = _load_keras(folder, expect, safe_mode)
    else:
        model, predict = _load_checkpoint(folder, restore_into)
        if expect is not None:
            _check(
                folder,
                "variables",
                _variable_specs(model.weights),
                expect.variables,
            )
    if expect is not None:
        checks.append("inputs, outputs and variables as expected")
    if probe and (folder / PROBE_NAME).exists():
        checks.append(_check_probe(folder, predict, probe_atol))
    return Loaded(folder, kind, model, predict, checks)


def load_latest(base: str | os.PathLike[str], *, fallback: bool = False, **options: Any) -> Loaded:
    """:func:`load_version` on the highest published version under ``base``.

    With ``fallback=True`` a version that fails its checks is skipped (and listed in
    ``Loaded.skipped``) in favour of the next lower one; otherwise its error is raised.
    """
    base = Path(base)
    latest_published_version(base)  # raises when there is nothing to load
    skipped = []
    for _, folder in reversed(published_versions(base)):
        try:
            loaded = load_version(folder, **options)
        except ArtifactError as error:
            if not fallback:
                raise
            skipped.append(f"{folder.name}: {type(error).__name__}: {error.problem}")
            continue
        loaded.skipped = skipped
        return loaded
    raise IncompleteArtifactError(base, "no version passed its checks: " + " | ".join(skipped))


def load_keras_file(
    path: str | os.PathLike[str],
    *,
    expect: Expected | None = None,
    manifest: bool = True,
    safe_mode: bool = True,
) -> Any:
    """Verify a single ``.keras`` file (sibling ``<name>.sha256`` manifest) and load it."""
    path = Path(path)
    if manifest:
        verify_manifest(path)
    try:
        inspection.keras_config_summary(path)
    except OSError as error:
        raise CorruptArtifactError(
            path, f"cannot read it ({describe(error, None, limit=160)})"
        ) from error
    model, _ = _load_keras(path, expect, safe_mode)
    return model


__all__ = [
    "CHECKPOINT_PREFIX",
    "KERAS_NAME",
    "PROBE_NAME",
    "SAVE_STEPS",
    "TEMP_PREFIX",
    "Expected",
    "Loaded",
    "abandoned",
    "clean_abandoned",
    "detect_kind",
    "export_savedmodel_version",
    "fsync_dir",
    "fsync_file",
    "is_complete_savedmodel",
    "latest_complete_savedmodel",
    "latest_published_version",
    "load_keras_file",
    "load_latest",
    "load_version",
    "next_version_dir",
    "process_alive",
    "publish",
    "published_versions",
    "save_checkpoint_version",
    "save_keras_version",
    "save_version",
    "sync_tree",
    "temp_sibling",
    "unpublished_versions",
    "verify_version_folder",
    "version_dirs",
    "writer_pid",
]
