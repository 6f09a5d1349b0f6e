"""Drift report: which lessons change on the next (or the previous) TensorFlow and Keras.

Usage: ``python3 tools/kit.py drift [--stack nightly|previous|FILE]`` (kit.py sets up ``.venv``
first and runs this file with it). The run:

1. builds a scratch environment ``.venv-drift-<stack>`` beside ``.venv`` (never touching
   ``.venv``): the kit's lock with --no-deps, minus the packages the stack swaps, then the swapped
   packages with pip resolving whatever they force to change, then the kit itself (editable), and
   a Jupyter kernel ``tf-saving-kit-drift-<stack>`` for it;
2. executes every notebook in that kernel, from ``notebooks/`` as nbval runs them, into copies
   under ``build/drift/<stack>/`` (the committed notebooks are untouched); a cell that raises does
   not stop the run, and a notebook whose kernel dies does not stop the next notebook;
3. classifies every code cell against the committed outputs, as strict nbval compares them (the
   rules of tests/sanitize.cfg, the ``nbval-ignore-output`` tag): same, changed (with a diff),
   error (with the exception's first line) or new-warning (its only difference is stderr lines
   mentioning a warning that the committed output does not have);
4. writes ``docs/drift/<stack>-<date>.json`` and ``.md``, merging the hand-written explanations
   of ``docs/drift/notes-<stack>.json`` (cells without one are marked "unexplained").

``--render REPORT.json`` re-writes a report's JSON and Markdown from the JSON with the current
notes, without building or running anything (how explanations are added after a run).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import difflib
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "docs" / "drift"
SCRATCH = ROOT / "build" / "drift"
LOCK = "requirements-lock.txt"
KERNEL_PREFIX = "tf-saving-kit-drift"
CELL_TIMEOUT = 1800  # the machine may be busy: a slow cell is not a drift
STAMP_NAME = "drift-setup.sha256"

# The swaps of the built-in stacks. A requirement whose specifier names a pre-release (".dev0")
# lets pip pick pre-releases of that package only; everything else stays on final releases.
STACKS: dict[str, list[str]] = {
    # The newest nightlies: TensorFlow 2.23 dev (tf-nightly: tf-nightly-cpu stopped at 2.22),
    # Keras 3.16 dev and LiteRT 2.4 dev.
    "nightly": [
        "tf-nightly>=2.23.0.dev0",
        "keras-nightly>=3.16.0.dev0",
        "ai-edge-litert-nightly>=2.4.0.dev0",
    ],
    # The newest earlier minor releases the kit can support: TensorFlow 2.20 and LiteRT 2.2.
    # Keras stays at 3.15.1: TensorFlow 2.20 accepts it (keras>=3.10), and the kit refuses any
    # older Keras (helpers.custom_objects.check_keras_version; model-loading advisories).
    "previous": [
        'tensorflow-cpu==2.20.0; sys_platform == "linux" and platform_machine == "x86_64"',
        'tensorflow==2.20.0; sys_platform != "linux" or platform_machine != "x86_64"',
        "ai-edge-litert==2.2.0",
    ],
}

# Distributions that install the same import package: a swap of one removes all of its family
# from the lock (tf-nightly and tensorflow-cpu both install ``tensorflow``).
FAMILIES = (
    {"tensorflow", "tensorflow-cpu", "tf-nightly", "tf-nightly-cpu", "tensorflow-intel"},
    {"keras", "keras-nightly"},
    {"ai-edge-litert", "ai-edge-litert-nightly"},
    {"onnxruntime", "ort-nightly"},
)

# The versions a report shows first (distribution names, any family member).
KEY_PACKAGES = (
    ("TensorFlow", ("tensorflow-cpu", "tensorflow", "tf-nightly", "tf-nightly-cpu")),
    ("Keras", ("keras", "keras-nightly")),
    ("LiteRT", ("ai-edge-litert", "ai-edge-litert-nightly")),
    ("NumPy", ("numpy",)),
    ("protobuf", ("protobuf",)),
    ("ml-dtypes", ("ml-dtypes",)),
    ("h5py", ("h5py",)),
    ("TensorBoard", ("tensorboard",)),
    ("flatbuffers", ("flatbuffers",)),
    ("ONNX", ("onnx",)),
    ("tf2onnx", ("tf2onnx",)),
    ("ONNX Runtime", ("onnxruntime",)),
    ("MLflow", ("mlflow",)),
)

# The four kinds of cell, in order of precedence.
STATUSES = ("same", "changed", "error", "new-warning")
WARNING_LINE = re.compile(r"warning", re.IGNORECASE)
# What strict nbval leaves out of the comparison (without --nbdime).
SKIP_COMPARE = {
    "metadata",
    "traceback",
    "prompt_number",
    "output_type",
    "name",
    "execution_count",
    "application/vnd.jupyter.widget-view+json",
    "image/png",
    "image/jpeg",
}
IGNORE_OUTPUT = {"nbval-ignore-output"}
IGNORE_COMMENTS = {"NBVAL_IGNORE_OUTPUT", "PYTEST_VALIDATE_IGNORE_OUTPUT"}
SKIP_TAGS = {"nbval-skip"}
RAISES_TAGS = {"nbval-raises-exception", "raises-exception"}
DIFF_LINES_SHOWN = 40

Runner = Callable[..., subprocess.CompletedProcess]


def say(message: str) -> None:
    print(f"[drift] {message}", flush=True)


# --- stacks and the install plan -------------------------------------------------------------


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str | None:
    """The distribution name of a requirement line, or None for a comment or an option."""
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return canonical(match.group(0)) if match else None


def stack_name(stack: str) -> str:
    """``nightly``, ``previous``, or a requirements file's stem made safe for a folder name."""
    if stack in STACKS:
        return stack
    return re.sub(r"[^A-Za-z0-9]+", "-", Path(stack).stem).strip("-").lower() or "custom"


