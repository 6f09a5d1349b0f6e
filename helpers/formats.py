"""Save, load and time one Keras model in each saving format, for notebook 07 and the benchmark.

Formats: ``weights.h5`` (``model.save_weights``), ``keras`` (``model.save``), ``checkpoint``
(``tf.train.Checkpoint``), ``savedmodel`` (``model.export``) and ``tflite`` (converted from
the export, run with LiteRT). ``numpy`` (one ``numpy.save`` per weight array, one file) is the
floor: the least work any format must do to put the same bytes on disk.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.errors import ArtifactError

FLOOR = "numpy"
FORMATS = ("weights.h5", "keras", "checkpoint", "savedmodel", "tflite")
INPUT_WIDTH, OUTPUT_WIDTH, HIDDEN_LAYERS = 64, 10, 3


class FormatBenchmarkError(ArtifactError):
    """A format's artifact did not reload to the same predictions, or could not be measured."""


def mlp_parameters(width: int, hidden_layers: int = HIDDEN_LAYERS) -> int:
    """Parameters of :func:`sized_mlp`'s model for a hidden ``width``."""
    return (
        (INPUT_WIDTH + 1) * width
        + (hidden_layers - 1) * (width + 1) * width
        + (width + 1) * OUTPUT_WIDTH
    )


def width_for(parameters: int, hidden_layers: int = HIDDEN_LAYERS) -> int:
    """The hidden width whose MLP has about ``parameters`` parameters (at least 1)."""
    if parameters <= 0:
        raise ValueError(f"parameters must be positive, got {parameters}")
    a = hidden_layers - 1
    b = INPUT_WIDTH + 1 + a + OUTPUT_WIDTH
    if a == 0:
        return max(1, round((parameters - OUTPUT_WIDTH) / b))
    width = (-b + math.sqrt(b * b + 4 * a * (parameters - OUTPUT_WIDTH))) / (2 * a)
    return max(1, round(width))


def sized_mlp(parameters: int, *, seed: int = 0) -> Any:
    """An uncompiled MLP on a named 64-wide input with about ``parameters`` parameters.

    Uncompiled, so every format saves the same thing: the weights (no optimizer state).
    """
    import keras

    keras.utils.set_random_seed(seed)
    width = width_for(parameters)
    inputs = keras.Input(shape=(INPUT_WIDTH,), name="pixels")
    x = inputs
    for index in range(HIDDEN_LAYERS):
        x = keras.layers.Dense(width, activation="relu", name=f"hidden_{index}")(x)
    outputs = keras.layers.Dense(OUTPUT_WIDTH, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"mlp_{width}")


