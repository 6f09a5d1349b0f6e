"""tools/student_edition.py: the transformation, drift detection, and every edition executed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from helpers.kit.setup import KERNEL_NAME, isolated_home_env

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import student_edition as se  # noqa: E402  (a script in tools/, not a package)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))

EXERCISE = """answer = None  # your answer: twice 21
# BEGIN SOLUTION
answer = 2 * 21
# END SOLUTION
print(answer)"""


def exercise_cells(number: int, source: str = EXERCISE, check: str | None = None) -> list:
    check = check or f"helpers.checks.nb01.exercise_{number}(answer, versions, crashed)"
    return [
        new_markdown_cell(f"### Exercise {number}: twice"),
        new_code_cell(source, execution_count=7, outputs=[new_output("stream", text="42\n")]),
        new_code_cell(check),
    ]


def write(tmp_path: Path, cells: list, name: str = "01_synthetic.ipynb") -> Path:
    path = tmp_path / name
    nbformat.write(new_notebook(cells=cells, metadata={"kit": {"extra_tf_processes": 1}}), path)
    return path


def valid_cells() -> list:
    solution_note = new_markdown_cell("**Why:** because.", metadata={"tags": ["solution"]})
    return [
        new_markdown_cell("# Title"),
        new_code_cell("x = 1", execution_count=1, outputs=[new_output("stream", text="1\n")]),
        *exercise_cells(1),
        solution_note,
        *exercise_cells(2),
    ]


def test_edition_removes_solutions_keeps_placeholders_and_checks(tmp_path):
    report = se.build(write(tmp_path, valid_cells()))
    assert report.problems == [] and report.exercises == 2
    cells = report.edition.cells
    assert len(cells) == 8  # the markdown cell tagged `solution` is gone
    assert not any("**Why:**" in cell.source for cell in cells)
    exercise = cells[3]
    assert (
        exercise.source == "answer = None  # your answer: twice 21\n# YOUR CODE HERE\nprint(answer)"
    )
    assert cells[4].source.startswith("helpers.checks.nb01.exercise_1(")
    assert report.edition.metadata["kit"] == {"extra_tf_processes": 1, "edition": "student"}


def test_edition_clears_every_output_and_execution_count(tmp_path):
    report = se.build(write(tmp_path, valid_cells()))
    code = [cell for cell in report.edition.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_indented_solution_keeps_its_indentation():
    source = "def f():\n    value = None\n    # BEGIN SOLUTION\n    value = 3\n    # END SOLUTION\n"
    student, removed = se.strip_solutions(source)
    assert student == "def f():\n    value = None\n    # YOUR CODE HERE\n"
    assert removed == ["    value = 3"]


def test_several_blocks_in_one_cell_each_need_a_placeholder():
    block = "# BEGIN SOLUTION\n{} = 1\n# END SOLUTION"
    ok = "a = None\n" + block.format("a") + "\nb = ...\n" + block.format("b")
    assert se.strip_solutions(ok)[0] == "a = None\n# YOUR CODE HERE\nb = ...\n# YOUR CODE HERE"
    with pytest.raises(se.MarkerError, match="line 5: no placeholder"):
        se.strip_solutions("a = None\n# BEGIN SOLUTION\na = 1\n# END SOLUTION\n# BEGIN SOLUTION")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("a = None\n# BEGIN SOLUTION\na = 1", "never closed"),
        ("a = None\na = 1\n# END SOLUTION", "line 3: # END SOLUTION without a # BEGIN"),
        ("a = None\n# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "nested"),
        ("# BEGIN SOLUTION\na = 1\n# END SOLUTION", "line 1: no placeholder"),
        ("a = compute()\n# BEGIN SOLUTION\na = 1\n# END SOLUTION", "no placeholder"),
    ],
    ids=["unclosed", "end-without-begin", "nested", "no-placeholder", "placeholder-not-none"],
)
def test_marker_drift_is_detected_with_notebook_and_cell(tmp_path, source, message):
    cells = valid_cells()
    cells[3] = new_code_cell(source)
    report = se.build(write(tmp_path, cells))
    assert any(message in problem for problem in report.problems), report.problems
    assert any(
        problem.startswith(f"{tmp_path / '01_synthetic.ipynb'}, cell 3: ")
        for problem in report.problems
    )


def test_exercise_without_a_check_cell_is_detected(tmp_path):
    cells = valid_cells()
    del cells[4]  # exercise 1's check cell
    report = se.build(write(tmp_path, cells))
    assert any(
        "cell 3: exercise cell is not followed by a check cell" in p for p in report.problems
    )


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ("helpers.checks.nb01.exercise_99(answer)", "helpers.checks.nb01 has no exercise_99"),
        ("helpers.checks.nb77.exercise_1(answer)", "helpers.checks.nb77 does not exist"),
        ("helpers.checks.nb01._weights_bytes(answer)", "is not decorated with @exercise"),
        ("helpers.checks.core.exercise_1(answer)", "calls helpers.checks.core (expected nb01)"),
    ],
)
def test_check_cells_naming_a_missing_check_are_detected(tmp_path, check, message):
    cells = valid_cells()
    cells[4] = new_code_cell(check)
    report = se.build(write(tmp_path, cells))
    assert any("cell 4: " in p and message in p for p in report.problems), report.problems


def test_fewer_than_two_exercises_are_detected(tmp_path):
    one = write(tmp_path, valid_cells()[:6])
    assert any("1 exercise(s); at least 2" in p for p in se.build(one).problems)
    none = write(tmp_path, [new_markdown_cell("# Title"), new_code_cell("x = 1")], "02_x.ipynb")
    assert any("0 exercise(s); at least 2" in p for p in se.build(none).problems)


def test_a_check_cell_without_exercise_before_it_is_detected(tmp_path):
    cells = [*valid_cells(), new_code_cell("helpers.checks.nb01.exercise_1(None, None, None)")]
    report = se.build(write(tmp_path, cells))
    assert any("check cell does not follow an exercise cell" in p for p in report.problems)


def test_markers_in_markdown_and_leaked_solution_text_are_detected(tmp_path, monkeypatch):
    cells = valid_cells()
    cells.append(new_markdown_cell("```\n# BEGIN SOLUTION\n```"))
    report = se.build(write(tmp_path, cells))
    assert any("markers in a markdown cell" in p for p in report.problems)

    # a generator bug that leaves the solution in place is caught by the edition's own check
    monkeypatch.setattr(se, "strip_solutions", lambda source: (source, ["answer = 2 * 21"]))
    report = se.build(write(tmp_path, valid_cells()))
    assert any("still holds a solution marker" in p for p in report.problems)
    assert any("still holds solution text: 'answer = 2 * 21'" in p for p in report.problems)


def test_cli_writes_editions_and_check_fails_with_a_clear_message(tmp_path):
    good = write(tmp_path, valid_cells())
    bad = write(tmp_path, valid_cells()[:6], "02_bad.ipynb")
    out = tmp_path / "student"
    assert se.main(["--output", str(out), str(good)]) == 0
    edition = nbformat.read(out / good.name, as_version=4)
    assert edition.metadata["kit"]["edition"] == "student"
    assert se.main(["--check", str(good)]) == 0
    command = [sys.executable, str(ROOT / "tools" / "student_edition.py"), "--check", str(bad)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert "02_bad.ipynb: 1 exercise(s); at least 2 are required" in result.stderr
    assert not (out / bad.name).exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_committed_notebooks_pass_check(path):
    """``student_edition.py --check`` on each committed notebook (one case per notebook)."""
    report = se.build(path)
    assert report.problems == [], "\n".join(report.problems)


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory) -> dict[str, str]:
    """A kernel environment that shares nothing with nbval's runs of the same notebooks.

    Its own artifacts folder (the reference model's cache is rebuilt there once, then shared by
    the editions run in this module) and its own home folders.
    """
    base = tmp_path_factory.mktemp("student-run")
    env = {**os.environ, "KIT_ARTIFACTS_DIR": str(base / "artifacts")}
    for name, folder in isolated_home_env(base / "home").items():
        Path(folder).mkdir(parents=True, exist_ok=True)
        env[name] = folder
    return env


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_student_edition_runs_without_errors_and_checks_say_not_solved(path, tmp_path, kernel_env):
    from nbclient import NotebookClient

    report = se.build(path)
    if report.exercises == 0:
        pytest.fail(f"{path.name} has no exercises yet: {report.problems}")
    edition = report.edition
    client = NotebookClient(
        edition,
        timeout=600,
        kernel_name=KERNEL_NAME,
        allow_errors=True,  # collect every error below instead of stopping at the first
        resources={"metadata": {"path": str(tmp_path)}},
    )
    start = time.perf_counter()
    client.execute(env=kernel_env)
    print(f"{path.name}: student edition ran in {time.perf_counter() - start:.1f} s")

    problems = []
    for index, cell in enumerate(edition.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                problems.append(f"cell {index}: {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                problems.append(f"cell {index}: stderr: {output.text[:300]}")
    assert problems == [], f"{path.name} student edition:\n" + "\n".join(problems)

    checks = [cell for cell in edition.cells if se.check_calls(cell)]
    texts = [
        "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        for cell in checks
    ]
    assert "is not solved yet" in texts[0], texts[0]
    assert not any("✅" in text for text in texts), "a check passes on the placeholder"
