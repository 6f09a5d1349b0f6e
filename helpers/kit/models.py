"""The kit's small digits classifier, built and trained the same way wherever it is needed.

Notebook 01 writes :func:`digits_mlp` out in a cell and trains it there; a unit test
(``tests/test_models.py``) proves the cell and this module are the same code and, from the
same seed, give the same weights. Later notebooks import it from here.

Serves notebooks 04, 08, 09, 11 and 13.
"""

from __future__ import annotations

import keras

from helpers.kit.data import Digits, load_digits

INPUT_NAME = "pixels"  # digits_mlp's input name: the serving signature's input key
EPOCHS = 20
BATCH_SIZE = 32


def digits_mlp(hidden_units: int = 32, dropout: float = 0.0) -> keras.Model:
    """A compiled two-layer MLP for the 64-pixel digits, on a named ``keras.Input``.

    With ``dropout > 0`` a ``Dropout`` layer follows the hidden layer (notebook 04).
    """
    inputs = keras.Input(shape=(64,), name="pixels")  # the name becomes the input key
    hidden = keras.layers.Dense(hidden_units, activation="relu", name="hidden")(inputs)
    if dropout > 0:
        hidden = keras.layers.Dropout(dropout, name="dropout")(hidden)
    outputs = keras.layers.Dense(10, activation="softmax", name="probabilities")(hidden)
    model = keras.Model(inputs, outputs, name="digits_mlp")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def train_digits_mlp(
    digits: Digits | None = None, *, epochs: int = EPOCHS, seed: int = 0
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Build and train :func:`digits_mlp` from ``seed``: the same weights on every run.

    Returns the model and its history (loss and accuracy per epoch, train and validation).
    Notebook 01 runs the same steps in its cells.
    """
    digits = digits or load_digits()
    keras.utils.set_random_seed(seed)  # independent of whatever ran before in the process
    model = digits_mlp()
    history = model.fit(
        digits.x_train,
        digits.y_train,
        validation_data=(digits.x_test, digits.y_test),
        epochs=epochs,
        batch_size=BATCH_SIZE,
        verbose=0,  # progress bars carry timings and control characters
    )
    return model, history.history
