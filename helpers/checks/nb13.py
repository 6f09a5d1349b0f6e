"""Checks for notebook 13's exercises: roll an alias back past a bad version, and find the
version a served answer came from.

Both checks run the learner's function on cases of their own, not only on the notebook's:
:func:`exercise_1` builds small registries in a copy of the notebook's SQLite database (other
version numbers, other bad versions) and looks at what the function did to them;
:func:`exercise_2` feeds ``version_of`` arrays that are equal, nearly equal (one float apart)
or different.

Serves notebook 13.
"""

from __future__ import annotations

import os
import shutil
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from helpers.checks.core import Hint, exercise, expect, require

# Names whose use means the registry's database was read directly (off limits: a registry
# server has no file to read), or the registry was asked for the answer (exercise 2).
DATABASE_NAMES = frozenset({"helpers", "sqlite3", "query", "table_names", "connect"})
REGISTRY_NAMES = frozenset(
    {"MlflowClient", "get_model_version_by_alias", "search_model_versions", "client"}
)


def code_names(function: Callable[..., Any]) -> set[str]:
    """Every global or attribute name the function's code (nested code included) uses."""
    names: set[str] = set()
    pending = [getattr(function, "__code__", None)]
    while pending:
        code = pending.pop()
        if not isinstance(code, types.CodeType):
            continue
        names.update(code.co_names)
        pending.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return names


# --- exercise 1: roll back after a bad version -----------------------------------------------

# (verified tag of versions 1..n, the champion a mistake moved to, the expected rollback)
SCENARIOS: dict[str, tuple[tuple[bool, ...], int, str]] = {
    "skips-an-unverified": ((True, True, False, False), 4, "2"),
    "newest-older-verified": ((True, False, True, True, False), 5, "4"),
    "never-forward": ((True, True, False, True), 3, "2"),
    "first-is-bad": ((False, True, True, False), 4, "3"),
}


def _scratch_client(database: Path) -> Any:
    """A client on a copy of the notebook's database, in a folder of its own."""
    from mlflow import MlflowClient

    folder = database.parent / "exercise_13_1"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    copy = folder / database.name
    shutil.copyfile(database, copy)
    return MlflowClient(tracking_uri=f"sqlite:///{copy.resolve().as_posix()}")


def _build(client: Any, name: str, verified: tuple[bool, ...], champion: int, source: Any) -> None:
    client.create_registered_model(name)
    for flag in verified:
        client.create_model_version(
            name, source.source, run_id=source.run_id, tags={"verified": str(flag).lower()}
        )
    client.set_registered_model_alias(name, "champion", str(champion))


def _champion(client: Any, name: str) -> str:
    return str(client.get_model_version_by_alias(name, "champion").version)


def _expected_in_notebook(client: Any, bad: str) -> str | None:
    verified = [
        int(mv.version)
        for mv in client.search_model_versions("name='digits'")
        if int(mv.version) < int(bad) and mv.tags.get("verified") == "true"
    ]
    return str(max(verified)) if verified else None


@exercise("13.1", "roll back after a bad version")
def exercise_1(
    roll_back: Callable[[Any, str], Any] | None,
    rolled_back_to: Any,
    client: Any,
    database: str | os.PathLike[str],
    bad: str = "3",
) -> str:
    """``roll_back(client, name)`` moves ``champion`` to the newest verified older version."""
    function = require(roll_back, "roll_back", "a function roll_back(client, name)")
    answer = require(rolled_back_to, "rolled_back_to", 'what roll_back(client, "digits") returned')
    expect(callable(function), "`roll_back` should be a function: def roll_back(client, name).")
    used = code_names(function) & DATABASE_NAMES
    expect(
        not used,
        f"`roll_back` reads the database directly ({', '.join(sorted(used))}): use the "
        "client's calls (get_model_version_by_alias, search_model_versions, "
        "set_registered_model_alias); a registry server has no database file to read.",
    )

    # The notebook's registry: the alias must really have moved, to the right version.
    expected = _expected_in_notebook(client, bad)
    now = _champion(client, "digits")
    expect(
        now != bad,
        f"`champion` still points at version {bad}: roll_back must move the alias "
        "(client.set_registered_model_alias), not only find the version.",
    )
    expect(
        str(answer) == now,
        f"`rolled_back_to` is {answer!r} but `champion` points at version {now}: keep what "
        "roll_back returned, not a number typed in or taken from an earlier cell.",
    )
    expect(
        now == expected,
        f"`champion` points at version {now}; the newest verified version older than "
        f"{bad} is {expected}.",
    )
    versions_before = len(client.search_model_versions("name='digits'"))

    # Cases of the check's own, with other numbers, on a copy of the database.
    scratch = _scratch_client(Path(database))
    source = scratch.get_model_version("digits", "1")
    for name, (verified, champion, want) in SCENARIOS.items():
        _build(scratch, name, verified, champion, source)
        try:
            returned = function(scratch, name)
        except Exception as error:
            raise Hint(
                f"on a registry where versions 1-{len(verified)} have verified="
                f"{[str(f).lower() for f in verified]} and champion -> {champion}, roll_back "
                f"raised {type(error).__name__}: {error}. Use the `client` and `name` it is "
                "given, not the notebook's."
            ) from None
        left = len(scratch.search_model_versions(f"name='{name}'"))
        expect(
            left == len(verified),
            f"roll_back deleted versions ({len(verified)} before, {left} after): keep a bad "
            "version as evidence; moving the alias is the rollback.",
        )
        moved = _champion(scratch, name)
        flags = [str(f).lower() for f in verified]
        expect(
            moved == want,
            f"on a registry where versions 1-{len(verified)} have verified={flags} and champion "
            f"-> {champion}, `champion` ended on version {moved}; it should be {want}, the "
            "newest verified version older than the bad one (never a newer one).",
        )
        expect(
            str(returned) == want,
            f"on that registry ({flags}, champion -> {champion}) the alias moved to {want} but "
            f"roll_back returned {returned!r}: return the version you moved to.",
        )
    expect(
        len(client.search_model_versions("name='digits'")) == versions_before,
        "the notebook's registry changed while the check ran: use the client you are given.",
    )
    shutil.rmtree(Path(database).parent / "exercise_13_1", ignore_errors=True)
    return (
        f"`champion` is back on version {now}, and roll_back also chose right on "
        f"{len(SCENARIOS)} registries of the check's own, deleting nothing."
    )