def stack_swaps(stack: str) -> list[str]:
    """The requirement lines a stack installs instead of the lock's."""
    if stack in STACKS:
        return list(STACKS[stack])
    path = Path(stack)
    if not path.is_file():
        raise SystemExit(f"--stack: not nightly, previous or a requirements file: {stack}")
    lines = [line.strip() for line in path.read_text().splitlines()]
    swaps = [line for line in lines if requirement_name(line)]
    if not swaps:
        raise SystemExit(f"{stack} names no package to swap")
    return swaps


def replaced_names(swaps: Iterable[str]) -> set[str]:
    """The lock's names a swap removes: each swapped name and the rest of its family."""
    names = {name for line in swaps if (name := requirement_name(line))}
    for family in FAMILIES:
        if names & family:
            names |= family
    return names


def kept_lock(lock_text: str, swaps: Iterable[str]) -> list[str]:
    """The lock's lines minus every package the swaps replace (comments dropped)."""
    removed = replaced_names(swaps)
    return [
        line
        for line in lock_text.splitlines()
        if (name := requirement_name(line)) and name not in removed
    ]


def env_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def kernel_name(name: str) -> str:
    return f"{KERNEL_PREFIX}-{name}"


def install_commands(
    python: str, env: Path, lock_file: Path, swaps: list[str], name: str
) -> list[list[str]]:
    """The commands that build the scratch environment, in order (``lock_file`` holds the kept
    lines of the lock)."""
    env_py = str(env_python(env))
    pip = [env_py, "-m", "pip", "install", "--disable-pip-version-check"]
    return [
        [python, "-m", "venv", str(env)],
        # The lock as it is, minus the swapped packages: no resolution, nothing else changes.
        [*pip, "--no-deps", "-r", str(lock_file)],
        # The swaps with their dependencies: pip changes only what they force (and adds what
        # they need that the lock lacks, e.g. TensorBoard for TensorFlow 2.20).
        [*pip, *swaps],
        [*pip, "--no-deps", "-e", str(ROOT)],
        [
            *(env_py, "-m", "ipykernel", "install", "--sys-prefix"),
            *("--name", kernel_name(name), "--display-name", f"Python 3 (TF saving kit, {name})"),
        ],
    ]


def fingerprint(python_version: str, lock_text: str, swaps: list[str]) -> str:
    digest = hashlib.sha256()
    for part in (python_version, lock_text, *swaps, Path(__file__).read_text()):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def default_runner(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=False, text=True, **kwargs)


