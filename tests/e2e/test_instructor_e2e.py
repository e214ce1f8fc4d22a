"""`kdlab grade` end to end for the instructor: overview, similarity, late penalty, regrade.

A real nbgrader course of lab 00 with a due date and nbgrader's late-submission
plugin set to 'zero', four submissions (the solution; the same solution handed in
a day late; a seeded bug; a compile error) graded in real sandbox containers.
Then a test fix (the lab's `module_loads` test is worth 2 points instead of 1)
and `--regrade` of one student: only that student is graded again, and the
journal keeps the old score beside the new.

The grader image is built from this checkout (Docker's layer cache) unless
KDLAB_TEST_GRADER_IMAGE names an image to use as it is.
"""

from __future__ import annotations

import json
import shutil

import pytest

from grader.batch import gradebook
from grader.batch import run as batch
from tests import variants
from tests.batchcourse import SCRATCH, Course
from tests.conftest import LABS

HELLO = LABS / "00-hello"


def test_grade_writes_the_overview_honours_late_penalties_and_regrades(grader_image) -> None:
    course = Course(HELLO, "00-hello")
    fixed_labs = SCRATCH / f"labs-{course.root.name}"
    try:
        with (course.root / "nbgrader_config.py").open("a") as config:
            config.write('c.LateSubmissionPlugin.penalty_method = "zero"\n')
        from nbgrader.api import Gradebook

        with Gradebook(course.db_url, course_id="kdlab-test") as gb:
            gb.update_or_create_assignment("00-hello", duedate="2026-01-15 12:00:00 UTC")
        solution = course.lab.solved()
        course.submit("a-solution", solution)
        late = course.submit("b-late", solution)
        (late / "timestamp.txt").write_text("2026-01-16 12:00:00.000000 UTC\n")
        course.submit("c-no-goodbye", variants.text("00-hello", "bug_no_goodbye.patch"))
        course.submit("d-compile-error", variants.text("00-hello", "compile_error.patch"))
        options = batch.Options(course=course.root, assignment="00-hello", labs=LABS, jobs=2,
                                image=grader_image, similarity=True)
        summary = batch.grade(options)
        assert summary.complete, summary.describe()
        assert (summary.graded, summary.reused) == (3, 1)

        state = course.root / "kdlab" / "00-hello"
        page = (state / "index.html").read_text()
        assert summary.overview == state / "index.html"
        assert page.count("<svg") == 3
        assert "test says_goodbye_on_unload failed" in page
        assert "build error: expected `;`" in page
        assert "href='../../feedback/d-compile-error/00-hello/00-hello.html'" in page
        assert (course.root / "feedback" / "d-compile-error" / "00-hello" /
                "00-hello.html").is_file()
        assert "-6 (24.0 h late)" in page
        final = gradebook.final_scores(gradebook.course_config(course.root), "00-hello")
        assert {s: (f.raw_score, f.score) for s, f in final.items()} == {
            "a-solution": (6.0, 6.0), "b-late": (6.0, 0.0), "c-no-goodbye": (4.0, 4.0),
            "d-compile-error": (0.0, 0.0)}
        ranked = (state / "similarity.csv").read_text().splitlines()
        assert ranked[1].startswith("1,a-solution,b-late,1.000")
        assert summary.similarity == state / "similarity.html"

        # A test fix: module_loads is worth 2 points. Regrade one student only.
        shutil.copytree(LABS, fixed_labs)
        toml = fixed_labs / "00-hello" / "lab.toml"
        toml.write_text(toml.read_text().replace(
            'name = "module_loads"\npoints = 1', 'name = "module_loads"\npoints = 2'))
        before = {s: r.graded_at for s, r in summary.records.items()}
        with pytest.raises(batch.BatchError, match="nothing to regrade for nobody"):
            batch.grade(batch.Options(course=course.root, assignment="00-hello",
                                      labs=fixed_labs, image=grader_image,
                                      students=("nobody",), regrade=("nobody",)))
        again = batch.grade(batch.Options(
            course=course.root, assignment="00-hello", labs=fixed_labs, jobs=1,
            image=grader_image, students=("c-no-goodbye",), regrade=("c-no-goodbye",)))
        assert again.complete and (again.total, again.graded) == (1, 1)
        record = json.loads((state / "journal" / "c-no-goodbye.json").read_text())
        assert (record["previous"]["score"], record["result"]["score"]) == (4.0, 5.0)
        assert record["previous"]["max_score"] == 6.0 and record["result"]["max_score"] == 7.0
        history = [json.loads(line) for line in (state / "history.jsonl").read_text()
                   .splitlines()]
        assert (history[-1]["student"], history[-1]["previous_score"], history[-1]["score"]) \
            == ("c-no-goodbye", 4.0, 5.0)
        untouched = {s: r.graded_at for s, r in again.records.items() if s != "c-no-goodbye"}
        assert untouched == {s: t for s, t in before.items() if s != "c-no-goodbye"}
        assert "<td>4</td>" in (state / "index.html").read_text()  # the score before
    finally:
        course.remove()
        shutil.rmtree(fixed_labs, ignore_errors=True)
