"""The installed Keras must have every model-loading security fix (see notebook 05, section 5).

Fails when the environment holds a Keras older than ``LAST_FIXED_KERAS``: TensorFlow alone only
requires ``keras>=3.12``, which still has known deserialization advisories.
"""

from __future__ import annotations

from importlib.metadata import version

from packaging.version import Version

from helpers.custom_objects import LAST_FIXED_KERAS, check_keras_version
from helpers.paths import repo_root


def test_installed_keras_has_the_last_security_fix():
    installed = version("keras")
    assert Version(installed) >= Version(LAST_FIXED_KERAS), (
        f"keras {installed} is older than {LAST_FIXED_KERAS}: upgrade it (requirements.txt pins it)"
    )
    assert check_keras_version() == installed


def test_pin_is_at_least_the_last_fixed_version():
    pins = [
        line.split("==", 1)[1].strip()
        for line in (repo_root() / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.startswith("keras==")
    ]
    assert len(pins) == 1, "requirements.txt must pin keras exactly once"
    assert Version(pins[0]) >= Version(LAST_FIXED_KERAS)


def test_lambda_from_config_is_refused_outside_load_model():
    """CVE-2026-12481 (fixed in 3.15): no Lambda bytecode is rebuilt without an explicit opt-out."""
    import keras
    import pytest

    inputs = keras.Input(shape=(2,))
    layer = keras.layers.Lambda(lambda x: x + 1.0)
    keras.Model(inputs, layer(inputs))
    with pytest.raises(ValueError, match="Lambda"):
        keras.layers.Lambda.from_config(layer.get_config())
