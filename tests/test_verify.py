from __future__ import annotations

import numpy as np
import pytest

from helpers import verify
from helpers.errors import PredictionMismatchError


def test_identical_predictions_pass_and_say_so():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    result = verify.assert_same(a, a.copy(), names=("original", "reloaded"))
    assert result.identical and result.max_abs_diff == 0.0
    assert str(result) == "reloaded vs original: bit-identical (12 values)"


def test_smallest_difference_fails_by_default():
    a = np.ones((2, 2), dtype=np.float32)
    b = a.copy()
    b[1, 1] = np.nextafter(np.float32(1), np.float32(2))
    with pytest.raises(PredictionMismatchError, match="OVER tolerance"):
        verify.assert_same(a, b)


def test_tolerance_allows_small_differences_and_reports_them():
    a = np.zeros(4, dtype=np.float32)
    b = a + np.float32(3e-8)
    result = verify.assert_same(a, b, atol=1e-6, names=("saved", "tflite"))
    assert not result.identical and result.ok
    assert "max |difference| 3.0e-08 (within tolerance 1e-06" in str(result)


def test_nan_is_never_equal():
    a = np.zeros(3, dtype=np.float32)
    with pytest.raises(PredictionMismatchError):
        verify.assert_same(a, np.full(3, np.nan, dtype=np.float32), atol=1.0)
    with pytest.raises(PredictionMismatchError):
        verify.assert_same(a * np.nan, a * np.nan)


def test_shape_mismatch_is_an_error():
    with pytest.raises(PredictionMismatchError, match="shape"):
        verify.compare(np.zeros((2, 3)), np.zeros((3, 2)), names=("a", "b"))


def test_unwraps_single_output_dicts_and_tensors():
    import tensorflow as tf

    a = np.eye(3, dtype=np.float32)
    assert verify.assert_same(a, {"output_0": tf.constant(a)}).identical
    with pytest.raises(ValueError, match="expected one output"):
        verify.as_array({"a": a, "b": a})


def test_assert_same_predictions_calls_both():
    x = np.arange(5.0)
    result = verify.assert_same_predictions(lambda v: v * 2, lambda v: v + v, x)
    assert result.identical
    with pytest.raises(PredictionMismatchError):
        verify.assert_same_predictions(lambda v: v * 2, lambda v: v * 3, x)
