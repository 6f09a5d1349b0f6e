"""Checks for notebook 02's exercises: go back to an earlier checkpoint, and resume without the
iterator.

Each check runs the learner's function on more than one case and reads the values it judges
from disk (``tf.train.load_checkpoint``) or from the objects it is given, so a number typed in
fits one case at most. The kit's shortcuts (``helpers.checkpoints.restore``,
``helpers.verify.compare``) refuse to run while a learner's function runs: the exercises exist
to write those calls out.

Serves notebook 02.
"""

from __future__ import annotations

import os
import tempfile
from types import SimpleNamespace
from typing import Any

import numpy as np
import tensorflow as tf

from helpers.checks.core import Hint, exercise, expect, forbidden, require

STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"
OPTIMIZER_SLOTS = "optimizer/_variables/"
ITERATOR_PREFIX = "iterator/"
# The object graph and the count of save() calls describe a file, not the training state.
BOOKKEEPING = ("_CHECKPOINTABLE_OBJECT_GRAPH", "save_counter/")


def _step(prefix: str) -> int:
    """The number at the end of a prefix: ``.../ckpt-160`` -> 160."""
    return int(prefix.rsplit("-", 1)[1])


def _file_values(prefix: str) -> dict[str, np.ndarray]:
    """Every value of the checkpoint ``prefix`` on disk, bookkeeping entries left out; an
    iterator's entry is listed as ``None`` (a serialized dataset state: NumPy cannot hold it)."""
    reader = tf.train.load_checkpoint(prefix)
    return {
        key: None if key.startswith(ITERATOR_PREFIX) else reader.get_tensor(key)
        for key, _ in tf.train.list_variables(prefix)
        if not key.startswith(BOOKKEEPING)
    }


def _values(checkpoint: tf.train.Checkpoint) -> dict[str, np.ndarray]:
    """What ``checkpoint``'s objects hold now: written to a scratch file and read back."""
    with tempfile.TemporaryDirectory() as scratch:
        return _file_values(checkpoint.write(os.path.join(scratch, "now")))


def _shared_objects(answer: tf.train.Checkpoint, reference: Any) -> bool:
    """Whether ``answer`` tracks any object (a variable, the model, the optimizer) that the
    reference run's checkpoint tracks."""
    theirs = {id(node) for node in tf.train.TrackableView(reference.checkpoint).descendants()}
    mine = tf.train.TrackableView(answer).descendants()[1:]  # [0] is the root itself
    return any(id(node) in theirs for node in mine)


def _put_back(reference: Any) -> None:
    """Restore the reference run from its latest checkpoint (after an answer rolled it back)."""
    reference.checkpoint.restore(reference.manager.latest_checkpoint).expect_partial()


def _reference_intact(reference: Any) -> bool:
    """Whether the reference run still holds the values of its latest checkpoint (its
    iterator aside: section 7 takes one more batch from it)."""
    latest = _file_values(reference.manager.latest_checkpoint)
    now = _values(reference.checkpoint)
    return all(
        key in now and np.array_equal(now[key], value)
        for key, value in latest.items()
        if not key.startswith(ITERATOR_PREFIX)
    )


@exercise("2.1", "go back to an earlier save")
def exercise_1(go_back: Any, reference: Any) -> str:
    """``go_back(manager, step)``: restore the checkpoint of ``step`` kept by ``manager`` into
    fresh objects and return the ``tf.train.Checkpoint`` restored into.

    The check calls it for every kept step but the latest, writes each answer's objects to a
    scratch checkpoint and compares every value with the file's; it refuses answers that track
    the reference run's own objects (restoring into them rolls the reference back: the check
    then puts the reference back).
    """
    require(go_back, "go_back", "a function go_back(manager, step) -> tf.train.Checkpoint")
    expect(
        callable(go_back),
        "`go_back` should be a function of (manager, step), not a value: the check calls it "
        "for more than one step.",
    )
    manager = reference.manager
    by_step = {_step(prefix): prefix for prefix in manager.checkpoints}
    expect(len(by_step) >= 2, f"The manager kept {sorted(by_step)}: rerun section 3 first.")
    expect(
        _reference_intact(reference),
        "The reference run no longer holds its latest checkpoint's values (an earlier answer "
        "restored into its objects?): rerun section 3.",
    )
    earlier = sorted(by_step)[:-1]
    answers = {}
    try:
        with forbidden("helpers.checkpoints.restore", advice="write the calls out."):
            for step in reversed(earlier):
                answers[step] = go_back(manager, step)
    finally:
        if not _reference_intact(reference):
            _put_back(reference)
            raise Hint(
                "Your function changed the reference run's own objects (the check put them "
                "back from its latest checkpoint): build fresh objects, as `fresh_checkpoint` "
                "does, and restore into those."
            )
    for step, answer in answers.items():
        expect(
            isinstance(answer, tf.train.Checkpoint),
            f"go_back(manager, {step}) returned a {type(answer).__name__}: return the "
            "`tf.train.Checkpoint` you called `restore` on (not the status or the model).",
        )
        expect(
            answer is not reference.checkpoint and not _shared_objects(answer, reference),
            f"go_back(manager, {step}) returned a checkpoint over the reference run's own "
            "objects: build fresh ones (as `fresh_checkpoint` does) and restore into those.",
        )
    expect(
        len({id(answer) for answer in answers.values()}) == len(answers),
        "go_back returned the same checkpoint object for two steps: build fresh objects on "
        "every call.",
    )
    for step, answer in answers.items():
        mine = _values(answer)
        expect(
            STEP_KEY in mine,
            "Your checkpoint has no `step=` child: build it like training's, with model, "
            "optimizer, step, epoch and iterator (as `fresh_checkpoint` does).",
        )
        expect(
            int(mine[STEP_KEY]) == step,
            f"go_back(manager, {step}) gave a step counter of {int(mine[STEP_KEY])}: restore "
            f"the prefix that ends in -{step} from `manager.checkpoints` (chosen by the "
            "`step` argument, not typed in), and change nothing after the restore.",
        )
        for key, value in _file_values(by_step[step]).items():
            expect(
                key in mine,
                f"`{key}` in ckpt-{step} has no object in your checkpoint"
                + (
                    ": build the optimizer on the model's variables *before* restoring, so its "
                    "slots exist and take their values (then `assert_consumed()` passes)."
                    if key.startswith(OPTIMIZER_SLOTS)
                    else ": give your checkpoint the same children as training's."
                ),
            )
            if value is None:
                continue  # the iterator's state: present is all that can be compared
            expect(
                np.array_equal(mine[key], value),
                f"`{key}` differs from ckpt-{step}'s value: restore every value from the "
                "file, and change nothing after the restore.",
            )
    steps = ", ".join(str(step) for step in sorted(answers))
    return (
        f"Steps {steps}: every value of each file is in fresh objects, optimizer slots and step "
        "included, and the reference run is untouched. With `max_to_keep=3` the manager can "
        "go back at most two saves."
    )


