"""The nbgrader course, with the real nbgrader, the real engine and real QEMU.

Fast part: the stored course matches the labs, its notebooks are clean and
valid, and `nbgrader generate_assignment` (with the Rust-aware preprocessor)
releases exactly `kdlab skeleton` in the driver cell, without solution or
hidden-test code.

End to end (e2e), per lab, on a scratch copy of the course under build/: three
submissions made from the released notebook — the solution typed in (full
marks), the release untouched (the lab's free points at most), a seeded bug
from tests/labs/<lab>/ (partial credit) — go through `autograde`,
`generate_feedback`, then `export` once for all labs; the gradebook, the CSV and
the feedback HTML must say what the engine found, and `nbgrader validate`
passes on the solution.
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

import nbformat
import pytest

from grader.course import generate as course_gen
from grader.course.notebook import driver_cells
from grader.lab.model import BEGIN, END, Lab
from tests import coursekit, variants
from tests.conftest import LABS

ASSIGNMENTS = coursekit.assignments()
#: Wall-clock seconds of each nbgrader step, printed at the end (figures for the report).
TIMINGS: dict[str, float] = {}


def _lab(assignment: str) -> Lab:
    return Lab.load(LABS / assignment)


def _grade_cells(notebook: dict) -> list[dict]:
    return [c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]


def _text(cell: dict) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


@pytest.fixture(scope="module")
def course() -> Path:
    path = coursekit.copy_course("nbgrader")
    yield path
    coursekit.remove_copy(path)
    if TIMINGS:
        print("\nnbgrader step timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in TIMINGS.items()))


@pytest.fixture(scope="module")
def released(course: Path) -> dict[str, dict]:
    """Every assignment released once by nbgrader's generate_assignment (its API)."""
    started = time.monotonic()
    api = coursekit.api(course)
    for assignment in ASSIGNMENTS:
        outcome = api.generate_assignment(assignment, force=True)
        assert outcome["success"], outcome["log"] + outcome.get("error", "")
    TIMINGS["generate_assignment (all)"] = time.monotonic() - started
    return {a: coursekit.read_notebook(course / "release" / a / f"{a}.ipynb")
            for a in ASSIGNMENTS}


# -- the stored course ---------------------------------------------------------------------------


def test_stored_course_matches_the_labs() -> None:
    report = course_gen.generate(LABS, coursekit.COURSE, check=True)
    assert report.written == [], "the course is out of date: run `kdlab course generate`"
    assert sorted(p.parent.name for p in report.unchanged) == ASSIGNMENTS
    assert "00-hello" in ASSIGNMENTS


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_stored_notebook_is_clean_valid_and_complete(assignment: str) -> None:
    path = coursekit.COURSE / "source" / assignment / f"{assignment}.ipynb"
    nbformat.validate(nbformat.read(path, as_version=4))
    notebook = coursekit.read_notebook(path)
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    (_, lab_id, rust), = driver_cells(notebook)
    lab = _lab(assignment)
    assert lab_id == lab.id and rust == lab.solution().rstrip("\n")
    grades = _grade_cells(notebook)
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in notebook["cells"]
           if "nbgrader" in c["metadata"]]
    assert len(ids) == len(set(ids))
    assert sum(c["metadata"]["nbgrader"]["points"] for c in grades) == lab.max_score


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_driver_is_the_kdlab_skeleton(assignment: str, released: dict) -> None:
    release = released[assignment]
    assert coursekit.driver_source(release).rstrip("\n") == \
        _lab(assignment).skeleton().rstrip("\n")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_has_no_solution_and_no_hidden_test_code(assignment: str,
                                                          released: dict) -> None:
    release = released[assignment]
    for cell in release["cells"]:
        assert BEGIN not in _text(cell) and END not in _text(cell), _text(cell)
    hidden = {i.name for i in _lab(assignment).graded_items() if i.hidden}
    assert hidden, f"{assignment} has no hidden test"
    for cell in _grade_cells(release):
        name = cell["metadata"]["nbgrader"]["grade_id"].removeprefix("test_")
        assert ("kdlab.points(" in _text(cell)) == (name not in hidden), _text(cell)


