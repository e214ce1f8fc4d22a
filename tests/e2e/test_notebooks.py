"""Every course notebook runs top to bottom in a real Jupyter kernel, with the real engine.

nbclient executes the stored (instructor) notebook exactly as a student's
JupyterLab would: `%load_ext grader.course.jupyter`, the driver cell builds and boots
the solution, the self-check and every grade cell run on its result. Also: a
driver cell that does not compile shows rustc's message at the right line and
the grade cells still give 0 without raising.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from html import unescape
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from grader.lab.model import Lab
from tests import coursekit, variants
from tests.conftest import LABS, REPO

ASSIGNMENTS = coursekit.assignments()
#: Seconds a cell may run: a check is a build plus a boot (a few seconds each here).
CELL_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def workdir() -> Path:
    path = REPO / "build" / f"test-notebooks-{time.time_ns()}"
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def execute(notebook: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    """Run every cell in a fresh python3 kernel; errors are outputs, checked by the caller."""
    NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def outputs(cell: dict) -> list[dict]:
    return cell.get("outputs", [])


def html_of(cell: dict) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in outputs(cell)
                   if o["output_type"] in ("display_data", "execute_result"))


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def by_id(notebook: dict, cell_id: str) -> dict:
    return next(c for c in notebook["cells"] if c.get("id") == cell_id)


def grade_results(notebook: dict) -> dict[str, float]:
    """grade_id -> the number the grade cell returned (what nbgrader reads as its score)."""
    found = {}
    for cell in notebook["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade"):
            result = [o for o in outputs(cell) if o["output_type"] == "execute_result"]
            found[meta["grade_id"]] = float(result[0]["data"]["text/plain"]) if result else None
    return found


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebook_runs_top_to_bottom_with_full_marks(assignment: str, workdir: Path, pair) -> None:
    path = coursekit.COURSE / "source" / assignment / f"{assignment}.ipynb"
    notebook = execute(nbformat.read(path, as_version=4), workdir)
    coursekit.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, coursekit.ARTIFACTS / f"executed-{assignment}.ipynb")
    errors = [(c.get("id"), o.get("ename"), o.get("evalue")) for c in notebook.cells
              for o in outputs(c) if o["output_type"] == "error"
              or (o["output_type"] == "stream" and o["name"] == "stderr")]
    assert errors == []
    lab = Lab.load(LABS / assignment)
    driver = html_of(by_id(notebook, "driver"))
    assert 'class="kdlab-results"' in driver
    assert driver.count('class="kdlab-test kdlab-pass"') + driver.count("kdlab-hidden") == \
        len(lab.tests) + len(lab.trace_checks)
    assert "All " in text_of(html_of(by_id(notebook, "self-check")))
    grades = grade_results(notebook)
    expected = {f"test_{t.name}": t.points for t in (*lab.tests, *lab.trace_checks)}
    assert grades == expected
    if lab.register_maps:
        assert 'class="kdlab-register"' in html_of(by_id(notebook, "register-view"))
        assert "recorded by QEMU" in driver  # the device accesses, named by the map


def test_a_driver_that_does_not_compile_shows_rustc_at_the_cell_line(workdir: Path,
                                                                      pair) -> None:
    path = coursekit.COURSE / "source" / "00-hello" / "00-hello.ipynb"
    stored = json.loads(path.read_text())
    broken = coursekit.with_driver(stored, variants.text("00-hello", "compile_error.patch"))
    notebook = execute(nbformat.reads(json.dumps(broken), as_version=4), workdir)
    text = text_of(html_of(by_id(notebook, "driver")))
    assert "The module did not build" in text
    assert "hello.rs:35:" in text and "driver cell line 36" in text
    assert "35 |         let count = module_parameters::count.value()" in text
    assert set(grade_results(notebook).values()) == {0.0}
    assert not [o for c in notebook.cells for o in outputs(c) if o["output_type"] == "error"]
    streams = "".join(o.get("text", "") for o in outputs(by_id(notebook, "test-module_loads")))
    assert "not run: the module did not build" in streams
