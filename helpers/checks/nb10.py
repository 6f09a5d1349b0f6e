"""Checks for notebook 10's exercises: a fixed-batch ``.tflite``; ship a measured model.

Both checks call the learner's functions on files other than the one the task names, so an
answer typed in fails, and they run those functions with the kit's LiteRT helpers replaced by
traps, so an answer that leans on the helpers the task puts off limits fails too.

Serves notebook 10.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from helpers.checks.core import exercise, expect, require

TOLERANCE = 1e-5  # float32 .tflite against Keras, as in the notebook
FIXED_BATCH = 8
# Exercise 2's rule: the same class as Keras for every test digit, probabilities within 0.01.
MIN_AGREEMENT, MAX_DEVIATION = 1.0, 0.01
REPORT_KEYS = ("size_bytes", "agreement", "max_deviation")
# The kit's own LiteRT plumbing; the exercises ask for the calls themselves.
OFF_LIMITS = (
    ("helpers.tflite", "interpreter"),
    ("helpers.loading", "load_tflite"),
    ("helpers.deploy", "run_litert"),
    ("helpers.checks.nb10", "measure"),
)


class _OffLimitsError(Exception):
    """Raised by a trapped helper: the answer called something the task rules out."""


@contextlib.contextmanager
def _trapped_helpers() -> Iterator[list[str]]:
    """Replace the off-limits helpers with traps; yield the names of those that were called."""
    import importlib

    used: list[str] = []

    def trap(name: str) -> Callable[..., Any]:
        def called(*args: Any, **kwargs: Any) -> Any:
            used.append(name)
            raise _OffLimitsError(name)

        return called

    with contextlib.ExitStack() as stack:
        for module, attribute in OFF_LIMITS:
            target = importlib.import_module(module)
            stack.enter_context(mock.patch.object(target, attribute, trap(f"{module}.{attribute}")))
        yield used


def _call_answer(function: Callable[..., Any], name: str, *args: Any) -> Any:
    """Call a learner's function with the traps set; turn what goes wrong into a hint."""
    with _trapped_helpers() as used:
        try:
            result = function(*args)
        except _OffLimitsError:
            result = None
        except Exception as error:  # the learner's code failed: say where, not a traceback
            expect(
                False,
                f"`{name}` raised {type(error).__name__} ({error}) when the check called it "
                f"on {Path(args[0]).name}. It should take any file's path and read the answer "
                "from that file, not look it up in a table from an earlier cell.",
            )
    expect(
        not used,
        f"`{name}` calls {', '.join(used)}, which the task puts off limits: make the LiteRT "
        "calls (`Interpreter(model_path=...)`, `get_input_details()`, ...) yourself.",
    )
    return result


def _open(path: Path) -> Any:
    """A LiteRT interpreter on the built-in kernels, tensors allocated (the check's own)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from helpers.tflite import require_tflite

    runner = Interpreter(
        model_path=str(require_tflite(path)),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    runner.allocate_tensors()
    return runner


def _as_list(value: Any) -> Any:
    """A shape given as a list, tuple or array, as a list of ints (anything else unchanged)."""
    if isinstance(value, list | tuple | np.ndarray):
        with contextlib.suppress(TypeError, ValueError):  # probe: not a shape stays as it is
            return [int(v) for v in np.asarray(value).ravel()]
    return value


def _number(value: Any, name: str) -> float:
    """``value`` as a finite float, or a hint that it is not a measured number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    expect(math.isfinite(number), f"`{name}` should be a number you measured, not {value!r}.")
    return number


