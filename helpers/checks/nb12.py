"""Checks for notebook 12's exercises: decide from a scan, contain an unknown model.

Serves notebook 12.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helpers.checks.core import (
    exercise,
    expect,
    habit,
    require,
    source_of,
    typed_in,
    without_comments,
)

DECISIONS = ("load", "refuse")
TYPED_IN = (
    "`decisions` is typed in: compute each decision from the scan "
    "(`safety.worst(findings[name])`), so that it follows the file, not your guess."
)
#: Exercise 12.1's habit: decide from a fresh scan's worst severity, without loading anything.
HABIT_1 = {
    "required": {
        r"\bscan\(": "Scan each file with `safety.scan(path)` before deciding.",
        r"\bworst\(|\.severity\b": "Decide from the severities the scan reports "
        "(`safety.worst(...)` or each finding's `.severity`).",
    },
    "forbidden": {
        r"load_model\(|saved_model\.load\(|load_in_sandbox\(|TFSMLayer\(|load_weights\(": (
            "Loading a mystery file to see what it does is off limits here: the point is to "
            "decide *before* loading. Decide from `safety.scan` alone."
        ),
        r"helpers\.checks|\bnb12\.": "The check's own code is off limits: scan and decide "
        "yourself.",
    },
}


@exercise("12.1", "scan an unknown file and decide")
def exercise_1(
    findings: Mapping[str, Any] | None,
    decisions: Mapping[str, str] | None,
    files: Mapping[str, str | os.PathLike[str]],
    allowed: tuple[str, ...] = (),
    source: str | None = None,
) -> str:
    """``findings`` are each file's fresh scan; a file with anything above info is refused."""
    from helpers import safety

    found = require(findings, "findings", "a dict: file name -> scan(path) result")
    chosen = require(decisions, "decisions", 'a dict: file name -> "load" or "refuse"')
    answer = source_of(source, "findings", "decisions")
    code = without_comments(answer or "")
    filled = re.search(r"\bdecisions\s*\[[^\]]+\]\s*=(?!=)", code)  # decisions[name] = ...
    expect(filled is not None or not typed_in(code, "decisions"), TYPED_IN)
    habit(answer, **HABIT_1)
    expect(isinstance(found, Mapping), "`findings` should be a dict: name -> scan(path).")
    expect(isinstance(chosen, Mapping), '`decisions` should be a dict: name -> "load"/"refuse".')
    missing = sorted(set(files) - set(found))
    expect(not missing, f"Scan every file: `findings` has nothing for {missing}.")
    missing = sorted(set(files) - set(chosen))
    expect(not missing, f"Decide for every file: `decisions` has nothing for {missing}.")
    odd = sorted(name for name, value in chosen.items() if value not in DECISIONS)
    expect(not odd, f'Each decision is "load" or "refuse"; look at {odd}.')
    refused = []
    for name, path in files.items():
        fresh = safety.scan(path, allowed=allowed)
        expect(
            list(found[name]) == fresh,
            f"`findings[{name!r}]` is not what `helpers.safety.scan` reports for that file now: "
            "scan each file (with the same `allowed=`) and keep the list it returns.",
        )
        level = safety.worst(fresh)
        expected = "load" if level == "info" else "refuse"
        why = {
            "info": "info findings are facts worth knowing, not reasons to refuse",
            "warning": "a warning is something the scanner could not vouch for: refuse it too, "
            "not only danger",
            "danger": "danger means do not load outside a sandbox",
        }[level]
        expect(
            chosen[name] == expected,
            f"`{name}`: its worst finding is {level!r}, so the decision is {expected!r} "
            f"({why}; load only when nothing is above info).",
        )
        if expected == "refuse":
            refused.append(f"{name} ({fresh[0].what})")
    return f"Refused {len(refused)} of {len(files)}: " + "; ".join(refused) + "."


@exercise("12.2", "contain an unknown model")
def exercise_2(
    run: Any,
    landed: list[str] | None,
    suspect: str | os.PathLike[str],
    outside_target: str | os.PathLike[str],
) -> str:
    """The suspect ran in the sandbox; what it wrote is in scratch, nothing outside."""
    from helpers import safety

    result = require(run, "run", "what `helpers.safety.load_in_sandbox` returned")
    written = require(landed, "landed", "the files the model wrote in the scratch folder")
    expect(
        isinstance(result, safety.SandboxRun),
        "`run` should be the SandboxRun that `load_in_sandbox` returns, "
        f"not a {type(result).__name__}.",
    )
    expect(
        Path(result.model) == Path(suspect).resolve(),
        f"That run loaded `{Path(result.model).name}`, not the suspect `{Path(suspect).name}`.",
    )
    expect(
        not Path(outside_target).exists(),
        f"`{Path(outside_target).name}` exists outside the sandbox: the model ran in this "
        "kernel. Delete the file, restart from the cell that builds the suspect, and load it "
        "only with `helpers.safety.load_in_sandbox`.",
    )
    expect(
        sorted(written) == sorted(result.written),
        f"`landed` should list what the run wrote in its scratch folder: `run.written` is "
        f"{result.written}.",
    )
    expect(bool(result.written), "The run wrote nothing: run the suspect, not an honest model.")
    outside = (
        f"failed ({result.error.rsplit(';', 1)[-1].strip()})" if result.error else "did not happen"
    )
    return (
        f"Contained: inside the sandbox the model wrote {result.written} in its scratch "
        f"folder; its write outside {outside}."
    )
