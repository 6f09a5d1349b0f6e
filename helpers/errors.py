"""The kit's error vocabulary, and the one way to summarise a caught error.

Every problem with a saved artifact is an :class:`ArtifactError` naming the path and the
problem, of one of six kinds: not found, incomplete, integrity, corrupt, mismatch, crash. The
lesson library raises only these (defined here and nowhere else); :func:`describe` is how it
quotes any error, its own or a library's.

Serves every notebook.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path


class ArtifactError(Exception):
    """A saved model, checkpoint or version folder that cannot be used as asked.

    The six kinds below are its subclasses; each names the path and the problem
    (``error.path``, ``error.problem``). Raise the kind that says what is wrong.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ArtifactNotFoundError(ArtifactError, FileNotFoundError):
    """Not found: nothing at the path (no such file, folder or checkpoint prefix)."""


class IncompleteArtifactError(ArtifactError):
    """Incomplete: a part the artifact needs is missing or empty (a save or a copy that did
    not finish, a version folder with nothing finished in it)."""


class IntegrityError(ArtifactError):
    """Integrity: the files do not match the artifact's manifest (changed, missing or extra
    files), or there is no manifest to check them against."""


class CorruptArtifactError(ArtifactError):
    """Corrupt: the files are there but cannot be read as what they should be (damaged,
    truncated, another format), or TensorFlow, Keras or a runtime refused to read them."""


class ArtifactMismatchError(ArtifactError):
    """Mismatch: the artifact reads, but it is not the one expected: its inputs, outputs,
    variables or probe predictions, or the objects a checkpoint is restored into."""


class RuntimeCrashError(ArtifactError):
    """Crash: opening the artifact killed the runtime's process (a child process, which is
    why this one can say so)."""


class PredictionMismatchError(AssertionError):
    """Two predictors disagree on the same inputs by more than the allowed tolerance.

    Not an :class:`ArtifactError`: it compares predictions, not files, so it has no path (a
    loader that checks a stored probe turns it into :class:`ArtifactMismatchError`).
    """


_TF_FUNCTION_NODE = re.compile(r"\{\{function_node [^}]*\}\}\s*")


def describe(error: BaseException, width: int | None = 96, *, limit: int | None = None) -> str:
    """``ErrorType: message``: the one summary of a caught error, for printing or quoting.

    TensorFlow's ``{{function_node ...}}`` prefixes are dropped. ``width`` wraps the text to
    that many columns (``None``: no wrapping). ``limit`` keeps only the first line of the
    message, cut to ``limit`` characters, for quoting inside another message.
    """
    text = _TF_FUNCTION_NODE.sub("", str(error))
    if limit is not None:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        text = lines[0] if lines else ""
        text = text if len(text) <= limit else text[: limit - 1] + "…"
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    if width is None:
        return text
    return "\n".join(
        textwrap.fill(paragraph, width, subsequent_indent="    ") for paragraph in text.splitlines()
    )


class _Collector(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname.title()}: {record.getMessage().strip()}")


@contextlib.contextmanager
def report_warnings(width: int = 96) -> Iterator[list[str]]:
    """Print, once each and on stdout, the warnings Keras raises or logs inside the block.

    Keras reports some problems with ``warnings.warn`` and others through absl logging; both
    would otherwise land on stderr (a red box in JupyterLab). Libraries' internal
    ``DeprecationWarning``s are left out. Yields the list of collected messages.
    """
    messages: list[str] = []
    absl_logger = logging.getLogger("absl")
    collector = _Collector(messages)
    absl_logger.addHandler(collector)
    propagate, absl_logger.propagate = absl_logger.propagate, False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield messages
    finally:
        absl_logger.removeHandler(collector)
        absl_logger.propagate = propagate
    for warning in caught:
        if not issubclass(warning.category, DeprecationWarning):
            messages.append(f"{warning.category.__name__}: {str(warning.message).strip()}")
    for message in dict.fromkeys(messages):
        print(textwrap.fill(message, width, subsequent_indent="    "))
