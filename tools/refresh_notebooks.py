"""Re-execute notebooks in place, each in a fresh kernel: how committed outputs are refreshed.

Usage (inside the kit's environment): ``python tools/refresh_notebooks.py [NOTEBOOK ...]``
(all of ``notebooks/`` by default). Prefer ``make refresh`` / ``python3 tools/kit.py refresh``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from helpers.kit.setup import KERNEL_NAME, isolated_home_env

ROOT = Path(__file__).resolve().parent.parent
CELL_TIMEOUT = 600


def refresh(path: Path) -> float:
    """Execute ``path`` top to bottom in a fresh kernel, write it back, return the seconds."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,  # no wall-clock stamps in the committed file
    )
    start = time.perf_counter()
    client.execute()
    nbformat.write(notebook, path)
    return time.perf_counter() - start


def main(arguments: list[str]) -> int:
    paths = [Path(a).resolve() for a in arguments] or sorted(
        (ROOT / "notebooks").glob("[0-9]*.ipynb")
    )
    with tempfile.TemporaryDirectory(prefix="kit-refresh-home-") as home:
        os.environ.update(isolated_home_env(Path(home)))
        for path in paths:
            print(f"refreshing {path.relative_to(ROOT)} ...", flush=True)
            print(f"  done in {refresh(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
