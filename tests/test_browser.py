"""A learner's view: JupyterLab in headless Chromium runs a notebook with no red boxes.

Starts JupyterLab on a temporary copy of one notebook (never the committed file: JupyterLab
autosaves), opens it in Debian's Chromium driven by Playwright (nothing downloads a browser),
checks the kernel is the kit's, runs all cells from the Run menu, waits until every code cell
has an execution count and the kernel is idle, and fails on any error or stderr output. A
scratch notebook with a deliberate stderr line and a deliberate error is run first, in the same
server, to prove those detectors see what they must. A screenshot goes to build/screenshots/.

A second test opens the MLflow UI (notebook 13) on a registry like the notebook's and checks
its registered-model page, refusing any request to another host.

Skips when no Chromium is found, except when the CI environment variable is set: then a
missing browser fails the test.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from helpers.kit.setup import KERNEL_NAME, isolated_home_env

ROOT = Path(__file__).resolve().parent.parent
# Runs in about 20 s in a fresh kernel, starts no other process and needs nothing cached.
NOTEBOOK = ROOT / "notebooks" / "02_custom_module_checkpoints.ipynb"
SCREENSHOTS = ROOT / "build" / "screenshots"
KERNEL_DISPLAY_NAME = "Python 3 (TF saving kit)"
SERVER_START_TIMEOUT = 90  # seconds
RUN_TIMEOUT = 300  # seconds for the whole notebook, in a loaded classroom machine too
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# JupyterLab 4 renders stderr streams AND errors (tracebacks) with this mime type: the red
# boxes a learner reads as failures. (Checked against the scratch notebook below; it has no
# separate class for error outputs, so the saved file tells the two kinds apart.)
RED_BOX_SELECTOR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def find_chromium() -> str:
    """The system Chromium; skip (or fail under CI) when there is none."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    reason = "no Chromium found (/usr/bin/chromium or `chromium` on PATH); apt-get install chromium"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so the browser test must run: {reason}")
    pytest.skip(reason)


@pytest.fixture
def browser():
    """Debian's Chromium, headless, driven by Playwright; skips without either (fails under CI)."""
    chromium = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"playwright is not installed: {error}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield launched
        finally:
            launched.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api(base: str, token: str, path: str, put: object = None) -> object:
    """GET (or PUT ``put`` as JSON to) the server's REST API."""
    request = urllib.request.Request(
        f"{base}{path}",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        data=None if put is None else json.dumps(put).encode(),
        method="GET" if put is None else "PUT",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
        return json.loads(body) if body else None


def scratch_notebook(path: Path) -> None:
    """Two deliberately bad cells: one writes to stderr, one raises."""
    cells = [
        nbformat.v4.new_code_cell('import sys\n\nprint("a warning", file=sys.stderr)'),
        nbformat.v4.new_code_cell('raise ValueError("a deliberate error")'),
    ]
    metadata = {"kernelspec": {"name": KERNEL_NAME, "display_name": KERNEL_DISPLAY_NAME}}
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=metadata), path)


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a temporary folder; yields (base URL, token, folder)."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    env = {**os.environ, "KIT_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    for name, value in isolated_home_env(tmp_path / "home").items():
        Path(value).mkdir(parents=True, exist_ok=True)
        env[name] = value
    token, port = secrets.token_hex(16), free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
        f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = (tmp_path / "jupyterlab.log").open("wb")
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited early: {(tmp_path / 'jupyterlab.log').read_text()}")
            try:
                api(base, token, "/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within {SERVER_START_TIMEOUT} s")
                time.sleep(0.5)
        # Render every cell (JupyterLab 4 otherwise leaves cells out of view unrendered, and
        # the page could not show their prompts or red boxes). Stored under the temporary
        # JUPYTER_CONFIG_DIR, like everything else this server writes.
        settings = {"raw": json.dumps({"windowingMode": "none"})}
        api(base, token, "/lab/api/settings/@jupyterlab/notebook-extension:tracker", settings)
        yield base, token, folder
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        log.close()


