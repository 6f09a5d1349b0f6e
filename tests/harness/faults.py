"""The fault-injection suite for :mod:`helpers.artifacts`: damaged artifacts, a crash-proof
loader, kills. Test code: used by ``tests/test_fault_injection.py`` and
``tests/test_kill_points.py`` (through the ``report`` fixture of ``tests/conftest.py``); the
byte-level damage and the killed writer it builds on are :mod:`helpers.kit.faults`, which
notebooks 09 and 11 use too.

The pieces, put together by :func:`run_suite`:

- :func:`build_good` (TensorFlow, in a child process) saves good versions of one model in all
  three formats, plus artifacts that are valid but *not* the expected model (another
  architecture, float64, another input, an unsafe ``Lambda``...).
- :func:`make_damaged` (plain file operations) turns copies of the good versions into damaged
  ones: truncated, flipped bytes, missing or empty files, unreadable files, broken zips...
  Each file-level damage also exists "re-hashed": its manifest rewritten after the damage, so
  the checks behind the manifest (structure, signatures, the library, the probe) are tested too.
- :class:`LoaderClient` drives one long-lived child process (``python -m harness.faults
  serve``) that loads the cases one after another and reports each outcome over a pipe. A
  child that dies mid-case is a *crash* for that case, and is restarted.
- :func:`run_kill_point` runs the TensorFlow-free writer of :func:`helpers.kit.faults.kill_writer`
  (``python -m helpers.kit.faults write``), which copies a good version file by file through
  :func:`helpers.artifacts.save_version` and SIGKILLs itself at a named step;
  :func:`check_after_kill` checks what is left. One more kill lands inside a real
  ``model.export``, in the loader child.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from helpers import artifacts
from helpers.integrity import MANIFEST_NAME, write_manifest
from helpers.kit.faults import died_at, flip_byte, rewrite_zip, run_writer, truncate

TESTS = Path(__file__).resolve().parent.parent  # on PYTHONPATH, children find ``harness``

KINDS = ("savedmodel", "keras", "checkpoint")
PROBE_ROWS = 16
REFERENCE_NAME = "reference.npz"
# Valid artifacts that are not the expected model: (folder name, kind, what is different).
MISMATCHED = (
    ("other_arch_savedmodel", "savedmodel", "another architecture (16 hidden units)"),
    ("other_input_savedmodel", "savedmodel", "another input shape (32 features)"),
    ("float64_savedmodel", "savedmodel", "float64 instead of float32"),
    ("renamed_input_savedmodel", "savedmodel", "input named 'x', not 'pixels'"),
    ("seed_style_savedmodel", "savedmodel", "tf.saved_model.save(keras_model), the seed's way"),
    ("other_arch_keras", "keras", "another architecture (16 hidden units)"),
    ("float64_keras", "keras", "float64 instead of float32"),
    ("lambda_keras", "keras", "a Lambda layer (refused by safe_mode)"),
    ("other_arch_checkpoint", "checkpoint", "another architecture (16 hidden units)"),
    ("float64_checkpoint", "checkpoint", "float64 variables"),
    ("unrelated_checkpoint", "checkpoint", "a checkpoint of a step counter only"),
)


# --- good and mismatched artifacts (TensorFlow) ---------------------------------------------


def _model(
    hidden: int = 32, features: int = 64, dtype: str = "float32", name: str = "pixels"
) -> Any:
    """The kit's digits MLP, or a variant with another width, input size, dtype or input name."""
    import keras

    from helpers.kit.models import digits_mlp

    if (features, dtype, name) == (64, "float32", "pixels"):
        return digits_mlp(hidden)
    inputs = keras.Input(shape=(features,), name=name, dtype=dtype)
    hidden_out = keras.layers.Dense(hidden, activation="relu", dtype=dtype)(inputs)
    outputs = keras.layers.Dense(10, activation="softmax", dtype=dtype)(hidden_out)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _checkpoint_probe(model: Any, inputs: Any) -> tuple[Any, Any]:
    return inputs, model.predict(inputs, verbose=0)


