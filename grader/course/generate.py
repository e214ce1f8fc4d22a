"""`kdlab course`: the nbgrader course, generated from the labs.

Each complete lab becomes one assignment, `course/source/<lab>/<lab>.ipynb`, a
lesson built only from the lab's data: the title and goals (lab.toml), the
teaching text (README.md, one cell per section), the register layout
(registers.toml) with a live register view, the driver cell holding the
solution (nbgrader solution cell; the Rust-aware preprocessor in
grader.course.nbgrader_rust turns it into the skeleton on release), a self-check cell,
and one autograder grade cell per test worth the test's points (hidden tests
between nbgrader's hidden-test markers).

Notebooks are written with outputs cleared, stable cell ids and nbformat's own
JSON layout, so a change to a lab shows up as a small, reviewable diff, and
`kdlab course generate --check` tells CI when the course is out of date.

Which tests are hidden is the lab's business (lab.toml `hidden = true`, with the
test's code in the lab's hidden/ folder): the released notebook names a hidden
test, its points and what it checks, never its code.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from grader import paths
from grader.course.notebook import DRIVER_MAGIC
from grader.engine import kernel
from grader.lab import regview
from grader.lab.model import BEGIN, GradedItem, Lab, LabError, lab_folders, strip_solutions

NBGRADER_SCHEMA = 3
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


@dataclass
class Report:
    """What `generate` did (or, with check=True, would do)."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)


# -- which labs ------------------------------------------------------------------------------


def lab_problems(lab_dir: Path, pair: kernel.KernelPair | None = None) -> list[str]:
    """Why a lab folder cannot be a course assignment yet (empty when it can); with a
    `pair`, also when that kernel pair does not meet the lab's `[kernel]` needs (a course
    for a pinned kernel leaves out the labs its students could not build)."""
    try:
        lab = Lab.load(lab_dir)
    except LabError as err:
        return [str(err)]
    problems = []
    if pair is not None and (refusal := lab.kernel.refusal(lab.id, pair.release,
                                                           pair.config())):
        problems.append(refusal)
    readme = lab.root / "README.md"
    if not readme.is_file() or not readme.read_text().strip():
        problems.append("no README.md (the lesson's teaching text)")
    if not lab.source.is_file():
        problems.append(f"no driver source {lab.source.name}")
        return problems
    text = lab.solution()
    if BEGIN not in text:
        problems.append(f"{lab.source.name} has no solution region ({BEGIN})")
    try:
        strip_solutions(text, str(lab.source))
    except LabError as err:
        problems.append(str(err))
    return problems


# -- cells -----------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _nbgrader(grade_id: str, *, grade: bool = False, solution: bool = False,
              locked: bool = False, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked,
            "schema_version": NBGRADER_SCHEMA, "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def markdown(cell_id: str, text: str, metadata: dict | None = None) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": metadata or {},
            "source": _lines(text.strip("\n"))}


def code(cell_id: str, text: str, metadata: dict | None = None) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": cell_id,
            "metadata": metadata or {}, "outputs": [], "source": _lines(text.strip("\n"))}


def readme_sections(text: str) -> tuple[str, list[str]]:
    """(the H1 title, the sections) of a README split at `## ` headings outside code fences."""
    title = ""
    sections: list[list[str]] = [[]]
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and not title and line.startswith("# "):
            title = line[2:].strip()
            continue
        if not fenced and line.startswith("## ") and any(s.strip() for s in sections[-1]):
            sections.append([])
        sections[-1].append(line)
    return title, ["\n".join(s).strip() for s in sections if "\n".join(s).strip()]


def _points(value: float) -> str:
    return f"{value:g} point" + ("" if value == 1 else "s")


def header_text(lab: Lab, title: str, items: list[GradedItem]) -> str:
    goals = "\n".join(f"- {g}" for g in lab.goals)
    total = sum(i.points for i in items)
    subtitle = "" if lab.title in (title or lab.title) else f"*{lab.title}*\n\n"
    return (f"# {title or lab.title}\n\n{subtitle}"
            + (f"**In this lab you will**\n\n{goals}\n\n" if goals else "")
            + f"Worth {_points(total)}, graded by building your driver against Linux, booting "
            "it in QEMU and running the lab's tests in the guest.\n\n"
            "Run the next cell first: it loads kdlab into this notebook.")


