"""The kit's one way to start a child process (kit machinery): a spec in, a result out.

Every child process the kit starts goes through here: its own Python tasks (``python -m
helpers.kit.child TASK ARGS``, see :mod:`helpers.kit.child`), another module (``python -m
MODULE ARGS``) and external programs (``saved_model_cli``, ``mlflow``, ``nsjail``). Python runs
as the kit's own interpreter (``sys.executable``), and every child gets TensorFlow's log
variables (:data:`QUIET_TENSORFLOW`, the values ``import helpers`` sets in this process), so a
TensorFlow in the child prints no C++ log lines.

- :func:`run` runs a :class:`Spec` to the end and returns a :class:`Result` (exit status,
  stdout, stderr, whether it timed out, how long it took). A child that fails or times out
  raises :class:`ChildFailed`, naming what ran and quoting the last lines of its stderr
  (``check=False`` returns the result instead).
- :func:`start` starts it in the background and returns a :class:`Child`: a
  ``subprocess.Popen`` (``pid``, ``poll``, ``wait``, ``kill``, its pipes) with
  :meth:`Child.stop`, for servers and for processes killed on purpose.
- :func:`argv` is the command line of a spec, for a wrapper that needs it in that form.
- :func:`call` is the child's side: it reads a command line into a function's parameters,
  the same way for every task.

Serves every notebook that starts a child process (01-04, 07-13).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import os
import shlex
import signal
import subprocess
import sys
import time
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHILD_MODULE = "helpers.kit.child"  # the dispatcher of the kit's Python tasks
QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
STDERR_LINES = 15  # how much of a failed child's stderr an error quotes
TimeoutExpired = subprocess.TimeoutExpired  # what Child.wait(timeout) raises

Argument = str | os.PathLike[str] | int | float


@dataclass(frozen=True)
class Spec:
    """What to run: exactly one of ``task``, ``module`` and ``command``.

    - ``task``: a task of :mod:`helpers.kit.child`, ``python -m helpers.kit.child TASK ARGS``;
    - ``module``: ``python -m MODULE ARGS``;
    - ``command``: a program and all its arguments (``args`` stays empty).

    ``timeout`` (seconds, ``None`` for none) limits :func:`run`. ``env`` is added to this
    process's environment, or, with ``inherit_env=False``, is the whole environment (besides
    :data:`QUIET_TENSORFLOW`). ``wrapper`` is a command line put in front, a program that runs
    the child (``nsjail ... --``, ``nsenter ... --``).
    """

    task: str | None = None
    args: Sequence[Argument] = ()
    module: str | None = None
    command: Sequence[Argument] = ()
    timeout: float | None = 300
    env: Mapping[str, str] = field(default_factory=dict)
    inherit_env: bool = True
    cwd: str | os.PathLike[str] | None = None
    wrapper: Sequence[Argument] = ()

    def __post_init__(self) -> None:
        if (self.task is not None) + (self.module is not None) + bool(self.command) != 1:
            raise ValueError("a Spec runs exactly one of a task, a module or a command")
        if self.command and self.args:
            raise ValueError("a command carries its own arguments: leave args empty")

    def describe(self) -> str:
        """What runs, for messages: ``python -m helpers.kit.child probe tflite m.tflite``."""
        words = argv(dataclasses.replace(self, wrapper=()))
        words[0] = "python" if words[0] == sys.executable else Path(words[0]).name
        text = shlex.join(words)
        return f"{Path(str(self.wrapper[0])).name}: {text}" if self.wrapper else text


def argv(spec: Spec) -> list[str]:
    """The command line that runs ``spec``, its wrapper first."""
    if spec.task is not None:
        head = [sys.executable, "-m", CHILD_MODULE, spec.task]
    elif spec.module is not None:
        head = [sys.executable, "-m", spec.module]
    else:
        head = []
    return [str(word) for word in (*spec.wrapper, *head, *spec.args, *spec.command)]


def environment(spec: Spec) -> dict[str, str]:
    """The child's environment: ours (unless ``inherit_env=False``), quiet TensorFlow, ``env``."""
    return {**(os.environ if spec.inherit_env else {}), **QUIET_TENSORFLOW, **spec.env}