def size_on_disk(path: str | os.PathLike[str]) -> int:
    """Bytes of a file, or of every file under a folder; a checkpoint prefix counts its files."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())
    siblings = list(path.parent.glob(path.name + ".*")) if path.parent.is_dir() else []
    if siblings:  # tf.train.Checkpoint writes prefix.index and prefix.data-*
        return sum(file.stat().st_size for file in siblings if file.is_file())
    raise FormatBenchmarkError(path, "nothing on disk at this path")


# --- save / load / predict, one set per format -----------------------------------------------


def _predictor_keras(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: np.asarray(model.predict_on_batch(x))


def _save(format_name: str, model: Any, target: Path) -> Path:
    import tensorflow as tf

    if format_name == FLOOR:
        path = target / "weights.npy"
        with path.open("wb") as file:
            for array in model:  # the arrays, taken out of the model before the clock started
                np.save(file, array)
        return path
    if format_name == "weights.h5":
        path = target / "model.weights.h5"
        model.save_weights(path)
        return path
    if format_name == "keras":
        path = target / "model.keras"
        model.save(path)
        return path
    if format_name == "checkpoint":
        return Path(tf.train.Checkpoint(model=model).write(str(target / "ckpt")))
    if format_name == "savedmodel":
        path = target / "export"
        model.export(path, verbose=False)
        return path
    if format_name == "tflite":
        export = target / "export-for-tflite"
        model.export(export, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(export))
        path = target / "model.tflite"
        path.write_bytes(converter.convert())
        shutil.rmtree(export)  # only the .tflite file is the artifact
        return path
    raise ValueError(f"unknown format {format_name!r}; expected one of {(FLOOR, *FORMATS)}")


def _load(
    format_name: str, path: Path, parameters: int
) -> Callable[[np.ndarray], np.ndarray] | list[np.ndarray]:
    import keras
    import tensorflow as tf

    if format_name == FLOOR:
        arrays = []
        with path.open("rb") as file:
            while file.tell() < path.stat().st_size:
                arrays.append(np.load(file))
        return arrays
    if format_name == "weights.h5":
        fresh = sized_mlp(parameters, seed=1)  # the architecture comes from code
        fresh.load_weights(path)
        return _predictor_keras(fresh)
    if format_name == "keras":
        return _predictor_keras(keras.models.load_model(path))
    if format_name == "checkpoint":
        fresh = sized_mlp(parameters, seed=1)
        tf.train.Checkpoint(model=fresh).read(str(path)).assert_consumed()
        return _predictor_keras(fresh)
    if format_name == "savedmodel":
        served = tf.saved_model.load(str(path))
        return lambda x: served.serve(x).numpy()
    if format_name == "tflite":
        from helpers.tflite import interpreter

        runner = interpreter(path).get_signature_runner("serving_default")
        key = "pixels"
        return lambda x: next(iter(runner(**{key: x}).values()))
    raise ValueError(f"unknown format {format_name!r}; expected one of {(FLOOR, *FORMATS)}")


@dataclass(frozen=True)
class Timing:
    """One measurement of one format on one model."""

    format: str
    parameters: int
    size_bytes: int
    save_s: float
    load_s: float
    first_predict_s: float  # the first call after loading (tracing, allocation included)
    steady_predict_s: float  # median of later calls, batch of one

    @property
    def save_mb_per_s(self) -> float:
        """Save throughput: the raw weight bytes (4 per parameter) per second of saving."""
        return self.parameters * 4 / 1e6 / self.save_s


def measure(
    format_name: str,
    model: Any,
    folder: str | os.PathLike[str],
    *,
    steady_calls: int = 10,
    atol: float = 1e-4,
) -> Timing:
    """Save ``model`` in ``format_name`` under ``folder``, reload it, and time every step.

    The reloaded predictor must agree with ``model`` on a batch of one (within ``atol`` for
    TFLite, exactly otherwise), or :class:`FormatBenchmarkError` is raised.
    """
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    parameters = int(model.count_params())
    sample = np.linspace(0, 1, INPUT_WIDTH, dtype=np.float32).reshape(1, INPUT_WIDTH)

    arrays = model.get_weights() if format_name == FLOOR else None
    if hasattr(os, "sync"):
        os.sync()  # start clean: no earlier save's dirty pages being flushed during this one
    start = time.perf_counter()
    path = _save(format_name, model if arrays is None else arrays, folder)
    save_s = time.perf_counter() - start

    start = time.perf_counter()
    loaded = _load(format_name, path, parameters)
    load_s = time.perf_counter() - start

    if format_name == FLOOR:
        for saved, restored in zip(arrays, loaded, strict=True):
            if not np.array_equal(saved, restored):
                raise FormatBenchmarkError(path, "numpy.load gave different arrays")
        first_s = steady_s = math.nan
    else:
        start = time.perf_counter()
        first = loaded(sample)
        first_s = time.perf_counter() - start
        calls = []
        for _ in range(steady_calls):
            start = time.perf_counter()
            loaded(sample)
            calls.append(time.perf_counter() - start)
        steady_s = statistics.median(calls)
        expected = np.asarray(model.predict_on_batch(sample))
        tolerance = atol if format_name == "tflite" else 0.0
        if not np.allclose(first, expected, rtol=0, atol=tolerance):
            raise FormatBenchmarkError(path, f"reloaded {format_name} predicts differently")
    return Timing(format_name, parameters, size_on_disk(path), save_s, load_s, first_s, steady_s)


def sweep(
    sizes: Sequence[int],
    folder: str | os.PathLike[str],
    *,
    formats: Sequence[str] = (FLOOR, *FORMATS),
    repeats: int = 3,
    steady_calls: int = 10,
    progress: Callable[[str], None] | None = None,
) -> list[Timing]:
    """Measure every format at every size ``repeats`` times; returns the per-point medians."""
    import keras

    results = []
    for parameters in sizes:
        model = sized_mlp(parameters)
        for format_name in formats:
            runs = []
            for _ in range(repeats):
                runs.append(
                    measure(
                        format_name,
                        model,
                        Path(folder) / format_name,
                        steady_calls=steady_calls,
                    )
                )
            results.append(median_timing(runs))
            shutil.rmtree(Path(folder) / format_name, ignore_errors=True)
            if progress:
                progress(describe(results[-1]))
        del model
        keras.backend.clear_session()
    return results


def median_timing(runs: Sequence[Timing]) -> Timing:
    """The median of each timing over ``runs`` (same format and model)."""
    if not runs:
        raise ValueError("no runs to take the median of")
    first = runs[0]
    if any((run.format, run.parameters) != (first.format, first.parameters) for run in runs):
        raise ValueError("runs mix formats or model sizes")

    def med(field: str) -> float:
        return statistics.median(getattr(run, field) for run in runs)

    return Timing(
        first.format,
        first.parameters,
        int(med("size_bytes")),
        med("save_s"),
        med("load_s"),
        med("first_predict_s"),
        med("steady_predict_s"),
    )


def describe(timing: Timing) -> str:
    """One line: format, size and rounded timings (for progress output, not for nbval)."""
    return (
        f"{timing.format:<11} {timing.parameters:>11,} params  {timing.size_bytes / 1e6:9.2f} MB"
        f"  save {timing.save_s:8.3f} s  load {timing.load_s:8.3f} s"
        f"  first {timing.first_predict_s:8.4f} s  steady {timing.steady_predict_s * 1e3:8.3f} ms"
    )


def save_ratios(results: Sequence[Timing]) -> dict[tuple[str, int], float]:
    """Each format's save throughput as a fraction of the ``numpy`` floor at the same size."""
    floor = {t.parameters: t.save_s for t in results if t.format == FLOOR}
    ratios = {}
    for timing in results:
        if timing.format != FLOOR and timing.parameters in floor:
            ratios[timing.format, timing.parameters] = floor[timing.parameters] / timing.save_s
    return ratios