# --- exercise 2: which version gave this answer? ---------------------------------------------


def _cases() -> dict[str, tuple[Any, dict[str, np.ndarray], str | None]]:
    generator = np.random.default_rng(13)
    p1 = generator.random((4, 10), dtype=np.float32)
    p2 = generator.random((4, 10), dtype=np.float32)
    near = p1.copy()
    near[1, 3] = np.nextafter(near[1, 3], np.float32(2))  # one float apart: allclose, not equal
    return {
        "the second of two": (p2.copy(), {"1": p1, "2": p2}, "2"),
        "nearly equal comes first": (p1.copy(), {"4": near, "7": p1}, "7"),
        "a JSON list": (p2.tolist(), {"5": p1, "6": p2}, "6"),
        "no version": (p1 + np.float32(0.5), {"1": p1, "2": p2}, None),
    }


@exercise("13.2", "which version gave this answer")
def exercise_2(
    version_of: Callable[[Any, Mapping[str, np.ndarray]], Any] | None,
    served_version: Any,
    served_answer: Any,
    model_v1: Any,
    model_v2: Any,
    rows: Any,
) -> str:
    """``version_of(answer, candidates)``: the version whose predictions equal it bit for bit."""
    function = require(version_of, "version_of", "a function version_of(answer, candidates)")
    found = require(served_version, "served_version", "the version behind served_after_rollback")
    expect(callable(function), "`version_of` should be a function: def version_of(answer, ...).")
    used = code_names(function) & (REGISTRY_NAMES | DATABASE_NAMES)
    expect(
        not used,
        f"`version_of` asks the registry ({', '.join(sorted(used))}): the alias says what a "
        "new load would get, not what a running server loaded. Compare the predictions.",
    )
    for name, (answer, candidates, want) in _cases().items():
        try:
            got = function(answer, dict(candidates))
        except Exception as error:
            raise Hint(
                f"case '{name}': version_of raised {type(error).__name__}: {error}. "
                "Use the `answer` and `candidates` it is given."
            ) from None
        got = None if got is None else str(got)
        expect(
            got == want,
            f"case '{name}': version_of returned {got!r}, expected {want!r}. Compare each "
            "candidate with `answer` (not with itself) exactly, with np.array_equal: a "
            "prediction one float apart comes from another model, and no match means None.",
        )
    expected = {
        "1": np.asarray(model_v1.predict(rows, verbose=0)),
        "2": np.asarray(model_v2.predict(rows, verbose=0)),
    }
    truth = [v for v, p in expected.items() if np.array_equal(p, np.asarray(served_answer))]
    expect(len(truth) == 1, "`served_after_rollback` matches no version: re-run section 5.")
    expect(
        str(found) == truth[0],
        f"`served_version` is {found!r}, but the served answer equals version {truth[0]}'s "
        "predictions bit for bit. (The alias already said 1: that is not the answer.)",
    )
    return (
        f"the server answered with version {truth[0]} while `champion` already said 1, and "
        f"version_of was right on {len(_cases())} cases of the check's own."
    )
