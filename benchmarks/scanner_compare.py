"""Side by side: the kit's scanner, ModelScan, modelaudit and the default loaders, on a corpus.

    python3 benchmarks/scanner_compare.py            # about 30-60 minutes; installs the peers

Builds every case of the kit's corpus (``CORPUS`` in ``tests/test_safety.py``: crafted, harmless
malicious files) and the files the kit's notebooks write (``kit_artifacts``: must raise no
alarm) under ``artifacts/scanner_compare/``, then asks four tools about each:

- the kit's scanner (``helpers.safety.scan``): flagged when a finding is above ``info``;
- ModelScan and modelaudit, pinned (``PEERS``), each installed by this script into its own
  virtual environment under ``artifacts/scanner_compare/peers/`` with its TensorFlow/HDF5
  extras: flagged when it reports an issue (modelaudit: of severity warning or critical);
- the default loaders, run in the kit's sandbox (``helpers.kit.sandbox.load_in_sandbox``):
  ``keras.models.load_model`` (``safe_mode=True``) for files, ``tf.saved_model.load`` for
  folders (what ``TFSMLayer`` calls): "refused" when loading or the first call raised; only
  on the crafted cases (the kit's own outputs are what its notebooks load).

Writes ``benchmarks/results/scanners.json`` (every verdict) and ``scanners.md`` (the table
notebook 12 shows). It installs software, so the test suite never runs it; a unit test checks
that the committed table names exactly the corpus's cases.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
PEERS = {
    "modelscan": ("modelscan[tensorflow,h5py]==0.8.8", "modelscan"),
    "modelaudit": ("modelaudit[tensorflow,h5]==0.2.54", "modelaudit"),
}
TOOLS = ("kit", "modelscan", "modelaudit", "default loaders")
RESULTS = ROOT / "benchmarks" / "results"


def peer(folder: Path, name: str) -> Path:
    """The peer's command in its own virtual environment, installed when missing."""
    requirement, command = PEERS[name]
    env = folder / name
    executable = env / "bin" / command
    if not executable.exists():
        venv.create(env, with_pip=True)
        subprocess.run([env / "bin" / "pip", "install", "-q", requirement], check=True)
    return executable


def build(folder: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """Every corpus case in its own folder, and the kit's own outputs."""
    import test_safety

    malicious = {}
    for name, (_, make) in sorted(test_safety.CORPUS.items()):
        (folder / "corpus" / name).mkdir(parents=True)
        malicious[name] = make(folder / "corpus" / name)
    (folder / "benign").mkdir()
    benign = {
        f"kit: {label}": path
        for label, path in test_safety.kit_artifacts(folder / "benign").items()
    }
    return malicious, benign


def kit_verdicts(cases: dict[str, Path]) -> dict[str, bool]:
    from helpers import safety

    return {
        name: safety.worst(safety.scan(path, allowed=["tf_saving_kit>"])) != "info"
        for name, path in cases.items()
    }


def _owner(location: str, root: Path, cases: dict[str, Path]) -> str | None:
    """The case whose file or folder a reported location names, exactly (the corpus's helper
    files beside a case, such as the honest model it was made from, belong to no case)."""
    named = Path(location.split(":", 1)[0].split(" (", 1)[0])
    named = named if named.is_absolute() else root / named
    for name, path in cases.items():
        if named == path or path in named.parents:
            return name
        if not path.exists() and named.parent == path.parent and named.name.startswith(path.name):
            return name  # a checkpoint prefix: prefix.index, prefix.data-*
    return None


def _locations(data: object) -> list[tuple[str, str]]:
    """(location, severity) of every issue in a report, whatever its nesting."""
    found = []
    if isinstance(data, dict):
        where = data.get("source") or data.get("location") or data.get("path")
        if isinstance(where, str) and ("severity" in data or "description" in data):
            found.append((where, str(data.get("severity", "")).lower()))
        for value in data.values():
            found += _locations(value)
    elif isinstance(data, list):
        for value in data:
            found += _locations(value)
    return found


def peer_verdicts(
    name: str, command: Path, roots: list[Path], cases: dict[str, Path], out: Path
) -> dict[str, bool]:
    """One run of a peer per root folder; each issue is credited to the case it names."""
    flagged = {case: False for case in cases}
    for index, root in enumerate(roots):
        report = out / f"{name}-{index}.json"
        argv = [command, "-p", root, "-r", "json", "-o", report]
        if name == "modelaudit":
            argv = [command, "scan", root, "--format", "json", "--output", report]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=False)
        if not report.is_file():
            raise SystemExit(f"{name} wrote no report for {root}: {done.stderr[-2000:]}")
        issues = _locations(json.loads(report.read_text()).get("issues", []))
        for location, severity in issues:
            if name == "modelaudit" and severity not in ("warning", "critical", "error"):
                continue
            owner = _owner(location, root, cases)
            if owner is not None:
                flagged[owner] = True
    return flagged


