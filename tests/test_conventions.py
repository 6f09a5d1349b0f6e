"""Every notebook follows the kit's shape and hygiene rules (see README, "Writing a notebook")."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from helpers.kit.setup import KERNEL_NAME

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NAME_PATTERN = re.compile(r"^(\d{2})_[a-z0-9_]+\.ipynb$")
REQUIRED_HEADINGS = ("What you will learn", "Key points", "Exercises")
MAX_CELLS = 45  # "keep a notebook under about 45 cells"
IGNORE_TAG = "nbval-ignore-output"
RAISES_TAG = "raises-exception"
# Things that must never appear in committed outputs: machine-specific paths and noise.
FORBIDDEN_IN_OUTPUTS = {
    "an absolute path into a home folder": re.compile(r"(/home/|/root/|/Users/|[A-Z]:\\Users)"),
    "a temporary folder path": re.compile(r"(/tmp/|/var/folders/)"),
    "an installation path": re.compile(r"site-packages"),
    "a terminal control character (progress bar?)": re.compile(r"[\x08\x1b]"),
    "a per-step timing (progress bar?)": re.compile(r"\d+m?s/step"),
}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    return "".join(cell["source"])


def output_text(output: dict) -> str:
    if output["output_type"] == "stream":
        return "".join(output["text"])
    if output["output_type"] == "error":
        return "\n".join(output["traceback"])
    return "".join(output.get("data", {}).get("text/plain", ""))


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


ids = [path.name for path in NOTEBOOKS]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


def test_numbers_unique_and_contiguous():
    numbers = []
    for path in NOTEBOOKS:
        match = NAME_PATTERN.match(path.name)
        assert match, f"{path.name}: name must look like 01_lower_case_words.ipynb"
        numbers.append(int(match.group(1)))
    assert numbers == list(range(1, len(numbers) + 1)), f"numbers must be 1..n, got {numbers}"


def test_readme_course_map_lists_every_notebook_in_order():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Course map", 1)
    assert len(section) == 2, "README.md needs a '## Course map' section"
    course_map = section[1].split("\n## ", 1)[0]
    listed = re.findall(r"\]\(notebooks/(\d{2}_[a-z0-9_]+\.ipynb)\)", course_map)
    assert listed == [path.name for path in NOTEBOOKS], (
        "README course map must list exactly the notebooks, in order"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_shape(path: Path):
    notebook = load(path)
    cells = notebook["cells"]
    first = source(cells[0]).strip().splitlines()
    assert first and first[0].startswith("# "), f"{path.name}: first cell must start with an H1"
    h1s = [line for line in first if line.startswith("# ")]
    assert cells[0]["cell_type"] == "markdown" and len(h1s) == 1, "exactly one H1, first cell"
    markdown = "\n".join(source(c) for c in cells if c["cell_type"] == "markdown")
    for heading in REQUIRED_HEADINGS:
        assert re.search(rf"^##+ .*{heading}", markdown, re.MULTILINE | re.IGNORECASE), (
            f"{path.name}: missing a '{heading}' section"
        )
    assert re.search(r"\*\*Prerequisites", markdown), f"{path.name}: state the prerequisites"
    assert re.search(r"\*\*Time", markdown), f"{path.name}: state the time it takes"
    kernel = notebook["metadata"].get("kernelspec", {}).get("name")
    assert kernel == KERNEL_NAME, f"{path.name}: kernelspec must be {KERNEL_NAME!r}, not {kernel!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_setup_cell_uses_its_own_artifacts_folder(path: Path):
    code = [source(c) for c in load(path)["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name}: no code cells"
    first = code[0]
    assert first.lstrip().startswith("import helpers"), (
        f"{path.name}: the first code cell must start with `import helpers` (before TensorFlow)"
    )
    assert f'helpers.kit.setup.init("{path.stem}")' in first, (
        f"{path.name}: the setup cell must call helpers.kit.setup.init({path.stem!r})"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_no_installs_or_path_hacks(path: Path):
    for cell in load(path)["cells"]:
        if cell["cell_type"] != "code":
            continue
        text = source(cell)
        assert not re.search(r"^\s*[!%]\s*pip\b", text, re.MULTILINE), f"{path.name}: no !pip"
        assert "sys.path" not in text, f"{path.name}: no sys.path edits (helpers is installed)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_executed_top_to_bottom(path: Path):
    counts = [c["execution_count"] for c in load(path)["cells"] if c["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts}: re-run it top to bottom in a fresh kernel"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_outputs_clean(path: Path):
    for index, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] != "code":
            continue
        expected_to_raise = RAISES_TAG in tags(cell)
        for output in cell["outputs"]:
            where = f"{path.name}, code cell with source {source(cell)[:60]!r}"
            if output["output_type"] == "error":
                assert expected_to_raise, f"{where}: error output in a cell not tagged {RAISES_TAG}"
            if output["output_type"] == "stream" and output["name"] == "stderr":
                raise AssertionError(
                    f"{where}: writes to stderr (a red box to a learner); print warnings "
                    "with helpers.errors.report_warnings() instead"
                )
            text = output_text(output)
            for problem, pattern in FORBIDDEN_IN_OUTPUTS.items():
                assert not pattern.search(text), f"{where} (cell {index}): output has {problem}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_ignored_outputs_say_why(path: Path):
    for cell in load(path)["cells"]:
        if IGNORE_TAG in tags(cell):
            assert re.search(rf"^# {IGNORE_TAG}: \S.{{8,}}", source(cell), re.MULTILINE), (
                f"{path.name}: a cell tagged {IGNORE_TAG} must say why in a comment line "
                f"'# {IGNORE_TAG}: <reason>':\n{source(cell)[:200]}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_ends_with_sources(path: Path):
    """Every claim about TensorFlow, Keras or a tool is proven in a cell or linked here."""
    last = load(path)["cells"][-1]
    text = source(last)
    assert last["cell_type"] == "markdown" and text.lstrip().startswith("## Sources"), (
        f"{path.name}: the last cell must be a '## Sources' section"
    )
    # Markdown links or bare URLs: JupyterLab renders both as links.
    assert re.search(r"https://\S+", text), f"{path.name}: Sources has no links"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_not_too_long(path: Path):
    count = len(load(path)["cells"])
    assert count <= MAX_CELLS, f"{path.name}: {count} cells; keep a notebook to {MAX_CELLS}"


# --- Verdicts that cannot lie (issue 22) -------------------------------------------------------

CHECK_CALL = re.compile(r"helpers\.checks\.(nb\d{2})\.(exercise_\w+)\(")
CHECK_LINE = re.compile(r"^(✅|⏳|❌) Exercise ", re.MULTILINE)
# What a committed solution notebook must never show: a failed or pending verdict, a check that
# could not read its answer, a traceback.
LYING_OUTPUTS = {
    "a failed exercise verdict (❌)": re.compile("❌"),
    "a pending exercise verdict (⏳)": re.compile("⏳"),
    "a check that could not use the answer": re.compile(r"could not use your answer"),
    "a traceback": re.compile(r"Traceback \(most recent call last\)"),
}
RECIPE_HEADING = re.compile(r"^#+ The whole recipe", re.MULTILINE)
RECIPE_FIRST_LINE = "# The whole recipe"
# A try/except whose outcome is recorded either way and asserted later says so on its `try:`
# line, with a reason: `try:  # probe: <which assert checks the outcome>`.
PROBE_MARKER = re.compile(r"#\s*probe:\s*\S.{8,}")


def code_cells(path: Path) -> list[tuple[int, dict]]:
    return [(i, c) for i, c in enumerate(load(path)["cells"]) if c["cell_type"] == "code"]


def parse_cell(text: str) -> ast.Module | None:
    """A code cell as Python (IPython magics and shell lines blanked), or None if it is not."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in text.split("\n")]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_committed_outputs_tell_no_failure(path: Path):
    """Strict nbval proves outputs are the same as committed; this proves they say success."""
    for index, cell in code_cells(path):
        for output in cell["outputs"]:
            assert output["output_type"] != "error", (
                f"{path.name}, cell {index}: a committed traceback ({output.get('ename')}); "
                "a cell that shows an error catches it and asserts it happened"
            )
            text = output_text(output)
            for problem, pattern in LYING_OUTPUTS.items():
                assert not pattern.search(text), (
                    f"{path.name}, cell {index}: the committed output shows {problem}:\n"
                    f"{text[:300]}"
                )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_every_exercise_check_is_called_and_solved(path: Path):
    """Each check of the notebook's module runs once, in its own cell, and printed ✅."""
    module = f"nb{path.name[:2]}"
    defined = sorted(
        set(re.findall(r"^def (exercise_\w+)\(", _checks_source(module), re.MULTILINE))
    )
    called = []
    for index, cell in code_cells(path):
        calls = CHECK_CALL.findall(source(cell))
        if not calls:
            continue
        assert len(calls) == 1, f"{path.name}, cell {index}: one exercise check per cell"
        (called_module, name) = calls[0]
        assert called_module == module, f"{path.name}, cell {index}: calls {called_module}'s check"
        called.append(name)
        verdicts = CHECK_LINE.findall("".join(output_text(o) for o in cell["outputs"]))
        assert verdicts == ["✅"], (
            f"{path.name}, cell {index}: {module}.{name} must print exactly one ✅ verdict in "
            f"the committed outputs, found {verdicts or 'none'}: re-run it on the solution"
        )
    assert sorted(called) == defined and len(called) == len(set(called)), (
        f"{path.name}: checks called {called}, but helpers/checks/{module}.py defines {defined}"
    )


