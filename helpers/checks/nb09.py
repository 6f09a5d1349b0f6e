"""Checks for notebook 09's exercises: publish atomically, verify before loading, recognise
damage, clean up after a writer killed half-way, and fall back (or not) past a damaged version.

The checks test the learner's code on its behaviour: :func:`exercise_1` runs ``publish`` with a
stand-in model (no TensorFlow) while watching every ``os.fsync`` and rename; :func:`exercise_2`
feeds ``safe_load`` damaged copies while recording every ``tf.saved_model.load``;
:func:`exercise_3` repeats the learner's experiment on a copy of its own; :func:`exercise_4`
kills a writer at every step of a save; :func:`exercise_5` re-checks the learner's copy.

Serves notebook 09.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import artifacts, integrity
from helpers.checks.core import Hint, exercise, expect, forbidden, require
from helpers.checks.fakes import (
    FD_PATHS,
    DiskEvents,
    exports,
    fake_model,
    fake_version,
    manifest_matches,
    spy_saved_model_load,
    watch_disk,
)
from helpers.errors import ArtifactError, describe
from helpers.kit import faults, paths


def _scratch(artifacts_dir: str | os.PathLike[str], name: str) -> Path:
    """An emptied folder ``ARTIFACTS/name`` for a check's own copies."""
    folder = Path(artifacts_dir) / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _require_intact(source: Path) -> None:
    """The notebook's version must still match its manifest, or every hint would mislead."""
    try:
        integrity.verify_manifest(source)
    except ArtifactError as error:
        raise Hint(
            f"{paths.show(source)} itself no longer matches its manifest ({error.problem}): "
            "damage copies, never the original. Re-run the notebook from the top to restore it."
        ) from None


# The notebook's own publish and clean-up are off limits too, by the name they have there.
NOTEBOOK_OWN = {"own_where": "section 1 or 4's", "advice": "write the steps out."}


# --- exercise 1: publish atomically ---------------------------------------------------------


def _check_publish(
    publish: Callable[..., Any], base: Path, number: int, call: str
) -> tuple[Path, DiskEvents]:
    """Run ``publish`` once and check that it published ``base/number`` atomically."""
    model = fake_model(base)
    error: Exception | None = None
    with watch_disk() as events:
        try:
            result = publish(model, base)
        except Hint:
            raise
        except Exception as raised:  # judged after what it wrote, which explains most errors
            result, error = None, raised
    expect(model.export.called, "`publish` never called `model.export(...)`.")
    written = exports(model)[-1]
    base = base.resolve()
    if written.parent == base and written.name.isdigit():
        raise Hint(
            f"`publish` exported straight into the numbered folder {written.name}: half-way "
            "through, a reader calling latest_complete_savedmodel got "
            f"{model.reader_saw[-1]!r}, a version still being written. Export into a temporary "
            "sibling "
            "(temp_sibling(base)), then rename it."
        )
    expect(
        written.parent == base,
        f"`model.export` wrote to {paths.show(written)}, not into the versions folder: create "
        "the temporary folder next to the versions (temp_sibling(base)), "
        "so the final rename stays on one file system and is one atomic step.",
    )
    expect(
        written.name.startswith(artifacts.TEMP_PREFIX),
        f"the temporary folder is named {written.name!r}: start its name with "
        f"'{artifacts.TEMP_PREFIX}' (temp_sibling(base) does), so no reader takes it for a "
        "version.",
    )
    expect(
        artifacts.writer_pid(written.name) == os.getpid(),
        f"the temporary folder is named {written.name!r}: put the writer's process id right "
        f"after '{artifacts.TEMP_PREFIX}' ('{artifacts.TEMP_PREFIX}<pid>-<random>', as "
        "temp_sibling(base) does), or abandoned() can never tell that its writer died and the "
        "folder stays forever.",
    )
    expect(
        error is None,
        f"{call} of `publish` raised {describe(error, None, limit=160) if error else ''}",
    )
    published = [r for r in events.renames if r[1] == written]
    expect(
        bool(published),
        "the exported folder was never renamed: publish it with one `os.rename(temp, target)`. "
        "A copy (shutil.copytree) makes the numbered folder appear file by file.",
    )
    position, _, target, files, manifest_ok = published[-1]
    expect(
        target.parent == base and target.name.isdigit(),
        f"the temporary folder was renamed to {paths.show(target)}: rename it to the next "
        "numbered folder, next_version_dir(base).",
    )
    expect(
        target.name == str(number),
        f"{call} published {target.name}, but the next version is {number}: take one more "
        "than the highest number, at publishing time (next_version_dir(base)).",
    )
    expect(
        manifest_ok,
        "at the rename, the temporary folder had no manifest that matched its files: write it "
        "(write_manifest(temp)) after the export and before the rename, so "
        "every published version carries one.",
    )
    flushed = [path for kind, path in events.log[:position] if kind == "fsync"]
    if any(kind == "sync" for kind, _ in events.log[:position]):
        missing = []
    elif FD_PATHS:
        missing = [name for name in files if (written / name) not in flushed]
    else:  # no /proc: count the flushes
        missing = files[len(flushed) :]
    expect(
        not missing,
        f"not flushed to disk before the rename: {', '.join(missing)}. Call "
        "sync_tree(temp) after writing the manifest; otherwise a power cut "
        "can leave a published version with empty files.",
    )
    later = [path for kind, path in events.log[position:] if kind == "fsync"]
    synced = any(kind == "sync" for kind, _ in events.log[position:])
    expect(
        synced or (base in later if FD_PATHS else bool(later)),
        "flush the versions folder after the rename (fsync_dir(base)), so "
        "the rename itself survives a power cut.",
    )
    expect(
        result is not None and Path(result).resolve() == target,
        f"return the new version folder (here {paths.show(target)}); got {result!r}.",
    )
    integrity.verify_manifest(target)
    return target, events


