"""Notebook 10's exercise checks, on a briefly trained digits MLP and its LiteRT variants.

For each exercise: the model solution and an alternative pass; a value typed in, a skipped
step, an off-limits helper, an object from an earlier cell and a comparison of a value with
itself each fail, with a message that names the habit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from nbsource import assert_same_code

import helpers.checks.nb10
import helpers.loading
import helpers.tflite
from helpers import deploy
from helpers.checks import nb10

# A stand-in for the run_litert the notebook defines in its own cell (the first test proves the
# two are the same code): taken before any check replaces helpers.deploy.run_litert with a trap.
NOTEBOOK_RUN_LITERT = deploy.run_litert


def test_run_litert_is_the_notebook_s_code():
    assert_same_code("10", deploy.run_litert)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """A trained MLP, the test digits, a free-batch and a batch-8 file, four quantized files."""
    import keras
    import tensorflow as tf

    from helpers.kit.data import load_digits
    from helpers.kit.models import digits_mlp
    from helpers.tflite import capture_native_stderr

    folder = tmp_path_factory.mktemp("nb10")
    digits = load_digits()
    keras.utils.set_random_seed(0)
    model = digits_mlp()
    model.fit(digits.x_train, digits.y_train, epochs=10, batch_size=32, verbose=0)
    free = folder / "free.tflite"
    model.export(free, format="litert", verbose=False)
    fixed = folder / "fixed8.tflite"
    spec = keras.InputSpec(shape=(8, 64), dtype="float32", name="pixels")
    model.export(fixed, format="litert", verbose=False, input_signature=[spec])
    model.export(folder / "export", verbose=False)
    variants = {}
    for variant in ("float32", "dynamic range", "float16", "int8"):
        converter = tf.lite.TFLiteConverter.from_saved_model(str(folder / "export"))
        if variant != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if variant == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if variant == "int8":
            converter.representative_dataset = lambda: ([r[None]] for r in digits.x_train[:200])
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.int8
        variants[variant] = folder / f"{variant.replace(' ', '_')}.tflite"
        with capture_native_stderr():
            variants[variant].write_bytes(converter.convert())
    expected = model.predict(digits.x_test, verbose=0)
    return {
        "model": model,
        "digits": digits,
        "expected": expected,
        "free": free,
        "fixed": fixed,
        "variants": variants,
    }


def test_run_litert_runs_any_batch_of_float_and_int8_files(setting):
    expected = setting["expected"]
    for size in (1, 7, len(expected)):
        outputs = deploy.run_litert(setting["free"], setting["digits"].x_test[:size])
        np.testing.assert_allclose(outputs, expected[:size], atol=1e-5)
    int8 = deploy.run_litert(setting["variants"]["int8"], setting["digits"].x_test)
    assert int8.dtype == np.float32 and 1e-5 < np.abs(int8 - expected).max() < 0.1


# --- Exercise 1 ---------------------------------------------------------------------------------


def _interpreter(path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    return Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )


def read_signature(path):
    """The model solution's reader."""
    return _interpreter(path).get_input_details()[0]["shape_signature"].tolist()


def _difference(setting, path, keras_outputs=None):
    """max |LiteRT - Keras| of ``path`` on the first 8 test digits, run as allocated."""
    runner = _interpreter(path)
    runner.allocate_tensors()
    (detail,) = runner.get_input_details()
    batch = setting["digits"].x_test[:8]
    runner.set_tensor(detail["index"], batch)
    runner.invoke()
    outputs = runner.get_tensor(runner.get_output_details()[0]["index"])
    if keras_outputs is None:
        keras_outputs = setting["expected"][:8]
    return float(np.abs(outputs - keras_outputs).max())


def _exercise_1(setting, path, reader, difference):
    args = (setting["model"], setting["digits"].x_test, setting["free"])
    return nb10.exercise_1(path, reader, difference, *args)


def test_exercise_1_accepts_the_solution_and_an_alternative(setting, capsys):
    fixed = setting["fixed"]
    assert _exercise_1(setting, fixed, read_signature, _difference(setting, fixed)).solved
    assert "✅ Exercise 10.1" in capsys.readouterr().out

    def by_signature_runner(path):  # another reader: the signature runner, an array back
        runner = _interpreter(path).get_signature_runner("serving_default")
        return runner.get_input_details()["pixels"]["shape_signature"]

    batch_of_8 = setting["model"].predict(setting["digits"].x_test[:8], verbose=0)
    difference = _difference(setting, fixed, batch_of_8)  # Keras run on 8 digits, not 360
    assert _exercise_1(setting, str(fixed), by_signature_runner, difference).solved
    assert "✅ Exercise 10.1" in capsys.readouterr().out


def _leaning_on(module, name):
    def reader(path):  # looks the helper up when called, as `helpers.tflite.interpreter(p)` does
        runner = getattr(module, name)(path)
        return runner.get_input_details()[0]["shape_signature"].tolist()

    return reader


