"""Time each notebook in a fresh kernel and record the kernel's peak memory, against a floor.

The floor is a fresh kernel that only imports TensorFlow (through ``helpers``), measured in
the same run. Targets (checked here, never in a timed test):

- each notebook: median wall time <= 4 x floor, plus one floor per extra Python process that
  imports TensorFlow which the notebook deliberately starts (declared in the notebook's
  metadata as ``"kit": {"extra_tf_processes": N}``);
- whole suite: sum of the notebooks' medians <= 2.5 x (number of notebooks x floor), plus the
  same per-process allowances;
- each kernel's peak resident memory <= 1.5 x the floor kernel's.

Usage: ``python benchmarks/notebooks.py [--repeats 3] [--output FILE] [NOTEBOOK ...]``
(``make benchmark`` runs it inside the kit's environment).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from helpers.kit.setup import KERNEL_NAME, isolated_home_env

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "notebooks.md"
PEAK_MARKER = "KIT_PEAK_RSS_BYTES="
PEAK_CELL = f"""
import resource, sys
_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("{PEAK_MARKER}" + str(_peak if sys.platform == "darwin" else _peak * 1024))
"""
FLOOR_SOURCE = "import helpers\nimport tensorflow as tf"
TIME_FACTOR, SUITE_FACTOR, MEMORY_FACTOR = 4.0, 2.5, 1.5


@dataclass
class Measurement:
    name: str
    seconds: list[float]
    peak_bytes: int
    extra_processes: int

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def run_once(notebook: nbformat.NotebookNode, folder: Path) -> tuple[float, int]:
    """Execute a copy of ``notebook`` in a fresh kernel; return (seconds, peak RSS bytes)."""
    work = copy.deepcopy(notebook)
    work.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    client = NotebookClient(
        work, timeout=900, kernel_name=KERNEL_NAME, resources={"metadata": {"path": str(folder)}}
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    text = "".join(o.get("text", "") for o in work.cells[-1].outputs)
    peak = int(text.split(PEAK_MARKER, 1)[1].split()[0])
    return seconds, peak


def measure(name: str, notebook: nbformat.NotebookNode, folder: Path, repeats: int) -> Measurement:
    seconds, peaks = [], []
    for attempt in range(repeats):
        elapsed, peak = run_once(notebook, folder)
        print(f"  {name} run {attempt + 1}/{repeats}: {elapsed:.1f} s", flush=True)
        seconds.append(elapsed)
        peaks.append(peak)
    extra = int(notebook.metadata.get("kit", {}).get("extra_tf_processes", 0))
    return Measurement(name, seconds, max(peaks), extra)


def report(floor: Measurement, rows: list[Measurement], repeats: int) -> str:
    gib = 1024**3
    lines = [
        "# Notebook benchmark",
        "",
        f"Measured {dt.date.today().isoformat()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; median of {repeats} runs, "
        "each in a fresh kernel (start-up included). Produced by `make benchmark`.",
        "",
        f"Floor (fresh kernel + `import tensorflow`): **{floor.median:.1f} s**, "
        f"peak {floor.peak_bytes / gib:.2f} GiB.",
        "",
        "| notebook | median s | × floor | time target | peak GiB | × floor | memory target |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    all_ok = True
    for row in rows:
        time_ratio = row.median / floor.median
        time_limit = TIME_FACTOR + row.extra_processes
        memory_ratio = row.peak_bytes / floor.peak_bytes
        time_ok, memory_ok = time_ratio <= time_limit, memory_ratio <= MEMORY_FACTOR
        all_ok &= time_ok and memory_ok
        extra = f" (+{row.extra_processes} processes)" if row.extra_processes else ""
        lines.append(
            f"| {row.name} | {row.median:.1f} | {time_ratio:.2f} | "
            f"{'ok' if time_ok else 'OVER'} ≤ {time_limit:g}{extra} | "
            f"{row.peak_bytes / gib:.2f} | {memory_ratio:.2f} | "
            f"{'ok' if memory_ok else 'OVER'} ≤ {MEMORY_FACTOR:g} |"
        )
    suite = sum(row.median for row in rows)
    suite_limit = (SUITE_FACTOR * len(rows) + sum(r.extra_processes for r in rows)) * floor.median
    suite_ok = suite <= suite_limit
    all_ok &= suite_ok
    lines += [
        "",
        f"Whole suite (sum of medians): **{suite:.1f} s** = {suite / floor.median:.2f} × floor; "
        f"target ≤ {suite_limit:.1f} s: {'ok' if suite_ok else 'OVER'}.",
        "",
        f"All targets met: **{'yes' if all_ok else 'no'}**.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    paths = [p.resolve() for p in args.notebooks] or sorted(
        (ROOT / "notebooks").glob("[0-9]*.ipynb")
    )

    with tempfile.TemporaryDirectory(prefix="kit-bench-home-") as home:
        os.environ.update(isolated_home_env(Path(home)))
        floor_notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FLOOR_SOURCE)])
        floor = measure("floor", floor_notebook, ROOT / "notebooks", args.repeats)
        rows = [
            measure(path.name, nbformat.read(path, as_version=4), path.parent, args.repeats)
            for path in paths
        ]
    text = report(floor, rows, args.repeats)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
