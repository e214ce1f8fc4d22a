"""A class through `kdlab hub` in a real browser: an instructor and two students, one round trip.

Debian's chromium, driven by Playwright (as tests/e2e/test_browser.py does), each
person in a browser context of their own (their own cookies): the instructor
signs up, logs in and releases 00-hello from formgrader; each student signs up,
logs in, fetches the assignment in the Assignments tab, writes the driver cell
(one the solution, one with a seeded bug), runs it, sees the results table,
saves and submits; the instructor collects, `kdlab grade` grades on this
machine, the instructor releases the feedback; each student fetches it and sees
their own score. A screenshot of each step goes to build/artifacts/hub/.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import pytest

from grader.batch import run as batch
from grader.images import build as images
from grader.lab.model import Lab
from tests import coursekit, hubkit, variants
from tests.conftest import LABS

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = coursekit.ARTIFACTS / "hub"
ASSIGNMENT = "00-hello"
TEACHER = "teacher"
PASSWORD = "a long class passphrase"
SPAWN_MS = hubkit.SPAWN_TIMEOUT_S * 1000
RESULTS_MS = 600_000


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: the toolchain image installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def grader_image() -> str:
    given = os.environ.get("KDLAB_TEST_GRADER_IMAGE")
    if given:
        return given
    images.build(["grader"])
    return images.IMAGES["grader"].tag


class Person:
    """One person at the hub in a browser context of their own."""

    def __init__(self, browser, hub, name: str) -> None:
        self.hub, self.name = hub, name
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.set_default_timeout(120_000)
        self.page = self.context.new_page()

    def shot(self, step: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{step}-{self.name}.png"))

    def sign_up_and_log_in(self) -> None:
        page = self.page
        page.goto(f"{self.hub.url}/hub/signup")
        page.fill("#username_input", self.name)
        page.fill("#password_input", PASSWORD)
        page.fill("#password_confirmation_input", PASSWORD)
        page.click("#signup_submit")
        page.wait_for_selector(".alert")
        page.goto(f"{self.hub.url}/hub/login")
        page.fill("#username_input", self.name)
        page.fill("#password_input", PASSWORD)
        page.click("#login_submit")
        # The hub starts the server and sends the browser on to JupyterLab.
        page.wait_for_url(f"**/user/{self.name}/lab**", timeout=SPAWN_MS)
        page.wait_for_selector(".jp-LabShell", timeout=SPAWN_MS)

    def formgrader(self, column: str) -> None:
        """Click the button of the assignment's row in formgrader's Manage Assignments."""
        page = self.page
        page.goto(f"{self.hub.url}/user/{self.name}/formgrader/manage_assignments")
        row = page.locator("tr", has=page.locator("td.name", has_text=ASSIGNMENT))
        row.locator(f"td.{column} a").click()
        page.wait_for_selector("#success-modal, #error-modal", timeout=600_000)
        self.shot(f"formgrader-{column}")
        assert page.locator("#error-modal").count() == 0, page.inner_text("#error-modal")

    def assignment_list(self, button: str) -> None:
        """Open the Assignments tab and press a button of the assignment (Fetch, Submit...)."""
        page = self.page
        page.goto(f"{self.hub.url}/user/{self.name}/lab")
        page.wait_for_selector(".jp-LabShell", timeout=SPAWN_MS)
        page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
        page.get_by_role("menuitem", name="Assignment List", exact=True).click()
        page.get_by_role("button", name=button, exact=True).first.click()
        # While nbgrader works, the button says so ("Fetching...", "Submitting...").
        page.wait_for_function(
            "() => ![...document.querySelectorAll('button')].some(b => "
            "b.innerText.trim().endsWith('ing...'))", timeout=300_000)

    def write_and_run_driver(self, rust: str) -> str:
        """Open the fetched notebook, replace the driver cell, run it: the results table."""
        page = self.page
        page.goto(f"{self.hub.url}/user/{self.name}/lab/tree/{ASSIGNMENT}/{ASSIGNMENT}.ipynb")
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=SPAWN_MS)
        page.locator(".jp-Notebook .jp-Cell").first.click()
        page.keyboard.press("Shift+Enter")  # the set-up cell (%load_ext grader.course.jupyter)
        driver = page.locator(".jp-CodeCell", has_text="%%kdlab_driver").first
        driver.locator(".cm-content").click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(f"%%kdlab_driver {ASSIGNMENT}\n{rust}")
        page.keyboard.press("Shift+Enter")
        table = driver.locator("table.kdlab-results")
        table.wait_for(state="attached", timeout=RESULTS_MS)
        table.scroll_into_view_if_needed()
        page.keyboard.press("Control+s")
        self.shot("ran-driver")
        return table.locator(".kdlab-total").inner_text()

    def feedback_page(self) -> str:
        _, listing = hubkit.request(self.hub, f"/user/{self.name}/api/contents/{ASSIGNMENT}/"
                                    "feedback")
        stamp = listing["content"][0]["name"]
        path = urllib.parse.quote(f"{ASSIGNMENT}/feedback/{stamp}/{ASSIGNMENT}.html")
        self.page.goto(f"{self.hub.url}/user/{self.name}/files/{path}")
        self.page.wait_for_selector("h1")
        self.shot("feedback")
        return self.page.inner_text("body")


def test_a_class_round_trip_in_the_browser(browser, grader_image) -> None:
    lab = Lab.load(LABS / ASSIGNMENT)
    drivers = {"ann": lab.solved(), "bob": variants.text(ASSIGNMENT, "bug_no_goodbye.patch")}
    with hubkit.running_hub(tuple(drivers), admin=TEACHER, mem="1536M") as (hub, settings):
        teacher = Person(browser, hub, TEACHER)
        teacher.sign_up_and_log_in()
        teacher.shot("01-logged-in")
        teacher.formgrader("assign")
        teacher.formgrader("release")

        students = {name: Person(browser, hub, name) for name in drivers}
        totals = {}
        for name, person in students.items():
            person.sign_up_and_log_in()
            person.shot("02-logged-in")
            person.assignment_list("Fetch")
            person.shot("03-fetched")
            totals[name] = person.write_and_run_driver(drivers[name])
            person.assignment_list("Submit")
            person.shot("04-submitted")
        assert f"{lab.max_score:g}" in totals["ann"], totals

        teacher.formgrader("collect")
        summary = batch.grade(batch.Options(course=settings.course, assignment=ASSIGNMENT,
                                            labs=LABS, jobs=2, image=grader_image))
        assert summary.complete, summary.describe()
        scores = {s: r["result"]["score"] for s, r in summary.records.items()}
        assert scores["ann"] == lab.max_score > scores["bob"], scores
        teacher.formgrader("release-feedback")

        for name, person in students.items():
            person.assignment_list("Fetch Feedback")
            text = person.feedback_page()
            assert f"{scores[name]:g} / {lab.max_score:g}" in text, text[:300]
        for person in (teacher, *students.values()):
            person.context.close()
