"""`kdlab hub` end to end: accounts, a class's round trip in a real browser, isolation,
persistence.

One real hub for the module (grader.hub.server.start: the hub image, JupyterHub,
DockerSpawner, a lab container per user) with an instructor and three students on
the roster. The round trip is done the way people do it, in Debian's chromium
driven by Playwright, each person in a browser context of their own (their own
cookies): the instructor signs up, logs in and releases 00-hello from formgrader;
two students sign up, log in, fetch the assignment in the Assignments tab, write
the driver cell (one the solution, one with a seeded bug), run the notebook, see
the results table, save and submit; the instructor collects, `kdlab grade`
grades on this machine against the course folder, the instructor releases the
feedback; each student fetches it and sees their own score. Screenshots of each
step go to build/artifacts/hub/.

Along the way, from inside a student's container as that student: the exchange's
inbox and feedback cannot be listed, the released assignment cannot be changed,
there is no course folder, gradebook or hidden test, and the fetched notebook
has the hidden test's cell but not its code. Finally a student's saved work
survives a killed container and a stop and restart of the whole hub.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from typing import Any

import pytest

from grader.batch import run as batch
from grader.batch import sandbox
from grader.hub import server
from grader.lab.model import Lab
from tests import browserkit, coursekit, hubkit, variants
from tests.conftest import LABS

pytestmark = pytest.mark.e2e

ASSIGNMENT = "00-hello"
TEACHER, ANN, BOB, CAT = "teacher", "ann", "bob", "cat"
PASSWORD = "a long class passphrase"
EXCHANGE = f"/srv/nbgrader/exchange/{hubkit.COURSE_ID}"
NOTEBOOK = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
SHOTS = coursekit.ARTIFACTS / "hub"
SPAWN_MS = hubkit.SPAWN_TIMEOUT_S * 1000


@pytest.fixture(scope="module")
def hub():
    with hubkit.running_hub((ANN, BOB, CAT), admin=TEACHER, mem="1536M") as running:
        yield running


def test_roster_students_sign_up_and_log_in_strangers_do_not(hub) -> None:
    running, _ = hub
    stranger = hubkit.Browserless(running)
    assert "sent to the admin" in stranger.sign_up("carol-not-listed", "a long passphrase 1")
    assert not stranger.log_in("carol-not-listed", "a long passphrase 1")
    cat = hubkit.Browserless(running)
    cat.sign_up(CAT, "cat's long passphrase")
    assert cat.log_in(CAT, "cat's long passphrase")
    assert not hubkit.Browserless(running).log_in(CAT, "a wrong passphrase")


class Person:
    """One person at the hub in a browser context of their own."""

    def __init__(self, browser: Any, hub: server.Hub, name: str) -> None:
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
        """Open the fetched notebook, write the driver cell, run every cell, save: the
        results table's total."""
        page = self.page
        page.goto(f"{self.hub.url}/user/{self.name}/lab/tree/{NOTEBOOK}")
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=SPAWN_MS)
        driver = page.locator(".jp-CodeCell", has_text="%%kdlab_driver").first
        driver.locator(".cm-content").click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(f"%%kdlab_driver {ASSIGNMENT}\n{rust}")
        browserkit.run_all(page)
        # The results table, or the cell's error output if the driver cell failed to run.
        outcome = driver.locator("table.kdlab-results, .jp-OutputArea-output"
                                 "[data-mime-type='application/vnd.jupyter.stderr']").first
        outcome.wait_for(state="attached", timeout=browserkit.RESULTS_TIMEOUT_MS)
        table = driver.locator("table.kdlab-results")
        assert table.count() == 1, driver.inner_text()
        table.scroll_into_view_if_needed()
        page.keyboard.press("Control+s")
        self.shot("ran-driver")
        return table.locator(".kdlab-total").inner_text()

    def feedback_page(self) -> tuple[str, str]:
        """The fetched feedback page as the student opens it: (text shown, its HTML)."""
        listing = hubkit.contents(self.hub, self.name, f"{ASSIGNMENT}/feedback")
        stamp = listing["content"][0]["name"]
        path = urllib.parse.quote(f"{ASSIGNMENT}/feedback/{stamp}/{ASSIGNMENT}.html")
        self.page.goto(f"{self.hub.url}/user/{self.name}/files/{path}")
        self.page.wait_for_selector("h1")
        self.shot("feedback")
        return self.page.inner_text("body"), self.page.content()


