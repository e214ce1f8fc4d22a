"""Batch results into the nbgrader gradebook, through one writer thread.

The gradebook is usually SQLite, which does not take concurrent writers well
(`database is locked`), while a batch finishes submissions from several
threads at once. So exactly one thread, with one Gradebook connection, writes;
the grading threads hand it records through a queue. Everything else here is
pure mapping.

How kdlab's results land in a notebook's cells: an autograded code cell
(nbgrader grade cell, not a solution cell) whose grade_id is a test's name,
optionally prefixed `test_` (the course's convention, grader/course/generate.py),
gets that test's points scaled to the cell's max score. A notebook whose
autograded cells match no test but has exactly one such cell gets the total
there. The driver cell's comment gets a one-line summary, shown in formgrader.
Manual scores are never touched; a cell a grader has scored by hand is flagged
for review, as nbgrader's own autograder does.

Late submissions are penalised as `nbgrader autograde` does it: the plugin the
course configures (`c.AssignLatePenalties.plugin_class`, nbgrader's
LateSubmissionPlugin by default) is asked for a penalty whenever the submission's
timestamp is past the assignment's due date (with the student's extension), and
the penalty lands on the submitted notebook, where formgrader and `nbgrader
export` read it.
"""

from __future__ import annotations

import queue
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.batch.journal import GradeRecord
from grader.errors import KdlabError
from grader.grading.results import Status

TEST_PREFIXES = ("test_", "kdlab_")


class GradebookError(KdlabError):
    """The course's gradebook cannot take this assignment's grades (yet)."""


@dataclass(frozen=True)
class CourseConfig:
    """What nbgrader's own configuration says about the course: database, id, settings."""

    db_url: str
    course_id: str
    nbgrader: Any = None  # the traitlets Config read from nbgrader_config.py


def course_config(course: Path) -> CourseConfig:
    """Read <course>/nbgrader_config.py the way nbgrader does (db_url, course_id)."""
    if not course.is_dir():
        raise GradebookError(f"{course} is not a directory (the nbgrader course: --course or "
                             "$KDLAB_COURSE)")
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    if (course / "nbgrader_config.py").is_file():
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    coursedir = CourseDirectory(config=config)
    coursedir.root = str(course)
    return CourseConfig(coursedir.db_url, coursedir.course_id or "default_course", config)


def late_plugin(config: CourseConfig) -> Any:
    """The course's late-submission plugin, chosen as `nbgrader autograde` chooses it."""
    from nbgrader.preprocessors import AssignLatePenalties

    try:
        chooser = AssignLatePenalties(config=config.nbgrader)
        return chooser.plugin_class(config=config.nbgrader)
    except Exception as err:  # a typo in nbgrader_config.py: say where, not a traceback
        raise GradebookError(f"nbgrader_config.py: the late-submission plugin "
                             f"(AssignLatePenalties.plugin_class) does not load: {err}") from err


def late_penalty(plugin: Any, student: str, score: float, seconds_late: float) -> float | None:
    """The plugin's penalty for a notebook `seconds_late` late, clamped to [0, score] as
    nbgrader's AssignLatePenalties clamps it; None for an on-time submission."""
    if seconds_late <= 0:
        return None
    penalty = plugin.late_submission_penalty(student, score, seconds_late)
    return None if penalty is None else min(max(float(penalty), 0.0), score)


def _test_name(cell_name: str, tests: dict[str, dict]) -> str | None:
    if cell_name in tests:
        return cell_name
    for prefix in TEST_PREFIXES:
        if cell_name.startswith(prefix) and cell_name[len(prefix):] in tests:
            return cell_name[len(prefix):]
    return None


def cell_scores(cells: list[tuple[str, float]], result: dict) -> dict[str, float]:
    """Scores for autograded cells (name, max score) from a CheckResult JSON."""
    tests = {t["name"]: t for t in result.get("tests", [])}
    scores = {}
    for name, max_score in cells:
        test = _test_name(name, tests)
        if test is None:
            continue
        t = tests[test]
        fraction = t["points"] / t["max_points"] if t["max_points"] else 0.0
        scores[name] = round(fraction * max_score, 4)
    if not scores and len(cells) == 1:
        name, max_score = cells[0]
        total = result.get("max_score") or 0
        scores[name] = round(result.get("score", 0) / total * max_score, 4) if total else 0.0
    return scores


def summary_comment(record: GradeRecord) -> str:
    result = record.result
    failing = [t["name"] for t in result.get("tests", []) if t.get("status") != Status.PASS]
    text = f"kdlab: {result.get('score', 0):g}/{result.get('max_score', 0):g}"
    if record.message:
        text += f" — {record.message}"
    if failing:
        text += f"; not passed: {', '.join(failing)}"
    return text