OFF_LIMITS_1 = ("helpers.artifacts.save_version", "helpers.artifacts.publish")


@exercise("9.1", "publish a version atomically")
def exercise_1(
    publish: Any, artifacts_dir: str | os.PathLike[str], off_limits: tuple[Any, ...] = ()
) -> str:
    """``publish(model, base)`` must publish the next version the way section 1 does, with its
    steps written out: ``off_limits`` are the notebook's own ``save_version`` and ``publish``,
    refused like their ``helpers.artifacts`` twins."""
    require(publish, "publish", "a function publish(model, base) returning the new folder")
    expect(callable(publish), "`publish` should be a function: `def publish(model, base): ...`.")
    base = _scratch(artifacts_dir, "exercise_1") / "versions"
    for number in (1, 2):
        fake_version(base / str(number), seed=number)
    with forbidden(*OFF_LIMITS_1, function=publish, own=off_limits, **NOTEBOOK_OWN):
        first, _ = _check_publish(publish, base, 3, "the first call")
        _check_publish(publish, base, 4, "a second call")
        failing = fake_model(base, fail=True)
        try:
            publish(failing, base)
        except Hint:
            raise
        except Exception:
            failed = True
        else:
            failed = False
    if not failed:
        raise Hint(
            "when `model.export` fails, `publish` must let the error out (re-raise it): the "
            "caller has to know that no version was published."
        )
    left = sorted(c.name for c in base.iterdir() if not c.name.isdigit())
    expect(
        not left,
        f"a failed export left {', '.join(left)} behind: delete the temporary folder when the "
        "export fails (try: ... except BaseException: shutil.rmtree(temp); raise).",
    )
    numbered = [folder.name for _, folder in artifacts.version_dirs(base)]
    expect(numbered == ["1", "2", "3", "4"], f"a failed export changed the versions: {numbered}.")
    return (
        f"Version {first.name} appeared in one rename, with its manifest, every file flushed "
        "first and the folder flushed after; a second call published 4, and a failed export "
        "left nothing behind."
    )


# --- exercise 2: verify before loading ------------------------------------------------------


def _probe_of(folder: Path) -> tuple[Any, Any]:
    import numpy as np

    with np.load(folder / artifacts.PROBE_NAME) as probe:
        return probe["inputs"], probe["outputs"]


def _disagreeing_probe(folder: Path) -> None:
    """Store outputs that this model does not give (rows rolled), then re-write the manifest."""
    import numpy as np

    inputs, outputs = _probe_of(folder)
    np.savez(folder / artifacts.PROBE_NAME, inputs=inputs, outputs=np.roll(outputs, 1, axis=0))
    integrity.write_manifest(folder)


def _try(function: Callable[[Path], Any], folder: Path) -> tuple[Any, BaseException | None]:
    try:
        return function(folder), None
    except Hint:
        raise
    except Exception as error:
        return None, error


