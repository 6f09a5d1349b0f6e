"""Notebook 04's exercise checks, on a made-up history and a backup written without training."""

from __future__ import annotations

import json

import numpy as np
import pytest
from harness.answers import solution

from helpers.checks import nb04
from helpers.kit.models import digits_mlp

# Best val_accuracy first reached at epoch 3 (tied at 5); lowest val_loss at epoch 4.
HISTORY = {
    "val_accuracy": [0.5, 0.7, 0.9, 0.8, 0.9],
    "val_loss": [1.0, 0.6, 0.5, 0.4, 0.45],
}


@pytest.fixture(scope="module")
def model():
    """A compiled model whose metrics are built, as after `fit`: Keras reads their direction."""
    built = digits_mlp()
    built.evaluate(np.zeros((4, 64), "float32"), np.zeros(4, "int32"), verbose=0)
    return built


def test_exercise_1_right_answer(capsys, model):
    assert nb04.exercise_1(3, HISTORY, model).solved is True
    assert nb04.exercise_1(np.int64(3), HISTORY, model).solved is True
    expected = "✅ Exercise 4.1 (monitor accuracy) solved. Epoch 3: Keras's ModelCheckpoint"
    out = capsys.readouterr().out
    assert out.count(expected) == 2 and "picks mode='max'" in out


def test_exercise_1_placeholder(capsys, model):
    assert nb04.exercise_1(None, HISTORY, model).solved is False
    assert "not solved yet: set `accuracy_epoch`" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (4, "Epoch 4 has the lowest val_loss"),
        (1, "has the *lowest* val_accuracy: Keras infers mode='max'"),
        (2, "One epoch too early"),
        (5, "Epoch 5 only ties the best accuracy"),
        (0, "The run had epochs 1 to 5"),
        (True, "should be a whole number"),
        (3.0, "should be a whole number"),
    ],
)
def test_exercise_1_wrong_answers(capsys, model, answer, hint):
    assert nb04.exercise_1(answer, HISTORY, model).solved is False
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 4.1") and hint in out


def test_exercise_1_reaches_its_generic_hint(capsys, model):
    history = {"val_accuracy": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "val_loss": [6, 5, 4, 3, 2, 1]}
    assert nb04.exercise_1(3, history, model).solved is False
    assert "Epoch 3 is not the one" in capsys.readouterr().out


def _trained_like():
    """A model as a backup would hold it: weights moved away from the initial ones, step 20."""
    model = digits_mlp()
    model.optimizer.build(model.trainable_variables)
    for variable in model.trainable_variables:
        variable.assign(np.asarray(variable) + 1.0)
    model.optimizer.iterations.assign(20)
    return model


@pytest.fixture(scope="module")
def backup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backup")
    _trained_like().save_weights(folder / nb04.BACKUP_WEIGHTS)
    (folder / nb04.METADATA).write_text(json.dumps({"epoch": 1}))
    return folder


def _loaded(folder, *, build=True):
    model = digits_mlp()
    if build:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(folder / nb04.BACKUP_WEIGHTS)
    return model


def test_exercise_2_right_answer(backup, capsys):
    assert nb04.exercise_2(1, _loaded(backup), backup).solved is True
    out = capsys.readouterr().out
    assert out.startswith("✅ Exercise 4.2 (read a backup back) solved. The backup holds 1 epoch")
    assert "(step 20)" in out


def test_exercise_2_placeholder(backup, capsys):
    assert nb04.exercise_2(None, None, backup).solved is False
    assert nb04.exercise_2(1, None, backup).solved is False
    out = capsys.readouterr().out.splitlines()
    assert "not solved yet: set `epochs_done`" in out[0]
    assert "not solved yet: set `restored`" in out[1]