@exercise("10.1", "a fixed batch for a device")
def exercise_1(
    fixed_path: str | os.PathLike[str] | None,
    read_signature: Callable[[Any], Any] | None,
    fixed_difference: Any,
    model: Any,
    inputs: np.ndarray,
    section_2_path: str | os.PathLike[str],
) -> str:
    """A batch-8 ``.tflite`` that matches Keras, a function that reads a file's input
    ``shape_signature``, and the file's measured difference from Keras on 8 digits."""
    path = Path(require(fixed_path, "fixed_path", "the .tflite file"))
    require(read_signature, "read_signature", "a function that reads a file's shape_signature")
    require(fixed_difference, "fixed_difference", "the difference you measured")
    section_2 = Path(section_2_path)
    expect(
        not (path.exists() and path.resolve() == section_2.resolve()),
        f"`fixed_path` is section 2's file ({section_2.name}), exported without an input "
        "signature: export a new file with `input_signature=[...]` and a batch of 8.",
    )
    try:
        interpreter = _open(path)
    except Exception as error:  # a missing, damaged or foreign file: say so, not a traceback
        expect(False, f"LiteRT cannot use `fixed_path` ({type(error).__name__}: {error}).")
    (input_detail,) = interpreter.get_input_details()
    (output_detail,) = interpreter.get_output_details()
    signature = input_detail["shape_signature"].tolist()
    expect(
        -1 not in signature,
        f"The file's shape_signature is {signature}: the batch is still free (-1). Pass "
        "`input_signature=[...]` with a batch of 8 to `model.export`.",
    )
    expect(
        signature == [FIXED_BATCH, 64],
        f"The file's shape_signature is {signature}; the device wants [{FIXED_BATCH}, 64].",
    )

    expect(
        callable(read_signature),
        f"`read_signature` is {read_signature!r}, a value typed in: write a function that "
        "opens the file at its `path` argument and returns what the file says. The check calls "
        "it on other files too.",
    )
    for file, truth in ((path, signature), (section_2, [-1, 64])):
        answer = _as_list(_call_answer(read_signature, "read_signature", file))
        expect(
            answer != [1, 64] or truth == [1, 64],
            f"`read_signature` returns [1, 64] for {file.name}: that is `shape`, the batch the "
            "tensors are allocated for now; the task asks for `shape_signature`.",
        )
        expect(
            answer == truth,
            f"`read_signature` returns {answer!r} for {file.name}, whose shape_signature is "
            f"{truth}: read it from the file at `path` (a value typed in is right for one file "
            "only).",
        )

    batch = np.asarray(inputs[:FIXED_BATCH], dtype=np.float32)
    interpreter.set_tensor(input_detail["index"], batch)  # no resize: the shape is fixed
    interpreter.invoke()
    outputs = interpreter.get_tensor(output_detail["index"])
    # Keras on a batch of 8 or on all the inputs: both are right, and may differ in the last bit.
    differences = [
        float(np.abs(outputs - model.predict(batch, verbose=0)).max()),
        float(np.abs(outputs - model.predict(inputs, verbose=0)[:FIXED_BATCH]).max()),
    ]
    expect(
        max(differences) <= TOLERANCE,
        f"On 8 test digits your file differs from Keras by up to {max(differences):.1e} (more "
        f"than {TOLERANCE:.0e}): did you export this notebook's `model`, unquantized?",
    )
    reported = _number(fixed_difference, "fixed_difference")
    expect(
        reported != 0 or max(differences) == 0,
        "`fixed_difference` is 0.0, but LiteRT's outputs differ from Keras's by up to "
        f"{max(differences):.1e}: a difference of exactly 0 is what comparing a value with "
        "itself gives. Compare the file's outputs with Keras's predictions.",
    )
    expect(
        min(differences) / 2 <= reported <= 2 * max(differences),
        f"`fixed_difference` is {reported:.1e}; the check measured {max(differences):.1e}. Run "
        "your file on the first 8 test digits and take the largest |LiteRT - Keras|.",
    )
    return (
        f"{path.name}: shape_signature {signature}, read back by your function (and [-1, 64] "
        f"for {section_2.name}); runs 8 digits as allocated, {reported:.0e} from Keras."
    )


def measure(path: str | os.PathLike[str], model: Any, digits: Any) -> dict[str, float]:
    """Size, class agreement with Keras and max probability deviation from Keras."""
    from helpers.deploy import run_litert

    expected = model.predict(digits.x_test, verbose=0)
    outputs = run_litert(path, digits.x_test)
    return {
        "size_bytes": Path(path).stat().st_size,
        "agreement": float(np.mean(outputs.argmax(axis=1) == expected.argmax(axis=1))),
        "max_deviation": float(np.abs(outputs - expected).max()),
    }


def meets_rule(row: Mapping[str, float]) -> bool:
    """Exercise 2's rule: the same class for every digit, probabilities within 0.01."""
    return row["agreement"] >= MIN_AGREEMENT and row["max_deviation"] <= MAX_DEVIATION


def _rule_choice(rows: Mapping[str, Mapping[str, float]]) -> str | None:
    """The smallest variant that meets the rule, or None."""
    good = [name for name, row in rows.items() if meets_rule(row)]
    return min(good, key=lambda name: rows[name]["size_bytes"]) if good else None


def _scenarios(rows: dict[str, dict[str, float]]) -> list[tuple[str, dict[str, dict[str, float]]]]:
    """Made-up tables where a different variant is right: each part of the rule must count."""
    by_size = sorted(rows, key=lambda name: rows[name]["size_bytes"])
    smallest, largest = by_size[0], by_size[-1]
    perfect = {"agreement": 1.0, "max_deviation": 0.001}
    scenarios = []
    made_up = {name: dict(row) for name, row in rows.items()}
    made_up[smallest] |= perfect
    scenarios.append((f"{smallest} meets the rule", made_up))
    breaks = (("agreement", {"agreement": 0.99}), ("deviation", {"max_deviation": 0.02}))
    for part, broken in breaks:
        made_up = {name: dict(row) | broken for name, row in rows.items()}
        made_up[largest] |= perfect
        scenarios.append((f"only {largest} meets the rule ({part} breaks it elsewhere)", made_up))
    return scenarios


