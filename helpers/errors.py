"""The kit's error types: each names the path it is about and what is wrong with it."""

from __future__ import annotations

import contextlib
import logging
import os
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path


class ArtifactError(Exception):
    """A saved model, checkpoint or version folder that cannot be used as asked."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ArtifactNotFoundError(ArtifactError, FileNotFoundError):
    """The path does not exist."""


class NotASavedModelError(ArtifactError):
    """The folder exists but is not a (complete) SavedModel."""


class NotAKerasArchiveError(ArtifactError):
    """The file is not a readable ``.keras`` zip archive."""


class IncompleteVersionError(ArtifactError):
    """A version folder is partial, still being written, or missing."""


class PredictionMismatchError(AssertionError):
    """Two predictors disagree on the same inputs by more than the allowed tolerance."""


def describe(error: BaseException, width: int = 96) -> str:
    """``ErrorType: message``, wrapped to ``width`` columns, for printing a caught error."""
    text = f"{type(error).__name__}: {error}"
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
