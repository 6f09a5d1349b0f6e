"""What every exercise check shares: a friendly verdict on stdout, never a traceback.

A check is a function decorated with :func:`exercise`. It receives the learner's answer(s) and
either returns a short success message, or raises :class:`NotAttempted` (the placeholder is
still there) or :class:`Hint` (an answer, but not the right one: say what to look at). The
decorator prints one verdict line and returns a :class:`Verdict`, true only when solved, so a
student edition runs from top to bottom without an error, stopping at "not solved yet"
messages.

Conventions in the notebooks (``tools/student_edition.py`` relies on them)::

    latest_folder = None  # your answer: the folder latest_complete_savedmodel returns
    # BEGIN SOLUTION
    latest_folder = helpers.artifacts.latest_complete_savedmodel(versions)
    # END SOLUTION

    helpers.checks.nb01.exercise_1(latest_folder)   # the next cell

The student edition replaces the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` with
``# YOUR CODE HERE`` and drops markdown cells tagged ``solution``.

Serves every notebook's exercises.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import itertools
import re
import tokenize
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from unittest import mock

SOLVED, NOT_YET, TRY_AGAIN = "✅", "⏳", "❌"
#: The teaching sentence after an exception the check did not expect.
UNUSABLE = (
    "Compare your answer with what the task asks for (its kind: a path, a number, a model, a "
    "set), and make sure the cells above it ran in order."
)


class Verdict:
    """A check's result: true when solved. Shows nothing in a notebook: the line the check
    printed says it all (a bare ``True`` under it would only be noise)."""

    __slots__ = ("error", "solved")

    def __init__(self, solved: bool, error: Exception | None = None) -> None:
        self.solved = solved
        #: The exception that stopped the check, when it was neither a hint nor a placeholder:
        #: tests assert it is None, so a bug in a check cannot pass for a rejected answer.
        self.error = error

    def __bool__(self) -> bool:
        return self.solved

    def __repr__(self) -> str:
        return f"Verdict(solved={self.solved})"

    def _ipython_display_(self) -> None:
        """Display nothing as a cell's result."""


class NotAttempted(Exception):
    """The answer is still the placeholder (``None`` or ``...``)."""


class Hint(Exception):
    """The answer is wrong; the message says what to look at (never the full solution)."""


def require(value: Any, name: str, what: str = "") -> Any:
    """Raise :class:`NotAttempted` while ``value`` is still a placeholder; else return it."""
    if value is None or value is Ellipsis:
        raise NotAttempted(f"set `{name}`" + (f" to {what}" if what else ""))
    return value


def expect(condition: bool, hint: str) -> None:
    """Raise :class:`Hint` with ``hint`` unless ``condition`` holds."""
    if not condition:
        raise Hint(hint)


@contextlib.contextmanager
def forbidden(
    *targets: str,
    function: Callable[..., Any] | None = None,
    own: tuple[Any, ...] = (),
    own_where: str = "the notebook's",
    advice: str = "write it out yourself.",
) -> Iterator[None]:
    """While inside, each ``helpers`` function named in ``targets`` raises a :class:`Hint`, and
    so does each of the notebook's own functions in ``own`` that ``function`` reaches by a
    global name; on the way out, fail if one was called (even when the learner caught the Hint).
    """
    namespace = getattr(function, "__globals__", {})
    names = [name for name, value in namespace.items() if any(value is f for f in own)]
    shown = {target: f"`{target}`" for target in targets}
    shown.update({f"__globals__.{name}": f"`{name}` ({own_where})" for name in names})
    with contextlib.ExitStack() as stack:
        spies = {}
        for target, label in shown.items():
            stub = mock.Mock(side_effect=Hint(f"{label} is off limits here: {advice}"))
            if target.startswith("__globals__."):
                name = target.removeprefix("__globals__.")
                stack.enter_context(mock.patch.dict(namespace, {name: stub}))
            else:
                stack.enter_context(mock.patch(target, stub))
            spies[label] = stub
        yield
    called = [label for label, spy in spies.items() if spy.called]
    expect(not called, f"{', '.join(called)} is off limits here: {advice}")


def exercise(number: str, title: str) -> Callable[[Callable[..., str]], Callable[..., Verdict]]:
    """Turn a check into one that prints a verdict and returns whether it passed."""

    def decorate(check: Callable[..., str]) -> Callable[..., Verdict]:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> Verdict:
            name = f"Exercise {number} ({title})"
            try:
                message = check(*args, **kwargs)
            except NotAttempted as pending:
                print(f"{NOT_YET} {name} is not solved yet: {pending}, then run this cell again.")
                return Verdict(False)
            except Hint as hint:
                print(f"{TRY_AGAIN} {name}: not quite. {hint}")
                return Verdict(False)
            except Exception as error:  # an answer of an unexpected kind, or a bug in the check
                print(
                    f"{TRY_AGAIN} {name}: the check could not use your answer "
                    f"({type(error).__name__}: {error}). {UNUSABLE}"
                )
                return Verdict(False, error)
            print(f"{SOLVED} {name} solved. {message}")
            return Verdict(True)

        run.number, run.title = number, title  # for tests and the instructor guide
        return run

    return decorate


# --- How an answer was computed ---------------------------------------------------------------
# A check sees values, and a value typed in looks like one computed. So the kit's notebooks call
# record_answers() in their setup cell: from then on every cell's source is kept, and a check
# can read the cell that produced its answer (answer_source) and ask whether it took the steps
# the exercise teaches (habit). Outside IPython nothing is recorded and these checks are skipped;
# unit tests pass the source themselves.

