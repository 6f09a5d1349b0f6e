"""Figures for the notebooks. Each function returns its figure: assign it (``fig = ...``).

Serves notebooks 01 and 03.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def training_curves(history: Mapping[str, Sequence[float]], title: str = "Training") -> Figure:
    """Loss and accuracy per epoch, training and validation, side by side."""
    history = getattr(history, "history", history)  # accept a keras History too
    metrics = [name for name in ("loss", "accuracy") if name in history]
    if not metrics:
        raise ValueError(f"history has no 'loss' or 'accuracy' (keys: {sorted(history)})")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.2), squeeze=False)
    for axis, metric in zip(axes[0], metrics, strict=True):
        epochs = np.arange(1, len(history[metric]) + 1)
        axis.plot(epochs, history[metric], label="train")
        if f"val_{metric}" in history:
            axis.plot(epochs, history[f"val_{metric}"], label="validation")
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def digit_grid(
    images: np.ndarray,
    true_labels: Sequence[int],
    predicted_labels: Sequence[int] | None = None,
    *,
    columns: int = 8,
    title: str = "",
) -> Figure:
    """8×8 digits with their labels; a wrong prediction is titled in red as ``pred (true)``."""
    images = np.asarray(images).reshape(-1, 8, 8)
    count = len(images)
    if len(true_labels) != count or (
        predicted_labels is not None and len(predicted_labels) != count
    ):
        raise ValueError("images, true_labels and predicted_labels must have the same length")
    rows = max(1, -(-count // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.25), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= count:
            continue
        axis.imshow(images[index], cmap="gray_r")
        truth = int(true_labels[index])
        if predicted_labels is None:
            axis.set_title(str(truth), fontsize=10)
        else:
            guess = int(predicted_labels[index])
            wrong = guess != truth
            label = f"{guess} ({truth})" if wrong else str(guess)
            axis.set_title(label, fontsize=10, color="red" if wrong else "black")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
