"""What each saving format costs, measured so that the numbers hold up.

For each model size (an uncompiled MLP on 64 inputs, 7 sizes evenly spaced on a log scale from
10 thousand to 50 million parameters) and each format, it measures:

- **save**, non-durable (until the call returns) and durable (the call, then ``fsync`` of every
  file written and of every folder, the parent included), each with the matching ``numpy.save``
  floor (one ``numpy.save`` per weight array into one file, likewise non-durable and durable);
- **load + first prediction**, warm (the artifact's files in the page cache) and cold (every
  file flushed, then evicted with ``posix_fadvise(POSIX_FADV_DONTNEED)``; ``mincore`` confirms
  the eviction, and a cold sample whose files were not evicted is dropped). For weights and
  checkpoints, "load" includes building the model in code, since that is what a reload costs;
- **steady-state prediction latency**: the median of 30 single-row calls after the first, each
  runtime on one intra-op thread, LiteRT without its default (XNNPACK) delegate;
- **peak memory** of the save and of the load: the growth of the process's peak resident set
  (Linux ``VmHWM``, reset through ``/proc/self/clear_refs`` before the phase) over the phase;
- **size on disk**.

Method: every measurement runs in a fresh child process, forked from a parent that has imported
TensorFlow, Keras, NumPy, LiteRT and ONNX Runtime but run nothing (so a child pays no import,
yet starts with no TensorFlow runtime, no traced function and no cached file). The order of the
formats is shuffled in every repetition. Each point reports the median and the interquartile
range of its repetitions. The 1-minute load average is recorded before and after each size; a
size measured while it exceeded the number of cores is marked unreliable, and so is the run.

Usage: ``python3 tools/kit.py benchmark formats [--quick]`` (Linux only: it needs ``fork``,
``posix_fadvise``, ``mincore`` and ``/proc``). ``--quick`` measures 3 sizes, 3 repetitions.
Writes ``benchmarks/results/format_costs.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import json
import math
import mmap
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import helpers  # first: quiets TensorFlow's logs before it is imported
from helpers.kit import formats

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
FLOOR = formats.FLOOR
FORMATS = (
    "weights.h5",
    "weights.json (sharded)",
    "checkpoint",
    "checkpoint (async)",
    "keras",
    "savedmodel",
    "tflite",
    "tflite (int8 weights)",
    "onnx",
)
SIZES = tuple(round(10_000 * (5_000 ** (i / 6)), -3) for i in range(7))  # 10k ... 50M
QUICK_SIZES = (10_000, 707_000, 12_100_000)
INPUT_WIDTH, OUTPUT_WIDTH, HIDDEN_LAYERS = 64, 10, 3
STEADY_CALLS = 30
SHARD_GB = 0.1  # at most 0.1 GiB a shard: the largest model (one 95 MiB kernel) gets several
MEASUREMENT_TIMEOUT_S = 900


# ----------------------------------------------------------------------------- the model


def width_for(parameters: float) -> int:
    """The hidden width whose MLP (3 hidden layers) has about ``parameters`` parameters."""
    a = HIDDEN_LAYERS - 1
    b = INPUT_WIDTH + 1 + a + OUTPUT_WIDTH
    return max(1, round((-b + math.sqrt(b * b + 4 * a * (parameters - OUTPUT_WIDTH))) / (2 * a)))


def build(width: int) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(INPUT_WIDTH,), name="pixels")
    x = inputs
    for _ in range(HIDDEN_LAYERS):
        x = keras.layers.Dense(width, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(OUTPUT_WIDTH)(x))


def probe_inputs() -> Any:
    import numpy as np

    return np.random.default_rng(1).normal(size=(1, INPUT_WIDTH)).astype("float32")


# ----------------------------------------------------------------------------- OS plumbing


def artifact_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file())


def artifact_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in artifact_files(path))


def fsync_artifact(path: Path) -> None:
    """fsync every file and folder of the artifact, and the folder that holds it."""
    folders = {path.parent}
    for file in artifact_files(path):
        with open(file, "rb") as stream:
            os.fsync(stream.fileno())
        folders.add(file.parent)
    if path.is_dir():
        folders.update(p for p in path.rglob("*") if p.is_dir())
        folders.add(path)
    for folder in folders:
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = (
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
)
_libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte))
_MAP_FAILED = ctypes.c_void_p(-1).value


def resident_fraction(path: Path) -> float:
    """The fraction of the artifact's pages in the page cache (``mmap`` + ``mincore``).

    Mapping a file reads nothing, so only pages already cached count as resident.
    """
    resident = total = 0
    for file in artifact_files(path):
        size = file.stat().st_size
        if size == 0:
            continue
        pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        vector = (ctypes.c_ubyte * pages)()
        descriptor = os.open(file, os.O_RDONLY)
        try:
            address = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, descriptor, 0)
            if address in (None, _MAP_FAILED):
                raise OSError(ctypes.get_errno(), f"mmap failed on {file}")
            try:
                if _libc.mincore(address, size, vector) != 0:
                    raise OSError(ctypes.get_errno(), f"mincore failed on {file}")
            finally:
                _libc.munmap(address, size)
        finally:
            os.close(descriptor)
        resident += sum(v & 1 for v in vector)
        total += pages
    return resident / total if total else 0.0


def evict(path: Path) -> None:
    for file in artifact_files(path):
        descriptor = os.open(file, os.O_RDONLY)
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def warm(path: Path) -> None:
    for file in artifact_files(path):
        with open(file, "rb") as stream:
            while stream.read(1 << 24):
                pass


def reset_peak() -> int:
    """Reset the process's peak RSS to its current RSS; return the current RSS in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS") * 1024