def build_good(root: str | os.PathLike[str]) -> None:
    """Save the good versions and the mismatched artifacts under ``root`` (imports TF)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from helpers.kit.data import load_digits
    from helpers.kit.setup import seed_everything

    root = Path(root)
    seed_everything()
    probe = load_digits().x_test[:PROBE_ROWS]
    model = _model()
    model.fit(probe, np.arange(PROBE_ROWS) % 10, epochs=1, verbose=0)  # not just initial weights
    np.savez(root / REFERENCE_NAME, inputs=probe, outputs=model.predict(probe, verbose=0))
    good = root / "good"
    artifacts.export_savedmodel_version(model, good / "savedmodel", probe_inputs=probe)
    artifacts.save_keras_version(model, good / "keras", probe_inputs=probe)
    artifacts.save_checkpoint_version(
        tf.train.Checkpoint(model=model), good / "checkpoint", probe=_checkpoint_probe(model, probe)
    )
    other_seed = _model()  # same architecture, other weights: for "variables swapped"
    artifacts.export_savedmodel_version(other_seed, root / "other_seed" / "savedmodel")
    artifacts.save_checkpoint_version(
        tf.train.Checkpoint(model=other_seed), root / "other_seed" / "checkpoint"
    )

    mismatched = root / "mismatched"
    narrow = _model(hidden=16)
    wide_input = _model(features=32)
    float64 = _model(dtype="float64")
    renamed = _model(name="x")
    artifacts.export_savedmodel_version(
        narrow, mismatched / "other_arch_savedmodel", probe_inputs=probe
    )
    artifacts.export_savedmodel_version(wide_input, mismatched / "other_input_savedmodel")
    artifacts.export_savedmodel_version(float64, mismatched / "float64_savedmodel")
    artifacts.export_savedmodel_version(
        renamed, mismatched / "renamed_input_savedmodel", probe_inputs=probe
    )
    artifacts.save_version(
        mismatched / "seed_style_savedmodel", lambda folder: tf.saved_model.save(model, str(folder))
    )
    artifacts.save_keras_version(narrow, mismatched / "other_arch_keras", probe_inputs=probe)
    artifacts.save_keras_version(float64, mismatched / "float64_keras")
    inputs = keras.Input(shape=(64,), name="pixels")
    lambda_model = keras.Model(inputs, keras.layers.Lambda(lambda x: x[:, :10] * 2.0)(inputs))
    artifacts.save_keras_version(lambda_model, mismatched / "lambda_keras")
    artifacts.save_checkpoint_version(
        tf.train.Checkpoint(model=narrow),
        mismatched / "other_arch_checkpoint",
        probe=_checkpoint_probe(narrow, probe),
    )
    artifacts.save_checkpoint_version(
        tf.train.Checkpoint(model=float64), mismatched / "float64_checkpoint"
    )
    artifacts.save_checkpoint_version(
        tf.train.Checkpoint(step=tf.Variable(7, dtype=tf.int64)),
        mismatched / "unrelated_checkpoint",
    )


# --- damaged artifacts (plain file operations) ----------------------------------------------


@dataclass(frozen=True)
class Case:
    """One artifact to load: where it is, how to load it, and what was done to it."""

    name: str
    kind: str
    path: str
    damage: str
    # "version": load_version; "latest": load_latest; "file": a .keras file;
    # "unchecked": load_version with every check off (controls for the silent-wrong detector)
    how: str = "version"
    rehashed: bool = False


def make_unreadable(path: Path) -> None:
    """Replace a file by a dangling symbolic link (``chmod 000`` does not stop root)."""
    path.unlink()
    path.symlink_to(path.with_name(path.name + ".gone"))


def replace_by_folder(path: Path) -> None:
    """Replace a file by an empty folder of the same name."""
    path.unlink()
    path.mkdir()


def _data_file(folder: Path, pattern: str) -> Path:
    (found,) = sorted(folder.glob(pattern))
    return found


def _swap_variables(source: Path) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        shutil.rmtree(folder / "variables")
        shutil.copytree(source / "variables", folder / "variables")

    return damage


def _swap_checkpoint(source: Path) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        for file in folder.glob(f"{artifacts.CHECKPOINT_PREFIX}.*"):
            file.unlink()
        for file in source.glob(f"{artifacts.CHECKPOINT_PREFIX}.*"):
            shutil.copy2(file, folder / file.name)

    return damage


def _keras_json(member: str, text: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        rewrite_zip(
            folder / artifacts.KERAS_NAME,
            lambda name, data: text.encode() if name == member else data,
        )

    return damage


def _keras_drop(member: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        rewrite_zip(folder / artifacts.KERAS_NAME, lambda n, d: None if n == member else d)

    return damage


def _keras_member(member: str, action: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        rewrite_zip(
            folder / artifacts.KERAS_NAME,
            lambda name, data: action(data) if name == member else data,
        )

    return damage


def _flip_bytes(data: bytes) -> bytes:
    changed = bytearray(data)
    for position in range(len(changed) // 2, len(changed) // 2 + 64):
        changed[position] ^= 0xFF
    return bytes(changed)


def _file_damages(root: Path) -> dict[str, tuple[str, str, Callable[[Path], None]]]:
    """name -> (kind, description, damage(folder)); each applied to a copy of a good version."""
    sm_data = "variables/variables.data-00000-of-00001"
    other = root / "other_seed"
    return {
        "sm_truncated_variables_data": ("savedmodel", "variables data cut in half",
            lambda f: truncate(f / sm_data)),
        "sm_empty_variables_data": ("savedmodel", "variables data emptied",
            lambda f: truncate(f / sm_data, 0.0)),
        "sm_flipped_variables_data": ("savedmodel", "one byte of the variables data flipped",
            lambda f: flip_byte(f / sm_data)),
        "sm_flipped_saved_model_pb": ("savedmodel", "one byte of saved_model.pb flipped",
            lambda f: flip_byte(f / "saved_model.pb")),
        "sm_flipped_saved_model_pb_early": ("savedmodel", "a byte near the start of saved_model.pb",
            lambda f: flip_byte(f / "saved_model.pb", 0.01)),
        "sm_truncated_saved_model_pb": ("savedmodel", "saved_model.pb cut in half",
            lambda f: truncate(f / "saved_model.pb")),
        "sm_empty_saved_model_pb": ("savedmodel", "saved_model.pb emptied",
            lambda f: truncate(f / "saved_model.pb", 0.0)),
        "sm_missing_saved_model_pb": ("savedmodel", "saved_model.pb deleted",
            lambda f: (f / "saved_model.pb").unlink()),
        "sm_missing_index": ("savedmodel", "variables/variables.index deleted",
            lambda f: (f / "variables/variables.index").unlink()),
        "sm_flipped_index": ("savedmodel", "one byte of variables.index flipped",
            lambda f: flip_byte(f / "variables/variables.index")),
        "sm_missing_variables_data": ("savedmodel", "the variables data file deleted",
            lambda f: (f / sm_data).unlink()),
        "sm_variables_is_a_file": ("savedmodel", "variables/ replaced by an empty file",
            lambda f: (shutil.rmtree(f / "variables"), (f / "variables").touch())),
        "sm_unreadable_saved_model_pb": ("savedmodel", "saved_model.pb a dangling link",
            lambda f: make_unreadable(f / "saved_model.pb")),
        "sm_pb_is_a_folder": ("savedmodel", "saved_model.pb replaced by a folder",
            lambda f: replace_by_folder(f / "saved_model.pb")),
        "sm_swapped_variables": ("savedmodel", "variables/ of another training run",
            _swap_variables(other / "savedmodel" / "1")),
        "sm_probe_damaged": ("savedmodel", "one byte of probe.npz flipped",
            lambda f: flip_byte(f / artifacts.PROBE_NAME, 0.9)),
        "keras_not_a_zip": ("keras", "model.keras is a text file",
            lambda f: (f / artifacts.KERAS_NAME).write_text("not a zip\n")),
        "keras_truncated": ("keras", "model.keras cut in half",
            lambda f: truncate(f / artifacts.KERAS_NAME)),
        "keras_flipped_byte": ("keras", "one byte of model.keras flipped",
            lambda f: flip_byte(f / artifacts.KERAS_NAME, 0.7)),
        "keras_broken_config_json": ("keras", "config.json is not valid JSON",
            _keras_json("config.json", '{"class_name": "Functional", "config": {')),
        "keras_wrong_config_json": ("keras", "config.json valid JSON, not a model",
            _keras_json("config.json", '{"class_name": "NoSuchLayer", "config": {}}')),
        "keras_missing_weights": ("keras", "model.weights.h5 removed from the zip",
            _keras_drop("model.weights.h5")),
        "keras_truncated_weights": ("keras", "model.weights.h5 inside the zip cut in half",
            _keras_member("model.weights.h5", lambda d: d[: len(d) // 2])),
        "keras_flipped_weights": ("keras", "64 bytes in the middle of model.weights.h5 flipped",
            _keras_member("model.weights.h5", _flip_bytes)),
        "keras_is_a_folder": ("keras", "model.keras replaced by a folder",
            lambda f: replace_by_folder(f / artifacts.KERAS_NAME)),
        "ckpt_missing_index": ("checkpoint", "ckpt.index deleted",
            lambda f: (f / "ckpt.index").unlink()),
        "ckpt_truncated_data": ("checkpoint", "checkpoint data cut in half",
            lambda f: truncate(_data_file(f, "ckpt.data-*"))),
        "ckpt_flipped_data": ("checkpoint", "one byte of the checkpoint data flipped",
            lambda f: flip_byte(_data_file(f, "ckpt.data-*"))),
        "ckpt_flipped_index": ("checkpoint", "one byte of ckpt.index flipped",
            lambda f: flip_byte(f / "ckpt.index")),
        "ckpt_empty_index": ("checkpoint", "ckpt.index emptied",
            lambda f: truncate(f / "ckpt.index", 0.0)),
        "ckpt_swapped_data": ("checkpoint", "the checkpoint of another training run",
            _swap_checkpoint(other / "checkpoint" / "1")),
    }  # fmt: skip


def _copy_version(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def make_damaged(root: str | os.PathLike[str]) -> list[Case]:
    """Every damaged or mismatched case under ``root`` (after :func:`build_good`)."""
    root = Path(root)
    cases_dir = root / "cases"
    cases: list[Case] = []
    for name, (kind, description, damage) in _file_damages(root).items():
        for rehashed in (False, True):
            label = f"{name}+rehashed" if rehashed else name
            folder = _copy_version(root / "good" / kind / "1", cases_dir / label)
            damage(folder)
            if rehashed:
                write_manifest(folder)
            cases.append(Case(label, kind, str(folder), description, rehashed=rehashed))
    for name, kind, description in MISMATCHED:
        folder = root / "mismatched" / name / "1"
        cases.append(Case(name, kind, str(folder), description))

    def add(name: str, kind: str, description: str, how: str = "version") -> Path:
        folder = cases_dir / name
        cases.append(Case(name, kind, str(folder), description, how=how))
        return folder

    add("empty_folder", "savedmodel", "an empty version folder").mkdir(parents=True)
    folder = _copy_version(
        root / "good/savedmodel/1", add("no_manifest", "savedmodel", "no manifest")
    )
    (folder / MANIFEST_NAME).unlink()
    folder = _copy_version(
        root / "good/savedmodel/1", add("malformed_manifest", "savedmodel", "manifest garbled")
    )
    (folder / MANIFEST_NAME).write_text("this is not sha256sum output\n")
    folder = _copy_version(
        root / "good/savedmodel/1", add("extra_file", "savedmodel", "a file the save did not write")
    )
    (folder / "variables" / "notes.txt").write_text("added later\n")
    add("missing_folder", "savedmodel", "the version folder does not exist")
    add("file_not_folder", "savedmodel", "a file where the version folder should be").parent.mkdir(
        parents=True, exist_ok=True
    )
    (cases_dir / "file_not_folder").write_text("oops\n")
    base = add("only_partial_versions", "savedmodel", "versions: only a .tmp folder", how="latest")
    _copy_version(root / "good/savedmodel/1", base / ".tmp-1-abandoned")
    (base / ".tmp-1-abandoned" / "saved_model.pb").unlink()
    base = add("latest_damaged", "savedmodel", "versions: 2 damaged, 1 good", how="latest")
    _copy_version(root / "good/savedmodel/1", base / "1")
    flip_byte(_copy_version(root / "good/savedmodel/1", base / "2") / "saved_model.pb")
    single = add("keras_file_no_manifest", "keras", "a lone .keras file without manifest", "file")
    single = single.with_suffix(".keras")
    shutil.copy2(root / "good/keras/1" / artifacts.KERAS_NAME, single)
    cases[-1] = Case(cases[-1].name, "keras", str(single), cases[-1].damage, how="file")
    return cases


# --- the loader child -----------------------------------------------------------------------


@dataclass
class Outcome:
    """What happened to one case."""

    case: str
    outcome: str  # clear-error, unclear-error, loaded-identical, silent-wrong, crash, hang
    error_type: str = ""
    message: str = ""
    seconds: float = 0.0


def child_env() -> dict[str, str]:
    """This process's environment, with ``tests/`` first on ``PYTHONPATH``."""
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def _serve(root: Path) -> None:
    """The child's loop: one JSON request per line on stdin, one JSON answer per line."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed on stdout (by TF's C++ too) goes to stderr
    sys.stdout = sys.stderr
    import numpy as np

    from helpers import verify
    from helpers.errors import ArtifactError
    from helpers.kit.setup import quiet_tensorflow, seed_everything

    quiet_tensorflow()
    seed_everything()
    expect = artifacts.Expected.from_model(_model())
    protocol.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("op") == "build":
            build_good(root)
            protocol.write(json.dumps({"built": True}) + "\n")
            continue
        if request.get("op") == "ping":
            protocol.write(json.dumps({"pong": True}) + "\n")
            continue
        if request.get("op") == "export-and-die":
            _export_and_die(Path(request["base"]), protocol)
            continue
        case = Case(**request)
        started = time.perf_counter()
        try:
            if case.how == "latest":
                loaded = artifacts.load_latest(case.path, expect=expect, restore_into=_model())
                predict = loaded.predict
            elif case.how == "unchecked":  # controls: no manifest, probe or expectations
                loaded = artifacts.load_version(
                    case.path, manifest=False, probe=False, restore_into=_model()
                )
                predict = loaded.predict
            elif case.how == "file":
                model = artifacts.load_keras_file(case.path, expect=expect)
                predict = lambda x, model=model: model.predict(x, verbose=0)  # noqa: E731
            else:
                loaded = artifacts.load_version(case.path, expect=expect, restore_into=_model())
                predict = loaded.predict
            with np.load(root / REFERENCE_NAME) as reference:
                comparison = verify.compare(
                    reference["outputs"], predict(reference["inputs"]), names=("good", "loaded")
                )
            result = Outcome(
                case.name, "loaded-identical" if comparison.identical else "silent-wrong",
                message=str(comparison),
            )  # fmt: skip
        except ArtifactError as error:
            # a clear error names the artifact: the case's path or a file inside it
            inside = Path(case.path) in (error.path, *error.path.parents)
            result = Outcome(
                case.name, "clear-error" if inside else "unclear-error",
                type(error).__name__, str(error.problem),
            )  # fmt: skip
        except Exception as error:
            result = Outcome(case.name, "unclear-error", type(error).__name__, str(error)[:300])
        result.seconds = round(time.perf_counter() - started, 3)
        protocol.write(json.dumps(asdict(result)) + "\n")


class LoaderClient:
    """One long-lived loader child; restarted when a case kills it."""

    def __init__(
        self,
        root: Path,
        *,
        timeout: float = 120.0,
        start_timeout: float = 600.0,
        command: list[str] | None = None,
    ) -> None:
        """``timeout``: seconds one case may take before it counts as a hang;
        ``start_timeout``: seconds the child may take to start (import TensorFlow)."""
        self.root = Path(root)
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.command = command or [sys.executable, "-m", "harness.faults", "serve", str(root)]
        self.restarts = 0
        self.log = self.root / "loader-stderr.log"
        self.process: subprocess.Popen[str] | None = None
        self._start()

    def _start(self, *, wait: bool = True) -> None:
        log = open(self.log, "a")  # noqa: SIM115 (the child keeps it)
        self.process = subprocess.Popen(
            self.command,
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            bufsize=1,
        )
        log.close()
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Block until the (re)started child says it is ready (TensorFlow imported)."""
        answer = self._read(self.start_timeout)
        if answer is None or "ready" not in answer:
            raise RuntimeError(f"the loader child did not start; see {self.log}")

    def _read(self, timeout: float | None = None) -> dict[str, Any] | None:
        import selectors

        assert self.process is not None and self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(self.timeout if timeout is None else timeout):
                return {"hang": True}
        line = self.process.stdout.readline()
        return json.loads(line) if line else None

    def request(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(payload) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return None
        return self._read()

    def build(self) -> None:
        if self.request({"op": "build"}) != {"built": True}:
            raise RuntimeError(f"building the good artifacts failed; see {self.log}")

    def load(self, case: Case) -> Outcome:
        started = time.perf_counter()
        answer = self.request(asdict(case))
        if answer is None or "hang" in answer:
            outcome = "crash" if answer is None else "hang"
            returncode = self.restart()
            return Outcome(
                case.name, outcome, message=f"child exit code {returncode}",
                seconds=round(time.perf_counter() - started, 3),
            )  # fmt: skip
        return Outcome(**answer)

    def restart(self, *, crashed: bool = True, wait: bool = True) -> int | None:
        """Kill the child (if still alive) and start a new one; returns the old exit code.

        With ``wait=False`` call :meth:`wait_ready` before the next request (meanwhile the
        caller can do other work while the child imports TensorFlow)."""
        assert self.process is not None
        self.process.kill()
        returncode = self.process.wait()
        self.restarts += crashed
        self._start(wait=wait)
        return returncode

    def close(self) -> None:
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=60)
            self.process = None


