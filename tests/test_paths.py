from __future__ import annotations

import datetime as dt

import pytest

from helpers.errors import ArtifactNotFoundError, IncompleteVersionError
from helpers.kit import paths


def make_version(base, name, complete=True):
    folder = base / name
    (folder / "variables").mkdir(parents=True)
    if complete:
        (folder / "saved_model.pb").write_bytes(b"graph")
        (folder / "variables" / "variables.index").write_bytes(b"index")
    return folder


def test_timestamp_format():
    assert paths.timestamp(dt.datetime(2025, 1, 30, 14, 35, 42)) == "20250130-143542"


def test_timestamped_dir_never_reuses_an_existing_folder(tmp_path):
    now = dt.datetime(2025, 1, 30, 14, 35, 42)
    first = paths.timestamped_dir(tmp_path, "my_saved_model", now)
    assert first.name == "my_saved_model_20250130-143542"
    first.mkdir()
    second = paths.timestamped_dir(tmp_path, "my_saved_model", now)
    assert second.name == "my_saved_model_20250130-143542-2"


def test_version_dirs_only_numbers_in_numeric_order(tmp_path):
    for name in ["2", "10", "1", ".tmp-3", "3.partial", "latest", "٣"]:
        (tmp_path / name).mkdir()
    (tmp_path / "4").write_text("a file, not a version")
    assert [number for number, _ in paths.version_dirs(tmp_path)] == [1, 2, 10]


def test_next_version_counts_incomplete_versions_too(tmp_path):
    assert paths.next_version_dir(tmp_path / "missing").name == "1"
    make_version(tmp_path, "1")
    make_version(tmp_path, "2", complete=False)
    assert paths.next_version_dir(tmp_path).name == "3"


def test_latest_version_skips_incomplete_and_temporary_folders(tmp_path):
    make_version(tmp_path, "1")
    good = make_version(tmp_path, "2")
    make_version(tmp_path, "3", complete=False)
    make_version(tmp_path, ".tmp-4")
    empty_graph = make_version(tmp_path, "5")
    (empty_graph / "saved_model.pb").write_bytes(b"")
    assert paths.latest_version(tmp_path) == good


def test_latest_version_errors_name_the_path_and_problem(tmp_path):
    with pytest.raises(ArtifactNotFoundError, match="no such folder") as missing:
        paths.latest_version(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(missing.value)
    with pytest.raises(IncompleteVersionError, match="no numbered version"):
        paths.latest_version(tmp_path)
    make_version(tmp_path, "1", complete=False)
    with pytest.raises(IncompleteVersionError, match=r"no complete version \(incomplete: 1\)"):
        paths.latest_version(tmp_path)
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(IncompleteVersionError, match="is a file"):
        paths.latest_version(file)


def test_notebook_artifacts_is_emptied_and_relative(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.ARTIFACTS_ENV, str(tmp_path))
    monkeypatch.chdir(tmp_path)
    folder = paths.notebook_artifacts("07_demo")
    assert not folder.is_absolute() and folder.resolve() == tmp_path / "07_demo"
    (folder / "old.txt").write_text("from a previous run")
    again = paths.notebook_artifacts("07_demo")
    assert list(again.iterdir()) == []


def test_show_is_relative_to_the_kit(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.ARTIFACTS_ENV, str(tmp_path / "artifacts"))
    assert paths.show(tmp_path / "artifacts" / "01" / "x") == "artifacts/01/x"
    assert paths.show(paths.repo_root() / "notebooks") == "notebooks"
