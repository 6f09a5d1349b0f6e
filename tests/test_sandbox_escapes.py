"""Escape suite for ``helpers.kit.sandbox``: payloads written to break out, as root and as nobody.

Every payload first leaves ``ran.txt`` in its scratch folder (so a payload that never ran cannot
pass), then tries its escapes. Whether anything escaped is judged *outside* the sandbox: marker
files in a world-writable folder, a file in the host's ``/dev/shm``, a TCP listener on the host's
loopback, a sentinel process that must stay alive and untraced, a secret in a readable home
folder that must not show up in anything the sandbox returns or leaves behind. Each payload
also records what each attempt got (``attempts.json``), and the suite checks the kernel said no.

No payload targets an address outside the loopback range.

Run as ``python tests/test_sandbox_escapes.py BASE`` (as the unprivileged user, by the test
itself) it loads the payloads built under BASE in the sandbox and prints their runs as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

from helpers.kit import sandbox

SECRET = b"HOME_SECRET=not-a-real-key-5f0e1d"
WIDTH = 4
INPUTS = np.ones((2, WIDTH), np.float32)
LIMITS = {"memory_mb": 4096, "cpu_seconds": 60, "file_mb": 16, "processes": 96}

# Python payload (a Lambda loaded with safe_mode=False), run after lines setting OUT, HOME, PORT,
# SENTINELS, HOST_PID and MB; every attempt is recorded, none stops the others.
PYTHON_PAYLOAD = r"""
import ctypes, glob, json, os, signal, socket, time
open("ran.txt", "w").write("ran")
R, LOOT = {}, []
libc = ctypes.CDLL(None, use_errno=True)
def check(result):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return "ok"
def attempt(name, fn):
    try:
        R[name] = "succeeded: " + str(fn())[:200]
    except BaseException as error:
        R[name] = "failed: " + type(error).__name__ + ": " + str(error)[:200]
def write(path):
    with open(path, "w") as f:
        f.write("escaped")
    return path
def read(path):
    with open(path, "rb") as f:
        LOOT.append(f.read())
    return path
pids = sorted({"1", "self", str(os.getppid()), str(HOST_PID)} | {str(p) for p in SENTINELS}
              | {p for p in os.listdir("/proc") if p.isdigit()})
REMOUNT = 0x20 | 0x1000  # MS_REMOUNT | MS_BIND, without MS_RDONLY
attempt("remount / read-write", lambda: check(libc.mount(None, b"/", None, REMOUNT, None)))
attempt("remount /usr read-write", lambda: check(libc.mount(None, b"/usr", None, REMOUNT, None)))
attempt("write the host folder after remounting", lambda: write(OUT + "/remount.txt"))
attempt("mount a tmpfs", lambda: check(libc.mount(b"tmpfs", b"/sandbox", b"tmpfs", 0, None)))
attempt("mount a proc", lambda: check(libc.mount(b"proc", b"/sandbox/scratch", b"proc", 0, None)))
attempt("umount the read-only /usr", lambda: check(libc.umount2(b"/usr", 2)))
attempt("umount /", lambda: check(libc.umount2(b"/", 2)))
attempt("new user namespace", lambda: check(libc.unshare(0x10000000)))
attempt("new mount namespace", lambda: check(libc.unshare(0x00020000)))
for path in sorted(glob.glob("/proc/*/ns/*")):
    def enter(path=path):
        fd = os.open(path, os.O_RDONLY)
        return check(libc.setns(fd, 0))
    attempt("setns " + path, enter)
for pid in pids:
    root = "/proc/" + pid + "/root"
    attempt("write " + root, lambda root=root: write(root + OUT + "/proc_root.txt"))
    attempt("read " + root, lambda root=root: read(root + HOME + "/secret.txt"))
    attempt("read /proc/" + pid + "/cwd", lambda pid=pid: os.listdir("/proc/" + pid + "/cwd"))