# --- kill points ----------------------------------------------------------------------------


def writer_steps(source: Path) -> list[str]:
    """Every step at which :func:`run_kill_point` can kill a copy of ``source``."""
    steps: list[str] = []
    for item in sorted(source.rglob("*")):
        relative = item.relative_to(source).as_posix()
        if item.is_dir():
            steps.append(f"mkdir:{relative}")
        elif item.name != MANIFEST_NAME:
            steps += [f"half:{relative}", f"whole:{relative}"]
    return ["temp-created", *steps] + [
        step for step in artifacts.SAVE_STEPS if step not in ("temp-created", "probe-written")
    ]


@dataclass
class KillResult:
    """What one kill point left behind, and whether the versions survived it."""

    kind: str
    step: str
    killed: bool
    latest: str
    expected_latest: str
    versions_lost: int
    partial_folders: int
    cleaned: int
    leftovers_after_clean: int
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.killed
            and self.latest == self.expected_latest
            and self.versions_lost == 0
            and self.leftovers_after_clean == 0
        )


def run_kill_point(base: Path, source: Path, kind: str, step: str) -> KillResult:
    """Kill a writer of a new version under ``base`` at ``step``; check what is left."""
    before = [folder for _, folder in artifacts.published_versions(base)]
    result = run_writer(base, source, step)
    killed = died_at(result, step)
    notes = [] if killed else [f"exit {result.returncode}: {result.stderr[-300:]}"]
    return check_after_kill(base, before, kind, step, killed, notes)


