"""helpers.kit.registry: notebook 13's plumbing (ports, child servers, HTTP, tables, files)."""

from __future__ import annotations

import http.server
import json
import os
import socket
import sqlite3
import sys
import threading
import time

import pytest

from helpers.errors import ArtifactError, ArtifactNotFoundError
from helpers.kit import registry


def test_free_port_is_free_on_loopback():
    port = registry.free_port()
    with socket.socket() as again:
        again.bind((registry.LOOPBACK, port))  # raises if something holds it


def test_a_child_server_is_waited_for_and_stopped(tmp_path):
    port = registry.free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    server = registry.start(command, log, {"PATH": "/usr/bin:/bin"})
    try:
        waited = registry.wait_until_ready(f"http://127.0.0.1:{port}/", server, log, timeout=60)
        assert waited >= 0
    finally:
        code = registry.stop(server)
    assert server.poll() is not None and code != 0  # ended by SIGTERM
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_a_server_that_exits_is_reported_with_its_log(tmp_path):
    log = tmp_path / "crash.log"
    command = [sys.executable, "-c", "import sys; print('uvicorn: not found'); sys.exit(127)"]
    process = registry.start(command, log, {})
    with pytest.raises(registry.ServerError, match=r"exited with code 127.*crash\.log") as error:
        registry.wait_until_ready(f"http://127.0.0.1:{registry.free_port()}/", process, log)
    assert "uvicorn: not found" in str(error.value)


def test_a_server_that_never_answers_times_out(tmp_path):
    log = tmp_path / "silent.log"
    process = registry.start([sys.executable, "-c", "import time; time.sleep(60)"], log, {})
    try:
        url = f"http://127.0.0.1:{registry.free_port()}/ping"
        with pytest.raises(registry.ServerError, match=r"/ping: no answer within 1 s"):
            registry.wait_until_ready(url, process, log, timeout=1)
    finally:
        registry.stop(process)


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # the name http.server calls
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = 400 if "bad" in body else 200
        data = b"not json" if "text" in body else json.dumps({"echo": body}).encode()
        self.send_response(status)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # no lines on stderr
        pass


@pytest.fixture
def echo_url():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_post_json_returns_status_and_body_errors_included(echo_url):
    assert registry.post_json(echo_url, {"a": [1.5]}) == (200, {"echo": {"a": [1.5]}})
    assert registry.post_json(echo_url, {"bad": 1}) == (400, {"echo": {"bad": 1}})
    assert registry.post_json(echo_url, {"bad": 1, "text": 1}) == (400, "not json")


def test_tables_and_queries_of_an_sqlite_file(tmp_path):
    database = tmp_path / "x.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE b (v INTEGER)")
        connection.execute("CREATE TABLE a (v INTEGER)")
        connection.execute("INSERT INTO a VALUES (7)")
    assert registry.table_names(database) == ["a", "b"]
    assert registry.query(database, "SELECT v FROM a WHERE v = ?", 7) == [(7,)]
    with pytest.raises(sqlite3.OperationalError):  # opened read-only
        registry.query(database, "INSERT INTO a VALUES (8)")


def test_bad_database_paths_are_named(tmp_path):
    with pytest.raises(ArtifactNotFoundError, match=r"missing\.db: no such database file"):
        registry.table_names(tmp_path / "missing.db")
    with pytest.raises(ArtifactNotFoundError, match=r"missing\.db: no such database file"):
        registry.query(tmp_path / "missing.db", "SELECT 1")
    (tmp_path / "text.db").write_text("hello, this is not a database at all" * 10)
    with pytest.raises(ArtifactError, match=r"text\.db: not an SQLite database"):
        registry.table_names(tmp_path / "text.db")


def test_files_under_lists_relative_paths(tmp_path):
    (tmp_path / "model" / "data").mkdir(parents=True)
    (tmp_path / "model" / "MLmodel").write_text("x")
    (tmp_path / "model" / "data" / "model.keras").write_text("x")
    assert registry.files_under(tmp_path) == ["model/MLmodel", "model/data/model.keras"]
    with pytest.raises(ArtifactNotFoundError, match="nope: no such folder"):
        registry.files_under(tmp_path / "nope")


def test_stop_waits_for_every_process_of_the_group(tmp_path):
    """A child that outlives its parent (as uvicorn outlives `mlflow models serve`)."""
    marker = tmp_path / "child.pid"
    script = (
        "import os, signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, lambda *a: time.sleep(2) or exit(0));"
        " [time.sleep(0.1) for _ in range(600)]'])\n"
        f"open({str(marker)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    process = registry.start([sys.executable, "-c", script], tmp_path / "log", {})
    while not marker.exists() or not marker.read_text():
        time.sleep(0.1)
    child = int(marker.read_text())
    registry.stop(process)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # gone (not merely signalled) when stop returns
