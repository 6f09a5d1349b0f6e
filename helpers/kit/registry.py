"""Plumbing for notebook 13 (MLflow registry and model server): ports, child servers, HTTP, files.

Nothing here calls MLflow: the notebook makes every MLflow call in its own cells. These helpers
start and stop a server process, wait until it answers, post JSON to it, and list what a run
wrote (database tables, files), with errors that name the path or URL and the problem.

Serves notebooks 03 and 13.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from helpers.errors import ArtifactError, ArtifactNotFoundError
from helpers.kit import runner

LOOPBACK = "127.0.0.1"


class ServerError(RuntimeError):
    """A child server that exited or did not answer; the message names its log file."""


def free_port() -> int:
    """A TCP port that is free on the loopback interface right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def start(
    command: Sequence[str], log: str | os.PathLike[str], env: Mapping[str, str]
) -> runner.Child:
    """Start ``command`` in its own process group, its stdout and stderr going to ``log``.

    ``env`` is its whole environment (with TensorFlow's log variables, :mod:`helpers.kit.runner`).
    """
    spec = runner.Spec(command=list(command), env=dict(env), inherit_env=False)
    return runner.start(spec, log=log, own_group=True)


def _tail(log: str | os.PathLike[str], lines: int = 15) -> str:
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until_ready(
    url: str, process: Any, log: str | os.PathLike[str], timeout: float = 240
) -> float:
    """Poll ``url`` until it answers 200; return the seconds waited.

    Raises :class:`ServerError` naming ``url`` and the log when the process exits first or the
    timeout passes (generous: a busy 2-core machine takes tens of seconds to import TensorFlow).
    """
    start_time = time.monotonic()
    while True:
        if process.poll() is not None:
            raise ServerError(
                f"{url}: the server exited with code {process.returncode} before answering; "
                f"its log {Path(log).name} ends with:\n{_tail(log)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return time.monotonic() - start_time
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() - start_time > timeout:
            raise ServerError(
                f"{url}: no answer within {timeout:.0f} s; its log {Path(log).name} ends "
                f"with:\n{_tail(log)}"
            )
        time.sleep(0.5)


def stop(process: runner.Child, timeout: float = 30) -> int:
    """Stop a process started by :func:`start` and every process of its group; its exit code.

    SIGTERM to the group, then SIGKILL to what is left after ``timeout``. Returns only when no
    process of the group is left: a server's worker (uvicorn under ``mlflow models serve``) can
    outlive its parent by a moment and keep answering.
    """
    try:
        return process.stop(grace=timeout)
    except runner.ChildFailed as error:
        raise ServerError(f"process group {process.pid} did not end after SIGKILL") from error


def post_json(url: str, body: Any, timeout: float = 120) -> tuple[int, Any]:
    """POST ``body`` as JSON; return (HTTP status, decoded JSON answer), errors included."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except json.JSONDecodeError:
            return error.code, text.decode(errors="replace")


def table_names(database: str | os.PathLike[str]) -> list[str]:
    """The tables of an SQLite database file, sorted; opened read-only."""
    path = Path(database)
    if not path.is_file():
        raise ArtifactNotFoundError(path, "no such database file")
    try:
        with sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True) as connection:
            rows = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            ).fetchall()
    except sqlite3.DatabaseError as error:
        raise ArtifactError(path, f"not an SQLite database ({error})") from None
    return [name for (name,) in rows]


def query(database: str | os.PathLike[str], sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of a read-only ``sql`` query on an SQLite database file."""
    path = Path(database)
    if not path.is_file():
        raise ArtifactNotFoundError(path, "no such database file")
    with sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True) as connection:
        return connection.execute(sql, args).fetchall()


def files_under(folder: str | os.PathLike[str]) -> list[str]:
    """Every file under ``folder``, as sorted relative POSIX paths."""
    base = Path(folder)
    if not base.is_dir():
        raise ArtifactNotFoundError(base, "no such folder")
    return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