def check_after_kill(
    base: Path, before: list[Path], kind: str, step: str, killed: bool, notes: list[str]
) -> KillResult:
    """After a writer died at ``step``: did every version in ``before`` survive, is "latest"
    the expected one, and does :func:`helpers.artifacts.clean_abandoned` leave nothing?"""
    from helpers.errors import ArtifactError

    published = step in ("renamed", "parent-synced")
    expected = str(max(int(folder.name) for folder in before) + (1 if published else 0))
    lost = 0
    for folder in before:
        try:
            artifacts.verify_version_folder(folder, parse=False)
        except ArtifactError as error:
            lost += 1
            notes.append(f"version {folder.name} lost: {error}")
    try:
        latest = artifacts.latest_published_version(base)
        artifacts.verify_version_folder(latest, parse=False)
        latest_name = latest.name
    except ArtifactError as error:
        latest_name = f"error: {error}"
    partial = artifacts.abandoned(base)
    cleaned = artifacts.clean_abandoned(base)
    published_now = [folder for _, folder in artifacts.published_versions(base)]
    leftovers = [
        child.name
        for child in base.iterdir()
        if child.name.startswith(artifacts.TEMP_PREFIX)
        or (child.name.isdigit() and child not in published_now)
    ]
    return KillResult(
        kind, step, killed, latest_name, expected, lost, len(partial), len(cleaned),
        len(leftovers), notes,
    )  # fmt: skip


