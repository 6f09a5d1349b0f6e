"""The child side of :func:`helpers.kit.sandbox.load_in_sandbox` (kit-internal machinery).

Run by nsjail as ``python -m helpers.kit.child load-in-sandbox /sandbox/in/spec.json``: the
namespaces, mounts, seccomp filter and limits are already in place (:mod:`helpers.kit.sandbox`).
It loads the model, calls it once, and writes every output to ``outputs.npz`` (strings as
``bytes`` arrays, nothing pickled) and ``result.json`` into the result folder. Every failure
ends up in ``result.json`` as ``ErrorType: message``.

Serves notebook 12.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any


def as_arrays(outputs: Any) -> dict[str, Any]:
    """Every output as a NumPy array that saves without pickle, by name."""
    import numpy as np

    if isinstance(outputs, dict):
        named = dict(outputs)
    elif isinstance(outputs, list | tuple):
        named = {f"output_{index}": value for index, value in enumerate(outputs)}
    else:
        named = {"output_0": outputs}
    arrays = {}
    for name, value in named.items():
        array = np.asarray(value)
        if array.dtype == object:  # TensorFlow strings come back as bytes objects
            array = array.astype(bytes)
        arrays[str(name)] = array
    return arrays


def run(model: Path, inputs: Any, safe_mode: bool) -> dict[str, Any]:
    """Load ``model`` (``.keras``/``.h5`` or SavedModel folder) and call it once on ``inputs``."""
    import helpers  # noqa: F401  (quiet TensorFlow's C++ logs before the import)

    if model.is_dir():
        import tensorflow as tf

        loaded = tf.saved_model.load(str(model))
        serve = loaded.signatures["serving_default"]
        (name,) = serve.structured_input_signature[1]  # signatures take keyword arguments
        return as_arrays(serve(**{name: tf.constant(inputs)}))
    import keras

    loaded = keras.models.load_model(model, safe_mode=safe_mode)
    return as_arrays(loaded(inputs))


_NOISE = ("Graph execution error", "Detected at node", "File ", "[[", "Node:", "Traceback")


def _summary(error: BaseException) -> str:
    """``Type: the line that says what went wrong`` (TensorFlow's messages end with it)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(_NOISE) and "defined at" not in line]
    text = " ".join(lines).replace("<stack traces unavailable> ", "")
    return f"{type(error).__name__}: {text[:400]}".strip().rstrip(":")


def _describe_with_cause(error: BaseException) -> str:
    """The error and, when Keras wrapped another one, the innermost cause."""
    innermost = error
    while (cause := innermost.__cause__ or innermost.__context__) is not None:
        innermost = cause
    text = _summary(error)
    return text if innermost is error else f"{text} <- caused by {_summary(innermost)}"


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    results = Path(spec["results"])
    result: dict[str, Any] = {"error": None}
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write raises, not kills
    try:
        import numpy as np

        inputs = np.load(spec["inputs"], allow_pickle=False)
        outputs = run(Path(spec["model"]), inputs, spec["safe_mode"])
        np.savez(results / "outputs.npz", allow_pickle=False, **outputs)
    except BaseException as error:  # report everything, including MemoryError
        result["error"] = _describe_with_cause(error)
    (results / "result.json").write_text(json.dumps(result))
    return 0
