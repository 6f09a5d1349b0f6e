"""The kit's reference model: notebook 01's digits MLP, trained once and cached.

Notebooks that need a trained model (reload, formats, ...) call :func:`reference_model`.
The first call trains it in a child process (the ``build-reference`` task of
:mod:`helpers.kit.child`, :func:`build` here), so the calling
notebook's random state and Keras's layer-name counters are the same whether or not the cache
existed; later calls reuse ``artifacts/cache/``. The cache folder is written under a temporary
name and renamed when complete, so a crash or two notebooks building at once never leave a
half-written model behind.

Serves notebooks 01, 03, 06, 09, 10 and 13.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from helpers.artifacts import is_complete_savedmodel
from helpers.errors import ArtifactError
from helpers.kit import paths, runner

MANIFEST = "reference.json"


@dataclass(frozen=True)
class ReferenceModel:
    """Paths of the cached reference model and the facts recorded when it was built."""

    folder: Path
    keras_path: Path  # model.save(...): the .keras archive
    export_dir: Path  # model.export(...): the SavedModel
    test_accuracy: float
    versions: dict[str, str]


def _versions() -> dict[str, str]:
    """The versions the cache is keyed on, read from package metadata (nothing is imported)."""
    return {
        "keras": _installed("keras", "keras-nightly"),
        "numpy": _installed("numpy"),
        "tensorflow": _installed("tensorflow-cpu", "tensorflow", "tf-nightly-cpu", "tf-nightly"),
    }


def _installed(*distributions: str) -> str:
    """The version of the first of ``distributions`` that is installed (a nightly provides
    the same module under another distribution name)."""
    from importlib.metadata import PackageNotFoundError, version

    for distribution in distributions:
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    raise RuntimeError(f"none of {', '.join(distributions)} is installed")


def cache_folder() -> Path:
    """``artifacts/cache/digits_mlp-tf<version>-keras<version>``: new versions rebuild."""
    versions = _versions()
    name = f"digits_mlp-tf{versions['tensorflow']}-keras{versions['keras']}"
    return paths.artifacts_root() / "cache" / name


def _is_complete(folder: Path) -> bool:
    return (
        (folder / MANIFEST).is_file()
        and (folder / "digits_mlp.keras").is_file()
        and is_complete_savedmodel(folder / "export")
    )


def _load(folder: Path) -> ReferenceModel:
    manifest = json.loads((folder / MANIFEST).read_text())
    return ReferenceModel(
        folder=paths.relative(folder),
        keras_path=paths.relative(folder / "digits_mlp.keras"),
        export_dir=paths.relative(folder / "export"),
        test_accuracy=manifest["test_accuracy"],
        versions=manifest["versions"],
    )


def reference_model(timeout: float = 600) -> ReferenceModel:
    """The cached reference model, building it first (in a child process) if needed."""
    folder = cache_folder()
    if not _is_complete(folder):
        shutil.rmtree(folder, ignore_errors=True)  # a damaged cache is rebuilt, not trusted
        folder.parent.mkdir(parents=True, exist_ok=True)
        result = runner.run(
            runner.Spec(task="build-reference", args=[folder], timeout=timeout), check=False
        )
        if not result.ok or not _is_complete(folder):
            raise ArtifactError(folder, f"building the reference model failed: {result.failure()}")
    return _load(folder)


def build(folder: Path) -> None:
    """Train, save and export the reference model into ``folder``, atomically."""
    import keras

    from helpers.kit.data import load_digits
    from helpers.kit.models import train_digits_mlp
    from helpers.kit.setup import quiet_tensorflow, seed_everything

    quiet_tensorflow()
    seed_everything()
    building = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.building-"))
    try:
        digits = load_digits()
        model, _ = train_digits_mlp(digits)
        model.save(building / "digits_mlp.keras")
        model.export(building / "export", verbose=False)
        _, accuracy = model.evaluate(digits.x_test, digits.y_test, verbose=0)
        manifest = {"test_accuracy": float(accuracy), "versions": _versions()}
        (building / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        keras.backend.clear_session()
        try:
            os.rename(building, folder)
        except OSError:
            if not (folder / MANIFEST).is_file():  # not a finished build by another process
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