def peak_growth(baseline: int) -> int:
    return max(0, _status_kib("VmHWM") * 1024 - baseline)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def in_child(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` in a forked child; return its result dict, or raise its error."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: do the work, send JSON back, never return
        os.close(read_end)
        quiet = os.open(os.devnull, os.O_WRONLY)  # exporters print; the progress lines are ours
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        try:
            payload = {"ok": work()}
        except BaseException:  # reported to the parent, which raises it
            payload = {"error": traceback.format_exc(limit=6)}
        with os.fdopen(write_end, "w") as stream:
            json.dump(payload, stream)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as stream:
        text = stream.read()
    _, status = os.waitpid(pid, 0)
    if not text:
        raise RuntimeError(f"measurement child died (wait status {status})")
    payload = json.loads(text)
    if "error" in payload:
        raise RuntimeError(payload["error"])
    return payload["ok"]


# ----------------------------------------------------------------------------- the formats


def artifact_path(folder: Path, name: str) -> Path:
    suffix = {
        FLOOR: "weights.npy",
        "weights.h5": "model.weights.h5",
        "weights.json (sharded)": "sharded/model.weights.json",
        "checkpoint": "ckpt/model",
        "checkpoint (async)": "ckpt_async/model",
        "keras": "model.keras",
        "savedmodel": "savedmodel",
        "tflite": "model.tflite",
        "tflite (int8 weights)": "model_int8.tflite",
        "onnx": "model.onnx",
    }[name]
    return folder / suffix


def saved_root(path: Path, name: str) -> Path:
    """What the format writes: the folder of a checkpoint or sharded save, else the artifact."""
    return path.parent if name.startswith(("checkpoint", "weights.json")) else path


def save(name: str, model: Any, path: Path) -> Callable[[], None] | None:
    """Save ``model`` in format ``name``; return what must run before it is on disk, if any."""
    import numpy as np
    import tensorflow as tf

    if name == FLOOR:
        with open(path, "wb") as stream:
            for array in model.get_weights():
                np.save(stream, array)
    elif name == "weights.h5":
        model.save_weights(path)
    elif name == "weights.json (sharded)":
        model.save_weights(path, max_shard_size=SHARD_GB)
    elif name == "checkpoint":
        tf.train.Checkpoint(model=model).write(str(path))
    elif name == "checkpoint (async)":
        checkpoint = tf.train.Checkpoint(model=model)
        checkpoint.write(str(path), options=tf.train.CheckpointOptions(enable_async=True))
        return checkpoint.sync
    elif name == "keras":
        model.save(path)
    elif name == "savedmodel":
        model.export(path, verbose=False)
    elif name == "tflite":
        model.export(path, format="litert", verbose=False)
    elif name == "tflite (int8 weights)":
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic range: int8 weights
        path.write_bytes(converter.convert())
    elif name == "onnx":
        import warnings

        with warnings.catch_warnings():  # tf2onnx's np.object FutureWarning: not ours to fix
            warnings.simplefilter("ignore")
            model.export(path, format="onnx", verbose=False)
    else:
        raise ValueError(name)
    return None


def load_and_predict(name: str, path: Path, width: int, x: Any) -> tuple[Any, Callable]:
    """Load the artifact, make the first prediction; return it and a function that predicts."""
    import keras
    import numpy as np
    import tensorflow as tf

    if name == FLOOR:
        model = build(width)
        with open(path, "rb") as stream:
            model.set_weights([np.load(stream) for _ in model.get_weights()])
    elif name in ("weights.h5", "weights.json (sharded)"):
        model = build(width)
        model.load_weights(path)
    elif name.startswith("checkpoint"):
        model = build(width)
        tf.train.Checkpoint(model=model).read(str(path)).assert_existing_objects_matched()
    elif name == "keras":
        model = keras.models.load_model(path)
    elif name == "savedmodel":
        served = tf.saved_model.load(str(path))
        predict = lambda batch: served.serve(batch).numpy()  # noqa: E731
        return predict(x), predict
    elif name.startswith("tflite"):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        interpreter = Interpreter(
            model_path=str(path),
            num_threads=1,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        interpreter.allocate_tensors()
        (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()

        def predict(batch: Any) -> Any:
            interpreter.set_tensor(inp["index"], batch)
            interpreter.invoke()
            return interpreter.get_tensor(out["index"])

        return predict(x), predict
    elif name == "onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        key = session.get_inputs()[0].name
        predict = lambda batch: session.run(None, {key: batch})[0]  # noqa: E731
        return predict(x), predict
    else:
        raise ValueError(name)
    predict = lambda batch: model(batch, training=False).numpy()  # noqa: E731
    return predict(x), predict


# ----------------------------------------------------------------------------- one repetition


def measure_save(name: str, width: int, folder: Path) -> dict[str, Any]:
    import numpy as np

    model = build(width)
    x = probe_inputs()
    expected = model(x, training=False).numpy()
    np.save(folder / "expected.npy", expected)
    path = artifact_path(folder, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    baseline = reset_peak()
    start = time.perf_counter()
    finish = save(name, model, path)
    returned = time.perf_counter() - start
    if finish is not None:
        finish()
    fsync_artifact(saved_root(path, name))
    durable = time.perf_counter() - start
    return {
        "save_s": returned,
        "save_durable_s": durable,
        "save_peak_bytes": peak_growth(baseline),
        "size_bytes": artifact_bytes(saved_root(path, name)),
    }


def measure_load(name: str, width: int, folder: Path, cold: bool) -> dict[str, Any]:
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    path = artifact_path(folder, name)
    root = saved_root(path, name)
    if cold:
        evict(root)
    resident = resident_fraction(root)
    x = probe_inputs()
    baseline = reset_peak()
    start = time.perf_counter()
    first, predict = load_and_predict(name, path, width, x)
    elapsed = time.perf_counter() - start
    result = {
        "load_first_s": elapsed,
        "load_peak_bytes": peak_growth(baseline),
        "resident_before": resident,
        "max_abs_diff": float(np.max(np.abs(first - np.load(folder / "expected.npy")))),
    }
    if not cold:
        latencies = []
        for _ in range(STEADY_CALLS):
            start = time.perf_counter()
            predict(x)
            latencies.append(time.perf_counter() - start)
        result["steady_s"] = statistics.median(latencies)
    return result


def one_repetition(name: str, width: int, folder: Path) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    sample = in_child(lambda: measure_save(name, width, folder))
    root = saved_root(artifact_path(folder, name), name)
    cold = in_child(lambda: measure_load(name, width, folder, cold=True))
    if cold["resident_before"] > 0.01:
        cold["load_first_s"] = None  # not evicted: not a cold load
    warm(root)
    hot = in_child(lambda: measure_load(name, width, folder, cold=False))
    shutil.rmtree(folder, ignore_errors=True)
    return {
        **sample,
        "load_cold_s": cold["load_first_s"],
        "load_cold_peak_bytes": cold["load_peak_bytes"],
        "evicted_fraction": 1 - cold["resident_before"],
        "load_warm_s": hot["load_first_s"],
        "load_warm_peak_bytes": hot["load_peak_bytes"],
        "warm_resident_fraction": hot["resident_before"],
        "steady_s": hot["steady_s"],
        "max_abs_diff": max(cold["max_abs_diff"], hot["max_abs_diff"]),
    }


# ----------------------------------------------------------------------------- statistics


METRICS = (
    "save_s",
    "save_durable_s",
    "load_warm_s",
    "load_cold_s",
    "steady_s",
    "save_peak_bytes",
    "load_cold_peak_bytes",
    "load_warm_peak_bytes",
    "size_bytes",
)


def summarise(values: list[float]) -> dict[str, float] | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    if len(values) == 1:
        return {"median": values[0], "q1": values[0], "q3": values[0], "n": 1}
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": statistics.median(values), "q1": q1, "q3": q3, "n": len(values)}


def loglog_fit(points: list[tuple[float, float]]) -> dict[str, float] | None:
    """Least-squares slope of log(y) on log(x), with R²."""
    points = [(math.log10(x), math.log10(y)) for x, y in points if x > 0 and y and y > 0]
    if len(points) < 3:
        return None
    xs, ys = zip(*points, strict=True)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    residual = sum((y - my - slope * (x - mx)) ** 2 for x, y in zip(xs, ys, strict=True))
    total = sum((y - my) ** 2 for y in ys)
    return {"slope": slope, "r2": 1 - residual / total if total else 1.0}


# ----------------------------------------------------------------------------- the sweep


def sweep(
    sizes: list[int], repeats: int, formats: list[str], work: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    names = [FLOOR, *formats]
    samples: dict[str, dict[int, list[dict[str, Any]]]] = {n: {} for n in names}
    machine: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    total = len(sizes) * repeats * len(names)
    done, started = 0, time.perf_counter()
    for size_index, parameters in enumerate(sizes, 1):
        width = width_for(parameters)
        load_before = os.getloadavg()[0]
        for repetition in range(1, repeats + 1):
            order = names[:]
            random.Random(f"{parameters}-{repetition}").shuffle(order)
            for name in order:
                done += 1
                try:
                    sample = one_repetition(name, width, work / f"{size_index}-{repetition}")
                except RuntimeError as error:  # one format failing must not end the sweep
                    failures.append({"format": name, "parameters": parameters, "error": str(error)})
                    log(f"size {size_index} rep {repetition} {name}: FAILED {str(error)[-200:]}")
                    continue
                samples[name].setdefault(parameters, []).append(sample)
                elapsed = time.perf_counter() - started
                left = elapsed / done * (total - done)
                log(
                    f"size {size_index}/{len(sizes)} ({parameters:,} params) "
                    f"rep {repetition}/{repeats} {name:<24} "
                    f"save {sample['save_durable_s']:.3f} s, "
                    f"warm load {sample['load_warm_s']:.3f} s  "
                    f"[{elapsed / 60:.1f} min, about {left / 60:.0f} min left]"
                )
        load_after = os.getloadavg()[0]
        machine.append(
            {
                "parameters": parameters,
                "load_before": load_before,
                "load_after": load_after,
                "reliable": max(load_before, load_after) <= cores,
            }
        )
    points = []
    for name in names:
        for parameters, rows in samples[name].items():
            point = {"format": name, "parameters": parameters}
            for metric in METRICS:
                point[metric] = summarise([row[metric] for row in rows])
            point["max_abs_diff"] = max(row["max_abs_diff"] for row in rows)
            point["min_evicted_fraction"] = min(row["evicted_fraction"] for row in rows)
            points.append(point)
    return {"points": points, "machine": machine, "failures": failures, "samples": samples}


def median(result: dict[str, Any], name: str, parameters: int, metric: str) -> float | None:
    """One metric's median for one format and size, or ``None`` if it was not measured."""
    found = formats.point(result, name, parameters)
    value = found[metric] if found else None
    return value["median"] if value else None


def findings(result: dict[str, Any], names: list[str]) -> list[str]:
    """Sentences, each computed from the numbers it states."""
    points, sizes = result["points"], sorted({p["parameters"] for p in result["points"]})
    largest = sizes[-1]
    lines = []
    floor_durable = median(result, FLOOR, largest, "save_durable_s")
    ranked = sorted(
        (n for n in names if median(result, n, largest, "save_durable_s")),
        key=lambda n: median(result, n, largest, "save_durable_s"),
    )
    lines.append(
        f"At {largest:,} parameters the fastest durable save is `{ranked[0]}` "
        f"({median(result, ranked[0], largest, 'save_durable_s'):.2f} s) and the slowest "
        f"`{ranked[-1]}` ({median(result, ranked[-1], largest, 'save_durable_s'):.2f} s); the "
        f"durable `numpy.save` floor takes {floor_durable:.2f} s. Ratios below: the format's "
        "median [interquartile range] against the floor's median."
    )
    ratios = formats.ratios_to_floor(result, largest)
    faster = [n for n in ranked if ratios[n]["save_throughput"][0] > 1]
    for name in ranked:
        throughput = ratios[name]["save_throughput"]
        lines.append(
            f"`{name}`: durable save throughput {formats.ratio_text(throughput)} the floor's; "
            f"size {ratios[name]['size']:.2f}× the raw weights."
        )
    if faster:
        lines.append(
            f"{len(faster)} of {len(names)} formats saved durably faster than the `numpy.save` "
            f"reference at this size ({', '.join(f'`{n}`' for n in faster)}): it is a "
            "reference point, not a lower bound."
        )
    cold_ranked = sorted(
        (n for n in [FLOOR, *names] if ratios.get(n, {}).get("cold_load")),
        key=lambda n: ratios[n]["cold_load"][0],
    )
    lines.append(
        f"Cold load + first prediction at {largest:,} parameters, against the floor's cold load "
        f"({median(result, FLOOR, largest, 'load_cold_s'):.3g} s): "
        + "; ".join(f"`{n}` {formats.ratio_text(ratios[n]['cold_load'])}" for n in cold_ranked)
        + "."
    )
    slower_cold = [
        n
        for n in [FLOOR, *names]
        if (c := median(result, n, largest, "load_cold_s"))
        and (w := median(result, n, largest, "load_warm_s"))
        and c >= w
    ]
    lines.append(
        f"A cold load (files evicted from the page cache) was at least as slow as a warm one for "
        f"{len(slower_cold)} of {len(names) + 1} formats at the largest size."
    )
    for name in [FLOOR, *names]:
        fit = loglog_fit(
            [
                (p["parameters"], p["save_durable_s"]["median"])
                for p in points
                if p["format"] == name and p["save_durable_s"] and p["parameters"] >= 1_000_000
            ]
        )
        if fit:
            verdict = "a good fit" if fit["r2"] >= 0.95 else "a poor fit: read the points"
            lines.append(
                f"`{name}` durable save time grows as parameters^{fit['slope']:.2f} from 1 million "
                f"parameters up (R² = {fit['r2']:.3f}, {verdict})."
            )
    unreliable = [m["parameters"] for m in result["machine"] if not m["reliable"]]
    lines.append(
        "The machine stayed below one runnable task per core (1-minute load average) at every size."
        if not unreliable
        else f"UNRELIABLE: the load average exceeded the core count while measuring "
        f"{', '.join(f'{p:,}' for p in unreliable)} parameters."
    )
    return lines


# ----------------------------------------------------------------------------- output


def fmt(value: dict[str, float] | None, scale: float = 1.0, digits: int = 3) -> str:
    if not value:
        return "n/a"
    return (
        f"{value['median'] * scale:.{digits}g} "
        f"[{value['q1'] * scale:.{digits}g}–{value['q3'] * scale:.{digits}g}]"
    )


def largest_table(result: dict[str, Any], names: list[str]) -> list[str]:
    """At the largest size: each format against the durable and cold ``numpy`` floor."""
    largest = max(p["parameters"] for p in result["points"])
    ratios = formats.ratios_to_floor(result, largest)
    lines = [
        f"## At {largest:,} parameters, against the `numpy.save` floor",
        "",
        "Ratios: the format's median [quartiles] against the floor's median. Durable save "
        "throughput above 1 is faster than the floor; cold load above 1 is slower.",
        "",
        "| format | durable save s | save throughput × floor | cold load+1st s | "
        "cold load × floor | size × floor |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in [FLOOR, *names]:
        p, r = formats.point(result, name, largest), ratios.get(name)
        if p is None or r is None:
            continue
        lines.append(
            f"| {name} | {fmt(p['save_durable_s'])} | {formats.ratio_text(r['save_throughput'])} | "
            f"{fmt(p['load_cold_s'])} | {formats.ratio_text(r['cold_load'])} | {r['size']:.2f} |"
        )
    return [*lines, ""]


def markdown(result: dict[str, Any], names: list[str], meta: dict[str, Any]) -> str:
    lines = [
        "# What each saving format costs",
        "",
        f"Measured {meta['date']} on {meta['machine']}, {meta['cores']} cores; TensorFlow "
        f"{meta['tensorflow']}, Keras {meta['keras']}; {meta['repeats']} repetitions per point, "
        f"{meta['minutes']:.1f} minutes in all. Written by `benchmarks/format_costs.py`; method "
        "in its docstring. Each cell: median [interquartile range].",
        "",
        "## What the numbers say",
        "",
        *(f"- {line}" for line in result["findings"]),
        "",
        *largest_table(result, names),
        "## Load average (1 minute) per size",
        "",
        "| parameters | before | after | reliable |",
        "|---:|---:|---:|---|",
        *(
            f"| {m['parameters']:,} | {m['load_before']:.2f} | {m['load_after']:.2f} | "
            f"{'yes' if m['reliable'] else 'NO'} |"
            for m in result["machine"]
        ),
        "",
        "## Every point",
        "",
        "| format | parameters | size MB | save s | durable save s | warm load+1st s | "
        "cold load+1st s | steady ms | save peak MB | cold load peak MB | max abs diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in sorted(
        result["points"], key=lambda p: ([FLOOR, *names].index(p["format"]), p["parameters"])
    ):
        lines.append(
            f"| {p['format']} | {p['parameters']:,} | {fmt(p['size_bytes'], 1e-6)} | "
            f"{fmt(p['save_s'])} | {fmt(p['save_durable_s'])} | {fmt(p['load_warm_s'])} | "
            f"{fmt(p['load_cold_s'])} | {fmt(p['steady_s'], 1e3)} | "
            f"{fmt(p['save_peak_bytes'], 1e-6)} | {fmt(p['load_cold_peak_bytes'], 1e-6)} | "
            f"{p['max_abs_diff']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def figure(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    fig = formats.plot_costs(result, "Saving formats: medians with interquartile-range bars")
    fig.savefig(path, dpi=90)


def write(result: dict[str, Any], meta: dict[str, Any], output: Path, draw: bool) -> None:
    """Findings (computed from the numbers), then JSON, Markdown and (if ``draw``) the figure."""
    measured = {p["format"] for p in result["points"]}
    names = [name for name in FORMATS if name in measured]
    result["findings"] = findings(result, names)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(
        json.dumps({"meta": meta, **result}, indent=1, default=str) + "\n"
    )
    output.write_text(markdown(result, names, meta))
    if draw:
        figure(result, output.with_suffix(".png"))
    print("\n".join(result["findings"]))
    shown = output.relative_to(ROOT) if output.is_relative_to(ROOT) else output
    print(f"wrote {shown} (+ .json{', .png' if draw else ''})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 sizes, 3 repetitions")
    parser.add_argument("--sizes", type=int, nargs="+")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--output", type=Path, default=RESULTS / "format_costs.md")
    parser.add_argument("--no-figure", action="store_true", help="write JSON and Markdown only")
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: rewrite the findings, Markdown and figure from the output's JSON",
    )
    args = parser.parse_args(argv)
    output = args.output.resolve()
    if args.render:
        saved = formats.load_costs(output.with_suffix(".json"))
        meta = saved.pop("meta")
        write(saved, meta, output, draw=not args.no_figure)
        return 0
    if not sys.platform.startswith("linux"):
        parser.error("the format benchmark needs Linux (fork, posix_fadvise, mincore, /proc)")
    sizes = args.sizes or list(QUICK_SIZES if args.quick else map(int, SIZES))
    repeats = args.repeats or (3 if args.quick else 7)

    # The fork server: import everything, run nothing.
    helpers.kit.setup.quiet_tensorflow()
    import ai_edge_litert.interpreter  # noqa: F401
    import keras
    import onnxruntime  # noqa: F401
    import tensorflow as tf

    started = time.perf_counter()
    scratch = helpers.kit.paths.artifacts_root()  # git-ignored, and on the disk being measured
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kit-format-costs-", dir=scratch))
    try:
        result = sweep(sizes, repeats, args.formats, work, lambda line: print(line, flush=True))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "cores": os.cpu_count(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "repeats": repeats,
        "minutes": (time.perf_counter() - started) / 60,
        "reliable": all(m["reliable"] for m in result["machine"]),
    }
    write(result, meta, output, draw=not args.no_figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
