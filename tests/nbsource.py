"""Read code out of the committed notebooks, for tests that compare it with the package.

The kit follows d2l's rule: a function a notebook teaches is written out in full in a cell of
that notebook, and the package holds the same function for later notebooks. These helpers
find such a definition and compare it, as code, with the package's.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def notebook_path(prefix: str) -> Path:
    """The notebook whose file name starts with ``prefix`` (e.g. ``"09"``)."""
    (path,) = sorted(NOTEBOOKS.glob(f"{prefix}_*.ipynb"))
    return path


def code_cells(prefix: str) -> list[str]:
    """The sources of the notebook's code cells, in order."""
    cells = json.loads(notebook_path(prefix).read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _normalised(node: ast.AST) -> str:
    return ast.dump(_strip_docstrings(node), annotate_fields=True, include_attributes=False)


def notebook_definition(prefix: str, name: str) -> ast.AST:
    """The top-level ``def``/``class`` called ``name`` in the notebook's code cells (found
    more than once, e.g. again in the whole recipe, every copy must be the same code)."""
    found = []
    for text in code_cells(prefix):
        try:
            tree = ast.parse(text)
        except SyntaxError:  # cells with IPython magics are not plain Python
            continue
        found += [
            node
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name
        ]
    assert found, f"notebook {prefix}: no definition of {name}"
    # A whole-recipe cell repeats what it needs (it runs without the kit): it must repeat it
    # exactly, so the recipe and the lesson cannot teach two versions of one function.
    differing = [node.lineno for node in found[1:] if _normalised(node) != _normalised(found[0])]
    assert not differing, f"notebook {prefix}: {len(found)} definitions of {name}, and they differ"
    return found[0]


def assert_same_code(prefix: str, obj: object, name: str | None = None) -> None:
    """Fail unless notebook ``prefix`` defines ``obj`` (a function or class) with the same code
    as the package: the same statements, names and values; docstrings and comments aside."""
    name = name or obj.__name__
    shown = notebook_definition(prefix, name)
    packaged = ast.parse(textwrap.dedent(inspect.getsource(obj))).body[0]
    shown.name = packaged.name = name
    assert _normalised(shown) == _normalised(packaged), (
        f"notebook {prefix}'s {name} and {obj.__module__}.{obj.__qualname__} differ: "
        "the notebook must show the code the package runs"
    )
