from __future__ import annotations

import datetime as dt

from helpers.kit import paths


def test_timestamp_format():
    assert paths.timestamp(dt.datetime(2025, 1, 30, 14, 35, 42)) == "20250130-143542"


def test_timestamped_dir_never_reuses_an_existing_folder(tmp_path):
    now = dt.datetime(2025, 1, 30, 14, 35, 42)
    first = paths.timestamped_dir(tmp_path, "my_saved_model", now)
    assert first.name == "my_saved_model_20250130-143542"
    first.mkdir()
    second = paths.timestamped_dir(tmp_path, "my_saved_model", now)
    assert second.name == "my_saved_model_20250130-143542-2"


def test_notebook_artifacts_is_emptied_and_relative(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.ARTIFACTS_ENV, str(tmp_path))
    monkeypatch.chdir(tmp_path)
    folder = paths.notebook_artifacts("07_demo")
    assert not folder.is_absolute() and folder.resolve() == tmp_path / "07_demo"
    (folder / "old.txt").write_text("from a previous run")
    again = paths.notebook_artifacts("07_demo")
    assert list(again.iterdir()) == []


def test_repo_root_is_the_kits_top_folder():
    root = paths.repo_root()
    assert (root / "pyproject.toml").is_file() and (root / "helpers" / "kit").is_dir()


def test_show_is_relative_to_the_kit(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.ARTIFACTS_ENV, str(tmp_path / "artifacts"))
    assert paths.show(tmp_path / "artifacts" / "01" / "x") == "artifacts/01/x"
    assert paths.show(paths.repo_root() / "notebooks") == "notebooks"
