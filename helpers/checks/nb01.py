"""Checks for notebook 01's exercises (save and export a trained Keras model).

Serves notebook 01.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from helpers import artifacts
from helpers.checks.core import Hint, exercise, expect, forbidden, require
from helpers.checks.fakes import COMPLETE_FILES, fake_version
from helpers.errors import ArtifactError
from helpers.kit import paths


def _weights_bytes(folder: Path) -> bytes:
    """The variable values of a SavedModel folder (its ``variables.data-*`` shards, in order)."""
    shards = sorted((folder / "variables").glob("variables.data-*"))
    return b"".join(shard.read_bytes() for shard in shards)


# Folders the check builds for the learner's function (stand-ins, not real exports): complete
# version numbers, crashed numbers (an empty variables/ only), other names; then the answer.
_LAYOUTS = (
    ((1, 2), (3,), (), 2),  # notebook 01's crash, one number lower
    ((9, 10), (), (), 10),  # numbers compare as numbers: "9" sorts after "10" as text
    ((1,), (), (".2.partial", "notes"), 1),  # names that are not numbers are never versions
)


def _call(latest_complete: Any, folder: Path, call: str) -> Path:
    """``latest_complete(folder)`` with the kit's own helpers off limits; it must be a path."""
    with forbidden(*OFF_LIMITS_1):
        found = latest_complete(folder)
    expect(
        isinstance(found, str | os.PathLike),
        f"{call} returned {found!r}: return the folder (a Path).",
    )
    return Path(found)


def _try_layouts(latest_complete: Any) -> None:
    """Call ``latest_complete`` on the stand-in layouts; raise a Hint at the first wrong one."""
    for complete, crashed, others, answer in _LAYOUTS:
        with tempfile.TemporaryDirectory() as scratch:
            base = Path(scratch) / "versions"
            for number in complete:
                fake_version(base / str(number), COMPLETE_FILES, manifest=False)
            for number in crashed:
                (base / str(number) / "variables").mkdir(parents=True)
            for name in others:  # they look complete, but their names are not numbers
                fake_version(base / name, COMPLETE_FILES, manifest=False)
            layout = ", ".join(
                [*(f"{n} complete" for n in complete), *(f"{n} crashed" for n in crashed)]
                + [f"{name!r}" for name in others]
            )
            found = _call(latest_complete, base, "latest_complete")
            expect(
                found.resolve() == (base / str(answer)).resolve(),
                f"On a folder holding {layout}, your latest_complete returned "
                f"{found.name!r}, not {str(answer)!r}: take the children whose names are "
                "numbers, compare them as numbers, and keep only those with a saved_model.pb.",
            )


OFF_LIMITS_1 = ("helpers.artifacts.latest_complete_savedmodel", "helpers.artifacts.version_dirs")


@exercise("1.1", "a third version")
def exercise_1(
    latest_complete: Any,
    versions: str | os.PathLike[str],
    crashed: str | os.PathLike[str],
) -> str:
    """``latest_complete(versions)``: the highest-numbered complete version, written by the
    learner; the check also looks at what the learner's export left in ``versions``."""
    require(latest_complete, "latest_complete", "a function latest_complete(versions) -> Path")
    expect(
        callable(latest_complete),
        "`latest_complete` should be a function of the versions folder, not a folder: the "
        "check calls it on other folders too.",
    )
    versions, crashed = Path(versions), Path(crashed)
    expect(
        artifacts.is_complete_savedmodel(crashed) is False,
        f"Folder {crashed.name} was the crashed export and must stay as it is: publish the new "
        "export with export_version(model, versions), which picks a new number.",
    )
    leftovers = sorted(child.name for child in versions.glob(".*.partial") if child.is_dir())
    expect(
        not leftovers,
        f"{', '.join(leftovers)} is a half-finished publish: export with export_version(model, "
        "versions), which writes the folder under a temporary name and renames it when complete.",
    )
    numbered = artifacts.version_dirs(versions)
    expect(
        bool(numbered) and numbered[-1][1].resolve() != crashed.resolve(),
        f"There is no version after the crashed folder {crashed.name} yet: train `model`, then "
        "publish it with export_version(model, versions).",
    )
    expect(
        artifacts.is_complete_savedmodel(numbered[-1][1]),
        f"The newest folder, {numbered[-1][1].name}, is incomplete: did the export finish? "
        "Publish it again with export_version(model, versions).",
    )
    try:
        expected = artifacts.latest_complete_savedmodel(versions)
    except ArtifactError as error:
        raise Hint(
            f"helpers.artifacts.latest_complete_savedmodel(versions) finds no version: {error}"
        ) from None
    earlier = [
        folder
        for number, folder in numbered
        if number < int(expected.name) and artifacts.is_complete_savedmodel(folder)
    ]
    if earlier:
        expect(
            _weights_bytes(expected) != _weights_bytes(earlier[-1]),
            f"Version {expected.name} holds exactly the weights of version {earlier[-1].name}: "
            "train `model` for two more epochs before you export it.",
        )
    answer = _call(latest_complete, versions, "latest_complete(versions)")
    expect(
        answer.resolve() != crashed.resolve(),
        f"latest_complete(versions) returned folder {crashed.name}, the crashed one: a version "
        "counts only when it holds a saved_model.pb.",
    )
    expect(
        answer.resolve() == expected.resolve(),
        f"latest_complete(versions) returned folder {answer.name}, but the highest "
        f"complete version is {expected.name}.",
    )
    _try_layouts(latest_complete)
    return (
        f"The latest complete version is {paths.show(expected)}, and your function found the "
        f"right one in {len(_LAYOUTS)} other folders too. Folder {crashed.name} is skipped (no "
        "saved_model.pb), and export_version never reuses a number, even a broken one."
    )


