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


def _prefix(manager, step: int) -> str:
    (prefix,) = [p for p in manager.checkpoints if int(p.rsplit("-", 1)[1]) == step]
    return prefix


def _go_back(*, built: bool = True, **drop):
    """A go_back that restores into fresh objects (some children dropped, optimizer maybe
    unbuilt)."""

    def go_back(manager, step):
        children = {k: v for k, v in _training_objects(built).items() if k not in drop}
        checkpoint = tf.train.Checkpoint(**children)
        checkpoint.restore(_prefix(manager, step)).expect_partial()
        return checkpoint

    return go_back


def test_exercise_1_right_answers(trained, capsys):
    assert nb02.exercise_1(_go_back(), trained).solved is True

    def by_the_state_file(manager, step):  # another way to find the prefix, asserted restore
        state = tf.train.get_checkpoint_state(manager.directory)
        (prefix,) = [p for p in state.all_model_checkpoint_paths if p.endswith(f"ckpt-{step}")]
        mine = tf.train.Checkpoint(**_training_objects())
        mine.restore(prefix).assert_consumed()
        return mine

    assert nb02.exercise_1(by_the_state_file, trained).solved is True
    out = capsys.readouterr().out
    assert out.count("✅ Exercise 2.1") == 2 and "Steps 140, 160" in out


def test_exercise_1_placeholder(trained, capsys):
    assert nb02.exercise_1(None, trained).solved is False
    assert "is not solved yet: set `go_back`" in capsys.readouterr().out


def _always_160(manager, step):  # the prefix typed in
    checkpoint = tf.train.Checkpoint(**_training_objects())
    checkpoint.restore(_prefix(manager, 160)).assert_consumed()
    return checkpoint


def _step_typed_in(manager, step):  # the counter set by hand, nothing restored
    checkpoint = tf.train.Checkpoint(**_training_objects())
    checkpoint.step.assign(step)
    return checkpoint


def _changed_after_restore(manager, step):
    checkpoint = _go_back()(manager, step)
    checkpoint.model.b2.assign_add(tf.ones_like(checkpoint.model.b2))
    return checkpoint


def _the_kits_restore(manager, step):  # the shortcut the task puts off limits
    import helpers

    checkpoint = tf.train.Checkpoint(**_training_objects())
    helpers.checkpoints.restore(checkpoint, _prefix(manager, step))
    return checkpoint


def _the_kits_restore_caught(manager, step):  # ... even when its refusal is swallowed
    import helpers

    checkpoint = tf.train.Checkpoint(**_training_objects())
    try:
        helpers.checkpoints.restore(checkpoint, _prefix(manager, step))
    except Exception:
        checkpoint.restore(_prefix(manager, step)).assert_consumed()
    return checkpoint


_ONE_CHECKPOINT = {}


def _one_object_for_every_step(manager, step):
    checkpoint = _ONE_CHECKPOINT.setdefault("it", tf.train.Checkpoint(**_training_objects()))
    checkpoint.restore(_prefix(manager, step)).assert_consumed()
    return checkpoint


@pytest.mark.parametrize(
    ("make", "hint"),
    [
        (lambda t: 160, "should be a function of (manager, step), not a value"),
        (lambda t: _always_160, "go_back(manager, 140) gave a step counter of 160"),
        (lambda t: _step_typed_in, "`model/b1/.ATTRIBUTES/VARIABLE_VALUE` differs from ckpt-"),
        (lambda t: _go_back(built=False), "build the optimizer on the model's variables"),
        (lambda t: _go_back(iterator=True), "`iterator/.ATTRIBUTES/ITERATOR_STATE`"),
        (lambda t: _go_back(step=True), "no `step=` child"),
        (lambda t: _changed_after_restore, "`model/b2/.ATTRIBUTES/VARIABLE_VALUE` differs"),
        (lambda t: _the_kits_restore, "`helpers.checkpoints.restore` is off limits"),
        (lambda t: _the_kits_restore_caught, "`helpers.checkpoints.restore` is off limits"),
        (lambda t: lambda m, s: t.checkpoint, "a checkpoint over the reference run's own"),
        (lambda t: lambda m, s: t.model, "returned a Tiny: return the `tf.train.Checkpoint`"),
        (lambda t: _one_object_for_every_step, "the same checkpoint object for two steps"),
    ],
    ids=[
        "a value",
        "prefix typed in",
        "step typed in",
        "optimizer not built",
        "child left out",
        "no step child",
        "changed after restore",
        "kit's restore",
        "kit's restore, refusal caught",
        "reference's checkpoint",
        "reference's model",
        "one object reused",
    ],
)
def test_exercise_1_wrong_answers(trained, capsys, make, hint):
    assert nb02.exercise_1(make(trained), trained).solved is False
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 2.1") and hint in out, out


def test_exercise_1_restoring_into_the_reference_is_refused_and_undone(trained, capsys):
    """Issue 22: a new Checkpoint over the reference run's own objects used to pass, and
    rolled the reference back to step 140, after which exercise 2.2's message was false."""

    def into_the_reference(manager, step):
        own = tf.train.Checkpoint(model=trained.model, step=trained.checkpoint.step)
        own.restore(_prefix(manager, step)).expect_partial()
        return own

    assert nb02.exercise_1(into_the_reference, trained).solved is False
    out = capsys.readouterr().out
    assert "changed the reference run's own objects (the check put them back" in out
    assert int(trained.checkpoint.step) == 180
    assert nb02._reference_intact(trained)


