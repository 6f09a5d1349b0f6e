"""Load saved models with clear errors: check the files first, then load.

:func:`load_savedmodel` never calls ``tf.saved_model.load`` on a folder it has not checked:
the folder's files (:func:`helpers.inspection.inspect_savedmodel`, the structural check every
loader of the kit shares), ``saved_model.pb`` (parsed, not run), the variables index and every
variable value (with its checksum) are read first, and whatever is wrong is reported as an
:class:`~helpers.errors.ArtifactError` naming the path and the problem, instead of a TensorFlow
error from deep inside the loader.

:func:`load_tflite` and :func:`load_onnx` do the same for deployment files: after cheap checks
(missing, a folder, empty, the wrong magic bytes), the file is opened and run once on zeros in
a child process (the ``probe`` task of :mod:`helpers.kit.child`), so a runtime that aborts on a
malformed file takes down the child, not the caller; only then is it opened here.

Serves notebook 03.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from helpers.errors import (
    ArtifactError,
    ArtifactNotFoundError,
    CorruptArtifactError,
    IncompleteArtifactError,
    RuntimeCrashError,
    describe,
)
from helpers.inspection import (
    VARIABLES_PREFIX,
    SignatureInfo,
    inspect_keras,
    inspect_savedmodel,
    savedmodel_signatures,
)
from helpers.kit import runner


def _check_variables(root: Path, *, read_values: bool) -> int:
    """Open the variables index and (optionally) read every value; return the entry count."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(root / VARIABLES_PREFIX))
        keys = sorted(reader.get_variable_to_shape_map())
    except (tf.errors.OpError, ValueError) as error:
        raise CorruptArtifactError(
            root, f"variables/variables.index is unreadable ({describe(error, None, limit=160)})"
        ) from error
    if not read_values:
        return len(keys)
    for key in keys:
        try:
            reader.get_tensor(key)
        except IndexError as error:  # "Read less bytes than requested"
            raise CorruptArtifactError(
                root,
                "variables/variables.data-* is shorter than variables.index says (truncated copy?)",
            ) from error
        except tf.errors.OpError as error:
            if "checksum" in str(error).lower():
                problem = f"variables/variables.data-* is corrupt (checksum mismatch in {key!r})"
            else:
                problem = f"cannot read variable {key!r} ({describe(error, None, limit=160)})"
            raise CorruptArtifactError(root, problem) from error
    return len(keys)


def check_savedmodel(
    path: str | os.PathLike[str], *, read_values: bool = True
) -> list[SignatureInfo]:
    """Check a SavedModel folder without loading it; return its signatures.

    Checks, in order: :func:`~helpers.inspection.inspect_savedmodel` (the folder, its required
    files not empty, every data shard present), ``saved_model.pb`` parses, the variables index
    opens and, with ``read_values`` (the default), every variable value reads back with a valid
    checksum (one extra read of the variables). Raises :class:`~helpers.errors.ArtifactError`
    subclasses naming the path and the problem.
    """
    root = inspect_savedmodel(path)
    signatures = savedmodel_signatures(root)
    _check_variables(root, read_values=read_values)
    return signatures


def load_savedmodel(path: str | os.PathLike[str], *, read_values: bool = True) -> Any:
    """:func:`check_savedmodel`, then ``tf.saved_model.load``; errors name path and problem."""
    import tensorflow as tf

    check_savedmodel(path, read_values=read_values)
    try:
        return tf.saved_model.load(str(path))
    except (tf.errors.OpError, OSError, ValueError, IndexError, KeyError) as error:
        raise CorruptArtifactError(
            path, f"TensorFlow could not load it: {describe(error, None, limit=160)}"
        ) from error


def signature(loaded: Any, name: str = "serving_default") -> Any:
    """The signature ``name`` of a loaded SavedModel; the error lists the available ones."""
    signatures = getattr(loaded, "signatures", None)
    if signatures is None:
        raise TypeError(f"{type(loaded).__name__} is not a loaded SavedModel (no .signatures)")
    if name not in signatures:
        available = ", ".join(sorted(signatures)) or "none"
        raise KeyError(f"no signature {name!r} in this SavedModel (available: {available})")
    return signatures[name]


