"""The checks' test doubles, built on :mod:`unittest.mock`: stand-ins for what a learner's code
works on, and spies on what it does.

- :func:`fake_version`: a SavedModel-shaped version folder (small files, optionally a manifest)
  that no TensorFlow needs to write or read.
- :func:`fake_model`: a stand-in Keras model whose ``export`` writes such a folder, looks at the
  versions folder half-way the way a polling server would (``model.reader_saw``), and can fail
  like a full disk; :func:`exports` lists the folders it was asked to write.
- :func:`watch_disk`: every ``os.fsync``, ``os.sync``, ``os.rename`` and ``os.replace`` in a
  block, in order (the real functions still run).
- :func:`spy_saved_model_load`: every ``tf.saved_model.load`` in a block, with the errors it
  raised itself marked.
- :func:`spy_signature` and :func:`batch_sizes`: a signature that records the batches sent
  through it.

Serves the checks of notebooks 01, 03 and 09.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from helpers.checks.core import Hint
from helpers.errors import ArtifactError

SAVEDMODEL_FILES = (
    "fingerprint.pb",
    "saved_model.pb",
    "variables/variables.data-00000-of-00001",
    "variables/variables.index",
)
#: The files that make a SavedModel folder complete (helpers.artifacts.is_complete_savedmodel).
COMPLETE_FILES = SAVEDMODEL_FILES[1:]


# --- stand-ins ------------------------------------------------------------------------------


def _write_files(folder: Path, names: tuple[str, ...], seed: int) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(f"{name} {seed}\n".encode() * 64)


def fake_version(
    folder: Path,
    files: tuple[str, ...] = SAVEDMODEL_FILES,
    *,
    seed: int = 0,
    manifest: bool = True,
) -> Path:
    """A stand-in for a published version in the new folder ``folder``: ``files`` (small, their
    content depends on ``seed``) and, with ``manifest``, a manifest that matches them."""
    folder.mkdir(parents=True)
    _write_files(folder, files, seed)
    if manifest:
        from helpers import integrity

        integrity.write_manifest(folder)
    return folder


def fake_model(base: Path, *, fail: bool = False) -> mock.NonCallableMock:
    """Stands in for a Keras model (no TensorFlow): ``export`` writes a small SavedModel-shaped
    folder; ``save`` raises a :class:`Hint` (a .keras file is not what is asked for);
    ``predict`` returns zeros. Any other attribute is an ``AttributeError``.

    Half-way through an export it looks at ``base`` the way a polling server would, and appends
    what ``latest_complete_savedmodel`` returned to ``model.reader_saw``. With ``fail=True`` the
    export then raises, as a full disk would.
    """
    from helpers import artifacts

    model = mock.NonCallableMock(spec=["export", "save", "predict", "reader_saw"], name="model")
    model.reader_saw = []

    def export(filepath: Any, format: str = "tf_saved_model", **kwargs: Any) -> None:
        folder, seed = Path(filepath), model.export.call_count
        folder.mkdir(parents=True, exist_ok=True)
        _write_files(folder, COMPLETE_FILES, seed)
        try:
            model.reader_saw.append(artifacts.latest_complete_savedmodel(base).name)
        except ArtifactError:
            model.reader_saw.append("nothing")
        if fail:
            raise OSError(28, "No space left on device (simulated)")
        _write_files(folder, SAVEDMODEL_FILES[:1], seed)

    def predict(inputs: Any, verbose: Any = None) -> Any:
        import numpy as np

        return np.zeros((len(inputs), 10), "float32")

    model.export.side_effect = export
    model.save.side_effect = Hint(
        "publish a SavedModel with `model.export(temp, verbose=False)`; "
        "`model.save` writes a .keras file"
    )
    model.predict.side_effect = predict
    return model


def exports(model: mock.NonCallableMock) -> list[Path]:
    """The folders ``model.export`` was asked to write (resolved), first to last."""
    return [
        Path(call.args[0] if call.args else call.kwargs["filepath"]).resolve()
        for call in model.export.call_args_list
    ]


# --- spies ----------------------------------------------------------------------------------


@dataclass
class DiskEvents:
    """What a piece of code did to the disk: flushed paths and renamed folders, in order."""

    log: list[tuple[str, Path | None]] = field(default_factory=list)  # ("fsync", path)...
    renames: list[tuple[int, Path, Path, list[str], bool]] = field(default_factory=list)
    # (position in log, source, target, files in source, manifest matched at the rename)


#: Linux names the file behind a descriptor; elsewhere the checks count the flushes instead.
FD_PATHS = Path("/proc/self/fd").is_dir()


def _fd_path(descriptor: int) -> Path | None:
    return Path(os.readlink(f"/proc/self/fd/{descriptor}")) if FD_PATHS else None


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def manifest_matches(folder: Path) -> bool:
    """Whether ``folder`` has a manifest that matches its files."""
    from helpers import integrity

    try:
        integrity.verify_manifest(folder)
    except ArtifactError:
        return False
    return True


@contextlib.contextmanager
def watch_disk() -> Iterator[DiskEvents]:
    """Record every ``os.fsync``, ``os.sync``, ``os.rename`` and ``os.replace`` in the block
    (each patched with ``wraps=``: the real one runs right after it is recorded)."""
    events = DiskEvents()

    def fsync(descriptor: int) -> Any:
        events.log.append(("fsync", _fd_path(descriptor)))
        return mock.DEFAULT

    def sync() -> Any:  # flushes everything
        events.log.append(("sync", None))
        return mock.DEFAULT

    def rename(source: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
        source_path, target_path = Path(source).resolve(), Path(target).resolve()
        if source_path.is_dir():  # what the folder held just before it was renamed
            events.renames.append(
                (
                    len(events.log),
                    source_path,
                    target_path,
                    _files(source_path),
                    manifest_matches(source_path),
                )
            )
        events.log.append(("rename", target_path))
        return mock.DEFAULT

    watched = {"fsync": fsync, "rename": rename, "replace": rename, "sync": sync}
    with contextlib.ExitStack() as stack:
        for name, record in watched.items():
            if hasattr(os, name):  # no os.sync on Windows
                real = getattr(os, name)
                stack.enter_context(mock.patch.object(os, name, wraps=real, side_effect=record))
        yield events


@contextlib.contextmanager
def spy_saved_model_load() -> Iterator[list[Path]]:
    """Record the folder of every ``tf.saved_model.load`` call inside the block, and mark an
    error that ``tf.saved_model.load`` itself raised (TensorFlow's own checks) with
    ``raised_by_saved_model_load``."""
    import tensorflow as tf

    calls: list[Path] = []
    original = tf.saved_model.load

    def load(export_dir: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(Path(export_dir).resolve())
        try:
            return original(export_dir, *args, **kwargs)
        except Exception as error:
            error.raised_by_saved_model_load = True  # type: ignore[attr-defined]
            raise

    with mock.patch.object(tf.saved_model, "load", side_effect=load):
        yield calls


def spy_signature(signature: Any) -> mock.Mock:
    """Stands in for a signature: calls the real one (``wraps=``) and records each call, so a
    check sees which batches the learner's function really sent (:func:`batch_sizes`). Its
    input and output structure are the real signature's; it has no other attribute."""
    return mock.Mock(
        spec=["structured_input_signature", "structured_outputs"],
        wraps=signature,
        structured_input_signature=signature.structured_input_signature,
        structured_outputs=signature.structured_outputs,
    )


def batch_sizes(spy: mock.Mock) -> set[int]:
    """The batch sizes (first dimensions) of every tensor sent through :func:`spy_signature`."""
    import numpy as np

    return {
        int(np.shape(value)[0])
        for call in spy.call_args_list
        for value in [*call.args, *call.kwargs.values()]
        if np.ndim(value) > 0
    }