def build_env(
    stack: str,
    python: str = sys.executable,
    root: Path = ROOT,
    runner: Runner = default_runner,
) -> Path:
    """Create (or bring up to date) ``.venv-drift-<stack>`` and return its folder."""
    name = stack_name(stack)
    swaps = stack_swaps(stack)
    env = root / f".venv-drift-{name}"
    lock_text = (root / LOCK).read_text()
    stamp = env / STAMP_NAME
    wanted = fingerprint(platform.python_version(), lock_text, swaps)
    if stamp.exists() and stamp.read_text().strip() == wanted:
        say(f"{env.name}/ is up to date: nothing to install")
        return env
    commands = install_commands(python, env, env / "drift-lock.txt", swaps, name)
    if env_python(env).exists():
        commands = commands[1:]  # the venv exists: reinstall into it
    for command in commands:
        if command[1:3] == ["-m", "venv"]:
            say(f"creating {env.name}/ beside .venv/")
        else:
            say("running: " + " ".join(_short(part, root) for part in command))
        if "-r" in command:
            env.mkdir(parents=True, exist_ok=True)
            (env / "drift-lock.txt").write_text("\n".join(kept_lock(lock_text, swaps)) + "\n")
        kwargs = {"stdout": subprocess.DEVNULL} if "ipykernel" in command else {}
        result = runner(command, cwd=root, **kwargs)
        if result.returncode != 0:
            raise SystemExit(f"failed (exit {result.returncode}): {' '.join(command)}")
    stamp.write_text(wanted + "\n")
    return env


def _short(part: str, root: Path) -> str:
    try:
        return Path(part).relative_to(root).as_posix() if Path(part).is_absolute() else part
    except ValueError:
        return part


PROBE = """
import importlib.metadata as m, json, sys
out = {"python": sys.version.split()[0]}
for module in ("tensorflow", "keras", "numpy"):
    try:
        out[module + ".__version__"] = __import__(module).__version__
    except Exception as error:  # noqa: BLE001 - recorded, not raised
        out[module + ".__version__"] = f"import failed: {type(error).__name__}: {error}"
print(json.dumps(out))
"""


def describe_env(env: Path, root: Path = ROOT, runner: Runner = default_runner) -> dict:
    """What the scratch environment holds: ``pip freeze``, ``pip check`` and imported versions."""
    env_py = str(env_python(env))
    freeze = runner(
        [env_py, "-m", "pip", "freeze", "--exclude-editable"], cwd=root, capture_output=True
    ).stdout.split("\n")
    check = runner([env_py, "-m", "pip", "check"], cwd=root, capture_output=True)
    probe = runner([env_py, "-c", PROBE], cwd=root, capture_output=True, env=_quiet_env())
    try:
        imported = json.loads(probe.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        imported = {"error": (probe.stderr or "").strip()[-500:]}
    return {
        "freeze": sorted((line for line in freeze if "==" in line), key=str.lower),
        "pip_check": (check.stdout or "").strip(),
        "imported": imported,
    }


def _quiet_env() -> dict[str, str]:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def pins(lines: Iterable[str]) -> dict[str, str]:
    """``name -> version`` of ``name==version`` lines (environment markers ignored)."""
    found = {}
    for line in lines:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)==([^;\s]+)", line)
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def lock_differences(lock_text: str, freeze: list[str]) -> dict[str, list]:
    """How the environment differs from the lock (Linux x86-64 lines of the lock)."""
    lock = {
        canonical(name): version
        for line in lock_text.splitlines()
        if 'sys_platform != "linux"' not in line
        for name, version in pins([line]).items()
    }
    installed = pins(freeze)
    return {
        "changed": [
            [name, lock[name], installed[name]]
            for name in sorted(lock.keys() & installed.keys())
            if lock[name] != installed[name]
        ],
        "added": [[name, installed[name]] for name in sorted(installed.keys() - lock.keys())],
        "removed": [[name, lock[name]] for name in sorted(lock.keys() - installed.keys())],
    }