def load_keras(path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """Check a ``.keras`` archive's members, then ``keras.models.load_model(path, **kwargs)``.

    Keyword arguments (``safe_mode``, ``custom_objects``, ``compile``) go to Keras unchanged;
    Keras's own refusals (for example ``safe_mode``) are re-raised as
    :class:`~helpers.errors.CorruptArtifactError` naming the file.
    """
    import keras

    inspect_keras(path)
    try:
        return keras.models.load_model(path, **kwargs)
    except (ValueError, TypeError, OSError, KeyError) as error:
        raise CorruptArtifactError(
            path, f"Keras could not load it: {describe(error, None, limit=160)}"
        ) from error


# --- deployment files: .tflite (LiteRT) and .onnx (ONNX Runtime) ------------------------------

RUNTIMES = {"tflite": "LiteRT", "onnx": "ONNX Runtime"}
PROBE_TIMEOUT_S = 120.0


def _require_file(path: str | os.PathLike[str], kind: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise ArtifactNotFoundError(path, f"no such .{kind} file")
    if not path.is_file():
        raise CorruptArtifactError(path, f"is a folder; a .{kind} model is a single file")
    if path.stat().st_size == 0:
        raise IncompleteArtifactError(path, f"is empty (0 bytes), not a .{kind} model")
    return path


def _check_tflite_header(path: Path) -> None:
    from helpers.tflite import TFLITE_MAGIC

    with path.open("rb") as file:
        header = file.read(8)
    if header[4:8] != TFLITE_MAGIC:
        raise CorruptArtifactError(
            path, "has no TFL3 identifier in bytes 4-8: not a TFLite model (another format?)"
        )


def _open_tflite(path: Path) -> Any:
    from helpers.tflite import interpreter

    _check_tflite_header(path)
    try:
        return interpreter(path)
    except (ValueError, RuntimeError) as error:
        raise CorruptArtifactError(
            path,
            f"LiteRT cannot read it (truncated or damaged?): {describe(error, None, limit=160)}",
        ) from error


def _open_onnx(path: Path) -> Any:
    import onnxruntime

    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own pybind11 exception types
        if "Protobuf parsing failed" in str(error) or "No graph was found" in str(error):
            problem = "is not a readable ONNX protobuf (truncated, damaged or another format?)"
        else:
            message = describe(error, None, limit=160).replace(str(path), "the file")
            problem = f"ONNX Runtime refused it: {message}"
        raise CorruptArtifactError(path, problem) from error


def _run_on_zeros(kind: str, runtime: Any) -> None:
    """One inference on zeros, batch 1 where the batch is free: what a first request does."""
    import numpy as np

    if kind == "tflite":
        for detail in runtime.get_input_details():
            runtime.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        runtime.invoke()
        return
    types = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int8)": np.int8}
    feeds = {
        spec.name: np.zeros(
            [d if isinstance(d, int) else 1 for d in spec.shape], types.get(spec.type, np.float32)
        )
        for spec in runtime.get_inputs()
    }
    runtime.run(None, feeds)


def _probe_command(kind: str, path: Path) -> list[str]:
    return runner.argv(runner.Spec(task="probe", args=[kind, path]))


def _probe_in_child(kind: str, path: Path) -> None:
    """Open and run ``path`` once in a child process; raise if it fails or crashes there."""
    spec = runner.Spec(command=_probe_command(kind, path), timeout=PROBE_TIMEOUT_S)
    result = runner.run(spec, check=False)
    if result.timed_out:
        raise CorruptArtifactError(
            path, f"{RUNTIMES[kind]} did not open it within {PROBE_TIMEOUT_S:.0f} s (hang?)"
        )
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        raise RuntimeCrashError(
            path, f"opening it crashed {RUNTIMES[kind]} in a child process ({name}); not opened"
        )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        problem = next((line[len("error: ") :] for line in reversed(lines)
                        if line.startswith("error: ")), None)  # fmt: skip
        raise CorruptArtifactError(
            path,
            problem
            or f"{RUNTIMES[kind]} failed in a child process (exit status "
            f"{result.returncode}): {lines[-1] if lines else 'no message'}",
        )


def _load_deployable(kind: str, path: str | os.PathLike[str], probe: bool) -> Any:
    checked = _require_file(path, kind)
    opener = _open_tflite if kind == "tflite" else _open_onnx
    if kind == "tflite":
        _check_tflite_header(checked)  # cheap, before starting a child
    if probe:
        _probe_in_child(kind, checked)
    return opener(checked)


def load_tflite(path: str | os.PathLike[str], *, probe: bool = True) -> Any:
    """A LiteRT interpreter (tensors allocated, no default delegates) for a checked ``.tflite``.

    Missing, folder, empty or non-TFLite files raise an :class:`~helpers.errors.ArtifactError`
    (not found, incomplete or corrupt) naming the path and the problem; with ``probe`` (the
    default) the file is first opened and run once in a child process, and a crash there raises
    :class:`~helpers.errors.RuntimeCrashError`.
    """
    return _load_deployable("tflite", path, probe)


def load_onnx(path: str | os.PathLike[str], *, probe: bool = True) -> Any:
    """An ONNX Runtime ``InferenceSession`` (CPU) for a checked ``.onnx`` file.

    The same checks and errors as :func:`load_tflite`.
    """
    return _load_deployable("onnx", path, probe)


def _probe_main(kind: str, path: str) -> int:
    """The child's side of :func:`_probe_in_child`: open, run once, report; exit status 2."""
    try:
        checked = _require_file(path, kind)
        opener = _open_tflite if kind == "tflite" else _open_onnx
        _run_on_zeros(kind, opener(checked))
    except ArtifactError as error:
        print(f"error: {error.problem}", file=sys.stderr)
        return 2
    except Exception as error:  # any runtime failure on the zeros is reported, not raised
        print(f"error: {RUNTIMES[kind]} failed on a zero input: {describe(error, None, limit=160)}",
              file=sys.stderr)  # fmt: skip
        return 2
    return 0
