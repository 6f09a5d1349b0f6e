"""The README's two commands, .ci/run and the set-up script agree with each other."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def load_kit():
    spec = importlib.util.spec_from_file_location("kit", ROOT / "tools" / "kit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_quick_start_shows_exactly_two_commands():
    assert quick_start_commands() == ["python3 tools/kit.py lab", "python3 tools/kit.py test"]


def test_ci_runs_exactly_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    commands = [
        line.strip()
        for line in script.splitlines()
        if line.strip() and not line.lstrip().startswith("#") and not line.startswith("set ")
    ]
    assert commands[-1] == f"exec {quick_start_commands()[1]}"


def test_setup_fingerprint_changes_when_a_pin_changes(tmp_path, monkeypatch):
    kit = load_kit()
    for name in kit.SETUP_INPUTS:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, target)
    monkeypatch.setattr(kit, "ROOT", tmp_path)
    import sys

    before = kit.setup_fingerprint(sys.executable)
    assert kit.setup_fingerprint(sys.executable) == before, "fingerprint must be stable"
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(requirements.read_text().replace("numpy==", "numpy==0"))
    assert kit.setup_fingerprint(sys.executable) != before


def test_lab_overrides_turn_off_news():
    kit = load_kit()
    notification = kit.LAB_OVERRIDES["@jupyterlab/apputils-extension:notification"]
    assert notification["fetchNews"] == "false"


def test_kernel_name_matches_helpers_and_notebooks():
    from helpers.kit.setup import KERNEL_NAME

    assert load_kit().KERNEL_NAME == KERNEL_NAME


def test_binder_post_build_registers_the_kit_in_the_conda_environment():
    post_build = ROOT / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    commands = [
        line.strip()
        for line in post_build.read_text().splitlines()
        if line.strip() and not line.startswith(("#", "set "))
    ]
    assert commands == ["python tools/kit.py setup --current-env"]


def test_supported_python_range_matches_the_probes():
    kit = load_kit()
    parse = lambda text: tuple(int(part) for part in text.split("."))  # noqa: E731
    assert all(kit.supported(parse(v)) for v in kit.SUPPORTED_PROBES)
    assert not any(kit.supported(parse(v)) for v in kit.UNSUPPORTED_PROBES)
    assert kit.supported(sys.version_info), "the kit's own tests run on a supported Python"


def test_an_old_python_reruns_kit_with_a_supported_one_from_the_path(monkeypatch, capsys):
    kit = load_kit()
    calls = []
    monkeypatch.setattr(kit, "find_supported_python", lambda: "/opt/python3.12")
    monkeypatch.setattr(
        kit.subprocess,
        "run",
        lambda command, **kw: calls.append(command) or subprocess.CompletedProcess(command, 0),
    )
    monkeypatch.setattr(kit.sys, "argv", ["kit.py", "test"])
    with pytest.raises(SystemExit) as stop:
        kit.ensure_supported_python(current_env=False, running=(3, 10, 12))
    assert stop.value.code == 0
    assert calls == [["/opt/python3.12", str(ROOT / "tools" / "kit.py"), "test"]]
    assert "3.10.12" in capsys.readouterr().out


def test_an_old_python_with_no_alternative_is_refused_before_anything_is_created(tmp_path):
    copy = tmp_path / "kit"
    (copy / "tools").mkdir(parents=True)
    shutil.copy(ROOT / "tools" / "kit.py", copy / "tools" / "kit.py")
    bare_path = tmp_path / "bin"
    bare_path.mkdir()  # a PATH on which no python3.1x can be found
    # This interpreter, made to report Python 3.10.12 (Ubuntu 22.04's), runs kit.py.
    as_old_python = (
        "import runpy, sys; sys.version_info = (3, 10, 12, 'final', 0); "
        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", as_old_python, str(copy / "tools" / "kit.py"), "setup"],
        capture_output=True,
        text=True,
        env={"PATH": str(bare_path), "HOME": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Python 3.10.12 cannot install the kit's pinned stack" in result.stdout
    assert "needs Python 3.11.5 to 3.13" in result.stdout
    assert "python.org" in result.stdout
    assert not (copy / ".venv").exists(), "nothing may be created with an unsupported Python"


def _index_reachable() -> bool:
    with tempfile.TemporaryDirectory() as scratch:
        probe = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-q"]
        probe += ["--only-binary=:all:", "--python-version", "3.13", "-d", scratch]
        return subprocess.run([*probe, "numpy==2.4.6"], capture_output=True).returncode == 0


@pytest.mark.skipif(not os.environ.get("CI"), reason="asks the package index: run in CI")
def test_lock_resolves_on_the_supported_pythons_only(capsys):
    if not _index_reachable():
        pytest.skip("the package index cannot be reached from here")
    assert load_kit().check_lock() == 0, capsys.readouterr().out


def test_stress_load_runs_a_burner_per_core_and_a_syncing_writer_then_stops(tmp_path):
    kit = load_kit()
    load = kit.Load(tmp_path / "stress", burners=2)
    with load:
        assert len(load.processes) == 3  # two busy loops and the writer
        deadline = time.monotonic() + 60
        while not (load.target.exists() and load.target.stat().st_size >= 1 << 20):
            assert time.monotonic() < deadline, "the writer wrote nothing in 60 s"
            time.sleep(0.05)
        assert all(process.poll() is None for process in load.processes)
    assert all(process.returncode is not None for process in load.processes)
    assert not load.target.exists()
    assert load.describe().startswith("2 busy loop(s) and 1 writer of fsync'ed 1 MiB chunks")


def test_stress_counts_passes_per_notebook(monkeypatch, tmp_path, capsys):
    kit = load_kit()
    outcomes = iter([0, 1, 0, 0])  # run 1: a passes, b fails; run 2: both pass
    monkeypatch.setattr(kit, "ROOT", tmp_path)
    monkeypatch.setattr(kit, "test_notebook", lambda python, notebook, log: next(outcomes))
    monkeypatch.setattr(kit, "Load", lambda folder: FakeLoad(folder))
    assert kit.stress("python", ["--runs", "2", "a.ipynb", "b.ipynb"]) == 1
    out = capsys.readouterr().out
    assert "a.ipynb: passed 2 of 2 under load" in out
    assert "b.ipynb: passed 1 of 2 under load" in out
    assert "run 1/2 b.ipynb: FAIL (pytest's output: artifacts/stress/b-run1.log)" in out


class FakeLoad:
    def __init__(self, folder):
        self.folder = folder

    def __enter__(self):
        self.folder.mkdir(parents=True)
        return self

    def __exit__(self, *exc):
        return None

    def describe(self):
        return "no load (a test)"


def test_stress_notebooks_exist():
    kit = load_kit()
    assert all((ROOT / name).is_file() for name in kit.TIMING_NOTEBOOKS)