def _export_and_die(base: Path, protocol: Any) -> None:
    """In the TF loader child: SIGKILL this process inside ``model.export``, as soon as the
    variables are on disk (at the latest when the export returns)."""
    import threading

    import numpy as np

    lock = threading.Lock()

    def die(where: str) -> None:
        lock.acquire()  # the watcher and the main thread may both get here: one reports
        temps = list(base.glob(f"{artifacts.TEMP_PREFIX}{os.getpid()}-*"))
        graph = bool(temps) and (temps[0] / "saved_model.pb").exists()
        protocol.write(json.dumps({"killed": where, "saved_model_pb_written": graph}) + "\n")
        protocol.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def watch() -> None:
        while True:
            for temp in base.glob(f"{artifacts.TEMP_PREFIX}{os.getpid()}-*"):
                if (temp / "variables" / "variables.index").exists():
                    die("inside model.export")
            time.sleep(0.0002)

    def on_step(step: str) -> None:
        if step == "temp-created":
            threading.Thread(target=watch, daemon=True).start()
        elif step == "written":
            die("after model.export")

    model = _model(hidden=32)
    artifacts.export_savedmodel_version(
        model, base, probe_inputs=np.zeros((2, 64), "float32"), on_step=on_step
    )


# --- the whole suite ------------------------------------------------------------------------


