"""Unit tests for helpers.formats: sizing, measuring, medians, ratios and reports."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import formats
from helpers.errors import ArtifactError


def timing(name: str, parameters: int, save_s: float, **overrides: float) -> formats.Timing:
    values = {"size_bytes": parameters * 4, "load_s": 0.1, "first_predict_s": 0.01,
              "steady_predict_s": 0.001} | overrides  # fmt: skip
    return formats.Timing(name, parameters, save_s=save_s, **values)


@pytest.mark.parametrize("target", [10_000, 100_000, 1_000_000, 50_000_000])
def test_width_for_gives_about_the_target_size(target: int) -> None:
    parameters = formats.mlp_parameters(formats.width_for(target))
    assert abs(parameters - target) / target < 0.02


@pytest.mark.parametrize("bad", [0, -5])
def test_width_for_refuses_non_positive_sizes(bad: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        formats.width_for(bad)


def test_sized_mlp_matches_its_formula() -> None:
    model = formats.sized_mlp(5_000)
    assert model.count_params() == formats.mlp_parameters(formats.width_for(5_000))
    assert model.inputs[0].name == "pixels"


def test_size_on_disk_counts_files_folders_and_checkpoint_prefixes(tmp_path) -> None:
    (tmp_path / "a.bin").write_bytes(b"x" * 10)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "b").write_bytes(b"x" * 5)
    (tmp_path / "ckpt.index").write_bytes(b"x" * 3)
    (tmp_path / "ckpt.data-00000-of-00001").write_bytes(b"x" * 7)
    assert formats.size_on_disk(tmp_path / "a.bin") == 10
    assert formats.size_on_disk(tmp_path / "dir") == 5
    assert formats.size_on_disk(tmp_path / "ckpt") == 10
    with pytest.raises(ArtifactError, match="nothing on disk"):
        formats.size_on_disk(tmp_path / "missing")


@pytest.mark.parametrize("name", ["numpy", *formats.FORMATS])
def test_measure_round_trips_and_times_each_step(tmp_path, name: str) -> None:
    result = formats.measure(name, formats.sized_mlp(2_000), tmp_path / name, steady_calls=2)
    assert result.format == name
    assert result.parameters == formats.sized_mlp(2_000).count_params()
    assert result.size_bytes >= result.parameters * 4
    assert result.save_s > 0 and result.load_s > 0
    assert math.isnan(result.first_predict_s) == (name == "numpy")


def test_measure_refuses_unknown_formats(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown format 'onnx'"):
        formats.measure("onnx", formats.sized_mlp(2_000), tmp_path / "x")


def test_median_timing_takes_each_median_and_refuses_mixed_runs() -> None:
    runs = [timing("keras", 100, 1.0), timing("keras", 100, 3.0), timing("keras", 100, 2.0)]
    assert formats.median_timing(runs).save_s == 2.0
    with pytest.raises(ValueError, match="mix"):
        formats.median_timing([timing("keras", 100, 1.0), timing("tflite", 100, 1.0)])
    with pytest.raises(ValueError, match="no runs"):
        formats.median_timing([])


def test_save_ratios_divide_by_the_floor_at_the_same_size() -> None:
    results = [timing("numpy", 100, 1.0), timing("keras", 100, 4.0), timing("keras", 200, 1.0)]
    assert formats.save_ratios(results) == {("keras", 100): 0.25}  # no floor at 200


def test_growth_exponent_recovers_a_power_law() -> None:
    sizes = np.array([1e3, 1e4, 1e5])
    assert formats.growth_exponent(sizes, 3 * sizes**1.5) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="two"):
        formats.growth_exponent([1.0], [1.0])


def test_reports_round_trip_and_mark_the_floor() -> None:
    results = [timing("numpy", 100, 1.0, first_predict_s=math.nan), timing("keras", 100, 2.0)]
    table = formats.markdown_table(results)
    assert "| numpy | 100 |" in table and "floor" in table and "0.5×" in table
    assert formats.from_rows(formats.to_rows(results))[1] == results[1]


def test_decision_map_draws_every_cell_and_refuses_ragged_rows() -> None:
    import matplotlib

    matplotlib.use("Agg")
    checks = {"weights": {"a": True, "b": True}, "signatures": {"a": False, "b": True}}
    figure = formats.decision_map(checks)
    texts = sorted(text.get_text() for text in figure.axes[0].texts)
    assert texts == ["✓", "✓", "✓", "✗"]
    with pytest.raises(ValueError, match="row 'signatures'"):
        formats.decision_map({"weights": {"a": True, "b": True}, "signatures": {"a": False}})


def test_plot_has_one_panel_per_cost() -> None:
    import matplotlib

    matplotlib.use("Agg")
    results = [timing("numpy", 100, 1.0, first_predict_s=math.nan), timing("keras", 100, 2.0)]
    results += [timing("numpy", 1000, 2.0, first_predict_s=math.nan), timing("keras", 1000, 3.0)]
    figure = formats.plot(results)
    assert len(figure.axes) == 6
    assert all(axis.get_xscale() == "log" for axis in figure.axes)