OFF_LIMITS_2 = (
    "helpers.artifacts.load_version",
    "helpers.artifacts.load_latest",
    "helpers.integrity.verify_manifest",
    "helpers.loading.load_savedmodel",
)


def _raised_by_tensorflow(error: BaseException | None) -> bool:
    """Whether ``error`` (or the error it was raised from) came out of tf.saved_model.load."""
    while error is not None:
        if getattr(error, "raised_by_saved_model_load", False):
            return True
        error = error.__cause__ or error.__context__
    return False


@exercise("9.2", "verify before you load")
def exercise_2(
    safe_load: Any, source: str | os.PathLike[str], artifacts_dir: str | os.PathLike[str]
) -> str:
    """``safe_load(folder)`` must refuse damage before loading and check the probe after."""
    import numpy as np

    require(safe_load, "safe_load", "a function safe_load(folder) returning the model")
    expect(callable(safe_load), "`safe_load` should be a function: `def safe_load(f):`.")
    source = Path(source)
    _require_intact(source)
    scratch = _scratch(artifacts_dir, "exercise_2")
    cases = {name: Path(shutil.copytree(source, scratch / name)) for name in
             ("good", "flipped", "no_manifest", "disagreeing_probe")}  # fmt: skip
    faults.flip_byte(cases["flipped"] / "variables/variables.data-00000-of-00001")
    (cases["no_manifest"] / integrity.MANIFEST_NAME).unlink()
    _disagreeing_probe(cases["disagreeing_probe"])

    off_limits_2 = forbidden(*OFF_LIMITS_2, function=safe_load, **NOTEBOOK_OWN)
    with spy_saved_model_load() as loads, off_limits_2:
        loaded, error = _try(safe_load, cases["good"])
        expect(
            error is None,
            f"it refused a good copy of {paths.show(source)}: "
            f"{describe(error, None, limit=160) if error else ''}",
        )
        expect(
            hasattr(loaded, "serve"),
            f"return the loaded model (what tf.saved_model.load returns); got {loaded!r}.",
        )
        inputs, outputs = _probe_of(source)
        expect(
            bool(np.array_equal(np.asarray(loaded.serve(inputs)), outputs)),
            "the model you returned does not give the probe's outputs: return what "
            "tf.saved_model.load(str(folder)) gave for this folder.",
        )
        damaged = {
            "flipped": "a version with one byte of its variables flipped (its manifest no "
            "longer matches)",
            "no_manifest": "a version without a manifest",
            "disagreeing_probe": "a version whose model and stored probe disagree (manifest "
            "re-written over the damage)",
        }
        for name, label in damaged.items():
            folder = cases[name]
            before = len(loads)
            _, error = _try(safe_load, folder)
            read = folder.resolve() in loads[before:]
            if error is None and name == "no_manifest":
                raise Hint(
                    f"it accepted {label}: nothing vouches for its files. Refuse it "
                    "(helpers.integrity.read_manifest raises IntegrityError when there is no "
                    "manifest)."
                )
            if error is None and name == "flipped":
                raise Hint(
                    f"it accepted {label}: first recompute the manifest and compare it with the "
                    "stored one, as section 2 does (sha256_file over hashed_files(folder))."
                )
            expect(
                error is not None,
                f"it accepted {label}: the model loads and runs but computes something else. "
                "After loading, compare the stored probe: np.array_equal("
                "model.serve(probe['inputs']).numpy(), probe['outputs']), and raise if not.",
            )
            if name == "flipped" and _raised_by_tensorflow(error):
                raise Hint(
                    f"for {label}, your function did not refuse it: it called "
                    "tf.saved_model.load, and TensorFlow's own checksum (the CRC32C that "
                    "variables.index keeps for every value) raised "
                    f"{describe(error, None, limit=60)}. That covers only the variables' "
                    "bytes, and only once TensorFlow reads them. Recompute the manifest and "
                    "compare it with the stored one first, as section 2 does."
                )
            if name != "disagreeing_probe" and read:
                raise Hint(
                    f"you verified after loading: for {label}, tf.saved_model.load read the "
                    "files before anything refused them"
                    + (f" ({describe(error, None, limit=60)})" if error else "")
                    + ". Check the manifest first: damage must be refused before TensorFlow "
                    "reads a byte."
                )
    return (
        "It refused the flipped byte and the missing manifest before TensorFlow read a byte, "
        "caught the disagreeing probe after loading, and loaded the good copy."
    )


