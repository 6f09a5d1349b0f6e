"""Fixtures shared by several test files."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def report(tmp_path_factory, request):
    """The fault-injection suite's report (harness.faults): run once per test session and
    shared by test_fault_injection.py and test_kill_points.py, even when pytest-xdist runs
    them in different worker processes."""
    from harness import faults

    base = tmp_path_factory.getbasetemp()
    in_xdist_worker = hasattr(request.config, "workerinput")
    shared = base.parent if in_xdist_worker else base
    return faults.shared_suite(shared / "fault-suite")


@pytest.fixture
def rejected(capsys):
    """``rejected(verdict)``: assert an exercise check refused the answer with a hint (not
    with an error of its own, which would pass for a rejection), and return what it printed."""

    def check(verdict) -> str:
        out = capsys.readouterr().out
        assert not verdict.solved and verdict.error is None, out
        return out

    return check
