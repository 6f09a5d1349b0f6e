"""The format benchmark's own arithmetic and OS plumbing (the sweep itself runs outside tests)."""

from __future__ import annotations

import importlib.util
import itertools
import json
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


def synthetic_result() -> dict:
    """Three sizes, the floor and two formats: `fast` beats the floor, `slow` is 200x slower."""

    def summary(median: float) -> dict:
        return {"median": median, "q1": 0.9 * median, "q3": 1.1 * median, "n": 7}

    points = []
    for parameters, scale in ((1_000_000, 1.0), (4_000_000, 4.0), (16_000_000, 16.0)):
        for name, save, cold, warm, size in (
            ("numpy", 0.1, 0.2, 0.1, 4.0),
            ("fast", 0.05, 0.3, 0.2, 4.0),
            ("slow", 20.0, 0.1, 0.05, 8.0),
        ):
            point = {"format": name, "parameters": parameters}
            for metric in format_costs.METRICS:
                point[metric] = summary(1.0)
            point.update(save_durable_s=summary(save * scale), load_cold_s=summary(cold * scale),
                         load_warm_s=summary(warm * scale),
                         size_bytes=summary(size * parameters), max_abs_diff=0.0)  # fmt: skip
            points.append(point)
    machine = [{"parameters": 16_000_000, "load_before": 0.5, "load_after": 3.0,
                "reliable": False}]  # fmt: skip
    return {"points": points, "machine": machine, "failures": []}


def test_findings_state_ratios_with_significant_digits_and_flag_a_busy_machine():
    lines = format_costs.findings(synthetic_result(), ["fast", "slow"])
    text = "\n".join(lines)
    assert "`slow`: durable save throughput 0.005× [0.00455–0.00556] the floor's" in text
    assert "size 2.00× the raw weights" in text
    assert "1 of 2 formats saved durably faster than the `numpy.save` reference" in text
    assert "`slow` 0.5× [0.45–0.55]; `numpy` 1× [0.9–1.1]; `fast` 1.5× [1.35–1.65]" in text
    assert "at least as slow as a warm one for 3 of 3 formats" in text
    assert "`numpy` durable save time grows as parameters^1.00" in text
    assert lines[-1].startswith("UNRELIABLE: the load average exceeded the core count")


def test_render_rewrites_findings_markdown_and_figure_from_the_json(tmp_path, monkeypatch):
    output = tmp_path / "costs.md"
    result = synthetic_result()
    meta = {"date": "2026-01-01", "machine": "test", "cores": 2, "tensorflow": "x",
            "keras": "y", "repeats": 7, "minutes": 1.0, "reliable": False}  # fmt: skip
    stale = {"meta": meta, **result, "findings": ["a stale sentence"]}
    output.with_suffix(".json").write_text(json.dumps(stale))
    monkeypatch.setattr(format_costs, "FORMATS", (*format_costs.FORMATS, "fast", "slow"))
    assert format_costs.main(["--render", "--output", str(output)]) == 0
    written = json.loads(output.with_suffix(".json").read_text())
    assert written["meta"] == meta and "a stale sentence" not in written["findings"]
    assert written["findings"] == format_costs.findings(result, ["fast", "slow"])
    markdown = output.read_text()
    assert "| slow | 320 [288–352] | 0.005× [0.00455–0.00556] | 1.6 [1.44–1.76] | 0.5× " in markdown
    assert output.with_suffix(".png").stat().st_size > 10_000


@linux_only
def test_eviction_cannot_empty_a_ram_backed_file_system():
    """Why the cold-load check fails on tmpfs: the pages are the file, they stay resident."""
    shm = Path("/dev/shm")
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    if not any(fields[1:3] == [str(shm), "tmpfs"] for fields in mounts):
        pytest.skip("no tmpfs at /dev/shm")
    blob = shm / f"kit-evict-{os.getpid()}.bin"
    try:
        blob.write_bytes(os.urandom(1 << 20))
        format_costs.fsync_artifact(blob)
        format_costs.evict(blob)
        assert format_costs.resident_fraction(blob) == 1.0
    finally:
        blob.unlink(missing_ok=True)