def loader_verdicts(cases: dict[str, Path], work: Path) -> dict[str, bool | None]:
    """True when the default loader refused (or failed on the first call); None for a
    checkpoint (no loader runs it). Only crafted cases: the kit's own outputs are what the
    kit's notebooks load every day."""
    from helpers.kit import sandbox

    inputs = np.ones((2, 4), np.float32)

    def refused(path: Path) -> bool | None:
        if not path.exists() or (path.is_dir() and not any(path.glob("saved_model.*"))):
            return None  # a checkpoint: no loader runs code from it by default
        return not sandbox.load_in_sandbox(path, inputs, workdir=work).ok

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return dict(zip(cases, pool.map(refused, cases.values()), strict=True))


LEGEND = (
    "Written by `benchmarks/scanner_compare.py`. A scanner *flagged* a crafted file when it "
    "reported a finding above info (modelaudit: warning or critical; ModelScan: any issue) on "
    "that very file. For the default loaders (`keras.models.load_model` with safe_mode=True, "
    "or `tf.saved_model.load`, run in the kit's sandbox), *flagged* means loading or the first "
    "call raised, whether Keras refused the file or the payload failed inside the sandbox; "
    "*missed* means it loaded and ran to the end. n/a: a checkpoint (no default loader runs "
    "it) or a kit output (what the kit's notebooks load)."
)


def table(results: dict) -> str:
    rows = [
        LEGEND,
        "",
        "| case | kind | " + " | ".join(TOOLS) + " |",
        "|---|---|" + "---|" * len(TOOLS),
    ]
    for name, row in results["cases"].items():
        cells = []
        for tool in TOOLS:
            value = row[tool]
            if value is None:
                cells.append("n/a")
            elif row["malicious"]:
                cells.append("flagged" if value else "**missed**")
            else:
                cells.append("**false alarm**" if value else "clean")
        kind = "crafted" if row["malicious"] else "kit output"
        rows.append(f"| {name} | {kind} | " + " | ".join(cells) + " |")
    rows.append("")
    rows.append("| tool | missed | false alarms | not applicable |")
    rows.append("|---|---|---|---|")
    for tool, total in results["totals"].items():
        rows.append(f"| {tool} | {total['missed']} | {total['false alarms']} | {total['n/a']} |")
    return "\n".join(rows) + "\n"


def totals(cases: dict) -> dict:
    out = {}
    for tool in TOOLS:
        values = [(row["malicious"], row[tool]) for row in cases.values()]
        out[tool] = {
            "missed": sum(1 for bad, v in values if bad and v is False),
            "false alarms": sum(1 for bad, v in values if not bad and v),
            "n/a": sum(1 for _, v in values if v is None),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "artifacts" / "scanner_compare")
    parser.add_argument("--render", action="store_true", help="only rewrite scanners.md")
    args = parser.parse_args()
    if args.render:
        render()
        return 0
    import helpers  # noqa: F401  (quiet TensorFlow first)
    from helpers import safety, sandbox  # noqa: F401  (imported here, before any thread)

    peers = args.work / "peers"
    peers.mkdir(parents=True, exist_ok=True)
    commands = {name: peer(peers, name) for name in PEERS}
    shutil.rmtree(args.work / "cases", ignore_errors=True)
    malicious, benign = build(args.work / "cases")
    cases = {**malicious, **benign}
    roots = [args.work / "cases" / "corpus", args.work / "cases" / "benign"]
    reports = args.work / "reports"
    shutil.rmtree(reports, ignore_errors=True)
    reports.mkdir()
    verdicts = {
        "kit": kit_verdicts(cases),
        **{name: peer_verdicts(name, commands[name], roots, cases, reports) for name in PEERS},
        "default loaders": loader_verdicts(malicious, args.work / "sandbox"),
    }
    rows = {
        name: {
            "malicious": name in malicious,
            **{tool: verdicts[tool].get(name) for tool in TOOLS},
        }
        for name in cases
    }
    results = {
        "tools": {"kit": "helpers.safety.scan", **{n: PEERS[n][0] for n in PEERS},
                  "default loaders": "keras.models.load_model / tf.saved_model.load, sandboxed"},
        "cases": rows,
        "totals": totals(rows),
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scanners.json").write_text(json.dumps(results, indent=1) + "\n")
    (RESULTS / "scanners.md").write_text(table(results))
    print(table(results))
    return 0


def render() -> None:
    """Rewrite scanners.md from the committed scanners.json (no tool is run)."""
    (RESULTS / "scanners.md").write_text(table(json.loads((RESULTS / "scanners.json").read_text())))


if __name__ == "__main__":
    sys.exit(main())
