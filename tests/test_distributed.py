"""helpers.kit.distributed (launcher) and helpers.kit.distributed_worker (its pure pieces)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from helpers.errors import ArtifactError
from helpers.kit import distributed

# A stand-in worker module: no TensorFlow, so these tests take well under a second each.
FAKE_WORKER = textwrap.dedent(
    """
    import json, os, pathlib, socket, sys, time
    config = json.loads(os.environ["TF_CONFIG"])
    task = config["task"]
    print(f"worker {task['index']}: up", flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    mode = sys.argv[1]
    if mode == "sleep":
        time.sleep(60)
    if mode == "listen":  # like TensorFlow's server: its TF_CONFIG port, on every interface
        port = int(config["cluster"]["worker"][task["index"]].rsplit(":", 1)[1])
        server = socket.socket()
        server.bind(("0.0.0.0", port))
        server.listen()
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # lo is up
        ready = pathlib.Path(sys.argv[2], f"ready{task['index']}")  # a shared folder
        try:
            ready.write_text(os.readlink("/proc/self/ns/net"))
        except OSError:  # no /proc (macOS)
            ready.write_text("")
        time.sleep(60)
    sys.exit(int(mode) if mode.isdigit() else 0)
    """
)


@pytest.fixture
def fake_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "fake_worker_08.py").write_text(FAKE_WORKER)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return "fake_worker_08"


def test_free_ports_are_distinct_and_bindable_on_loopback() -> None:
    ports = distributed.free_ports(3)
    assert len(set(ports)) == 3
    for port in ports:
        with socket.socket() as sock:
            sock.bind((distributed.LOOPBACK, port))


def test_free_ports_rejects_a_bad_count() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        distributed.free_ports(0)


def test_cluster_spec_and_tf_config() -> None:
    cluster = distributed.cluster_spec([2222, 2223])
    assert cluster == {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}
    config = json.loads(distributed.tf_config(cluster, 1))
    assert config == {"cluster": cluster, "task": {"type": "worker", "index": 1}}


@pytest.mark.parametrize("ports", [[], [2222, 2222]])
def test_cluster_spec_rejects_empty_or_repeated_ports(ports: list[int]) -> None:
    with pytest.raises(ValueError):
        distributed.cluster_spec(ports)


@pytest.mark.parametrize(("index", "task_type"), [(2, "worker"), (-1, "worker"), (0, "chief")])
def test_tf_config_rejects_a_task_not_in_the_cluster(index: int, task_type: str) -> None:
    with pytest.raises(ValueError, match="no task"):
        distributed.tf_config({"worker": ["a:1", "b:2"]}, index, task_type)


def test_worker_runs_with_its_tf_config_and_logs_both_streams(
    fake_module: str, tmp_path: Path
) -> None:
    with distributed.run_cluster(2, ["0"], tmp_path / "logs", module=fake_module) as workers:
        codes = distributed.wait_all(workers, timeout=30)
    assert codes == {0: 0, 1: 0}
    assert workers[1].address.startswith("127.0.0.1:")
    assert workers[1].tail() == "worker 1: up\nto stderr"
    assert (tmp_path / "logs" / "run_worker0.log").is_file()


def test_run_cluster_kills_workers_still_running_on_an_error(
    fake_module: str, tmp_path: Path
) -> None:
    with (
        pytest.raises(RuntimeError, match="boom"),
        distributed.run_cluster(2, ["sleep"], tmp_path, module=fake_module) as workers,
    ):
        raise RuntimeError("boom")
    assert all(not w.running() and not distributed.alive(w.pid) for w in workers)
    assert [w.process.returncode for w in workers] == [-9, -9]


def test_wait_all_times_out_naming_the_log(fake_module: str, tmp_path: Path) -> None:
    with (
        distributed.run_cluster(1, ["sleep"], tmp_path, module=fake_module) as workers,
        pytest.raises(distributed.WorkerError, match="still running") as caught,
    ):
        distributed.wait_all(workers, timeout=0.5)
    assert isinstance(caught.value, ArtifactError)
    assert caught.value.path == workers[0].log


def test_wait_until_reports_a_worker_that_exits_first(fake_module: str, tmp_path: Path) -> None:
    with (
        distributed.run_cluster(1, ["3"], tmp_path, module=fake_module) as workers,
        pytest.raises(distributed.WorkerError, match=r"(?s)exited \(code 3\).*worker 0: up"),
    ):
        distributed.wait_until(lambda: False, timeout=30, what="never", workers=workers)


def test_wait_until_times_out_and_returns_when_true() -> None:
    with pytest.raises(distributed.WorkerError, match=r"timed out .* waiting for nothing"):
        distributed.wait_until(lambda: False, timeout=0.2, what="nothing")
    assert distributed.wait_until(lambda: True, timeout=1, what="x") < 1


def test_stop_soft_and_hard(fake_module: str, tmp_path: Path) -> None:
    with distributed.run_cluster(2, ["sleep"], tmp_path, module=fake_module) as workers:
        time.sleep(0.2)
        assert distributed.stop(workers[0]) == -15  # SIGTERM
        assert distributed.stop(workers[1], hard=True) == -9  # SIGKILL
        assert distributed.stop(workers[1]) == -9  # already stopped: just its code


def test_listening_addresses_finds_a_loopback_listener() -> None:
    if distributed.listening_addresses(os.getpid()) is None:
        pytest.skip("needs Linux /proc")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        found = distributed.listening_addresses(os.getpid())
    assert f"127.0.0.1:{port}" in found
    assert all(distributed.is_loopback(address) for address in found)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:80", True),
        ("127.1.2.3:80", True),
        ("::1:80", True),
        ("0.0.0.0:80", False),
        (":::80", False),
        ("10.0.0.5:80", False),
    ],
)
def test_is_loopback(address: str, loopback: bool) -> None:
    assert distributed.is_loopback(address) is loopback


@pytest.mark.parametrize(
    ("raw", "width", "expected"),
    [
        ("0100007F:1F90", 8, "127.0.0.1:8080"),
        ("00000000:0050", 8, "0.0.0.0:80"),
        ("00000000000000000000000000000000:0050", 32, ":::80"),
        ("00000000000000000000000001000000:0050", 32, "::1:80"),
    ],
)
def test_decode_proc_net_address(raw: str, width: int, expected: str) -> None:
    assert distributed._decode_address(raw, width) == expected


def test_namespace_listeners_and_interfaces_of_this_process() -> None:
    if distributed.namespace_listeners(os.getpid()) is None:
        pytest.skip("needs Linux /proc")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        address = f"127.0.0.1:{sock.getsockname()[1]}"
        assert address in distributed.namespace_listeners(os.getpid())
    assert address not in distributed.namespace_listeners(os.getpid())
    assert "lo" in distributed.interfaces(os.getpid())
    assert distributed.net_namespace(os.getpid()).startswith("net:[")
    assert distributed.interfaces(2**22 + 1) is None  # above pid_max: no such process
    assert distributed.net_namespace(2**22 + 1) is None


# --- private network namespaces (Linux: unshare + nsenter) --------------------------------

NO_ISOLATION = distributed.isolation_unavailable()
needs_isolation = pytest.mark.skipif(
    NO_ISOLATION is not None, reason=f"no private network namespaces here: {NO_ISOLATION}"
)


@pytest.fixture
def no_isolation_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend that ``nsenter`` is missing (as on a system without util-linux)."""
    which = distributed.shutil.which
    monkeypatch.setattr(
        distributed.shutil, "which", lambda name: None if name == "nsenter" else which(name)
    )
    distributed.isolation_unavailable.cache_clear()
    yield
    distributed.isolation_unavailable.cache_clear()


@needs_isolation
def test_loopback_up_in_a_fresh_network_namespace() -> None:
    probe = textwrap.dedent(
        """
        import socket
        from helpers.kit import distributed
        def connects():
            with socket.socket() as server:
                server.bind(("127.0.0.1", 0))
                server.listen()
                try:
                    socket.create_connection(server.getsockname(), timeout=2).close()
                except OSError:
                    return False
                return True
        before = connects()
        distributed.loopback_up()
        distributed.loopback_up()  # already up: nothing to do
        print(before, connects(), open("/proc/net/dev").read().count(":"))
        """
    )
    command = ["unshare", "--user", "--map-root-user", "--net", sys.executable, "-c", probe]
    run = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True", "1"]  # down, then up; one interface


@needs_isolation
def test_namespace_has_only_loopback_and_its_holder_ends() -> None:
    namespace = distributed.open_namespace()
    try:
        assert distributed.interfaces(namespace.pid) == ["lo"]
        assert distributed.net_namespace(namespace.pid) != distributed.net_namespace(os.getpid())
        assert namespace.command(["x"])[-2:] == ["--", "x"]
    finally:
        assert namespace.close() == 0  # it ends by itself once its stdin closes
    assert not distributed.alive(namespace.pid)
    short = distributed.open_namespace(lifetime=0.2)
    assert short.holder.wait(timeout=10) == 0  # and after its lifetime, even if nobody closes it


@needs_isolation
def test_isolated_workers_share_one_namespace_and_are_unreachable_from_outside(
    fake_module: str, tmp_path: Path
) -> None:
    with distributed.run_cluster(
        2, ["listen", str(tmp_path)], tmp_path, module=fake_module, isolate=True
    ) as workers:
        distributed.wait_until(
            lambda: all((tmp_path / f"ready{w.index}").exists() for w in workers),
            timeout=30,
            what="both fake workers to listen",
            workers=workers,
        )
        holder = workers[0].namespace
        seen = {(tmp_path / f"ready{w.index}").read_text() for w in workers}
        assert (
            seen
            == {distributed.net_namespace(holder.pid)}
            == {distributed.net_namespace(w.pid) for w in workers}
        )
        assert seen != {distributed.net_namespace(os.getpid())}
        assert distributed.interfaces(workers[1].pid) == ["lo"]
        for w in workers:
            port = w.address.rsplit(":", 1)[1]
            assert distributed.listening_addresses(w.pid) == [f"0.0.0.0:{port}"]
            outside = distributed.namespace_listeners(os.getpid())
            assert not [a for a in outside if a.endswith(f":{port}")]
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", int(port)), timeout=5)
        # nsenter exec'd the worker: the launcher's child is the Python process itself
        assert Path(f"/proc/{workers[0].pid}/exe").resolve() == Path(sys.executable).resolve()
        assert distributed.stop(workers[1], hard=True) == -9
        assert workers[0].running()
    assert workers[0].process.returncode == -9  # killed when the block ended
    assert not distributed.alive(holder.pid) and holder.holder.returncode == 0


def test_isolation_unavailable_names_the_missing_tool(no_isolation_tools: None) -> None:
    assert "no 'nsenter' program" in distributed.isolation_unavailable()
    with pytest.raises(distributed.IsolationError, match="nsenter"):
        distributed.open_namespace()


def test_isolation_unavailable_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed.sys, "platform", "darwin")
    with pytest.raises(distributed.IsolationError, match=r"Linux feature .*darwin"):
        distributed.open_namespace()


