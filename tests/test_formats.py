"""Unit tests for helpers.kit.formats: benchmark results, ratios, figures, the decision map."""

from __future__ import annotations

import json

import pytest

from helpers.errors import ArtifactError
from helpers.kit import formats


def summary(median: float, q1: float | None = None, q3: float | None = None) -> dict:
    return {"median": median, "q1": median if q1 is None else q1,
            "q3": median if q3 is None else q3, "n": 7}  # fmt: skip


def cost_point(name: str, parameters: int, save: dict, cold: dict | None, size: float) -> dict:
    return {"format": name, "parameters": parameters, "save_durable_s": save,
            "load_cold_s": cold, "load_warm_s": cold, "size_bytes": summary(size)}  # fmt: skip


def result() -> dict:
    return {
        "meta": {},
        "machine": [],
        "findings": [],
        "points": [
            cost_point("numpy", 100, summary(2.0, 1.0, 4.0), summary(1.0), 400),
            cost_point("keras", 100, summary(4.0, 2.0, 8.0), summary(3.0, 2.0, 5.0), 800),
            cost_point("tflite", 100, summary(1.0), None, 400),
            cost_point("numpy", 1000, summary(3.0), summary(2.0), 4000),
        ],
    }


def test_ratios_hold_the_floor_at_its_median_and_spread_the_format() -> None:
    ratios = formats.ratios_to_floor(result(), 100)
    assert ratios["keras"]["save_throughput"] == (0.5, 0.25, 1.0)  # 2/4, 2/8, 2/2
    assert ratios["keras"]["cold_load"] == (3.0, 2.0, 5.0)
    assert ratios["keras"]["size"] == 2.0
    assert ratios["tflite"]["save_throughput"] == (2.0, 2.0, 2.0)
    assert ratios["tflite"]["cold_load"] is None  # no cold sample survived the eviction check
    assert set(ratios) == {"numpy", "keras", "tflite"}
    with pytest.raises(ValueError, match="no 'numpy' point at 5"):
        formats.ratios_to_floor(result(), 5)


def test_ratio_text_keeps_three_significant_digits_of_small_ratios() -> None:
    assert formats.ratio_text((0.004771, 0.004649, 0.004881)) == "0.00477× [0.00465–0.00488]"
    assert formats.ratio_text((1.456, 1.3, 1.53)) == "1.46× [1.3–1.53]"
    assert formats.ratio_text(None) == "n/a"


def test_load_costs_names_the_path_of_a_bad_file(tmp_path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(result()))
    assert formats.point(formats.load_costs(good), "keras", 100)["size_bytes"]["median"] == 800
    assert formats.point(formats.load_costs(good), "keras", 1000) is None
    broken = tmp_path / "broken.json"
    broken.write_text('{"meta": ')
    with pytest.raises(ArtifactError, match=r"broken\.json: not a readable benchmark result"):
        formats.load_costs(broken)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"meta": {}, "points": []}))
    with pytest.raises(ArtifactError, match=r"partial\.json: .* without \['findings', 'machine'\]"):
        formats.load_costs(partial)
    with pytest.raises(ArtifactError, match=r"missing\.json"):
        formats.load_costs(tmp_path / "missing.json")


def test_plot_costs_draws_four_log_log_panels_with_iqr_bars() -> None:
    import matplotlib

    matplotlib.use("Agg")
    figure = formats.plot_costs(result())
    assert len(figure.axes) == 4
    assert all(axis.get_xscale() == axis.get_yscale() == "log" for axis in figure.axes)
    save_panel = figure.axes[0]
    assert [text.get_text() for text in save_panel.get_legend().get_texts()] == [
        "numpy", "keras", "tflite"
    ]  # fmt: skip
    assert save_panel.containers[1].has_yerr  # keras's bars: its interquartile range


def test_decision_map_draws_every_cell_and_refuses_ragged_rows() -> None:
    import matplotlib

    matplotlib.use("Agg")
    checks = {"weights": {"a": True, "b": True}, "signatures": {"a": False, "b": True}}
    figure = formats.decision_map(checks)
    texts = sorted(text.get_text() for text in figure.axes[0].texts)
    assert texts == ["✓", "✓", "✓", "✗"]
    with pytest.raises(ValueError, match="row 'signatures'"):
        formats.decision_map({"weights": {"a": True, "b": True}, "signatures": {"a": False}})
