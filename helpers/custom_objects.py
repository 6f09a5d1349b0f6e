"""A custom layer and a custom model that save and reload (notebook 05), and the Keras floor.

Both classes are registered with ``@keras.saving.register_keras_serializable(package=...)``
*when this module is imported*. A ``.keras`` file only stores their registered names
(``tf_saving_kit>ResidualDense``), never their code: a process that loads the file must import
this module first (or pass the classes in ``custom_objects=``).

Serves notebooks 05 and 12.
"""

from __future__ import annotations

from typing import Any

import keras

PACKAGE = "tf_saving_kit"

# The kit's minimum Keras for loading files from others: every model-loading advisory fix in
# notebook 12's table is in 3.15.0 or earlier; the kit pins and requires 3.15.1, the newest.
LAST_FIXED_KERAS = "3.15.1"


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResidualDense(keras.layers.Layer):
    """``x + activation(x @ kernel + bias)``: a dense layer with a skip connection.

    The output has the width of the input, so several can be stacked.
    """

    def __init__(self, activation: Any = "relu", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        width = input_shape[-1]
        self.kernel = self.add_weight(shape=(width, width), initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(width,), initializer="zeros")

    def call(self, inputs: Any) -> Any:
        return inputs + self.activation(keras.ops.matmul(inputs, self.kernel) + self.bias)

    def get_config(self) -> dict[str, Any]:
        """Everything ``__init__`` needs, as JSON-friendly values (here: the activation's name)."""
        return {**super().get_config(), "activation": keras.activations.serialize(self.activation)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ResidualDense:
        """Turn the saved values back into objects, then call ``__init__`` with them."""
        config = dict(config)
        config["activation"] = keras.activations.deserialize(config["activation"])
        return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class DigitsResNet(keras.Model):
    """A subclassed model: project the 64 pixels, ``blocks`` residual layers, 10 classes."""

    def __init__(self, hidden_units: int = 32, blocks: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if hidden_units < 1 or blocks < 0:
            raise ValueError(
                f"need hidden_units >= 1 and blocks >= 0, got {hidden_units}, {blocks}"
            )
        self.hidden_units = hidden_units
        self.blocks = blocks
        self.project = keras.layers.Dense(hidden_units, activation="relu", name="project")
        self.residual = [ResidualDense(name=f"residual_{i}") for i in range(blocks)]
        self.classify = keras.layers.Dense(10, activation="softmax", name="probabilities")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.project.build(input_shape)
        hidden_shape = (*input_shape[:-1], self.hidden_units)
        for layer in self.residual:
            layer.build(hidden_shape)
        self.classify.build(hidden_shape)

    def call(self, inputs: Any) -> Any:
        x = self.project(inputs)
        for layer in self.residual:
            x = layer(x)
        return self.classify(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "hidden_units": self.hidden_units, "blocks": self.blocks}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DigitsResNet:
        return cls(**config)


def digits_resnet(hidden_units: int = 32, blocks: int = 2) -> DigitsResNet:
    """A built, called and compiled :class:`DigitsResNet` (Adam, sparse cross-entropy)."""
    model = DigitsResNet(hidden_units, blocks, name="digits_resnet")
    model(keras.ops.zeros((1, 64)))  # builds the weights; an unused model can then be exported
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.optimizer.build(model.trainable_variables)  # saved before training, it reloads quietly
    return model


def check_keras_version(installed: str | None = None) -> str:
    """Raise ``RuntimeError`` if Keras (or ``installed``) is older than :data:`LAST_FIXED_KERAS`.

    Pre-releases count as older (``3.15.0rc1 < 3.15.0``). Returns the version checked.
    """
    from packaging.version import InvalidVersion, Version  # a TensorFlow dependency

    installed = installed or keras.__version__
    try:
        too_old = Version(installed) < Version(LAST_FIXED_KERAS)
    except InvalidVersion as error:
        raise ValueError(f"not a version number: {installed!r}") from error
    if too_old:
        raise RuntimeError(
            f"Keras {installed} is older than {LAST_FIXED_KERAS}, the kit's pinned minimum (every "
            "model-loading advisory fix the kit knows is in 3.15.0 or earlier): upgrade before "
            "loading files from others"
        )
    return installed
