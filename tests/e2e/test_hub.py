"""`kdlab hub` end to end: accounts, nbgrader's round trip between users, isolation, persistence.

A real hub (grader.hub.server.start: the hub image, JupyterHub, DockerSpawner, a
lab container per user) with an instructor and two students on the roster. The
round trip goes through the hub's proxy into each person's own server, with the
calls the Jupyter extensions make: formgrader's Generate and Release, the
Assignments tab's Fetch, the notebook saved by the editor, Submit, formgrader's
Collect, `kdlab grade` on this machine against the course folder, formgrader's
Release feedback, and the Assignments tab's Fetch feedback; each student then
reads their own score in their feedback page. Along the way, from inside a
student's container as that student: the exchange's inbox and feedback cannot
be listed, the released assignment cannot be changed, there is no course folder,
gradebook or hidden test. Finally a student's saved work survives a killed
container and a stop and restart of the whole hub.
"""

from __future__ import annotations

import json
import os

import pytest

from grader.batch import run as batch
from grader.batch import sandbox
from grader.hub import server
from grader.images import build as images
from grader.lab.model import Lab
from tests import coursekit, hubkit, variants
from tests.conftest import LABS

pytestmark = pytest.mark.e2e

ASSIGNMENT = "00-hello"
TEACHER, ANN, BOB = "teacher", "ann", "bob"
EXCHANGE = f"/srv/nbgrader/exchange/{hubkit.COURSE_ID}"
NOTEBOOK = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"


@pytest.fixture(scope="module")
def grader_image() -> str:
    given = os.environ.get("KDLAB_TEST_GRADER_IMAGE")
    if given:
        return given
    images.build(["grader"])
    return images.IMAGES["grader"].tag


@pytest.fixture(scope="module")
def hub():
    with hubkit.running_hub((ANN, BOB), admin=TEACHER, mem="1536M") as running:
        yield running


def test_roster_students_sign_up_and_log_in_strangers_do_not(hub) -> None:
    running, _ = hub
    stranger = hubkit.Browserless(running)
    assert "sent to the admin" in stranger.sign_up("carol-not-listed", "a long passphrase 1")
    assert not stranger.log_in("carol-not-listed", "a long passphrase 1")
    ann = hubkit.Browserless(running)
    ann.sign_up(ANN, "ann's long passphrase")
    assert ann.log_in(ANN, "ann's long passphrase")
    assert not hubkit.Browserless(running).log_in(ANN, "a wrong passphrase")


def test_release_fetch_submit_collect_grade_feedback_between_users(hub, grader_image) -> None:
    running, settings = hub
    course = settings.course
    hubkit.start_servers(running, [TEACHER, ANN, BOB])

    # The instructor generates and releases the assignment from formgrader.
    hubkit.formgrader(running, TEACHER, "assign", ASSIGNMENT)
    hubkit.formgrader(running, TEACHER, "release", ASSIGNMENT)

    # Each student fetches it (Assignments tab), completes the driver cell, saves.
    lab = Lab.load(LABS / ASSIGNMENT)
    drivers = {ANN: lab.solved(), BOB: variants.text(ASSIGNMENT, "bug_no_goodbye.patch")}
    for student, rust in drivers.items():
        listed = hubkit.nbgrader_action(running, student, "fetch", ASSIGNMENT)
        assert any(a["assignment_id"] == ASSIGNMENT and a["status"] == "fetched"
                   for a in listed["value"]), listed
        model = hubkit.contents(running, student, NOTEBOOK)
        source = json.dumps(model["content"])
        # The hidden test's cell is there (it is graded), its code is not.
        assert "test_parameter_default" in source
        assert "HIDDEN TESTS" not in source and "'parameter_default')" not in source
        hubkit.contents(running, student, NOTEBOOK, "PUT", {
            "type": "notebook", "format": "json",
            "content": coursekit.with_driver(model["content"], rust)})
        hubkit.nbgrader_action(running, student, "submit", ASSIGNMENT)

    # What a student can reach, as that student, in their own container.
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

    # The instructor collects; each submission is owned by the student it names.
    collected = hubkit.formgrader(running, TEACHER, "collect", ASSIGNMENT)
    assert "cheating attempt" not in collected.get("log", ""), collected
    for student in drivers:
        assert (course / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()

    # Grading on this machine, against the course folder, in sandboxes.
    summary = batch.grade(batch.Options(course=course, assignment=ASSIGNMENT, labs=LABS,
                                        jobs=2, image=grader_image))
    assert summary.complete, summary.describe()
    scores = {s: r["result"]["score"] for s, r in summary.records.items()}
    assert scores[ANN] == lab.max_score and scores[BOB] < scores[ANN], scores

    hubkit.formgrader(running, TEACHER, "release_feedback", ASSIGNMENT)
    for student, score in scores.items():
        hubkit.nbgrader_action(running, student, "fetch_feedback", ASSIGNMENT)
        stamps = hubkit.contents(running, student, f"{ASSIGNMENT}/feedback")["content"]
        assert len(stamps) == 1, stamps
        page = hubkit.contents(running, student,
                               f"{ASSIGNMENT}/feedback/{stamps[0]['name']}/{ASSIGNMENT}.html")
        assert f"{score:g} / {lab.max_score:g}" in page["content"], page["content"][:400]
        assert student in page["content"]


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
