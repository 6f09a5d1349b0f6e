"""Set up the kit and run it: ``python3 tools/kit.py {setup,lab,test,refresh,student,...}``.

Needs only Python 3.11.5 to 3.13 and pip (the pinned stack resolves on nothing else; when
``python3`` is older or newer, kit.py looks for ``python3.13``/``python3.12``/``python3.11`` on the
PATH and re-runs itself with one). ``setup`` creates ``.venv`` beside this repository, installs the
pinned stack into it and registers the kit's Jupyter kernel; it is idempotent: when the pins have
not changed since the last successful setup, it installs nothing. Every other command runs setup
first, so each of them works on a bare machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
KERNEL_NAME = "tf-saving-kit"  # as helpers.kit.setup.KERNEL_NAME (kit.py runs before .venv exists)
KERNEL_DISPLAY_NAME = "Python 3 (TF saving kit)"
SETUP_INPUTS = ("requirements.txt", "requirements-lock.txt", "pyproject.toml", "tools/kit.py")
STAMP_NAME = "kit-setup.sha256"
STUDENT_DIR = ROOT / "build" / "student"
# The Python versions the lock resolves on, checked by `kit.py lock --check` with pip's resolver
# (soupsieve 4.1.2 needs 3.11.5; NumPy 2.4 and Keras 3.15 need 3.11; TensorFlow 2.21 has no 3.14
# wheels). UNSUPPORTED_PROBES must fail to resolve, which proves the bounds are tight.
MIN_PYTHON = (3, 11, 5)
MAX_PYTHON_EXCLUSIVE = (3, 14)
SUPPORTED_PROBES = ("3.11.5", "3.12", "3.13")
UNSUPPORTED_PROBES = ("3.11.4", "3.14")
CANDIDATE_INTERPRETERS = ("python3.13", "python3.12", "python3.11")
HOW_TO_GET_PYTHON = (
    "Install Python 3.13 or 3.12 (or 3.11.5+) from https://www.python.org/downloads/ or with "
    "pyenv (`pyenv install 3.13`); Ubuntu 22.04's python3 (3.10) and Debian 12's python3.11 "
    "(3.11.2) are too old. Then run this command again: kit.py finds python3.13, python3.12 or "
    "python3.11 on the PATH by itself."
)
LINUX_X86_64 = 'sys_platform == "linux" and platform_machine == "x86_64"'
OTHER_PLATFORMS = 'sys_platform != "linux" or platform_machine != "x86_64"'
# JupyterLab settings for a quiet, offline-friendly classroom: no news pop-up, no update check.
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    }
}


def say(message: str) -> None:
    print(f"[kit] {message}", flush=True)


def run(command: list[str], **kwargs) -> int:
    return subprocess.run(command, check=False, **kwargs).returncode


def run_or_exit(command: list[str], **kwargs) -> None:
    code = run(command, **kwargs)
    if code != 0:
        say(f"failed (exit {code}): {' '.join(command)}")
        sys.exit(code)


def supported(version: tuple[int, ...]) -> bool:
    return MIN_PYTHON <= tuple(version[:3]) < MAX_PYTHON_EXCLUSIVE


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version[:3])


def interpreter_version(command: str) -> tuple[int, ...] | None:
    """The version of ``command`` (a name on the PATH or a path), or None if it does not run."""
    try:
        out = subprocess.run(
            [command, "-c", "import sys; print(*sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return tuple(int(part) for part in out.split())


def find_supported_python() -> str | None:
    """A supported interpreter on the PATH, newest first."""
    for name in CANDIDATE_INTERPRETERS:
        found = shutil.which(name)
        if found and (version := interpreter_version(found)) and supported(version):
            return found
    return None


def ensure_supported_python(current_env: bool, running: tuple[int, ...] = sys.version_info) -> None:
    """Refuse an unsupported interpreter before anything is created; re-run with a good one."""
    if supported(running):
        return
    have = version_text(running)
    want = f"{version_text(MIN_PYTHON)} to {MAX_PYTHON_EXCLUSIVE[0]}.{MAX_PYTHON_EXCLUSIVE[1] - 1}"
    if current_env:
        say(f"this environment has Python {have}; the kit's pinned stack needs Python {want}.")
        say(HOW_TO_GET_PYTHON)
        sys.exit(2)
    other = find_supported_python()
    if other is None:
        say(f"Python {have} cannot install the kit's pinned stack, which needs Python {want},")
        say("and no python3.13, python3.12 or python3.11 (3.11.5+) was found on the PATH.")
        say(HOW_TO_GET_PYTHON)
        sys.exit(2)
    say(f"python3 is {have}, which the pinned stack does not support; using {other} instead")
    sys.stdout.flush()
    sys.exit(subprocess.run([other, str(Path(__file__).resolve()), *sys.argv[1:]]).returncode)


def venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def setup_fingerprint(python: str) -> str:
    digest = hashlib.sha256()
    for name in SETUP_INPUTS:
        digest.update(name.encode())
        digest.update((ROOT / name).read_bytes())
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    digest.update(version.encode())
    return digest.hexdigest()


def environment_prefix(python: str) -> Path:
    out = subprocess.run(
        [python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True, check=True
    )
    return Path(out.stdout.strip())


def setup(current_env: bool) -> str:
    """Install the pinned stack (once) and return the interpreter to use."""
    if current_env:
        python = sys.executable
    else:
        python = str(venv_python())
        if Path(python).exists():
            version = interpreter_version(python)
            if version is None or not supported(version):
                found = version_text(version) if version else "an interpreter that does not run"
                say(f"{VENV.relative_to(ROOT)}/ holds {found}, which the pinned stack does not")
                say("support: delete it (`python3 tools/kit.py clean --venv`) and run again.")
                sys.exit(2)
        else:
            say(f"creating the virtual environment {VENV.relative_to(ROOT)}/")
            run_or_exit([sys.executable, "-m", "venv", str(VENV)])

    prefix = environment_prefix(python)
    stamp = prefix / STAMP_NAME
    fingerprint = setup_fingerprint(python)
    if stamp.exists() and stamp.read_text().strip() == fingerprint:
        say("environment is up to date: nothing to install")
        return python

    say("installing the pinned stack (the first time takes a few minutes)")
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    run_or_exit([*pip, "-r", "requirements.txt", "-c", "requirements-lock.txt"], cwd=ROOT)
    run_or_exit([*pip, "--no-deps", "-e", "."], cwd=ROOT)
    run_or_exit(
        [
            python,
            "-m",
            "ipykernel",
            "install",
            "--sys-prefix",
            "--name",
            KERNEL_NAME,
            "--display-name",
            KERNEL_DISPLAY_NAME,
        ],
        stdout=subprocess.DEVNULL,
    )
    overrides = prefix / "share" / "jupyter" / "lab" / "settings"
    overrides.mkdir(parents=True, exist_ok=True)
    (overrides / "overrides.json").write_text(json.dumps(LAB_OVERRIDES, indent=2) + "\n")
    stamp.write_text(fingerprint + "\n")
    say("environment ready")
    return python


def lab(python: str, extra: list[str], student: bool = False) -> int:
    root = ROOT / "notebooks"
    if student:
        code = student_editions(python, [])
        if code != 0:
            return code
        root = STUDENT_DIR
    command = [
        python,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={root}",
        f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}",  # for new notebooks too
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # JupyterLab refuses to start as root without it
    where = root.relative_to(ROOT).as_posix()
    say(f"opening JupyterLab on {where}/ with the kernel '{KERNEL_DISPLAY_NAME}'")
    return run([*command, *extra], cwd=ROOT)


def test(python: str, extra: list[str]) -> int:
    """Ruff, then every unit test and every notebook under strict nbval, in a throwaway HOME."""
    for check in (["check", "."], ["format", "--check", "."]):
        code = run([python, "-m", "ruff", *check], cwd=ROOT)
        if code != 0:
            say("ruff found problems (run `make format` to fix formatting)")
            return code

    workers = ["-n", "2", "--dist", "loadfile"] if (os.cpu_count() or 1) >= 2 else []
    with tempfile.TemporaryDirectory(prefix="kit-home-") as home:
        env = dict(os.environ, HOME=home, USERPROFILE=home)
        code = run([python, "-m", "pytest", *workers, *extra], cwd=ROOT, env=env)
        written = sorted(str(p.relative_to(home)) for p in Path(home).rglob("*"))
    if written:
        say("the test run wrote into the home folder, which it must not do:")
        for name in written:
            print(f"    ~/{name}")
        return code or 1
    return code


def refresh(python: str, notebooks: list[str]) -> int:
    return run([python, str(ROOT / "tools" / "refresh_notebooks.py"), *notebooks], cwd=ROOT)


def student_editions(python: str, extra: list[str]) -> int:
    """Write the student editions (solutions out, outputs cleared) to build/student/."""
    return run([python, str(ROOT / "tools" / "student_edition.py"), *extra], cwd=ROOT)


#: The notebooks that measure time (a live benchmark, a timed loop): the ones `stress` re-runs.
TIMING_NOTEBOOKS = (
    "notebooks/06_signatures_assets_and_tflite.ipynb",
    "notebooks/07_choosing_a_format.ipynb",
    "notebooks/11_long_runs_and_big_models.ipynb",
)
#: A busy loop, one per core: the CPU side of the load.
BURNER = "while True:\n    pass\n"
#: Synced writes of 1 MiB into one file on the repository's disk (artifacts/ is disk-backed
#: where /tmp may be RAM), wrapping at 64 MiB: the disk side of the load.
WRITER = """
import os, sys
chunk = os.urandom(1 << 20)
with open(sys.argv[1], "wb", buffering=0) as out:
    while True:
        for _ in range(64):
            out.write(chunk)
            os.fsync(out.fileno())
        out.seek(0)
