"""A saving process killed at every step of a save: no version is lost, "latest" never points
at a partial version, and the partial folders are ignored and cleanable.

Most kill points use a TensorFlow-free writer (``python -m helpers.kit.faults write``) that copies a
good version file by file through :func:`helpers.artifacts.save_version` and SIGKILLs itself at
a named step (half-way through each file, after each file, after the manifest, before and after
the rename...). One kill lands inside a real ``model.export``. Shares the suite run with
tests/test_fault_injection.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from harness import faults

from helpers import artifacts

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL and fcntl")


def test_at_least_20_kill_points_each_really_killed(report):
    assert len(report.kills) >= 20
    assert len({(kill.kind, kill.step) for kill in report.kills}) == len(report.kills)
    assert [kill for kill in report.kills if not kill.killed] == []
    assert {kill.kind for kill in report.kills} == set(faults.KINDS)


def test_no_version_lost_and_latest_is_the_right_one(report):
    assert sum(kill.versions_lost for kill in report.kills) == 0
    assert [kill for kill in report.kills if kill.latest != kill.expected_latest] == []
    assert all(kill.ok for kill in report.kills)


def test_partial_folders_before_the_rename_and_none_after_cleaning(report):
    for kill in report.kills:
        renamed = kill.step in ("renamed", "parent-synced")
        assert kill.partial_folders == (0 if renamed else 1), kill
        assert kill.cleaned == kill.partial_folders
        assert kill.leftovers_after_clean == 0


def test_latest_still_loads_with_the_right_predictions_after_every_kill(report):
    assert len(report.latest_loads) == len(report.kills)
    assert [o for o in report.latest_loads if o.outcome != "loaded-identical"] == []


def test_a_kill_inside_tensorflows_own_writer_is_covered(report):
    (kill,) = [kill for kill in report.kills if "model.export" in kill.step]
    assert kill.killed and kill.ok


def test_writer_completes_when_no_kill_point_matches(tmp_path):
    """The kill writer itself: with a step that never happens, it publishes version 2."""
    source = artifacts.save_version(tmp_path / "src", lambda f: (f / "ckpt.index").write_text("i"))
    (source / "ckpt.data-00000-of-00001").write_text("d")
    base = tmp_path / "base"
    command = ["helpers.kit.faults", "write", str(base), str(source), "no-such-step"]
    subprocess.run([sys.executable, "-m", *command], check=True, capture_output=True)
    assert artifacts.latest_published_version(base).name == "1"
    assert artifacts.verify_version_folder(base / "1") == "checkpoint"
    assert sorted(p.name for p in (base / "1").iterdir()) == [
        "MANIFEST.sha256", "ckpt.data-00000-of-00001", "ckpt.index",
    ]  # fmt: skip
