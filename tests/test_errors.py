from __future__ import annotations

import logging
import warnings

from helpers import errors


def test_artifact_errors_name_the_path_and_problem(tmp_path):
    error = errors.NotASavedModelError(tmp_path / "m", "no saved_model.pb")
    assert str(error) == f"{tmp_path / 'm'}: no saved_model.pb"
    assert error.path == tmp_path / "m" and error.problem == "no saved_model.pb"
    assert isinstance(errors.ArtifactNotFoundError(tmp_path, "x"), FileNotFoundError)


def test_describe_wraps_and_names_the_type():
    text = errors.describe(ValueError("word " * 40), width=50)
    assert text.startswith("ValueError: word")
    assert all(len(line) <= 50 for line in text.splitlines())


def test_report_warnings_prints_both_kinds_once_on_stdout(capsys):
    with errors.report_warnings() as messages:
        warnings.warn("careful", UserWarning, stacklevel=1)
        warnings.warn("careful", UserWarning, stacklevel=1)
        warnings.warn("internal", DeprecationWarning, stacklevel=1)
        logging.getLogger("absl").warning("legacy format")
    out, err = capsys.readouterr()
    assert out.splitlines() == ["Warning: legacy format", "UserWarning: careful"]
    assert err == ""
    assert "DeprecationWarning: internal" not in messages
