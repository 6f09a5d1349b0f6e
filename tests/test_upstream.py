"""Every bug report in docs/upstream.md still reproduces on the pinned stack.

Each ```python block there is a self-contained reproduction that prints ``BUG REPRODUCED``
while the bug is there and fails with ``AssertionError: not reproduced`` once it is fixed.
Here each one runs as a script in a fresh process, from an empty working folder.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "docs" / "upstream.md"
ALLOWED_THIRD_PARTY = {"tensorflow", "keras", "numpy"}


def reproductions() -> dict[str, str]:
    """``{report heading: its reproduction}``, in the order of the file."""
    text = REPORTS.read_text(encoding="utf-8")
    found = {}
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        blocks = re.findall(r"^```python\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
        assert len(blocks) == 1, f"report {section.splitlines()[0]!r}: one reproduction each"
        found[section.splitlines()[0]] = blocks[0]
    return found


REPRODUCTIONS = reproductions()


def test_one_report_per_bug_the_notebook_shows():
    numbers = [heading.split(".")[0] for heading in REPRODUCTIONS]
    assert numbers == ["1", "2", "3", "4"], list(REPRODUCTIONS)


@pytest.mark.parametrize("heading", list(REPRODUCTIONS))
def test_reproduction_imports_only_the_standard_library_tensorflow_keras_numpy(heading):
    for node in ast.walk(ast.parse(REPRODUCTIONS[heading])):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (heading, name)


@pytest.mark.parametrize("heading", list(REPRODUCTIONS))
def test_reproduction_still_shows_the_bug(heading, tmp_path):
    script = tmp_path / "reproduction.py"
    script.write_text(REPRODUCTIONS[heading], encoding="utf-8")
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "KERAS_HOME": str(tmp_path / "keras_home"),  # Keras writes keras.json there
    }
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if "not reproduced" in result.stderr:
        pytest.fail(
            f"the bug is fixed upstream: update the notebook (11), docs/upstream.md and the "
            f"instructor guide. Report {heading!r} no longer reproduces:\n{result.stderr[-1500:]}"
        )
    assert result.returncode == 0 and "BUG REPRODUCED" in result.stdout, (
        f"reproduction {heading!r} failed to run (exit {result.returncode}):\n"
        f"{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
    )
    assert not any(workdir.iterdir()), f"reproduction {heading!r} wrote into its working folder"
