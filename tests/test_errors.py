from __future__ import annotations

import ast
import logging
import warnings
from pathlib import Path

from helpers import errors

VOCABULARY = (
    errors.ArtifactNotFoundError,
    errors.IncompleteArtifactError,
    errors.IntegrityError,
    errors.CorruptArtifactError,
    errors.ArtifactMismatchError,
    errors.RuntimeCrashError,
)


def test_artifact_errors_name_the_path_and_problem(tmp_path):
    for kind in VOCABULARY:
        error = kind(tmp_path / "m", "no saved_model.pb")
        assert isinstance(error, errors.ArtifactError)
        assert str(error) == f"{tmp_path / 'm'}: no saved_model.pb"
        assert error.path == tmp_path / "m" and error.problem == "no saved_model.pb"
    assert isinstance(errors.ArtifactNotFoundError(tmp_path, "x"), FileNotFoundError)
    assert not issubclass(errors.PredictionMismatchError, errors.ArtifactError)


def test_the_lesson_library_defines_no_error_of_its_own():
    """The vocabulary lives in helpers/errors.py alone; other modules import it from there."""
    library = Path(errors.__file__).parent
    ours = {"ArtifactError"} | {kind.__name__ for kind in VOCABULARY}
    elsewhere = [
        f"{path.name}: {node.name}"
        for path in sorted(library.glob("*.py"))
        if path.name != "errors.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
        and (
            node.name.endswith("Error")
            or {base.id for base in node.bases if isinstance(base, ast.Name)} & ours
        )
    ]
    assert elsewhere == []


def test_describe_wraps_and_names_the_type():
    text = errors.describe(ValueError("word " * 40), width=50)
    assert text.startswith("ValueError: word")
    assert all(len(line) <= 50 for line in text.splitlines())


def test_describe_with_a_limit_quotes_the_first_line_without_tensorflow_noise():
    noisy = ValueError("{{function_node __wrapped__RestoreV2}} tensor_name = x; bad\nmore lines")
    assert errors.describe(noisy, None, limit=160) == "ValueError: tensor_name = x; bad"
    assert errors.describe(noisy, None, limit=12) == "ValueError: tensor_name…"
    assert errors.describe(ValueError(), None, limit=10) == "ValueError"
    assert errors.describe(noisy, None) == "ValueError: tensor_name = x; bad\nmore lines"


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
