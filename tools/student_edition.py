"""Student editions of the notebooks: solutions out, checks in, outputs cleared.

Usage (inside the kit's environment)::

    .venv/bin/python tools/student_edition.py [--check] [--output DIR] [NOTEBOOK ...]

Without ``--check`` it writes ``build/student/<name>.ipynb`` for each notebook (all of
``notebooks/`` by default). In each exercise code cell the lines from ``# BEGIN SOLUTION`` to
``# END SOLUTION`` become ``# YOUR CODE HERE``; markdown cells tagged ``solution`` are dropped;
every output and execution count is cleared; the check cells stay; the notebook's metadata
says ``"kit": {"edition": "student"}``.

``--check`` writes nothing and fails (exit status 1, one line per problem naming the notebook and
the cell) when a notebook and this generator have drifted apart: markers unbalanced or nested, a
solution with no placeholder line before it, an exercise cell not followed by a check cell, a
check that does not exist in ``helpers.checks``, fewer than two exercises, or a student edition
that still holds solution text. The conventions are in ``helpers/checks/core.py``.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "build" / "student"

BEGIN, END, PLACEHOLDER = "# BEGIN SOLUTION", "# END SOLUTION", "# YOUR CODE HERE"
SOLUTION_TAG = "solution"
MIN_EXERCISES = 2
# `helpers.checks.nb01.exercise_1(` : the call a check cell makes.
CHECK_CALL = re.compile(r"\bhelpers\.checks\.(\w+)\.(\w+)\s*\(")
# `answer = None`, `a = b = ...`, `x, y = None, None`: a placeholder that leaves answers unset.
PLACEHOLDER_LINE = re.compile(
    r"^\s*[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*"
    r"(None|\.\.\.)(\s*,\s*(None|\.\.\.))*\s*(=.*)?(#.*)?$"
)


class MarkerError(ValueError):
    """A code cell's solution markers cannot be turned into a student edition."""


@dataclass
class Report:
    """What building one student edition found."""

    notebook: Path
    edition: nbformat.NotebookNode | None = None
    problems: list[str] = field(default_factory=list)
    exercises: int = 0

    def problem(self, cell: int | None, message: str) -> None:
        where = f"{display(self.notebook)}" + (f", cell {cell}" if cell is not None else "")
        self.problems.append(f"{where}: {message}")


