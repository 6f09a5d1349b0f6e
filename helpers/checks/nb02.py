"""Checks for notebook 02's exercises: restore a chosen checkpoint, and resume without the iterator.

Each check reads what it needs from disk (``tf.train.load_checkpoint``) or from the objects it
is given, so an answer is judged on its values, never against a number the learner typed.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
import tensorflow as tf

from helpers.checks.core import exercise, expect, require

STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"
GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
OPTIMIZER_SLOTS = "optimizer/_variables/"
ITERATOR_PREFIX = "iterator/"


def _step(prefix: str) -> int:
    """The number at the end of a prefix: ``.../ckpt-160`` -> 160."""
    return int(prefix.rsplit("-", 1)[1])


@exercise("2.1", "go back one save")
def exercise_1(restored: Any, reference: Any) -> str:
    """``restored``: the ``tf.train.Checkpoint`` the learner restored ckpt-160 into.

    The check writes the learner's objects to a scratch checkpoint and compares every value in
    ckpt-160 with it, so a value left behind (an unbuilt optimizer's slots, a missing child, a
    step typed in by hand) is caught without trusting anything the learner reports.
    """
    require(restored, "restored_checkpoint", "the tf.train.Checkpoint you restored into")
    expect(
        isinstance(restored, tf.train.Checkpoint),
        "`restored_checkpoint` should be the `tf.train.Checkpoint` you called `restore` on "
        "(the first value `fresh_checkpoint` returns), not the status or the model.",
    )
    expect(
        restored is not reference.checkpoint,
        "That is the reference run's own checkpoint: restore into fresh objects, so the "
        "reference stays as it is.",
    )
    folder = str(reference.manager.directory)
    state = tf.train.get_checkpoint_state(folder)
    expect(state is not None, f"No checkpoint state file in {folder}: run section 3 first.")
    by_step = {_step(prefix): prefix for prefix in state.all_model_checkpoint_paths}
    expect(160 in by_step, f"The manager kept steps {sorted(by_step)}, not 160: rerun section 3.")
    with tempfile.TemporaryDirectory() as scratch:
        reader = tf.train.load_checkpoint(restored.write(os.path.join(scratch, "answer")))
        answer = {key for key, _ in tf.train.list_variables(os.path.join(scratch, "answer"))}
        step = int(reader.get_tensor(STEP_KEY)) if STEP_KEY in answer else None
        expect(
            step is not None,
            "Your checkpoint has no `step=` child: build it like training's, with model, "
            "optimizer, step, epoch and iterator (as `fresh_checkpoint` does).",
        )
        expect(
            step in by_step or step == 0,
            f"Your step counter is {step}, which no kept checkpoint has: restore it from the "
            "file, and change nothing after the restore.",
        )
        expect(
            step != 0,
            "Your step counter is still 0: call `restore` with the prefix that ends in -160.",
        )
        expect(
            step == 160,
            f"You restored ckpt-{step}"
            + (", the latest" if by_step[step] == state.model_checkpoint_path else "")
            + ": pick the prefix that ends in -160 from `reference.manager.checkpoints`.",
        )
        target = tf.train.load_checkpoint(by_step[160])
        for key, _ in tf.train.list_variables(by_step[160]):
            if key == GRAPH_KEY:
                continue
            expect(
                key in answer,
                f"`{key}` in ckpt-160 has no object in your checkpoint"
                + (
                    ": build the optimizer on the model's variables *before* restoring, so its "
                    "slots exist and take their values (then `assert_consumed()` passes)."
                    if key.startswith(OPTIMIZER_SLOTS)
                    else ": give your checkpoint the same children as training's."
                ),
            )
            if key.startswith(ITERATOR_PREFIX):
                continue  # a serialized dataset state: present is all that can be compared
            expect(
                np.array_equal(reader.get_tensor(key), target.get_tensor(key)),
                f"`{key}` differs from ckpt-160's value: restore every value from the file, "
                "and change nothing after the restore.",
            )
    return (
        "Every value in ckpt-160 is in your objects, optimizer slots and step included; with "
        "`max_to_keep=3` the manager can go back at most two saves."
    )


@exercise("2.2", "forget the iterator")
def exercise_2(forgetful: Any, matches_reference: Any, reference: Any) -> str:
    """``forgetful`` is a run resumed from a checkpoint without the iterator; does it match?"""
    require(forgetful, "forgetful", "the resumed run whose checkpoint has no iterator")
    require(matches_reference, "matches_reference", "True or False")
    expect(
        all(hasattr(forgetful, name) for name in ("model", "manager", "step")),
        "`forgetful` should be the resumed run object (a `Run`, or a subclass of it).",
    )
    expect(
        forgetful is not reference and forgetful.model is not reference.model,
        "`forgetful` is the reference run itself: build a new run in a new folder.",
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
        isinstance(matches_reference, bool | np.bool_),
        "`matches_reference` should be True or False (compare the weights with `np.array_equal`).",
    )
    expect(
        not matches_reference,
        "Compare again, bit for bit (`np.array_equal` on each of `model.trainable_variables`): "
        "the weights are not equal.",
    )
    return (
        "Without the iterator the resumed run built a new one, which replayed epoch 1's order "
        "from step 100 on: different batches, different weights."
    )
