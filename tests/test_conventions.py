"""Every notebook follows the kit's shape and hygiene rules (see README, "Writing a notebook")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NAME_PATTERN = re.compile(r"^(\d{2})_[a-z0-9_]+\.ipynb$")
KERNEL_NAME = "tf-saving-kit"
REQUIRED_HEADINGS = ("What you will learn", "Key points", "Exercises")
MAX_CELLS = 45  # "keep a notebook under about 45 cells"
IGNORE_TAG = "nbval-ignore-output"
RAISES_TAG = "raises-exception"
# Things that must never appear in committed outputs: machine-specific paths and noise.
FORBIDDEN_IN_OUTPUTS = {
    "an absolute path into a home folder": re.compile(r"(/home/|/root/|/Users/|[A-Z]:\\Users)"),
    "a temporary folder path": re.compile(r"(/tmp/|/var/folders/)"),
    "an installation path": re.compile(r"site-packages"),
    "a terminal control character (progress bar?)": re.compile(r"[\x08\x1b]"),
    "a per-step timing (progress bar?)": re.compile(r"\d+m?s/step"),
}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    return "".join(cell["source"])


def output_text(output: dict) -> str:
    if output["output_type"] == "stream":
        return "".join(output["text"])
    if output["output_type"] == "error":
        return "\n".join(output["traceback"])
    return "".join(output.get("data", {}).get("text/plain", ""))


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


ids = [path.name for path in NOTEBOOKS]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


def test_numbers_unique_and_contiguous():
    numbers = []
    for path in NOTEBOOKS:
        match = NAME_PATTERN.match(path.name)
        assert match, f"{path.name}: name must look like 01_lower_case_words.ipynb"
        numbers.append(int(match.group(1)))
    assert numbers == list(range(1, len(numbers) + 1)), f"numbers must be 1..n, got {numbers}"


def test_readme_course_map_lists_every_notebook_in_order():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Course map", 1)
    assert len(section) == 2, "README.md needs a '## Course map' section"
    course_map = section[1].split("\n## ", 1)[0]
    listed = re.findall(r"\]\(notebooks/(\d{2}_[a-z0-9_]+\.ipynb)\)", course_map)
    assert listed == [path.name for path in NOTEBOOKS], (
        "README course map must list exactly the notebooks, in order"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_shape(path: Path):
    notebook = load(path)
    cells = notebook["cells"]
    first = source(cells[0]).strip().splitlines()
    assert first and first[0].startswith("# "), f"{path.name}: first cell must start with an H1"
    h1s = [line for line in first if line.startswith("# ")]
    assert cells[0]["cell_type"] == "markdown" and len(h1s) == 1, "exactly one H1, first cell"
    markdown = "\n".join(source(c) for c in cells if c["cell_type"] == "markdown")
    for heading in REQUIRED_HEADINGS:
        assert re.search(rf"^##+ .*{heading}", markdown, re.MULTILINE | re.IGNORECASE), (
            f"{path.name}: missing a '{heading}' section"
        )
    assert re.search(r"\*\*Prerequisites", markdown), f"{path.name}: state the prerequisites"
    assert re.search(r"\*\*Time", markdown), f"{path.name}: state the time it takes"
    kernel = notebook["metadata"].get("kernelspec", {}).get("name")
    assert kernel == KERNEL_NAME, f"{path.name}: kernelspec must be {KERNEL_NAME!r}, not {kernel!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_setup_cell_uses_its_own_artifacts_folder(path: Path):
    code = [source(c) for c in load(path)["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name}: no code cells"
    first = code[0]
    assert first.lstrip().startswith("import helpers"), (
        f"{path.name}: the first code cell must start with `import helpers` (before TensorFlow)"
    )
    assert f'helpers.setup.init("{path.stem}")' in first, (
        f"{path.name}: the setup cell must call helpers.setup.init({path.stem!r})"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_no_installs_or_path_hacks(path: Path):
    for cell in load(path)["cells"]:
        if cell["cell_type"] != "code":
            continue
        text = source(cell)
        assert not re.search(r"^\s*[!%]\s*pip\b", text, re.MULTILINE), f"{path.name}: no !pip"
        assert "sys.path" not in text, f"{path.name}: no sys.path edits (helpers is installed)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_executed_top_to_bottom(path: Path):
    counts = [c["execution_count"] for c in load(path)["cells"] if c["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts}: re-run it top to bottom in a fresh kernel"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_outputs_clean(path: Path):
    for index, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] != "code":
            continue
        expected_to_raise = RAISES_TAG in tags(cell)
        for output in cell["outputs"]:
            where = f"{path.name}, code cell with source {source(cell)[:60]!r}"
            if output["output_type"] == "error":
                assert expected_to_raise, f"{where}: error output in a cell not tagged {RAISES_TAG}"
            if output["output_type"] == "stream" and output["name"] == "stderr":
                raise AssertionError(
                    f"{where}: writes to stderr (a red box to a learner); print warnings "
                    "with helpers.errors.report_warnings() instead"
                )
            text = output_text(output)
            for problem, pattern in FORBIDDEN_IN_OUTPUTS.items():
                assert not pattern.search(text), f"{where} (cell {index}): output has {problem}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_ignored_outputs_say_why(path: Path):
    for cell in load(path)["cells"]:
        if IGNORE_TAG in tags(cell):
            assert re.search(rf"^# {IGNORE_TAG}: \S.{{8,}}", source(cell), re.MULTILINE), (
                f"{path.name}: a cell tagged {IGNORE_TAG} must say why in a comment line "
                f"'# {IGNORE_TAG}: <reason>':\n{source(cell)[:200]}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_ends_with_sources(path: Path):
    """Every claim about TensorFlow, Keras or a tool is proven in a cell or linked here."""
    last = load(path)["cells"][-1]
    text = source(last)
    assert last["cell_type"] == "markdown" and text.lstrip().startswith("## Sources"), (
        f"{path.name}: the last cell must be a '## Sources' section"
    )
    # Markdown links or bare URLs: JupyterLab renders both as links.
    assert re.search(r"https://\S+", text), f"{path.name}: Sources has no links"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_not_too_long(path: Path):
    count = len(load(path)["cells"])
    assert count <= MAX_CELLS, f"{path.name}: {count} cells; keep a notebook to {MAX_CELLS}"