def test_exercise_1_a_rolled_back_reference_is_named(trained, capsys):
    trained.checkpoint.restore(_prefix(trained.manager, 140)).expect_partial()
    try:
        assert nb02.exercise_1(_go_back(), trained).solved is False
        assert "no longer holds its latest checkpoint's values" in capsys.readouterr().out
    finally:
        nb02._put_back(trained)


def test_exercise_1_too_few_checkpoints(tmp_path, capsys):
    run = _run(tmp_path, steps=(20,))
    assert nb02.exercise_1(_go_back(), run).solved is False
    assert "The manager kept [20]" in capsys.readouterr().out


def _forgetful(folder, *, final: float = 0.5, **kwargs) -> SimpleNamespace:
    run = _run(folder, **kwargs)
    _set(run.model, final)
    return run


def _equal_weights(run_a, run_b) -> bool:
    pairs = zip(run_a.model.trainable_variables, run_b.model.trainable_variables, strict=True)
    return all(np.array_equal(a.numpy(), b.numpy()) for a, b in pairs)


def test_exercise_2_right_answers(reference, tmp_path, capsys):
    assert nb02.exercise_2(_forgetful(tmp_path / "a"), _equal_weights, reference).solved is True

    def by_bytes(run_a, run_b):  # another exact comparison
        a, b = run_a.model.trainable_variables, run_b.model.trainable_variables
        return [v.numpy().tobytes() for v in a] == [v.numpy().tobytes() for v in b]

    assert nb02.exercise_2(_forgetful(tmp_path / "b"), by_bytes, reference).solved is True
    assert capsys.readouterr().out.count("✅ Exercise 2.2 (forget the iterator) solved.") == 2


def test_exercise_2_placeholder(reference, capsys):
    assert nb02.exercise_2(None, None, reference).solved is False
    assert "is not solved yet: set `forgetful`" in capsys.readouterr().out


def _compared_with_itself(run_a, run_b):
    return all(np.array_equal(v.numpy(), v.numpy()) for v in run_a.model.trainable_variables)


def _within_tolerance(run_a, run_b):
    pairs = zip(run_a.model.trainable_variables, run_b.model.trainable_variables, strict=True)
    return all(np.allclose(a.numpy(), b.numpy()) for a, b in pairs)


def _the_kits_compare(run_a, run_b):  # the shortcut the task puts off limits
    import helpers

    pairs = zip(run_a.model.trainable_variables, run_b.model.trainable_variables, strict=True)
    return all(helpers.verify.compare(a.numpy(), b.numpy()).identical for a, b in pairs)


@pytest.mark.parametrize(
    ("kwargs", "same_weights", "hint"),
    [
        ({"iterator": True}, _equal_weights, "still holds the iterator"),
        ({"steps": (20, 40)}, _equal_weights, "stopped at step 40: train it on to TOTAL_STEPS"),
        ({"final": 0.18}, _equal_weights, "ended bit-identical to the reference"),
        ({}, False, "should be a function of two runs, not a value"),
        ({}, lambda a, b: False, "says False for the reference and an exact copy"),
        ({}, _compared_with_itself, "says True for the reference and your resumed run"),
        ({}, _within_tolerance, "says True for the reference and a copy with one value one"),
        ({}, _the_kits_compare, "`helpers.verify.compare` is off limits"),
        ({}, lambda a, b: "no", "returned 'no' for the reference and your resumed run"),
    ],
    ids=[
        "iterator kept",
        "not trained to the end",
        "never crashed",
        "a value typed in",
        "a constant function",
        "compared with itself",
        "tolerance instead of bits",
        "kit's compare",
        "not a bool",
    ],
)
def test_exercise_2_wrong_answers(reference, tmp_path, capsys, kwargs, same_weights, hint):
    forgetful = _forgetful(tmp_path, **kwargs)
    assert nb02.exercise_2(forgetful, same_weights, reference).solved is False
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 2.2") and hint in out, out


def test_exercise_2_refuses_the_reference_and_its_folder(reference, capsys):
    assert nb02.exercise_2(reference, _equal_weights, reference).solved is False
    same_folder = SimpleNamespace(model=Tiny(), manager=reference.manager, step=reference.step)
    assert nb02.exercise_2(same_folder, _equal_weights, reference).solved is False
    out = capsys.readouterr().out.splitlines()
    assert "is the reference run itself" in out[0]
    assert "saves into the reference run's folder" in out[1]


def test_exercise_2_a_rolled_back_reference_is_named(reference, tmp_path, capsys):
    reference.checkpoint.restore(_prefix(reference.manager, 140)).expect_partial()
    try:
        assert nb02.exercise_2(_forgetful(tmp_path), _equal_weights, reference).solved is False
        assert "no longer holds its latest checkpoint's values" in capsys.readouterr().out
    finally:
        nb02._put_back(reference)