def test_open_namespace_reports_why_the_holder_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        pytest.skip("needs Linux with the 'unshare' program")
    monkeypatch.setattr(distributed.sys, "executable", "/nonexistent/python")
    with pytest.raises(distributed.IsolationError, match=r"could not create .*nonexistent"):
        distributed.open_namespace(timeout=10)


def test_without_isolation_workers_run_as_before(
    fake_module: str, tmp_path: Path, no_isolation_tools: None
) -> None:
    with (
        pytest.raises(distributed.IsolationError, match="nsenter"),
        distributed.run_cluster(1, ["0"], tmp_path, module=fake_module, isolate=True),
    ):
        pass
    args = ["listen", str(tmp_path)]
    with distributed.run_cluster(2, args, tmp_path, module=fake_module) as workers:  # auto
        distributed.wait_until(
            lambda: all((tmp_path / f"ready{w.index}").exists() for w in workers),
            timeout=30,
            what="both fake workers to listen",
            workers=workers,
        )
        assert [w.namespace for w in workers] == [None, None]
        ours = distributed.net_namespace(os.getpid())
        if ours is not None:  # Linux: they run in this process's namespace, reachable here
            assert {(tmp_path / f"ready{w.index}").read_text() for w in workers} == {ours}
            port = workers[0].address.rsplit(":", 1)[1]
            assert f"0.0.0.0:{port}" in distributed.namespace_listeners(os.getpid())


