"""Read and draw the format benchmark's results, and draw notebook 07's decision map.

The measurements themselves are made by ``benchmarks/format_costs.py`` (run it with
``python3 tools/kit.py benchmark formats``); its JSON holds, per format and size, the median and
interquartile range of every cost. ``numpy`` (one ``numpy.save`` per weight array, one file) is
the reference every format is compared with.

Serves notebook 07.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from helpers.errors import ArtifactError

FLOOR = "numpy"
PANELS = (
    ("save_durable_s", "durable save (s)"),
    ("load_cold_s", "cold load + first prediction (s)"),
    ("load_warm_s", "warm load + first prediction (s)"),
    ("size_bytes", "size on disk (bytes)"),
)


def load_costs(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The benchmark's JSON, checked for the keys the kit reads; an error names the path."""
    path = Path(path)
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ArtifactError(path, f"not a readable benchmark result ({error})") from error
    missing = {"meta", "points", "machine", "findings"} - set(result)
    if missing:
        raise ArtifactError(path, f"benchmark result without {sorted(missing)}")
    return result


def point(result: dict[str, Any], name: str, parameters: int) -> dict[str, Any] | None:
    """The summary of one format at one size, or ``None`` if it was not measured."""
    return next(
        (p for p in result["points"] if p["format"] == name and p["parameters"] == parameters),
        None,
    )


def ratios_to_floor(result: dict[str, Any], parameters: int) -> dict[str, dict[str, Any]]:
    """Per format at one size: durable save throughput and cold load time against ``numpy``.

    Each ratio is ``(median, low, high)``: the format's median and quartiles against the
    floor's median (so the range is the format's spread, the floor held at its median).
    Throughput is the floor's time over the format's (above 1: faster than the floor).
    """
    floor = point(result, FLOOR, parameters)
    if floor is None:
        raise ValueError(f"no {FLOOR!r} point at {parameters:,} parameters")
    save, cold = floor["save_durable_s"]["median"], floor["load_cold_s"]["median"]
    ratios = {}
    for p in result["points"]:
        if p["parameters"] != parameters:
            continue
        s, c = p["save_durable_s"], p["load_cold_s"]
        ratios[p["format"]] = {
            "save_throughput": (save / s["median"], save / s["q3"], save / s["q1"]),
            "cold_load": (c["median"] / cold, c["q1"] / cold, c["q3"] / cold) if c else None,
            "size": p["size_bytes"]["median"] / floor["size_bytes"]["median"],
        }
    return ratios


def ratio_text(ratio: tuple[float, float, float] | None) -> str:
    """A ratio from :func:`ratios_to_floor`, e.g. ``0.00477× [0.00465–0.00488]`` (3 digits)."""
    if ratio is None:
        return "n/a"
    middle, low, high = ratio
    return f"{middle:.3g}× [{low:.3g}–{high:.3g}]"


def plot_costs(result: dict[str, Any], title: str = "Saving formats") -> Any:
    """Four log-log panels (durable save, cold and warm load, size): medians with IQR bars."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(p["format"] for p in result["points"]))
    names.sort(key=lambda name: name != FLOOR)  # the floor first, drawn dashed
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    for axis, (metric, label) in zip(axes.flat, PANELS, strict=True):
        for name in names:
            rows = sorted(
                (p for p in result["points"] if p["format"] == name and p[metric]),
                key=lambda p: p["parameters"],
            )
            if not rows:
                continue
            middle = [p[metric]["median"] for p in rows]
            below = [p[metric]["median"] - p[metric]["q1"] for p in rows]
            above = [p[metric]["q3"] - p[metric]["median"] for p in rows]
            style = {"color": "black", "linestyle": "--"} if name == FLOOR else {}
            axis.errorbar([p["parameters"] for p in rows], middle, yerr=[below, above],
                          marker="o", ms=3, capsize=2, label=name, **style)  # fmt: skip
        axis.set(xscale="log", yscale="log", xlabel="parameters", ylabel=label)
        axis.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


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
