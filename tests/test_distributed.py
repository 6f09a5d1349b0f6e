"""helpers.distributed (launcher) and helpers.distributed_worker (its pure pieces)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import distributed
from helpers.errors import ArtifactError

# A stand-in worker module: no TensorFlow, so these tests take well under a second each.
FAKE_WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    print(f"worker {task['index']}: up", flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    mode = sys.argv[1]
    if mode == "sleep":
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


def test_alive() -> None:
    assert distributed.alive(os.getpid())
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    assert not distributed.alive(process.pid)


# The worker module imports Keras (a few seconds): its pure helpers, tested once loaded.
worker = pytest.importorskip("helpers.distributed_worker")


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
    scratch = worker.temp_dir(tmp_path, 1)
    assert real == {"backup": tmp_path / "backup", "model": tmp_path / "model.keras"}
    assert scratch.parent == tmp_path and scratch not in real.values()
    assert worker.temp_dir(tmp_path, 2) != scratch


def test_worker_refuses_to_run_without_tf_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(RuntimeError, match="TF_CONFIG is not set"):
        worker.main(["--job-dir", "unused"])
