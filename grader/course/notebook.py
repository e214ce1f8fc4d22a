"""Where a student's driver lives in a lab notebook, and how to get it out.

A lab notebook has exactly one *driver cell*: a code cell that starts with the
`%%kdlab_driver LAB` cell magic, followed by the whole Rust source file of the
driver. In the notebook the magic builds, boots and checks it (grader.course.jupyter);
batch grading reads the same cell without running the notebook, so a student's
Python cells never run on the grader.
"""

from __future__ import annotations

import json
from pathlib import Path

from grader.errors import KdlabError

DRIVER_MAGIC = "%%kdlab_driver"


class NotebookError(KdlabError):
    """The notebook cannot be read or has no (or more than one) driver cell."""


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def driver_cells(notebook: dict) -> list[tuple[int, str, str]]:
    """(cell index, lab id, Rust source) for every driver cell of a notebook."""
    found = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        text = _source(cell)
        first, _, rest = text.partition("\n")
        if first.strip().startswith(DRIVER_MAGIC):
            lab_id = first.strip()[len(DRIVER_MAGIC):].strip()
            found.append((index, lab_id, rest))
    return found


def extract_driver(path: Path) -> tuple[str, str]:
    """(lab id, Rust source) of the notebook's one driver cell."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NotebookError(f"{path.name}: not a readable notebook ({err})") from err
    cells = driver_cells(notebook)
    if not cells:
        raise NotebookError(f"{path.name}: no driver cell (a code cell starting with "
                            f"{DRIVER_MAGIC}) — was it deleted?")
    if len(cells) > 1:
        numbers = ", ".join(str(index + 1) for index, _, _ in cells)
        raise NotebookError(f"{path.name}: {len(cells)} driver cells (cells {numbers}); "
                            "keep exactly one")
    _, lab_id, source = cells[0]
    return lab_id, source
