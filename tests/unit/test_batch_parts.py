"""The batch grader's parts that need no container: journal, cell mapping, preparation, CSV.

Real files, real nbgrader objects where they matter; nothing here starts Docker.
"""

from __future__ import annotations

import json
import os

import pytest

from grader.batch import gradebook, sandbox
from grader.batch import report as batch_report
from grader.batch import run as batch
from grader.batch.journal import GradeRecord, Journal
from grader.course import generate as course
from grader.lab.model import Lab, discover
from tests.conftest import LABS

HELLO = Lab.load(LABS / "00-hello")


def _result(points: dict[str, tuple[float, float]]) -> dict:
    tests = [{"name": n, "status": "pass" if p == m else "fail", "points": p, "max_points": m,
              "message": "" if p == m else f"{n} went wrong"} for n, (p, m) in points.items()]
    return {"tests": tests, "score": sum(p for p, _ in points.values()),
            "max_score": sum(m for _, m in points.values())}


def test_journal_replaces_records_whole(tmp_path) -> None:
    journal = Journal(tmp_path)
    journal.put(GradeRecord("ann", key="1"))
    journal.put(GradeRecord("ann", key="2"))
    # A temporary file left by a kill mid-write is not a record, nor is JSON without a student.
    (tmp_path / ".bob.json.123.tmp").write_text('{"student": "bob", "ke')
    (tmp_path / "cy.json").write_text('{"key": "3"}')
    assert journal.get("ann") == GradeRecord("ann", key="2")
    assert journal.get("bob") is None and journal.get("cy") is None
    assert set(journal.records()) == {"ann"}
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["ann.json", "cy.json"]


def test_a_record_of_an_earlier_version_still_reads(tmp_path) -> None:
    """Journals outlive kdlab versions: a record with fewer (or unknown) keys reads, and
    what a record does not have stays out of its JSON."""
    old = {"student": "ann", "key": "k", "status": "graded", "result": {"score": 2},
           "an_old_key": 1}
    record = GradeRecord.from_json(old)
    assert (record.student, record.score, record.previous, record.reused_from) == \
        ("ann", 2.0, None, None)
    assert "previous" not in record.to_json() and "reused_from" not in record.to_json()
    assert GradeRecord.from_json(record.to_json()) == record


def test_journal_file_names_are_safe(tmp_path) -> None:
    journal = Journal(tmp_path)
    journal.put(GradeRecord("../../etc/x", key="k"))
    assert journal.path("../../etc/x").parent == tmp_path
    record = journal.get("../../etc/x")
    assert record is not None and record.key == "k"


def test_cells_get_their_tests_points_scaled() -> None:
    result = _result({"loads": (1, 1), "greets": (0, 2), "bye": (2, 2)})
    cells = [("test_loads", 1.0), ("test_greets", 2.0), ("bye", 4.0), ("manual_essay", 5.0)]
    assert gradebook.cell_scores(cells, result) == {"test_loads": 1.0, "test_greets": 0.0,
                                                    "bye": 4.0}


def test_a_single_unmatched_cell_gets_the_total() -> None:
    result = _result({"loads": (1, 1), "greets": (0, 2)})
    assert gradebook.cell_scores([("kdlab_total", 10.0)], result) == {"kdlab_total": 3.3333}


def test_zero_result_names_the_reason_for_every_test() -> None:
    result = sandbox.zero_result(HELLO, "the sandbox ran out of time", "timeout").to_json()
    assert result["score"] == 0 and result["max_score"] == HELLO.max_score
    assert all("the sandbox ran out of time" in t["message"] for t in result["tests"])
    assert [t["name"] for t in result["tests"]] == [i.name for i in HELLO.graded_items()]


