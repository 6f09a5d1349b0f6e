"""One-call notebook setup: quiet logs, seeds, op determinism, an artifacts folder.

Serves every notebook.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from helpers.kit import paths

SEED = 0
KERNEL_NAME = "tf-saving-kit"

# Where Keras, IPython, Jupyter and matplotlib would otherwise write under the home folder.
HOME_REDIRECTS = (
    "KERAS_HOME",
    "IPYTHONDIR",
    "JUPYTER_CONFIG_DIR",
    "JUPYTER_DATA_DIR",
    "JUPYTER_RUNTIME_DIR",
    "MPLCONFIGDIR",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "npm_config_cache",  # Playwright's Node driver (browser test) writes npm logs there
    # pip runs `rustc --version` for its user agent when rustc is on the PATH; a rustup proxy
    # then writes settings.toml under RUSTUP_HOME (~/.rustup by default).
    "RUSTUP_HOME",
)


def init(notebook: str, *, seed: int = SEED) -> Path:
    """Prepare a notebook: call once, in its setup cell.

    Silences TensorFlow's Python logs, seeds Python, NumPy and TensorFlow, turns on op
    determinism (so every run trains the same weights), runs each op on one thread (so the
    results do not depend on the number of cores), shortens warnings to one line, and
    returns the notebook's own folder under ``artifacts/``, emptied, so that running the
    notebook twice gives the same result. It also sets ``$KIT_ARTIFACTS_DIR`` to the kit's
    ``artifacts/`` folder, where the notebook's "whole recipe" cell writes.
    """
    quiet_tensorflow()
    seed_everything(seed)
    short_warnings()
    # "The whole recipe" cells write under $KIT_ARTIFACTS_DIR (``artifacts/`` when run alone).
    os.environ[paths.ARTIFACTS_ENV] = str(paths.artifacts_root())
    return paths.notebook_artifacts(notebook, clean=True)


def quiet_tensorflow() -> None:
    """Hide TensorFlow's own Python INFO logs (``Assets written to: ...`` and the like).

    Keras's warnings (absl logging and ``warnings.warn``) stay on: they teach something.
    """
    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)


def seed_everything(seed: int = SEED) -> None:
    """Seed every random generator, make ops deterministic and single-threaded."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)  # Python's random, NumPy and TensorFlow
    tf.config.experimental.enable_op_determinism()
    if tf.config.threading.get_intra_op_parallelism_threads() != 1:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
        except RuntimeError as error:  # the TensorFlow runtime had already started
            raise RuntimeError(
                "helpers.kit.setup.init() must run before TensorFlow executes anything: "
                "restart the kernel and run the setup cell first"
            ) from error


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    return f"{category.__name__}: {message}\n"


def short_warnings() -> None:
    """Show warnings as ``Category: message``, without the installation's file paths."""
    warnings.formatwarning = _one_line_warning


def isolated_home_env(base: Path) -> dict[str, str]:
    """Environment variables that send every tool's home-folder writes under ``base``."""
    return {name: str(base / name.lower()) for name in HOME_REDIRECTS}


def environment_report() -> str:
    """The versions this notebook runs on, one line (checked by the output comparison)."""
    import keras
    import numpy as np
    import tensorflow as tf

    return (
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, NumPy {np.__version__}, "
        f"TF_CPP_MIN_LOG_LEVEL={os.environ.get('TF_CPP_MIN_LOG_LEVEL')}"
    )
