"""`kdlab similarity ASSIGNMENT`: which submissions share their driver code.

Every pair of the assignment's driver sources (the driver cell of each
submitted/<student>/<assignment>/ notebook, read as data like `kdlab grade`
reads it), and each against an optional archive of earlier terms, is compared
with copydetect: Pygments tokenises the Rust source, identifiers become one
symbol each (renaming a variable changes nothing), and winnowed k-gram
fingerprints are compared as sets (moving a function around changes nothing).
The lab's skeleton is boilerplate: fingerprints the starter code has do not
count, so two students who kept the same skeleton lines are not alike for it.

Writes, beside the journal in <course>/kdlab/<assignment>/:

- similarity.csv: every pair, most alike first, with how much of each side's
  code (in tokens, boilerplate left out) is found in the other;
- similarity.html: the pairs at or above the threshold, their matching regions
  highlighted side by side, with links to both students' feedback pages.

A high score is a reason to read two drivers, not a verdict: every driver of a
lab calls the same kernel APIs.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.course.notebook import NotebookError, driver_cells, extract_driver
from grader.errors import KdlabError
from grader.lab.model import Lab
from grader.util import write_atomic

#: Pairs at or above this share of either side's code are shown side by side.
DEFAULT_THRESHOLD = 0.75
#: Notebooks larger than this are not read (as in `kdlab grade`).
MAX_NOTEBOOK_BYTES = 20 << 20
#: Pairs shown side by side at most (the CSV has them all).
MAX_SHOWN = 50
#: The label of archive sources starts with this.
ARCHIVE = "archive:"


class SimilarityError(KdlabError):
    """The check cannot run (no submissions, an unreadable archive)."""


@dataclass(frozen=True)
class Options:
    """What `kdlab similarity` was asked to do."""

    course: Path
    assignment: str
    lab: Lab
    archive: Path | None = None
    threshold: float = DEFAULT_THRESHOLD


@dataclass(frozen=True)
class Pair:
    """Two sources and how much of each is found in the other (0..1)."""

    a: str
    b: str
    a_in_b: float
    b_in_a: float
    tokens: int
    slices_a: Any = field(repr=False, compare=False)
    slices_b: Any = field(repr=False, compare=False)

    @property
    def similarity(self) -> float:
        """The larger share: a driver copied into a longer one, or with its functions
        moved around (which breaks the matches across their edges), still ranks high."""
        return max(self.a_in_b, self.b_in_a)


@dataclass
class Report:
    """What a check found and where it wrote it."""

    pairs: list[Pair]
    sources: dict[str, str]
    csv: Path
    page: Path
    skipped: dict[str, str] = field(default_factory=dict)


def _driver_of(folder: Path) -> str:
    """The driver source of a submission folder (first notebook with a driver cell)."""
    problems = []
    for nb in sorted(folder.glob("*.ipynb")):
        if nb.is_symlink() or not nb.is_file() or nb.stat().st_size > MAX_NOTEBOOK_BYTES:
            continue
        try:
            return extract_driver(nb)[1]
        except NotebookError as err:
            problems.append(str(err))
    raise NotebookError("; ".join(problems) or "no notebook with a driver cell")


def submissions(course: Path, assignment: str) -> tuple[dict[str, str], dict[str, str]]:
    """({student: driver source}, {student: why it has none}) of the assignment."""
    submitted = course / "submitted"
    if not submitted.is_dir():
        raise SimilarityError(f"{submitted} does not exist: collect the submissions first "
                              "(`nbgrader collect`)")
    found, skipped = {}, {}
    for student_dir in sorted(submitted.iterdir()):
        folder = student_dir / assignment
        if not folder.is_dir() or folder.is_symlink():
            continue
        try:
            found[student_dir.name] = _driver_of(folder)
        except NotebookError as err:
            skipped[student_dir.name] = str(err)
    return found, skipped


def archive_sources(archive: Path) -> dict[str, str]:
    """Driver sources of earlier terms: every .rs file under `archive`, and every notebook
    with one driver cell (a copy of an earlier term's submitted/ folder works as is)."""
    if not archive.is_dir():
        raise SimilarityError(f"{archive} is not a directory (the archive of earlier terms)")
    found = {}
    for path in sorted(archive.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        label = ARCHIVE + str(path.relative_to(archive))
        if path.suffix == ".rs":
            found[label] = path.read_text(encoding="utf-8", errors="replace")
        elif path.suffix == ".ipynb" and path.stat().st_size <= MAX_NOTEBOOK_BYTES:
            try:
                cells = driver_cells(json.loads(path.read_text(encoding="utf-8")))
            except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                continue
            if len(cells) == 1:
                found[label] = cells[0][2]
    return found


def compare(sources: dict[str, str], boilerplate: str,
            archive: dict[str, str] | None = None) -> list[Pair]:
    """Every pair of `sources`, and each source against each of `archive`, most alike first."""
    import numpy as np
    from copydetect import CodeFingerprint, compare_files, defaults

    noise, guarantee = defaults.NOISE_THRESHOLD, defaults.GUARANTEE_THRESHOLD
    window = guarantee - noise + 1

    def fingerprint(text: str, win: int, skip: Any = None) -> CodeFingerprint:
        return CodeFingerprint("driver.rs", noise, win, skip, True, "rust",
                               fp=io.StringIO(text))

    skip = np.unique(np.array(list(fingerprint(boilerplate, 1).hashes)))
    prints = {label: fingerprint(text, window, skip)
              for label, text in {**sources, **(archive or {})}.items()}
    names = sorted(sources)
    wanted = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    wanted += [(a, b) for a in names for b in sorted(archive or {})]
    pairs = []
    for a, b in wanted:
        tokens, (a_in_b, b_in_a), (slices_a, slices_b) = compare_files(prints[a], prints[b])
        pairs.append(Pair(a, b, float(a_in_b), float(b_in_a), int(tokens), slices_a,
                          slices_b))
    return sorted(pairs, key=lambda p: (-p.similarity, p.a, p.b))


def csv_text(pairs: list[Pair]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["rank", "a", "b", "similarity", "a_in_b", "b_in_a", "matching_tokens"])
    for rank, pair in enumerate(pairs, 1):
        writer.writerow([rank, pair.a, pair.b, f"{pair.similarity:.3f}", f"{pair.a_in_b:.3f}",
                         f"{pair.b_in_a:.3f}", pair.tokens])
    return out.getvalue()


def _highlighted(code: str, slices: Any) -> str:
    from copydetect.utils import highlight_overlap

    if getattr(slices, "size", 0) == 0:
        return html.escape(code)
    return highlight_overlap(code, slices, "<mark>", "</mark>", escape_html=True)[0]


def _label(name: str, assignment: str) -> str:
    if name.startswith(ARCHIVE):
        return html.escape(name)
    href = html.escape(f"../../feedback/{name}/{assignment}/", quote=True)
    return f"<a href='{href}'>{html.escape(name)}</a>"


def page_html(assignment: str, pairs: list[Pair], sources: dict[str, str], threshold: float,
              skipped: dict[str, str]) -> str:
    """The side-by-side page: the ranked table, then each pair above the threshold."""
    esc = html.escape
    shown = [p for p in pairs if p.similarity >= threshold][:MAX_SHOWN]
    rows = "".join(
        f"<tr><td>{rank}</td><td>{_label(p.a, assignment)}</td><td>{_label(p.b, assignment)}"
        f"</td><td>{p.similarity:.0%}</td><td>{p.a_in_b:.0%}</td><td>{p.b_in_a:.0%}</td></tr>"
        for rank, p in enumerate(pairs[:200], 1))
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{esc(assignment)}: similar drivers</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{padding:.2em .6em;text-align:left}tr{border-bottom:1px solid #ddd}"
        ".pair{display:flex;gap:1em}.pair pre{flex:1;overflow:auto;background:#f8f8f8;"
        "padding:.5em;font-size:80%;max-height:40em}mark{background:#fc9}</style>"
        "</head><body>",
        f"<h1>{esc(assignment)}: similar drivers</h1>",
        "<p>Shares of each driver's code (in tokens, the lab's skeleton left out) found in "
        "the other. A high share is a reason to read both drivers, not a verdict.</p>",
        "<table id='pairs'><tr><th>rank</th><th>a</th><th>b</th><th>similarity</th>"
        "<th>a in b</th><th>b in a</th></tr>" + rows + "</table>",
    ]
    if skipped:
        parts.append("<h2>Not compared</h2><ul>" + "".join(
            f"<li>{esc(s)}: {esc(why)}</li>" for s, why in sorted(skipped.items())) + "</ul>")
    parts.append(f"<h2>Pairs at or above {threshold:.0%}</h2>")
    if not shown:
        parts.append("<p>None.</p>")
    for p in shown:
        parts.append(
            f"<section class='match'><h3>{_label(p.a, assignment)} — "
            f"{_label(p.b, assignment)}: {p.similarity:.0%}</h3><div class='pair'>"
            f"<pre>{_highlighted(sources[p.a], p.slices_a)}</pre>"
            f"<pre>{_highlighted(sources[p.b], p.slices_b)}</pre></div></section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def check(options: Options) -> Report:
    """Compare the assignment's drivers; write the CSV and the page (see the docstring)."""
    sources, skipped = submissions(options.course, options.assignment)
    if not sources:
        raise SimilarityError(f"no submission of {options.assignment!r} with a driver cell "
                              f"in {options.course / 'submitted'}")
    archive = archive_sources(options.archive) if options.archive else {}
    pairs = compare(sources, options.lab.skeleton(), archive)
    state_dir = options.course / "kdlab" / options.assignment
    report = Report(pairs, {**sources, **archive}, state_dir / "similarity.csv",
                    state_dir / "similarity.html", skipped)
    write_atomic(report.csv, csv_text(pairs))
    write_atomic(report.page, page_html(options.assignment, pairs, report.sources,
                                        options.threshold, skipped))
    return report