def test_exercise_2_finished_fit_left_no_backup(tmp_path, capsys):
    assert nb04.exercise_2(1, digits_mlp(), tmp_path / "gone").solved is False
    assert "a `fit` that finishes deletes it" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("epochs_done", "restored", "hint"),
    [
        (0, "loaded", "training_metadata.json says 1"),
        ("1", "loaded", "should be a whole number"),
        (1, "fresh", "The weights differ from latest.weights.h5"),
        (1, "unbuilt", "the optimizer is at step 0, not 20: build the optimizer *before*"),
        (1, "a file name", "should be the Keras model"),
    ],
)
def test_exercise_2_wrong_answers(backup, capsys, epochs_done, restored, hint):
    models = {
        "loaded": lambda: _loaded(backup),
        "fresh": digits_mlp,
        "unbuilt": lambda: _loaded(backup, build=False),
    }
    if restored == "unbuilt":  # Keras warns, and the check names the cause
        with pytest.warns(UserWarning, match="Skipping variable loading for optimizer"):
            model = models[restored]()
    else:
        model = models[restored]() if restored in models else restored
    assert nb04.exercise_2(epochs_done, model, backup).solved is False
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 4.2") and hint in out


# --- The habit: what the answer cell did, not only what it produced (issue 22) ----------------


def test_exercise_1_accepts_the_solution_and_another_correct_answer(capsys, model):
    assert nb04.exercise_1(3, HISTORY, model, source=solution("04", "accuracy_epoch"))
    other = (
        "accuracies = history['val_accuracy']\n"
        "accuracy_epoch = 1 + max(range(len(accuracies)), key=accuracies.__getitem__)\n"
    )
    assert nb04.exercise_1(3, HISTORY, model, source=other)


@pytest.mark.parametrize(
    ("answer", "source", "hint"),
    [
        (3, "accuracy_epoch = 3\n", "`accuracy_epoch` is typed in"),  # typed in
        (3, "accuracy_epoch = int(np.argmax(accs)) + 1\n", "read `history"),  # a step skipped
        (  # the forbidden shortcut: train again with a real ModelCheckpoint
            3,
            "model.fit(x, y, callbacks=[keras.callbacks.ModelCheckpoint('b.keras')])\n"
            "accuracy_epoch = len(history['val_accuracy']) - 2\n",
            "training again, a new `ModelCheckpoint`",
        ),
        (  # an object from an earlier cell: section 1's best epoch by val_loss
            4,
            "accuracy_epoch = int(np.argmin(history['val_loss'])) + 1\n",
            "has the lowest val_loss",
        ),
    ],
)
def test_exercise_1_rejects_answers_that_skip_the_habit(rejected, model, answer, source, hint):
    assert hint in rejected(nb04.exercise_1(answer, HISTORY, model, source=source))


def test_exercise_2_accepts_the_solution_and_another_correct_answer(backup, capsys):
    assert nb04.exercise_2(1, _loaded(backup), backup, source=solution("04", "epochs_done"))
    other = (
        "with open(exercise_backup / 'training_metadata.json') as f:\n"
        "    epochs_done = json.load(f)['epoch']\n"
        "restored = keras.models.clone_model(digits_mlp())\n"
        "restored.compile(optimizer='adam', loss='sparse_categorical_crossentropy')\n"
        "restored.optimizer.build(restored.trainable_variables)\n"
        "restored.load_weights(exercise_backup / 'latest.weights.h5')\n"
    )
    assert nb04.exercise_2(1, _loaded(backup), backup, source=other)


@pytest.mark.parametrize(
    ("restored", "source", "hint"),
    [
        ("loaded", "epochs_done = 1\nrestored.load_weights(f)\n", "`epochs_done` is typed in"),
        (  # a step skipped: the answer does not come from the metadata file
            "loaded",
            "epochs_done = len(list(folder.iterdir())) - 1\nrestored.load_weights(f)\n",
            "Read `epochs_done` from the backup's `training_metadata.json`",
        ),
        (  # the forbidden shortcut: the kit's own training helpers
            "loaded",
            "helpers.training.run_in_child(b, m, interrupt_after=1)\n"
            "epochs_done = json.loads((b / 'training_metadata.json').read_text())['epoch']\n",
            "The kit's training and checkpoint helpers are off limits",
        ),
        ("section 2", None, "The weights differ from latest.weights.h5"),  # an earlier object
    ],
)
def test_exercise_2_rejects_answers_that_skip_the_habit(backup, rejected, restored, source, hint):
    models = {"loaded": lambda: _loaded(backup), "section 2": _trained_elsewhere}
    assert hint in rejected(nb04.exercise_2(1, models[restored](), backup, source=source))


def _trained_elsewhere():
    """Section 2's `from_weights`: a built optimizer and other weights than the backup's."""
    model = digits_mlp()
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(49)
    return model
