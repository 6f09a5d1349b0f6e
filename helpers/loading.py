"""Load saved models with clear errors: check the files first, then load.

:func:`load_savedmodel` never calls ``tf.saved_model.load`` on a folder it has not checked:
the folder, ``saved_model.pb`` (parsed, not run), the variables index and every variable value
(with its checksum) are read first, and whatever is wrong is reported as an
:class:`~helpers.errors.ArtifactError` naming the path and the problem, instead of a TensorFlow
error from deep inside the loader.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from helpers.errors import ArtifactError, NotASavedModelError
from helpers.inspection import (
    SignatureInfo,
    keras_archive_members,
    require_savedmodel,
    savedmodel_signatures,
)

VARIABLES_PREFIX = Path("variables") / "variables"
_SHARD = re.compile(r"^variables\.data-(\d{5})-of-(\d{5})$")


class SavedModelLoadError(ArtifactError):
    """The files looked complete, but TensorFlow (or Keras) could not load them."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _check_shards(root: Path) -> None:
    """Every ``variables.data-NNNNN-of-MMMMM`` shard the names promise is present."""
    names = sorted(child.name for child in (root / "variables").iterdir())
    shards = [match for name in names if (match := _SHARD.match(name))]
    if not shards:
        raise NotASavedModelError(
            root, "variables/ has an index but no variables.data-* file (partial copy?)"
        )
    total = int(shards[0].group(2))
    present = {int(match.group(1)) for match in shards}
    missing = [f"variables.data-{n:05d}-of-{total:05d}" for n in range(total) if n not in present]
    if missing:
        raise NotASavedModelError(root, f"variables/ lacks {', '.join(missing)} (partial copy?)")


def _check_variables(root: Path, *, read_values: bool) -> int:
    """Open the variables index and (optionally) read every value; return the entry count."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(root / VARIABLES_PREFIX))
        keys = sorted(reader.get_variable_to_shape_map())
    except (tf.errors.OpError, ValueError) as error:
        raise NotASavedModelError(
            root, f"variables/variables.index is unreadable ({_first_line(error)})"
        ) from error
    if not read_values:
        return len(keys)
    for key in keys:
        try:
            reader.get_tensor(key)
        except IndexError as error:  # "Read less bytes than requested"
            raise NotASavedModelError(
                root,
                "variables/variables.data-* is shorter than variables.index says (truncated copy?)",
            ) from error
        except tf.errors.OpError as error:
            if "checksum" in str(error).lower():
                problem = f"variables/variables.data-* is corrupt (checksum mismatch in {key!r})"
            else:
                problem = f"cannot read variable {key!r} ({_first_line(error)})"
            raise NotASavedModelError(root, problem) from error
    return len(keys)


def check_savedmodel(
    path: str | os.PathLike[str], *, read_values: bool = True
) -> list[SignatureInfo]:
    """Check a SavedModel folder without loading it; return its signatures.

    Checks, in order: the folder and its required files exist and are not empty, every data
    shard is present, ``saved_model.pb`` parses, the variables index opens and, with
    ``read_values`` (the default), every variable value reads back with a valid checksum
    (one extra read of the variables). Raises :class:`~helpers.errors.ArtifactError`
    subclasses naming the path and the problem.
    """
    root = require_savedmodel(path)
    _check_shards(root)
    signatures = savedmodel_signatures(root)
    _check_variables(root, read_values=read_values)
    return signatures


def load_savedmodel(path: str | os.PathLike[str], *, read_values: bool = True) -> Any:
    """:func:`check_savedmodel`, then ``tf.saved_model.load``; errors name path and problem."""
    import tensorflow as tf

    check_savedmodel(path, read_values=read_values)
    try:
        return tf.saved_model.load(str(path))
    except (tf.errors.OpError, OSError, ValueError, IndexError, KeyError) as error:
        raise SavedModelLoadError(
            path, f"TensorFlow could not load it: {type(error).__name__}: {_first_line(error)}"
        ) from error


def signature(loaded: Any, name: str = "serving_default") -> Any:
    """The signature ``name`` of a loaded SavedModel; the error lists the available ones."""
    signatures = getattr(loaded, "signatures", None)
    if signatures is None:
        raise TypeError(f"{type(loaded).__name__} is not a loaded SavedModel (no .signatures)")
    if name not in signatures:
        available = ", ".join(sorted(signatures)) or "none"
        raise KeyError(f"no signature {name!r} in this SavedModel (available: {available})")
    return signatures[name]


def load_keras(path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """Check a ``.keras`` archive's members, then ``keras.models.load_model(path, **kwargs)``.

    Keyword arguments (``safe_mode``, ``custom_objects``, ``compile``) go to Keras unchanged;
    Keras's own refusals (for example ``safe_mode``) are re-raised as
    :class:`SavedModelLoadError` naming the file.
    """
    import keras

    keras_archive_members(path)  # raises NotAKerasArchiveError / ArtifactNotFoundError
    try:
        return keras.models.load_model(path, **kwargs)
    except (ValueError, TypeError, OSError, KeyError) as error:
        raise SavedModelLoadError(
            path, f"Keras could not load it: {type(error).__name__}: {_first_line(error)}"
        ) from error