SHM = "/dev/shm/" + os.path.basename(os.path.dirname(OUT)) + "-shm.txt"
attempt("write /dev/shm", lambda: write(SHM))
attempt("write the host folder", lambda: write(OUT + "/direct.txt"))
for path in (HOME + "/secret.txt", os.path.expanduser("~/secret.txt"), "/root/secret.txt",
             "../../../" + HOME + "/secret.txt", "/proc/1/cwd/../../.." + HOME + "/secret.txt"):
    attempt("read " + path, lambda path=path: read(path))
for folder in (HOME, "/root", "/home", "/tmp", "/etc", os.path.dirname(HOME)):
    attempt("list " + folder, lambda folder=folder: os.listdir(folder))
for top, folders, files in os.walk("/"):
    folders[:] = [f for f in folders if os.path.join(top, f) not in SKIP]
    for name in files:
        if "secret" in name:
            found = os.path.join(top, name)
            attempt("read found " + found, lambda found=found: read(found))
for pid in SENTINELS:
    attempt("signal sentinel " + str(pid), lambda pid=pid: os.kill(pid, signal.SIGKILL))
    attempt("ptrace sentinel " + str(pid), lambda pid=pid: check(libc.ptrace(16, pid, None, None)))
attempt("signal the host test process", lambda: os.kill(HOST_PID, 0))
attempt("ptrace pid 1", lambda: check(libc.ptrace(16, 1, None, None)))
attempt("connect to the host's loopback", lambda: socket.create_connection(("127.0.0.1", PORT), 2))
attempt("connect to ::1", lambda: socket.create_connection(("::1", PORT), 2))
attempt("allocate past the limit", lambda: len(bytearray((MB + 1024) << 20)))
def big():
    with open("big.bin", "wb") as f:
        for _ in range(64):
            f.write(b"x" * (1 << 20))
attempt("write past the file limit", big)
def bomb():
    count = 0
    try:
        for _ in range(4096):
            if os.fork() == 0:
                time.sleep(5)
                os._exit(0)
            count += 1
    finally:
        R["forks"] = count
attempt("fork without limit", bomb)
open("loot.bin", "wb").write(b"".join(LOOT))
open("attempts.json", "w").write(json.dumps(R, indent=1))
"""

# Pure-graph SavedModels: no Python at all, TensorFlow ops run by tf.saved_model.load itself
# (a resource initializer). One attempt each: a failing op stops the load.
GRAPH_PAYLOADS = {
    "graph: write the host folder": "write:{OUT}/graph_direct.txt",
    "graph: write /proc/1/root": "write:/proc/1/root{OUT}/graph_proc1.txt",
    "graph: write /dev/shm": "write:/dev/shm/{NAME}-graph-shm.txt",
    "graph: read the home folder (every path)": "read",
    "graph: allocate past the limit": "allocate",
}


class Listener:
    """A TCP listener on the host's loopback that counts every connection it accepts."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self.server.close()


