"""Notebook 02's exercise checks, on a tiny module and checkpoints written in a temp folder."""

from __future__ import annotations

from types import SimpleNamespace

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


def _training_objects(built: bool = True) -> dict:
    """Model, Adam (built or not), step and iterator: the children a training checkpoint has."""
    import keras

    model = Tiny()
    optimizer = keras.optimizers.Adam(0.1)
    if built:
        optimizer.build(model.trainable_variables)
    return {
        "model": model,
        "optimizer": optimizer,
        "step": tf.Variable(0, dtype=tf.int64),
        "iterator": iter(tf.data.Dataset.range(5)),
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> SimpleNamespace:
    """A run that saved at steps 140, 160, 180, its weights and Adam's slots different each time."""
    children = _training_objects()
    model, optimizer = children["model"], children["optimizer"]
    checkpoint = tf.train.Checkpoint(**children)
    folder = tmp_path_factory.mktemp("trained")
    manager = tf.train.CheckpointManager(checkpoint, str(folder), max_to_keep=3)
    for number in (140, 160, 180):
        _set(model, number / 1000)
        grads = [tf.fill(v.shape, number / 100) for v in model.trainable_variables]
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        children["step"].assign(number)
        manager.save(checkpoint_number=number)
    return SimpleNamespace(model=model, manager=manager, checkpoint=checkpoint)


def _restore(
    trained: SimpleNamespace, number: int, *, built: bool = True, **drop
) -> tf.train.Checkpoint:
    children = {k: v for k, v in _training_objects(built).items() if k not in drop}
    checkpoint = tf.train.Checkpoint(**children)
    (prefix,) = [p for p in trained.manager.checkpoints if p.endswith(f"-{number}")]
    checkpoint.restore(prefix).expect_partial()
    return checkpoint


def test_exercise_1_right_answers(trained, capsys):
    assert nb02.exercise_1(_restore(trained, 160), trained).solved is True
    # a learner's own objects, restored through a manager's list, also pass
    children = _training_objects()
    mine = tf.train.Checkpoint(**children)
    mine.restore(trained.manager.checkpoints[1]).assert_consumed()
    assert nb02.exercise_1(mine, trained).solved is True
    assert capsys.readouterr().out.count("✅ Exercise 2.1") == 2


def test_exercise_1_placeholder(trained, capsys):
    assert nb02.exercise_1(None, trained).solved is False
    assert "is not solved yet: set `restored_checkpoint`" in capsys.readouterr().out


def _changed_after_restore(trained):
    checkpoint = _restore(trained, 160)
    checkpoint.model.b2.assign_add(tf.ones_like(checkpoint.model.b2))
    return checkpoint


def _step_typed_in(trained):
    checkpoint = tf.train.Checkpoint(**_training_objects())
    checkpoint.step.assign(160)
    return checkpoint


@pytest.mark.parametrize(
    ("make", "hint"),
    [
        (lambda t: _restore(t, 160, built=False), "build the optimizer on the model's variables"),
        (lambda t: _restore(t, 180), "You restored ckpt-180, the latest: pick the prefix"),
        (lambda t: _restore(t, 140), "You restored ckpt-140: pick the prefix"),
        (lambda t: _restore(t, 160, iterator=True), "`iterator/.ATTRIBUTES/ITERATOR_STATE`"),
        (lambda t: _restore(t, 160, step=True), "no `step=` child"),
        (lambda t: tf.train.Checkpoint(**_training_objects()), "still 0"),
        (_step_typed_in, "`model/b1/.ATTRIBUTES/VARIABLE_VALUE` differs"),
        (_changed_after_restore, "`model/b2/.ATTRIBUTES/VARIABLE_VALUE` differs"),
        (lambda t: t.checkpoint, "the reference run's own checkpoint"),
        (lambda t: t.model, "should be the `tf.train.Checkpoint`"),
    ],
)
def test_exercise_1_wrong_answers(trained, capsys, make, hint):
    assert nb02.exercise_1(make(trained), trained).solved is False
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 2.1") and hint in out, out


def test_exercise_1_missing_checkpoint_folder(tmp_path, capsys):
    empty = SimpleNamespace(manager=SimpleNamespace(directory=str(tmp_path)), checkpoint=None)
    assert nb02.exercise_1(tf.train.Checkpoint(step=tf.Variable(0)), empty).solved is False
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
