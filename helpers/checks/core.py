"""What every exercise check shares: a friendly verdict on stdout, never a traceback.

A check is a function decorated with :func:`exercise`. It receives the learner's answer(s) and
either returns a short success message, or raises :class:`NotAttempted` (the placeholder is
still there) or :class:`Hint` (an answer, but not the right one: say what to look at). The
decorator prints one verdict line and returns a :class:`Verdict`, true only when solved, so a
student edition runs from top to bottom without an error, stopping at "not solved yet"
messages.

Conventions in the notebooks (``tools/student_edition.py`` relies on them)::

    latest_folder = None  # your answer: the folder latest_version returns
    # BEGIN SOLUTION
    latest_folder = helpers.paths.latest_version(versions)
    # END SOLUTION

    helpers.checks.nb01.exercise_1(latest_folder)   # the next cell

The student edition replaces the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` with
``# YOUR CODE HERE`` and drops markdown cells tagged ``solution``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

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
