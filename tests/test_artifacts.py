"""helpers.artifacts without TensorFlow: atomic versions, manifests, clean-up, errors.

Loading real SavedModels, ``.keras`` files and checkpoints is exercised by the fault-injection
suite (tests/test_fault_injection.py and tests/test_kill_points.py).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from nbsource import assert_same_code, notebook_definition

from helpers import artifacts, integrity
from helpers.errors import (
    ArtifactError,
    ArtifactNotFoundError,
    CorruptArtifactError,
    IncompleteArtifactError,
    IntegrityError,
)
from helpers.integrity import MANIFEST_NAME

posix_only = pytest.mark.skipif(
    os.name == "nt", reason="POSIX permissions and process ids (os.kill(pid, 0))"
)


def fake_checkpoint(folder: Path) -> None:
    """A writer that needs no TensorFlow: two files shaped like a checkpoint."""
    (folder / "ckpt.index").write_bytes(b"index")
    (folder / "ckpt.data-00000-of-00001").write_bytes(b"values" * 100)


def make_version(base, name, complete=True):
    """A stand-in SavedModel version: the files inspect_savedmodel looks for, no TensorFlow."""
    folder = base / name
    (folder / "variables").mkdir(parents=True)
    if complete:
        (folder / "saved_model.pb").write_bytes(b"graph")
        (folder / "variables" / "variables.index").write_bytes(b"index")
        (folder / "variables" / "variables.data-00000-of-00001").write_bytes(b"values")
    return folder


def a_dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@posix_only
def test_versions_are_numbered_published_with_manifest_and_readable(tmp_path):
    base = tmp_path / "model"
    first = artifacts.save_version(base, fake_checkpoint)
    second = artifacts.save_version(base, fake_checkpoint)
    assert (first.name, second.name) == ("1", "2")
    assert (second / MANIFEST_NAME).is_file()
    assert artifacts.latest_published_version(base) == second
    assert artifacts.verify_version_folder(second) == "checkpoint"
    assert os.stat(second).st_mode & 0o777 == 0o755  # not mkdtemp's private 0o700
    assert sorted(child.name for child in base.iterdir()) == ["1", "2"]  # no temp folder left


def test_steps_run_in_order_and_probe_is_stored(tmp_path):
    steps: list[str] = []
    probe = (np.ones((2, 3), "float32"), np.zeros((2, 1), "float32"))
    folder = artifacts.save_version(tmp_path, fake_checkpoint, probe=probe, on_step=steps.append)
    assert steps == list(artifacts.SAVE_STEPS)
    with np.load(folder / artifacts.PROBE_NAME) as stored:
        np.testing.assert_array_equal(stored["inputs"], probe[0])


def test_a_failing_writer_leaves_no_version_and_no_temp_folder(tmp_path):
    def broken(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        artifacts.save_version(tmp_path, broken)
    assert list(tmp_path.iterdir()) == []


def test_temp_folder_is_never_a_version_while_writing(tmp_path):
    seen = {}

    def spy(step: str) -> None:
        if step == "files-synced":
            seen["versions"] = artifacts.version_dirs(tmp_path)
            seen["published"] = artifacts.published_versions(tmp_path)
            seen["names"] = [child.name for child in tmp_path.iterdir()]

    artifacts.save_version(tmp_path, fake_checkpoint, on_step=spy)
    assert seen["versions"] == [] and seen["published"] == []
    assert seen["names"][0].startswith(f"{artifacts.TEMP_PREFIX}{os.getpid()}-")


def test_a_concurrent_writer_taking_the_number_moves_us_to_the_next(tmp_path):
    def rival(step: str) -> None:
        if step == "before-rename" and not (tmp_path / "1").exists():
            (tmp_path / "1").mkdir()
            (tmp_path / "1" / "theirs.txt").write_text("another writer's version\n")

    folder = artifacts.save_version(tmp_path, fake_checkpoint, on_step=rival)
    assert folder.name == "2"
    assert (tmp_path / "1" / "theirs.txt").is_file()


@posix_only
def test_clean_abandoned_removes_dead_writers_only(tmp_path):
    dead = tmp_path / f"{artifacts.TEMP_PREFIX}{a_dead_pid()}-abc"
    alive = tmp_path / f"{artifacts.TEMP_PREFIX}{os.getpid()}-def"
    unpublished = tmp_path / "3"
    for folder in (dead, alive, unpublished):
        folder.mkdir()
    other = tmp_path / "notes"  # not ours: never touched
    other.mkdir()
    assert artifacts.abandoned(tmp_path) == [dead]
    assert artifacts.clean_abandoned(tmp_path) == [dead]
    assert artifacts.unpublished_versions(tmp_path) == [unpublished]
    removed = artifacts.clean_abandoned(tmp_path, max_age=-1, unpublished=True)
    assert removed == [alive, unpublished]
    assert [child.name for child in tmp_path.iterdir()] == ["notes"]


@posix_only
def test_temp_folders_without_a_pid_or_on_shared_storage_go_by_age_only(tmp_path):
    no_pid = tmp_path / f"{artifacts.TEMP_PREFIX}by-hand"
    dead = tmp_path / f"{artifacts.TEMP_PREFIX}{a_dead_pid()}-abc"
    no_pid.mkdir()
    dead.mkdir()
    assert artifacts.abandoned(tmp_path) == [dead]
    assert artifacts.abandoned(tmp_path, same_host=False) == []
    assert artifacts.abandoned(tmp_path, same_host=False, max_age=3600) == []
    assert artifacts.abandoned(tmp_path, same_host=False, max_age=-1) == sorted([no_pid, dead])


def test_latest_published_version_names_the_problem(tmp_path):
    with pytest.raises(ArtifactNotFoundError, match="no such folder"):
        artifacts.latest_published_version(tmp_path / "missing")
    (tmp_path / "1").mkdir()  # numbered, but never published (no manifest)
    with pytest.raises(IncompleteArtifactError, match="no published version") as caught:
        artifacts.latest_published_version(tmp_path)
    assert caught.value.path == tmp_path


def test_verify_version_folder_catches_each_problem(tmp_path):
    with pytest.raises(ArtifactNotFoundError):
        artifacts.verify_version_folder(tmp_path / "9")
    (tmp_path / "file").write_text("x")
    with pytest.raises(IncompleteArtifactError, match="is a file"):
        artifacts.verify_version_folder(tmp_path / "file")
    folder = artifacts.save_version(tmp_path / "base", fake_checkpoint)
    (folder / "ckpt.index").write_bytes(b"indeX")
    with pytest.raises(IntegrityError, match=r"changed ckpt\.index") as caught:
        artifacts.verify_version_folder(folder)
    assert str(folder) in str(caught.value)
    (folder / "ckpt.index").write_bytes(b"")
    with pytest.raises(IncompleteArtifactError, match=r"ckpt\.index is missing or empty"):
        artifacts.verify_version_folder(folder, manifest=False)
    (folder / "ckpt.index").write_bytes(b"index")
    (folder / "ckpt.data-00000-of-00001").unlink()
    with pytest.raises(IncompleteArtifactError, match=r"data file missing: no ckpt\.data-\*"):
        artifacts.verify_version_folder(folder, manifest=False)
    strange = artifacts.save_version(tmp_path / "other", lambda f: (f / "a.txt").write_text("?"))
    with pytest.raises(IncompleteArtifactError, match="holds no SavedModel"):
        artifacts.verify_version_folder(strange)


def test_load_latest_without_fallback_raises_and_with_fallback_lists_skips(tmp_path):
    for _ in range(2):
        artifacts.save_version(tmp_path, fake_checkpoint)
    for number in ("1", "2"):
        (tmp_path / number / "ckpt.index").write_bytes(b"damaged")
    with pytest.raises(IntegrityError) as caught:
        artifacts.load_latest(tmp_path)
    assert caught.value.path == tmp_path / "2"
    with pytest.raises(IncompleteArtifactError, match="no version passed its checks") as caught:
        artifacts.load_latest(tmp_path, fallback=True)
    assert "2: IntegrityError" in str(caught.value) and "1: IntegrityError" in str(caught.value)


def test_version_dirs_only_numbers_in_numeric_order(tmp_path):
    for name in ["2", "10", "1", ".tmp-3", "3.partial", "latest", "٣"]:
        (tmp_path / name).mkdir()
    (tmp_path / "4").write_text("a file, not a version")
    assert [number for number, _ in artifacts.version_dirs(tmp_path)] == [1, 2, 10]


def test_next_version_counts_incomplete_versions_too(tmp_path):
    assert artifacts.next_version_dir(tmp_path / "missing").name == "1"
    make_version(tmp_path, "1")
    make_version(tmp_path, "2", complete=False)
    assert artifacts.next_version_dir(tmp_path).name == "3"


def test_latest_complete_savedmodel_skips_incomplete_and_temporary_folders(tmp_path):
    make_version(tmp_path, "1")
    good = make_version(tmp_path, "2")
    make_version(tmp_path, "3", complete=False)
    make_version(tmp_path, ".tmp-4")
    empty_graph = make_version(tmp_path, "5")
    (empty_graph / "saved_model.pb").write_bytes(b"")
    assert artifacts.latest_complete_savedmodel(tmp_path) == good


def test_latest_complete_savedmodel_errors_name_the_path_and_problem(tmp_path):
    with pytest.raises(ArtifactNotFoundError, match="no such folder") as missing:
        artifacts.latest_complete_savedmodel(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(missing.value)
    with pytest.raises(IncompleteArtifactError, match="no numbered version"):
        artifacts.latest_complete_savedmodel(tmp_path)
    make_version(tmp_path, "1", complete=False)
    with pytest.raises(IncompleteArtifactError, match=r"no complete version \(incomplete: 1\)"):
        artifacts.latest_complete_savedmodel(tmp_path)
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(IncompleteArtifactError, match="is a file"):
        artifacts.latest_complete_savedmodel(file)


def test_is_complete_savedmodel_is_the_inspection_check(tmp_path):
    folder = make_version(tmp_path, "1")
    assert artifacts.is_complete_savedmodel(folder)
    (folder / "variables" / "variables.data-00000-of-00001").rename(
        folder / "variables" / "variables.data-00000-of-00002"
    )
    assert not artifacts.is_complete_savedmodel(folder)  # a shard of two is missing
    assert not artifacts.is_complete_savedmodel(tmp_path / "missing")


def test_sync_tree_flushes_every_file(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c.bin").write_bytes(b"c")
    (tmp_path / "d.bin").write_bytes(b"d")
    assert artifacts.sync_tree(tmp_path) == 2


def test_library_messages_are_shortened_and_wrapped_with_the_path(tmp_path):
    noisy = ValueError("{{function_node __wrapped__RestoreV2}} tensor_name = x; bad\nmore lines")
    with pytest.raises(CorruptArtifactError) as caught, artifacts._guard(tmp_path, "lib"):
        raise noisy
    assert isinstance(caught.value, ArtifactError)
    assert str(caught.value) == (
        f"{tmp_path}: lib could not load it (ValueError: tensor_name = x; bad)"
    )


def test_mismatch_messages_show_found_and_expected(tmp_path):
    specs = (((10,), "float32"), ((64, 32), "float32"))
    with pytest.raises(artifacts.ArtifactMismatchError) as caught:
        artifacts._check(tmp_path, "variables", specs[:1], specs)
    assert "found 1 tensors (10) of float32, expected 2 tensors (10) (64, 32)" in str(caught.value)
    artifacts._check(tmp_path, "the input shape", (None, 64), (None, 64))  # equal: no error


# --- the notebook shows this code (d2l's rule), and the learner's path works end to end -------

SHOWN_IN_09 = (
    artifacts.fsync_file,
    artifacts.fsync_dir,
    artifacts.sync_tree,
    integrity.sha256_file,
    integrity.write_manifest,
    artifacts.temp_sibling,
    artifacts.publish,
    artifacts.save_version,
    artifacts.writer_pid,
    artifacts.process_alive,
    artifacts.abandoned,
)


@pytest.mark.parametrize("function", SHOWN_IN_09, ids=lambda f: f.__name__)
def test_notebook_09_shows_the_code_the_package_runs(function):
    assert_same_code("09", function)


def test_the_temporary_folder_names_its_writer_and_abandoned_reads_it_back(tmp_path):
    temp = artifacts.temp_sibling(tmp_path / "versions")
    assert temp.parent == tmp_path / "versions" and not temp.name.isdigit()
    assert artifacts.writer_pid(temp.name) == os.getpid()
    assert artifacts.writer_pid(".tmp-by-hand") is None
    assert artifacts.writer_pid("12") is None
    assert artifacts.abandoned(tmp_path / "versions") == []  # its writer (this process) lives
    assert artifacts.abandoned(tmp_path / "missing") == []


def notebook_functions(*names: str) -> str:
    """The named top-level functions of notebook 09, as one script."""
    return "\n\n".join(ast.unparse(notebook_definition("09", name)) for name in names)


LEARNER_SCRIPT = '''
import os, re, shutil, signal, sys, tempfile, time, hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from helpers.artifacts import PROBE_NAME, TEMP_PREFIX, StepHook, next_version_dir
from helpers.errors import ArtifactNotFoundError
from helpers.integrity import CHUNK, MANIFEST_NAME, hashed_files, manifest_path

{functions}


class DiesInExport:
    """A stand-in model whose export writes half a SavedModel, then SIGKILLs the process."""

    def export(self, folder, verbose=True):
        (Path(folder) / "saved_model.pb").write_bytes(b"half a graph")
        print("exporting into", Path(folder).name, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


class Exports:
    def export(self, folder, verbose=True):
        (Path(folder) / "saved_model.pb").write_bytes(b"graph")


base = Path(sys.argv[1])
model = DiesInExport() if sys.argv[2] == "die" else Exports()
print("published", publish_atomically(model, base).name)
'''


@posix_only
def test_learners_publish_then_clean_up_removes_a_killed_writers_folder(tmp_path):
    """Exercise 1's publish (built from section 1) killed mid-export, then exercise 4's clean-up
    (built from section 4's `abandoned`): the dead writer's folder is found and removed."""
    publish_code = notebook_functions(
        "fsync_file", "fsync_dir", "sync_tree", "sha256_file", "write_manifest",
        "temp_sibling", "publish", "publish_atomically",
    )  # fmt: skip
    script = tmp_path / "learner.py"
    script.write_text(LEARNER_SCRIPT.format(functions=publish_code))
    base = tmp_path / "versions"

    def run(mode: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(script), str(base), mode], capture_output=True, text=True
        )

    done = run("ok")
    assert done.returncode == 0 and done.stdout.strip() == "published 1", done.stderr
    died = run("die")
    assert died.returncode == -signal.SIGKILL, died.stderr
    (left,) = [child for child in base.iterdir() if not child.name.isdigit()]
    assert died.stdout.strip() == f"exporting into {left.name}"
    assert artifacts.writer_pid(left.name) not in (None, os.getpid())

    namespace = {"os": os, "re": re, "shutil": shutil, "time": time, "Path": Path}
    namespace.update(TEMP_PREFIX=artifacts.TEMP_PREFIX)
    exec(notebook_functions("writer_pid", "process_alive", "abandoned"), namespace)
    exec(notebook_functions("clean_up_dead_writers"), namespace)
    removed = namespace["clean_up_dead_writers"](base)
    assert removed == [left] and not left.exists()
    assert sorted(child.name for child in base.iterdir()) == ["1"]
    assert integrity.verify_manifest(base / "1") == 1  # the published version is untouched