def growth_exponent(parameters: Sequence[float], values: Sequence[float]) -> float:
    """The slope of log(value) against log(parameters): 1 means cost grows in proportion."""
    if len(parameters) != len(values) or len(parameters) < 2:
        raise ValueError("need at least two (parameters, value) points of equal count")
    slope, _ = np.polyfit(np.log(parameters), np.log(values), 1)
    return float(slope)


# --- reporting ---------------------------------------------------------------------------------

COLUMNS = ("format", "parameters", "size_MB", "save_s", "load_s", "first_ms", "steady_ms")


def markdown_table(results: Sequence[Timing]) -> str:
    """A Markdown table of ``results`` plus each save's throughput against the floor."""
    ratios = save_ratios(results)
    lines = [
        "| format | parameters | size (MB) | save (s) | load (s) | first prediction (ms) "
        "| steady prediction (ms) | save throughput vs numpy.save |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in results:
        ratio = ratios.get((t.format, t.parameters))
        lines.append(
            f"| {t.format} | {t.parameters:,} | {t.size_bytes / 1e6:.2f} | {t.save_s:.3f} "
            f"| {t.load_s:.3f} | {_ms(t.first_predict_s)} | {_ms(t.steady_predict_s)} "
            f"| {'floor' if t.format == FLOOR else f'{ratio:.3g}×' if ratio else ''} |"
        )
    return "\n".join(lines)


def _ms(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1e3:.3f}"


def plot(results: Sequence[Timing], title: str = "Saving formats") -> Any:
    """Size, save, load, first and steady prediction against parameters, log-log; returns it."""
    import matplotlib.pyplot as plt

    panels = (
        ("size_bytes", "size on disk (MB)", 1e-6),
        ("save_s", "save time (s)", 1.0),
        ("load_s", "load time (s)", 1.0),
        ("first_predict_s", "first prediction (ms)", 1e3),
        ("steady_predict_s", "steady prediction, batch 1 (ms)", 1e3),
        ("ratio", "save throughput / numpy.save", 1.0),
    )
    ratios = save_ratios(results)
    names = [name for name in (FLOOR, *FORMATS) if any(t.format == name for t in results)]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    for axis, (field, label, scale) in zip(axes.flat, panels, strict=True):
        for name in names:
            points = sorted((t for t in results if t.format == name), key=lambda t: t.parameters)
            if field == "ratio":
                pairs = [(t.parameters, ratios[name, t.parameters]) for t in points
                         if (name, t.parameters) in ratios]  # fmt: skip
            else:
                pairs = [(t.parameters, getattr(t, field) * scale) for t in points
                         if not math.isnan(getattr(t, field))]  # fmt: skip
            if pairs:
                xs, ys = zip(*pairs, strict=True)
                style = "k--" if name == FLOOR else "-"
                axis.plot(xs, ys, style, marker="o", label=name)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("parameters")
        axis.set_title(label)
        axis.grid(alpha=0.3, which="both")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def to_rows(results: Sequence[Timing]) -> list[dict[str, Any]]:
    """Plain dicts (for JSON)."""
    return [timing.__dict__.copy() for timing in results]


def from_rows(rows: Sequence[dict[str, Any]]) -> list[Timing]:
    """The inverse of :func:`to_rows`."""
    return [Timing(**row) for row in rows]


def decision_map(checks: dict[str, dict[str, bool]], title: str = "What each format keeps") -> Any:
    """A grid figure: one row per property, one column per format, ✓ (green) or ✗ (grey).

    ``checks[property][format]`` is the result of a check run in code; every cell must be set.
    """
    import matplotlib.pyplot as plt

    properties = list(checks)
    names = list(checks[properties[0]]) if properties else []
    for prop in properties:
        if list(checks[prop]) != names:
            raise ValueError(f"row {prop!r} has formats {list(checks[prop])}, expected {names}")
    fig, axis = plt.subplots(figsize=(1.5 * len(names) + 3, 0.55 * len(properties) + 1.2))
    grid = np.array([[1.0 if checks[p][n] else 0.0 for n in names] for p in properties])
    axis.imshow(grid, cmap="Greens", vmin=-0.4, vmax=1.6, aspect="auto")
    for row, prop in enumerate(properties):
        for column, name in enumerate(names):
            kept = checks[prop][name]
            axis.text(column, row, "✓" if kept else "✗", ha="center", va="center",
                      fontsize=15, color="black" if kept else "dimgrey")  # fmt: skip
    axis.set_xticks(range(len(names)), names)
    axis.set_yticks(range(len(properties)), properties)
    axis.xaxis.tick_top()
    axis.tick_params(length=0)
    axis.set_xticks(np.arange(-0.5, len(names)), minor=True)
    axis.set_yticks(np.arange(-0.5, len(properties)), minor=True)
    axis.grid(which="minor", color="white", linewidth=2)
    axis.set_title(title, pad=30)
    fig.tight_layout()
    return fig