def key_versions(lock_text: str, freeze: list[str]) -> list[list[str]]:
    """``[label, lock's version, installed version (distribution)]`` for KEY_PACKAGES."""
    lock = pins(line for line in lock_text.splitlines() if 'sys_platform != "linux"' not in line)
    installed = pins(freeze)

    def first(table: dict[str, str], names: tuple[str, ...]) -> str:
        for name in names:
            if name in table:
                return table[name] if name == names[0] else f"{table[name]} ({name})"
        return "-"

    return [[label, first(lock, names), first(installed, names)] for label, names in KEY_PACKAGES]


# --- comparing outputs as strict nbval does ---------------------------------------------------


def read_sanitize(text: str) -> list[tuple[str, str]]:
    """The regex/replace pairs of a sanitize file (nbval's own parser)."""
    return re.findall(r"^regex: (.*)$\n^replace: (.*)$", text, flags=re.MULTILINE)


def sanitize(value, patterns: list[tuple[str, str]]):
    if not isinstance(value, str):
        return value
    for regex, replace in patterns:
        value = re.sub(regex, replace, value)
    return value


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def coalesce(outputs: list[dict]) -> list[dict]:
    """nbval's coalesce_streams: one output per stream name, carriage returns applied."""
    merged: list[dict] = []
    streams: dict[str, dict] = {}
    for output in outputs:
        if output.get("output_type") == "stream":
            name = output.get("name", "stdout")
            if name in streams:
                streams[name]["text"] += _text(output.get("text", ""))
            else:
                stream = {"output_type": "stream", "name": name, "text": _text(output["text"])}
                streams[name] = stream
                merged.append(stream)
        else:
            merged.append(output)
    for stream in streams.values():
        # nbval's backspace loop never runs (it compares a length with itself), so only the
        # carriage returns are applied here too.
        stream["text"] = re.sub(r"^.*\r(?=[^\n])", "", stream["text"], flags=re.MULTILINE)
    return merged


def comparable(outputs: list[dict], patterns: list[tuple[str, str]]) -> dict[str, list]:
    """``key -> [sanitized values]`` exactly as nbval builds them before comparing."""
    table: dict[str, list] = {}
    for output in coalesce(outputs):
        if output.get("output_type") == "stream":
            table.setdefault(output["name"], []).append(sanitize(output["text"], patterns))
            continue
        for key, value in output.items():
            if key in SKIP_COMPARE:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in SKIP_COMPARE:
                        table.setdefault(mime, []).append(sanitize(_text(data), patterns))
            else:
                table.setdefault(key, []).append(sanitize(value, patterns))
    return table


def as_text(table: dict[str, list]) -> list[str]:
    """A comparable table as lines, for a unified diff."""
    lines = []
    for key in sorted(table):
        for value in table[key]:
            lines.append(f"[{key}]")
            lines.extend(str(value).splitlines() or [""])
    return lines


def cell_options(cell: dict) -> set[str]:
    tags = set(cell.get("metadata", {}).get("tags", []))
    source = _text(cell.get("source", ""))
    for line in source.splitlines():
        comment = line.strip()
        if comment.startswith("#") and comment.lstrip("#").strip() in IGNORE_COMMENTS:
            tags.add("nbval-ignore-output")
    return tags


def first_error(outputs: list[dict]) -> str | None:
    for output in outputs:
        if output.get("output_type") == "error":
            value = str(output.get("evalue", "")).strip().splitlines()
            return f"{output.get('ename', 'Error')}: {value[0] if value else ''}".rstrip(": ")
    return None


def new_warnings(committed: list[dict], executed: list[dict], patterns) -> list[str]:
    """Stderr lines of ``executed`` mentioning a warning that ``committed``'s stderr lacks."""

    def stderr_lines(outputs: list[dict]) -> list[str]:
        table = comparable(outputs, patterns)
        return [line for text in table.get("stderr", []) for line in text.splitlines()]

    before = set(stderr_lines(committed))
    seen: list[str] = []
    for line in stderr_lines(executed):
        if WARNING_LINE.search(line) and line not in before and line not in seen:
            seen.append(line)
    return seen