def graph_payload(folder: Path, kind: str, home: str) -> None:
    """A SavedModel whose resource initializer (run by the load itself) makes one attempt."""
    import tensorflow as tf

    class Payload(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.VarHandleOp(dtype=tf.int64, shape=[], shared_name="")

        def _initialize(self):
            ran = tf.io.write_file("ran.txt", "ran")
            with tf.control_dependencies([ran]):
                if kind.startswith("write:"):
                    acted = tf.io.write_file(kind[len("write:") :], "escaped")
                elif kind == "read":
                    seen = tf.io.matching_files(
                        [f"{home}/*", f"/proc/*/root{home}/*", "/proc/*/cwd/*", "/root/*",
                         "/home/*/*", "/tmp/*", f"{os.path.dirname(home)}/*/*", "/*"]
                    )  # fmt: skip
                    listed = tf.io.write_file(
                        "listing.txt", tf.strings.reduce_join(seen, separator="\n")
                    )
                    with tf.control_dependencies([listed]):
                        files = tf.io.matching_files(
                            [
                                f"{home}/secret.txt",
                                f"{home}/.ssh/*",
                                f"/proc/*/root{home}/secret.txt",
                            ]
                        )
                        contents = tf.map_fn(tf.io.read_file, files, fn_output_signature=tf.string)
                        acted = tf.io.write_file("loot.bin", tf.strings.reduce_join(contents))
                else:
                    size = (LIMITS["memory_mb"] + 1024) << 18  # float32: 1 GiB over the limit
                    acted = tf.reduce_max(tf.random.uniform([size]))
            with tf.control_dependencies([acted]):
                return tf.raw_ops.AssignVariableOp(
                    resource=self.resource_handle, value=tf.constant(1, tf.int64)
                )

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.payload = Payload()

        @tf.function(input_signature=[tf.TensorSpec([None, WIDTH], tf.float32, name="x")])
        def serve(self, x):
            return {"y": x * 2.0}

    model = Model()
    tf.saved_model.save(model, str(folder), signatures={"serving_default": model.serve})


def build(base: Path, sentinels: list[int], port: int) -> dict[str, tuple[Path, bool]]:
    """The payloads under ``base/models``: name -> (path, safe_mode)."""
    import keras

    home, out = str(base / "home"), str(base / "out")
    models = base / "models"
    models.mkdir()
    settings = dict(
        OUT=out, HOME=home, PORT=port, SENTINELS=sentinels, HOST_PID=os.getpid(),
        MB=LIMITS["memory_mb"], SKIP=["/proc", "/usr", "/lib", sys.prefix, sys.base_prefix],
    )  # fmt: skip
    source = "".join(f"{k} = {v!r}\n" for k, v in settings.items()) + PYTHON_PAYLOAD
    compile(source, "payload", "exec")  # a typo would make every attempt "contained"
    function = eval(f"lambda x: (exec({source!r}, {{}}), x)[1]")
    inputs = keras.Input(shape=(WIDTH,), name="features")
    layer = keras.layers.Lambda(function, output_shape=(WIDTH,), name="escape")
    payloads = {"python (Lambda, safe_mode=False)": (models / "python.keras", False)}
    keras.Model(inputs, layer(inputs)).save(payloads["python (Lambda, safe_mode=False)"][0])
    for index, (name, kind) in enumerate(GRAPH_PAYLOADS.items()):
        folder = models / f"graph{index}"
        graph_payload(folder, kind.format(OUT=out, NAME=base.name), home)
        payloads[name] = (folder, True)
    return payloads


def world(base: Path) -> None:
    """A home folder with a secret and a target folder, both reachable by any user outside."""
    base.chmod(0o755)
    (base / "home" / ".ssh").mkdir(parents=True)
    (base / "home" / "secret.txt").write_bytes(SECRET)
    (base / "home" / ".ssh" / "id_secret").write_bytes(SECRET)
    (base / "out").mkdir()
    (base / "out").chmod(0o777)  # an escaped write, even as nobody, would land here


def run_all(base: Path) -> dict[str, dict]:
    """Run every payload under ``base`` in the sandbox; what each run returned, as JSON data."""
    payloads = json.loads((base / "payloads.json").read_text())
    runs = {}
    for name, (path, safe_mode) in payloads.items():
        run = sandbox.load_in_sandbox(
            path, INPUTS, workdir=base / "work", safe_mode=safe_mode, **LIMITS
        )
        files = {
            n: (run.scratch / n).read_bytes()
            for n in run.written
            if (run.scratch / n).is_file() and not (run.scratch / n).is_symlink()
        }
        runs[name] = {
            "error": run.error,
            "written": run.written,
            "attempts": json.loads(files.get("attempts.json", b"{}") or b"{}"),
            "secret_in_scratch": any(SECRET in content for content in files.values()),
            "secret_in_outputs": any(
                SECRET in np.asarray(a).tobytes() for a in (run.outputs or {}).values()
            ),
            "big_bin": len(files.get("big.bin", b"")),
            "listing": files.get("listing.txt", b"").decode(errors="replace"),
        }
    return runs


def judge(base: Path, runs: dict[str, dict], listener: Listener, sentinels: list) -> dict[str, str]:
    """Judge every run from outside; fail naming the first escape; a verdict per payload."""
    escaped = sorted(p.name for p in (base / "out").iterdir())
    assert not escaped, f"files written outside the sandbox: {escaped}"
    shm = sorted(p.name for p in Path("/dev/shm").glob(f"{base.name}*"))
    assert not shm, f"files written in the host's /dev/shm: {shm}"
    assert listener.connections == 0, "a payload reached the listener on the host's loopback"
    for sentinel in sentinels:
        assert sentinel.poll() is None, "a payload killed a sentinel process"
        status = Path(f"/proc/{sentinel.pid}/status").read_text()
        assert status.split("TracerPid:")[1].split()[0] == "0", "a payload traced a sentinel"
    verdicts = {}
    for name, run in runs.items():
        assert "ran.txt" in run["written"], f"{name}: never ran ({run['error']})"
        assert not run["secret_in_scratch"], f"{name}: the secret is in its scratch folder"
        assert not run["secret_in_outputs"], f"{name}: the secret is in its outputs"
        assert run["big_bin"] <= LIMITS["file_mb"] << 20, f"{name}: wrote {run['big_bin']} bytes"
        assert str(base) not in run["listing"], f"{name}: saw {run['listing']}"
        if name == "graph: allocate past the limit":
            assert run["error"], f"{name}: allocated {LIMITS['memory_mb'] + 1024} MiB"
        attempts = run["attempts"]
        for attempt, outcome in attempts.items():
            if attempt == "forks" or may_succeed(attempt):
                continue
            assert outcome.startswith("failed"), f"{name}: {attempt}: {outcome}"
        if attempts:
            assert attempts["forks"] < LIMITS["processes"], f"{name}: {attempts['forks']} forks"
            verdicts[name] = f"{len(attempts) - 1} attempts, all refused; {attempts['forks']} forks"
        else:
            verdicts[name] = (run["error"] or "no error").split(" <- ")[0][:90]
    return verdicts


def may_succeed(attempt: str) -> bool:
    """Attempts allowed to succeed inside: the sandbox's own /proc entries and private
    /dev/shm, listing what the allowlist shows (the Python installation, the kit, /usr), and
    reading files found by name. The checks outside (markers, host /dev/shm, secret) judge
    those."""
    if attempt in ("forks", "read /proc/1/cwd", "read /proc/self/cwd", "write /dev/shm"):
        return True
    shown = [sys.prefix, sys.base_prefix, str(Path(sandbox.__file__).parent), "/usr", "/sandbox"]
    if attempt.startswith("read found "):
        return True
    for verb in ("list ",):
        if attempt.startswith(verb):
            path = attempt[len(verb) :].rstrip("/")
            return any(
                v == path or v.startswith(path + "/") or path.startswith(v + "/") for v in shown
            )
    return False


needs_sandbox = pytest.mark.skipif(
    sandbox.sandbox_unavailable() is not None, reason=f"{sandbox.sandbox_unavailable()}"
)


@pytest.fixture(scope="module")
def suite():
    """Payloads, a listener on the host's loopback, and sentinels owned by root and nobody."""
    base = Path(tempfile.mkdtemp(prefix="escape-"))
    listener = Listener()
    sentinels = [subprocess.Popen(["sleep", "900"])]
    if os.geteuid() == 0:
        sentinels.append(subprocess.Popen(["sleep", "900"], user=sandbox.NOBODY))
    try:
        world(base)
        payloads = build(base, [s.pid for s in sentinels], listener.port)
        (base / "payloads.json").write_text(
            json.dumps({k: [str(p), m] for k, (p, m) in payloads.items()})
        )
        (base / "work").mkdir(mode=0o777)
        (base / "work").chmod(0o777)
        for folder, _, files in os.walk(base / "models"):
            Path(folder).chmod(0o755)
            for name in files:
                (Path(folder) / name).chmod(0o644)
        yield base, listener, sentinels
    finally:
        for sentinel in sentinels:
            sentinel.kill()
            sentinel.wait()
        listener.close()
        shutil.rmtree(base, ignore_errors=True)


def unprivileged(base: Path) -> list[str]:
    """A command that runs this file's payloads as nobody: where the Python installation is
    under a folder nobody cannot enter (/root), a private mount namespace puts an open tmpfs
    there with only the installation bound back; nothing on the machine changes."""
    needed = [
        Path(p).resolve() for p in (sys.prefix, sys.base_prefix, Path(__file__).parent.parent)
    ]
    script, blocked = ["set -e"], {}
    for path in needed:
        for folder in [*reversed(path.parents), path]:
            if not folder.stat().st_mode & 0o001:
                blocked.setdefault(folder, set()).add(path)
                break
    for index, (folder, inside) in enumerate(sorted(blocked.items())):
        stage = base / f"stage{index}"
        stage.mkdir()
        script += [f"mount --bind {folder} {stage}", f"mount -t tmpfs -o mode=755 tmpfs {folder}"]
        for path in sorted(inside):
            script += [
                f"mkdir -p {path}",
                f"mount --rbind {stage / path.relative_to(folder)} {path}",
            ]
    drop = f"setpriv --reuid={sandbox.NOBODY} --regid={sandbox.NOBODY} --clear-groups"
    drop += " --inh-caps=-all --bounding-set=-all"
    env = f"env HOME={base / 'home'} PATH=/usr/bin:/bin"
    script.append(f"exec {drop} {env} {sys.executable} {Path(__file__).resolve()} {base}")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script)]


