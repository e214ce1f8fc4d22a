"""nbgrader's ClearSolutions, taught that a driver cell is Rust.

nbgrader replaces each `BEGIN SOLUTION ... END SOLUTION` region with one code
stub per *kernel language* (`raise NotImplementedError()` for Python), which in
the middle of a Rust function would neither compile nor tell the student what
to write. Labs already say what each region's stub is (`//>` lines, see
grader.lab.model), and `kdlab skeleton` builds the student's file from them; this
preprocessor applies exactly that transformation to the driver cell, so the
released notebook's driver is the lab's skeleton, byte for byte. Every other
cell (Python, markdown) keeps nbgrader's own behaviour.

Configured in course/nbgrader_config.py in place of ClearSolutions.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import ClearSolutions

from grader.course.notebook import DRIVER_MAGIC
from grader.lab.model import strip_solutions


def is_driver_cell(cell: NotebookNode) -> bool:
    """A code cell whose first line is the driver magic (grader.course.notebook's contract)."""
    return cell.cell_type == "code" and cell.source.lstrip().startswith(DRIVER_MAGIC)


class ClearRustSolutions(ClearSolutions):
    """ClearSolutions that gives driver cells the lab's own stubs (lab.model.strip_solutions)."""

    def _replace_solution_region(self, cell: NotebookNode, language: str) -> bool:
        if cell.cell_type == "markdown" and not utils.is_solution(cell):
            # Teaching text may quote the delimiters (the lesson on solution regions,
            # a README showing a lab file): it is never an answer, leave it alone
            # instead of letting nbgrader stub it out or refuse the notebook.
            return False
        if not is_driver_cell(cell):
            return super()._replace_solution_region(cell, language)
        magic, newline, rust = cell.source.partition("\n")
        skeleton = strip_solutions(rust, "driver cell")
        cell.source = magic + newline + skeleton
        # A driver cell always counts as "replaced": nbgrader must never swap the
        # whole cell for its Python stub, even if a lab had no region at all.
        return True