def setup_text(lab: Lab, items: list[GradedItem]) -> str:
    hidden = [i.name for i in items if i.hidden]
    return (
        "%load_ext grader.course.jupyter\n"
        "import grader.course.jupyter as kdlab\n\n"
        f"kdlab.configure({lab.id!r}, hidden={hidden!r})"
    )


def registers_text(lab: Lab) -> str:
    return (
        "## Register map\n\n"
        "The device's registers, from the lab's `registers.toml` (the same map names every "
        "access in the *device accesses* list under your results):\n\n"
        f"{regview.map_markdown(list(lab.register_maps)).rstrip()}\n\n"
        "`kdlab.decode(LAB, REGISTER, VALUE)` (or `%kdlab_reg LAB REGISTER VALUE`) splits a "
        "value into its fields; `kdlab.registers(LAB)` shows the whole map; after a check, "
        "`kdlab.trace(LAB)` lists what your driver read and wrote."
    )


def register_example(lab: Lab) -> str:
    """A register view call on the register with the most fields (a value of 0 decodes all)."""
    dev = lab.register_maps[0]
    reg = max(dev.registers, key=lambda r: len(r.fields))
    return f"kdlab.decode({lab.id!r}, {reg.name!r}, 0x0)"


def tests_table(items: list[GradedItem]) -> str:
    rows = "\n".join(
        f"| `{i.name}` | {i.description.replace('|', '/')} | {i.points:g} |"
        + (" hidden until grading |" if i.hidden else " |")
        for i in items
    )
    return "| test | checks that | points | |\n|---|---|---|---|\n" + rows


def driver_intro(lab: Lab, items: list[GradedItem]) -> str:
    return (
        "## Your driver\n\n"
        f"The next cell is the whole `{lab.source.name}`. Fill in the places marked "
        "`// TODO: your code here`, then run the cell (Shift+Enter): kdlab builds the module "
        "against the course kernel, boots it in QEMU with the lab's devices, runs the tests "
        "and shows the compiler's messages, the results and the kernel log.\n\n"
        f"Keep the first line, `{DRIVER_MAGIC} {lab.id}`: it tells kdlab which lab this is, "
        "and the grader reads your driver from this cell.\n\n" + tests_table(items)
    )


def grade_text(lab: Lab, item: GradedItem) -> str:
    """A grade cell: what it checks (a comment kept within the line length), then the call."""
    head = (f"{item.name} — {_points(item.points)}" + (" (hidden test)" if item.hidden else "")
            + f": {item.description}")
    head = "".join(f"# {line}\n" for line in textwrap.wrap(head, width=96))
    body = f"import grader.course.jupyter as kdlab\n\nkdlab.points({lab.id!r}, {item.name!r})"
    if item.hidden:
        body = f"### BEGIN HIDDEN TESTS\n{body}\n### END HIDDEN TESTS"
    return head + body


