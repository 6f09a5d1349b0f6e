"""Damaged and mismatched artifacts: every load ends in a clear error, never a crash or a
silent wrong load.

One long-lived loader child (``python -m harness.faults serve``) loads every case and reports
each outcome over a pipe; a child dying mid-case is recorded as a crash for that case. The
suite (shared with tests/test_kill_points.py) runs once per test session; its figures are
printed by ``test_print_figures`` (see them with ``pytest -s``).
"""

from __future__ import annotations

import sys
import textwrap

import pytest
from harness import faults

SUITE_BUDGET_SECONDS = 240  # about 1 minute on an idle 2-core machine; generous for a busy one


pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL and fcntl")


def by_name(report):
    return {outcome.case: outcome for outcome in report.outcomes}


def test_at_least_30_cases_across_every_format(report):
    assert len(report.outcomes) >= 30
    names = by_name(report)
    for expected in ("sm_truncated_variables_data", "sm_flipped_saved_model_pb",
                     "sm_missing_index", "empty_folder", "keras_not_a_zip",
                     "keras_broken_config_json", "other_arch_checkpoint", "float64_keras",
                     "float64_checkpoint", "sm_unreadable_saved_model_pb"):  # fmt: skip
        assert expected in names


def test_no_crash_no_hang_no_unclear_error(report):
    bad = [o for o in report.outcomes if o.outcome in ("crash", "hang", "unclear-error")]
    assert bad == []
    assert report.loader_restarts == 0


def test_no_silent_wrong_load(report):
    assert [o.case for o in report.outcomes if o.outcome == "silent-wrong"] == []


def test_controls_prove_the_detector_can_see_both_outcomes(report):
    """Good versions load with identical predictions; wrong artifacts loaded with every check
    off are reported as silent wrong loads (so "0 silent wrong loads" means something)."""
    outcomes = {control.case: control.outcome for control in report.controls}
    assert outcomes == {
        "control good savedmodel": "loaded-identical",
        "control good keras": "loaded-identical",
        "control good checkpoint": "loaded-identical",
        "control unchecked other architecture": "silent-wrong",
        "control unchecked swapped checkpoint": "silent-wrong",
    }


def test_every_damaged_artifact_with_its_manifest_is_refused(report):
    for outcome in report.outcomes:
        if not outcome.case.endswith("+rehashed"):
            assert outcome.outcome == "clear-error", outcome


def test_without_the_manifest_the_deeper_checks_still_catch_the_damage(report):
    """Re-hashed cases: the manifest was rewritten after the damage. They must still fail
    clearly, unless the damage sits in bytes the load never uses (predictions identical)."""
    rehashed = [o for o in report.outcomes if o.case.endswith("+rehashed")]
    assert len(rehashed) >= 20
    caught = [o for o in rehashed if o.outcome == "clear-error"]
    assert len(caught) >= len(rehashed) - 3
    assert {o.outcome for o in rehashed} <= {"clear-error", "loaded-identical"}
    names = by_name(report)
    # weights from another training run: only the stored probe can tell
    assert names["sm_swapped_variables+rehashed"].error_type in {
        "ArtifactMismatchError",
        "CorruptArtifactError",
    }
    assert "probe predictions differ" in names["ckpt_swapped_data+rehashed"].message


@pytest.mark.parametrize(
    ("case", "error_type", "words"),
    [
        ("other_input_savedmodel", "ArtifactMismatchError", "input shape"),
        ("float64_savedmodel", "ArtifactMismatchError", "input dtype: found float64"),
        ("seed_style_savedmodel", "ArtifactMismatchError", "['inputs'], expected ['pixels']"),
        ("other_arch_keras", "ArtifactMismatchError", "variables: found 4 tensors"),
        ("lambda_keras", "CorruptArtifactError", "Lambda"),
        ("other_arch_checkpoint", "CorruptArtifactError", "incompatible tensor"),
        ("float64_checkpoint", "CorruptArtifactError", "dtype"),
        ("sm_missing_index+rehashed", "IncompleteArtifactError", "variables.index is missing"),
        ("keras_not_a_zip+rehashed", "CorruptArtifactError", "not a zip archive"),
        ("sm_flipped_saved_model_pb+rehashed", "CorruptArtifactError", "saved_model.pb is corrupt"),
        ("malformed_manifest", "IntegrityError", "malformed"),
        ("only_partial_versions", "IncompleteArtifactError", "no published version"),
        ("latest_damaged", "IntegrityError", "changed saved_model.pb"),
    ],
)
def test_errors_say_what_is_wrong(report, case, error_type, words):
    outcome = by_name(report)[case]
    assert (outcome.outcome, outcome.error_type) == ("clear-error", error_type)
    assert words in outcome.message


def test_suite_time_within_budget(report):
    assert report.seconds < SUITE_BUDGET_SECONDS, report.phases


def test_print_figures(report):
    print("\n" + textwrap.fill(report.summary(), 100))
    print("phases (s):", report.phases)
    assert report.summary().startswith(f"artifacts tried {len(report.outcomes)}")


STUB = """
import json, os, sys, time
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    name = json.loads(line)["name"]
    if name == "crash":
        os.abort()
    if name == "hang":
        time.sleep(30)
    print(json.dumps({"case": name, "outcome": "clear-error"}), flush=True)
"""


def test_loader_client_records_crashes_and_hangs_and_restarts(tmp_path):
    """The crash detection itself, with a stub child (no TensorFlow: fast)."""
    client = faults.LoaderClient(tmp_path, timeout=3, command=[sys.executable, "-c", STUB])
    try:
        outcomes = [
            client.load(faults.Case(name, "savedmodel", str(tmp_path), "stub"))
            for name in ("first", "crash", "after-crash", "hang", "after-hang")
        ]
    finally:
        client.close()
    assert [o.outcome for o in outcomes] == [
        "clear-error", "crash", "clear-error", "hang", "clear-error",
    ]  # fmt: skip
    assert client.restarts == 2
