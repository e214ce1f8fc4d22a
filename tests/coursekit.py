"""Helpers for the course tests: a scratch copy of the course, nbgrader runs, submissions.

The copy lives under build/ (shared between host and toolchain container, and
gitignored) so that a failing run can be inspected from the host; it is removed
when the test module is done unless KDLAB_KEEP_COURSE=1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.course.notebook import DRIVER_MAGIC, driver_cells
from tests import variants
from tests.conftest import REPO, VARIANTS

COURSE = REPO / "course"
SCRATCH = REPO / "build"
ARTIFACTS = REPO / "build" / "artifacts"
#: Seconds one nbgrader command may take (autograde runs one engine check per submission).
NBGRADER_TIMEOUT_S = 1800
#: Wall-clock seconds of each nbgrader step, printed at the end (figures for the report).
TIMINGS: dict[str, float] = {}


def assignments() -> list[str]:
    """The assignments in the stored course (one per generated lab)."""
    source = COURSE / "source"
    return sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").is_file())


def copy_course(tag: str) -> Path:
    """A fresh copy of the course's configuration and sources under build/."""
    dest = SCRATCH / f"test-course-{tag}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    dest.mkdir(parents=True)
    shutil.copy2(COURSE / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(COURSE / "source", dest / "source")
    return dest


def remove_copy(path: Path) -> None:
    if os.environ.get("KDLAB_KEEP_COURSE") != "1":
        shutil.rmtree(path, ignore_errors=True)


def nbgrader(course: Path, *args: str, timeout: float = NBGRADER_TIMEOUT_S) -> str:
    """Run an nbgrader command in the course folder; its output, or a failure that shows it."""
    proc = subprocess.run(["nbgrader", *args], cwd=course, capture_output=True, text=True,
                          timeout=timeout)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} exited {proc.returncode}:\n{output}")
    return output


def api(course: Path):
    """nbgrader's Python API on `course` with the course's own nbgrader_config.py.

    In-process, so nbgrader is imported once for many steps (a CLI call costs
    seconds of imports); the e2e tests use the CLI, as an instructor would.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    return NbGraderAPI(CourseDirectory(config=config), config=config)


def read_notebook(path: Path) -> dict:
    return json.loads(path.read_text())


def driver_source(notebook: dict) -> str:
    """The Rust source of the notebook's one driver cell."""
    (_, _, source), = driver_cells(notebook)
    return source


def grade_cells(notebook: dict) -> list[dict]:
    """The notebook's nbgrader grade cells, in order."""
    return [c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]


def cell_text(cell: dict) -> str:
    """A cell's source as one string (nbformat stores a string or a list of lines)."""
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


def with_driver(notebook: dict, rust: str) -> dict:
    """A copy of `notebook` whose driver cell holds `rust` (what a student would type)."""
    copy = json.loads(json.dumps(notebook))
    index, lab_id, _ = driver_cells(copy)[0]
    copy["cells"][index]["source"] = f"{DRIVER_MAGIC} {lab_id}\n{rust}"
    return copy


def submit(course: Path, assignment: str, student: str, notebook: dict) -> None:
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{assignment}.ipynb").write_text(json.dumps(notebook, indent=1))


def partial_bug(lab_id: str) -> tuple[str, dict] | None:
    """A seeded bug of the lab that should earn partial credit, preferring one with a message.

    Returns its variants.toml entry's file name (read it with `variants.text`) and the entry.
    """
    candidates = [v for v in variants.specs(lab_id)
                  if v["file"].startswith("bug_") and v.get("expect") == "partial"
                  and (VARIANTS / lab_id / v["file"]).is_file()]
    candidates.sort(key=lambda v: (not v.get("message"), "event" in v, v["file"]))
    return (candidates[0]["file"], candidates[0]) if candidates else None


def save_artifact(path: Path, name: str) -> Path:
    """Keep a file of a test run (feedback HTML, screenshots) in build/artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    shutil.copy2(path, target)
    return target


# -- fixtures of the course tests (a pytest plugin: tests/conftest.py loads it) --------


@pytest.fixture(scope="module")
def nbgrader_course() -> Iterator[Path]:
    """A scratch copy of the course for one test module."""
    path = copy_course("nbgrader")
    yield path
    remove_copy(path)
    if TIMINGS:
        print("\nnbgrader step timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in TIMINGS.items()))


@pytest.fixture(scope="module")
def released(nbgrader_course: Path) -> dict[str, dict]:
    """Every assignment released once by nbgrader's generate_assignment (its API)."""
    started = time.monotonic()
    nbgrader_api = api(nbgrader_course)
    for assignment in assignments():
        outcome = nbgrader_api.generate_assignment(assignment, force=True)
        assert outcome["success"], outcome["log"] + outcome.get("error", "")
    TIMINGS["generate_assignment (all)"] = time.monotonic() - started
    return {a: read_notebook(nbgrader_course / "release" / a / f"{a}.ipynb")
            for a in assignments()}