def test_alive() -> None:
    assert distributed.alive(os.getpid())
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    assert not distributed.alive(process.pid)


# The worker module imports Keras (a few seconds): its pure helpers, tested once loaded.
worker = pytest.importorskip("helpers.kit.distributed_worker")


def test_parse_result_takes_the_last_result_line() -> None:
    log = 'worker 0: up\nRESULT {"index": 0}\nnoise\nRESULT {"index": 1}\ntrailing'
    assert worker.parse_result(log) == {"index": 1}


def test_parse_result_without_a_result_line() -> None:
    with pytest.raises(ValueError, match="did not finish"):
        worker.parse_result("worker 0: up\nTraceback ...")


def test_weights_digest_tells_weights_apart() -> None:
    weights = [np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros(3, np.float32)]
    same = [w.copy() for w in weights]
    changed = [weights[0], np.array([0, 0, 1e-7], np.float32)]
    assert worker.weights_digest(weights) == worker.weights_digest(same)
    assert worker.weights_digest(weights) != worker.weights_digest(changed)
    assert worker.weights_digest(weights) != worker.weights_digest(weights[::-1])


def test_only_the_chief_writes_the_real_paths(tmp_path: Path) -> None:
    real = worker.chief_paths(tmp_path)
    assert real == {"backup": tmp_path / "backup", "model": tmp_path / "model.keras"}
    for path in real.values():
        assert worker.write_path(path, "worker", 0) == path
        for task_id in (1, 2):
            temporary = worker.write_path(path, "worker", task_id)
            assert temporary == tmp_path / f"tmp_worker{task_id}" / path.name
            assert temporary.parent == worker.temp_dir(tmp_path, "worker", task_id)
    assert worker.temp_dir(tmp_path, "worker", 1) != worker.temp_dir(tmp_path, "worker", 2)


