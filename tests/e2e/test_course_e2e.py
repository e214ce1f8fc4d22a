"""The nbgrader course graded end to end: the real nbgrader, the real engine, real QEMU.

Per lab, on a scratch copy of the course under build/: three submissions made
from the released notebook — the solution typed in (full marks), the release
untouched (the lab's free points at most), a seeded bug from tests/labs/<lab>/
(partial credit) — go through `autograde`, `generate_feedback`, then `export` once
for all labs; the gradebook, the CSV and the feedback HTML must say what the
engine found, and `nbgrader validate` passes on the solution.
For 00-hello a fourth submission panics in init: its feedback must name the
faulting function and show the kernel log around it.
"""

from __future__ import annotations

import csv
import re
import time
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

import pytest

from grader.lab.model import Lab
from tests import coursekit, variants
from tests.conftest import LABS

ASSIGNMENTS = coursekit.assignments()


def _lab(assignment: str) -> Lab:
    return Lab.load(LABS / assignment)


@dataclass
class Graded:
    """One lab's submissions after autograde + generate_feedback."""

    course: Path
    assignment: str
    students: dict[str, str]  # student -> what they submitted
    scores: dict[str, float] = field(default_factory=dict)
    max_score: float = 0.0
    cells: dict[str, dict[str, float]] = field(default_factory=dict)  # student -> grade_id -> pts

    def feedback(self, student: str) -> str:
        path = (self.course / "feedback" / student / self.assignment /
                f"{self.assignment}.html")
        coursekit.save_artifact(path, f"feedback-{self.assignment}-{student}.html")
        return unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def _read_gradebook(graded: Graded) -> None:
    from nbgrader.api import Gradebook

    url = f"sqlite:///{graded.course / 'gradebook.db'}"
    with Gradebook(url, "kdlab") as gb:
        for student in graded.students:
            submission = gb.find_submission(graded.assignment, student)
            graded.scores[student] = submission.score
            graded.max_score = submission.max_score
            notebook = gb.find_submission_notebook(graded.assignment, graded.assignment, student)
            graded.cells[student] = {g.name: g.score for g in notebook.grades}


@pytest.fixture(scope="module")
def grade(nbgrader_course: Path, released: dict):
    """grade(assignment): submit, autograde and give feedback for one lab (once)."""
    done: dict[str, Graded] = {}

    def run(assignment: str) -> Graded:
        if assignment in done:
            return done[assignment]
        lab = _lab(assignment)
        release = released[assignment]
        submissions = {"solution": coursekit.with_driver(release, lab.solution()),
                       "untouched": release}
        students = {"solution": "the lab's solution", "untouched": "the release as is"}
        if bug := coursekit.partial_bug(assignment):
            submissions["bug"] = coursekit.with_driver(release, variants.text(assignment, bug[0]))
            students["bug"] = bug[0]
        if assignment == "00-hello":
            crash = "panic_in_init.patch"
            submissions["crash"] = coursekit.with_driver(release, variants.text(assignment, crash))
            students["crash"] = crash
        for student, notebook in submissions.items():
            coursekit.submit(nbgrader_course, assignment, student, notebook)
        for step in ("autograde", "generate_feedback"):
            started = time.monotonic()
            coursekit.nbgrader(nbgrader_course, step, assignment, "--force")
            coursekit.TIMINGS[f"{step} {assignment} ({len(students)} submissions)"] = \
                time.monotonic() - started
        graded = Graded(nbgrader_course, assignment, students)
        _read_gradebook(graded)
        done[assignment] = graded
        return graded

    return run


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_full_marks(assignment: str, grade) -> None:
    graded = grade(assignment)
    lab = _lab(assignment)
    assert graded.max_score == lab.max_score
    assert graded.scores["solution"] == lab.max_score, graded.cells["solution"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_gets_only_the_free_points(assignment: str, grade) -> None:
    graded = grade(assignment)
    free = _lab(assignment).raw.get("skeleton_points", 0)
    assert graded.scores["untouched"] <= free, graded.cells["untouched"]
    text = graded.feedback("untouched")
    assert "FAIL" in text or "ERROR" in text


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_seeded_bug_gets_partial_credit_and_feedback_says_why(assignment: str, grade) -> None:
    bug = coursekit.partial_bug(assignment)
    if bug is None:
        pytest.skip(f"tests/labs/{assignment}/ has no seeded bug expected to score partially")
    _, spec = bug
    graded = grade(assignment)
    assert 0 < graded.scores["bug"] < graded.max_score, graded.cells["bug"]
    cells = graded.cells["bug"]
    for name in spec.get("fail", []):
        assert cells[f"test_{name}"] == 0, cells
    for name in spec.get("pass", []):
        assert cells[f"test_{name}"] > 0, cells
    text = graded.feedback("bug")
    for name in spec.get("fail", []):
        assert f"FAIL {name}" in text or f"ERROR {name}" in text, name
    for name, message in spec.get("message", {}).items():
        assert message in text, f"{name}: {message!r} is not in the feedback"


def test_feedback_of_a_crash_names_the_faulting_function_and_shows_the_log(grade) -> None:
    if "00-hello" not in ASSIGNMENTS:
        pytest.skip("no 00-hello assignment")
    graded = grade("00-hello")
    assert graded.scores["crash"] == 0
    text = graded.feedback("crash")
    assert ("kernel: Rust code panicked in the kernel in <hello::Hello as kernel::module::Module>"
            "::init at hello.rs:37 (driver cell line 38) during module load") in text
    assert "kernel log excerpt:" in text and "deliberate panic in init" in text


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_validate_passes_on_the_solution(assignment: str,
                                                  nbgrader_course: Path) -> None:
    source = Path("source") / assignment / f"{assignment}.ipynb"
    started = time.monotonic()
    output = coursekit.nbgrader(nbgrader_course, "validate", str(source))
    coursekit.TIMINGS[f"validate {assignment}"] = time.monotonic() - started
    assert "Success! Your notebook passes all the tests." in output, output


def test_export_lists_every_graded_submission(nbgrader_course: Path, grade) -> None:
    graded = [grade(assignment) for assignment in ASSIGNMENTS]
    started = time.monotonic()
    coursekit.nbgrader(nbgrader_course, "export")
    coursekit.TIMINGS["export"] = time.monotonic() - started
    with (nbgrader_course / "grades.csv").open() as stream:
        rows = {(r["assignment"], r["student_id"]): float(r["score"])
                for r in csv.DictReader(stream)}
    expected = {(g.assignment, student): score for g in graded
                for student, score in g.scores.items()}
    assert {key: rows.get(key) for key in expected} == expected
    # nbgrader lists every student for every assignment; those who did not submit get 0.
    assert all(score == 0 for key, score in rows.items() if key not in expected)
