"""Run TFLite models with the LiteRT interpreter (``ai-edge-litert``), without stray log lines.

LiteRT's native code writes some messages (``INFO: Created TensorFlow Lite XNNPACK delegate
for CPU.``) straight to the process's file descriptor 2, past Python's ``sys.stderr``: no
``warnings`` filter or logger can catch them, and in a notebook they become a red stderr box.

Serves notebooks 06, 07 and 10.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from helpers.errors import ArtifactNotFoundError, CorruptArtifactError

if TYPE_CHECKING:
    from ai_edge_litert.interpreter import Interpreter

TFLITE_MAGIC = b"TFL3"  # bytes 4..8 of every TFLite flatbuffer


@contextlib.contextmanager
def capture_native_stderr() -> Iterator[list[str]]:
    """Send what native code writes to file descriptor 2 into a list of lines, not the screen.

    Yields an empty list that is filled with the captured lines when the block ends.
    """
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", "replace").splitlines())


def require_tflite(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` is a TFLite flatbuffer file; raise a clear error if not."""
    path = Path(path)
    if not path.exists():
        raise ArtifactNotFoundError(path, "no such .tflite file")
    if not path.is_file():
        raise CorruptArtifactError(path, "is a folder; a TFLite model is a single file")
    with path.open("rb") as file:
        header = file.read(8)
    if header[4:8] != TFLITE_MAGIC:
        raise CorruptArtifactError(path, "has no TFL3 identifier, so not a TFLite model")
    return path


def interpreter(
    path: str | os.PathLike[str], *, default_delegate: bool = False, num_threads: int = 1
) -> Interpreter:
    """A LiteRT interpreter for ``path``, tensors allocated.

    ``default_delegate=False`` uses the built-in kernels only
    (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``): no XNNPACK, so no native log line. With
    ``True``, XNNPACK is applied and its log line is captured (not printed).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = (
        OpResolverType.AUTO
        if default_delegate
        else (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    )
    model_path = str(require_tflite(path))
    with capture_native_stderr():
        runner = Interpreter(
            model_path=model_path, num_threads=num_threads, experimental_op_resolver_type=resolver
        )
        runner.allocate_tensors()
    return runner


def frameworks_imported() -> str:
    """Which of TensorFlow and Keras this process has imported, e.g. for a child that runs a
    deployment file and must show it needed neither."""
    return ", ".join(
        f"{name}: {'imported' if name in sys.modules else 'not imported'}"
        for name in ("tensorflow", "keras")
    )