@needs_sandbox
def test_escapes_are_contained_for_the_current_user(suite, monkeypatch):
    base, listener, sentinels = suite
    monkeypatch.setenv("HOME", str(base / "home"))
    verdicts = judge(base, run_all(base), listener, sentinels)
    assert len(verdicts) == 1 + len(GRAPH_PAYLOADS)


@needs_sandbox
@pytest.mark.skipif(os.geteuid() != 0, reason="already unprivileged: the test above is that run")
def test_escapes_are_contained_for_an_unprivileged_user(suite):
    base, listener, sentinels = suite
    done = subprocess.run(
        unprivileged(base), capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    verdicts = judge(base, runs, listener, sentinels)
    assert len(verdicts) == 1 + len(GRAPH_PAYLOADS)


def test_the_judge_sees_what_an_unconfined_payload_does(suite, tmp_path, monkeypatch):
    """The same payloads, not contained, leave the evidence the judge looks for."""
    import tensorflow as tf

    base, listener, sentinels = suite
    monkeypatch.chdir(tmp_path)  # the payload also drops ran.txt in its working folder
    payloads = json.loads((base / "payloads.json").read_text())
    runs = {
        "none": {
            "written": ["ran.txt"],
            "attempts": {},
            "error": None,
            "big_bin": 0,
            "secret_in_scratch": False,
            "secret_in_outputs": False,
            "listing": "",
        }
    }
    try:
        tf.saved_model.load(payloads["graph: write the host folder"][0])  # no sandbox
        with pytest.raises(AssertionError, match="files written outside the sandbox"):
            judge(base, runs, listener, sentinels)
    finally:
        for marker in (base / "out").iterdir():
            marker.unlink()
    socket.create_connection(("127.0.0.1", listener.port), 2).close()
    try:
        deadline = 0
        while listener.connections == 0 and deadline < 100:
            threading.Event().wait(0.05)
            deadline += 1
        with pytest.raises(AssertionError, match="reached the listener"):
            judge(base, runs, listener, sentinels)
    finally:
        listener.connections = 0


def test_ci_has_a_sandbox():
    """In CI the escape suite must run, not skip: a machine without the sandbox fails here."""
    if not os.environ.get("CI"):
        pytest.skip("not CI: a machine without user namespaces may skip the suite")
    assert sandbox.sandbox_unavailable() is None, sandbox.sandbox_unavailable()


if __name__ == "__main__":
    assert os.geteuid() != 0 or "--as-root" in sys.argv, "run as the unprivileged user"
    print(json.dumps(run_all(Path(sys.argv[1]))))
