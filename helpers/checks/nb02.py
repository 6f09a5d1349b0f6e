"""Checks for notebook 02's exercises: restore a chosen checkpoint, and resume without the iterator.

Each check reads what it needs from disk (``tf.train.load_checkpoint``) or from the reference
run it is given, so an answer is judged on its values, never against a copied number.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow as tf

from helpers.checks.core import exercise, expect, require

MODULE_WEIGHTS = ("w1", "b1", "w2", "b2")
STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"
ITERATOR_PREFIX = "iterator/"


def _step(prefix: str) -> int:
    """The number at the end of a prefix: ``.../ckpt-160`` -> 160."""
    return int(prefix.rsplit("-", 1)[1])


def _weights_on_disk(prefix: str) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(prefix)
    return {
        name: reader.get_tensor(f"model/{name}/.ATTRIBUTES/VARIABLE_VALUE")
        for name in MODULE_WEIGHTS
    }


def _same_weights(module: Any, weights: dict[str, np.ndarray]) -> bool:
    return all(
        np.array_equal(getattr(module, name).numpy(), weights[name]) for name in MODULE_WEIGHTS
    )


@exercise("2.1", "go back one save")
def exercise_1(
    restored_model: Any, restored_step: Any, checkpoint_dir: str | os.PathLike[str]
) -> str:
    """``restored_model`` holds ckpt-160's weights and ``restored_step`` its step counter."""
    require(restored_model, "restored_model", "the fresh DigitsModule you restored into")
    require(restored_step, "restored_step", "the step counter after the restore, as an int")
    expect(
        all(hasattr(restored_model, name) for name in MODULE_WEIGHTS),
        "`restored_model` should be the DigitsModule you restored into (the second value "
        "`fresh_checkpoint` returns), not the checkpoint or the status.",
    )
    state = tf.train.get_checkpoint_state(str(checkpoint_dir))
    expect(state is not None, f"No checkpoint state file in {checkpoint_dir}: run section 3 first.")
    by_step = {_step(prefix): prefix for prefix in state.all_model_checkpoint_paths}
    expect(160 in by_step, f"The manager kept steps {sorted(by_step)}, not 160: rerun section 3.")
    target = by_step[160]
    if not _same_weights(restored_model, _weights_on_disk(target)):
        for step, prefix in sorted(by_step.items()):
            expect(
                step == 160 or not _same_weights(restored_model, _weights_on_disk(prefix)),
                f"These are the weights of ckpt-{step}"
                + (", the latest: " if prefix == state.model_checkpoint_path else ": ")
                + "pick the prefix that ends in -160 from `reference.manager.checkpoints`.",
            )
        expect(
            False,
            "The weights match none of the kept checkpoints: restore ckpt-160 through a "
            "`tf.train.Checkpoint` whose child is named `model=` (as in training, e.g. the one "
            "`fresh_checkpoint` builds), then call `assert_consumed()`.",
        )
    expect(
        isinstance(restored_step, int | np.integer | tf.Variable | tf.Tensor),
        "`restored_step` should be a whole number: `int(checkpoint.step)`.",
    )
    on_disk = int(tf.train.load_checkpoint(target).get_tensor(STEP_KEY))
    step = int(restored_step.numpy() if hasattr(restored_step, "numpy") else restored_step)
    expect(
        step == on_disk,
        f"The weights are right, but `restored_step` is {step}: read the `step` variable of "
        "the checkpoint you restored into, `int(checkpoint.step)`, after the restore.",
    )
    return (
        f"ckpt-{on_disk} restored into fresh objects; with `max_to_keep=3` the manager can go "
        "back at most two saves."
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
