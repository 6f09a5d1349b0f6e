"""Load saved models with clear errors: check the files first, then load.

:func:`load_savedmodel` never calls ``tf.saved_model.load`` on a folder it has not checked:
the folder, ``saved_model.pb`` (parsed, not run), the variables index and every variable value
(with its checksum) are read first, and whatever is wrong is reported as an
:class:`~helpers.errors.ArtifactError` naming the path and the problem, instead of a TensorFlow
error from deep inside the loader.

:func:`load_tflite` and :func:`load_onnx` do the same for deployment files: after cheap checks
(missing, a folder, empty, the wrong magic bytes), the file is opened and run once on zeros in
a child process (the ``probe`` task of :mod:`helpers.kit.child`), so a runtime that aborts on a
malformed file takes down the child, not the caller; only then is it opened here.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

from helpers.errors import ArtifactError, ArtifactNotFoundError, NotASavedModelError
from helpers.inspection import (
    SignatureInfo,
    keras_archive_members,
    require_savedmodel,
    savedmodel_signatures,
)
from helpers.kit import runner

VARIABLES_PREFIX = Path("variables") / "variables"
_SHARD = re.compile(r"^variables\.data-(\d{5})-of-(\d{5})$")


class SavedModelLoadError(ArtifactError):
    """The files looked complete, but TensorFlow (or Keras) could not load them."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _check_shards(root: Path) -> None:
    """Every ``variables.data-NNNNN-of-MMMMM`` shard the names promise is present."""
    names = sorted(child.name for child in (root / "variables").iterdir())
    shards = [match for name in names if (match := _SHARD.match(name))]
    if not shards:
        raise NotASavedModelError(
            root, "variables/ has an index but no variables.data-* file (partial copy?)"
        )
    total = int(shards[0].group(2))
    present = {int(match.group(1)) for match in shards}
    missing = [f"variables.data-{n:05d}-of-{total:05d}" for n in range(total) if n not in present]
    if missing:
        raise NotASavedModelError(root, f"variables/ lacks {', '.join(missing)} (partial copy?)")


def _check_variables(root: Path, *, read_values: bool) -> int:
    """Open the variables index and (optionally) read every value; return the entry count."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(root / VARIABLES_PREFIX))
        keys = sorted(reader.get_variable_to_shape_map())
    except (tf.errors.OpError, ValueError) as error:
        raise NotASavedModelError(
            root, f"variables/variables.index is unreadable ({_first_line(error)})"
        ) from error
    if not read_values:
        return len(keys)
    for key in keys:
        try:
            reader.get_tensor(key)
        except IndexError as error:  # "Read less bytes than requested"
            raise NotASavedModelError(
                root,
                "variables/variables.data-* is shorter than variables.index says (truncated copy?)",
            ) from error
        except tf.errors.OpError as error:
            if "checksum" in str(error).lower():
                problem = f"variables/variables.data-* is corrupt (checksum mismatch in {key!r})"
            else:
                problem = f"cannot read variable {key!r} ({_first_line(error)})"
            raise NotASavedModelError(root, problem) from error
    return len(keys)


def check_savedmodel(
    path: str | os.PathLike[str], *, read_values: bool = True
) -> list[SignatureInfo]:
    """Check a SavedModel folder without loading it; return its signatures.

    Checks, in order: the folder and its required files exist and are not empty, every data
    shard is present, ``saved_model.pb`` parses, the variables index opens and, with
    ``read_values`` (the default), every variable value reads back with a valid checksum
    (one extra read of the variables). Raises :class:`~helpers.errors.ArtifactError`
    subclasses naming the path and the problem.
    """
    root = require_savedmodel(path)
    _check_shards(root)
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
        raise SavedModelLoadError(
            path, f"TensorFlow could not load it: {type(error).__name__}: {_first_line(error)}"
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
    :class:`SavedModelLoadError` naming the file.
    """
    import keras

    keras_archive_members(path)  # raises NotAKerasArchiveError / ArtifactNotFoundError
    try:
        return keras.models.load_model(path, **kwargs)
    except (ValueError, TypeError, OSError, KeyError) as error:
        raise SavedModelLoadError(
            path, f"Keras could not load it: {type(error).__name__}: {_first_line(error)}"
        ) from error


# --- deployment files: .tflite (LiteRT) and .onnx (ONNX Runtime) ------------------------------

RUNTIMES = {"tflite": "LiteRT", "onnx": "ONNX Runtime"}
PROBE_TIMEOUT_S = 120.0


class NotADeploymentModelError(ArtifactError):
    """The file is not a model the runtime can open (empty, truncated, another format...)."""


class RuntimeCrashError(ArtifactError):
    """Opening the file killed the runtime's process (checked in a child, so not this one)."""


def _require_file(path: str | os.PathLike[str], kind: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise ArtifactNotFoundError(path, f"no such .{kind} file")
    if not path.is_file():
        raise NotADeploymentModelError(path, f"is a folder; a .{kind} model is a single file")
    if path.stat().st_size == 0:
        raise NotADeploymentModelError(path, f"is empty (0 bytes), not a .{kind} model")
    return path


def _check_tflite_header(path: Path) -> None:
    from helpers.tflite import TFLITE_MAGIC

    with path.open("rb") as file:
        header = file.read(8)
    if header[4:8] != TFLITE_MAGIC:
        raise NotADeploymentModelError(
            path, "has no TFL3 identifier in bytes 4-8: not a TFLite model (another format?)"
        )


def _open_tflite(path: Path) -> Any:
    from helpers.tflite import interpreter

    _check_tflite_header(path)
    try:
        return interpreter(path)
    except (ValueError, RuntimeError) as error:
        raise NotADeploymentModelError(
            path, f"LiteRT cannot read it (truncated or damaged?): {_first_line(error)}"
        ) from error


def _open_onnx(path: Path) -> Any:
    import onnxruntime

    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own pybind11 exception types
        message = _first_line(error).replace(str(path), "the file")
        if "Protobuf parsing failed" in message or "No graph was found" in message:
            problem = "is not a readable ONNX protobuf (truncated, damaged or another format?)"
        else:
            problem = f"ONNX Runtime refused it: {message}"
        raise NotADeploymentModelError(path, problem) from error


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
        raise NotADeploymentModelError(
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
        raise NotADeploymentModelError(
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

    Missing, folder, empty or non-TFLite files raise :class:`NotADeploymentModelError` (or
    :class:`~helpers.errors.ArtifactNotFoundError`) naming the path and the problem; with
    ``probe`` (the default) the file is first opened and run once in a child process, and a
    crash there raises :class:`RuntimeCrashError`.
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
        print(f"error: {RUNTIMES[kind]} failed on a zero input: {_first_line(error)}",
              file=sys.stderr)  # fmt: skip
        return 2
    return 0
