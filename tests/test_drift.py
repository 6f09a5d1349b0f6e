"""tools/drift.py: the install plan, the cell classification and the report, on a fake stack
and a tiny fake notebook (nothing is installed; one test runs the tiny notebook in the kit's
own kernel)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATTERNS = [
    (r"at 0x[0-9a-fA-F]+", "at 0xADDRESS"),
    (r"_\d{8}-\d{6}(-\d+)?", "_YYYYmmdd-HHMMSS"),
]
LOCK = """\
# a comment
absl-py==2.5.1
ai-edge-litert==2.3.0
h5py==3.14.0
keras==3.15.1
numpy==2.4.6
protobuf==7.36.2
tensorflow==2.21.0; sys_platform != "linux" or platform_machine != "x86_64"
tensorflow-cpu==2.21.0; sys_platform == "linux" and platform_machine == "x86_64"
"""


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


drift = load("drift")


def stdout(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def stderr(text: str) -> dict:
    return {"output_type": "stream", "name": "stderr", "text": text}


def error(ename: str, evalue: str) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": ["..."]}


def code(source: str, outputs: list[dict], tags: tuple[str, ...] = ()) -> dict:
    metadata = {"tags": list(tags)} if tags else {}
    return {
        "cell_type": "code",
        "source": source,
        "metadata": metadata,
        "execution_count": 1,
        "outputs": outputs,
    }


def markdown(source: str) -> dict:
    return {"cell_type": "markdown", "source": source, "metadata": {}}


def fake_notebooks() -> tuple[dict, dict]:
    """A committed notebook and its run on a fake stack: one cell of each kind."""
    committed = [
        markdown("# 99 · A fake lesson\n\nIntro."),
        code("print(model)", [stdout("<Model at 0x7f00aa>\n")]),
        markdown("## 1. Saving\n\nText."),
        code("print(accuracy)", [stdout("accuracy: 95.3%\n")]),
        code("model.save(path)", [stdout("saved\n")]),
        markdown("## 2. Timing"),
        code("time_it()", [stdout("took 1.20 s\n")], tags=("nbval-ignore-output",)),
        code("reload()", [stdout("reloaded\n")]),
        code("print('a'); print('b')", [stdout("a\n"), stdout("b\n")]),
    ]
    executed = json.loads(json.dumps(committed))
    executed[1]["outputs"] = [stdout("<Model at 0x55bb01>\n")]  # only an address: same
    executed[3]["outputs"] = [stdout("accuracy: 95.6%\n")]  # changed
    executed[4]["outputs"] = [error("ValueError", "The filepath must end in .keras\nmore")]
    executed[6]["outputs"] = [stdout("took 9.87 s\n")]  # ignored output: same
    executed[7]["outputs"] = [
        stdout("reloaded\n"),
        stderr("UserWarning: `compile()` was not called\n"),
    ]
    executed[8]["outputs"] = [stdout("a\nb\n")]  # one stream where there were two: same
    return {"cells": committed}, {"cells": executed}


# --- the install plan ---------------------------------------------------------------------------


def test_a_swap_removes_its_whole_family_from_the_lock():
    kept = drift.kept_lock(LOCK, drift.STACKS["nightly"])
    names = [drift.requirement_name(line) for line in kept]
    assert names == ["absl-py", "h5py", "numpy", "protobuf"]


def test_previous_keeps_keras_and_swaps_tensorflow_and_litert():
    kept = drift.kept_lock(LOCK, drift.STACKS["previous"])
    assert "keras==3.15.1" in kept
    assert not any(line.startswith(("tensorflow", "ai-edge-litert")) for line in kept)


def test_a_requirements_file_is_a_stack(tmp_path):
    stack = tmp_path / "My Stack.txt"
    stack.write_text("# swaps\nkeras==3.14.1\n\nml_dtypes>=0.6\n")
    assert drift.stack_name(str(stack)) == "my-stack"
    assert drift.stack_swaps(str(stack)) == ["keras==3.14.1", "ml_dtypes>=0.6"]
    assert drift.replaced_names(drift.stack_swaps(str(stack))) == {
        "keras",
        "keras-nightly",
        "ml-dtypes",
    }
    with pytest.raises(SystemExit):
        drift.stack_swaps(str(tmp_path / "missing.txt"))


class Recorder:
    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command, **kwargs):
        self.commands.append(command)
        return subprocess.CompletedProcess(command, 0, stdout="", stderr="")


def test_the_environment_is_the_lock_without_deps_then_the_swaps_then_the_kit(tmp_path):
    (tmp_path / "requirements-lock.txt").write_text(LOCK)
    stack = tmp_path / "fake.txt"
    stack.write_text("keras-nightly>=3.16.0.dev0\n")
    runner = Recorder()
    env = drift.build_env(str(stack), python="/usr/bin/python3", root=tmp_path, runner=runner)

    assert env == tmp_path / ".venv-drift-fake"
    env_py = str(drift.env_python(env))
    pip = [env_py, "-m", "pip", "install", "--disable-pip-version-check"]
    lock_file = env / "drift-lock.txt"
    assert runner.commands == [
        ["/usr/bin/python3", "-m", "venv", str(env)],
        [*pip, "--no-deps", "-r", str(lock_file)],
        [*pip, "keras-nightly>=3.16.0.dev0"],
        [*pip, "--no-deps", "-e", str(drift.ROOT)],
        [
            *(env_py, "-m", "ipykernel", "install", "--sys-prefix", "--name"),
            *("tf-saving-kit-drift-fake", "--display-name", "Python 3 (TF saving kit, fake)"),
        ],
    ]
    assert "keras" not in lock_file.read_text()
    assert "tensorflow-cpu==2.21.0" in lock_file.read_text()

    again = Recorder()
    drift.build_env(str(stack), python="/usr/bin/python3", root=tmp_path, runner=again)
    assert again.commands == [], "an up-to-date scratch environment installs nothing"


def test_a_failed_install_stops_the_build(tmp_path):
    (tmp_path / "requirements-lock.txt").write_text(LOCK)

    def failing(command, **kwargs):
        return subprocess.CompletedProcess(command, 1 if "-r" in command else 0)

    with pytest.raises(SystemExit, match="failed"):
        drift.build_env("nightly", python="python3", root=tmp_path, runner=failing)
    assert not (tmp_path / ".venv-drift-nightly" / drift.STAMP_NAME).exists()


def test_lock_differences_and_key_versions():
    freeze = [
        "absl-py==2.5.1",
        "h5py==3.14.0",
        "keras-nightly==3.16.0.dev2026102704",
        "numpy==2.4.6",
        "protobuf==6.33.0",
        "tensorboard==2.20.0",
        "tf_nightly==2.23.0.dev20261026",
    ]
    differences = drift.lock_differences(LOCK, freeze)
    assert differences["changed"] == [["protobuf", "7.36.2", "6.33.0"]]
    assert ["tensorboard", "2.20.0"] in differences["added"]
    assert ["keras", "3.15.1"] in differences["removed"]
    versions = {label: (old, new) for label, old, new in drift.key_versions(LOCK, freeze)}
    assert versions["TensorFlow"] == ("2.21.0", "2.23.0.dev20261026 (tf-nightly)")
    assert versions["Keras"] == ("3.15.1", "3.16.0.dev2026102704 (keras-nightly)")
    assert versions["LiteRT"] == ("2.3.0", "-")


def test_kit_runs_drift_in_its_environment_after_setup(monkeypatch):
    kit = load("kit")
    calls = []
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(kit, "ensure_supported_python", lambda current_env: None)
    monkeypatch.setattr(kit, "setup", lambda current_env: "/kit/.venv/bin/python")
    monkeypatch.setattr(kit, "run", lambda command, **kwargs: calls.append(command) or 0)
    monkeypatch.setattr(sys, "argv", ["kit.py", "drift", "--stack", "previous"])
    assert kit.main() == 0
    assert calls == [
        ["/kit/.venv/bin/python", str(ROOT / "tools" / "drift.py"), "--stack", "previous"]
    ]


# --- classifying cells -------------------------------------------------------------------------


def test_each_kind_of_cell_is_classified():
    committed, executed = fake_notebooks()
    cells = drift.classify_notebook(committed, executed, PATTERNS)
    status = {cell["cell"]: cell["status"] for cell in cells}
    assert status == {
        0: "same",
        1: "changed",
        2: "error",
        3: "same",
        4: "new-warning",
        5: "same",
    }
    changed, failed, timed, warned = cells[1], cells[2], cells[3], cells[4]
    assert changed["section"] == "1. Saving"
    assert "-accuracy: 95.3%" in changed["diff"]
    assert "+accuracy: 95.6%" in changed["diff"]
    assert failed["error"] == "ValueError: The filepath must end in .keras"
    assert timed["ignored_output"] is True
    assert warned["new_warnings"] == ["UserWarning: `compile()` was not called"]
    assert warned["section"] == "2. Timing"
    assert cells[0]["section"] == "99 · A fake lesson"
    assert drift.counts(cells) == {"same": 3, "changed": 1, "error": 1, "new-warning": 1}


def test_a_warning_on_top_of_a_changed_output_is_still_changed():
    committed = code("fit()", [stdout("loss 0.1\n")])
    executed = code("fit()", [stdout("loss 0.2\n"), stderr("DeprecationWarning: old API\n")])
    result = drift.classify_cell(committed, executed, PATTERNS)
    assert result["status"] == "changed"
    assert result["new_warnings"] == ["DeprecationWarning: old API"]


def test_new_stderr_that_is_not_a_warning_is_a_change():
    committed = code("fit()", [stdout("done\n")])
    executed = code("fit()", [stdout("done\n"), stderr("E0000 something went wrong\n")])
    assert drift.classify_cell(committed, executed, PATTERNS)["status"] == "changed"


def test_a_warning_the_committed_output_already_had_is_not_new():
    committed = code("old()", [stderr("FutureWarning: going away\n")])
    assert drift.classify_cell(committed, committed, PATTERNS)["status"] == "same"


def test_an_ignored_cell_that_raises_is_an_error():
    committed = code("bench()", [stdout("1.0 s\n")], tags=("nbval-ignore-output",))
    executed = code("bench()", [error("RuntimeError", "no such op")])
    result = drift.classify_cell(committed, executed, PATTERNS)
    assert result["status"] == "error"


def test_sanitize_rules_are_read_like_nbval():
    patterns = drift.read_sanitize((ROOT / "tests" / "sanitize.cfg").read_text())
    assert (r"at 0x[0-9a-fA-F]+", "at 0xADDRESS") in patterns
    assert drift.sanitize("127.0.0.1:45123", patterns) == "127.0.0.1:PORT"


def test_progress_estimates_time_left_from_the_cells_done():
    now = [100.0]
    progress = drift.Progress(total_cells=10, clock=lambda: now[0])
    assert "estimating" in progress.line("01/02", "01_fake", 0, 5)
    now[0] += 120
    progress.done = 4
    line = progress.line("01/02", "01_fake", 4, 5)
    assert line == "01/02 01_fake cell 5/5: elapsed 2m00s, about 3m00s left"


# --- the report --------------------------------------------------------------------------------


def fake_report() -> dict:
    committed, executed = fake_notebooks()
    cells = drift.classify_notebook(committed, executed, PATTERNS)
    same = drift.classify_notebook(committed, committed, PATTERNS)
    described = {
        "freeze": ["keras-nightly==3.16.0.dev1", "numpy==2.4.6", "tf-nightly==2.23.0.dev1"],
        "pip_check": "No broken requirements found.",
        "imported": {"tensorflow.__version__": "2.23.0-dev1"},
    }
    import datetime as dt

    started = dt.datetime(2026, 12, 5, 11, 0, tzinfo=dt.timezone.utc)
    notebooks = [
        {"notebook": "98_fine.ipynb", "seconds": 3.0, "cells": same},
        {"notebook": "99_fake.ipynb", "seconds": 12.0, "cells": cells},
    ]
    return drift.make_report(
        "fake", ["tf-nightly"], described, LOCK, notebooks, started, 75, "abc1234"
    )


def test_the_report_merges_notes_and_marks_the_rest_unexplained(tmp_path):
    notes = {
        "summary": "Notebook 99's section 1 teaches an accuracy that is no longer printed.",
        "cells": {"99_fake cell 1": "Only the last digit of the accuracy: nothing to teach."},
    }
    json_path, md_path = drift.write_report(fake_report(), notes, tmp_path)
    assert json_path.name == "fake-2026-12-05.json"
    assert md_path.name == "fake-2026-12-05.md"
    saved = json.loads(json_path.read_text())
    cells = {cell["cell"]: cell for cell in saved["notebooks"][1]["cells"]}
    assert cells[1]["explanation"].startswith("Only the last digit")
    assert cells[2]["explanation"] == "unexplained"
    assert "explanation" not in cells[0]
    assert saved["notebooks"][1]["counts"] == {
        "same": 3,
        "changed": 1,
        "error": 1,
        "new-warning": 1,
    }

    text = md_path.read_text()
    assert text.index("## For teachers") < text.index("## Per notebook")
    assert "no longer printed" in text
    assert "| 99_fake | 6 | 3 | 1 | 1 | 1 | 12 s |" in text
    assert "| 98_fine | 6 | 6 | 0 | 0 | 0 | 3 s |" in text
    assert "| TensorFlow | 2.21.0 | 2.23.0.dev1 (tf-nightly) |" in text
    assert "notebooks 98 run with their committed outputs" in text
    assert "Raises: `ValueError: The filepath must end in .keras`" in text
    assert "New warning: `UserWarning: `compile()` was not called`" in text
    assert "section “1. Saving”" in text
    assert "notebooks of commit abc1234" in text
    assert "-accuracy: 95.3%" in text
    assert "unexplained" in text


def test_the_report_names_the_commit_it_ran():
    assert re.fullmatch(r"[0-9a-f]{7,}( \+ changes)?", drift.tree_commit())


def test_rendering_again_keeps_new_notes(tmp_path):
    json_path, _ = drift.write_report(fake_report(), {"summary": "", "cells": {}}, tmp_path)
    first = json.loads(json_path.read_text())
    notes = {"summary": "S", "cells": {"99_fake cell 2": "The save path must end in .keras."}}
    _, md_path = drift.write_report(first, notes, tmp_path)
    assert "The save path must end in .keras." in md_path.read_text()
    assert "## For teachers\n\nS\n" in md_path.read_text()


# --- running a tiny notebook for real -----------------------------------------------------------


def test_a_tiny_notebook_runs_past_an_error_and_stops_at_a_dead_kernel(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("## 1. Tiny"),
        nbformat.v4.new_code_cell(f"import os, warnings\nprint(os.getcwd() == {str(tmp_path)!r})"),
        nbformat.v4.new_code_cell("raise ValueError('first line\\nsecond line')"),
        nbformat.v4.new_code_cell("warnings.warn('old API', DeprecationWarning, stacklevel=1)"),
        nbformat.v4.new_code_cell("os._exit(1)"),
        nbformat.v4.new_code_cell("print('never')"),
    ]
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(notebook, path)
    progress = drift.Progress(total_cells=5)
    executed = drift.execute_notebook(path, load("kit").KERNEL_NAME, progress, "01/01")

    outputs = [cell.get("outputs", []) for cell in executed.cells if cell.cell_type == "code"]
    assert outputs[0][0]["text"] == "True\n", "the kernel runs in the notebook's folder"
    assert drift.first_error(outputs[1]) == "ValueError: first line"
    assert any("old API" in output.get("text", "") for output in outputs[2])
    assert drift.first_error(outputs[3]).startswith("NotRun: the run stopped here (DeadKernel")
    assert drift.first_error(outputs[4]).startswith("NotRun: not run: the kernel stopped")
    assert progress.done == 5
