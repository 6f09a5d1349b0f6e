"""Checks for notebook 07's exercises: a custom function in two formats, choosing a format.

Serves notebook 07.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator, Mapping, Set
from pathlib import Path
from typing import Any

from helpers.checks.core import Hint, exercise, expect, habit, require

#: What each job in exercise 2 needs, as rows of the notebook's decision map (``keeps``).
JOBS = {
    "resume": {"architecture", "optimizer state"},
    "server": {"signatures", "runs without Python"},
}
#: Why a job needs each row: the hint when a needed row is missing.
WHY = {
    ("resume", "architecture"): "'from the artifact alone' means without calling "
    "`build_model()`: which row checks that?",
    ("resume", "optimizer state"): "continuing exactly where training stopped needs Adam's "
    "step counter and moments: which row checks that?",
    ("server", "signatures"): "the server calls the model by a named entry point: which row "
    "checks that?",
    ("server", "runs without Python"): "the server has no Python: which row checks that?",
}


#: Exercise 7.1's habit: take the function out of the registry, then try both files.
HABIT_1 = {
    "computed": {
        "loads_unregistered": "`loads_unregistered` is typed in: find it out. Take the function "
        "out of the registry, try to load each file, and add each format that loads."
    },
    "required": {
        r"get_custom_objects\(\)": "Take the function out of "
        "`keras.saving.get_custom_objects()` before trying the files (and put it back after): "
        "with it registered, both load, which says nothing about a program without your code.",
        r"load_model\(": "Try the .keras file with `keras.models.load_model`.",
        r"saved_model\.load\(|TFSMLayer\(": "Try the export with `tf.saved_model.load` (or "
        "`keras.layers.TFSMLayer`), and call it.",
    },
    "forbidden": {
        r"\bhelpers\.": "`helpers` is off limits in this exercise: use the Keras and TensorFlow "
        "calls themselves (`model.save`, `model.export`, `load_model`, `tf.saved_model.load`)."
    },
}
#: Exercise 7.2's habit: justify the choice with the map, and leave the map as the checks made it.
HABIT_2 = {
    "required": {
        r"\bkeeps\b": "Justify each choice with the map: read `keeps` in your cell (for example, "
        "list the formats that keep every row you name)."
    },
    "forbidden": {
        r"\bkeeps\s*(\[[^\]]*\]\s*)+=(?!=)|\bkeeps\s*(\[[^\]]*\]\s*)*\.(update|pop|setdefault)\(": (
            "Leave `keeps` as section 3's checks made it: choose a format that fits the map "
            "instead of changing the map."
        ),
        r"helpers\.checks|\bJOBS\b|\bWHY\b": "The check's own tables are off limits: decide "
        "from the jobs' descriptions which rows each needs.",
    },
}


def _functions(node: Any) -> Iterator[str]:
    """Names of the functions a Keras config stores (``{"class_name": "function", ...}``)."""
    if isinstance(node, dict):
        if node.get("class_name") == "function" and isinstance(node.get("config"), str):
            yield node["config"]
        for value in node.values():
            yield from _functions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _functions(value)


@exercise("7.1", "a custom activation")
def exercise_1(
    activation_keras: str | os.PathLike[str] | None,
    activation_export: str | os.PathLike[str] | None,
    loads_unregistered: Set[str] | None,
    *,
    source: str | None = None,
) -> str:
    """Which of the two files still works with the registered activation taken out.

    ``source``: the answer cell's code (by default the recorded cell that set the answers).
    """
    import keras
    import numpy as np
    import tensorflow as tf

    keras_path = Path(require(activation_keras, "activation_keras", "the .keras file"))
    export_dir = Path(require(activation_export, "activation_export", "the export folder"))
    answer = set(
        require(loads_unregistered, "loads_unregistered", 'a set of "keras", "savedmodel"')
    )
    expect(
        keras_path.is_file() and zipfile.is_zipfile(keras_path),
        f"`{keras_path.name}` is not a .keras file: save the model with `model.save(path)`.",
    )
    expect(
        (export_dir / "saved_model.pb").is_file(),
        f"`{export_dir.name}` has no saved_model.pb: write it with `model.export(folder)`.",
    )
    expect(
        answer <= {"keras", "savedmodel"},
        f'Answer with format names from "keras" and "savedmodel", not {sorted(answer)}.',
    )
    habit(source, "loads_unregistered", "activation_keras", "activation_export", **HABIT_1)
    with zipfile.ZipFile(keras_path) as archive:
        config = json.loads(archive.read("config.json"))
    registry = keras.saving.get_custom_objects()
    stored = {name for name in _functions(config) if ">" in name}  # package>name
    custom = sorted(stored & set(registry))
    expect(
        stored <= set(registry),
        f"{sorted(stored - set(registry))} is not registered in this kernel: did your cell take "
        "it out of `keras.saving.get_custom_objects()` without putting it back?",
    )
    expect(
        bool(custom),
        "config.json stores no registered function: decorate your activation with "
        "`@keras.saving.register_keras_serializable(package=...)` and pass the function itself "
        "(`activation=my_function`), not a string.",
    )
    model = keras.models.load_model(keras_path)  # registered: this must work
    served = tf.saved_model.load(str(export_dir))
    signature = served.signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    expect(
        len(specs) == 1
        and tuple(next(iter(specs.values())).shape[1:]) == tuple(model.input_shape[1:]),
        f"`{export_dir.name}` does not take the input of the model in `{keras_path.name}`: export "
        "the same model you saved as .keras.",
    )
    ((key, spec),) = specs.items()
    probe = np.random.default_rng(7).normal(size=(2, *model.input_shape[1:])).astype("float32")
    exported = next(iter(signature(**{key: tf.constant(probe, spec.dtype)}).values())).numpy()
    expect(
        np.allclose(exported, model.predict(probe, verbose=0), atol=1e-5),
        f"`{export_dir.name}` predicts differently from `{keras_path.name}`: export the same "
        "model you saved as .keras, not one from an earlier cell.",
    )
    removed = {name: registry.pop(name) for name in custom}  # a process without your code
    try:
        try:
            keras.models.load_model(keras_path)
            works = {"keras"}
        except (TypeError, ValueError):
            works = set()
        loaded = tf.saved_model.load(str(export_dir))  # keep a reference while calling it
        signature = loaded.signatures["serving_default"]
        outputs = signature(
            **{
                key: tf.zeros([1 if n is None else n for n in spec.shape.as_list()], spec.dtype)
                for key, spec in signature.structured_input_signature[1].items()
            }
        )
        expect(bool(outputs), "The export's serving_default returned nothing.")
        works.add("savedmodel")
    finally:
        registry.update(removed)
    expect(
        "keras" not in answer or "keras" in works,
        f".keras stores only the function's name ({custom[0]}): without the registration "
        "`load_model` cannot find it. Try it with the function popped from "
        "`keras.saving.get_custom_objects()`.",
    )
    expect(
        "savedmodel" in answer or "savedmodel" not in works,
        "The export runs without the function: `model.export` traced it into graph operations.",
    )
    expect(answer == works, f"With the function unregistered, {sorted(works)} load.")
    return (
        f"Only {sorted(works)} works without `{custom[0]}` registered: a function is stored "
        "by name in .keras, like a class, and traced into the graph in a SavedModel."
    )


def _check_job(job: str, choice: Any, needs: Any, keeps: Mapping[str, Mapping[str, bool]]) -> str:
    formats = sorted(next(iter(keeps.values())))
    expect(
        isinstance(choice, str) and choice in formats,
        f"The {job} format should be one of {formats}, not {choice!r}.",
    )
    needs = {needs} if isinstance(needs, str) else set(needs)
    unknown = sorted(needs - set(keeps))
    expect(not unknown, f"{unknown} are not rows of `keeps`; the rows are {sorted(keeps)}.")
    for row in sorted(JOBS[job] - needs):
        raise Hint(f"For the {job} job, {WHY[job, row]}")
    for row in sorted(needs):
        expect(
            bool(keeps[row][choice]),
            f"`keeps[{row!r}][{choice!r}]` is False: {choice} does not do the {job} job.",
        )
    fits = sorted(name for name in formats if all(keeps[row][name] for row in JOBS[job]))
    return f"{choice} ({', '.join(sorted(needs))}: all checked above; formats that fit: {fits})"


@exercise("7.2", "choose a format for the job")
def exercise_2(
    resume_choice: str | None,
    resume_needs: Set[str] | None,
    server_choice: str | None,
    server_needs: Set[str] | None,
    keeps: Mapping[str, Mapping[str, bool]],
    *,
    source: str | None = None,
) -> str:
    """Each choice keeps every row its job needs, according to the checked decision map.

    ``source``: the answer cell's code (by default the recorded cell that set the answers).
    """
    require(resume_choice, "resume_choice", "a format name")
    require(resume_needs, "resume_needs", "a set of rows of `keeps`")
    require(server_choice, "server_choice", "a format name")
    require(server_needs, "server_needs", "a set of rows of `keeps`")
    habit(source, "resume_choice", "server_choice", "resume_needs", "server_needs", **HABIT_2)
    resume = _check_job("resume", resume_choice, resume_needs, keeps)
    server = _check_job("server", server_choice, server_needs, keeps)
    return f"Resume: {resume}. Server: {server}."