def classify_cell(committed: dict, executed: dict, patterns: list[tuple[str, str]]) -> dict:
    """Compare one executed code cell with its committed version."""
    options = cell_options(committed)
    old = committed.get("outputs", [])
    new = executed.get("outputs", [])
    result: dict = {"status": "same", "ignored_output": "nbval-ignore-output" in options}
    if options & SKIP_TAGS:
        result["skipped"] = True
        return result
    warnings = new_warnings(old, new, patterns)
    if warnings:
        result["new_warnings"] = warnings
    error = first_error(new)
    if error and not (options & RAISES_TAGS):
        result.update(status="error", error=error)
        return result
    if result["ignored_output"] or committed.get("execution_count") is None:
        result["status"] = "new-warning" if warnings else "same"
        return result
    before = comparable(old, patterns)
    after = comparable(new, patterns)
    if warnings and "stderr" in after:  # the new warnings alone do not make a cell "changed"
        kept = [
            "\n".join(line for line in text.splitlines() if line not in warnings)
            for text in after["stderr"]
        ]
        kept = [text for text in kept if text.strip()]
        if kept:
            after["stderr"] = kept
        else:
            del after["stderr"]
    if before != after:
        diff = difflib.unified_diff(
            as_text(before), as_text(after), "committed", "this stack", n=1, lineterm=""
        )
        result.update(status="changed", diff=list(diff))
    elif warnings:
        result["status"] = "new-warning"
    return result


def section_of(cells: list[dict], index: int) -> str:
    """The heading of the section that cell ``index`` belongs to (the last one above it)."""
    for cell in reversed(cells[:index]):
        if cell.get("cell_type") != "markdown":
            continue
        headings = [
            line.lstrip("#").strip()
            for line in _text(cell.get("source", "")).splitlines()
            if re.match(r"#{1,6}\s", line)
        ]
        if headings:
            return headings[-1]
    return ""


def first_line(cell: dict) -> str:
    for line in _text(cell.get("source", "")).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()[:100]
    return ""


def classify_notebook(committed: dict, executed: dict, patterns) -> list[dict]:
    """One entry per code cell: number (nbval's "Cell N"), section, first line, status..."""
    results = []
    number = 0
    for index, (old, new) in enumerate(zip(committed["cells"], executed["cells"], strict=True)):
        if old.get("cell_type") != "code":
            continue
        entry = {
            "cell": number,
            "section": section_of(committed["cells"], index),
            "first_line": first_line(old),
        }
        entry.update(classify_cell(old, new, patterns))
        results.append(entry)
        number += 1
    return results


def counts(cells: list[dict]) -> dict[str, int]:
    tally = dict.fromkeys(STATUSES, 0)
    for cell in cells:
        tally[cell["status"]] += 1
    return tally


# --- running the notebooks ---------------------------------------------------------------------


def notebook_paths(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9]*.ipynb"))


def code_cells(notebook: dict) -> int:
    return sum(cell.get("cell_type") == "code" for cell in notebook["cells"])


