from __future__ import annotations

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

    assert length_check(3).solved is False
    assert "could not use your answer (TypeError" in capsys.readouterr().out
    assert length_check.number == "00.2" and issubclass(Hint, Exception)


def test_verdict_is_truthy_when_solved_and_displays_nothing():
    from helpers.checks.core import Verdict

    assert Verdict(True) and not Verdict(False)
    assert repr(Verdict(False)) == "Verdict(solved=False)"
    assert Verdict(True)._ipython_display_() is None  # IPython then shows no "Out[n]"