def run_all(page, base: str, token: str, name: str, code_cells: int) -> dict[str, object]:
    """Open ``name``, check its kernel, run all cells, wait; return what the page shows."""
    page.goto(f"{base}/lab/tree/{name}?token={token}", timeout=60_000)
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60_000)
    kernel = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) [data-jp-item-name="kernelName"]')
    kernel.filter(has_text=KERNEL_DISPLAY_NAME).wait_for(timeout=60_000)
    wait_kernel_idle(base, token, name, deadline=time.monotonic() + 60)

    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        prompts = notebook.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
        done = len(prompts) == code_cells and all(p.strip().strip("[]:").isdigit() for p in prompts)
        if done and kernel_state(base, token, name) == "idle":
            break
        if time.monotonic() > deadline:
            pytest.fail(f"{name}: not finished within {RUN_TIMEOUT} s; prompts: {prompts}")
        time.sleep(1)
    return {
        "kernel": kernel.inner_text(),
        "prompts": prompts,
        "red_boxes": notebook.locator(RED_BOX_SELECTOR).all_inner_texts(),
    }


def save_and_read(page, path: Path, code_cells: int) -> dict[str, list[str]]:
    """Save from the browser (Ctrl+S), then read the error and stderr outputs from the file."""
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first.click()
    page.keyboard.press("Escape")  # command mode: Ctrl+S saves the notebook
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while True:
        notebook = nbformat.read(path, as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        if len(code) == code_cells and all(cell.execution_count for cell in code):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} was not saved with its outputs within 30 s")
        time.sleep(0.5)
    outputs = [output for cell in code for output in cell.outputs]
    return {
        "errors": [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"],
        "stderr": [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"],
    }


def kernel_state(base: str, token: str, name: str) -> str | None:
    """The execution state of the kit's kernel attached to notebook ``name`` (None: none yet)."""
    for session in api(base, token, "/api/sessions"):
        if session["path"] == name:
            kernel = session["kernel"]
            assert kernel["name"] == KERNEL_NAME, f"{name} runs on kernel {kernel['name']!r}"
            return kernel["execution_state"]
    return None


def wait_kernel_idle(base: str, token: str, name: str, deadline: float) -> None:
    while kernel_state(base, token, name) != "idle":
        if time.monotonic() > deadline:
            pytest.fail(f"the kernel of {name} did not become idle")
        time.sleep(0.5)


def test_notebook_runs_in_jupyterlab_without_red_boxes(browser, lab):
    base, token, folder = lab
    fresh = nbformat.read(NOTEBOOK, as_version=4)
    for cell in fresh.cells:  # as a learner opens it after "Clear All Outputs"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(fresh, folder / NOTEBOOK.name)
    scratch_notebook(folder / "scratch_failing.ipynb")
    expected_cells = sum(cell.cell_type == "code" for cell in fresh.cells)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)

    # The detectors first: a stderr line and an error must both be seen.
    scratch = run_all(page, base, token, "scratch_failing.ipynb", 2)
    assert len(scratch["red_boxes"]) == 2, scratch
    assert "a warning" in scratch["red_boxes"][0], scratch
    assert "a deliberate error" in scratch["red_boxes"][1], scratch
    saved = save_and_read(page, folder / "scratch_failing.ipynb", 2)
    assert saved == {
        "errors": ["ValueError: a deliberate error"],
        "stderr": ["a warning\n"],
    }, saved

    start = time.monotonic()
    shown = run_all(page, base, token, NOTEBOOK.name, expected_cells)
    print(f"{NOTEBOOK.name} ran in JupyterLab in {time.monotonic() - start:.1f} s")
    page.screenshot(path=str(SCREENSHOTS / f"{NOTEBOOK.stem}.png"))
    assert shown["kernel"].strip() == KERNEL_DISPLAY_NAME
    assert shown["red_boxes"] == [], f"red boxes (stderr or errors): {shown['red_boxes']}"
    saved = save_and_read(page, folder / NOTEBOOK.name, expected_cells)
    assert saved == {"errors": [], "stderr": []}, saved


@pytest.mark.parametrize("ci", ["", "1"], ids=["no-CI-skips", "CI-fails"])
def test_a_missing_browser_skips_except_under_ci(monkeypatch, ci):
    monkeypatch.setattr(Path, "is_file", lambda self: False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    if ci:
        monkeypatch.setenv("CI", ci)
    else:
        monkeypatch.delenv("CI", raising=False)
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(outcome, match="no Chromium found"):
        find_chromium()


# --- notebook 13: the MLflow UI's registered-model page --------------------------------------

MLFLOW_START_TIMEOUT = 300  # seconds: `mlflow ui` imports a lot; a busy 2-core machine is slow


def registry_like_notebook_13(folder: Path) -> str:
    """An MLflow registry in an SQLite file, as notebook 13 leaves it: model ``digits``, two
    versions tagged with their test accuracy, ``champion`` on version 2. Returns its URI."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{(folder / 'mlflow.db').as_posix()}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("digits", artifact_location=(folder / "store").as_uri())
    run = client.create_run(experiment)
    (folder / "model").mkdir()
    (folder / "model" / "MLmodel").write_text("flavors: {}\n")  # a stand-in for a logged model
    client.log_artifacts(run.info.run_id, str(folder / "model"), artifact_path="model")
    client.create_registered_model("digits", tags={"task": "8x8 digit -> 10 probabilities"})
    for accuracy in ("0.9528", "0.9556"):
        source = f"runs:/{run.info.run_id}/model"
        tags = {"test_accuracy": accuracy}
        client.create_model_version("digits", source, run_id=run.info.run_id, tags=tags)
    client.set_registered_model_alias("digits", "champion", "2")
    return uri


@pytest.fixture
def mlflow_ui(tmp_path, monkeypatch):
    """`mlflow ui` on 127.0.0.1 and a free port, on a registry like notebook 13's; its URL."""
    from helpers.kit import registry

    for name, value in {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    uri = registry_like_notebook_13(tmp_path)
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
    }
    for name, value in isolated_home_env(tmp_path / "home").items():
        env[name] = value
    env["HOME"] = str(tmp_path / "home")
    port, log = free_port(), tmp_path / "mlflow-ui.log"
    command = [
        sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    server = registry.start(command, log, env)
    base = f"http://127.0.0.1:{port}"
    try:
        registry.wait_until_ready(f"{base}/health", server, log, timeout=MLFLOW_START_TIMEOUT)
        yield base
    finally:
        registry.stop(server)


def test_mlflow_ui_shows_the_registered_model_offline(browser, mlflow_ui):
    """Notebook 13's registry in the MLflow UI: versions, tags and the alias are on the page,
    and the page asks nothing of any host but the local server."""
    import urllib.parse

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    elsewhere: list[str] = []

    def local_only(route) -> None:
        url = route.request.url
        if url.startswith("data:") or urllib.parse.urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:  # refused and recorded: the test fails below
            elsewhere.append(url)
            route.abort()

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    page.route("**/*", local_only)
    page.goto(f"{mlflow_ui}/#/models/digits", timeout=120_000)
    for shown in ("Version 1", "Version 2", "champion", "0.9528", "0.9556"):
        page.get_by_text(shown).first.wait_for()  # the page fills in piece by piece
    page.screenshot(path=str(SCREENSHOTS / "13_mlflow_ui_registered_model.png"))
    text = page.inner_text("body")
    assert "Registered Models" in text and "digits" in text
    assert "Version 1" in text and "Version 2" in text
    assert "Version 3" not in text  # the detector sees only what the registry holds
    assert "champion" in text and "0.9556" in text and "0.9528" in text
    assert elsewhere == [], f"the MLflow UI asked other hosts: {elsewhere}"
