"""Measure every saving format across model sizes: size, save, load and prediction latency.

For each model size (an MLP on 64 inputs, about 10 thousand to about 50 million parameters) and
each format (``helpers.formats.FORMATS``, plus ``numpy.save`` of the same arrays as the disk
floor), save, reload and predict ``--repeats`` times and keep the median of each timing.
Writes a Markdown table, a JSON file with the numbers (read by notebook 07) and a PNG.

Usage: ``python benchmarks/formats.py [--repeats 3] [--sizes 10000 100000 ...]``.
Runs outside the test suite: the full sweep takes minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import helpers  # first: quiets TensorFlow's logs before it is imported

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SIZES = (10_000, 100_000, 1_000_000, 5_000_000, 20_000_000, 50_000_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steady-calls", type=int, default=20)
    parser.add_argument("--output", type=Path, default=RESULTS / "formats.md")
    parser.add_argument("--note", default="", help="a line about the machine's load")
    args = parser.parse_args(argv)

    helpers.setup.quiet_tensorflow()
    import keras
    import tensorflow as tf

    from helpers import formats

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="kit-formats-"))
    try:
        results = formats.sweep(
            args.sizes,
            work,
            repeats=args.repeats,
            steady_calls=args.steady_calls,
            progress=lambda line: print(line, flush=True),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    minutes = (time.perf_counter() - started) / 60
    load_after = os.getloadavg()[0]

    output = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    json_path = output.with_suffix(".json")
    png_path = output.with_suffix(".png")
    json_path.write_text(json.dumps(formats.to_rows(results), indent=1) + "\n")
    fig = formats.plot(results, title=f"Saving formats, median of {args.repeats} runs")
    fig.savefig(png_path, dpi=90)

    largest = max(t.parameters for t in results)
    ratios = formats.save_ratios(results)
    headline = [
        f"- `{name}`: {ratios[name, largest]:.3g}× the throughput of `numpy.save` "
        f"({largest:,} parameters)"
        for name in formats.FORMATS
        if (name, largest) in ratios
    ]
    exponents = []
    for name in (formats.FLOOR, *formats.FORMATS):
        points = sorted((t for t in results if t.format == name), key=lambda t: t.parameters)
        big = [t for t in points if t.parameters >= 1_000_000]
        if len(big) >= 2:
            save = formats.growth_exponent([t.parameters for t in big], [t.save_s for t in big])
            size = formats.growth_exponent([t.parameters for t in big], [t.size_bytes for t in big])
            load = formats.growth_exponent([t.parameters for t in big], [t.load_s for t in big])
            exponents.append(f"| {name} | {size:.2f} | {save:.2f} | {load:.2f} |")
    cores = os.cpu_count()
    text = "\n".join(
        [
            "# Saving-format benchmark",
            "",
            f"Run {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by "
            f"`python benchmarks/formats.py --repeats {args.repeats}` in {minutes:.1f} minutes; "
            f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Python "
            f"{platform.python_version()}, {platform.system()} {platform.machine()}, "
            f"{cores} cores.",
            "",
            f"Load average (1 min) {load_before:.1f} at the start and {load_after:.1f} at the end, "
            f"on {cores} cores. {args.note}".rstrip(),
            "",
            "Each point is the median of the runs. The model is an uncompiled MLP (64 inputs, "
            "three equal hidden layers, 10 outputs), so every format stores the same weights and "
            "no optimizer state. Save and load go through the page cache (no `fsync`), for every "
            "format and for the floor alike; `os.sync()` runs, untimed, before each save so that "
            "earlier writes are not flushed during it. Loading `weights.h5` and `checkpoint` "
            "includes building the model from code; `tflite` save includes `model.export()` and "
            "the conversion; first prediction is the first call after loading (tracing included);"
            " steady prediction is the median of later calls on a batch of one. `tflite` runs "
            "with LiteRT's built-in kernels, without the XNNPACK delegate (as in notebook 06).",
            "",
            "## Headline: save throughput against the disk floor at the largest size",
            "",
            *headline,
            "",
            "## All points",
            "",
            formats.markdown_table(results),
            "",
            "## Growth with size (log-log slope from 1 million parameters up; 1 = linear)",
            "",
            "| format | size on disk | save time | load time |",
            "|---|---:|---:|---:|",
            *exponents,
            "",
            f"![plots]({png_path.name})",
            "",
        ]
    )
    output.write_text(text)
    print(f"wrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
