"""Checks for notebook 10's exercises: a fixed-batch ``.tflite``; ship a measured model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from helpers.checks.core import exercise, expect, require
from helpers.errors import ArtifactError

TOLERANCE = 1e-5  # float32 .tflite against Keras, as in the notebook
FIXED_BATCH = 8
REPORT_KEYS = ("size_bytes", "accuracy", "agreement", "max_deviation")
MAX_ACCURACY_LOSS, MIN_AGREEMENT = 0.01, 0.99  # exercise 2's rule


@exercise("10.1", "a fixed batch for a device")
def exercise_1(
    fixed_path: str | os.PathLike[str] | None,
    fixed_signature: Any,
    model: Any,
    inputs: np.ndarray,
) -> str:
    """A ``.tflite`` with a fixed batch of 8 that matches Keras, and its signature read back."""
    from helpers.loading import load_tflite

    path = Path(require(fixed_path, "fixed_path", "the .tflite file"))
    answer = require(fixed_signature, "fixed_signature", "the shape_signature, as a list")
    try:
        interpreter = load_tflite(path)
    except ArtifactError as error:
        expect(False, f"LiteRT cannot use `fixed_path`: {error.problem}.")
    (input_detail,) = interpreter.get_input_details()
    (output_detail,) = interpreter.get_output_details()
    signature = input_detail["shape_signature"].tolist()
    expect(
        -1 not in signature,
        f"The file's shape_signature is {signature}: the batch is still free (-1). Pass "
        "`input_signature=[...]` with a batch of 8 to `model.export`.",
    )
    expect(
        signature == [FIXED_BATCH, 64],
        f"The file's shape_signature is {signature}; the device wants [{FIXED_BATCH}, 64].",
    )
    expect(
        isinstance(answer, list | tuple | np.ndarray) and list(np.asarray(answer)) == signature,
        f"`fixed_signature` is {answer!r}, but the file says {signature}: read it back from the "
        "file with an interpreter's `get_input_details()[0]['shape_signature']`.",
    )
    batch = np.asarray(inputs[:FIXED_BATCH], dtype=np.float32)
    interpreter.set_tensor(input_detail["index"], batch)  # no resize: the shape is fixed
    interpreter.invoke()
    outputs = interpreter.get_tensor(output_detail["index"])
    difference = float(np.abs(outputs - model.predict(batch, verbose=0)).max())
    expect(
        difference <= TOLERANCE,
        f"On 8 test digits your file differs from Keras by up to {difference:.1e} (more than "
        f"{TOLERANCE:.0e}): did you export this notebook's `model`, unquantized?",
    )
    return (
        f"{path.name}: shape_signature {signature}, runs 8 digits as allocated, within "
        f"{difference:.0e} of Keras."
    )


def measure(path: str | os.PathLike[str], model: Any, digits: Any) -> dict[str, float]:
    """Size, test accuracy, class agreement and max probability deviation from Keras."""
    from helpers.deploy import run_litert

    expected = model.predict(digits.x_test, verbose=0)
    outputs = run_litert(path, digits.x_test)
    return {
        "size_bytes": Path(path).stat().st_size,
        "accuracy": float(np.mean(outputs.argmax(axis=1) == digits.y_test)),
        "agreement": float(np.mean(outputs.argmax(axis=1) == expected.argmax(axis=1))),
        "max_deviation": float(np.abs(outputs - expected).max()),
    }


@exercise("10.2", "ship the smallest model that is good enough")
def exercise_2(
    shipped: str | os.PathLike[str] | None,
    shipped_report: Mapping[str, float] | None,
    variant_paths: Mapping[str, str | os.PathLike[str]],
    model: Any,
    digits: Any,
) -> str:
    """The smallest variant that meets the rule, with numbers that match a fresh measurement."""
    shipped = Path(require(shipped, "shipped", "a path from `variant_paths`"))
    report = require(shipped_report, "shipped_report", "a dict of measured numbers")
    names = {Path(path).resolve(): name for name, path in variant_paths.items()}
    expect(
        shipped.resolve() in names,
        f"`shipped` should be one of the files in `variant_paths`, not {shipped.name}.",
    )
    expect(
        isinstance(report, Mapping) and all(key in report for key in REPORT_KEYS),
        f"`shipped_report` needs the keys {list(REPORT_KEYS)}.",
    )
    keras_accuracy = float(
        np.mean(model.predict(digits.x_test, verbose=0).argmax(axis=1) == digits.y_test)
    )
    measured = {name: measure(path, model, digits) for name, path in variant_paths.items()}
    name = names[shipped.resolve()]
    for key in REPORT_KEYS:
        expect(
            abs(float(report[key]) - measured[name][key]) <= 1e-6 * max(1.0, measured[name][key]),
            f"Your {key} for {name} is {report[key]!r}; measured again it is "
            f"{measured[name][key]!r}. Report numbers you measured on this file.",
        )

    def meets_rule(row: Mapping[str, float]) -> bool:
        return row["accuracy"] >= keras_accuracy - MAX_ACCURACY_LOSS and (
            row["agreement"] >= MIN_AGREEMENT
        )

    row = measured[name]
    expect(
        meets_rule(row),
        f"{name} does not meet the rule: accuracy {row['accuracy']:.4f} (Keras "
        f"{keras_accuracy:.4f}), same class as Keras for {row['agreement']:.2%} of the digits.",
    )
    smaller = sorted(
        (
            other
            for other, r in measured.items()
            if meets_rule(r) and r["size_bytes"] < row["size_bytes"]
        ),
        key=lambda other: measured[other]["size_bytes"],
    )
    expect(not smaller, f"{smaller[0] if smaller else ''} also meets the rule and is smaller.")
    return (
        f"{name}: {row['size_bytes']:,} bytes, accuracy {row['accuracy']:.4f} (Keras "
        f"{keras_accuracy:.4f}), same class for {row['agreement']:.2%}, max deviation "
        f"{row['max_deviation']:.1e}: measured, not assumed."
    )