"""


class Load:
    """CPU and disk load for as long as the ``with`` block lasts: a busy loop per core plus a
    writer doing synced writes under ``folder``. Stops exactly the processes it started."""

    def __init__(self, folder: Path, burners: int | None = None) -> None:
        self.folder = folder
        self.burners = burners if burners is not None else (os.cpu_count() or 1)
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def target(self) -> Path:
        return self.folder / "stress-writer.bin"

    def __enter__(self) -> Load:
        self.folder.mkdir(parents=True, exist_ok=True)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        for _ in range(self.burners):
            self.processes.append(subprocess.Popen([sys.executable, "-c", BURNER], **quiet))
        writer = [sys.executable, "-c", WRITER, str(self.target)]
        self.processes.append(subprocess.Popen(writer, **quiet))
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait()
        self.target.unlink(missing_ok=True)

    def describe(self) -> str:
        return (
            f"{self.burners} busy loop(s) and 1 writer of fsync'ed 1 MiB chunks "
            f"on {os.cpu_count() or 1} core(s)"
        )


def stress(python: str, extra: list[str]) -> int:
    """``stress [--runs N] [NOTEBOOK ...]``: strict nbval on the timing-sensitive notebooks, N
    times each, under CPU and disk load; prints the pass count per notebook."""
    parser = argparse.ArgumentParser(prog="kit.py stress")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("notebooks", nargs="*", default=list(TIMING_NOTEBOOKS))
    args = parser.parse_args(extra)
    passes = {notebook: 0 for notebook in args.notebooks}
    with Load(ROOT / "artifacts" / "stress") as load:
        say(f"load: {load.describe()}")
        for run_number in range(1, args.runs + 1):
            for notebook in args.notebooks:
                log = load.folder / f"{Path(notebook).stem}-run{run_number}.log"
                code = test_notebook(python, notebook, log)
                passes[notebook] += code == 0
                verdict = (
                    "pass" if code == 0 else f"FAIL (pytest's output: {log.relative_to(ROOT)})"
                )
                say(f"run {run_number}/{args.runs} {notebook}: {verdict}")
                if code == 0:
                    log.unlink(missing_ok=True)
    for notebook, count in passes.items():
        say(f"{notebook}: passed {count} of {args.runs} under load")
    return 0 if all(count == args.runs for count in passes.values()) else 1


def test_notebook(python: str, notebook: str, log: Path) -> int:
    """Strict nbval on one notebook, in a throwaway HOME as `test` runs it; output to ``log``."""
    with tempfile.TemporaryDirectory(prefix="kit-home-") as home, log.open("w") as out:
        env = dict(os.environ, HOME=home, USERPROFILE=home)
        command = [python, "-m", "pytest", "-q", notebook]
        return run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


BENCHMARKS = {"notebooks": "notebooks.py", "formats": "format_costs.py"}


def benchmark(python: str, extra: list[str]) -> int:
    """``benchmark [notebooks|formats] [ARGS]``: the notebooks' run times (the default), or what
    each saving format costs (``formats --quick`` for a 3-size subset)."""
    which = extra[0] if extra and extra[0] in BENCHMARKS else "notebooks"
    arguments = extra[1:] if extra and extra[0] in BENCHMARKS else extra
    return run([python, str(ROOT / "benchmarks" / BENCHMARKS[which]), *arguments], cwd=ROOT)


def lock() -> int:
    """Resolve requirements.txt in a scratch venv and write requirements-lock.txt."""
    with tempfile.TemporaryDirectory(prefix="kit-lock-") as scratch:
        python = Path(scratch) / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        run_or_exit([sys.executable, "-m", "venv", scratch])
        run_or_exit([str(python), "-m", "pip", "install", "-q", "-r", "requirements.txt"], cwd=ROOT)
        frozen = subprocess.run(
            [str(python), "-m", "pip", "freeze", "--exclude-editable"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    lines = [
        "# Every package of the resolved environment, produced on Linux x86-64 / CPython 3.11 by",
        "# `python3 tools/kit.py lock`. Used as pip constraints, so other platforms keep these",
        "# versions and add only what they need on top.",
    ]
    for pin in frozen:
        name, version = pin.split("==")
        if name.lower().replace("_", "-") == "tensorflow-cpu":
            # The same release as the full wheel, which the other platforms install.
            lines.append(f"tensorflow=={version}; {OTHER_PLATFORMS}")
            pin = f"tensorflow-cpu=={version}; {LINUX_X86_64}"
        lines.append(pin)
    (ROOT / "requirements-lock.txt").write_text("\n".join(lines) + "\n")
    say(f"wrote requirements-lock.txt ({len(frozen)} packages)")
    return check_lock()


def resolves_on(python_version: str) -> tuple[bool, str]:
    """Whether pip's resolver finds wheels for the pinned stack on ``python_version``."""
    with tempfile.TemporaryDirectory(prefix="kit-resolve-") as target:
        result = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "install", "--dry-run", "--quiet"),
                *("--disable-pip-version-check", "--only-binary=:all:"),
                *("--python-version", python_version, "--target", target),
                *("-r", "requirements.txt", "-c", "requirements-lock.txt"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    return result.returncode == 0, " / ".join(errors[:2])


def check_lock() -> int:
    """Prove the lock resolves on every supported Python and on no unsupported one."""
    probes = SUPPORTED_PROBES + UNSUPPORTED_PROBES
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(probes)) as pool:
        outcomes = dict(zip(probes, pool.map(resolves_on, probes), strict=True))
    failed = False
    for version, (ok, errors) in outcomes.items():
        expected = version in SUPPORTED_PROBES
        verdict = "resolves" if ok else f"does not resolve ({errors})"
        say(f"Python {version}: {verdict}{'' if ok == expected else '  <-- UNEXPECTED'}")
        failed |= ok != expected
    if failed:
        say("the supported Python range in tools/kit.py no longer matches the lock")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        choices=[
            *("setup", "lab", "test", "stress", "refresh", "student", "benchmark", "lock"),
            *("clean", "drift"),
        ],
    )
    parser.add_argument(
        "--current-env",
        action="store_true",
        help="use the running Python environment (e.g. conda) instead of creating .venv",
    )
    parser.add_argument(
        "--student",
        action="store_true",
        help="with lab: build the student editions and open JupyterLab on them",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="with lock: only check that the lock resolves on the supported Pythons",
    )
    parser.add_argument("--venv", action="store_true", help="with clean: also delete .venv/")
    args, extra = parser.parse_known_args()
    os.chdir(ROOT)

    if args.command == "lock" and args.check:
        return check_lock()  # asks pip about other Pythons: any interpreter can do that
    if args.command == "clean":
        shutil.rmtree(ROOT / "artifacts", ignore_errors=True)
        shutil.rmtree(ROOT / "build", ignore_errors=True)
        say("removed artifacts/ and build/")
        if args.venv:
            shutil.rmtree(VENV, ignore_errors=True)
            say(f"removed {VENV.relative_to(ROOT)}/")
        return 0
    ensure_supported_python(args.current_env)
    if args.command == "lock":
        return lock()
    python = setup(args.current_env)
    if args.command == "lab":
        return lab(python, extra, student=args.student)
    if args.command == "test":
        return test(python, extra)
    if args.command == "stress":
        return stress(python, extra)
    if args.command == "refresh":
        return refresh(python, extra)
    if args.command == "student":
        return student_editions(python, extra)
    if args.command == "benchmark":
        return benchmark(python, extra)
    if args.command == "drift":  # tools/drift.py: the notebooks on the next/previous TF and Keras
        return run([python, str(ROOT / "tools" / "drift.py"), *extra], cwd=ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
