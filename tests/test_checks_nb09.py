"""Notebook 09's exercise checks: right answers, placeholders, and the likely wrong answers.

Exercises 1 and 4 run without TensorFlow (a stand-in model, a copy writer in a child process);
exercises 2 and 3 load one tiny SavedModel, built once for the module.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from helpers import artifacts, integrity
from helpers.checks import fakes, nb09
from helpers.errors import ArtifactError
from helpers.kit import faults

posix_only = pytest.mark.skipif(os.name == "nt", reason="kill points need SIGKILL")


def verdict(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out.strip()


def raised(error: ArtifactError) -> ArtifactError:
    """``error`` after a raise, as a learner's ``except ... as error`` keeps it."""
    try:
        raise error
    except ArtifactError as caught:
        return caught


# --- exercise 1 -----------------------------------------------------------------------------


def publish_right(model, base):
    return publish_into(model, base, tempfile.mkdtemp(dir=base, prefix=f".tmp-{os.getpid()}-"))


def publish_into(model, base, temp):
    try:
        model.export(temp, verbose=False)
        integrity.write_manifest(temp)
        artifacts.sync_tree(temp)
        target = artifacts.next_version_dir(base)
        os.rename(temp, target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    artifacts.fsync_dir(base)
    return target


def publish_direct(model, base):
    target = artifacts.next_version_dir(base)
    model.export(target, verbose=False)
    integrity.write_manifest(target)
    return target


def publish_in_system_temp(model, base):
    temp = tempfile.mkdtemp()
    model.export(temp)
    integrity.write_manifest(temp)
    artifacts.sync_tree(temp)
    target = artifacts.next_version_dir(base)
    shutil.move(temp, target)
    artifacts.fsync_dir(base)
    return target


def publish_manifest_after_rename(model, base):
    temp = tempfile.mkdtemp(dir=base, prefix=f".tmp-{os.getpid()}-")
    model.export(temp)
    artifacts.sync_tree(temp)
    target = artifacts.next_version_dir(base)
    os.rename(temp, target)
    integrity.write_manifest(target)
    artifacts.fsync_dir(base)
    return target


def publish_without_flush(model, base):
    temp = tempfile.mkdtemp(dir=base, prefix=f".tmp-{os.getpid()}-")
    model.export(temp)
    integrity.write_manifest(temp)
    target = artifacts.next_version_dir(base)
    os.rename(temp, target)
    return target


def publish_flush_before_manifest(model, base):
    temp = tempfile.mkdtemp(dir=base, prefix=f".tmp-{os.getpid()}-")
    model.export(temp)
    artifacts.sync_tree(temp)
    integrity.write_manifest(temp)
    target = artifacts.next_version_dir(base)
    os.rename(temp, target)
    artifacts.fsync_dir(base)
    return target


def publish_without_parent_flush(model, base):
    temp = tempfile.mkdtemp(dir=base, prefix=f".tmp-{os.getpid()}-")
    model.export(temp)
    integrity.write_manifest(temp)
    artifacts.sync_tree(temp)
    target = artifacts.next_version_dir(base)
    os.rename(temp, target)
    return target


def publish_always_3(model, base):
    temp = tempfile.mkdtemp(dir=base, prefix=f".tmp-{os.getpid()}-")
    model.export(temp)
    integrity.write_manifest(temp)
    artifacts.sync_tree(temp)
    target = Path(base) / "3"
    if target.exists():
        shutil.rmtree(target)
    os.rename(temp, target)
    artifacts.fsync_dir(base)
    return target


def publish_by_copy(model, base):
    temp = tempfile.mkdtemp(dir=base, prefix=f".tmp-{os.getpid()}-")
    model.export(temp)
    integrity.write_manifest(temp)
    artifacts.sync_tree(temp)
    target = artifacts.next_version_dir(base)
    shutil.copytree(temp, target)
    shutil.rmtree(temp)
    artifacts.fsync_dir(base)
    return target


def publish_no_clean_up(model, base):
    temp = tempfile.mkdtemp(dir=base, prefix=f".tmp-{os.getpid()}-")
    model.export(temp)
    integrity.write_manifest(temp)
    artifacts.sync_tree(temp)
    target = artifacts.next_version_dir(base)
    os.rename(temp, target)
    artifacts.fsync_dir(base)
    return target


def publish_swallowing_errors(model, base):
    try:
        return publish_right(model, base)
    except OSError:
        return None


def test_exercise_1_right_answer(tmp_path, capsys):
    assert nb09.exercise_1(publish_right, tmp_path).solved is True
    assert verdict(capsys).startswith("✅ Exercise 9.1 (publish a version atomically) solved.")
    assert sorted(os.listdir(tmp_path / "exercise_1" / "versions")) == ["1", "2", "3", "4"]


def test_exercise_1_another_right_answer_retries_a_lost_race(tmp_path, capsys):
    def publish(model, base):
        temp = artifacts.temp_sibling(base)
        try:
            model.export(temp, verbose=False)
            integrity.write_manifest(temp)
            artifacts.sync_tree(temp)
            while True:
                target = artifacts.next_version_dir(base)
                try:
                    os.rename(temp, target)
                    break
                except OSError:
                    if not target.exists():
                        raise
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        artifacts.fsync_dir(base)
        return target

    assert nb09.exercise_1(publish, tmp_path).solved is True


@posix_only
def test_exercise_1_os_sync_flushes_everything(tmp_path, capsys):
    def publish(model, base):
        temp = tempfile.mkdtemp(dir=base, prefix=f".tmp-{os.getpid()}-")
        try:
            model.export(temp)
            integrity.write_manifest(temp)
            os.sync()
            target = artifacts.next_version_dir(base)
            os.rename(temp, target)
        except BaseException:
            shutil.rmtree(temp)
            raise
        os.sync()
        return target

    assert nb09.exercise_1(publish, tmp_path).solved is True


def test_exercise_1_placeholder(tmp_path, capsys):
    assert nb09.exercise_1(None, tmp_path).solved is False
    assert verdict(capsys).startswith("⏳ Exercise 9.1 (publish a version atomically) is not")


@pytest.mark.parametrize(
    ("publish", "hint"),
    [
        (publish_direct, "exported straight into the numbered folder 3: half-way through, a "
         "reader calling latest_complete_savedmodel got '3'"),
        (publish_in_system_temp, "not into the versions folder"),
        (lambda m, b: publish_right(m, tempfile.mkdtemp(dir=b)), "not into the versions folder"),
        (publish_manifest_after_rename, "had no manifest that matched its files"),
        (publish_without_flush, "not flushed to disk before the rename: MANIFEST.sha256, "
         "fingerprint.pb"),
        (publish_flush_before_manifest, "not flushed to disk before the rename: MANIFEST.sha256"),
        (publish_without_parent_flush, "flush the versions folder after the rename"),
        (publish_always_3, "a second call published 3, but the next version is 4"),
        (publish_by_copy, "never renamed"),
        (publish_no_clean_up, "a failed export left .tmp-"),
        (publish_swallowing_errors, "let the error out"),
        (lambda m, b: m.save(Path(b) / "model.keras"), "`model.save` writes a .keras file"),
        (lambda m, b: None, "never called `model.export(...)`"),
        (lambda m, b: Path(b) / "2", "never called `model.export(...)`"),  # an earlier folder
        (Path("versions") / "3", "should be a function"),  # a folder typed in
        (artifacts.export_savedmodel_version, "`helpers.artifacts.save_version` is off limits"),
        (lambda m, b: artifacts.save_version(b, lambda f: m.export(f, verbose=False)),
         "`helpers.artifacts.save_version` is off limits"),
        (lambda m, b: artifacts.publish(_exported(m, b), b),
         "`helpers.artifacts.publish` is off limits"),
    ],
)  # fmt: skip
def test_exercise_1_wrong_answers_get_specific_hints(tmp_path, capsys, publish, hint):
    assert nb09.exercise_1(publish, tmp_path).solved is False
    out = verdict(capsys)
    assert out.startswith("❌ Exercise 9.1 (publish a version atomically): not quite."), out
    assert hint in out, out


def test_exercise_1_temporary_folder_without_the_prefix(tmp_path, capsys):
    def publish(model, base):
        temp = tempfile.mkdtemp(dir=base)  # tmpXXXX: not a number, but not found by clean-up
        model.export(temp)
        os.rename(temp, Path(base) / "3")

    assert nb09.exercise_1(publish, tmp_path).solved is False
    assert "start its name with '.tmp-'" in verdict(capsys)


def test_exercise_1_temporary_folder_without_the_writers_pid(tmp_path, capsys):
    """Section 1's convention: without the pid, abandoned() never recognises the folder."""

    def publish(model, base):
        temp = tempfile.mkdtemp(dir=base, prefix=".tmp-")  # .tmp-XXXX: no process id
        return publish_into(model, base, temp)

    assert nb09.exercise_1(publish, tmp_path).solved is False
    assert "put the writer's process id right after '.tmp-'" in verdict(capsys)


def _exported(model, base):
    temp = artifacts.temp_sibling(base)
    model.export(temp, verbose=False)
    return temp


NOTEBOOK = """
def save_version(base, write):  # stands in for section 1's function of the same name
    return artifacts.save_version(base, write)


def publish(temp, base):
    return artifacts.publish(temp, base)


def one_liner(model, base):
    return save_version(base, lambda folder: model.export(folder, verbose=False))


def with_publish(model, base):
    temp = artifacts.temp_sibling(base)
    model.export(temp, verbose=False)
    return publish(temp, base)


def caught(model, base):
    try:
        return one_liner(model, base)
    except Exception:
        return publish_right(model, base)
"""


@pytest.mark.parametrize("answer", ["one_liner", "with_publish", "caught"])
def test_exercise_1_refuses_the_notebooks_own_one_liners(tmp_path, capsys, answer):
    """Issue 22: the notebook's save_version and publish are the answer written for you."""
    namespace = {"artifacts": artifacts, "publish_right": publish_right}
    exec(NOTEBOOK, namespace)  # a notebook's namespace, where the learner's function looks up
    own = (namespace["save_version"], namespace["publish"])
    assert nb09.exercise_1(namespace[answer], tmp_path, off_limits=own).solved is False
    out = verdict(capsys)
    assert "is off limits here: write the steps out" in out, out
    assert "(section 1 or 4's)" in out, out
    assert namespace["save_version"] is own[0]  # the check put the notebook's names back


# --- exercises 2 and 3: one tiny SavedModel ---------------------------------------------------


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    """``versions/1``: a tiny tf.Module with a ``serve`` function, a probe and a manifest."""
    tf = pytest.importorskip("tensorflow")

    class Tiny(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.random.stateless_normal((4, 3), seed=(1, 2)))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def serve(self, x):
            return tf.matmul(x, self.w)

    tiny = Tiny()
    inputs = np.arange(24, dtype="float32").reshape(6, 4) / 24
    base = tmp_path_factory.mktemp("nb09") / "versions"
    return artifacts.save_version(
        base,
        lambda folder: tf.saved_model.save(tiny, str(folder)),
        probe=(inputs, tiny.serve(inputs).numpy()),
    )


def _verify(folder):
    """Section 2's by-hand manifest check."""
    recorded = integrity.read_manifest(folder)
    found = {
        name: integrity.sha256_file(path) for name, path in integrity.hashed_files(folder).items()
    }
    if found != recorded:
        raise ValueError(f"{folder}: files do not match the manifest")


def load_right(folder):
    import tensorflow as tf

    _verify(folder)
    served = tf.saved_model.load(str(folder))
    with np.load(folder / "probe.npz") as probe:
        np.testing.assert_array_equal(probe["outputs"], served.serve(probe["inputs"]).numpy())
    return served


def load_then_verify(folder):
    import tensorflow as tf

    served = tf.saved_model.load(str(folder))
    _verify(folder)
    return served


def load_if_manifest(folder):
    import tensorflow as tf

    if (folder / integrity.MANIFEST_NAME).exists():
        _verify(folder)
    return tf.saved_model.load(str(folder))


def load_without_probe(folder):
    import tensorflow as tf

    _verify(folder)
    return tf.saved_model.load(str(folder))


def load_trusting_tensorflow(folder):  # no manifest check: TensorFlow's CRC catches the flip
    import tensorflow as tf

    served = tf.saved_model.load(str(folder))
    with np.load(folder / "probe.npz") as probe:
        if not np.array_equal(served.serve(probe["inputs"]).numpy(), probe["outputs"]):
            raise ValueError("probe")
    return served


def probe_compared_with_itself(folder):
    import tensorflow as tf

    _verify(folder)
    served = tf.saved_model.load(str(folder))
    with np.load(folder / "probe.npz") as probe:
        if not np.array_equal(probe["outputs"], probe["outputs"]):
            raise ValueError("probe")
    return served


_EARLIER = {}


def an_earlier_model(folder):  # the model a previous cell loaded, whatever the folder
    import tensorflow as tf

    if "served" not in _EARLIER:
        _EARLIER["served"] = tf.saved_model.load(str(folder))
    return _EARLIER["served"]


def load_right_with_kit_verify(folder):  # the shortcut the task puts off limits
    import tensorflow as tf

    integrity.verify_manifest(folder)
    return tf.saved_model.load(str(folder))


def test_exercise_2_right_answers(version, tmp_path, capsys):
    assert nb09.exercise_2(load_right, version, tmp_path).solved is True
    assert verdict(capsys).startswith("✅ Exercise 9.2 (verify before you load) solved.")

    def load_right_by_hand(folder):  # another right answer: every digest compared by hand
        import hashlib

        import tensorflow as tf

        lines = (folder / "MANIFEST.sha256").read_text().splitlines()
        recorded = dict(reversed(line.split("  ", 1)) for line in lines)
        files = [p for p in folder.rglob("*") if p.is_file() and p.name != "MANIFEST.sha256"]
        found = {
            p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files
        }
        assert found == recorded, "manifest"
        served = tf.saved_model.load(str(folder))
        with np.load(folder / "probe.npz") as probe:
            assert np.array_equal(served.serve(probe["inputs"]).numpy(), probe["outputs"])
        return served

    assert nb09.exercise_2(load_right_by_hand, version, tmp_path).solved is True


def test_exercise_2_placeholder(version, tmp_path, capsys):
    assert nb09.exercise_2(None, version, tmp_path).solved is False
    assert verdict(capsys).startswith("⏳ Exercise 9.2 (verify before you load) is not solved")


@pytest.mark.parametrize(
    ("safe_load", "hint"),
    [
        (load_then_verify, "your function did not refuse it: it called tf.saved_model.load"),
        (load_if_manifest, "it accepted a version without a manifest"),
        (load_without_probe, "model and stored probe disagree"),
        (lambda f: tempfile.gettempdir(), "return the loaded model"),
        (lambda f: _verify(Path("elsewhere")), "it refused a good copy"),
        (load_trusting_tensorflow, "your function did not refuse it: it called "
         "tf.saved_model.load, and TensorFlow's own checksum"),
        (probe_compared_with_itself, "model and stored probe disagree"),
        (an_earlier_model, "it accepted a version with one byte of its variables flipped"),
        (lambda f: artifacts.load_version(f).model, "`helpers.artifacts.load_version` is off"),
        (lambda f: artifacts.load_latest(f.parent).model, "`helpers.artifacts.load_latest` is"),
        (load_right_with_kit_verify, "`helpers.integrity.verify_manifest` is off limits"),
        (lambda f: __import__("helpers").loading.load_savedmodel(f),
         "`helpers.loading.load_savedmodel` is off limits"),
    ],
)  # fmt: skip
def test_exercise_2_wrong_answers(version, tmp_path, capsys, safe_load, hint):
    assert nb09.exercise_2(safe_load, version, tmp_path).solved is False
    out = verdict(capsys)
    assert out.startswith("❌ Exercise 9.2 (verify before you load): not quite."), out
    assert hint in out, out


def experiment(source: Path, folder: Path, rewrite: bool = True) -> list[ArtifactError]:
    """The learner's experiment: cut probe.npz, load, (re-write the manifest), load."""
    shutil.copytree(source, folder)
    faults.truncate(folder / "probe.npz")
    errors = []
    for _ in range(2):
        try:
            artifacts.load_version(folder)
        except ArtifactError as error:
            errors.append(error)
        if rewrite:
            integrity.write_manifest(folder)
    return errors


def test_exercise_3_right_answer(version, tmp_path, capsys):
    first, second = experiment(version, tmp_path / "exercise_3")
    assert nb09.exercise_3(first, second, version, tmp_path).solved is True
    out = verdict(capsys)
    assert out.startswith("✅ Exercise 9.3 (which check catches it?) solved. First the manifest")
    assert "CorruptArtifactError naming probe.npz" in out


def test_exercise_3_placeholder_and_wrong_answers(version, tmp_path, capsys):
    first, second = experiment(version, tmp_path / "copy")
    same, again = experiment(version, tmp_path / "not_rewritten", rewrite=False)
    cases = [
        ((None, None), "⏳ Exercise 9.3 (which check catches it?) is not solved yet: set "
         "`first_error`"),
        ((type(first), second), "not its class"),
        ((first, "CorruptArtifactError"), "`second_error` should be the helpers.errors"),
        ((same, again), "`second_error` is the manifest's again"),
        ((second, second), "`first_error` already got past the manifest"),
        ((type(first)(first.path, first.problem), second), "`first_error` was built, never"),
    ]  # fmt: skip
    for (a, b), hint in cases:
        assert nb09.exercise_3(a, b, version, tmp_path).solved is False
        out = verdict(capsys)
        assert hint in out, out


def test_exercise_3_damaged_original_or_other_file(version, tmp_path, capsys):
    source = Path(shutil.copytree(version, tmp_path / "original" / "1"))
    error = raised(artifacts.ArtifactMismatchError(source, "anything"))
    faults.truncate(source / "probe.npz")
    assert nb09.exercise_3(error, error, source, tmp_path).solved is False
    assert "itself no longer matches its manifest" in verdict(capsys)

    other = Path(shutil.copytree(version, tmp_path / "other"))
    faults.truncate(other / "saved_model.pb")
    error = raised(artifacts.ArtifactMismatchError(other, "anything"))
    assert nb09.exercise_3(error, error, version, tmp_path).solved is False
    assert "cut probe.npz to half its size" in verdict(capsys)


# --- exercise 4 -----------------------------------------------------------------------------


@pytest.fixture
def versions(tmp_path):
    base = tmp_path / "versions"
    for number in (1, 2):
        fakes.fake_version(base / str(number), seed=number)
    return base


def clean_dead_writers(base):  # the right answer, written out with section 4's two functions
    doomed = []
    for folder in sorted(Path(base).glob(".tmp-*")):
        pid = artifacts.writer_pid(folder.name)
        if pid is not None and not artifacts.process_alive(pid):
            shutil.rmtree(folder)
            doomed.append(folder)
    return doomed


def clean_every_temp(base):
    doomed = sorted(Path(base).glob(".tmp-*"))
    for folder in doomed:
        shutil.rmtree(folder)
    return doomed


@posix_only
def test_exercise_4_right_answer(versions, tmp_path, capsys):
    steps = ["renamed", "parent-synced"]
    assert nb09.exercise_4(steps, clean_dead_writers, versions, tmp_path).solved is True
    out = verdict(capsys)
    assert out.startswith("✅ Exercise 9.4 (kill a writer, then clean up) solved."), out
    assert "version 3 was published" in out


def test_exercise_4_placeholder_and_bad_kinds(versions, tmp_path, capsys):
    assert nb09.exercise_4(None, None, versions, tmp_path).solved is False
    assert nb09.exercise_4("renamed", clean_dead_writers, versions, tmp_path).solved is False
    assert nb09.exercise_4(["rename"], clean_dead_writers, versions, tmp_path).solved is False
    out = verdict(capsys).splitlines()
    assert out[0].startswith("⏳ Exercise 9.4 (kill a writer, then clean up) is not solved yet")
    assert "should be a list of step names" in out[1]
    assert "not steps of helpers.artifacts.SAVE_STEPS: ['rename']" in out[2]


@posix_only
@pytest.mark.parametrize(
    ("steps", "clean_up", "hint"),
    [
        (["before-rename", "renamed", "parent-synced"], clean_dead_writers,
         "killed at 'before-rename' never renamed its temporary folder: latest_published_version "
         "stayed 2"),
        (["parent-synced"], clean_dead_writers, "killed at 'renamed', the writer had "
         "already renamed its folder: version 3 was published"),
        (["renamed", "parent-synced"], clean_every_temp, "whose writer (process"),
        (["renamed", "parent-synced"], lambda base: [], "left the dead writer's temporary"),
        (["renamed", "parent-synced"], lambda base: clean_dead_writers(base) and None,
         "return the list of folders"),
        (["renamed", "parent-synced"], lambda base: [base / ".tmp-1-typed"],
         "left the dead writer's temporary"),  # a list typed in, nothing deleted
        (["renamed", "parent-synced"], artifacts.clean_abandoned,  # calls abandoned inside
         "`helpers.artifacts.abandoned` is off limits"),
        (["renamed", "parent-synced"], lambda base: artifacts.clean_abandoned(base),
         "`helpers.artifacts.clean_abandoned` is off limits"),
        (["renamed", "parent-synced"], lambda base: [shutil.rmtree(f) or f for f in
         artifacts.abandoned(base)], "`helpers.artifacts.abandoned` is off limits"),
    ],
)  # fmt: skip
def test_exercise_4_wrong_answers(versions, tmp_path, capsys, steps, clean_up, hint):
    assert nb09.exercise_4(steps, clean_up, versions, tmp_path).solved is False
    out = verdict(capsys)
    assert out.startswith("❌ Exercise 9.4 (kill a writer, then clean up): not quite."), out
    assert hint in out, out


@posix_only
def test_exercise_4_refuses_the_notebooks_own_abandoned(versions, tmp_path, capsys):
    namespace = {"artifacts": artifacts, "shutil": shutil}
    exec(
        "def abandoned(base):  # stands in for section 4's function of the same name\n"
        "    return artifacts.abandoned(base)\n"
        "def clean_up(base):\n"
        "    doomed = abandoned(base)\n"
        "    for folder in doomed:\n"
        "        shutil.rmtree(folder)\n"
        "    return doomed\n",
        namespace,
    )
    steps = ["renamed", "parent-synced"]
    own = (namespace["abandoned"],)
    answer = nb09.exercise_4(steps, namespace["clean_up"], versions, tmp_path, off_limits=own)
    assert answer.solved is False
    assert "`abandoned` (section 1 or 4's) is off limits" in verdict(capsys)


@posix_only
def test_exercise_4_probe_written_comes_before_the_rename(versions, tmp_path, capsys):
    steps = ["probe-written", "renamed", "parent-synced"]
    assert nb09.exercise_4(steps, clean_dead_writers, versions, tmp_path).solved is False
    assert "'probe-written' comes before the rename" in verdict(capsys)


# --- exercise 5 -----------------------------------------------------------------------------


def fallback_experiment(versions: Path, copy: Path, flip: str = "saved_model.pb"):
    """The learner's experiment on fake versions: the strict error, and a Loaded as
    load_latest(fallback=True) would return it (a fake: no TensorFlow)."""
    shutil.copytree(versions, copy)
    newest = artifacts.latest_published_version(copy)
    faults.flip_byte(newest / flip)
    try:
        integrity.verify_manifest(newest)
    except ArtifactError as error:
        strict = error
    skipped = [f"{newest.name}: {type(strict).__name__}: {strict.problem}"]
    return strict, artifacts.Loaded(copy / "1", "savedmodel", None, len, [], skipped)


def test_exercise_5_right_answer(versions, tmp_path, capsys):
    strict, loaded = fallback_experiment(versions, tmp_path / "exercise_5")
    assert nb09.exercise_5(strict, loaded, versions).solved is True
    out = verdict(capsys)
    assert out.startswith("✅ Exercise 9.5 (fall back, or fail?) solved. Without fallback"), out
    assert "served version 1, and only `skipped` tells that version 2 was passed over" in out


def test_exercise_5_placeholder_and_wrong_answers(versions, tmp_path, capsys):
    strict, loaded = fallback_experiment(versions, tmp_path / "copy")
    other_strict, other_loaded = fallback_experiment(
        versions, tmp_path / "other", flip="variables/variables.index"
    )
    newest_loaded = artifacts.Loaded(tmp_path / "copy" / "2", "savedmodel", None, len, [], [])
    cases = [
        ((None, None), "⏳ Exercise 9.5 (fall back, or fail?) is not solved yet: set "
         "`strict_error` to the error load_latest raised"),
        (("IntegrityError", None), "`strict_error` should be the helpers.errors.ArtifactError "
         "that load_latest raised"),
        ((strict, None), "set `fallen_back`"),
        ((strict, "1"), "`fallen_back` should be what helpers.artifacts.load_latest"),
        ((strict, newest_loaded), "load_latest should serve version 1"),
        ((other_strict, other_loaded), "change only saved_model.pb in version 2"),
        ((other_strict, loaded), "`strict_error` should come from load_latest("),
        ((type(strict)(strict.path, strict.problem), loaded), "`strict_error` was built, never"),
    ]  # fmt: skip
    for (a, b), hint in cases:
        assert nb09.exercise_5(a, b, versions).solved is False
        out = verdict(capsys)
        assert hint in out, out
    loaded.skipped = []
    assert nb09.exercise_5(strict, loaded, versions).solved is False
    assert "should list the versions passed over (['2'])" in verdict(capsys)


def test_exercise_5_original_damaged_or_not_damaged(versions, tmp_path, capsys):
    intact = Path(shutil.copytree(versions, tmp_path / "intact"))
    strict = raised(ArtifactError(intact / "2", "nothing"))
    loaded = artifacts.Loaded(intact / "2", "savedmodel", None, len, [], [])
    assert nb09.exercise_5(strict, loaded, versions).solved is False
    assert "(2) still matches its manifest: flip a byte of its saved_model.pb" in verdict(capsys)
    loaded = artifacts.Loaded(versions / "1", "savedmodel", None, len, [], [])
    assert nb09.exercise_5(strict, loaded, versions).solved is False
    assert "never on the original" in verdict(capsys)
    faults.flip_byte(versions / "2" / "saved_model.pb")
    assert nb09.exercise_5(strict, loaded, versions).solved is False
    assert "itself no longer matches its manifest" in verdict(capsys)