# --- exercise 3: which check catches it? ----------------------------------------------------


def _expected_errors(source: Path, folder: Path) -> tuple[ArtifactError, ArtifactError]:
    """Cut a copy's probe.npz, load it, re-write its manifest, load again: both errors."""
    found = []
    shutil.copytree(source, folder)
    faults.truncate(folder / artifacts.PROBE_NAME)
    for _ in range(2):
        try:
            artifacts.load_version(folder)
        except ArtifactError as error:
            found.append(error)
        else:
            raise AssertionError(f"{folder}: a cut probe.npz loaded")
        integrity.write_manifest(folder)
    return found[0], found[1]


def _require_error(value: Any, name: str, function: str = "load_version") -> ArtifactError:
    require(value, name, f"the error {function} raised")
    expect(
        not isinstance(value, type),
        f"set `{name}` to the error object you caught "
        f"(`except helpers.errors.ArtifactError as error: {name} = error`), not its class.",
    )
    expect(
        isinstance(value, ArtifactError),
        f"`{name}` should be the helpers.errors.ArtifactError that {function} raised; got "
        f"{type(value).__name__}: {value!r}.",
    )
    expect(
        value.__traceback__ is not None,
        f"`{name}` was built, never raised: call {function} and keep the error it raises.",
    )
    return value


def _same(a: ArtifactError, b: ArtifactError) -> bool:
    return type(a) is type(b) and a.problem == b.problem


@exercise("9.3", "which check catches it?")
def exercise_3(
    first_error: Any,
    second_error: Any,
    source: str | os.PathLike[str],
    artifacts_dir: str | os.PathLike[str],
) -> str:
    """The two errors of the cut-probe experiment, compared with a repeat of it."""
    first = _require_error(first_error, "first_error")
    second = _require_error(second_error, "second_error")
    source = Path(source)
    _require_intact(source)
    folder = first.path if first.path.is_dir() else first.path.parent
    expect(
        folder.resolve() != source.resolve(),
        f"the error is about {paths.show(source)} itself: damage a copy "
        "(shutil.copytree(version_2, ARTIFACTS / 'exercise_3')).",
    )
    cut = folder / artifacts.PROBE_NAME
    whole = (source / artifacts.PROBE_NAME).stat().st_size
    expect(
        cut.is_file() and cut.stat().st_size == whole // 2,
        f"in {paths.show(folder)}, cut probe.npz to half its size "
        "(helpers.kit.faults.truncate(folder / 'probe.npz')) and leave the other files alone.",
    )
    scratch = _scratch(artifacts_dir, "exercise_3_check")
    expected_first, expected_second = _expected_errors(source, scratch / "copy")
    if not _same(first, expected_first):
        expect(
            not _same(first, expected_second),
            "`first_error` already got past the manifest: load once right after cutting the "
            "file, before re-writing the manifest.",
        )
        raise Hint(
            "the first load should be refused by the manifest, before TensorFlow reads "
            f"anything; `first_error` is {type(first).__name__}: {first.problem}"
        )
    expect(
        not _same(second, expected_first),
        "`second_error` is the manifest's again: re-write the manifest after the damage "
        "(helpers.integrity.write_manifest(folder)), then load again.",
    )
    expect(
        _same(second, expected_second),
        "with the manifest re-written, the second load should get past the manifest and fail "
        f"on the cut file; `second_error` is {type(second).__name__}: {second.problem}",
    )
    return (
        f"First the manifest ({type(first).__name__}: {first.problem}), before TensorFlow "
        "read a byte. With a manifest that vouches for the damage, the model loaded and the "
        f"probe check could not read the file: {type(second).__name__} naming "
        f"{second.path.name} ({second.problem})."
    )


# --- exercise 4: kill a writer, then clean up -----------------------------------------------


@dataclass(frozen=True)
class KillOutcome:
    """What a writer killed at ``step`` left in ``base``."""

    step: str
    base: Path
    killed: bool
    latest: str
    abandoned: tuple[str, ...]


