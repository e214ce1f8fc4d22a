"""A minimal, real nbgrader course for batch-grading tests, built from one lab.

The source notebook follows the course's conventions (grader/course/generate.py): one
driver cell (`%%kdlab_driver <lab>`, nbgrader solution cell `driver`) and one
autograder grade cell `test_<name>` per lab test, worth the test's points.
`nbgrader generate_assignment` (the real one) releases it and records the
grade cells in the gradebook; submissions are the released notebook with the
driver cell replaced, as a student would hand it in, laid out the way
`nbgrader collect` leaves them (submitted/<student>/<assignment>/ + timestamp.txt).

Courses live under the checkout's build/ folder, not pytest's tmp_path: the
grading containers bind-mount submissions, so their paths must mean the same
thing to the Docker daemon as to the test (scripts/in-toolchain mounts the
checkout at its own path).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from grader.course.notebook import DRIVER_MAGIC
from grader.lab.model import Lab

REPO = Path(__file__).resolve().parent.parent
SCRATCH = REPO / "build" / "test-courses"

CONFIG = """\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "kdlab-test"
# Solution regions in the driver become a Rust comment (the course itself uses
# grader.course.nbgrader_rust; this minimal course keeps to stock nbgrader).
c.ClearSolutions.code_stub = {"python": "// TODO: your code here"}
"""


def _cell(cell_type: str, source: str, nbgrader: dict | None = None) -> dict:
    cell = {"cell_type": cell_type, "id": uuid.uuid4().hex[:8], "metadata": {},
            "source": source}
    if cell_type == "code":
        cell.update(outputs=[], execution_count=None)
    if nbgrader:
        cell["metadata"]["nbgrader"] = {"schema_version": 3, "locked": False, "solution": False,
                                        "grade": False, "task": False, **nbgrader}
    return cell


def source_notebook(lab: Lab) -> dict:
    cells = [
        _cell("markdown", f"# {lab.title}\n\nWrite the driver in the cell below."),
        _cell("code", f"{DRIVER_MAGIC} {lab.id}\n{lab.solution()}",
              {"grade_id": "driver", "solution": True}),
    ]
    for test in lab.tests:
        cells.append(_cell("code", f"# {test.name}: {test.description}\nprint('graded by kdlab')",
                           {"grade_id": f"test_{test.name}", "grade": True, "locked": True,
                            "points": test.points}))
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                        "display_name": "Python 3"},
                                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


class Course:
    """A temporary course: make it, hand in submissions, read the gradebook."""

    def __init__(self, lab_dir: Path, assignment: str, root: Path | None = None) -> None:
        self.lab = Lab.load(lab_dir)
        self.assignment = assignment
        self.root = root or SCRATCH / f"course-{uuid.uuid4().hex[:8]}"
        self.root.mkdir(parents=True)
        (self.root / "nbgrader_config.py").write_text(CONFIG)
        source = self.root / "source" / assignment / f"{assignment}.ipynb"
        source.parent.mkdir(parents=True)
        source.write_text(json.dumps(source_notebook(self.lab), indent=1))
        proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment",
                               assignment, "--force"], cwd=self.root, capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        self.release = json.loads((self.root / "release" / assignment /
                                   f"{assignment}.ipynb").read_text())

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    def submit(self, student: str, driver: str | None, *, extra_cells: tuple[str, ...] = (),
               lab_id: str | None = None, second_driver: bool = False) -> Path:
        """Hand in the released notebook with `driver` as the driver cell's Rust source.

        driver=None deletes the driver cell; extra_cells are Python code cells a
        student added; lab_id changes the lab named on the magic line.
        """
        nb = copy.deepcopy(self.release)
        cells = []
        for cell in nb["cells"]:
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if cell["cell_type"] == "code" and text.startswith(DRIVER_MAGIC):
                if driver is None:
                    continue
                cell["source"] = f"{DRIVER_MAGIC} {lab_id or self.lab.id}\n{driver}"
                cells.append(cell)
                if second_driver:
                    cells.append({**copy.deepcopy(cell), "id": uuid.uuid4().hex[:8],
                                  "metadata": {}})
                cells += [_cell("code", extra) for extra in extra_cells]
            else:
                cells.append(cell)
        nb["cells"] = cells
        folder = self.root / "submitted" / student / self.assignment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{self.assignment}.ipynb").write_text(json.dumps(nb, indent=1))
        (folder / "timestamp.txt").write_text("2026-01-15 12:00:00.000000 UTC\n")
        return folder

    def gradebook_scores(self) -> dict[str, dict[str, float]]:
        """{student: {grade cell: score}} as nbgrader's Gradebook reports them."""
        from nbgrader.api import Gradebook

        scores: dict[str, dict[str, float]] = {}
        with Gradebook(self.db_url, course_id="kdlab-test") as gb:
            for submission in gb.assignment_submissions(self.assignment):
                for nb in submission.notebooks:
                    scores[submission.student.id] = {g.name: g.score for g in nb.grades}
        return scores

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def sandbox_leftovers() -> list[str]:
    """Every sandbox container and volume still on the Docker host, described.

    For assertions that nothing is left: a failure then says whose container it
    was, in which state, and which batch made it.
    """
    from grader.batch import sandbox

    client = sandbox.client()
    label = {"label": sandbox.LABEL}
    return ([f"container {c.name} ({c.status}) {c.labels}"
             for c in client.containers.list(all=True, filters=label)]
            + [f"volume {v.name} {v.attrs.get('Labels')}"
               for v in client.volumes.list(filters=label)])
