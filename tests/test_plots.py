from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from helpers.kit import plots


def test_training_curves_plot_train_and_validation():
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.6], "accuracy": [0.5, 0.8]}
    fig = plots.training_curves(history)
    loss_axis, accuracy_axis = fig.axes
    assert [line.get_label() for line in loss_axis.lines] == ["train", "validation"]
    assert [line.get_label() for line in accuracy_axis.lines] == ["train"]
    with pytest.raises(ValueError, match="no 'loss'"):
        plots.training_curves({"mae": [1.0]})


def test_digit_grid_marks_mistakes_in_red():
    images = np.zeros((3, 64))
    fig = plots.digit_grid(images, [1, 2, 3], [1, 7, 3], columns=2)
    titles = [(axis.get_title(), axis.title.get_color()) for axis in fig.axes if axis.get_title()]
    assert titles == [("1", "black"), ("7 (2)", "red"), ("3", "black")]
    with pytest.raises(ValueError, match="same length"):
        plots.digit_grid(images, [1, 2], [1, 2, 3])