def test_rust_preprocessor_stubs_the_driver_and_leaves_teaching_text_alone() -> None:
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    from grader.course.nbgrader_rust import ClearRustSolutions

    lab = _lab("00-hello")
    solution = {"nbgrader": {"solution": True, "grade": False, "grade_id": "d",
                             "locked": False, "schema_version": 3}}
    notebook = new_notebook(cells=[
        new_markdown_cell("Regions look like `// BEGIN SOLUTION` ... `// END SOLUTION`."),
        new_code_cell(f"%%kdlab_driver {lab.id}\n{lab.solution()}", metadata=solution),
    ], metadata={"kernelspec": course_gen.KERNELSPEC})
    released, _ = ClearRustSolutions().preprocess(notebook, {})
    assert released.cells[0].source.startswith("Regions look like `// BEGIN SOLUTION`")
    assert released.cells[1].source == f"%%kdlab_driver {lab.id}\n{lab.skeleton()}"


# -- grading end to end ----------------------------------------------------------------------------


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
def grade(course: Path, released: dict):
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
            coursekit.submit(course, assignment, student, notebook)
        for step in ("autograde", "generate_feedback"):
            started = time.monotonic()
            coursekit.nbgrader(course, step, assignment, "--force")
            TIMINGS[f"{step} {assignment} ({len(students)} submissions)"] = \
                time.monotonic() - started
        graded = Graded(course, assignment, students)
        _read_gradebook(graded)
        done[assignment] = graded
        return graded

    return run


@pytest.mark.e2e
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_full_marks(assignment: str, grade) -> None:
    graded = grade(assignment)
    lab = _lab(assignment)
    assert graded.max_score == lab.max_score
    assert graded.scores["solution"] == lab.max_score, graded.cells["solution"]


@pytest.mark.e2e
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_gets_only_the_free_points(assignment: str, grade) -> None:
    graded = grade(assignment)
    free = _lab(assignment).raw.get("skeleton_points", 0)
    assert graded.scores["untouched"] <= free, graded.cells["untouched"]
    text = graded.feedback("untouched")
    assert "FAIL" in text or "ERROR" in text


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_feedback_of_a_crash_names_the_faulting_function_and_shows_the_log(grade) -> None:
    if "00-hello" not in ASSIGNMENTS:
        pytest.skip("no 00-hello assignment")
    graded = grade("00-hello")
    assert graded.scores["crash"] == 0
    text = graded.feedback("crash")
    assert ("kernel: Rust code panicked in the kernel in <hello::Hello as kernel::module::Module>"
            "::init at hello.rs:37 (driver cell line 38) during module load") in text
    assert "kernel log excerpt:" in text and "deliberate panic in init" in text


@pytest.mark.e2e
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_validate_passes_on_the_solution(assignment: str, course: Path) -> None:
    source = Path("source") / assignment / f"{assignment}.ipynb"
    started = time.monotonic()
    output = coursekit.nbgrader(course, "validate", str(source))
    TIMINGS[f"validate {assignment}"] = time.monotonic() - started
    assert "Success! Your notebook passes all the tests." in output, output


@pytest.mark.e2e
def test_export_lists_every_graded_submission(course: Path, grade) -> None:
    graded = [grade(assignment) for assignment in ASSIGNMENTS]
    started = time.monotonic()
    coursekit.nbgrader(course, "export")
    TIMINGS["export"] = time.monotonic() - started
    with (course / "grades.csv").open() as stream:
        rows = {(r["assignment"], r["student_id"]): float(r["score"])
                for r in csv.DictReader(stream)}
    expected = {(g.assignment, student): score for g in graded
                for student, score in g.scores.items()}
    assert {key: rows.get(key) for key in expected} == expected
    # nbgrader lists every student for every assignment; those who did not submit get 0.
    assert all(score == 0 for key, score in rows.items() if key not in expected)
