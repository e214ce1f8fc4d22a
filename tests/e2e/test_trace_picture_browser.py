"""The device-trace timeline as people see it: in JupyterLab and on the feedback page.

Runs lab 03's and lab 05's notebooks (their solutions) in a real JupyterLab driven
by Debian's chromium (tests/browserkit.py has the server and the browser), waits
for the timeline picture under the results and checks that the browser decoded it;
then renders the batch feedback page of lab 03's seeded bug that fails a trace
check and looks at its picture. Screenshots go to build/artifacts/.
"""

from __future__ import annotations

import pytest

from grader.batch import report as batch_report
from grader.batch.journal import GradeRecord
from grader.grading import check
from grader.lab.model import Lab
from tests import browserkit, coursekit, variants
from tests.conftest import LABS

NOTEBOOKS = ["03-pci-registers", "05-edu-capstone"]
#: An image the browser could decode has a natural width; a broken one has 0.
DECODED = "img => img.complete && img.naturalWidth > 0"
SHOWN = browserkit.SHOWN


@pytest.fixture(scope="module")
def jupyterlab():
    with browserkit.jupyterlab_server(NOTEBOOKS) as server:
        yield server


@pytest.mark.parametrize("assignment", NOTEBOOKS)
def test_notebook_results_show_the_timeline(jupyterlab, browser, pair, assignment) -> None:
    base, token, _ = jupyterlab
    coursekit.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # A workspace of its own: only this notebook open, whatever the previous test left.
    page.goto(f"{base}/lab/workspaces/{assignment}/tree/{assignment}.ipynb?reset&token={token}")
    page.wait_for_selector(f"{SHOWN} .jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=120_000)
    try:
        browserkit.run_all(page)
        picture = page.wait_for_selector(f"{SHOWN} img.kdlab-timeline", state="attached",
                                         timeout=browserkit.RESULTS_TIMEOUT_MS)
        # (JupyterLab hides cells scrolled far out of view: look at it first)
        picture.scroll_into_view_if_needed()
        assert picture.evaluate(DECODED)
        section = picture.evaluate_handle("img => img.closest('.kdlab-trace')").as_element()
        text = section.text_content() or ""
        assert "Device accesses" in text and "grouped by step" in text
        page.screenshot(path=str(coursekit.ARTIFACTS / f"browser-{assignment}-timeline.png"))
        section.query_selector("details summary").click()  # open the grouped list
        grouped = section.text_content() or ""
        for test in Lab.load(LABS / assignment).tests:
            assert f"── {test.name} (" in grouped, test.name
    except Exception:
        page.screenshot(path=str(coursekit.ARTIFACTS / f"browser-{assignment}-timeline-failure"
                                                       ".png"), full_page=True)
        raise
    finally:
        page.close()


def test_feedback_page_shows_the_timeline_with_the_failed_check(browser, pair, tmp_path) -> None:
    lab_dir = LABS / "03-pci-registers"
    source = variants.path("03-pci-registers", "bug_writes_count.patch", tmp_path)
    result = check.run(lab_dir, source, pair).to_json()
    assert result["trace"]["timeline"]["marks"][0]["check"] == "never_writes_count"
    record = GradeRecord("alice", assignment="03-pci-registers", status="graded",
                         result=result)
    coursekit.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page_file = coursekit.ARTIFACTS / "feedback-03-bug_writes_count.html"
    page_file.write_text(batch_report.feedback_html(record), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.goto(page_file.as_uri())
        picture = page.wait_for_selector("img.kdlab-timeline", state="attached")
        assert picture.evaluate(DECODED)
        picture.scroll_into_view_if_needed()
        page.screenshot(path=str(coursekit.ARTIFACTS / "feedback-03-timeline.png"))
    finally:
        page.close()
