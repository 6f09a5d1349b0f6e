"""Checks for notebook 05's exercises: custom objects and integrity manifests.

Serves notebook 05.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from helpers.checks.core import Hint, exercise, expect, habit, require

#: Exercise 5.1's habit: read the key from config.json rather than typing it.
HABIT_1 = {
    "computed": {
        "custom_objects_key": "`custom_objects_key` is typed in: read it from the file, the "
        "layer's `registered_name` in `config.json`."
    },
    "required": {r"config\.json": "Read the layer's `registered_name` from `config.json`."},
    "forbidden": {
        r"helpers\.(inspection|checks)": "Read `config.json` yourself (`zipfile` and `json`): the "
        "kit's inspectors and checks are off limits here.",
    },
}
#: Exercise 5.2's habit: catch the errors that really happen, and write the manifest first.
HABIT_2 = {
    "computed": {
        "keras_noticed": "`keras_noticed` is typed in: find out. Call `keras.models.load_model` "
        "on the changed file inside `try`/`except`, and set it from what happened.",
    },
    "required": {
        r"write_manifest\(": "Write the manifest with `helpers.integrity.write_manifest` right "
        "after saving, before you change the byte.",
        r"load_model\(": "Try the changed file with `keras.models.load_model`.",
    },
    "forbidden": {
        r"IntegrityError\(": "Do not build an `IntegrityError` yourself: catch the one "
        "`verify_manifest` raises.",
    },
}


def _one_byte_from_manifest(path: Path, recorded: str) -> bool:
    """Whether changing back the middle byte of ``path`` gives the file its manifest recorded."""
    import hashlib

    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for value in range(256):
        data[middle] = value
        if hashlib.sha256(data).hexdigest() == recorded:
            return True
    return False


def _registered_names(node: Any) -> Iterator[str]:
    """Every ``registered_name`` in a Keras config, at any depth."""
    if isinstance(node, dict):
        name = node.get("registered_name")
        if isinstance(name, str):
            yield name
        for value in node.values():
            yield from _registered_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _registered_names(value)


def _keras_config(path: Path) -> dict[str, Any]:
    expect(path.is_file(), f"`{path.name}` is not a file: save the model with `model.save(path)`.")
    expect(zipfile.is_zipfile(path), f"`{path.name}` is not a .keras archive (a zip file).")
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


@exercise("5.1", "a second package")
def exercise_1(
    team_path: str | os.PathLike[str] | None,
    custom_objects_key: str | None,
    *,
    source: str | None = None,
) -> str:
    """The file holds a class registered under ``my_team``, and the key loads it unregistered.

    ``source``: the answer cell's code (by default the recorded cell that set the answers).
    """
    import keras

    path = Path(require(team_path, "team_path", "the .keras file you saved"))
    key = require(custom_objects_key, "custom_objects_key", "the key for `custom_objects=`")
    habit(source, "custom_objects_key", **HABIT_1)
    names = set(_registered_names(_keras_config(path)))
    team = sorted(name for name in names if name.startswith("my_team>"))
    expect(
        bool(team),
        "No class in the file is registered under `my_team`"
        + (
            " (it holds `tf_saving_kit>ResidualDense`: subclass it and decorate the subclass "
            "with `register_keras_serializable(package='my_team')`)."
            if "tf_saving_kit>ResidualDense" in names
            else ": decorate your class with `register_keras_serializable(package='my_team')`."
        ),
    )
    expect(isinstance(key, str), "`custom_objects_key` should be a string, as in config.json.")
    expect(
        key not in {name.split(">", 1)[1] for name in team},
        f"`{key}` is the bare class name. A registered class is saved under its registered "
        "name, `package>Class`: read `registered_name` in config.json.",
    )
    expect(key in team, f"config.json names {team}, not `{key}`.")
    registry = keras.saving.get_custom_objects()
    expect(
        key in registry,
        f"`{key}` is not registered in this kernel: run the cell that defines your class again.",
    )
    cls = registry.pop(key)  # simulate a process that never ran the decorator
    try:
        try:
            keras.models.load_model(path)
        except TypeError:
            pass
        else:
            raise Hint(
                "The file loads with no `my_team` class registered: use your class in the model."
            )
        keras.models.load_model(path, custom_objects={key: cls})
    finally:
        registry[key] = cls
    return (
        f"Without the registration, `load_model(path, custom_objects={{{key!r}: "
        f"{cls.__name__}}})` loads the file (checked with the class unregistered)."
    )


@exercise("5.2", "catch a one-byte change")
def exercise_2(
    tampered_path: str | os.PathLike[str] | None,
    manifest_error: BaseException | None,
    keras_noticed: bool | None,
    *,
    source: str | None = None,
) -> str:
    """The manifest refuses the changed file; ``keras_noticed`` says what load_model really did.

    ``source``: the answer cell's code (by default the recorded cell that set the answers).
    """
    import keras

    from helpers import integrity

    path = Path(require(tampered_path, "tampered_path", "the .keras file you changed"))
    require(manifest_error, "manifest_error", "the error `verify_manifest` raised")
    require(keras_noticed, "keras_noticed", "True or False")
    expect(path.is_file(), f"`{path.name}` is not a file: save `model` there first.")
    habit(source, "tampered_path", "manifest_error", "keras_noticed", **HABIT_2)
    expect(
        integrity.manifest_path(path).is_file(),
        "There is no manifest next to the file: call `helpers.integrity.write_manifest` right "
        "after saving, before you change the byte.",
    )
    try:
        integrity.verify_manifest(path)
    except integrity.IntegrityError:
        pass
    else:
        raise Hint(
            "The file still matches its manifest: write the manifest first, then change a byte "
            "(a manifest written after the change records the changed file)."
        ) from None
    recorded = integrity.manifest_path(path).read_text().split()[0]
    expect(
        _one_byte_from_manifest(path, recorded),
        f"`{path.name}` differs from the file its manifest recorded by more than its middle byte: "
        "save `model` to a new file, write its manifest, then change only "
        "`data[len(data) // 2]`.",
    )
    expect(
        isinstance(manifest_error, integrity.IntegrityError),
        "`manifest_error` should be the `helpers.integrity.IntegrityError` that "
        "`verify_manifest` raised (catch it and assign the error itself), "
        f"not a {type(manifest_error).__name__}.",
    )
    expect(
        Path(manifest_error.path).resolve() == path.resolve(),  # type: ignore[attr-defined]
        f"That error is about `{Path(manifest_error.path).name}`, not `{path.name}`.",  # type: ignore[attr-defined]
    )
    expect(isinstance(keras_noticed, bool), "`keras_noticed` should be True or False.")
    try:
        keras.models.load_model(path)
        keras_error = None
    except Exception as error:  # any refusal counts as noticing
        keras_error = error
    noticed = keras_error is not None
    expect(
        keras_noticed == noticed,
        "`keras.models.load_model` raises on this file: try it inside `try`/`except`."
        if noticed
        else "`keras.models.load_model` loads this file without an error: it has no record of "
        "what you saved.",
    )
    how = (
        f"`load_model` failed too ({type(keras_error).__name__}: {keras_error}), but only "
        "because the change broke the zip's own CRC for that member; a re-saved file "
        "(section 3) passes that test"
        if noticed
        else "`load_model` did not notice"
    )
    return f"`verify_manifest` refused the file before any loading; {how}."
