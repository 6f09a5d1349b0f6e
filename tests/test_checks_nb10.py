"""Notebook 10's exercise checks, on a briefly trained digits MLP and its LiteRT variants."""

from __future__ import annotations

import numpy as np
import pytest
from nbsource import assert_same_code

from helpers import deploy
from helpers.checks import nb10


def test_run_litert_is_the_notebook_s_code():
    assert_same_code("10", deploy.run_litert)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """A trained MLP, the test digits, a free-batch and a batch-8 file, four quantized files."""
    import keras
    import tensorflow as tf

    from helpers.data import load_digits
    from helpers.models import digits_mlp
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
    return {"model": model, "digits": digits, "free": free, "fixed": fixed, "variants": variants}


def test_run_litert_runs_any_batch_of_float_and_int8_files(setting):
    expected = setting["model"].predict(setting["digits"].x_test, verbose=0)
    for size in (1, 7, len(expected)):
        outputs = deploy.run_litert(setting["free"], setting["digits"].x_test[:size])
        np.testing.assert_allclose(outputs, expected[:size], atol=1e-5)
    int8 = deploy.run_litert(setting["variants"]["int8"], setting["digits"].x_test)
    assert int8.dtype == np.float32 and 1e-5 < np.abs(int8 - expected).max() < 0.1


def test_exercise_1_right_answers(setting, capsys):
    args = (setting["model"], setting["digits"].x_test)
    assert nb10.exercise_1(setting["fixed"], [8, 64], *args).solved is True
    assert nb10.exercise_1(str(setting["fixed"]), np.array([8, 64]), *args).solved is True
    assert "✅ Exercise 10.1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("which", "signature", "hint"),
    [
        ("fixed", None, "not solved yet: set `fixed_signature`"),
        ("free", [-1, 64], "the batch is still free (-1)"),
        ("free", [8, 64], "the batch is still free (-1)"),
        ("fixed", [1, 64], "but the file says [8, 64]"),
        ("fixed", "8, 64", "but the file says [8, 64]"),
        ("int8", [8, 64], "the batch is still free"),
    ],
)
def test_exercise_1_wrong_answers(setting, capsys, which, signature, hint):
    path = setting["variants"]["int8"] if which == "int8" else setting[which]
    verdict = nb10.exercise_1(path, signature, setting["model"], setting["digits"].x_test)
    assert verdict.solved is False
    assert hint in capsys.readouterr().out


def test_exercise_1_rejects_a_file_that_is_not_the_model(setting, tmp_path, capsys):
    import keras

    from helpers.models import digits_mlp

    keras.utils.set_random_seed(1)
    other = tmp_path / "other8.tflite"
    spec = keras.InputSpec(shape=(8, 64), dtype="float32", name="pixels")
    digits_mlp().export(other, format="litert", verbose=False, input_signature=[spec])
    args = (setting["model"], setting["digits"].x_test)
    assert nb10.exercise_1(other, [8, 64], *args).solved is False
    assert "differs from Keras" in capsys.readouterr().out
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(setting["fixed"].read_bytes()[:100])
    assert nb10.exercise_1(broken, [8, 64], *args).solved is False
    assert "LiteRT cannot use `fixed_path`" in capsys.readouterr().out


def _answer(setting):
    """The rule applied to measured numbers (the model solution's logic)."""
    model, digits, variants = setting["model"], setting["digits"], setting["variants"]
    keras_accuracy = np.mean(model.predict(digits.x_test, verbose=0).argmax(1) == digits.y_test)
    rows = {name: nb10.measure(path, model, digits) for name, path in variants.items()}
    good = [n for n, r in rows.items() if r["accuracy"] >= keras_accuracy - 0.01
            and r["agreement"] >= 0.99]  # fmt: skip
    best = min(good, key=lambda n: rows[n]["size_bytes"])
    return best, rows


def test_exercise_2_right_answer(setting, capsys):
    best, rows = _answer(setting)
    args = (setting["variants"], setting["model"], setting["digits"])
    assert nb10.exercise_2(setting["variants"][best], rows[best], *args).solved is True
    as_string = {key: str(value) for key, value in rows[best].items()}  # numbers as text work
    assert nb10.exercise_2(str(setting["variants"][best]), as_string, *args).solved is True
    assert "measured, not assumed" in capsys.readouterr().out


def test_exercise_2_wrong_answers(setting, capsys):
    best, rows = _answer(setting)
    args = (setting["variants"], setting["model"], setting["digits"])
    path = setting["variants"][best]
    assert nb10.exercise_2(None, None, *args).solved is False
    assert "not solved yet" in capsys.readouterr().out
    guessed = rows[best] | {"accuracy": 0.99}
    assert nb10.exercise_2(path, guessed, *args).solved is False
    assert "measured again it is" in capsys.readouterr().out
    missing = {key: value for key, value in rows[best].items() if key != "agreement"}
    assert nb10.exercise_2(path, missing, *args).solved is False
    assert "needs the keys" in capsys.readouterr().out
    assert nb10.exercise_2(setting["free"], rows[best], *args).solved is False
    assert "should be one of the files" in capsys.readouterr().out
    bigger = max(rows, key=lambda n: rows[n]["size_bytes"])
    assert bigger != best
    assert nb10.exercise_2(setting["variants"][bigger], rows[bigger], *args).solved is False
    assert "also meets the rule and is smaller" in capsys.readouterr().out


def test_exercise_2_rejects_a_variant_that_breaks_the_rule(setting, capsys, monkeypatch):
    """Under a rule nothing meets, the check says which part of the rule failed."""
    _, rows = _answer(setting)
    monkeypatch.setattr(nb10, "MIN_AGREEMENT", 1.01)  # no file agrees on more than 100 %
    args = (setting["variants"], setting["model"], setting["digits"])
    assert nb10.exercise_2(setting["variants"]["int8"], rows["int8"], *args).solved is False
    assert "does not meet the rule" in capsys.readouterr().out
