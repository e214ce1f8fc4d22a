"""The stored nbgrader course, with the real nbgrader (no engine, no QEMU).

The stored course matches the labs, its notebooks are clean and valid, and
`nbgrader generate_assignment` (with the Rust-aware preprocessor) releases exactly
`kdlab skeleton` in the driver cell, without solution or hidden-test code.
Grading through nbgrader, end to end, is tests/e2e/test_course_e2e.py.
"""

from __future__ import annotations

import nbformat
import pytest

from grader.course import generate as course_gen
from grader.course.notebook import driver_cells
from grader.lab.model import BEGIN, END, Lab
from tests import coursekit
from tests.conftest import LABS

ASSIGNMENTS = coursekit.assignments()


def _lab(assignment: str) -> Lab:
    return Lab.load(LABS / assignment)


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
    grades = coursekit.grade_cells(notebook)
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
        text = coursekit.cell_text(cell)
        assert BEGIN not in text and END not in text, text
    hidden = {i.name for i in _lab(assignment).graded_items() if i.hidden}
    assert hidden, f"{assignment} has no hidden test"
    for cell in coursekit.grade_cells(release):
        name = cell["metadata"]["nbgrader"]["grade_id"].removeprefix("test_")
        text = coursekit.cell_text(cell)
        assert ("kdlab.points(" in text) == (name not in hidden), text


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
