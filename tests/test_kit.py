"""The README's two commands, .ci/run and the set-up script agree with each other."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

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
    from helpers.setup import KERNEL_NAME

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