OFF_LIMITS_2 = ("helpers.inspection.savedmodel_signatures", "helpers.kit.cli.saved_model_cli")


@exercise("1.2", "name the input")
def exercise_2(
    read_input_key: Any,
    unnamed_export: str | os.PathLike[str] | None,
    named_export: str | os.PathLike[str],
) -> str:
    """``read_input_key(folder)``: the ``serving_default`` input key of a SavedModel, read by
    the learner's code; the check calls it on the unnamed copy's export and on the named one."""
    from helpers import inspection

    require(unnamed_export, "unnamed_export", "the folder you exported the unnamed copy to")
    require(read_input_key, "read_input_key", "a function read_input_key(folder) -> str")
    expect(
        callable(read_input_key),
        "`read_input_key` should be a function of an export folder, not a key typed in: the "
        "check calls it on two exports.",
    )
    folder = Path(unnamed_export)
    expect(
        folder.resolve() != Path(named_export).resolve(),
        "unnamed_export is the export of the named model: export the copy into a new folder.",
    )
    truth = {}
    for name, export in (("unnamed_export", folder), ("the named export", Path(named_export))):
        try:
            signatures = {info.key: info for info in inspection.savedmodel_signatures(export)}
        except ArtifactError as error:
            raise Hint(
                f"{name} is not a SavedModel ({error}): export the copy with "
                "copy.export(folder, verbose=False)."
            ) from None
        expect(
            "serving_default" in signatures,
            f"{paths.show(export)} has no 'serving_default' signature: export it with "
            "model.export(), not tf.saved_model.save().",
        )
        keys = [info.key for info in signatures["serving_default"].inputs]
        expect(len(keys) == 1, f"{name} has {len(keys)} inputs; the digits model has one.")
        truth[export] = keys[0]
    actual, named = truth[folder], truth[Path(named_export)]
    expect(
        actual != named,
        f"The copy's input is still called {actual!r}: build it on a keras.Input(shape=(64,)) "
        "without name=.",
    )
    with forbidden(*OFF_LIMITS_2):
        said = {export: read_input_key(export) for export in truth}
    for export, key in said.items():
        expect(
            isinstance(key, str),
            f"read_input_key returned {key!r}: return the key's name, a string.",
        )
        expect(
            key != "inputs",
            "'inputs' is what tf.saved_model.save() would call it; model.export() takes the "
            "name Keras gave the keras.Input: read the export's own signature.",
        )
        expect(
            key == truth[export],
            f"read_input_key({paths.show(export)}) returned {key!r}, but that export's "
            f"serving_default input is {truth[export]!r}: load it with tf.saved_model.load and "
            "read the keys of its signature's structured_input_signature.",
        )
    return (
        f"Without name=, the input key is {actual!r}, a name Keras made up (the named export's "
        f"is {named!r}). A client must send exactly that key, and it changes with unrelated "
        "code: name your inputs."
    )