def kill_outcomes(versions: Path, scratch: Path) -> dict[str, KillOutcome]:
    """Kill the copy writer at each step of :data:`helpers.artifacts.SAVE_STEPS` (except
    ``probe-written``: the copy writer stores no probe), each time in a fresh copy."""
    published = artifacts.published_versions(versions)
    source = published[-1][1]
    outcomes = {}
    for step in artifacts.SAVE_STEPS:
        if step == "probe-written":
            continue
        base = scratch / step
        for _, folder in published:
            shutil.copytree(folder, base / folder.name)
        killed = faults.kill_writer(base, source, step)
        outcomes[step] = KillOutcome(
            step,
            base,
            killed,
            artifacts.latest_published_version(base).name,
            tuple(folder.name for folder in artifacts.abandoned(base)),
        )
    return outcomes


def _check_clean_up(clean_up: Callable[[Path], Any], outcome: KillOutcome) -> None:
    base = outcome.base
    live = base / f"{artifacts.TEMP_PREFIX}{os.getpid()}-in-progress"
    live.mkdir()
    (live / "saved_model.pb").write_bytes(b"being written")
    versions = [(folder.name, integrity.read_manifest(folder)) for _, folder in
                artifacts.published_versions(base)]  # fmt: skip
    dead = [base / name for name in outcome.abandoned]
    removed = clean_up(base)
    expect(
        live.is_dir(),
        f"`clean_up` deleted {artifacts.TEMP_PREFIX}{os.getpid()}-…, whose writer (process "
        f"{os.getpid()}, this notebook's kernel) is still running: its save would fail at the "
        "rename. Delete only folders whose writer is gone: writer_pid(name) and "
        "process_alive(pid) tell.",
    )
    left = [folder.name for folder in dead if folder.exists()]
    expect(
        not left,
        f"after a kill at {outcome.step!r}, `clean_up` left the dead writer's temporary folder "
        "behind: delete every .tmp-<pid>-… folder whose writer process is gone "
        "(writer_pid(name), process_alive(pid)).",
    )
    for name, manifest in versions:
        expect(
            (base / name).is_dir()
            and manifest_matches(base / name)
            and integrity.read_manifest(base / name) == manifest,
            f"`clean_up` removed or changed the published version {name}: leave versions alone.",
        )
    expect(
        removed is not None
        and sorted(Path(p).resolve() for p in removed) == sorted(p.resolve() for p in dead),
        f"return the list of folders `clean_up` deleted; got {removed!r}.",
    )


OFF_LIMITS_4 = ("helpers.artifacts.abandoned", "helpers.artifacts.clean_abandoned")


@exercise("9.4", "kill a writer, then clean up")
def exercise_4(
    publishing_steps: Any,
    clean_up: Any,
    versions: str | os.PathLike[str],
    artifacts_dir: str | os.PathLike[str],
    off_limits: tuple[Any, ...] = (),
) -> str:
    """Which kill points publish the next version (a prediction), and a clean-up that spares
    live writers, written out: ``off_limits`` is the notebook's own ``abandoned``, refused
    like ``helpers.artifacts.abandoned`` and ``clean_abandoned``."""
    require(publishing_steps, "publishing_steps", "a list of steps from SAVE_STEPS")
    require(clean_up, "clean_up", "a function clean_up(base) returning what it deleted")
    expect(
        not isinstance(publishing_steps, str),
        "`publishing_steps` should be a list of step names, like ['written', 'renamed'].",
    )
    answer = list(publishing_steps)
    unknown = [step for step in answer if step not in artifacts.SAVE_STEPS]
    expect(not unknown, f"not steps of helpers.artifacts.SAVE_STEPS: {unknown}.")
    expect(callable(clean_up), "`clean_up` should be a function: `def clean_up(base): ...`.")
    versions = Path(versions)
    before = artifacts.latest_published_version(versions).name
    after = str(int(before) + 1)
    outcomes = kill_outcomes(versions, _scratch(artifacts_dir, "exercise_4_check"))
    broken = [step for step, outcome in outcomes.items() if not outcome.killed]
    expect(not broken, f"the writer was not killed at {broken}: re-run the notebook.")
    publishing = [step for step, outcome in outcomes.items() if outcome.latest == after]
    for step in answer:
        if step == "probe-written":
            raise Hint(
                "'probe-written' comes before the rename: a writer killed there leaves only "
                f"its temporary folder, and latest_published_version stays {before}."
            )
        outcome = outcomes[step]
        expect(
            step in publishing,
            f"a writer killed at {step!r} never renamed its temporary folder: "
            f"latest_published_version stayed {outcome.latest}, and its .tmp-… folder was left "
            f"behind ({len(outcome.abandoned)} abandoned).",
        )
    for step in publishing:
        expect(
            step in answer,
            f"killed at {step!r}, the writer had already renamed its folder: version {after} "
            "was published. The rename is the one moment a version appears; the steps after "
            "it only make it durable.",
        )
    with forbidden(*OFF_LIMITS_4, function=clean_up, own=off_limits, **NOTEBOOK_OWN):
        _check_clean_up(clean_up, outcomes["before-rename"])
        _check_clean_up(clean_up, outcomes["renamed"])
    return (
        f"Killed at any step before the rename, the writer left version {before} as the latest "
        f"and its temporary folder abandoned; from 'renamed' on, version {after} was "
        "published. `clean_up` removed the dead writer's folder and spared a live one."
    )


