from __future__ import annotations

import pytest

from helpers.checks.core import Hint, exercise, expect, require


@exercise("00.1", "double it")
def double_check(answer, given=21):
    require(answer, "answer", "twice `given`")
    expect(isinstance(answer, int), "The answer should be a whole number.")
    expect(answer == 2 * given, f"Multiply `given` ({given}) by two.")
    return "Twice 21 is 42."


def test_solved(capsys):
    assert double_check(42).solved is True
    assert capsys.readouterr().out == "✅ Exercise 00.1 (double it) solved. Twice 21 is 42.\n"


def test_placeholder_is_not_solved_yet_without_a_traceback(capsys):
    assert double_check(None).solved is False
    assert double_check(...).solved is False
    out = capsys.readouterr().out.splitlines()
    assert (
        out
        == [
            "⏳ Exercise 00.1 (double it) is not solved yet: set `answer` to twice `given`, "
            "then run this cell again."
        ]
        * 2
    )


def test_wrong_answers_get_specific_hints(capsys):
    assert double_check(41).solved is False
    assert double_check("42").solved is False
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("not quite. Multiply `given` (21) by two.")
    assert out[1].endswith("not quite. The answer should be a whole number.")


def test_unexpected_answers_are_reported_not_raised(capsys):
    @exercise("00.2", "length")
    def length_check(answer):
        return f"{len(answer)} items."

    verdict = length_check(3)
    assert verdict.solved is False and isinstance(verdict.error, TypeError)
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 00.2 (length): the check could not use your answer ")
    assert "(TypeError: object of type 'int' has no len())" in out  # a bug stays visible
    assert "Compare your answer with what the task asks for" in out
    assert length_check.number == "00.2" and issubclass(Hint, Exception)


@pytest.mark.parametrize(
    "error", [AssertionError("x"), KeyError("k"), RuntimeError("r"), ZeroDivisionError("z")]
)
def test_any_exception_in_a_check_is_a_verdict_not_a_traceback(capsys, error):
    @exercise("00.3", "raises")
    def raising_check(answer):
        raise error

    verdict = raising_check(1)
    assert verdict.solved is False and verdict.error is error
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and f"({type(error).__name__}: {error})" in out


def test_hints_and_placeholders_carry_no_error():
    assert double_check(41).error is None and double_check(None).error is None
    assert double_check(42).error is None


def test_verdict_is_truthy_when_solved_and_displays_nothing():
    from helpers.checks.core import Verdict

    assert Verdict(True) and not Verdict(False)
    assert repr(Verdict(False)) == "Verdict(solved=False)"
    assert Verdict(True)._ipython_display_() is None  # IPython then shows no "Out[n]"
