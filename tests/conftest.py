"""Fixtures shared by several test files."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def report(tmp_path_factory, request):
    """The fault-injection suite's report (helpers.faults): run once per test session and
    shared by test_fault_injection.py and test_kill_points.py, even when pytest-xdist runs
    them in different worker processes."""
    from helpers import faults

    base = tmp_path_factory.getbasetemp()
    in_xdist_worker = hasattr(request.config, "workerinput")
    shared = base.parent if in_xdist_worker else base
    return faults.shared_suite(shared / "fault-suite")