def _students_cannot_reach_what_is_not_theirs(running: server.Hub) -> None:
    """From inside ANN's container as ANN: no inbox, no feedback of others, no changing
    the release, no course folder, gradebook or hidden test; a uid of her own."""
    for command in (f"ls {EXCHANGE}/inbound", f"ls {EXCHANGE}/feedback",
                    f"touch {EXCHANGE}/outbound/{ASSIGNMENT}/mine",
                    "ls /home/student/work/source", "ls /home/student/work/gradebook.db",
                    f"ls /opt/kdlab/labs/{ASSIGNMENT}/hidden"):
        code, output = hubkit.run_as_user(running, ANN, command)
        assert code != 0, (command, output)
    code, output = hubkit.run_as_user(running, ANN, "id -u; stat -c %u /home/student/work")
    uid, owner = output.split()
    assert uid == owner and int(uid) >= 100000, output
    _, bob_uid = hubkit.run_as_user(running, BOB, "id -u")
    assert bob_uid.strip() != uid
    mounts = {m["Destination"] for m in hubkit.user_container(running, ANN).attrs["Mounts"]}
    assert mounts == {"/home/student/work", "/srv/nbgrader/exchange"}, mounts


def test_a_class_round_trip_in_the_browser(hub, browser, grader_image) -> None:
    running, settings = hub
    lab = Lab.load(LABS / ASSIGNMENT)
    drivers = {ANN: lab.solved(), BOB: variants.text(ASSIGNMENT, "bug_no_goodbye.patch")}
    teacher = Person(browser, running, TEACHER)
    students = {name: Person(browser, running, name) for name in drivers}
    try:
        teacher.sign_up_and_log_in()
        teacher.shot("01-logged-in")
        teacher.formgrader("assign")
        teacher.formgrader("release")

        totals = {}
        for name, person in students.items():
            person.sign_up_and_log_in()
            person.shot("02-logged-in")
            person.assignment_list("Fetch")
            person.shot("03-fetched")
            # The hidden test's cell is there (it is graded), its code is not.
            fetched = json.dumps(hubkit.contents(running, name, NOTEBOOK)["content"])
            assert "test_parameter_default" in fetched
            assert "HIDDEN TESTS" not in fetched and "'parameter_default')" not in fetched
            totals[name] = person.write_and_run_driver(drivers[name])
            person.assignment_list("Submit")
            person.shot("04-submitted")
        assert f"{lab.max_score:g}" in totals[ANN], totals
        _students_cannot_reach_what_is_not_theirs(running)

        # The instructor collects; each submission is owned by the student it names.
        teacher.formgrader("collect")
        for name in drivers:
            assert (settings.course / "submitted" / name / ASSIGNMENT
                    / f"{ASSIGNMENT}.ipynb").is_file()
        summary = batch.grade(batch.Options(course=settings.course, assignment=ASSIGNMENT,
                                            labs=LABS, jobs=2, image=grader_image))
        assert summary.complete, summary.describe()
        scores = {s: r.score for s, r in summary.records.items()}
        assert scores[ANN] == lab.max_score > scores[BOB], scores
        teacher.formgrader("release-feedback")

        for name, person in students.items():
            person.assignment_list("Fetch Feedback")
            text, html = person.feedback_page()
            assert f"{scores[name]:g} / {lab.max_score:g}" in text, text[:300]
            assert f"feedback for {name}</title>" in html  # their own page, not another's
    except Exception:
        for person in (teacher, *students.values()):
            with contextlib.suppress(Exception):  # the page may be what failed
                person.shot("failure")
        raise
    finally:
        for person in (teacher, *students.values()):
            person.context.close()


def test_work_survives_a_killed_container_and_a_hub_restart(hub) -> None:
    running, settings = hub
    hubkit.start_servers(running, [ANN])
    hubkit.contents(running, ANN, "notes.txt", "PUT",
                    {"type": "file", "format": "text", "content": "kept\n"})
    hubkit.user_container(running, ANN).kill()
    hubkit.stop_server(running, ANN)
    hubkit.start_servers(running, [ANN])
    assert hubkit.contents(running, ANN, "notes.txt")["content"] == "kept\n"

    client = sandbox.client()
    server.stop(client, running.name)
    assert not [c for c in client.containers.list(all=True)
                if c.name.startswith(running.name)]
    # Started again, without the roster: the students are in the hub's database.
    again = server.start(client, server.Settings(**{**settings.__dict__, "students": ()}))
    hubkit.start_servers(again, [ANN])
    assert hubkit.contents(again, ANN, "notes.txt")["content"] == "kept\n"
    assert hubkit.contents(again, ANN, NOTEBOOK)["type"] == "notebook"
