"""A function or class a notebook writes out and the package also holds is the same code.

d2l's rule, applied to every name at once: a notebook may teach a function in full and the
package keep it for later notebooks, but then both are one function. A notebook's own
function must not share a name with a package function that does something else.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from nbsource import NOTEBOOKS, assert_same_code, code_cells

PACKAGE = Path(__file__).resolve().parent.parent / "helpers"


def notebook_definitions() -> dict[str, set[str]]:
    """Top-level def/class names written out in each notebook: name -> notebook prefixes."""
    found: dict[str, set[str]] = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for text in code_cells(path.name[:2]):
            try:
                tree = ast.parse(text)
            except SyntaxError:  # cells with IPython magics
                continue
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.ClassDef):
                    found.setdefault(node.name, set()).add(path.name[:2])
    return found


def package_definitions() -> dict[str, list[str]]:
    """Public top-level def/class names in the lesson library and machinery: name -> modules."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "checks" in path.parts:  # checks mirror the exercises on purpose: not lesson code
            continue
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
                found.setdefault(node.name, []).append(module)
    return found


PACKAGE_DEFINITIONS = package_definitions()
SHARED = sorted(
    (name, prefix, module)
    for name, prefixes in notebook_definitions().items()
    for module in PACKAGE_DEFINITIONS.get(name, [])
    for prefix in prefixes
)


def test_some_taught_code_is_shared():
    assert len(SHARED) >= 20, SHARED  # the test below must have something to compare


@pytest.mark.parametrize(("name", "prefix", "module"), SHARED)
def test_notebook_and_package_hold_the_same_code(name, prefix, module):
    assert_same_code(prefix, getattr(importlib.import_module(module), name))


def test_no_lesson_name_twice_in_the_package():
    """A learner imports lesson names at work: each means one thing. (Machinery may reuse a
    plain name such as ``main`` or ``start`` in modules a learner never imports.)"""
    twice = {
        name: modules
        for name, modules in PACKAGE_DEFINITIONS.items()
        if len(modules) > 1 and any(module.count(".") == 1 for module in modules)
    }
    assert not twice, f"one lesson name, several definitions: {twice}"
