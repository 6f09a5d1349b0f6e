"""Damage on purpose: the byte-level faults and the killed writer that notebooks 09 and 11 use.

- :func:`flip_byte`, :func:`truncate` and :func:`replace_zip_member` damage one file in place.
- :func:`kill_writer` runs a cheap, TensorFlow-free writer in a child process (``python -m
  helpers.kit.faults write``) that copies a version file by file through
  :func:`helpers.artifacts.save_version` and SIGKILLs itself at a named step (:func:`kill_at`,
  :func:`write_until_killed`).

The fault-injection suite built on them (damaged artifacts of every kind, a crash-proof loader)
is test code: ``tests/harness/faults.py``.

Serves notebooks 09 and 11.
"""

from __future__ import annotations

import os
import signal
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from helpers import artifacts
from helpers.integrity import MANIFEST_NAME, write_manifest
from helpers.kit import runner

# --- damage one file ------------------------------------------------------------------------


def flip_byte(path: Path, at_fraction: float = 0.5) -> None:
    """Invert one byte, the one ``at_fraction`` of the way into the file (0: the first byte,
    0.5: the middle one)."""
    data = bytearray(path.read_bytes())
    position = min(int(len(data) * at_fraction), len(data) - 1)
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path, fraction: float = 0.5) -> None:
    """Keep only the first ``fraction`` of the file."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def rewrite_zip(path: Path, change: Callable[[str, bytes], bytes | None]) -> None:
    """Rewrite a zip archive member by member; ``change`` returns new bytes or None to drop."""
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            new = change(name, data)
            if new is not None:
                archive.writestr(name, new)


def replace_zip_member(path: Path, member: str, data: bytes) -> None:
    """Replace one member of a zip archive (``config.json`` of a ``.keras`` file, say)."""
    rewrite_zip(path, lambda name, old: data if name == member else old)


# --- kill a writer --------------------------------------------------------------------------


def copy_writer(source: Path, on_step: artifacts.StepHook) -> Callable[[Path], None]:
    """A TensorFlow-free writer: copies ``source``'s files (not its manifest) in two halves.

    Calls ``on_step`` with ``mkdir:<folder>``, ``half:<file>`` (half written, not flushed)
    and ``whole:<file>``, so a kill can land in the middle of any file.
    """

    def write(folder: Path) -> None:
        for item in sorted(source.rglob("*")):
            relative = item.relative_to(source).as_posix()
            if item.is_dir():
                (folder / relative).mkdir()
                on_step(f"mkdir:{relative}")
            elif item.name != MANIFEST_NAME:
                data = item.read_bytes()
                with open(folder / relative, "wb") as stream:
                    stream.write(data[: len(data) // 2])
                    stream.flush()
                    on_step(f"half:{relative}")
                    stream.write(data[len(data) // 2 :])
                on_step(f"whole:{relative}")

    return write


def kill_at(target: str) -> artifacts.StepHook:
    """An ``on_step`` hook that SIGKILLs this process when the save reaches step ``target``."""

    def hook(step: str) -> None:
        if step == target:
            print(f"reached {step}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def write_until_killed(base: Path, source: Path, step: str, *, direct: bool = False) -> None:
    """What the child of :func:`kill_writer` runs: save a copy of ``source`` as the next
    version under ``base``, and die at ``step``."""
    hook = kill_at(step)
    if direct:  # the naive way, for comparison: straight into the next numbered folder
        target = artifacts.next_version_dir(base)
        target.mkdir(parents=True)
        copy_writer(source, hook)(target)
        write_manifest(target)
    else:
        artifacts.save_version(base, copy_writer(source, hook), on_step=hook)
    print("finished without being killed", flush=True)


def run_writer(base: Path, source: Path, step: str, *, direct: bool = False) -> runner.Result:
    """Run :func:`write_until_killed` in a child process (``python -m helpers.kit.faults
    write``); its exit status, stdout and stderr."""
    command = "write-direct" if direct else "write"
    spec = runner.Spec(module="helpers.kit.faults", args=[command, base, source, step], timeout=60)
    return runner.run(spec, check=False)


def died_at(result: runner.Result, step: str) -> bool:
    """Whether the writer child of :func:`run_writer` SIGKILLed itself at ``step``."""
    return (
        result.returncode == -signal.SIGKILL
        and not result.timed_out
        and f"reached {step}" in result.stdout
    )


def kill_writer(base: Path, source: Path, step: str, *, direct: bool = False) -> bool:
    """Run the copy writer in a child process that SIGKILLs itself at ``step``.

    ``direct=True`` writes straight into the next numbered folder (no temporary folder, no
    rename): the naive save, for comparison. Returns True if the child died at ``step``.
    """
    return died_at(run_writer(base, source, step, direct=direct), step)


def main(argv: list[str]) -> None:
    command, *rest = argv
    if command in ("write", "write-direct"):
        write_until_killed(Path(rest[0]), Path(rest[1]), rest[2], direct=command == "write-direct")
    else:
        raise SystemExit(f"unknown command {command!r}: write or write-direct")


if __name__ == "__main__":
    main(sys.argv[1:])
