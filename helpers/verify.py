"""Compare two predictors on the same inputs, and fail loudly when they disagree.

Serves notebooks 03, 06, 07, 09 and 10.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers.errors import PredictionMismatchError


def as_array(output: Any) -> np.ndarray:
    """A prediction as a NumPy array: accepts arrays, tensors, and one-entry dicts or lists."""
    if isinstance(output, Mapping):
        if len(output) != 1:
            raise ValueError(f"expected one output, got keys {sorted(output)}: pick one first")
        output = next(iter(output.values()))
    elif isinstance(output, (list, tuple)) and len(output) == 1:
        output = output[0]
    return np.asarray(output)


@dataclass(frozen=True)
class Comparison:
    """The result of comparing predictions ``a`` and ``b``."""

    name_a: str
    name_b: str
    shape: tuple[int, ...]
    max_abs_diff: float
    identical: bool
    atol: float

    @property
    def ok(self) -> bool:
        return self.identical or self.max_abs_diff <= self.atol

    def __str__(self) -> str:
        values = int(np.prod(self.shape))
        if self.identical:
            return f"{self.name_b} vs {self.name_a}: bit-identical ({values:,} values)"
        verdict = "within" if self.ok else "OVER"
        return (
            f"{self.name_b} vs {self.name_a}: max |difference| {self.max_abs_diff:.1e} "
            f"({verdict} tolerance {self.atol:.0e}, {values:,} values)"
        )


def compare(
    a: Any, b: Any, *, atol: float = 0.0, names: tuple[str, str] = ("a", "b")
) -> Comparison:
    """Compare two predictions; shapes must match. NaN never counts as equal."""
    array_a, array_b = as_array(a), as_array(b)
    if array_a.shape != array_b.shape:
        raise PredictionMismatchError(
            f"{names[1]} has shape {array_b.shape} but {names[0]} has {array_a.shape}"
        )
    identical = bool(np.array_equal(array_a, array_b))
    if array_a.size == 0:
        diff = 0.0
    else:
        with np.errstate(invalid="ignore"):
            delta = np.abs(array_a.astype(np.float64) - array_b.astype(np.float64))
        diff = float("nan") if np.isnan(delta).any() else float(delta.max())
    return Comparison(names[0], names[1], array_a.shape, diff, identical, atol)


def assert_same(
    a: Any, b: Any, *, atol: float = 0.0, names: tuple[str, str] = ("a", "b")
) -> Comparison:
    """:func:`compare`, raising :class:`PredictionMismatchError` when not within ``atol``.

    With the default ``atol=0`` the predictions must be bit-identical.
    """
    result = compare(a, b, atol=atol, names=names)
    if not result.ok:
        raise PredictionMismatchError(str(result))
    return result


def assert_same_predictions(
    predict_a: Callable[[np.ndarray], Any],
    predict_b: Callable[[np.ndarray], Any],
    inputs: np.ndarray,
    *,
    atol: float = 0.0,
    names: tuple[str, str] = ("a", "b"),
) -> Comparison:
    """Run both predictors on ``inputs`` and :func:`assert_same` their outputs."""
    return assert_same(predict_a(inputs), predict_b(inputs), atol=atol, names=names)
