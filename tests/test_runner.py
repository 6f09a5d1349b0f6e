"""helpers.kit.runner (the one child-process runner) and helpers.kit.child (its tasks)."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from helpers.kit import child, runner

ROOT = Path(__file__).resolve().parent.parent


def python(code: str, **options: object) -> runner.Spec:
    return runner.Spec(command=[sys.executable, "-c", code], **options)


def test_run_returns_output_status_and_duration():
    result = runner.run(python("import sys; print('out'); print('err', file=sys.stderr)"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "err\n")
    assert result.ok and not result.timed_out and 0 < result.duration < 60


def test_a_failure_names_what_ran_and_quotes_the_end_of_its_stderr():
    code = "import sys; [print(f'line {i}', file=sys.stderr) for i in range(40)]; sys.exit(3)"
    with pytest.raises(runner.ChildFailed) as caught:
        runner.run(python(code))
    message = str(caught.value)
    assert message.startswith("python -c ") and "failed with exit status 3" in message
    assert message.endswith("line 39") and "line 25" in message and "line 24\n" not in message
    assert caught.value.result.returncode == 3 and caught.value.result.stderr.count("\n") == 40
    result = runner.run(python(code), check=False)  # the same, returned instead
    assert not result.ok and result.failure() == message
    assert runner.run(python("import sys; sys.exit(3)"), ok=(0, 3)).returncode == 3


def test_a_child_killed_by_a_signal_says_which():
    code = "import os, signal; os.kill(os.getpid(), signal.SIGABRT)"
    with pytest.raises(runner.ChildFailed, match=r"was killed by SIGABRT \(nothing on stderr\)"):
        runner.run(python(code))


def test_a_timeout_kills_the_child_and_says_so():
    started = time.monotonic()
    code = "import sys, time; print('started', file=sys.stderr, flush=True); time.sleep(60)"
    with pytest.raises(runner.ChildFailed, match=r"timed out after 1 s and was killed") as caught:
        runner.run(python(code, timeout=1))
    result = caught.value.result
    assert result.timed_out and result.returncode == -signal.SIGKILL
    assert result.stderr == "started\n"  # what it wrote before the timeout is kept
    assert time.monotonic() - started < 30


def test_the_child_environment_cwd_and_interpreter(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNNER_TEST_INHERITED", "yes")
    show = "import os, sys; print(os.getcwd(), sys.executable, sorted(os.environ))"
    spec = python(show, env={"RUNNER_TEST_ADDED": "1"}, cwd=tmp_path)
    cwd, executable, names = runner.run(spec).stdout.split(" ", 2)
    assert Path(cwd) == tmp_path.resolve() and executable == sys.executable
    for name in ("RUNNER_TEST_INHERITED", "RUNNER_TEST_ADDED", *runner.QUIET_TENSORFLOW):
        assert repr(name) in names
    alone = runner.run(python(show, env={"PATH": "/usr/bin"}, inherit_env=False)).stdout
    assert "RUNNER_TEST_INHERITED" not in alone and "TF_CPP_MIN_LOG_LEVEL" in alone


def test_a_spec_runs_exactly_one_thing_and_describes_it():
    with pytest.raises(ValueError, match="exactly one"):
        runner.Spec(task="probe", module="helpers.loading")
    with pytest.raises(ValueError, match="exactly one"):
        runner.Spec()
    with pytest.raises(ValueError, match="own arguments"):
        runner.Spec(command=["ls"], args=["-l"])
    task = runner.Spec(task="probe", args=["onnx", Path("a b.onnx")], wrapper=["/x/nsjail", "--"])
    assert runner.argv(task) == [
        *("/x/nsjail", "--", sys.executable, "-m", "helpers.kit.child", "probe", "onnx", "a b.onnx")
    ]
    assert task.describe() == "nsjail: python -m helpers.kit.child probe onnx 'a b.onnx'"
    assert runner.argv(runner.Spec(module="http.server", args=[0]))[1:] == [
        "-m",
        "http.server",
        "0",
    ]


def test_start_stop_and_kill_in_the_background(tmp_path):
    sleeper = python("import time; time.sleep(60)")
    child_ = runner.start(sleeper)
    assert isinstance(child_.pid, int) and child_.running()
    assert child_.stop() == -signal.SIGTERM and not child_.running()
    assert child_.stop() == -signal.SIGTERM  # already stopped: just its status
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    started = runner.start(python(stubborn, env={"PYTHONUNBUFFERED": "1"}))
    time.sleep(1)  # let it install its handler
    assert started.stop(grace=0.5) == -signal.SIGKILL  # SIGTERM ignored: SIGKILL after grace
    killed = runner.start(sleeper)
    killed.kill()
    assert killed.wait(timeout=30) == -signal.SIGKILL


def test_start_with_a_log_a_pipe_and_its_own_group(tmp_path):
    log = tmp_path / "child.log"
    code = "import sys; print('out', flush=True); print('err', file=sys.stderr, flush=True)"
    assert runner.start(python(code), log=log).wait(timeout=30) == 0
    assert log.read_text() == "out\nerr\n"  # both streams, in order
    echo = runner.start(python("print(input().upper())"), stdin=True)
    out, _ = echo.communicate("hello\n", timeout=30)
    assert out == "HELLO\n"
    marker = tmp_path / "grandchild.pid"
    parent = (
        "import subprocess, sys, time\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(marker)!r}, 'w').write(str(g.pid))\n"
        "time.sleep(60)\n"
    )
    leader = runner.start(python(parent), own_group=True)
    while not marker.exists() or not marker.read_text():
        time.sleep(0.05)
    leader.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(int(marker.read_text()), 0)  # the whole group is gone when stop returns


def task(
    folder: Path,
    count: int,
    *words: str,
    limit: float = 1.5,
    flag: bool = False,
    n: int | None = None,
) -> str:
    """A stand-in task."""
    return repr((folder, count, words, limit, flag, n))


def test_call_reads_a_command_line_from_the_signature(capsys):
    assert runner.call(task, ["f", "2", "a", "b", "--flag", "--n", "7"], "prog") == 0
    assert capsys.readouterr().out == repr((Path("f"), 2, ("a", "b"), 1.5, True, 7)) + "\n"
    runner.call(task, ["f", "3", "--limit", "2"], "prog", before=lambda: print("before"))
    assert capsys.readouterr().out == "before\n" + repr((Path("f"), 3, (), 2.0, False, None)) + "\n"
    with pytest.raises(SystemExit) as caught:
        runner.call(task, ["f", "not-a-number"], "prog", before=lambda: print("never"))
    assert caught.value.code == 2
    captured = capsys.readouterr()
    assert "usage: prog" in captured.err and "never" not in captured.out
    assert runner.call(lambda: 4, [], "prog") == 4  # an int is the exit status


def test_every_task_is_importable_and_its_command_line_readable():
    for name, spec in child.TASKS.items():
        runner.parser(spec.function(), f"{child.PROG} {name}")  # raises on an unreadable type


def test_the_child_dispatcher(tmp_path):
    with pytest.raises(SystemExit, match=r"usage: python -m helpers\.kit\.child \{build-ref"):
        child.main(["no-such-task"])
    missing = tmp_path / "missing.onnx"
    result = runner.run(runner.Spec(task="probe", args=["onnx", missing], timeout=120), check=False)
    assert result.returncode == 2 and result.stderr.startswith("error: ")
    assert "tensorflow" not in result.stderr.lower()  # a task that needs no TensorFlow


STARTS_A_PROCESS = (r"""["']-m["']""", r"^\s*(import|from) subprocess\b", r"\bos\.(exec|spawn)")


def test_only_the_runner_starts_child_processes():
    """One runner: no other module of the package starts a process or spells ``-m``."""
    offenders = []
    for path in sorted((ROOT / "helpers").rglob("*.py")):
        if path.name == "runner.py" and path.parent.name == "kit":
            continue
        text = path.read_text(encoding="utf-8")
        for pattern in (
            r"""["']-m["']""",
            r"^\s*(import|from) subprocess\b",
            r"\bos\.(exec|spawn)",
        ):
            if re.search(pattern, text, re.MULTILINE):
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert not offenders, "start child processes through helpers.kit.runner:\n" + "\n".join(
        offenders
    )