def _checks_source(module: str) -> str:
    path = ROOT / "helpers" / "checks" / f"{module}.py"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def recipe_cells(path: Path) -> list[int]:
    """Indexes of the whole-recipe code cells: the code cell after a 'The whole recipe'
    heading, and any code cell whose first line starts with '# The whole recipe'."""
    cells = load(path)["cells"]
    found = set()
    for index, cell in enumerate(cells):
        text = source(cell)
        if cell["cell_type"] == "markdown" and RECIPE_HEADING.search(text):
            following = [i for i in range(index + 1, len(cells)) if cells[i]["cell_type"] == "code"]
            assert following, f"{path.name}: a 'The whole recipe' heading with no code after it"
            found.add(following[0])
        if cell["cell_type"] == "code" and text.lstrip().startswith(RECIPE_FIRST_LINE):
            found.add(index)
    return sorted(found)


def top_level_bindings(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(child.name)
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                break  # names inside a function body are its own
    return names


def runs_in_own_namespace(tree: ast.Module) -> bool:
    """Only imports, definitions and calls at the top level: nothing the lesson could meet."""
    allowed = ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef
    return all(
        isinstance(node, allowed)
        or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call | ast.Constant))
        for node in tree.body
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_whole_recipe_cannot_disturb_the_lesson(path: Path):
    """A recipe rebinds names (model, x, ...): it comes after the last exercise check, or it
    binds nothing at the top level but imports and functions (then calls them)."""
    checks = [index for index, cell in code_cells(path) if CHECK_CALL.search(source(cell))]
    cells = load(path)["cells"]
    for index in recipe_cells(path):
        if not checks or index > max(checks):
            continue
        tree = parse_cell(source(cells[index]))
        assert tree is not None and runs_in_own_namespace(tree), (
            f"{path.name}, cell {index}: the whole recipe runs before the exercise check in "
            f"cell {max(checks)} and rebinds {sorted(top_level_bindings(tree or ast.Module()))}"
            ": move it after the exercises, or wrap its body in a function it then calls"
        )