@pytest.mark.parametrize(
    ("kind", "hint"),
    [
        ("placeholder", "not solved yet: set `read_signature`"),
        ("typed-in list", "a value typed in"),
        ("typed-in function", "a value typed in is right for one file only"),
        ("shape, not shape_signature", "that is `shape`"),
        ("skipped input_signature", "the batch is still free (-1)"),
        ("off limits: helpers.tflite.interpreter", "calls helpers.tflite.interpreter"),
        ("off limits: helpers.loading.load_tflite", "calls helpers.loading.load_tflite"),
        ("section 2's file", "is section 2's file"),
        ("compared with itself", "comparing a value with itself"),
        ("difference typed in", "the check measured"),
        ("reader raises", "`read_signature` raised ZeroDivisionError"),
    ],
)
def test_exercise_1_rejects(setting, capsys, tmp_path, kind, hint):
    path, reader = setting["fixed"], read_signature
    difference = _difference(setting, path)
    if kind == "placeholder":
        reader = None
    elif kind == "typed-in list":
        reader = [8, 64]
    elif kind == "typed-in function":
        reader = lambda path: [8, 64]  # noqa: E731
    elif kind == "shape, not shape_signature":
        reader = lambda path: _interpreter(path).get_input_details()[0]["shape"].tolist()  # noqa: E731
    elif kind == "skipped input_signature":
        path = tmp_path / "exported_without_signature.tflite"
        shutil.copy(setting["free"], path)
    elif kind.startswith("off limits"):
        module = helpers.tflite if kind.endswith("interpreter") else helpers.loading
        reader = _leaning_on(module, kind.rsplit(".", 1)[-1])
    elif kind == "section 2's file":
        path = setting["free"]
    elif kind == "compared with itself":
        difference = 0.0
    elif kind == "difference typed in":
        difference = 1e-3
    elif kind == "reader raises":
        reader = lambda path: 1 / 0  # noqa: E731
    assert _exercise_1(setting, path, reader, difference).solved is False
    out = capsys.readouterr().out
    assert hint in out, out
    assert "Traceback" not in out and "could not use your answer" not in out


def test_exercise_1_rejects_a_file_that_is_not_the_model(setting, tmp_path, capsys):
    import keras

    from helpers.kit.models import digits_mlp

    keras.utils.set_random_seed(1)
    other = tmp_path / "other8.tflite"
    spec = keras.InputSpec(shape=(8, 64), dtype="float32", name="pixels")
    digits_mlp().export(other, format="litert", verbose=False, input_signature=[spec])
    assert _exercise_1(setting, other, read_signature, 1e-7).solved is False
    assert "differs from Keras" in capsys.readouterr().out
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(setting["fixed"].read_bytes()[:100])
    assert _exercise_1(setting, broken, read_signature, 1e-7).solved is False
    assert "LiteRT cannot use `fixed_path`" in capsys.readouterr().out


# --- Exercise 2 ---------------------------------------------------------------------------------


def _solution(setting):
    """The model solution: measure with the notebook's run_litert, then apply the rule."""
    expected, x_test = setting["expected"], setting["digits"].x_test

    def measure_variant(path):
        outputs = NOTEBOOK_RUN_LITERT(path, x_test)
        return {
            "size_bytes": Path(path).stat().st_size,
            "agreement": float(np.mean(outputs.argmax(axis=1) == expected.argmax(axis=1))),
            "max_deviation": float(np.abs(outputs - expected).max()),
        }

    def choose(rows):
        good = [v for v, r in rows.items() if r["agreement"] == 1 and r["max_deviation"] <= 0.01]
        return min(good, key=lambda v: rows[v]["size_bytes"])

    return measure_variant, choose


def _exercise_2(setting, measure_variant, choose, shipped):
    args = (setting["variants"], setting["model"], setting["digits"], setting["free"])
    return nb10.exercise_2(measure_variant, choose, shipped, *args)


def _rows(setting):
    return {n: nb10.measure(p, setting["model"], setting["digits"]) for n, p in _variants(setting)}


def _variants(setting):
    return setting["variants"].items()


def test_exercise_2_setting_has_a_smallest_file_that_is_not_good_enough(setting):
    rows = _rows(setting)
    smallest = min(rows, key=lambda n: rows[n]["size_bytes"])
    assert not nb10.meets_rule(rows[smallest])  # so "take the smallest" must fail