def test_is_chief_agrees_with_tensorflow_without_a_chief_task() -> None:
    from tensorflow.python.distribute import multi_worker_util

    cluster = {"worker": ["a:1", "b:2", "c:3"]}
    for task_id in range(3):
        expected = multi_worker_util.is_chief(cluster, "worker", task_id)
        assert worker.is_chief("worker", task_id) is expected


def test_notebook_08_shows_the_chief_aware_code() -> None:
    from nbsource import assert_same_code

    for function in (worker.is_chief, worker.temp_dir, worker.write_path):
        assert_same_code("08", function)


def test_fit_error_explains_the_known_failure() -> None:
    class PerReplicaFails:
        def fit(self, *args: object, **kwargs: object) -> None:
            raise ValueError("Attempt to convert a value (PerReplica:{ 0: ...}) to a Tensor.")

    class OtherFails:
        def fit(self, *args: object, **kwargs: object) -> None:
            raise TypeError("something else\nsecond line")

    class Trains:
        def fit(self, *args: object, **kwargs: object) -> None:
            return None

    import tensorflow as tf

    dataset = tf.data.Dataset.range(2)
    assert worker.fit_error(PerReplicaFails(), dataset) == worker.FIT_FAILS
    assert "PerReplica:{" not in worker.FIT_FAILS  # a sentence, not a clipped traceback
    assert worker.fit_error(OtherFails(), dataset) == "fails (TypeError): something else"
    assert worker.fit_error(Trains(), dataset) == "works"


def test_worker_refuses_to_run_without_tf_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(RuntimeError, match="TF_CONFIG is not set"):
        worker.main(job_dir=Path("unused"))
