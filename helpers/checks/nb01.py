"""Checks for notebook 01's exercises (save and export a trained Keras model)."""

from __future__ import annotations

import os
from pathlib import Path

from helpers import paths
from helpers.checks.core import Hint, exercise, expect, require
from helpers.errors import ArtifactError


def _weights_bytes(folder: Path) -> bytes:
    """The variable values of a SavedModel folder (its ``variables.data-*`` shards, in order)."""
    shards = sorted((folder / "variables").glob("variables.data-*"))
    return b"".join(shard.read_bytes() for shard in shards)


@exercise("1.1", "a third version")
def exercise_1(
    latest_folder: str | os.PathLike[str] | None,
    versions: str | os.PathLike[str],
    crashed: str | os.PathLike[str],
) -> str:
    """``latest_folder``: what ``latest_version(versions)`` returns after a new export."""
    require(latest_folder, "latest_folder", "what helpers.paths.latest_version(versions) returns")
    answer, versions, crashed = Path(latest_folder), Path(versions), Path(crashed)
    expect(
        paths.is_complete_savedmodel(crashed) is False,
        f"Folder {crashed.name} was the crashed export and must stay as it is: publish the new "
        "export with export_version(model, versions), which picks a new number.",
    )
    leftovers = sorted(child.name for child in versions.glob(".*.partial") if child.is_dir())
    expect(
        not leftovers,
        f"{', '.join(leftovers)} is a half-finished publish: export with export_version(model, "
        "versions), which writes the folder under a temporary name and renames it when complete.",
    )
    numbered = paths.version_dirs(versions)
    expect(
        bool(numbered) and numbered[-1][1].resolve() != crashed.resolve(),
        f"There is no version after the crashed folder {crashed.name} yet: train `model`, then "
        "publish it with export_version(model, versions).",
    )
    expect(
        answer.resolve() != crashed.resolve(),
        f"Folder {crashed.name} is the crashed one: latest_version skips incomplete folders "
        "(no saved_model.pb).",
    )
    try:
        expected = paths.latest_version(versions)
    except ArtifactError as error:
        raise Hint(f"helpers.paths.latest_version(versions) finds no version: {error}") from None
    expect(
        paths.is_complete_savedmodel(numbered[-1][1]),
        f"The newest folder, {numbered[-1][1].name}, is incomplete: did the export finish? "
        "Publish it again with export_version(model, versions).",
    )
    expect(
        answer.resolve() == expected.resolve(),
        f"helpers.paths.latest_version(versions) returns folder {expected.name}, not "
        f"{answer.name}: set latest_folder to what it returns.",
    )
    earlier = [
        folder
        for number, folder in numbered
        if number < int(expected.name) and paths.is_complete_savedmodel(folder)
    ]
    if earlier:
        expect(
            _weights_bytes(expected) != _weights_bytes(earlier[-1]),
            f"Version {expected.name} holds exactly the weights of version {earlier[-1].name}: "
            "train `model` for two more epochs before you export it.",
        )
    return (
        f"latest_version returns {paths.show(expected)}. Folder {crashed.name} is skipped (no "
        "saved_model.pb), and export_version never reuses a number, even a broken one."
    )


@exercise("1.2", "name the input")
def exercise_2(
    input_key: str | None,
    unnamed_export: str | os.PathLike[str] | None,
    named_export: str | os.PathLike[str],
) -> str:
    """``input_key``: the ``serving_default`` input key of ``unnamed_export``."""
    from helpers import inspection

    require(unnamed_export, "unnamed_export", "the folder you exported the unnamed copy to")
    require(input_key, "input_key", "the input key of its 'serving_default' signature")
    folder = Path(unnamed_export)
    expect(
        folder.resolve() != Path(named_export).resolve(),
        "unnamed_export is the export of the named model: export the copy into a new folder.",
    )
    try:
        signatures = {info.key: info for info in inspection.savedmodel_signatures(folder)}
    except ArtifactError as error:
        raise Hint(
            f"unnamed_export is not a SavedModel ({error}): export the copy with "
            "copy.export(folder, verbose=False)."
        ) from None
    expect(
        "serving_default" in signatures,
        f"{paths.show(folder)} has no 'serving_default' signature: export it with "
        "model.export(), not tf.saved_model.save().",
    )
    keys = [info.key for info in signatures["serving_default"].inputs]
    expect(len(keys) == 1, f"The export has {len(keys)} inputs; the digits model has one.")
    actual = keys[0]
    named = [info.key for info in _signature_inputs(named_export)]
    expect(
        actual not in named,
        f"The copy's input is still called {actual!r}: build it on a keras.Input(shape=(64,)) "
        "without name=.",
    )
    expect(isinstance(input_key, str), "input_key should be a string, the key's name.")
    expect(
        input_key not in named,
        f"{input_key!r} is the key of the named model; read the new export's signature: "
        "tf.saved_model.load(...).signatures['serving_default'].structured_input_signature.",
    )
    expect(
        input_key != "inputs",
        "'inputs' is what tf.saved_model.save() would call it; model.export() takes the name "
        "Keras gave the keras.Input.",
    )
    expect(
        input_key == actual,
        f"The export's serving_default input is not called {input_key!r}: read the keys of "
        "structured_input_signature of unnamed_export's 'serving_default' signature.",
    )
    return (
        f"Without name=, the input key is {actual!r}, a name Keras made up. A client must send "
        "exactly that key, and it changes with unrelated code: name your inputs."
    )


def _signature_inputs(export: str | os.PathLike[str]):
    from helpers import inspection

    for info in inspection.savedmodel_signatures(export):
        if info.key == "serving_default":
            return info.inputs
    return ()
