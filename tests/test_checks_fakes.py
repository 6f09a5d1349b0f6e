"""The checks' test doubles (helpers.checks.fakes): what they record, and what they refuse."""

from __future__ import annotations

import os
from unittest import mock

import numpy as np
import pytest

from helpers import artifacts, integrity
from helpers.checks import fakes
from helpers.checks.core import Hint


def test_fake_version_with_and_without_a_manifest(tmp_path):
    folder = fakes.fake_version(tmp_path / "versions" / "1", seed=1)
    integrity.verify_manifest(folder)  # raises if the manifest does not match
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == ["MANIFEST.sha256", *sorted(fakes.SAVEDMODEL_FILES)]
    bare = fakes.fake_version(tmp_path / "2", fakes.COMPLETE_FILES, manifest=False)
    files = sorted(p.relative_to(bare).as_posix() for p in bare.rglob("*") if p.is_file())
    assert files == sorted(fakes.COMPLETE_FILES)


def test_fake_model_exports_and_records_what_a_reader_saw(tmp_path):
    base = tmp_path / "versions"
    fakes.fake_version(base / "1")
    model = fakes.fake_model(base)
    model.export(base / ".tmp-a", verbose=False)
    model.export(filepath=str(base / "2"))
    assert fakes.exports(model) == [(base / ".tmp-a").resolve(), (base / "2").resolve()]
    assert model.reader_saw == ["1", "2"]  # half-way, "2" already looked like a version
    assert sorted(p.name for p in (base / "2").rglob("*") if p.is_file()) == sorted(
        name.rsplit("/", 1)[-1] for name in fakes.SAVEDMODEL_FILES
    )
    assert model.predict(np.zeros((3, 64)), verbose=0).shape == (3, 10)


def test_fake_model_fails_like_a_full_disk_and_refuses_what_a_model_would_not_do(tmp_path):
    model = fakes.fake_model(tmp_path, fail=True)
    with pytest.raises(OSError, match="No space left on device"):
        model.export(tmp_path / "temp")
    assert model.reader_saw == ["nothing"]
    assert not (tmp_path / "temp" / "fingerprint.pb").exists()  # stopped half-way
    with pytest.raises(Hint, match=r"`model\.save` writes a \.keras file"):
        model.save(tmp_path / "model.keras")
    with pytest.raises(AttributeError):
        model.save_weights  # noqa: B018 (not part of the stand-in)
    with pytest.raises(TypeError):
        model(np.zeros((1, 64)))  # not callable: call predict


def test_watch_disk_records_in_order_and_restores_os_functions(tmp_path):
    real = (os.fsync, os.rename, os.replace, os.sync)
    folder = fakes.fake_version(tmp_path / "a")
    with fakes.watch_disk() as events:
        os.rename(folder, tmp_path / "b")
        artifacts.fsync_dir(tmp_path)
        os.sync()
    assert (os.fsync, os.rename, os.replace, os.sync) == real
    assert [kind for kind, _ in events.log] == ["rename", "fsync", "sync"]
    ((position, source, target, files, manifest_ok),) = events.renames
    assert (position, source, target) == (0, folder.resolve(), (tmp_path / "b").resolve())
    assert "MANIFEST.sha256" in files and manifest_ok
    if fakes.FD_PATHS:
        assert events.log[1] == ("fsync", tmp_path.resolve())
    assert (tmp_path / "b" / "saved_model.pb").is_file()  # the real rename ran


def test_spy_signature_records_batches_and_passes_them_on():
    signature = mock.Mock(
        return_value={"output_0": "real"},
        structured_input_signature=((), {"pixels": "spec"}),
        structured_outputs={"output_0": "spec"},
    )
    spy = fakes.spy_signature(signature)
    assert spy(pixels=np.zeros((3, 64))) == {"output_0": "real"}
    spy(np.zeros((5, 64)))
    assert fakes.batch_sizes(spy) == {3, 5}
    assert spy.structured_input_signature == ((), {"pixels": "spec"})
    with pytest.raises(AttributeError):
        spy.inputs  # noqa: B018 (a real signature has it; the check's stand-in does not)
