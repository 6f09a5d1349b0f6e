"""The package's three wings stay apart: the lesson library, the kit's machinery, the checks.

- ``helpers/*.py`` is the lesson library: what a notebook teaches and a learner may import at
  work. It never imports the checks, the tests' harness, or the machinery's internals: only
  four machinery services a lesson function stands on (the child-process runner, the
  sandbox, and the kit's digits data and model, which notebook 04's ``train`` fits).
- ``helpers/kit/`` is the machinery (setup, paths, data, reference model, plots, child processes,
  sandbox, multi-worker launcher, server plumbing). It never imports the checks.
- ``helpers/checks/`` holds the exercise checks and their fakes; nothing else imports them.
- Nothing in the package imports from ``tests/``.

Imports are read with ``ast``, inside functions too, so a lazy import cannot hide a crossing.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "helpers"
LESSON_MAY_USE_FROM_KIT = {
    "helpers.kit.runner",
    "helpers.kit.sandbox",
    "helpers.kit.data",
    "helpers.kit.models",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, package: str | None = None) -> set[str]:
    """Every module ``path`` (in ``package``) imports, as absolute names; ``from helpers import
    x`` gives both ``helpers`` and ``helpers.x``."""
    names: set[str] = set()
    if package is None:
        package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def wing(path: Path) -> str:
    relative = path.relative_to(PACKAGE).parts
    return relative[0] if len(relative) > 1 else "lesson"


MODULES = sorted(PACKAGE.rglob("*.py"))


def ours(names: set[str], prefix: str) -> set[str]:
    return {name for name in names if name == prefix or name.startswith(prefix + ".")}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_respect_the_wings(path):
    names = imported(path)
    assert not ours(names, "tests") and not ours(names, "harness"), (
        f"{path.name} imports test code: {sorted(ours(names, 'tests') | ours(names, 'harness'))}"
    )
    if wing(path) in ("lesson", "kit"):
        checks = ours(names, "helpers.checks")
        assert not checks, f"{path.relative_to(ROOT)} imports the exercise checks: {sorted(checks)}"
    if wing(path) == "lesson" and path.name != "__init__.py":
        kit = {
            name
            for name in ours(names, "helpers.kit") - {"helpers.kit"}
            if not any(name in ours({name}, allowed) for allowed in LESSON_MAY_USE_FROM_KIT)
        }
        assert not kit, (
            f"lesson module {path.name} imports machinery {sorted(kit)}: a learner copying it "
            "to work would have to take the kit along"
        )


def test_the_wings_are_folders():
    assert (PACKAGE / "kit" / "__init__.py").is_file()
    assert (PACKAGE / "checks" / "__init__.py").is_file()
    lesson = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    assert "faults" not in lesson, "the fault-injection harness belongs under tests/"
    assert not lesson & {path.stem for path in (PACKAGE / "kit").glob("*.py")}, (
        "a name in two wings"
    )


def test_the_rule_sees_a_crossing(tmp_path):
    """A lazy, relative import of the checks is seen: a rule blind to it would prove nothing."""
    fake = tmp_path / "crossing.py"
    fake.write_text("def f():\n    from ..checks import core\n    from . import setup\n")
    assert {"helpers.checks.core", "helpers.kit.setup"} <= imported(fake, "helpers.kit")


def test_every_module_says_what_it_serves_and_is_on_the_map():
    table = (PACKAGE / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| `([\w/]+\.py)` \|", table, re.MULTILINE)
    present = sorted(path.relative_to(PACKAGE).as_posix() for path in MODULES)
    assert sorted(listed) == present, "helpers/README.md must list every module once"
    for path in MODULES:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        assert re.search(r"^Serves .*(notebook|checks)", doc, re.MULTILINE), (
            f"{path.relative_to(ROOT)}: the docstring must say which notebooks it serves"
        )


def test_notebooks_start_the_kits_python_children_only_through_the_runner():
    """``python -m helpers.X`` has one way in: helpers.kit.runner (the package is checked in
    tests/test_runner.py, the notebooks' code cells here)."""
    pattern = re.compile(r"""["']-m["']\s*,\s*["']helpers\.""")
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for index, cell in enumerate(cells):
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and pattern.search(source):
                raise AssertionError(f"{path.name} cell {index} runs python -m helpers.* itself")