# --- exercise 5: fall back, or fail? --------------------------------------------------------


def _first_good(base: Path) -> tuple[Path, list[Path]]:
    """The highest version under ``base`` that verifies (manifest and files), and the ones
    above it that do not."""
    failed = []
    for _, folder in reversed(artifacts.published_versions(base)):
        try:
            artifacts.verify_version_folder(folder, parse=False)
        except ArtifactError:
            failed.append(folder)
            continue
        return folder, failed
    raise Hint(f"no version under {paths.show(base)} verifies any more: damage only the newest.")


@exercise("9.5", "fall back, or fail?")
def exercise_5(strict_error: Any, fallen_back: Any, versions: str | os.PathLike[str]) -> str:
    """The error of a strict ``load_latest`` and the result of ``fallback=True``, on a copy."""
    strict = _require_error(strict_error, "strict_error", "load_latest")
    require(fallen_back, "fallen_back", "what load_latest(..., fallback=True) returned")
    expect(
        isinstance(fallen_back, artifacts.Loaded),
        "`fallen_back` should be what helpers.artifacts.load_latest(base, expect=expected, "
        f"fallback=True) returned (a Loaded); got {type(fallen_back).__name__}.",
    )
    versions = Path(versions)
    for _, folder in artifacts.published_versions(versions):
        _require_intact(folder)
    base = fallen_back.path.parent
    expect(
        base.resolve() != versions.resolve(),
        "work on a copy of the versions folder "
        "(shutil.copytree(versions, ARTIFACTS / 'exercise_5')), never on the original.",
    )
    newest = artifacts.latest_published_version(base)
    try:
        integrity.verify_manifest(newest)
    except ArtifactError as error:
        damage = error
    else:
        raise Hint(
            f"the newest version in {paths.show(base)} ({newest.name}) still matches its "
            "manifest: flip a byte of its saved_model.pb "
            "(helpers.kit.faults.flip_byte(newest / 'saved_model.pb')), then load again."
        )
    expect(
        damage.problem.endswith("changed saved_model.pb"),
        f"change only saved_model.pb in version {newest.name}; its manifest says: {damage.problem}",
    )
    expect(
        strict.path.resolve() == newest.resolve(),
        f"`strict_error` should come from load_latest({paths.show(base)}) without fallback, "
        f"which refuses the newest version, {newest.name}; it names {paths.show(strict.path)}.",
    )
    expect(
        type(strict) is type(damage) and strict.problem == damage.problem,
        "`strict_error` should be the error load_latest raised for the damaged newest version "
        f"(the manifest's); got {type(strict).__name__}: {strict.problem}",
    )
    good, failed = _first_good(base)
    expect(
        fallen_back.path.resolve() == good.resolve(),
        f"with fallback=True, load_latest should serve version {good.name}, the highest that "
        f"passes its checks; `fallen_back` is version {fallen_back.path.name}.",
    )
    skipped = [line.split(":")[0] for line in fallen_back.skipped]
    expect(
        skipped == [folder.name for folder in failed],
        f"`fallen_back.skipped` should list the versions passed over ({[f.name for f in failed]})"
        f"; it lists {skipped}: did you load again after changing the folder?",
    )
    return (
        f"Without fallback, load_latest refused version {newest.name} "
        f"({type(strict).__name__}: {strict.problem}). With fallback=True it served version "
        f"{good.name}, and only `skipped` tells that version {newest.name} was passed over."
    )
