"""The format benchmark's own arithmetic and OS plumbing (the sweep itself runs outside tests)."""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("format_costs", ROOT / "benchmarks/format_costs.py")
format_costs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(format_costs)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def test_sizes_are_seven_log_spaced_points_from_10k_to_50m():
    sizes = format_costs.SIZES
    assert len(sizes) == 7 and sizes[0] == 10_000 and sizes[-1] == 50_000_000
    ratios = [b / a for a, b in itertools.pairwise(sizes)]
    assert max(ratios) / min(ratios) < 1.02  # evenly spaced, but rounded to thousands


def test_width_gives_about_the_asked_parameters():
    for parameters in format_costs.SIZES:
        width = format_costs.width_for(parameters)
        a, b = format_costs.INPUT_WIDTH, format_costs.OUTPUT_WIDTH
        actual = (a + 1) * width + 2 * (width + 1) * width + (width + 1) * b
        assert abs(actual - parameters) / parameters < 0.02


def test_summary_is_median_and_quartiles_and_ignores_missing():
    summary = format_costs.summarise([5, 1, 3, None, 2, 4])
    assert summary == {"median": 3, "q1": 2, "q3": 4, "n": 5}
    assert format_costs.summarise([None]) is None


def test_loglog_fit_recovers_a_power_law_and_flags_noise():
    exact = format_costs.loglog_fit([(x, 3 * x**0.8) for x in (1e3, 1e4, 1e5, 1e6)])
    assert math.isclose(exact["slope"], 0.8) and math.isclose(exact["r2"], 1.0)
    zigzag = format_costs.loglog_fit([(1e3, 1), (1e4, 10), (1e5, 1), (1e6, 10)])
    assert zigzag["r2"] < 0.5


@linux_only
def test_eviction_empties_the_page_cache_and_mincore_sees_it(tmp_path):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(4 << 20))
    format_costs.fsync_artifact(blob)
    format_costs.warm(blob)
    assert format_costs.resident_fraction(blob) == 1.0
    format_costs.evict(blob)
    assert format_costs.resident_fraction(blob) < 0.01
    format_costs.warm(blob)
    assert format_costs.resident_fraction(blob) == 1.0


@linux_only
def test_peak_memory_of_a_phase_is_measured_from_a_reset():
    baseline = format_costs.reset_peak()
    block = bytearray(64 << 20)  # 64 MiB, touched
    assert format_costs.peak_growth(baseline) >= 60 << 20
    del block
    baseline = format_costs.reset_peak()
    assert format_costs.peak_growth(baseline) < 16 << 20


@linux_only
def test_child_errors_reach_the_parent():
    assert format_costs.in_child(lambda: {"pid": os.getpid()})["pid"] != os.getpid()
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        format_costs.in_child(lambda: {"x": 1 / 0})
