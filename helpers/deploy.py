"""Run deployment artifacts on a whole batch: ``.tflite`` with LiteRT, ``.onnx`` with ONNX Runtime.

:func:`run_litert` is written out in notebook 10, which teaches it; later code imports it.

Serves notebooks 07 and 10.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from helpers.tflite import frameworks_imported


def run_litert(path: str | Path, inputs: np.ndarray) -> np.ndarray:
    """Run a one-input, one-output ``.tflite`` file on a batch of any size; return floats.

    The file's input has a fixed batch of 1 (``shape``) but a free one in ``shape_signature``,
    so the input is resized to the batch first. An int8 model's input is quantized with the
    input's scale and zero point and its output dequantized, so every variant returns floats.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_path=str(path),
        # Built-in kernels only: no XNNPACK delegate, so no "INFO: Created ..." line on stderr.
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    (input_detail,) = interpreter.get_input_details()
    (output_detail,) = interpreter.get_output_details()
    batch = np.asarray(inputs, dtype=np.float32)
    interpreter.resize_tensor_input(input_detail["index"], batch.shape)
    interpreter.allocate_tensors()
    if input_detail["dtype"] == np.int8:
        scale, zero_point = input_detail["quantization"]
        batch = np.clip(np.round(batch / scale + zero_point), -128, 127).astype(np.int8)
    interpreter.set_tensor(input_detail["index"], batch)
    interpreter.invoke()
    outputs = interpreter.get_tensor(output_detail["index"])
    if output_detail["dtype"] == np.int8:
        scale, zero_point = output_detail["quantization"]
        outputs = (outputs.astype(np.float32) - zero_point) * scale
    return outputs


def run_onnx(path: str | os.PathLike[str], inputs: Any) -> np.ndarray:
    """Run a one-input ``.onnx`` file with ONNX Runtime (CPU) on a float32 batch."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (input_info,) = session.get_inputs()
    return session.run(None, {input_info.name: np.asarray(inputs, dtype=np.float32)})[0]


def run_file(model_path: str, inputs_path: str, outputs_path: str) -> str:
    """Run a ``.tflite`` or ``.onnx`` file on a ``.npy`` batch; save the output as ``.npy``.

    Returns which of TensorFlow and Keras the process had imported by then: run as
    ``python -m helpers.deploy MODEL INPUTS OUTPUTS`` (notebook 07), the check that these
    runtimes need neither.
    """
    run = run_onnx if Path(model_path).suffix == ".onnx" else run_litert
    np.save(outputs_path, run(model_path, np.load(inputs_path)))
    return frameworks_imported()


if __name__ == "__main__":
    from helpers.kit import runner

    sys.exit(runner.call(run_file, sys.argv[1:], "python -m helpers.deploy"))