def notebook(lab: Lab) -> dict:
    """The lab's lesson notebook (the instructor's source version, with the solution)."""
    items = list(lab.graded_items())
    title, sections = readme_sections((lab.root / "README.md").read_text())
    cells = [
        markdown("header", header_text(lab, title, items)),
        code("setup", setup_text(lab, items), _nbgrader("setup", locked=True)),
    ]
    lesson = [markdown(f"lesson-{n:02d}", text) for n, text in enumerate(sections, 1)]
    if lab.register_maps:
        # The register reference goes right before the task, where the student needs it.
        task = next((i for i, text in enumerate(sections) if text.startswith("## Your task")),
                    len(sections))
        lesson[task:task] = [markdown("registers", registers_text(lab)),
                             code("register-view", register_example(lab))]
    cells += lesson
    cells.append(markdown("driver-intro", driver_intro(lab, items)))
    driver = f"{DRIVER_MAGIC} {lab.id}\n{lab.solution()}"
    cells.append(code("driver", driver, _nbgrader("driver", solution=True)))
    cells.append(markdown("self-check-intro", (
        "## Self-check\n\nAfter running your driver, this cell says which visible tests still "
        "fail and why. The autograder's cells below do the same, test by test, with points.")))
    cells.append(code("self-check", f"kdlab.self_check({lab.id!r})",
                      _nbgrader("self_check", locked=True)))
    cells.append(markdown("tests-intro", (
        "## Autograder tests\n\nEach cell prints one test's outcome and gives its points "
        "(a failing test prints what was expected, what your driver did and, when the kernel "
        "crashed, the faulting function and the kernel log around it). Hidden tests run only "
        "when your submission is graded.")))
    for item in items:
        cells.append(code(f"test-{item.name}", grade_text(lab, item),
                          _nbgrader(f"test_{item.name}", grade=True, locked=True,
                                    points=item.points)))
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": KERNELSPEC,
            "language_info": {"name": "python"},
            "kdlab": {"lab": lab.id},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def dumps(nb: dict) -> str:
    """nbformat's own layout (indent 1, sorted keys): diffs line up with Jupyter's saves."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def notebook_path(course_dir: Path, lab_id: str) -> Path:
    return course_dir / "source" / lab_id / f"{lab_id}.ipynb"


def assignment_name_ok(lab_id: str) -> bool:
    """nbgrader uses the name in paths and its database; keep it to safe characters."""
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", lab_id) is not None


def generate(labs_dir: Path, course_dir: Path,
             check: bool = False, pair: kernel.KernelPair | None = None) -> Report:
    """Write (or with `check`, only compare) the notebook of every complete lab (that
    `pair`, when given, can serve)."""
    report = Report()
    for lab_dir in lab_folders(labs_dir):
        problems = lab_problems(lab_dir, pair)
        if problems:
            report.skipped[lab_dir.name] = problems
            continue
        lab = Lab.load(lab_dir)
        if not assignment_name_ok(lab.id):
            report.skipped[lab_dir.name] = [f"lab id {lab.id!r} is not a usable assignment name"]
            continue
        text = dumps(notebook(lab))
        path = notebook_path(course_dir, lab.id)
        if path.is_file() and path.read_text() == text:
            report.unchanged.append(path)
            continue
        report.written.append(path)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return report


# -- CLI -------------------------------------------------------------------------------------


def _chosen_pair(args: argparse.Namespace) -> kernel.KernelPair | None:
    """The pair named by `kdlab --kernel DIR` or $KDLAB_KERNEL, else None: the course is
    made for the course pair unless told otherwise, and needs no pair to be made."""
    chosen = args.kernel or paths.kernel_dir()
    return kernel.find(chosen) if chosen else None


def _cmd_generate(args: argparse.Namespace) -> int:
    report = generate(Path(args.labs), Path(args.course), check=args.check,
                      pair=_chosen_pair(args))
    for path in report.written:
        print(f"{'out of date' if args.check else 'wrote'}: {path}")
    for path in report.unchanged:
        print(f"up to date: {path}")
    for lab_id, problems in report.skipped.items():
        print(f"skipped {lab_id}: " + "; ".join(problems), file=sys.stderr)
    return 1 if args.check and report.written else 0


def _cmd_list(args: argparse.Namespace) -> int:
    pair = _chosen_pair(args)
    for lab_dir in lab_folders(Path(args.labs)):
        problems = lab_problems(lab_dir, pair)
        print(f"{lab_dir.name:24} {'ready' if not problems else '; '.join(problems)}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `kdlab course generate|list` to the CLI (grader.cli.main.EXTENSIONS)."""
    course = subparsers.add_parser("course", help="the nbgrader course generated from the labs")
    sub = course.add_subparsers(dest="course_command", required=True)
    gen = sub.add_parser("generate", help="write course/source/<lab>/<lab>.ipynb for every "
                         "complete lab (with `kdlab --kernel DIR`: every lab that pair serves)")
    gen.add_argument("--labs", default=str(paths.labs_dir()),
                     help="labs folder (default: $KDLAB_LABS, else labs/)")
    gen.add_argument("--course", default=str(paths.course_dir()),
                     help="course folder (default: $KDLAB_COURSE, else course/)")
    gen.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 when a notebook is out of date (for CI)")
    gen.set_defaults(func=_cmd_generate)
    lst = sub.add_parser("list", help="which labs are ready to be assignments, and why not")
    lst.add_argument("--labs", default=str(paths.labs_dir()),
                     help="labs folder (default: $KDLAB_LABS, else labs/)")
    lst.set_defaults(func=_cmd_list)

