"""Checks for notebook 06's exercises: a top-3 signature, and a SavedModel missing its asset.

Serves notebook 06.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from helpers.checks.core import Hint, exercise, expect, habit, require

#: Exercise 6.1's habit: an ExportArchive endpoint built on `tf.math.top_k`.
HABIT_1 = {
    "required": {
        r"ExportArchive\(": "Build the export with `keras.export.ExportArchive` (track `model`, "
        "`add_endpoint`, `write_out`), as section 3 did.",
        r"top_k\(": "Take the three best classes with `tf.math.top_k(..., k=3)`.",
    },
    "forbidden": {
        r"tf\.saved_model\.save\(|helpers\.(?!checks\.nb06)": "This exercise is about "
        "`ExportArchive`: `tf.saved_model.save` and the kit's helpers are off limits here.",
    },
}
#: Exercise 6.2's habit: find out where it fails by trying, and keep the error that happened.
HABIT_2 = {
    "computed": {
        "fails_at": "`fails_at` is typed in: find out. Load the copy and call `class_names` "
        "inside `try`/`except`, and set it from the step that raised.",
    },
    "forbidden": {
        r"(NotFoundError|FileNotFoundError|OSError)\(": "Do not build the error yourself: keep "
        "the one your own call raised (`except ... as error: caught = error`).",
        r"\bhelpers\.": "The kit's helpers are off limits here: copy, delete, load and call "
        "with `shutil`, `pathlib` and `tf.saved_model.load` yourself.",
    },
}


def _savedmodel_dir(value: Any, name: str) -> Path:
    path = Path(value)
    expect(
        (path / "saved_model.pb").is_file(),
        f"`{name}` should be the folder `write_out` / `tf.saved_model.save` wrote: "
        f"`{path.name}` has no saved_model.pb.",
    )
    return path


@exercise("6.1", "a top-3 signature")
def exercise_1(
    top3_export: str | os.PathLike[str] | None,
    raw_pixels: np.ndarray,
    python_probabilities: np.ndarray,
    *,
    source: str | None = None,
) -> str:
    """``top_3`` takes raw int32 pixels, any batch, and returns the 3 best ids and scores.

    ``source``: the answer cell's code (by default the recorded cell that set ``top3_export``).
    """
    import tensorflow as tf

    path = _savedmodel_dir(
        require(top3_export, "top3_export", "the folder you exported"), "top3_export"
    )
    habit(source, "top3_export", **HABIT_1)
    loaded = tf.saved_model.load(str(path))  # keep a reference while calling the signature
    signatures = loaded.signatures
    expect(
        "top_3" in signatures,
        f"The export's signatures are {sorted(signatures)}: name the endpoint `top_3`.",
    )
    function = signatures["top_3"]
    specs = function.structured_input_signature[1]
    expect(list(specs) == ["pixels"], f"`top_3` takes {sorted(specs)}: reuse the `PIXELS` spec.")
    spec = specs["pixels"]
    expect(
        spec.dtype == tf.int32,
        f"`top_3` takes {spec.dtype.name} pixels; clients send raw int32 values: reuse `PIXELS`.",
    )
    expect(
        spec.shape.as_list() == [None, 64],
        f"`top_3` takes shape {spec.shape.as_list()}; use `[None, 64]` (`PIXELS`) so any "
        "batch size works.",
    )
    outputs = set(function.structured_outputs)
    expect(
        outputs == {"class_ids", "scores"},
        f"`top_3` returns {sorted(outputs)}: return a dict with the keys `class_ids` and `scores`.",
    )
    result = function(pixels=tf.constant(raw_pixels))
    class_ids, scores = result["class_ids"].numpy(), result["scores"].numpy()
    expect(
        class_ids.shape == (len(raw_pixels), 3),
        f"`class_ids` has shape {class_ids.shape}, not ({len(raw_pixels)}, 3): "
        "`tf.math.top_k(..., k=3)`.",
    )
    expect(
        np.issubdtype(class_ids.dtype, np.integer),
        f"`class_ids` holds {class_ids.dtype} values: use `top_k(...).indices` for the ids.",
    )
    wrong = int((class_ids[:, 0] != python_probabilities.argmax(axis=1)).sum())
    expect(
        wrong == 0,
        f"The first class id differs from `predict_class` for {wrong} of {len(raw_pixels)} "
        "digits: does the endpoint scale the raw pixels (`scale(pixels)`) before the model?",
    )
    expected_scores = np.take_along_axis(python_probabilities, class_ids.astype(np.int64), axis=1)
    expect(
        np.allclose(scores, expected_scores, rtol=0, atol=1e-6),
        "`scores` are not the model's probabilities for those classes: does the endpoint "
        "scale the raw pixels (`scale(pixels)`), and return `top_k(...).values`?",
    )
    expect(
        bool((np.diff(scores, axis=1) <= 0).all()),
        "`scores` should go from most to least likely.",
    )
    return (
        f"`top_3` takes raw int32 pixels for any batch, and its first class matches "
        f"`predict_class` on all {len(raw_pixels)} test digits."
    )


@exercise("6.2", "break the asset")
def exercise_2(
    broken_export: str | os.PathLike[str] | None,
    fails_at: str | None,
    caught: BaseException | None,
    *,
    source: str | None = None,
) -> str:
    """Loading succeeds without the asset; the first call that reads it fails.

    ``source``: the answer cell's code (by default the recorded cell that set the answers).
    """
    import tensorflow as tf

    path = _savedmodel_dir(
        require(broken_export, "broken_export", "the copied folder"), "broken_export"
    )
    require(fails_at, "fails_at", '"load" or "call"')
    require(caught, "caught", "the error you caught")
    habit(source, "broken_export", "fails_at", "caught", **HABIT_2)
    expect(
        not (path / "assets" / "labels.txt").exists(),
        f"`{path.name}/assets/labels.txt` is still there: delete it from the copy.",
    )
    expect(
        fails_at in ("load", "call"),
        f'`fails_at` should be "load" or "call", not {fails_at!r}.',
    )
    observed, error = "", None
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as failure:
        observed, error = "load", failure
    else:
        try:
            loaded.signatures["class_names"]()
        except Exception as failure:
            observed, error = "call", failure
    if not observed:
        raise Hint("This folder loads and `class_names()` runs: is it a copy of `deployed`?")
    expect(
        fails_at == observed,
        "`tf.saved_model.load` succeeds on this folder: loading only records the asset's path. "
        "Which step reads the file?"
        if observed == "call"
        else "Loading this folder already fails: look again at where the error comes from.",
    )
    expect(
        isinstance(caught, BaseException),
        "`caught` should be the error itself (`except ... as error: caught = error`).",
    )
    expect(
        type(caught) is type(error),
        f"This folder fails with {type(error).__name__}, not {type(caught).__name__}.",
    )
    named = re.findall(r"(\S*assets/labels\.txt)", str(caught))
    missing = (path / "assets" / "labels.txt").resolve()
    expect(
        any(Path(name).resolve() == missing for name in named),
        "`caught` does not name this folder's missing `assets/labels.txt`: store the error "
        "your own call raised, not one you made up or caught elsewhere.",
    )
    return (
        f"`tf.saved_model.load` succeeded; the first call raised {type(error).__name__}. "
        "A file that a signature reads is only opened when it runs (a table built from a "
        "file fails at load instead): ship the whole folder and call every signature once "
        "after deploying."
    )