@exercise("10.2", "ship the smallest model that is good enough")
def exercise_2(
    measure_variant: Callable[[Any], Mapping[str, Any]] | None,
    choose: Callable[[Mapping[str, Mapping[str, float]]], str] | None,
    shipped: str | os.PathLike[str] | None,
    variant_paths: Mapping[str, str | os.PathLike[str]],
    model: Any,
    digits: Any,
    section_2_path: str | os.PathLike[str],
) -> str:
    """The learner's measurement matches the check's on every file (and on section 2's file,
    which is no variant), the learner's choice follows the rule on the real table and on
    made-up ones, and ``shipped`` is that choice's file."""
    require(measure_variant, "measure_variant", "a function that measures one .tflite file")
    require(choose, "choose", "a function that applies the rule to a table of measurements")
    shipped_path = Path(require(shipped, "shipped", "a path from `variant_paths`"))
    for name, value in (("measure_variant", measure_variant), ("choose", choose)):
        expect(
            callable(value),
            f"`{name}` is {value!r}, a value typed in: write a function; the check calls it on "
            "other inputs too.",
        )
    truth = {name: measure(path, model, digits) for name, path in variant_paths.items()}
    files = {**variant_paths, "section 2's file": section_2_path}
    truth_and_extra = {**truth, "section 2's file": measure(section_2_path, model, digits)}

    answers = {}
    for name, path in files.items():
        row = _call_answer(measure_variant, "measure_variant", path)
        expect(
            isinstance(row, Mapping) and all(key in row for key in REPORT_KEYS),
            f"`measure_variant({Path(path).name!r})` returned {row!r}; it should return a dict "
            f"with the keys {list(REPORT_KEYS)}.",
        )
        answers[name] = {key: _number(row[key], f"{key} for {name}") for key in REPORT_KEYS}
    for name, row in answers.items():
        real = truth_and_extra[name]
        expect(
            row["max_deviation"] != 0 or real["max_deviation"] == 0,
            f"Your max_deviation for {name} is 0.0, but the file's outputs differ from Keras's "
            f"by up to {real['max_deviation']:.1e}: 0 is what comparing the outputs with "
            "themselves gives. Compare them with Keras's predictions (`expected`).",
        )

    def outcomes(rows: Mapping[str, Mapping[str, float]]) -> set[tuple[float, float]]:
        return {(rows[name]["agreement"], rows[name]["max_deviation"]) for name in variant_paths}

    expect(
        len(outcomes(answers)) > 1 or len(outcomes(truth)) == 1,
        "`measure_variant` gives the same agreement and deviation for every file: it does "
        "not measure the file at its `path` argument (numbers typed in, or an interpreter or "
        "outputs made in an earlier cell?).",
    )
    for name, row in answers.items():
        real = truth_and_extra[name]
        expect(
            row["size_bytes"] == real["size_bytes"],
            f"Your size for {name} is {row['size_bytes']:.0f} B; the file has "
            f"{real['size_bytes']:,} B. Read it from the file (`Path(path).stat().st_size`).",
        )
        expect(
            abs(row["agreement"] - real["agreement"]) < 0.5 / len(digits.x_test),
            f"Your agreement for {name} is {row['agreement']!r}; measured, it is "
            f"{real['agreement']!r}: the share of test digits where the file's class is Keras's.",
        )
        expect(
            abs(row["max_deviation"] - real["max_deviation"])
            <= 1e-6 + 0.01 * real["max_deviation"],
            f"Your max_deviation for {name} is {row['max_deviation']!r}; measured, it is "
            f"{real['max_deviation']!r}: the largest |probability - Keras's| over the test set.",
        )

    for situation, table in [("the measured table", truth), *_scenarios(truth)]:
        right = _rule_choice(table)
        try:
            picked = choose({name: dict(row) for name, row in table.items()})
        except Exception as error:  # the learner's code failed: say where, not a traceback
            expect(
                False,
                f"`choose` raised {type(error).__name__} ({error}) on {situation}. It should "
                "take a dict of variant name -> measurements and return a variant name.",
            )
        expect(
            picked == right,
            f"On {situation}, `choose` picked {picked!r}, but the rule picks {right!r}: the "
            f"smallest file with the same class as Keras for every digit AND a deviation of "
            f"at most {MAX_DEVIATION}. Check both parts, then take the smallest.",
        )
    chosen = _rule_choice(truth)
    names = {Path(path).resolve(): name for name, path in variant_paths.items()}
    expect(
        shipped_path.resolve() in names,
        f"`shipped` should be one of the files in `variant_paths`, not {shipped_path.name}.",
    )
    expect(
        names[shipped_path.resolve()] == chosen,
        f"`shipped` is the {names[shipped_path.resolve()]} file, but your `choose` picks "
        f"{chosen}: ship `variant_paths[choose(...)]`.",
    )
    row = truth[chosen]
    return (
        f"{chosen}: {row['size_bytes']:,} bytes, same class as Keras for every digit, max "
        f"deviation {row['max_deviation']:.1e}, as your `measure_variant` measured; your "
        f"`choose` also picked right on {len(_scenarios(truth))} made-up tables."
    )
