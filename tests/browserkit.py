"""Helpers for the tests that drive Debian's chromium with Playwright.

The browser itself is the session fixture `browser` (tests/e2e/conftest.py): one
chromium for every browser test, each test in a page or context of its own. Here:
a JupyterLab server of the test's own (token auth, an isolated HOME and config so
nothing of the machine's leaks in) and Run All Cells done the way a person does it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests import coursekit, labkit
from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
SERVER_START_S = 90
#: A lab check in a browser: build and boot under TCG on a loaded machine.
RESULTS_TIMEOUT_MS = 300_000
#: The notebook on show (JupyterLab keeps other notebooks' tabs in the page, hidden).
SHOWN = ".jp-NotebookPanel:not(.lm-mod-hidden)"
#: A cell of the notebook on show has started: its prompt shows [*] or an execution count.
STARTED = (f"() => [...document.querySelectorAll('{SHOWN} .jp-InputArea-prompt')]"
           ".some(e => /\\[(\\*|\\d+)\\]/.test(e.innerText))")


@contextlib.contextmanager
def launch() -> Iterator[Any]:
    """Debian's chromium (the system browser: no download), headless, closed on exit."""
    if not CHROMIUM.is_file():
        raise AssertionError(f"{CHROMIUM} is missing: the toolchain image installs Debian's "
                             "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()


def run_all(page: Any, attempts: int = 3) -> None:
    """Run > Run All Cells, again if no cell started within 30 s (on a loaded machine
    JupyterLab can take the first click before the notebook's commands are ready)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(attempts):
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            page.wait_for_function(STARTED, timeout=30_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"no cell started after {attempts} times Run All Cells")


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"jupyter lab exited {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"jupyter lab did not answer in {SERVER_START_S} s:\n{log.read_text()}")


@contextlib.contextmanager
def jupyterlab_server(assignments: list[str]) -> Iterator[tuple[str, str, Path]]:
    """(base URL, token, notebook folder) of a JupyterLab serving the assignments' source
    notebooks, stopped (and its folder removed) on exit; its log goes to the artifacts."""
    work = REPO / "build" / f"test-browser-{time.time_ns()}"
    notebooks, home, config = work / "notebooks", work / "home", work / "config"
    for folder in (notebooks, home, config / "labconfig"):
        folder.mkdir(parents=True)
    for assignment in assignments:
        shutil.copy2(coursekit.COURSE / "source" / assignment / f"{assignment}.ipynb", notebooks)
    # No "news" prompt or other popups over the notebook.
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    token, port = secrets.token_hex(16), labkit.free_port()
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(config),
           "JUPYTER_RUNTIME_DIR": str(work / "runtime")}
    log = work / "jupyter.log"
    with log.open("w") as stream:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}"],
            cwd=notebooks, env=env, stdout=stream, stderr=subprocess.STDOUT,
            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(f"{base}/api/status?token={token}", proc, log)
        yield base, token, notebooks
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if coursekit.ARTIFACTS.is_dir():
            shutil.copy2(log, coursekit.ARTIFACTS / "browser-jupyter.log")
        shutil.rmtree(work, ignore_errors=True)