def _twin(run: Any, nudge: bool = False) -> SimpleNamespace:
    """A stand-in run whose model holds copies of ``run``'s weights (one value moved by one
    float32 step when ``nudge``): for the check to call the learner's comparison on."""
    copies = [tf.Variable(v.numpy()) for v in run.model.trainable_variables]
    if nudge:
        value = copies[-1].numpy()
        value.flat[0] = np.nextafter(value.flat[0], np.float32(np.inf), dtype=value.dtype)
        copies[-1].assign(value)
    return SimpleNamespace(model=SimpleNamespace(trainable_variables=copies))


@exercise("2.2", "forget the iterator")
def exercise_2(forgetful: Any, same_weights: Any, reference: Any) -> str:
    """``forgetful`` is a run resumed from a checkpoint without the iterator; ``same_weights``
    compares two runs' weights bit for bit."""
    require(forgetful, "forgetful", "the resumed run whose checkpoint has no iterator")
    require(same_weights, "same_weights", "a function same_weights(run_a, run_b) -> bool")
    expect(
        all(hasattr(forgetful, name) for name in ("model", "manager", "step")),
        "`forgetful` should be the resumed run object (a `Run`, or a subclass of it).",
    )
    expect(
        forgetful is not reference and forgetful.model is not reference.model,
        "`forgetful` is the reference run itself: build a new run in a new folder.",
    )
    expect(
        _reference_intact(reference),
        "The reference run no longer holds its latest checkpoint's values (exercise 1 restored "
        "into its objects?): rerun sections 3 and 7, then this exercise.",
    )
    latest = forgetful.manager.latest_checkpoint
    expect(
        latest is not None,
        "Your run's folder holds no checkpoint: train it with `train(...)`, which saves every "
        "SAVE_EVERY steps.",
    )
    expect(
        os.path.abspath(os.path.dirname(latest))
        != os.path.abspath(os.path.dirname(reference.manager.latest_checkpoint)),
        "Your run saves into the reference run's folder: give it a folder of its own.",
    )
    keys = [key for key, _ in tf.train.list_variables(latest)]
    expect(
        not any(key.startswith(ITERATOR_PREFIX) for key in keys),
        f"{os.path.basename(latest)} still holds the iterator ({ITERATOR_PREFIX}...): build the "
        "run's `tf.train.Checkpoint` (and its manager) without `iterator=`.",
    )
    expect(
        int(forgetful.step) == int(reference.step),
        f"Your resumed run stopped at step {int(forgetful.step)}: train it on to "
        f"TOTAL_STEPS ({int(reference.step)}) like the reference.",
    )
    identical = all(
        np.array_equal(a.numpy(), b.numpy())
        for a, b in zip(
            reference.model.trainable_variables, forgetful.model.trainable_variables, strict=True
        )
    )
    expect(
        not identical,
        "Your run ended bit-identical to the reference, so it never lost its place in the data: "
        "crash it (`crash_at=110`), then restore the latest checkpoint into a *fresh* run and "
        "train that one to the end.",
    )
    expect(
        callable(same_weights),
        "`same_weights` should be a function of two runs, not a value: the check calls it on "
        "more than one pair.",
    )
    with forbidden("helpers.verify.compare", advice="write the calls out."):
        verdicts = {
            "the reference and your resumed run": (same_weights(reference, forgetful), False),
            "the reference and an exact copy of its weights": (
                same_weights(reference, _twin(reference)),
                True,
            ),
            "the reference and a copy with one value one float32 step away": (
                same_weights(reference, _twin(reference, nudge=True)),
                False,
            ),
        }
    for pair, (said, truth) in verdicts.items():
        expect(
            isinstance(said, bool | np.bool_),
            f"same_weights returned {said!r} for {pair}: return True or False.",
        )
        expect(
            bool(said) == truth,
            f"same_weights says {bool(said)} for {pair}, but the truth is {truth}: compare "
            "each of one run's `model.trainable_variables` with the same variable of the "
            "*other* run, with `np.array_equal` (bit for bit, no tolerance).",
        )
    return (
        "Without the iterator the resumed run built a new one, which replayed epoch 1's order "
        "from step 100 on: different batches, different weights. Your comparison told an "
        "exact copy from one a single float32 step away."
    )