def display(path: Path) -> str:
    """``path`` relative to the kit's top folder when it is inside it."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def source_lines(cell: nbformat.NotebookNode) -> list[str]:
    source = cell.source
    return ("".join(source) if isinstance(source, list) else source).split("\n")


def has_markers(cell: nbformat.NotebookNode) -> bool:
    return any(line.strip() in (BEGIN, END) for line in source_lines(cell))


def strip_solutions(source: str) -> tuple[str, list[str]]:
    """Replace each BEGIN/END SOLUTION block with the placeholder comment.

    Returns the student source and the solution lines removed. Raises :class:`MarkerError` for
    unbalanced or nested markers and for a solution with no placeholder line before it.
    """
    kept: list[str] = []
    removed: list[str] = []
    inside = False
    placeholder_seen = False
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise MarkerError(f"line {number}: {BEGIN} inside another solution (nested)")
            if not placeholder_seen:
                raise MarkerError(
                    f"line {number}: no placeholder before {BEGIN} (a line such as "
                    "`answer = None  # your answer: ...` that leaves the answer unset)"
                )
            inside = True
            kept.append(line[: len(line) - len(line.lstrip())] + PLACEHOLDER)
        elif marker == END:
            if not inside:
                raise MarkerError(f"line {number}: {END} without a {BEGIN} before it")
            inside, placeholder_seen = False, False
        elif inside:
            removed.append(line)
        else:
            kept.append(line)
            if PLACEHOLDER_LINE.match(line):
                placeholder_seen = True
    if inside:
        raise MarkerError(f"{BEGIN} is never closed by {END}")
    return "\n".join(kept), removed


def check_calls(cell: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """The ``(module, function)`` pairs of ``helpers.checks.<module>.<function>(`` calls."""
    if cell.cell_type != "code":
        return []
    return CHECK_CALL.findall("\n".join(source_lines(cell)))


def missing_check(module: str, function: str) -> str | None:
    """Why ``helpers.checks.<module>.<function>`` is not a usable check, or None if it is."""
    try:
        loaded = importlib.import_module(f"helpers.checks.{module}")
    except ModuleNotFoundError as error:
        if error.name == f"helpers.checks.{module}":
            return f"helpers.checks.{module} does not exist"
        raise
    check = getattr(loaded, function, None)
    if check is None:
        return f"helpers.checks.{module} has no {function}"
    if not hasattr(check, "number"):
        return f"helpers.checks.{module}.{function} is not decorated with @exercise"
    return None


def build(path: Path) -> Report:
    """Build the student edition of the notebook at ``path`` and list every drift problem."""
    report = Report(path)
    notebook = nbformat.read(path, as_version=4)
    number = re.match(r"(\d+)_", path.name)
    own_module = f"nb{number.group(1)}" if number else None
    cells = notebook.cells
    edition = copy.deepcopy(notebook)
    student_cells = []
    solutions: dict[int, list[str]] = {}

    for index, cell in enumerate(cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "markdown" and SOLUTION_TAG in tags:
            continue
        student = copy.deepcopy(cell)
        if cell.cell_type == "code":
            student.outputs, student.execution_count = [], None
            if has_markers(cell):
                try:
                    student.source, removed = strip_solutions("\n".join(source_lines(cell)))
                except MarkerError as error:
                    report.problem(index, str(error))
                    continue
                solutions[len(student_cells)] = removed
                report.exercises += 1
                following = cells[index + 1] if index + 1 < len(cells) else None
                if following is None or not check_calls(following):
                    report.problem(
                        index,
                        "exercise cell is not followed by a check cell calling "
                        "helpers.checks.nbNN.exercise_K(...)",
                    )
            for module, function in check_calls(cell):
                if own_module and module != own_module:
                    report.problem(index, f"calls helpers.checks.{module} (expected {own_module})")
                why = missing_check(module, function)
                if why:
                    report.problem(index, f"check cell calls a missing check: {why}")
            if check_calls(cell) and (index == 0 or not has_markers(cells[index - 1])):
                report.problem(index, "check cell does not follow an exercise cell")
        elif has_markers(cell):
            report.problem(index, f"{BEGIN}/{END} markers in a {cell.cell_type} cell")
        student_cells.append(student)

    if report.exercises < MIN_EXERCISES:
        report.problem(
            None,
            f"{report.exercises} exercise(s); at least {MIN_EXERCISES} are required "
            f"(code cells with {BEGIN} ... {END}, each followed by a check cell)",
        )
    edition.cells = student_cells
    edition.metadata.setdefault("kit", {})["edition"] = "student"
    _verify_edition(report, edition, solutions)
    report.edition = edition
    return report


def _verify_edition(
    report: Report, edition: nbformat.NotebookNode, solutions: dict[int, list[str]]
) -> None:
    """Fail if the generated edition still holds solution text, markers or outputs."""
    for index, cell in enumerate(edition.cells):
        lines = source_lines(cell)
        if any(line.strip() in (BEGIN, END) for line in lines):
            report.problem(None, f"student edition cell {index} still holds a solution marker")
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            report.problem(None, f"student edition cell {index} is still tagged '{SOLUTION_TAG}'")
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            report.problem(None, f"student edition cell {index} still has outputs")
        stripped = {line.strip() for line in lines}
        leaked = [
            line.strip()
            for line in solutions.get(index, [])
            if line.strip() and not line.strip().startswith("#") and line.strip() in stripped
        ]
        if leaked:
            report.problem(
                None, f"student edition cell {index} still holds solution text: {leaked[0]!r}"
            )


def notebooks(arguments: list[str]) -> list[Path]:
    if arguments:
        return [Path(argument).resolve() for argument in arguments]
    return sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify only; write nothing")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default: build/student")
    parser.add_argument("notebook", nargs="*", help="default: every notebook in notebooks/")
    options = parser.parse_args(argv)

    failed = False
    for path in notebooks(options.notebook):
        report = build(path)
        for problem in report.problems:
            print(f"DRIFT {problem}", file=sys.stderr)
        failed = failed or bool(report.problems)
        if options.check:
            state = "ok" if not report.problems else f"{len(report.problems)} problem(s)"
            print(f"{display(path)}: {report.exercises} exercise(s), {state}")
        elif report.problems:
            print(f"{display(path)}: not written (fix the problems above)")
        else:
            options.output.mkdir(parents=True, exist_ok=True)
            target = options.output / path.name
            nbformat.write(report.edition, target)
            print(f"{display(path)} -> {display(target)} ({report.exercises} exercises)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
