"""Start, watch and stop a small multi-worker TensorFlow job on this machine, safely.

Every worker is a child process (:mod:`helpers.kit.distributed_worker`, the
``distributed-worker`` task of :mod:`helpers.kit.child`) with its own ``TF_CONFIG``, naming
``127.0.0.1`` ports the operating system reports free. Each child's output goes to a log file,
every wait has a time limit, and :func:`run_cluster` kills whatever is still running when it
leaves, even on an error.

TensorFlow's gRPC server binds its port on *every* interface, whatever ``TF_CONFIG`` says. So
on Linux the workers run inside a private network namespace whose only interface is loopback
(:class:`Namespace`: one light process started with ``unshare --user --map-root-user --net``
holds it; each worker joins it with ``nsenter``, so it stays a direct child of the launcher).
Where that is unavailable (macOS, Windows, Linux without unprivileged user namespaces),
:func:`isolation_unavailable` says why and the workers run in the machine's own namespace.

Serves notebook 08.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import shutil
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from helpers.errors import ArtifactError
from helpers.kit import paths, runner

LOOPBACK = "127.0.0.1"
WORKER_TASK = "distributed-worker"  # helpers.kit.distributed_worker.main


class WorkerError(ArtifactError):
    """A worker process failed, timed out, or did not reach an expected point; names its log."""


class IsolationError(RuntimeError):
    """A private network namespace could not be created or entered; the message says why."""


# ``struct ifreq`` for the SIOCGIFFLAGS / SIOCSIFFLAGS ioctls: a 16-byte interface name, then
# the flags (a short) at the start of a 24-byte union (Linux, 64-bit and 32-bit alike: 40 bytes).
_IFREQ = "16sH22x"
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_READY = "namespace ready"


def loopback_up() -> None:
    """Bring this process's loopback interface ``lo`` up, then check a loopback connection.

    What ``ip link set lo up`` does, with one ioctl (no ``ip`` binary needed). A new network
    namespace starts with ``lo`` down: nothing, not even ``127.0.0.1``, would connect.
    Needs ``CAP_NET_ADMIN`` in the namespace (the holder has it: it is root in its own user
    namespace). Raises ``OSError`` if the interface cannot be raised or does not connect.
    """
    import fcntl  # POSIX only: imported here so that the module loads on Windows too

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        request = fcntl.ioctl(control, _SIOCGIFFLAGS, struct.pack(_IFREQ, b"lo", 0))
        flags = struct.unpack(_IFREQ, request)[1]
        if not flags & _IFF_UP:
            fcntl.ioctl(control, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))
    with socket.socket() as server:
        server.bind((LOOPBACK, 0))
        server.listen()
        socket.create_connection(server.getsockname(), timeout=5).close()


def _hold_namespace(lifetime: float) -> None:
    """The holder process's body: ``lo`` up, report ready, then keep the namespace alive.

    It ends by itself when the launcher closes its standard input (also when the launcher
    dies) or after ``lifetime`` seconds, whichever comes first.
    """
    loopback_up()
    print(_READY, flush=True)
    deadline = time.monotonic() + lifetime
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([sys.stdin], [], [], left)
        if readable and not sys.stdin.buffer.read1(4096):
            return  # end of file: the launcher is done with the namespace


@dataclass
class Namespace:
    """A private network namespace with only ``lo``, kept alive by one holder process.

    The holder (no TensorFlow; a few megabytes) runs in a new user namespace, where it is root,
    and a new network namespace, owned by that user namespace. :meth:`command` prefixes a
    command line with ``nsenter`` so that the program joins both namespaces and then *is* the
    child process (``nsenter`` execs it): the launcher waits for it and signals it as usual,
    since process IDs are shared (there is no PID namespace).
    """

    holder: runner.Child

    @property
    def pid(self) -> int:
        return self.holder.pid

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this namespace (same user and files, loopback-only network)."""
        return [
            "nsenter",
            "--preserve-credentials",  # keep our uid: unprivileged users cannot setgroups
            f"--user=/proc/{self.pid}/ns/user",
            f"--net=/proc/{self.pid}/ns/net",
            "--",
            *argv,
        ]

    def close(self, *, grace: float = 5.0) -> int:
        """Tell the holder to end (close its stdin), kill it after ``grace`` s; its exit code.

        The namespace itself disappears when the last process in it has exited.
        """
        if self.holder.stdin is not None and not self.holder.stdin.closed:
            self.holder.stdin.close()
        try:
            return self.holder.wait(timeout=grace)
        except runner.TimeoutExpired:
            self.holder.kill()
            return self.holder.wait(timeout=grace)


def open_namespace(*, timeout: float = 10.0, lifetime: float = 3600.0) -> Namespace:
    """Start a :class:`Namespace` holder and wait until its ``lo`` is up.

    Raises :class:`IsolationError` with the reason if this system cannot do it (not Linux, no
    ``unshare`` or ``nsenter``, user namespaces disabled, ...) or the holder is not ready
    within ``timeout`` seconds. The holder ends by itself after ``lifetime`` seconds at most.
    """
    if not sys.platform.startswith("linux"):
        raise IsolationError(f"network namespaces are a Linux feature (this is {sys.platform})")
    for tool in ("unshare", "nsenter"):
        if shutil.which(tool) is None:
            raise IsolationError(f"no {tool!r} program (util-linux) on PATH")
    spec = runner.Spec(
        task="hold-namespace",
        args=[lifetime],
        wrapper=["unshare", "--user", "--map-root-user", "--net", "--"],
        cwd=paths.repo_root(),
    )
    holder = runner.start(spec, stdin=True)
    namespace = Namespace(holder)
    assert holder.stdout is not None and holder.stderr is not None
    ready, _, _ = select.select([holder.stdout], [], [], timeout)
    line = holder.stdout.readline().strip() if ready else ""
    if line != _READY:
        namespace.close(grace=1.0)
        error = holder.stderr.read().strip().splitlines()
        why = error[-1] if error else f"no answer within {timeout:.0f} s"
        raise IsolationError(f"could not create a private network namespace: {why}")
    return namespace


