from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.kit import reference, setup


def test_importing_helpers_sets_tensorflow_log_variables_first():
    code = (
        "import os, sys; import helpers; "
        "assert 'tensorflow' not in sys.modules, 'import helpers must not import TF'; "
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "0"]


def test_tensorflow_import_after_helpers_is_silent():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    out = subprocess.run(
        [sys.executable, "-c", "import helpers, tensorflow"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_isolated_home_env_covers_every_tool(tmp_path):
    env = setup.isolated_home_env(tmp_path)
    assert set(env) == set(setup.HOME_REDIRECTS)
    assert all(Path(value).parent == tmp_path for value in env.values())


def test_init_is_deterministic_in_fresh_processes(tmp_path):
    code = (
        "import helpers; helpers.kit.setup.init('00_test'); import tensorflow as tf, keras; "
        "m = helpers.kit.models.digits_mlp(); print(float(tf.reduce_sum(m.weights[0]))); "
        "print(tf.config.threading.get_intra_op_parallelism_threads())"
    )
    env = dict(os.environ, KIT_ARTIFACTS_DIR=str(tmp_path))
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        for _ in range(2)
    ]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    assert runs[0].stdout.split()[1] == "1"
    assert (tmp_path / "00_test").is_dir()


def test_reference_model_is_built_once_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_ARTIFACTS_DIR", str(tmp_path))
    built = reference.reference_model()
    assert built.keras_path.is_file() and (built.export_dir / "saved_model.pb").is_file()
    assert 0.9 < built.test_accuracy <= 1.0
    assert not [p for p in built.folder.parent.iterdir() if p.name.startswith(".")]
    stamp = built.keras_path.stat().st_mtime_ns
    again = reference.reference_model()
    assert again == built and again.keras_path.stat().st_mtime_ns == stamp


def test_damaged_reference_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_ARTIFACTS_DIR", str(tmp_path))
    folder = reference.cache_folder()
    folder.mkdir(parents=True)
    (folder / reference.MANIFEST).write_text('{"test_accuracy": 0.0, "versions": {}}')
    rebuilt = reference.reference_model()
    assert rebuilt.test_accuracy > 0.9


def test_the_reference_cache_knows_a_nightly_stack(monkeypatch):
    """tf-nightly and keras-nightly install the same modules under other distribution names."""
    import importlib.metadata

    installed = {"tf-nightly": "2.23.0.dev1", "keras-nightly": "3.16.0.dev1", "numpy": "2.4.6"}

    def version(name):
        if name not in installed:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(importlib.metadata, "version", version)
    assert reference._versions() == {
        "keras": "3.16.0.dev1", "numpy": "2.4.6", "tensorflow": "2.23.0.dev1"
    }  # fmt: skip
    assert reference.cache_folder().name == "digits_mlp-tf2.23.0.dev1-keras3.16.0.dev1"
    del installed["tf-nightly"]
    with pytest.raises(RuntimeError, match="tf-nightly is installed"):
        reference._versions()