@pytest.mark.parametrize("lab", discover(LABS), ids=lambda lab: lab.id)
def test_every_grade_cell_of_every_lab_gets_a_score_from_a_zero_record(lab: Lab) -> None:
    """A stopped run (timeout, out of memory) still scores every grade cell the course has,
    trace checks included, and its record's maximum is the lab's."""
    result = sandbox.zero_result(lab, "the sandbox ran out of memory", "oom").to_json()
    assert result["max_score"] == lab.max_score
    cells = [(c["metadata"]["nbgrader"]["grade_id"], c["metadata"]["nbgrader"]["points"])
             for c in course.notebook(lab)["cells"]
             if c["metadata"].get("nbgrader", {}).get("grade") and
             not c["metadata"]["nbgrader"].get("solution")]
    assert len(cells) == len(lab.graded_items())
    assert gradebook.cell_scores(cells, result) == {name: 0.0 for name, _ in cells}


def _notebook(source: str) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "metadata": {"nbgrader": {
        "grade_id": "driver", "solution": True}}, "source": source, "outputs": []}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_prepare_reads_the_driver_without_running_anything(tmp_path) -> None:
    (tmp_path / "00-hello.ipynb").write_text(_notebook("%%kdlab_driver 00-hello\nfn x() {}\n"))
    (tmp_path / "timestamp.txt").write_text("2026-01-01 10:00:00 UTC\n")
    pending = batch.prepare("ann", tmp_path, HELLO, "d", ["00-hello"])
    assert (pending.notebook, pending.driver_cell_id, pending.problem) == (
        "00-hello.ipynb", "driver", "")
    assert pending.timestamp.startswith("2026-01-01")
    again = batch.prepare("bob", tmp_path, HELLO, "d", ["00-hello"])
    assert again.key == pending.key  # same driver, same lab: same key
    other_lab = batch.prepare("ann", tmp_path, HELLO, "other digest", ["00-hello"])
    assert other_lab.key != pending.key


def test_prepare_grades_the_assignments_lab_not_the_one_the_student_names(tmp_path) -> None:
    (tmp_path / "00-hello.ipynb").write_text(_notebook("%%kdlab_driver 05-edu-capstone\n"))
    pending = batch.prepare("ann", tmp_path, HELLO, "d", ["00-hello"])
    assert not pending.problem
    assert "graded as '00-hello'" in pending.notes[0]


def test_prepare_refuses_symlinked_notebooks(tmp_path) -> None:
    secret = tmp_path / "elsewhere.ipynb"
    secret.write_text(_notebook("%%kdlab_driver 00-hello\nsecret\n"))
    sub = tmp_path / "sub"
    sub.mkdir()
    os.symlink(secret, sub / "00-hello.ipynb")
    pending = batch.prepare("ann", sub, HELLO, "d", ["00-hello"])
    assert "no driver cell" in pending.problem


def test_prepare_reports_unreadable_and_ambiguous_notebooks(tmp_path) -> None:
    (tmp_path / "00-hello.ipynb").write_text("{ not json")
    assert "not a readable notebook" in batch.prepare("a", tmp_path, HELLO, "d",
                                                      ["00-hello"]).problem
    two = json.loads(_notebook("%%kdlab_driver 00-hello\n"))
    two["cells"] *= 2
    (tmp_path / "00-hello.ipynb").write_text(json.dumps(two))
    assert "2 driver cells" in batch.prepare("a", tmp_path, HELLO, "d", ["00-hello"]).problem


def test_csv_and_feedback_say_what_went_wrong() -> None:
    record = GradeRecord(
        "ann", assignment="hello", notebook="hello.ipynb", status="graded",
        result={**_result({"loads": (1, 1), "greets": (0, 2)}),
                "build": {"ok": True, "diagnostics": []}, "boot": {"status": "ok"},
                "events": [{"kind": "oops", "summary": "kernel oops",
                            "function": "hello_init", "detail": "<b>"}],
                "kernel_log": "line <1>\nline 2"})
    text = batch_report.csv_text([record], ["loads", "greets"])
    header, row = text.splitlines()
    assert header.startswith("student,assignment,notebook,status,score,max_score,loads,greets")
    assert row.startswith("ann,hello,hello.ipynb,graded,1,3,1,0,True,ok,greets: greets went")
    page = batch_report.feedback_html(record)
    assert "1 / 3" in page and "greets went wrong" in page
    assert "kernel oops in hello_init" in page and "&lt;b&gt;" in page and "line &lt;1&gt;" in page