@dataclass
class SuiteReport:
    """Figures of one run of the fault-injection suite."""

    outcomes: list[Outcome]
    controls: list[Outcome]  # good versions must load; unchecked bad ones must be seen as wrong
    kills: list[KillResult]
    latest_loads: list[Outcome]
    loader_restarts: int
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        return sum(1 for item in self.outcomes if item.outcome == outcome)

    def summary(self) -> str:
        good_latest = sum(item.outcome == "loaded-identical" for item in self.latest_loads)
        return (
            f"artifacts tried {len(self.outcomes)}, clear errors {self.count('clear-error')}, "
            f"loaded correctly {self.count('loaded-identical')}, crashes {self.count('crash')}, "
            f"hangs {self.count('hang')}, unclear errors {self.count('unclear-error')}, "
            f"silent wrong loads {self.count('silent-wrong')}; kill points {len(self.kills)}, "
            f"versions lost {sum(k.versions_lost for k in self.kills)}, "
            f"latest after a kill loaded {good_latest}"
            f"/{len(self.latest_loads)}; loader restarts {self.loader_restarts}; "
            f"{self.seconds:.0f} s"
        )


def control_cases(root: Path) -> list[Case]:
    """Cases whose outcome is known: the good versions (must load, identical predictions) and
    two wrong artifacts loaded with every check off (must be detected as silent wrong loads)."""
    good = [
        Case(f"control good {kind}", kind, str(root / "good" / kind / "1"), "none")
        for kind in KINDS
    ]
    wrong = [
        Case("control unchecked other architecture", "keras",
             str(root / "mismatched" / "other_arch_keras" / "1"), "checks off", how="unchecked"),
        Case("control unchecked swapped checkpoint", "checkpoint",
             str(root / "cases" / "ckpt_swapped_data+rehashed"), "checks off", how="unchecked"),
    ]  # fmt: skip
    return good + wrong


