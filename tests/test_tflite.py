"""Unit tests for helpers.tflite: native stderr capture, file checks, the interpreter."""

from __future__ import annotations

import os

import numpy as np
import pytest

from helpers import tflite
from helpers.errors import ArtifactNotFoundError, CorruptArtifactError


def test_capture_native_stderr_catches_writes_to_descriptor_2(capfd) -> None:
    with tflite.capture_native_stderr() as lines:
        os.write(2, b"INFO: from C\nsecond line\n")
    assert lines == ["INFO: from C", "second line"]
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"  # descriptor 2 is restored


def test_require_tflite_names_the_problem(tmp_path) -> None:
    with pytest.raises(ArtifactNotFoundError, match="no such"):
        tflite.require_tflite(tmp_path / "missing.tflite")
    with pytest.raises(CorruptArtifactError, match="folder"):
        tflite.require_tflite(tmp_path)
    fake = tmp_path / "fake.tflite"
    fake.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(CorruptArtifactError, match="TFL3"):
        tflite.require_tflite(fake)


@pytest.mark.parametrize("default_delegate", [False, True])
def test_interpreter_runs_a_converted_function_quietly(tmp_path, capfd, default_delegate) -> None:
    import tensorflow as tf

    class Doubler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def double(self, x):
            return {"y": x * 2.0}

    module = Doubler()
    tf.saved_model.save(module, str(tmp_path / "export"), signatures={"double": module.double})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "export"))
    path = tmp_path / "double.tflite"
    path.write_bytes(converter.convert())
    capfd.readouterr()
    runner = tflite.interpreter(path, default_delegate=default_delegate)
    output = runner.get_signature_runner("double")(x=np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(output["y"], np.full((2, 3), 2.0, np.float32))
    assert "XNNPACK" not in capfd.readouterr().err
