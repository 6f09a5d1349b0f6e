"""Offline data: scikit-learn's bundled digits, and a synthetic set shaped like the seed's.

Serves every notebook but 12.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PIXEL_MAX = 16.0  # the digits' pixels are integers 0..16
CLASS_NAMES = tuple(str(digit) for digit in range(10))


@dataclass(frozen=True)
class Digits:
    """A stratified train/test split of the 8×8 digits, flat (64 features per image)."""

    x_train: np.ndarray  # float32, (n_train, 64)
    y_train: np.ndarray  # int32, (n_train,)
    x_test: np.ndarray  # float32, (n_test, 64)
    y_test: np.ndarray  # int32, (n_test,)
    scaled: bool  # True: pixels in [0, 1]; False: raw 0..16

    @property
    def images_train(self) -> np.ndarray:
        """The training images as (n_train, 8, 8)."""
        return self.x_train.reshape(-1, 8, 8)

    @property
    def images_test(self) -> np.ndarray:
        """The test images as (n_test, 8, 8)."""
        return self.x_test.reshape(-1, 8, 8)


def load_digits(*, scaled: bool = True, test_fraction: float = 0.2, seed: int = 0) -> Digits:
    """The 1,797 digits that ship inside scikit-learn (nothing is downloaded)."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    x = bunch.data.astype(np.float32)
    if scaled:
        x /= PIXEL_MAX
    y = bunch.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return Digits(x_train, y_train, x_test, y_test, scaled)


def synthetic_784(n: int = 100, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs and one-hot labels shaped like the seed's example: (n, 784) and (n, 10).

    There is nothing to learn in them; they exist to mirror the seed's code exactly.
    """
    rng = np.random.default_rng(seed)
    x = rng.random((n, 784), dtype=np.float32)
    labels = rng.integers(0, 10, size=n)
    return x, np.eye(10, dtype=np.float32)[labels]
