"""The installed Keras must have every model-loading security fix (notebook 12, section 1).

Fails when the environment holds a Keras older than ``LAST_FIXED_KERAS`` (3.15.1): TensorFlow
alone only requires ``keras>=3.12``, which still has known model-loading advisories. The last
tests check what the floor's release fixed, on the installed Keras (release notes of 3.15.1:
https://github.com/keras-team/keras/releases/tag/v3.15.1).
"""

from __future__ import annotations

import io
import zipfile
from importlib.metadata import version

import h5py
import numpy as np
import pytest
from packaging.version import Version

from helpers.custom_objects import LAST_FIXED_KERAS, check_keras_version
from helpers.kit.paths import repo_root


def test_floor_is_3_15_1():
    assert LAST_FIXED_KERAS == "3.15.1"


def test_installed_keras_has_the_last_security_fix():
    installed = version("keras")
    assert Version(installed) >= Version(LAST_FIXED_KERAS), (
        f"keras {installed} is older than {LAST_FIXED_KERAS}: upgrade it (requirements.txt pins it)"
    )
    assert check_keras_version() == installed


def test_older_versions_are_refused():
    for older in ("3.15.0", "3.15.1rc1", "3.13.2"):
        with pytest.raises(RuntimeError, match=r"older than 3\.15\.1"):
            check_keras_version(older)


def test_pin_is_at_least_the_last_fixed_version():
    pins = [
        line.split("==", 1)[1].strip()
        for line in (repo_root() / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.startswith("keras==")
    ]
    assert len(pins) == 1, "requirements.txt must pin keras exactly once"
    assert Version(pins[0]) >= Version(LAST_FIXED_KERAS)


def test_lambda_from_config_is_refused_outside_load_model():
    """CVE-2026-12481: no Lambda bytecode is rebuilt without an explicit opt-out."""
    import keras

    inputs = keras.Input(shape=(2,))
    layer = keras.layers.Lambda(lambda x: x + 1.0)
    keras.Model(inputs, layer(inputs))
    with pytest.raises(ValueError, match="Lambda"):
        keras.layers.Lambda.from_config(layer.get_config())


def test_3_15_1_checks_every_intermediate_hdf5_group(tmp_path):
    """keras#23168: a soft link half-way down a weights path is refused, not followed."""
    from keras.src.saving import saving_lib

    path = tmp_path / "linked.h5"
    with h5py.File(path, "w") as handle:
        handle.create_group("elsewhere/dense").create_dataset("0", data=np.zeros(2))
        handle["layers"] = h5py.SoftLink("/elsewhere")
    with h5py.File(path, "r") as handle, pytest.raises(ValueError, match=r"Not allowed.*SoftLink"):
        saving_lib.safe_get_h5_group(handle, "layers/dense")


def test_3_15_1_refuses_decompression_bombs_among_extracted_members():
    """keras#23101: a member expanding more than 100x past 256 MiB is refused before extraction."""
    from keras.src.saving import saving_lib

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("assets/zeros.bin", bytes(300 << 20))
    with zipfile.ZipFile(buffer) as archive, pytest.raises(ValueError, match="decompression bomb"):
        saving_lib._reject_zip_extract_bomb(archive)
