"""Notebook 02's exercise checks, on a tiny module and checkpoints written in a temp folder."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from helpers.checks import nb02


class Tiny(tf.Module):
    """The four variables the checks read, in a small size."""

    def __init__(self, value: float = 0.0) -> None:
        super().__init__()
        self.w1 = tf.Variable(tf.fill([3, 2], value))
        self.b1 = tf.Variable(tf.fill([2], value))
        self.w2 = tf.Variable(tf.fill([2, 4], value))
        self.b2 = tf.Variable(tf.fill([4], value))


def _set(module: Tiny, value: float) -> None:
    for variable in (module.w1, module.b1, module.w2, module.b2):
        variable.assign(tf.fill(variable.shape, value))


def _run(folder, *, iterator: bool = False, steps=(140, 160, 180)) -> SimpleNamespace:
    """A Run-like object that saved at ``steps``, weights = step / 1000 at each save."""
    model, step = Tiny(), tf.Variable(0, dtype=tf.int64)
    children = {"model": model, "step": step}
    if iterator:
        children["iterator"] = iter(tf.data.Dataset.range(5))
    checkpoint = tf.train.Checkpoint(**children)
    manager = tf.train.CheckpointManager(checkpoint, str(folder), max_to_keep=3)
    for number in steps:
        step.assign(number)
        _set(model, number / 1000)
        manager.save(checkpoint_number=number)
    return SimpleNamespace(model=model, manager=manager, step=step, checkpoint=checkpoint)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("reference"))


def _restored(value: float) -> Tiny:
    module = Tiny()
    _set(module, value)
    return module


def test_exercise_1_right_answer(reference, capsys):
    folder = reference.manager.directory
    assert nb02.exercise_1(_restored(0.16), 160, folder).solved is True
    assert nb02.exercise_1(_restored(0.16), np.int64(160), folder).solved is True
    assert capsys.readouterr().out.count("✅ Exercise 2.1") == 2


def test_exercise_1_placeholder(reference, capsys):
    assert nb02.exercise_1(None, None, reference.manager.directory).solved is False
    assert nb02.exercise_1(_restored(0.16), ..., reference.manager.directory).solved is False
    out = capsys.readouterr().out.splitlines()
    assert "is not solved yet: set `restored_model`" in out[0]
    assert "is not solved yet: set `restored_step`" in out[1]


@pytest.mark.parametrize(
    ("model", "step", "hint"),
    [
        (_restored(0.18), 180, "ckpt-180, the latest: pick the prefix that ends in -160"),
        (_restored(0.14), 140, "weights of ckpt-140: pick the prefix"),
        (_restored(0.0), 160, "match none of the kept checkpoints"),
        (_restored(0.16), 0, "`restored_step` is 0"),
        (_restored(0.16), "160", "should be a whole number"),
        ("a checkpoint", 160, "should be the DigitsModule you restored into"),
    ],
)
def test_exercise_1_wrong_answers(reference, capsys, model, step, hint):
    assert nb02.exercise_1(model, step, reference.manager.directory).solved is False
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 2.1") and hint in out


def test_exercise_1_missing_checkpoint_folder(tmp_path, capsys):
    assert nb02.exercise_1(_restored(0.16), 160, tmp_path).solved is False
    assert "No checkpoint state file" in capsys.readouterr().out


def _forgetful(folder, *, final: float = 0.5, **kwargs) -> SimpleNamespace:
    run = _run(folder, **kwargs)
    _set(run.model, final)
    return run


def test_exercise_2_right_answer(reference, tmp_path, capsys):
    assert nb02.exercise_2(_forgetful(tmp_path), False, reference).solved is True
    assert "✅ Exercise 2.2 (forget the iterator) solved." in capsys.readouterr().out


def test_exercise_2_placeholder(reference, capsys):
    assert nb02.exercise_2(None, None, reference).solved is False
    assert "is not solved yet: set `forgetful`" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kwargs", "matches", "hint"),
    [
        ({"iterator": True}, False, "still holds the iterator"),
        ({"steps": (20, 40)}, False, "stopped at step 40: train it on to TOTAL_STEPS (180)"),
        ({"final": 0.18}, True, "ended bit-identical to the reference"),
        ({}, True, "the weights are not equal"),
        ({}, "no", "should be True or False"),
    ],
)
def test_exercise_2_wrong_answers(reference, tmp_path, capsys, kwargs, matches, hint):
    assert nb02.exercise_2(_forgetful(tmp_path, **kwargs), matches, reference).solved is False
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 2.2") and hint in out


def test_exercise_2_refuses_the_reference_and_its_folder(reference, capsys):
    assert nb02.exercise_2(reference, False, reference).solved is False
    same_folder = SimpleNamespace(model=Tiny(), manager=reference.manager, step=reference.step)
    assert nb02.exercise_2(same_folder, False, reference).solved is False
    out = capsys.readouterr().out.splitlines()
    assert "is the reference run itself" in out[0]
    assert "saves into the reference run's folder" in out[1]