class Progress:
    """Prints notebook, cell and the estimated time left (from the time per cell so far)."""

    def __init__(self, total_cells: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total_cells
        self.done = 0
        self.clock = clock
        self.start = clock()

    def left(self) -> str:
        if self.done == 0:
            return "estimating"
        elapsed = self.clock() - self.start
        seconds = elapsed / self.done * (self.total - self.done)
        return f"about {_duration(seconds)} left"

    def line(self, position: str, notebook: str, cell: int, cells: int) -> str:
        elapsed = _duration(self.clock() - self.start)
        return f"{position} {notebook} cell {cell + 1}/{cells}: elapsed {elapsed}, {self.left()}"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def execute_notebook(path: Path, kernel: str, progress: Progress, position: str) -> dict:
    """Run a copy of ``path`` cell by cell in ``kernel`` (cwd: the notebook's folder, as nbval
    runs it); returns the executed copy. Errors stay in the outputs; a dead kernel or a failed
    start marks the cells left as not run."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    executed = copy.deepcopy(notebook)
    client = NotebookClient(
        executed,
        timeout=CELL_TIMEOUT,
        kernel_name=kernel,
        allow_errors=True,
        interrupt_on_timeout=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    cells = code_cells(notebook)
    number = 0
    stopped: str | None = None
    try:
        with client.setup_kernel():
            for index, cell in enumerate(executed.cells):
                if cell.cell_type != "code":
                    continue
                say(progress.line(position, path.stem, number, cells))
                if stopped is None and not (cell_options(cell) & SKIP_TAGS):
                    try:
                        client.execute_cell(cell, index)
                    except Exception as error:  # DeadKernelError, a timeout that hung...
                        stopped = f"{type(error).__name__}: {str(error).strip()[:200]}"
                        _not_run(cell, f"the run stopped here ({stopped})")
                elif stopped is not None:
                    _not_run(cell, f"not run: the kernel stopped at an earlier cell ({stopped})")
                progress.done += 1
                number += 1
    except Exception as error:  # the kernel did not start, or did not shut down
        reason = f"{type(error).__name__}: {str(error).strip()[:200]}"
        say(f"{path.stem}: {reason}")
        if number == 0:
            for cell in executed.cells:
                if cell.cell_type == "code":
                    _not_run(cell, f"not run: {reason}")
            progress.done += cells
    return executed


def _not_run(cell, message: str) -> None:
    cell["outputs"] = [
        {"output_type": "error", "ename": "NotRun", "evalue": message, "traceback": []}
    ]


def run_notebooks(env: Path, name: str, paths: list[Path], patterns, scratch: Path) -> list[dict]:
    """Execute and classify every notebook; a failing notebook does not stop the next one."""
    import nbformat

    kernel = kernel_name(name)
    committed = {path: nbformat.read(path, as_version=4) for path in paths}
    progress = Progress(sum(code_cells(nb) for nb in committed.values()))
    scratch.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="kit-drift-home-") as home:
        os.environ.update(_isolated_env(Path(home), env))
        for number, path in enumerate(paths, 1):
            position = f"{number:02d}/{len(paths):02d}"
            start = time.monotonic()
            executed = execute_notebook(path, kernel, progress, position)
            seconds = time.monotonic() - start
            nbformat.write(executed, scratch / path.name)
            cells = classify_notebook(committed[path], executed, patterns)
            tally = counts(cells)
            say(
                f"{path.stem}: {tally['same']} same, {tally['changed']} changed, "
                f"{tally['error']} error, {tally['new-warning']} new-warning ({seconds:.0f} s)"
            )
            results.append({"notebook": path.name, "seconds": round(seconds, 1), "cells": cells})
    return results


# The variables the kit's own runs point under a throwaway folder (its isolated_home_env).
HOME_REDIRECTS = (
    *("KERAS_HOME", "IPYTHONDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR"),
    *("JUPYTER_RUNTIME_DIR", "MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"),
    *("npm_config_cache", "RUSTUP_HOME"),
)


def _isolated_env(home: Path, env: Path) -> dict[str, str]:
    """A throwaway HOME (as `kit.py test` uses), the drift kernel findable, its tools first."""
    values = {"HOME": str(home), "USERPROFILE": str(home)}
    values.update({name: str(home / name.lower()) for name in HOME_REDIRECTS})
    for folder in values.values():
        Path(folder).mkdir(parents=True, exist_ok=True)
    values["JUPYTER_PATH"] = str(env / "share" / "jupyter")
    values["PATH"] = os.pathsep.join([str(env_python(env).parent), os.environ.get("PATH", "")])
    return values


# --- the report --------------------------------------------------------------------------------


def notes_path(name: str, reports: Path = REPORTS) -> Path:
    return reports / f"notes-{name}.json"


def read_notes(path: Path) -> dict:
    if not path.exists():
        return {"summary": "", "cells": {}}
    notes = json.loads(path.read_text())
    notes.setdefault("summary", "")
    notes.setdefault("cells", {})
    return notes


def note_key(notebook: str, cell: int) -> str:
    return f"{Path(notebook).stem} cell {cell}"


def merge_notes(report: dict, notes: dict) -> dict:
    """Copy the hand-written explanations into the report; the rest are "unexplained"."""
    report = copy.deepcopy(report)
    report["summary"] = notes.get("summary", "")
    for notebook in report["notebooks"]:
        for cell in notebook["cells"]:
            cell.pop("explanation", None)
            if cell["status"] != "same":
                text = notes["cells"].get(note_key(notebook["notebook"], cell["cell"]))
                cell["explanation"] = text or "unexplained"
        notebook["counts"] = counts(notebook["cells"])
    return report


def make_report(
    name: str,
    swaps: list[str],
    described: dict,
    lock_text: str,
    notebooks: list[dict],
    started: dt.datetime,
    seconds: float,
    commit: str = "",
) -> dict:
    return {
        "stack": name,
        "date": started.date().isoformat(),
        "started": started.isoformat(timespec="seconds"),
        "run_seconds": round(seconds),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "commit": commit,
        "swaps": swaps,
        "versions": key_versions(lock_text, described["freeze"]),
        "imported": described.get("imported", {}),
        "lock_differences": lock_differences(lock_text, described["freeze"]),
        "pip_check": described.get("pip_check", ""),
        "freeze": described["freeze"],
        "notebooks": notebooks,
    }


def tree_commit(root: Path = ROOT) -> str:
    """The commit the notebooks were run from, "+ changes" when the tree differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return ""
    return f"{head} + changes" if head and dirty else head


def _label(notebook: str) -> str:
    return Path(notebook).stem


def auto_summary(report: dict) -> str:
    """What the tables say, in one paragraph (the hand-written summary goes above it)."""
    versions = {label: new for label, _, new in report["versions"]}
    unchanged = [
        _label(nb["notebook"])[:2]
        for nb in report["notebooks"]
        if nb["counts"]["changed"] == nb["counts"]["error"] == 0
    ]
    affected = [
        f"{_label(nb['notebook'])[:2]} ({nb['counts']['changed']} changed, "
        f"{nb['counts']['error']} erroring)"
        for nb in report["notebooks"]
        if nb["counts"]["changed"] or nb["counts"]["error"]
    ]
    warned = sum(nb["counts"]["new-warning"] for nb in report["notebooks"])
    text = (
        f"On TensorFlow {versions.get('TensorFlow', '?')}, Keras {versions.get('Keras', '?')} and "
        f"LiteRT {versions.get('LiteRT', '?')}: "
    )
    text += (
        f"notebooks {', '.join(unchanged)} run with their committed outputs"
        if unchanged
        else "no notebook runs with its committed outputs"
    )
    text += f"; {', '.join(affected)} differ" if affected else ""
    text += f"; {warned} cell(s) print a new warning only." if warned else "."
    return text


def render_markdown(report: dict) -> str:
    name, date = report["stack"], report["date"]
    out = [f"# Drift report: the {name} stack, {date}", ""]
    if report.get("summary"):
        out += ["## For teachers", "", report["summary"], ""]
    out += [
        "## In numbers",
        "",
        auto_summary(report),
        "",
        f"Run on {report['machine']}, Python {report['python']}"
        + (f", notebooks of commit {report['commit']}" if report.get("commit") else "")
        + f", started {report['started']}, {_duration(report['run_seconds'])} in all. Swapped in: "
        + ", ".join(f"`{swap.split(';')[0]}`" for swap in report["swaps"])
        + ". Re-run with `python3 tools/kit.py drift --stack "
        + name
        + "`; explanations live in "
        f"`docs/drift/notes-{name}.json` (`python3 tools/drift.py --render` merges them).",
        "",
        "| package | kit's lock | this stack |",
        "|---|---|---|",
    ]
    out += [f"| {label} | {old} | {new} |" for label, old, new in report["versions"]]
    differences = report["lock_differences"]
    other = [
        f"{n} {a} → {b}"
        for n, a, b in differences["changed"]
        if not any(n in names for _, names in KEY_PACKAGES)
    ]
    out += [""]
    if other:
        out += ["Other packages the swap changed: " + ", ".join(other) + ".", ""]
    if differences["added"]:
        out += [
            "Added (not in the lock): " + ", ".join(f"{n} {v}" for n, v in differences["added"]),
            "",
        ]
    if report.get("pip_check") and "No broken requirements" not in report["pip_check"]:
        out += ["`pip check` says:", "", "```", report["pip_check"], "```", ""]
    out += [
        "## Per notebook",
        "",
        "A cell is *same* when strict nbval would accept its output (after tests/sanitize.cfg; "
        "cells tagged `nbval-ignore-output`, the timing cells, count as same unless they raise), "
        "*changed* when it would not, *erroring* when it raises, *new-warning* when its only "
        "difference is a new warning on stderr.",
        "",
        "| notebook | code cells | same | changed | erroring | new-warning | run time |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for nb in report["notebooks"]:
        c = nb["counts"]
        out.append(
            f"| {_label(nb['notebook'])} | {len(nb['cells'])} | {c['same']} | {c['changed']} | "
            f"{c['error']} | {c['new-warning']} | {nb['seconds']:.0f} s |"
        )
    out += ["", "## Cells that differ", ""]
    listed = False
    for nb in report["notebooks"]:
        cells = [cell for cell in nb["cells"] if cell["status"] != "same"]
        if not cells:
            continue
        listed = True
        out += [f"### {_label(nb['notebook'])}", ""]
        for cell in cells:
            out += _render_cell(cell)
    if not listed:
        out += ["None: every cell gives its committed output.", ""]
    out += [
        "## Everything installed",
        "",
        "<details><summary>pip freeze of the scratch environment</summary>",
        "",
        "```",
        *report["freeze"],
        "```",
        "",
        "</details>",
        "",
    ]
    return "\n".join(out)


def _render_cell(cell: dict) -> list[str]:
    section = f" — section “{cell['section']}”" if cell["section"] else ""
    out = [
        f"**Cell {cell['cell']}**{section}: *{cell['status']}* (`{cell['first_line']}`)",
        "",
        f"- Explanation: {cell.get('explanation', 'unexplained')}",
    ]
    if cell.get("error"):
        out.append(f"- Raises: `{cell['error']}`")
    for warning in cell.get("new_warnings", []):
        out.append(f"- New warning: `{warning.strip()[:300]}`")
    out.append("")
    if cell.get("diff"):
        diff = cell["diff"][2:]  # without the ---/+++ header
        shown = diff[:DIFF_LINES_SHOWN]
        if len(diff) > len(shown):
            shown.append(f"... ({len(diff) - len(shown)} more lines in the JSON report)")
        out += ["```diff", *shown, "```", ""]
    return out


def write_report(report: dict, notes: dict, reports: Path) -> tuple[Path, Path]:
    merged = merge_notes(report, notes)
    reports.mkdir(parents=True, exist_ok=True)
    base = reports / f"{merged['stack']}-{merged['date']}"
    json_path, md_path = base.with_suffix(".json"), base.with_suffix(".md")
    json_path.write_text(json.dumps(merged, indent=1, ensure_ascii=False) + "\n")
    md_path.write_text(render_markdown(merged))
    return json_path, md_path


# --- the command -------------------------------------------------------------------------------


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kit.py drift", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stack", default="nightly", help="nightly, previous or a requirements file"
    )
    parser.add_argument("--render", metavar="REPORT.json", help="only re-render a report")
    parser.add_argument("notebooks", nargs="*", help="only these notebooks (default: all)")
    args = parser.parse_args(arguments)
    if args.render:
        path = Path(args.render).resolve()
        report = json.loads(path.read_text())
        written = write_report(report, read_notes(notes_path(report["stack"])), path.parent)
        say("wrote " + ", ".join(str(p.relative_to(ROOT)) for p in written))
        return 0

    name, swaps = stack_name(args.stack), stack_swaps(args.stack)
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    clock = time.monotonic()
    env = build_env(args.stack)
    described = describe_env(env)
    say(
        "installed: "
        + ", ".join(f"{label} {v}" for label, _, v in key_versions("", described["freeze"]))
    )
    paths = [Path(p).resolve() for p in args.notebooks] or notebook_paths()
    patterns = read_sanitize((ROOT / "tests" / "sanitize.cfg").read_text())
    notebooks = run_notebooks(env, name, paths, patterns, SCRATCH / name)
    lock_text = (ROOT / LOCK).read_text()
    seconds = time.monotonic() - clock
    report = make_report(
        name, swaps, described, lock_text, notebooks, started, seconds, tree_commit()
    )
    written = write_report(report, read_notes(notes_path(name)), REPORTS)
    say(
        f"done in {_duration(time.monotonic() - clock)}; wrote "
        + ", ".join(str(p.relative_to(ROOT)) for p in written)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