@functools.cache
def isolation_unavailable() -> str | None:
    """``None`` if workers can run in a private loopback-only namespace here, else why not.

    Tried once per process (a holder is started and closed: about 0.1 s), then remembered.
    """
    try:
        namespace = open_namespace()
    except IsolationError as error:
        return str(error)
    namespace.close()
    return None


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
    process: runner.Child
    log: Path
    address: str  # host:port from the cluster spec
    namespace: Namespace | None = None  # the private network namespace it runs in, if any
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
    module: str | None = None,
    namespace: Namespace | None = None,
) -> Worker:
    """Start worker ``index`` of ``cluster`` with its ``TF_CONFIG``: the kit's worker task with
    ``ARGS`` (:mod:`helpers.kit.distributed_worker`), or ``python -m <module> ARGS``.

    Its standard output and error go to ``log``; it runs from the kit's top folder (where the
    package is); inside ``namespace`` if given.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    spec = runner.Spec(
        task=WORKER_TASK if module is None else None,
        module=module,
        args=args,
        env={
            "TF_CONFIG": tf_config(cluster, index),
            "PYTHONUNBUFFERED": os.environ.get("PYTHONUNBUFFERED", "1"),
        },
        cwd=paths.repo_root(),
        wrapper=namespace.command([]) if namespace else (),
    )
    process = runner.start(spec, log=log)
    return Worker(index, process, log, cluster["worker"][index], namespace)


def stop(worker: Worker, *, grace: float = 5.0, hard: bool = False) -> int:
    """Stop ``worker`` (SIGKILL if ``hard``, else SIGTERM then SIGKILL after ``grace`` s).

    Returns its exit code (negative: the number of the signal that ended it).
    """
    if hard:
        worker.process.kill()  # nothing if it has already ended
        return worker.process.wait(timeout=grace)
    return worker.process.stop(grace)


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
        except runner.TimeoutExpired:
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
    module: str | None = None,
    isolate: bool | None = None,
) -> Iterator[list[Worker]]:
    """Start ``count`` workers on fresh loopback ports; kill any still running on exit.

    With ``isolate`` (default: wherever :func:`isolation_unavailable` finds no obstacle) all
    workers share one new private :class:`Namespace`; ``isolate=True`` raises
    :class:`IsolationError` where that is impossible. Logs go to ``log_dir/<name>_worker<i>.log``.
    The ``finally`` clause makes sure no process outlives the block (workers and the namespace's
    holder), whether it ends normally, by an exception or by an interrupt.
    """
    if isolate is None:
        isolate = isolation_unavailable() is None
    cluster = cluster_spec(free_ports(count))
    workers: list[Worker] = []
    namespace = open_namespace() if isolate else None
    try:
        for index in range(count):
            log = Path(log_dir) / f"{name}_worker{index}.log"
            workers.append(
                start_worker(index, cluster, args, log, module=module, namespace=namespace)
            )
        yield workers
    finally:
        for worker in workers:
            if worker.running():
                stop(worker, hard=True)
        if namespace is not None:
            namespace.close()


def listening_addresses(pid: int) -> list[str] | None:
    """The ``host:port`` TCP addresses process ``pid`` listens on, sorted.

    Read from Linux's ``/proc`` (the tables of ``pid``'s own network namespace); ``None``
    where that is not available (macOS, Windows).
    """
    if not Path("/proc/self/net/tcp").exists():
        return None
    try:
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    except OSError:  # the process has gone
        return []
    return sorted(address for address, inode in _listeners(pid) if inode in inodes)


def namespace_listeners(pid: int) -> list[str] | None:
    """Every ``host:port`` any process listens on in ``pid``'s network namespace, sorted.

    ``namespace_listeners(os.getpid())``: what listens in this process's namespace. ``None``
    where ``/proc`` is not available.
    """
    if not Path("/proc/self/net/tcp").exists():
        return None
    return sorted(address for address, _ in _listeners(pid))


def _listeners(pid: int) -> list[tuple[str, str]]:
    """``(host:port, socket inode)`` of every listening TCP socket in ``pid``'s namespace."""
    found = []
    for table, width in (("tcp", 8), ("tcp6", 32)):
        with (
            contextlib.suppress(OSError),
            open(f"/proc/{pid}/net/{table}", encoding="ascii") as rows,
        ):
            next(rows)
            for row in rows:
                fields = row.split()
                if fields[3] == "0A":  # 0A: LISTEN
                    found.append((_decode_address(fields[1], width), fields[9]))
    return found


def net_namespace(pid: int) -> str | None:
    """The identity of process ``pid``'s network namespace (``net:[4026531840]``), or None."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def interfaces(pid: int) -> list[str] | None:
    """The network interfaces in process ``pid``'s namespace, sorted; ``None`` without /proc."""
    try:
        rows = Path(f"/proc/{pid}/net/dev").read_text(encoding="ascii").splitlines()[2:]
    except OSError:
        return None
    return sorted(row.split(":", 1)[0].strip() for row in rows)


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
    "IsolationError",
    "Namespace",
    "Worker",
    "WorkerError",
    "alive",
    "cluster_spec",
    "free_ports",
    "interfaces",
    "is_loopback",
    "isolation_unavailable",
    "listening_addresses",
    "loopback_up",
    "namespace_listeners",
    "net_namespace",
    "open_namespace",
    "run_cluster",
    "start_worker",
    "stop",
    "tf_config",
    "wait_all",
    "wait_until",
]
