"""JupyterLab in a real browser: a lab notebook run to its results table, and the
student's lab as the student sees it.

The first test starts its own JupyterLab server on a free port (token auth, an
isolated HOME and config so nothing of the machine's leaks in), drives Debian's
chromium with Playwright (the system browser: no download), runs every cell,
waits for the driver cell's ipywidgets progress and then its results table, and
checks the table as rendered in the page. The second starts the student image
the way `kdlab lab` does and looks at what it offers: nbgrader's student side
only, and no pop-up. Screenshots go to build/artifacts/ (kept for CI and for
looking at).
"""

from __future__ import annotations

import shutil

import pytest

from grader.lab.model import Lab
from tests import browserkit, coursekit, labkit
from tests.conftest import LABS

ASSIGNMENT = "00-hello"


@pytest.fixture(scope="module")
def jupyterlab():
    """(base URL, token, notebook folder) of a JupyterLab started for this test."""
    with browserkit.jupyterlab_server([ASSIGNMENT]) as server:
        yield server


def test_run_the_check_cell_and_see_the_results_table(jupyterlab, browser, pair) -> None:
    base, token, _ = jupyterlab
    lab = Lab.load(LABS / ASSIGNMENT)
    coursekit.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/lab/tree/{ASSIGNMENT}.ipynb?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=120_000)

    try:
        browserkit.run_all(page)

        # The driver cell's ipywidgets progress: a bar and a live status line.
        page.wait_for_selector(".jupyter-widgets .progress-bar", state="attached",
                               timeout=60_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jupyter-widgets')]"
            ".some(e => e.innerText.includes('building hello.rs as hello.ko'))",
            timeout=60_000)
        page.locator(".jupyter-widgets .progress-bar").first.scroll_into_view_if_needed()
        page.screenshot(path=str(coursekit.ARTIFACTS / "browser-00-hello-progress.png"))

        table = page.wait_for_selector("table.kdlab-results", state="attached",
                                       timeout=browserkit.RESULTS_TIMEOUT_MS)
        rows = table.query_selector_all("tbody tr.kdlab-test")
        shown = {row.get_attribute("data-test"): row.inner_text() for row in rows}
        assert list(shown) == [t.name for t in lab.tests]
        policy = {"parameter_default"}  # lab.toml hides it until grading
        for name, text in shown.items():
            assert ("hidden" if name in policy else "PASS") in text, (name, text)
        total = table.query_selector(".kdlab-total").inner_text()
        visible = sum(t.points for t in lab.tests if t.name not in policy)
        assert total.startswith(f"{visible:g}/{visible:g}"), total
        assert page.query_selector(".jupyter-widgets .progress-bar") is None  # now the results

        table.scroll_into_view_if_needed()
        page.screenshot(path=str(coursekit.ARTIFACTS / "browser-00-hello-results.png"))
        # The grade cells ran on the same result: the last one printed its outcome.
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-OutputArea-output')]"
            ".some(e => e.innerText.includes('PASS parameter_default'))", timeout=120_000)
    except Exception:
        page.screenshot(path=str(coursekit.ARTIFACTS / "browser-00-hello-failure.png"),
                        full_page=True)
        raise
    finally:
        page.close()


@pytest.fixture(scope="module")
def student_lab():
    """The student image, started as `kdlab lab` starts it, on a new host folder."""
    labkit.lab_image()
    work = labkit.SCRATCH / labkit.unique("browser-work")
    with labkit.running_lab(work=work) as (server, _):
        yield server
    shutil.rmtree(work, ignore_errors=True)


#: What the instructor's side of nbgrader shows (menu entries, sidebar tab, palette).
INSTRUCTOR_ONLY = ("Formgrader", "Course List", "Create assignment", "Create Assignment")
NEWS_PROMPT = "official Jupyter news"
#: How long the news prompt would take to show after the page has loaded, at most.
NEWS_WAIT_MS = 8_000


def test_the_student_sees_the_student_side_only(student_lab, browser) -> None:
    server = student_lab
    coursekit.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    notebook = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
    try:
        page.goto(f"http://127.0.0.1:{server.port}/lab/tree/{notebook}?token={server.token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        # The student's side: Validate on the notebook, the assignment list in the menu.
        page.get_by_role("button", name="Validate").wait_for(timeout=30_000)
        page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
        menu = page.locator("#jp-mainmenu-nbgrader")
        menu.get_by_text("Assignment List", exact=True).wait_for(timeout=10_000)
        entries = menu.inner_text()
        page.screenshot(path=str(coursekit.ARTIFACTS / "browser-student-menu.png"))
        page.keyboard.press("Escape")
        for label in INSTRUCTOR_ONLY:
            assert label not in entries, entries
        # No Create Assignment panel in the sidebars.
        tabs = " ".join(page.locator(".jp-SideBar .lm-TabBar-tab").all_inner_texts()
                        + [t.get_attribute("title") or "" for t in
                           page.locator(".jp-SideBar .lm-TabBar-tab").all()])
        assert not any(label in tabs for label in INSTRUCTOR_ONLY), tabs
        # The news prompt would be a toast soon after the page loaded.
        page.wait_for_timeout(NEWS_WAIT_MS)
        page.screenshot(path=str(coursekit.ARTIFACTS / "browser-student-lab.png"))
        assert NEWS_PROMPT not in page.locator("body").inner_text(), "the news pop-up shows"
    except Exception:
        page.screenshot(path=str(coursekit.ARTIFACTS / "browser-student-failure.png"),
                        full_page=True)
        raise
    finally:
        page.close()