def _raises(statements: list[ast.stmt]) -> bool:
    """Whether these statements contain a raise or an assert."""
    return any(
        isinstance(node, ast.Raise | ast.Assert)
        for statement in statements
        for node in ast.walk(statement)
    )


def _bound_names(statements: list[ast.stmt]) -> set[str]:
    return {
        node.id
        for statement in statements
        for node in ast.walk(statement)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    }


def _asserted_names(tree: ast.AST, after_line: int) -> set[str]:
    """Names read by an assert (or an ``assert_*(...)`` call) after ``after_line``."""
    names = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", 0) <= after_line:
            continue
        if isinstance(node, ast.Assert):
            names |= {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
        if isinstance(node, ast.Call) and "assert" in ast.unparse(node.func).rsplit(".", 1)[-1]:
            names |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    return names


BROAD = {"Exception", "BaseException", "AssertionError"}


def _catches_assertion(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(ast.unparse(kind).rsplit(".", 1)[-1] in BROAD for kind in caught)


def _leaves(statements: list[ast.stmt]) -> bool:
    return bool(statements) and isinstance(
        statements[-1], ast.Return | ast.Raise | ast.Continue | ast.Break
    )


def _tolerates(handler: ast.ExceptHandler) -> bool:
    """A handler that only tolerates an error (``pass``, ``return False``, ``cleanup()``): it
    neither shows the error (print, or reading the exception) nor records it in a name."""
    for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
        if isinstance(node, ast.Name) and (
            isinstance(node.ctx, ast.Store) or node.id in (handler.name, "print")
        ):
            return False
    return True


def _following(tree: ast.AST, node: ast.Try) -> ast.stmt | None:
    """The statement right after ``node`` in its block."""
    for parent in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(parent, field, None)
            if isinstance(block, list) and node in block:
                index = block.index(node)
                return block[index + 1] if index + 1 < len(block) else None
    return None


def _suppress_blocks(tree: ast.AST, lines: list[str]) -> list[str]:
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                called = item.context_expr
                name = ast.unparse(called.func) if isinstance(called, ast.Call) else ""
                if name.rsplit(".", 1)[-1] == "suppress" and not PROBE_MARKER.search(
                    lines[node.lineno - 1]
                ):
                    problems.append(f"line {node.lineno}: `with {name}(...)` hides a failure")
    return problems


def _proven(tree: ast.AST, node: ast.Try, checked: set[str]) -> bool:
    """Whether this try/except fails when its expected error does not happen."""
    if _raises(node.orelse) or all(_raises(h.body) for h in node.handlers):
        return True  # `else: raise ...`, or every handler re-raises / translates
    never_catch_assert = not any(_catches_assertion(h) for h in node.handlers)
    if never_catch_assert and node.body and isinstance(node.body[-1], ast.Raise):
        return True  # the try block ends with `raise AssertionError(...)`
    after = _following(tree, node)
    if isinstance(after, ast.Raise | ast.Assert) and all(_leaves(h.body) for h in node.handlers):
        return True  # every handler returns; falling through raises
    flags = _asserted_names(tree, node.end_lineno or node.lineno) | checked
    return all(_bound_names(h.body) & flags for h in node.handlers)


def unproven_failure_demos(text: str, checked: frozenset[str] = frozenset()) -> list[str]:
    """The try/except statements (and ``contextlib.suppress`` blocks) of a cell that show an
    expected error and would pass just as well if nothing failed.

    A ``try`` with ``except`` clauses proves its error happened when its ``else:`` raises or
    asserts, when its try block ends with a ``raise`` its handlers cannot catch, when every
    handler leaves and the next statement raises, when every handler re-raises, or when every
    handler sets a name that an assert later in the cell reads (a flag), or that ``checked``
    holds (the names the next cell's exercise check receives). Not a demonstration, so always
    fine: ``try/finally`` (cleanup) and a handler that only tolerates the error (``pass``,
    ``return False``: it neither prints, nor reads the exception, nor sets a name). A try whose
    outcome is legitimately either way says so on its line: ``try:  # probe: <reason>``.
    """
    tree = parse_cell(text)
    if tree is None:
        return []
    lines = text.split("\n")
    problems = _suppress_blocks(tree, lines)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try) or not node.handlers:
            continue
        if PROBE_MARKER.search(lines[node.lineno - 1]) or _proven(tree, node, set(checked)):
            continue
        if all(_tolerates(handler) for handler in node.handlers):
            continue
        problems.append(f"line {node.lineno}: `{lines[node.lineno - 1].strip()}`")
    return problems


def checked_names(cells: list[tuple[int, dict]], position: int) -> frozenset[str]:
    """The names passed to the exercise check in the code cell after ``cells[position]``."""
    if position + 1 >= len(cells):
        return frozenset()
    text = source(cells[position + 1][1])
    tree = parse_cell(text) if CHECK_CALL.search(text) else None
    if tree is None:
        return frozenset()
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_failure_demonstrations_fail_when_nothing_fails(path: Path):
    cells = code_cells(path)
    found = {
        index: problems
        for position, (index, cell) in enumerate(cells)
        if (problems := unproven_failure_demos(source(cell), checked_names(cells, position)))
    }
    assert not found, (
        f"{path.name}: these blocks pass just as well when nothing fails. Add "
        "`else: raise AssertionError('... did not fail')`, or assert after the block on a flag "
        f"every `except` sets (cell: problems): {found}"
    )


TRY = "try:\n    f()\n"


@pytest.mark.parametrize(
    "cell, unproven",
    [
        (TRY + "except ValueError as e:\n    print(e)\n", True),
        (TRY + "except ValueError as e:\n    print(e)\nelse:\n    raise AssertionError\n", False),
        (TRY + "except ValueError:\n    print(1)\nelse:\n    assert False\n", False),
        (TRY + "finally:\n    cleanup()\n", False),
        (TRY + "except OSError:\n    cleanup()\n    raise\n", False),
        (TRY + "except OSError as e:\n    raise RuntimeError('x') from e\n", False),
        (TRY + "except OSError:\n    pass\n", False),
        (TRY + "except OSError:\n    refused = True\n", True),
        (TRY + "except KeyError as e:\n    seen = str(e)\nassert 'k' in seen\n", False),
        ("seen = ''\n" + TRY + "except KeyError as e:\n    seen = str(e)\nprint(seen)\n", True),
        (TRY + "except KeyError as e:\n    seen = e\nnp.testing.assert_equal(seen, 1)\n", False),
        (
            "try:  # probe: both outcomes asserted in cell 19\n    f()\nexcept E:\n    x = 1\n",
            False,
        ),
        ("try:\n    f()\n    raise AssertionError\nexcept ValueError as e:\n    print(e)\n", False),
        ("try:\n    f()\n    raise AssertionError\nexcept Exception as e:\n    print(e)\n", True),
        (
            "def g():\n    try:\n        f()\n    except E as e:\n        return e\n    raise A\n",
            False,
        ),
        ("def g():\n    try:\n        f()\n    except E as e:\n        return print(e)\n", True),
        ("with contextlib.suppress(KeyError):\n    f()\n", True),
        ("with pytest.raises(KeyError):\n    f()\n", False),
        ("%time f()\n" + TRY + "except E as e:\n    print(e)\n", True),
    ],
)
def test_failure_demonstration_rule(cell: str, unproven: bool):
    """The rule above, on patterns it must catch and patterns it must let through."""
    assert bool(unproven_failure_demos(cell)) is unproven


def test_failure_demonstration_rule_accepts_a_flag_the_next_check_reads():
    cell = TRY + "except KeyError as error:\n    caught = error\n"
    assert unproven_failure_demos(cell)
    assert not unproven_failure_demos(cell, frozenset({"caught"}))