def run_suite(root: str | os.PathLike[str]) -> SuiteReport:
    """Build the good artifacts, kill a TensorFlow writer, kill the copy writers at every step,
    then load every damaged case, the controls and each "latest" left by a kill, in one loader
    child (restarted only after the deliberate kill, while the copy writers run)."""
    started = time.perf_counter()
    phases: dict[str, float] = {}

    def lap(name: str) -> None:
        phases[name] = round(time.perf_counter() - started - sum(phases.values()), 1)

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    client = LoaderClient(root)
    try:
        lap("start loader")
        client.build()
        lap("build good artifacts")
        # A kill inside TensorFlow's own writer kills the loader child; the damaged copies are
        # made and the copy writers killed while its replacement imports TensorFlow.
        tf_base = root / "kills" / "savedmodel-tensorflow"
        _copy_version(root / "good" / "savedmodel" / "1", tf_base / "1")
        answer = client.request({"op": "export-and-die", "base": str(tf_base)}) or {}
        assert client.process is not None
        died = client.process.wait(timeout=60) == -signal.SIGKILL
        client.restart(crashed=False, wait=False)
        step = str(answer.get("killed", "not reached"))
        note = f"saved_model.pb written before the kill: {answer.get('saved_model_pb_written')}"
        kills = [check_after_kill(tf_base, [tf_base / "1"], "savedmodel", step, died, [note])]
        latest_cases = [Case("latest after kill in model.export", "savedmodel", str(tf_base),
                             "TF writer killed", how="latest")]  # fmt: skip
        lap("kill a TensorFlow writer")
        cases = make_damaged(root)
        lap("make damaged copies")
        for kind in KINDS:
            source = root / "good" / kind / "1"
            for step in writer_steps(source):
                base = root / "kills" / f"{kind}-{step.replace('/', '_').replace(':', '-')}"
                _copy_version(source, base / "1")
                kills.append(run_kill_point(base, source, kind, step))
                latest_cases.append(Case(f"latest after kill {kind} {step}", kind, str(base),
                                         "a writer killed", how="latest"))  # fmt: skip
        lap("kill copy writers")
        client.wait_ready()
        lap("wait for the new loader")
        outcomes = [client.load(case) for case in cases]
        controls = [client.load(case) for case in control_cases(root)]
        lap("load damaged cases and controls")
        latest_loads = [client.load(case) for case in latest_cases]
        lap("load latest after each kill")
    finally:
        client.close()
    report = SuiteReport(
        outcomes,
        controls,
        kills,
        latest_loads,
        client.restarts,
        time.perf_counter() - started,
        phases,
    )
    (root / "report.json").write_text(json.dumps(asdict(report), indent=1))
    return report


_SHARED: dict[str, SuiteReport] = {}


def shared_suite(root: str | os.PathLike[str]) -> SuiteReport:
    """:func:`run_suite` once per ``root``, even across pytest-xdist worker processes.

    The first caller runs it (holding a lock file) and pickles the report under ``root``; other
    processes wait for the lock and read the report. POSIX only, like the kill points.
    """
    import fcntl
    import pickle

    root = Path(root)
    if str(root) not in _SHARED:
        root.mkdir(parents=True, exist_ok=True)
        stored = root / "report.pickle"
        with open(root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if stored.is_file():
                report = pickle.loads(stored.read_bytes())
            else:
                report = run_suite(root / "run")
                stored.write_bytes(pickle.dumps(report))
        _SHARED[str(root)] = report
    return _SHARED[str(root)]


def main(argv: list[str]) -> None:
    command, *rest = argv
    if command == "serve":
        _serve(Path(rest[0]))
    elif command == "suite":
        print(run_suite(Path(rest[0])).summary())
    else:
        raise SystemExit(f"unknown command {command!r}: serve or suite")


if __name__ == "__main__":
    main(sys.argv[1:])
