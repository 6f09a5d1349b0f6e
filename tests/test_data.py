from __future__ import annotations

import numpy as np

from helpers.kit import data


def test_digits_split_is_stratified_scaled_and_repeatable():
    digits = data.load_digits()
    assert digits.x_train.shape == (1437, 64) and digits.x_test.shape == (360, 64)
    assert digits.x_train.dtype == np.float32 and digits.y_train.dtype == np.int32
    assert digits.x_train.min() >= 0.0 and digits.x_train.max() == 1.0
    assert set(np.unique(digits.y_test)) == set(range(10))
    assert np.array_equal(data.load_digits().x_test, digits.x_test)
    assert digits.images_test.shape == (360, 8, 8)


def test_raw_digits_keep_integer_pixels():
    raw = data.load_digits(scaled=False)
    assert raw.x_train.max() == data.PIXEL_MAX
    assert np.array_equal(raw.x_train, np.round(raw.x_train))
    assert np.allclose(raw.x_test / data.PIXEL_MAX, data.load_digits().x_test)


def test_synthetic_784_mirrors_the_seed_shapes():
    x, y = data.synthetic_784(100)
    assert x.shape == (100, 784) and y.shape == (100, 10)
    assert np.array_equal(y.sum(axis=1), np.ones(100))
    assert np.array_equal(data.synthetic_784(100)[0], x)
    assert not np.array_equal(data.synthetic_784(100, seed=1)[0], x)
