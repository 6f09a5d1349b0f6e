"""Start, watch and stop a small multi-worker TensorFlow job on this machine, safely.

Every worker is a ``python -m helpers.distributed_worker`` child process with its own
``TF_CONFIG``. The cluster lives on loopback only (``127.0.0.1``, on ports the operating
system reports free), each child's output goes to a log file, every wait has a time limit,
and :func:`run_cluster` kills whatever is still running when it leaves, even on an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from helpers import paths
from helpers.errors import ArtifactError

LOOPBACK = "127.0.0.1"
WORKER_MODULE = "helpers.distributed_worker"


class WorkerError(ArtifactError):
    """A worker process failed, timed out, or did not reach an expected point; names its log."""


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct TCP ports that the operating system reports free on ``host``.

    All sockets stay open until every port is picked, so the ports differ; another program
    could still take one before the workers bind it (the window is milliseconds).
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
    return ports


def cluster_spec(ports: Sequence[int], host: str = LOOPBACK) -> dict[str, list[str]]:
    """A ``{"worker": ["127.0.0.1:PORT", ...]}`` cluster; worker 0 is the chief."""
    if not ports:
        raise ValueError("a cluster needs at least one port")
    if len(set(ports)) != len(ports):
        raise ValueError(f"ports must differ, got {list(ports)}")
    return {"worker": [f"{host}:{port}" for port in ports]}


def tf_config(cluster: dict[str, list[str]], index: int, task_type: str = "worker") -> str:
    """The ``TF_CONFIG`` JSON telling task ``task_type/index`` who it is and who its peers are."""
    tasks = cluster.get(task_type, [])
    if not 0 <= index < len(tasks):
        raise ValueError(f"no task {task_type}/{index} in a cluster of {len(tasks)} {task_type}s")
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


@dataclass
class Worker:
    """One started worker process, its index in the cluster and the file holding its output."""

    index: int
    process: subprocess.Popen[bytes]
    log: Path
    address: str  # host:port from the cluster spec
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 5) -> str:
        """The last ``lines`` lines of the worker's log (empty if it wrote nothing)."""
        if not self.log.exists():
            return ""
        text = self.log.read_text(encoding="utf-8", errors="replace").rstrip("\n")
        return "\n".join(text.splitlines()[-lines:])


def start_worker(
    index: int,
    cluster: dict[str, list[str]],
    args: Sequence[str],
    log: Path,
    *,
    module: str = WORKER_MODULE,
) -> Worker:
    """Start worker ``index`` of ``cluster``: ``python -m <module> ARGS`` with its ``TF_CONFIG``.

    Its standard output and error go to ``log``; it runs from the kit's top folder so that
    ``python -m helpers.distributed_worker`` finds the package.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TF_CONFIG=tf_config(cluster, index))
    env.setdefault("PYTHONUNBUFFERED", "1")
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=paths.repo_root(),
            env=env,
        )
    return Worker(index, process, log, cluster["worker"][index])


def stop(worker: Worker, *, grace: float = 5.0, hard: bool = False) -> int:
    """Stop ``worker`` (SIGKILL if ``hard``, else SIGTERM then SIGKILL after ``grace`` s).

    Returns its exit code (negative: the number of the signal that ended it).
    """
    if worker.running():
        if hard:
            worker.process.kill()
        else:
            worker.process.terminate()
            try:
                return worker.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                worker.process.kill()
    return worker.process.wait(timeout=grace)


def wait_all(workers: Sequence[Worker], *, timeout: float) -> dict[int, int]:
    """Wait for every worker to exit by itself; ``{index: exit code}``.

    Raises :class:`WorkerError` (naming the slow worker's log) if one still runs after
    ``timeout`` seconds; the caller's :func:`run_cluster` then kills it.
    """
    deadline = time.monotonic() + timeout
    codes = {}
    for worker in workers:
        try:
            codes[worker.index] = worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise WorkerError(
                worker.log, f"worker {worker.index} still running after {timeout:.0f} s"
            ) from None
    return codes


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    workers: Sequence[Worker] = (),
    poll: float = 0.1,
) -> float:
    """Poll ``condition`` until true; returns the seconds waited.

    Raises :class:`WorkerError` after ``timeout`` seconds, or as soon as one of ``workers``
    exits first (so a crashed worker is reported at once, with the end of its log).
    """
    start = time.monotonic()
    while not condition():
        for worker in workers:
            if not worker.running():
                raise WorkerError(
                    worker.log,
                    f"worker {worker.index} exited (code {worker.process.returncode}) "
                    f"before {what}; its log ends:\n{worker.tail()}",
                )
        if time.monotonic() - start > timeout:
            raise WorkerError(
                workers[0].log if workers else Path("."),
                f"timed out after {timeout:.0f} s waiting for {what}",
            )
        time.sleep(poll)
    return time.monotonic() - start


@contextlib.contextmanager
def run_cluster(
    count: int,
    args: Sequence[str],
    log_dir: Path,
    *,
    name: str = "run",
    module: str = WORKER_MODULE,
) -> Iterator[list[Worker]]:
    """Start ``count`` workers on fresh loopback ports; kill any still running on exit.

    Logs go to ``log_dir/<name>_worker<i>.log``. The ``finally`` clause makes sure no process
    outlives the block, whether it ends normally, by an exception or by an interrupt.
    """
    cluster = cluster_spec(free_ports(count))
    workers: list[Worker] = []
    try:
        for index in range(count):
            log = Path(log_dir) / f"{name}_worker{index}.log"
            workers.append(start_worker(index, cluster, args, log, module=module))
        yield workers
    finally:
        for worker in workers:
            if worker.running():
                stop(worker, hard=True)


def listening_addresses(pid: int) -> list[str] | None:
    """The ``host:port`` TCP addresses process ``pid`` listens on, sorted.

    Read from Linux's ``/proc``; ``None`` where that is not available (macOS, Windows).
    """
    fd_dir = Path(f"/proc/{pid}/fd")
    if not Path("/proc/net/tcp").exists():
        return None
    try:
        inodes = set()
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    except OSError:  # the process has gone
        return []
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    found.append(_decode_address(fields[1], width))
    return sorted(found)


def _decode_address(text: str, width: int) -> str:
    """``0100007F:1F90`` (little-endian words, as in /proc/net/tcp) -> ``127.0.0.1:8080``."""
    host_hex, port_hex = text.split(":")
    raw = bytes.fromhex(host_hex)
    host_bytes = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if width == 8 else socket.AF_INET6
    return f"{socket.inet_ntop(family, host_bytes)}:{int(port_hex, 16)}"


def is_loopback(address: str) -> bool:
    """True for ``127.x.x.x:port``, ``::1`` and IPv4-mapped loopback addresses."""
    host = address.rsplit(":", 1)[0]
    return host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1")


def alive(pid: int) -> bool:
    """True if a process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        with contextlib.suppress(OSError):
            return "\nState:\tZ" not in status.read_text()
    return True


__all__ = [
    "LOOPBACK",
    "Worker",
    "WorkerError",
    "alive",
    "cluster_spec",
    "free_ports",
    "is_loopback",
    "listening_addresses",
    "run_cluster",
    "start_worker",
    "stop",
    "tf_config",
    "wait_all",
    "wait_until",
]