_CELLS: list[str] = []
_KEEP = 200  # the last cells run: enough for any exercise, bounded for a long session


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to record
        return None
    return get_ipython()


def _record(info: Any) -> None:
    _CELLS.append(info.raw_cell)
    del _CELLS[:-_KEEP]


def record_answers() -> bool:
    """Keep the source of every cell this IPython kernel runs from now on (idempotent); return
    whether recording is on (False outside IPython)."""
    shell = _shell()
    if shell is None:
        return False
    if _record not in shell.events.callbacks["pre_run_cell"]:
        shell.events.register("pre_run_cell", _record)
    return True


def _assigns(text: str, name: str) -> bool:
    """Whether a line of ``text`` assigns ``name`` (alone or in a tuple of names)."""
    pattern = rf"(?m)^[ \t]*(?:[\w \t,]*,[ \t]*)?{re.escape(name)}[ \t]*(?:,[\w \t,]*)?=(?!=)"
    return bool(re.search(pattern, text))


def answer_source(*names: str) -> str | None:
    """The latest recorded cell, before the check's own, that assigns one of ``names``; None
    when nothing was recorded (outside the kit's notebooks)."""
    for text in reversed(_CELLS[:-1]):  # the last one is the check cell that is running
        if any(_assigns(text, name) for name in names):
            return text
    return None


def without_comments(source: str) -> str:
    """``source`` without its comments (a comment may name a helper it does not call)."""
    lines = source.split("\n")
    try:
        comments = [
            token.start
            for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT
        ]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return re.sub(r"#[^\n]*", "", source)
    for row, column in comments:
        lines[row - 1] = lines[row - 1][:column]
    return "\n".join(lines)


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _targets(node: ast.Assign | ast.AnnAssign, name: str) -> list[ast.AST]:
    """The values ``node`` assigns to ``name`` (``x = v`` or ``a, x = u, v``)."""
    if node.value is None:
        return []
    values = []
    for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
        if isinstance(target, ast.Name) and target.id == name:
            values.append(node.value)
        elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
            values += [
                value
                for element, value in zip(target.elts, node.value.elts, strict=False)
                if isinstance(element, ast.Name) and element.id == name
            ]
    return values


def typed_in(source: str, name: str) -> bool:
    """Whether ``source`` sets ``name`` only by typing a literal at the top level (``x = 3``,
    ``x = {"a"}``), placeholders (``None``, ``...``) aside. A value that depends on what ran
    (set in a ``try``/``if``/loop, built up with ``x.add(...)``, computed by a call) is not."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    values: list[ast.AST] = []
    for statement in tree.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign):
            values += _targets(statement, name)
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
                return False  # set inside a block: it depends on what ran
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == name
            ):
                return False  # x.add(...), x.append(...): built up, not typed in
    real = [v for v in values if not (isinstance(v, ast.Constant) and v.value in (None, ...))]
    return bool(real) and all(_literal(value) for value in real)


SELF_COMPARISON = (
    "`{expression}` compares a value with itself, so it is true whatever the value: compare "
    "with an independent reference (another file, another run, the value reported elsewhere)."
)


def self_comparison(source: str) -> str | None:
    """The first comparison in ``source`` of an expression with itself (``a == a``,
    ``np.array_equal(a, a)``, ``assert_array_equal(a, a)``), as text; None if there is none."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(ast.dump(a) == ast.dump(b) for a, b in itertools.pairwise(sides)):
                return ast.unparse(node)
        if (
            isinstance(node, ast.Call)
            and len(node.args) >= 2
            and re.search(r"(equal|close|same)", ast.unparse(node.func).rsplit(".", 1)[-1])
            and ast.dump(node.args[0]) == ast.dump(node.args[1])
        ):
            return ast.unparse(node)
    return None


def source_of(source: str | None, *names: str) -> str | None:
    """``source`` when a caller (a unit test) gave it; else the recorded answer cell that
    assigns one of ``names`` (:func:`answer_source`), None outside the kit's notebooks."""
    return source if source is not None or not names else answer_source(*names)


def habit(
    source: str | None,
    *names: str,
    computed: Mapping[str, str] | None = None,
    required: Mapping[str, str] | None = None,
    forbidden: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`Hint` when the answer cell skipped the exercise's habit.

    The answer cell is ``source`` if given, else the recorded cell that assigns one of the
    answers' ``names`` (:func:`source_of`). ``computed`` maps an answer's name to the hint when
    it is typed in; ``required`` and ``forbidden`` map a regular expression (matched against
    the code without its comments) to the hint when it is missing, or present (a shortcut the
    task puts off limits). A comparison of a value with itself is always refused. With no
    source (outside the kit's notebooks) there is nothing to read, and nothing is checked.
    """
    source = source_of(source, *names)
    if source is None:
        return
    code = without_comments(source)
    itself = self_comparison(code)
    expect(itself is None, SELF_COMPARISON.format(expression=itself))
    for pattern, hint in (forbidden or {}).items():
        expect(not re.search(pattern, code), hint)
    for name, hint in (computed or {}).items():
        expect(not typed_in(code, name), hint)
    for pattern, hint in (required or {}).items():
        expect(bool(re.search(pattern, code)), hint)