def check_assignment(db_url: str, course_id: str, assignment: str) -> list[str]:
    """The assignment's notebooks in the gradebook; GradebookError if it is not there.

    A read before the writer starts: nbgrader records notebooks and grade cells
    when it releases an assignment, and kdlab needs them to know where grades go.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course_id=course_id) as gb:
        try:
            found = gb.find_assignment(assignment)
        except MissingEntry as err:
            raise GradebookError(
                f"assignment {assignment!r} is not in the gradebook ({db_url}): release it "
                f"first (`nbgrader generate_assignment {assignment}`), which records its grade "
                "cells") from err
        return [nb.name for nb in found.notebooks]


def apply(gb: Any, record: GradeRecord, assignment: str, plugin: Any = None) -> list[str]:
    """Write one record's scores and, with a late-submission `plugin`, its late penalty;
    returns warnings (cells no test matched)."""
    student, notebook = record.student, record.notebook_id
    gb.update_or_create_student(student)
    kwargs = {"timestamp": record.timestamp} if record.timestamp else {}
    submission = gb.update_or_create_submission(assignment, student, **kwargs)
    nb = gb.find_notebook(notebook, assignment)
    manual = {cell.name for cell in nb.solution_cells}
    cells = [(c.name, c.max_score) for c in nb.grade_cells
             if c.cell_type == "code" and c.name not in manual]
    scores = cell_scores(cells, record.result)
    for name, score in scores.items():
        grade = gb.find_grade(name, notebook, assignment, student)
        grade.auto_score = score
        grade.needs_manual_grade = grade.manual_score is not None
    driver_cell = record.driver_cell_id
    if driver_cell and driver_cell in manual:
        gb.find_comment(driver_cell, notebook, assignment, student).auto_comment = \
            summary_comment(record)
    gb.db.commit()
    if plugin is not None:
        submitted = gb.find_submission_notebook(notebook, assignment, student)
        submitted.late_submission_penalty = late_penalty(
            plugin, student, submitted.score, submission.total_seconds_late)
        gb.db.commit()
    return [f"{student}: no kdlab test for grade cell {name}" for name, _ in cells
            if name not in scores]


@dataclass(frozen=True)
class FinalScore:
    """A submission's score as the gradebook holds it: nbgrader's own export's columns."""

    student: str
    raw_score: float
    late_submission_penalty: float
    max_score: float
    timestamp: str
    seconds_late: float
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""

    @property
    def score(self) -> float:
        """What counts: the raw score less the late penalty, never below 0 (as `nbgrader
        export` computes it)."""
        return max(0.0, self.raw_score - self.late_submission_penalty)


def final_scores(config: CourseConfig, assignment: str) -> dict[str, FinalScore]:
    """Every submission of `assignment` in the gradebook, manual grades and late
    penalties included: what the course's grades really are."""
    from nbgrader.api import Gradebook

    found = {}
    with Gradebook(config.db_url, course_id=config.course_id) as gb:
        for sub in gb.assignment_submissions(assignment):
            student = sub.student
            found[student.id] = FinalScore(
                student.id, float(sub.score or 0), float(sub.late_submission_penalty or 0),
                float(sub.max_score or 0), sub.timestamp.isoformat() if sub.timestamp else "",
                float(sub.total_seconds_late or 0), student.first_name or "",
                student.last_name or "", student.email or "", student.lms_user_id or "")
    return found


class GradebookWriter(threading.Thread):
    """The batch's only gradebook writer: records in through `submit`, applied in order."""

    def __init__(self, config: CourseConfig, assignment: str) -> None:
        super().__init__(name="gradebook-writer", daemon=True)
        self.config = config
        self.assignment = assignment
        self.plugin = late_plugin(config) if config.nbgrader is not None else None
        self.errors: dict[str, str] = {}
        self.warnings: list[str] = []
        self.written: set[str] = set()
        self._queue: queue.Queue[GradeRecord | None] = queue.Queue()

    def submit(self, record: GradeRecord) -> None:
        self._queue.put(record)

    def finish(self) -> None:
        """Write what is queued, then stop."""
        self._queue.put(None)
        self.join()

    def run(self) -> None:
        from nbgrader.api import Gradebook
        from sqlalchemy.exc import SAWarning

        # nbgrader's add_submission trips a harmless SQLAlchemy 2 autoflush warning.
        warnings.filterwarnings("ignore", category=SAWarning)

        with Gradebook(self.config.db_url, course_id=self.config.course_id) as gb:
            while (record := self._queue.get()) is not None:
                try:
                    self.warnings += apply(gb, record, self.assignment, self.plugin)
                    self.written.add(record.student)
                    self.errors.pop(record.student, None)
                except Exception as err:  # one bad record must not stop the others
                    gb.db.rollback()
                    self.errors[record.student] = f"{type(err).__name__}: {err}"