def test_exercise_2_accepts_the_solution_and_an_alternative(setting, capsys):
    measure_variant, choose = _solution(setting)
    rows = _rows(setting)
    right = choose(rows)
    assert _exercise_2(setting, measure_variant, choose, setting["variants"][right]).solved
    assert "✅ Exercise 10.2" in capsys.readouterr().out
    expected, x_test = setting["expected"], setting["digits"].x_test

    def row_by_row(path):  # another measurement: one digit at a time, extra keys, text numbers
        outputs = np.concatenate([NOTEBOOK_RUN_LITERT(path, x[None]) for x in x_test])
        return {
            "size_bytes": str(Path(path).stat().st_size),
            "agreement": np.mean(outputs.argmax(1) == expected.argmax(1)),
            "max_deviation": np.abs(outputs - expected).max(),
            "accuracy": np.mean(outputs.argmax(1) == setting["digits"].y_test),
        }

    def by_sorting(rows):  # another choice: sort by size, take the first that passes
        for name in sorted(rows, key=lambda n: rows[n]["size_bytes"]):
            if rows[name]["agreement"] >= 1.0 and not rows[name]["max_deviation"] > 0.01:
                return name
        return None

    shipped = str(setting["variants"][right])
    assert _exercise_2(setting, row_by_row, by_sorting, shipped).solved
    assert "✅ Exercise 10.2" in capsys.readouterr().out


@pytest.fixture
def off_limits_measure(setting):
    return lambda path: helpers.checks.nb10.measure(path, setting["model"], setting["digits"])


@pytest.mark.parametrize(
    ("kind", "hint"),
    [
        ("placeholder", "not solved yet: set `measure_variant`"),
        ("typed-in measurement", "a value typed in"),
        ("typed-in numbers", "does not measure the file at its `path`"),
        ("typed-in choice", "`choose` picked 'FIXED'"),
        ("skipped rule: the smallest", "but the rule picks"),
        ("skipped part: no deviation limit", "but the rule picks"),
        ("skipped part: no agreement", "but the rule picks"),
        ("off limits: the check's measure", "calls helpers.checks.nb10.measure"),
        ("off limits: helpers.deploy.run_litert", "calls helpers.deploy.run_litert"),
        ("earlier object: outputs", "does not measure the file at its `path`"),
        ("earlier object: table", "not look it up in a table from an earlier cell"),
        ("earlier object: section 2's file", "should be one of the files"),
        ("compared with itself", "comparing the outputs with themselves"),
        ("shipped not the choice", "ship `variant_paths[choose(...)]`"),
        ("choose raises", "`choose` raised KeyError"),
    ],
)
def test_exercise_2_rejects(setting, capsys, off_limits_measure, kind, hint):
    measure_variant, choose = _solution(setting)
    rows = _rows(setting)
    right = choose(rows)
    shipped = setting["variants"][right]
    expected, x_test = setting["expected"], setting["digits"].x_test
    smallest = min(rows, key=lambda n: rows[n]["size_bytes"])

    def only(condition):
        def chooser(table):
            good = [n for n, r in table.items() if condition(r)]
            return min(good, key=lambda n: table[n]["size_bytes"])

        return chooser

    if kind == "placeholder":
        measure_variant = None
    elif kind == "typed-in measurement":
        measure_variant = rows[right]
    elif kind == "typed-in numbers":

        def measure_variant(path):
            return {"size_bytes": Path(path).stat().st_size, "agreement": 1.0} | {
                "max_deviation": 0.005
            }

    elif kind == "typed-in choice":
        fixed = right
        choose = lambda table: fixed  # noqa: E731
        hint = hint.replace("FIXED", right)
    elif kind == "skipped rule: the smallest":
        choose = lambda table: min(table, key=lambda n: table[n]["size_bytes"])  # noqa: E731
        shipped = setting["variants"][smallest]
    elif kind == "skipped part: no deviation limit":
        choose = only(lambda r: r["agreement"] == 1)
    elif kind == "skipped part: no agreement":
        choose = only(lambda r: r["max_deviation"] <= 0.01)
    elif kind == "off limits: the check's measure":
        measure_variant = off_limits_measure
    elif kind == "off limits: helpers.deploy.run_litert":

        def measure_variant(path):
            outputs = deploy.run_litert(path, x_test)
            return {"size_bytes": Path(path).stat().st_size, "agreement": 1.0} | {
                "max_deviation": float(np.abs(outputs - expected).max())
            }

    elif kind == "earlier object: outputs":
        section_2_outputs = deploy.run_litert(setting["free"], x_test)
        good_measure = measure_variant

        def measure_variant(path):
            return good_measure(path) | {
                "agreement": 1.0,
                "max_deviation": float(np.abs(section_2_outputs - expected).max()),
            }

    elif kind == "earlier object: table":
        by_path = {str(p): rows[n] for n, p in _variants(setting)}
        measure_variant = lambda path: by_path[str(path)]  # noqa: E731
    elif kind == "earlier object: section 2's file":
        shipped = setting["free"]
    elif kind == "compared with itself":
        good_measure = measure_variant
        measure_variant = lambda path: good_measure(path) | {"max_deviation": 0.0}  # noqa: E731
    elif kind == "shipped not the choice":
        shipped = setting["variants"]["float32" if right != "float32" else "float16"]
    elif kind == "choose raises":
        choose = lambda table: table["no such variant"]  # noqa: E731
    assert _exercise_2(setting, measure_variant, choose, shipped).solved is False
    out = capsys.readouterr().out
    assert hint in out, out
    assert "Traceback" not in out and "could not use your answer" not in out