@dataclass(frozen=True)
class Result:
    """A finished child: its exit status (negative: killed by that signal) and its output."""

    spec: Spec
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    duration: float  # seconds

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def stderr_tail(self, lines: int = STDERR_LINES) -> str:
        """The last ``lines`` non-empty lines of its stderr."""
        return "\n".join([line for line in self.stderr.splitlines() if line.strip()][-lines:])

    def failure(self) -> str:
        """What went wrong, in one sentence, then the end of its stderr."""
        if self.timed_out:
            what = f"timed out after {self.spec.timeout:g} s and was killed"
        elif self.returncode < 0:
            try:
                what = f"was killed by {signal.Signals(-self.returncode).name}"
            except ValueError:  # a signal number Python has no name for
                what = f"was killed by signal {-self.returncode}"
        else:
            what = f"failed with exit status {self.returncode}"
        tail = self.stderr_tail()
        return f"{self.spec.describe()} {what}" + (
            f"; its stderr ends:\n{tail}" if tail else " (nothing on stderr)"
        )


class ChildFailed(RuntimeError):
    """A child process failed, timed out, or would not stop; ``result`` says how, if it ended."""

    def __init__(self, message: str, result: Result | None = None) -> None:
        super().__init__(message)
        self.result = result


def run(spec: Spec, *, check: bool = True, ok: Sequence[int] = (0,)) -> Result:
    """Run ``spec`` to the end (killed after ``spec.timeout`` s); its :class:`Result`.

    Raises :class:`ChildFailed` if it timed out or exited with a status not in ``ok``, unless
    ``check`` is false. Its standard input is empty; stdout and stderr are captured as text.
    """
    started = time.monotonic()
    with subprocess.Popen(
        argv(spec),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env=environment(spec),
        cwd=spec.cwd,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=spec.timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            timed_out = True
    result = Result(spec, process.returncode, stdout, stderr, timed_out, time.monotonic() - started)
    if check and (timed_out or result.returncode not in ok):
        raise ChildFailed(result.failure(), result)
    return result


class Child(subprocess.Popen):
    """A child running in the background (see :func:`start`): a ``subprocess.Popen`` that
    knows its :class:`Spec` and whether it leads its own process group, with :meth:`stop`."""

    spec: Spec
    own_group: bool = False

    def signal_all(self, signum: int) -> None:
        """Send ``signum`` to the child (to its whole process group if it has one)."""
        if self.own_group:
            with contextlib.suppress(ProcessLookupError):  # every process has ended
                os.killpg(self.pid, signum)
        else:
            self.send_signal(signum)  # nothing if it has ended and been waited for

    def running(self) -> bool:
        """True while the child (or, with its own group, any process of the group) runs."""
        if self.poll() is None:
            return True
        return self.own_group and _group_alive(self.pid)

    def stop(self, grace: float = 5.0) -> int:
        """SIGTERM, then SIGKILL after ``grace`` s; its exit status (negative: the signal).

        With its own process group, the whole group is signalled, and this returns only when
        no process of the group is left (a server's worker can outlive its parent). Raises
        :class:`ChildFailed` if something is still there ``grace`` s after SIGKILL.
        """
        self.signal_all(signal.SIGTERM)
        deadline, killed = time.monotonic() + grace, False
        while self.running():
            if time.monotonic() > deadline:
                if killed:
                    raise ChildFailed(f"{self.spec.describe()} (pid {self.pid}) did not end")
                self.signal_all(signal.SIGKILL)
                deadline, killed = time.monotonic() + grace, True
            time.sleep(0.05)
        return int(self.returncode)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process we may not signal still holds the group id
        return True
    return True


def start(
    spec: Spec,
    *,
    log: str | os.PathLike[str] | None = None,
    stdin: bool = False,
    own_group: bool = False,
) -> Child:
    """Start ``spec`` in the background; ``spec.timeout`` does not apply (stop it yourself).

    Its stdout and stderr go to the file ``log`` (together, in order), or to text pipes
    (``child.stdout``, ``child.stderr``) without one. ``stdin=True`` gives it a pipe to read
    (``child.stdin``), else an empty input. ``own_group`` starts it in a new session, leading
    its own process group, so that :meth:`Child.stop` reaches every process it starts.
    """
    with contextlib.ExitStack() as stack:
        output = stack.enter_context(open(log, "wb")) if log is not None else subprocess.PIPE
        child = Child(
            argv(spec),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if log is not None else subprocess.PIPE,
            text=True,
            errors="replace",
            env=environment(spec),
            cwd=spec.cwd,
            start_new_session=own_group,
        )
    child.spec, child.own_group = spec, own_group
    return child


# The other side of a task's command line: how a child reads its arguments.

_TYPES = (str, int, float, Path)


def _type(hint: Any) -> Any:
    """``int | None`` -> ``int``; only the types a command line can carry, and ``bool``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if hint is not bool and hint not in _TYPES:
        raise TypeError(f"a command line cannot carry a parameter of type {hint!r}")
    return hint


def parser(function: Callable[..., Any], prog: str) -> argparse.ArgumentParser:
    """The command line of ``function``, read from its signature.

    A positional parameter is a positional argument, a keyword-only one an option
    (``interrupt_after`` is ``--interrupt-after N``; a ``bool`` is a flag), ``*words`` takes the
    rest; each is converted to its annotated type (``str``, ``int``, ``float``, ``Path``).
    """
    doc = (function.__doc__ or "").strip().splitlines()
    parser = argparse.ArgumentParser(prog=prog, description=doc[0] if doc else None)
    hints = typing.get_type_hints(function)
    for parameter in inspect.signature(function).parameters.values():
        kind = _type(hints.get(parameter.name, str))
        if parameter.kind is parameter.KEYWORD_ONLY:
            flag, name = "--" + parameter.name.replace("_", "-"), parameter.name
            if kind is bool:
                parser.add_argument(flag, dest=name, action="store_true")
            elif parameter.default is parameter.empty:
                parser.add_argument(flag, dest=name, type=kind, required=True)
            else:
                parser.add_argument(flag, dest=name, type=kind, default=parameter.default)
        elif parameter.kind is parameter.VAR_POSITIONAL:
            parser.add_argument(parameter.name, type=kind, nargs="*")
        else:
            parser.add_argument(parameter.name, type=kind)
    return parser


def call(
    function: Callable[..., Any],
    arguments: Sequence[str],
    prog: str,
    before: Callable[[], None] | None = None,
) -> int:
    """A child's side: parse ``arguments`` for ``function`` (see :func:`parser`; a usage error
    exits with status 2), run ``before``, call it; its exit status. It may return nothing
    (status 0), its status, or a ``str`` to print."""
    options = vars(parser(function, prog).parse_args(list(arguments)))
    args: list[Any] = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind is parameter.VAR_POSITIONAL:
            args += options.pop(parameter.name)
        elif parameter.kind is not parameter.KEYWORD_ONLY:
            args.append(options.pop(parameter.name))
    if before is not None:
        before()
    returned = function(*args, **options)
    if isinstance(returned, str):
        print(returned)
        return 0
    return int(returned or 0)


__all__ = [
    "QUIET_TENSORFLOW",
    "Child",
    "ChildFailed",
    "Result",
    "Spec",
    "TimeoutExpired",
    "argv",
    "call",
    "environment",
    "parser",
    "run",
    "start",
]
