"""The child side of :func:`helpers.safety.load_in_sandbox` (kit-internal machinery).

Run as ``unshare --net --mount -- python -m helpers.sandbox_child SPEC.json``: the process
already has a private network namespace (only a loopback interface, which is down) and a
private mount namespace. Before TensorFlow is imported it

1. makes every mount read-only in its own namespace (the machine's mounts are not touched),
2. bind-mounts the scratch and result folders writable again, and hides the home folder
   under an empty read-only ``tmpfs`` (putting back, read-only, the folders inside it that the
   child needs: the Python installation, the model, the kit),
3. sets resource limits (address space, CPU seconds, size of any file written),

then loads the model, calls it once and writes ``outputs.npy`` and ``result.json`` into the
result folder. Every failure ends up in ``result.json`` as ``ErrorType: message``.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
from pathlib import Path
from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
_FLAG_NAMES = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
_SKIP = ("/proc", "/sys", "/dev")  # kernel interfaces: left as they are


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    encode = lambda text: None if text is None else text.encode()  # noqa: E731
    if libc.mount(encode(source), target.encode(), encode(fstype), flags, encode(data)) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {target}: {os.strerror(error)}")


def _mounts() -> list[tuple[str, int]]:
    """Mount points of this namespace with their per-mount flags, parents first."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        target = fields[4].replace("\\040", " ")
        options = fields[5].split(",")
        flags = sum(flag for name, flag in _FLAG_NAMES.items() if name in options)
        found.append((target, flags))
    return found


def confine(scratch: Path, results: Path, home: Path | None, keep: list[Path], stage: Path) -> None:
    """Everything read-only except ``scratch`` and ``results``; ``home`` hidden but ``keep``.

    ``keep`` lists folders inside ``home`` the child needs (the Python installation, the
    model, the kit): each is bind-mounted to an empty folder under ``stage`` before the home
    folder is covered by an empty ``tmpfs``, then mounted back at its own path, read-only.
    """
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we do propagates outside
    for target, flags in _mounts():
        if target.startswith(_SKIP):
            continue
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
    for writable in (scratch, results):
        _mount(str(writable), str(writable), None, MS_BIND)  # inherits read-only: undo below
        _mount(None, str(writable), None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
    if home is None:
        return
    staged = []
    for index, folder in enumerate(keep):
        holder = stage / str(index)
        _mount(str(folder), str(holder), None, MS_BIND | MS_REC)
        staged.append((holder, folder))
    _mount("tmpfs", str(home), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    for holder, folder in staged:
        folder.mkdir(parents=True, exist_ok=True)  # an empty mount point in the tmpfs
        _mount(str(holder), str(folder), None, MS_BIND | MS_REC)
        _mount(None, str(folder), None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    _mount(None, str(home), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def limit(memory_bytes: int, cpu_seconds: int, file_bytes: int) -> None:
    """Address space, CPU time and largest writable file; a too-large write raises OSError."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG error instead of a killed process
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run(model: Path, inputs: Any, safe_mode: bool) -> Any:
    """Load ``model`` (``.keras``/``.h5`` or SavedModel folder) and call it once on ``inputs``."""
    import numpy as np

    import helpers  # noqa: F401  (quiet TensorFlow's C++ logs before the import)

    if model.is_dir():
        import tensorflow as tf

        loaded = tf.saved_model.load(str(model))
        serve = loaded.signatures["serving_default"]
        (name,) = serve.structured_input_signature[1]  # signatures take keyword arguments
        outputs = serve(**{name: tf.constant(inputs)})
        return np.asarray(next(iter(outputs.values())))
    import keras

    loaded = keras.models.load_model(model, safe_mode=safe_mode)
    return np.asarray(loaded(inputs))


_NOISE = ("Graph execution error", "Detected at node", "File ", "[[", "Node:", "Traceback")


def _summary(error: BaseException) -> str:
    """``Type: the line that says what went wrong`` (TensorFlow's messages end with it)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(_NOISE) and "defined at" not in line]
    text = " ".join(lines).replace("<stack traces unavailable> ", "")
    return f"{type(error).__name__}: {text[:400]}".strip().rstrip(":")


def describe(error: BaseException) -> str:
    """The error and, when Keras wrapped another one, the innermost cause."""
    innermost = error
    while (cause := innermost.__cause__ or innermost.__context__) is not None:
        innermost = cause
    text = _summary(error)
    return text if innermost is error else f"{text} <- caused by {_summary(innermost)}"


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    results = Path(spec["results"])
    scratch = Path(spec["scratch"])
    result: dict[str, Any] = {"stage": "confine"}
    try:
        home = Path(spec["home"]) if spec.get("home") else None
        keep = [Path(folder) for folder in spec["keep"]]
        confine(scratch, results, home, keep, Path(spec["stage"]))
        result["stage"] = "limit"
        limit(spec["memory_bytes"], spec["cpu_seconds"], spec["file_bytes"])
        os.chdir(scratch)
        result["stage"] = "run"
        import numpy as np

        inputs = np.load(spec["inputs"], allow_pickle=False)
        outputs = run(Path(spec["model"]), inputs, spec["safe_mode"])
        np.save(results / "outputs.npy", outputs, allow_pickle=False)
        result = {"stage": "done", "error": None}
    except BaseException as error:  # report everything, including MemoryError
        result["error"] = describe(error)
    (results / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
