"""helpers.custom_objects: the custom layer and model save, register and reload."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers import custom_objects  # helpers first: it quiets TensorFlow before TF is imported
from helpers.custom_objects import PACKAGE, DigitsResNet, ResidualDense, digits_resnet


def test_classes_are_registered_under_the_package():
    import keras

    for cls in (ResidualDense, DigitsResNet):
        name = f"{PACKAGE}>{cls.__name__}"
        assert keras.saving.get_registered_name(cls) == name
        assert keras.saving.get_registered_object(name) is cls


def test_residual_dense_config_round_trip():
    import keras

    layer = ResidualDense(activation="tanh", name="block")
    config = layer.get_config()
    assert config["activation"] == "tanh"
    json.dumps(config)  # JSON-friendly
    clone = ResidualDense.from_config(config)
    assert clone.name == "block" and clone.activation is keras.activations.tanh


def test_residual_dense_keeps_width_and_adds_the_input():
    layer = ResidualDense(name="block")
    x = np.ones((2, 5), dtype=np.float32)
    layer.build(x.shape)
    layer.kernel.assign(np.zeros((5, 5), dtype=np.float32))
    np.testing.assert_array_equal(np.asarray(layer(x)), x)  # relu(0) = 0: only the skip remains


def test_model_saves_and_reloads_bit_identically(tmp_path: Path):
    import keras

    model = digits_resnet(hidden_units=8, blocks=1)
    x = np.random.default_rng(0).random((4, 64), dtype=np.float32)
    path = tmp_path / "resnet.keras"
    model.save(path)
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    assert config["registered_name"] == f"{PACKAGE}>DigitsResNet"
    assert config["config"]["hidden_units"] == 8 and config["config"]["blocks"] == 1
    reloaded = keras.models.load_model(path)
    assert type(reloaded) is DigitsResNet and len(reloaded.residual) == 1
    np.testing.assert_array_equal(model.predict(x, verbose=0), reloaded.predict(x, verbose=0))


def test_model_rejects_bad_sizes():
    with pytest.raises(ValueError, match="hidden_units"):
        DigitsResNet(hidden_units=0)
    with pytest.raises(ValueError, match="blocks"):
        DigitsResNet(blocks=-1)


def test_check_keras_version_accepts_fixed_and_refuses_older():
    assert custom_objects.check_keras_version("3.15.1") == "3.15.1"
    assert custom_objects.check_keras_version("3.16.2") == "3.16.2"
    for old in ("3.15.0", "3.14.0", "3.9.2", "3.15.1rc1", "2.15.0"):
        with pytest.raises(RuntimeError, match="older than"):
            custom_objects.check_keras_version(old)
    with pytest.raises(ValueError, match="not a version"):
        custom_objects.check_keras_version("three")


@pytest.fixture
def without_registration():
    """Keras's global registry without this kit's classes, as in a process that never imported
    helpers.custom_objects; restored afterwards."""
    import keras

    registry = keras.saving.get_custom_objects()
    ours = {name: registry.pop(name) for name in list(registry) if name.startswith(f"{PACKAGE}>")}
    assert ours, "the kit's classes should be registered on import"
    try:
        yield
    finally:
        registry.update(ours)


def test_custom_objects_key_is_the_registered_name(tmp_path: Path, without_registration):
    import keras

    path = tmp_path / "resnet.keras"
    digits_resnet(hidden_units=8, blocks=1).save(path)
    with pytest.raises(TypeError, match="Could not locate class 'DigitsResNet'"):
        keras.models.load_model(path)
    by_class_name = {"DigitsResNet": DigitsResNet, "ResidualDense": ResidualDense}
    with pytest.raises(TypeError, match="Could not locate class"):
        keras.models.load_model(path, custom_objects=by_class_name)
    by_registered_name = {f"{PACKAGE}>{name}": cls for name, cls in by_class_name.items()}
    assert type(keras.models.load_model(path, custom_objects=by_registered_name)) is DigitsResNet
