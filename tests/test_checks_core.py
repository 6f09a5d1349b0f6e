from __future__ import annotations

import contextlib

import pytest

from helpers.checks.core import Hint, exercise, expect, forbidden, require


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


def test_typed_in_tells_a_literal_from_a_computed_value():
    from helpers.checks.core import typed_in

    assert typed_in("x = None  # your answer\nx = 3\n", "x")
    assert typed_in('x = {"savedmodel"}\n', "x")
    assert typed_in("a, x = None, None\na, x = 1, (2, 3)\n", "x")
    assert not typed_in("x = None\n", "x")  # only the placeholder: not answered, not typed in
    assert not typed_in("x = len(history)\n", "x")
    assert not typed_in("x = set()\nx.add('keras')\n", "x")
    assert not typed_in("x = 0\nfor x in range(3):\n    pass\n", "x")
    assert not typed_in("y = 3\n", "x") and not typed_in("x = (\n", "x")


def test_habit_reads_code_not_comments():
    from helpers.checks.core import Hint, habit

    cell = "x = 3  # I could call helpers.training.train here\n"
    habit(cell, forbidden={r"helpers\.training": "no"})  # only a comment names it
    with pytest.raises(Hint, match="typed"):
        habit(cell, computed={"x": "typed"})
    with pytest.raises(Hint, match="read history"):
        habit(cell, required={r"\bhistory\b": "read history"})
    with pytest.raises(Hint, match="off limits"):
        habit("x = helpers.training.train()\n", forbidden={r"helpers\.training": "off limits"})
    habit(None, computed={"x": "never checked without a source"})


def test_answer_source_finds_the_latest_cell_that_assigns_the_answer(monkeypatch):
    from helpers.checks import core

    cells = ["x = None  # your answer\nx = 1\n", "y = 2\n", "x = compute()\n", "print(y)\n"]
    monkeypatch.setattr(core, "_CELLS", [*cells, "check(x)\n"])
    assert core.answer_source("x") == "x = compute()\n"
    assert core.answer_source("y", "z") == "y = 2\n"
    assert core.answer_source("nothing") is None
    assert core.record_answers() is False  # outside IPython nothing is recorded


def test_habit_reads_the_recorded_answer_cell_unless_given_one(monkeypatch):
    from helpers.checks import core

    monkeypatch.setattr(core, "_CELLS", ["x = 3\n", "y = x + 1\n", "check(x)\n"])
    with pytest.raises(core.Hint, match="typed"):
        core.habit(None, "x", computed={"x": "typed"})  # the recorded cell that sets x
    core.habit("x = compute()\n", "x", computed={"x": "typed"})  # a source given wins
    core.habit(None, "z", computed={"z": "never checked: no cell sets z"})
    assert core.source_of(None, "y") == "y = x + 1\n" and core.source_of(None) is None


def test_record_answers_registers_one_hook_in_ipython(monkeypatch):
    from helpers.checks import core

    class Events:
        def __init__(self):
            self.callbacks = {"pre_run_cell": []}

        def register(self, event, function):
            self.callbacks[event].append(function)

    class Info:
        raw_cell = "x = 1\n"

    shell = type("Shell", (), {"events": Events()})()
    monkeypatch.setattr(core, "_shell", lambda: shell)
    monkeypatch.setattr(core, "_CELLS", [])
    assert core.record_answers() and core.record_answers()
    assert shell.events.callbacks["pre_run_cell"] == [core._record]
    core._record(Info())
    assert core._CELLS == ["x = 1\n"]


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("same = digest(m.get_weights()) == digest(m.get_weights())\n", True),
        ("np.testing.assert_array_equal(a.predict(x), a.predict(x))\n", True),
        ("ok = np.array_equal(p, p)\n", True),
        ("same = digest(m.get_weights()) == results[0]['weights_sha256']\n", False),
        ("np.testing.assert_array_equal(a.predict(x), b.predict(x))\n", False),
        ("x = (\n", False),
    ],
)
def test_a_comparison_of_a_value_with_itself_is_found_and_refused(source, found):
    from helpers.checks.core import Hint, habit, self_comparison

    assert (self_comparison(source) is not None) is found
    if found:
        with pytest.raises(Hint, match="compares a value with itself"):
            habit(source)
    else:
        habit(source)


def test_forbidden_refuses_a_helper_even_when_the_learner_catches_the_hint():
    import helpers.integrity

    def sneaky() -> None:
        with contextlib.suppress(Hint):  # the learner swallows the refusal
            helpers.integrity.sha256_file("x")

    refused = pytest.raises(Hint, match=r"`helpers.integrity.sha256_file` is off limits here")
    with refused, forbidden("helpers.integrity.sha256_file"):
        sneaky()


def test_forbidden_refuses_the_notebooks_own_function_by_its_global_name():
    def shortcut() -> int:
        return 1

    namespace = {"shortcut": shortcut}
    exec("def answer():\n    return shortcut()\n", namespace)
    answer = namespace["answer"]
    refused = pytest.raises(Hint, match=r"`shortcut` \(section 1's\) is off limits here: do it")
    with (
        refused,
        forbidden(function=answer, own=(shortcut,), own_where="section 1's", advice="do it."),
    ):
        answer()
    assert namespace["shortcut"] is shortcut  # put back on the way out
