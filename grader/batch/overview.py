"""The class overview page: how a class did on an assignment, for the instructor.

`kdlab grade` writes it after every batch to <course>/kdlab/<assignment>/index.html,
from the journal's records and the gradebook's final scores (manual grades and
late penalties included). One self-contained HTML file, readable from disk
without a server: the plots are matplotlib figures inlined as SVG, the links go
to the students' feedback pages by relative path.

What it answers, in the order an instructor asks: how the scores spread (a
histogram), which tests the class failed (pass rate per graded item), why
submissions failed first (the first failure reason of each, grouped: the build
error kind, the kernel crash kind with its function, the step that hung, the
first failing test) with links to the students concerned, how long each
submission took to grade, and which results carry integrity flags.
"""

from __future__ import annotations

import html
import io
from collections import Counter
from pathlib import Path

from grader.batch.gradebook import FinalScore
from grader.batch.journal import GradeRecord
from grader.grading.results import Status
from grader.lab.model import Lab
from grader.util import write_atomic

#: Failure reasons listed (the most common first).
TOP_REASONS = 12
#: Students linked per failure reason before "and N more".
LINKS_PER_REASON = 20


def first_failure(record: GradeRecord) -> str:
    """The first thing that went wrong in a submission, worded to group alike ones.

    The earliest step decides: no driver, a stopped sandbox, the build (its first
    error's code), the kernel (the first fatal event's kind, with its function, or
    the step that hung), then the first test that did not pass. "" for a full score.
    """
    result = record.result
    if record.status == "no-driver":
        return "no driver cell"
    if record.status in ("timeout", "oom"):
        return f"sandbox stopped: {record.status}"
    build = result.get("build") or {}
    if not build.get("ok", True):
        errors = [d for d in build.get("diagnostics", []) if d.get("level") == "error"]
        if not errors:
            return "build failed (no compiler diagnostic)"
        code = errors[0].get("code") or ""
        if code.startswith("kdlab::"):
            return f"source policy: {code.removeprefix('kdlab::')}"
        return f"build error {code}: {errors[0].get('message', '')}".replace(" :", ":")
    for event in result.get("events") or []:
        if event.get("kind") == "hang":
            return f"hang during {event.get('phase') or 'an unknown step'}"
        if event.get("kind") in ("warning", "load_failure"):
            continue
        where = f" in {event['function']}" if event.get("function") else ""
        return f"kernel {event.get('kind')}{where}"
    if str((result.get("boot") or {}).get("status", "")).startswith("timed out"):
        return "hang: the guest stopped responding"
    for test in result.get("tests", []):
        if test.get("status") != Status.PASS:
            return f"test {test['name']} {test.get('status', 'fail')}ed"
    return ""


def _svg(figure: object) -> str:
    """A matplotlib figure as inline SVG (no XML prologue: it sits inside HTML)."""
    import matplotlib.pyplot as plt

    out = io.StringIO()
    figure.savefig(out, format="svg", bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(figure)  # type: ignore[arg-type]
    text = out.getvalue()
    return text[text.index("<svg"):]


def _figures(scores: list[float], max_score: float, pass_rates: list[tuple[str, float]],
             seconds: list[tuple[str, float]]) -> dict[str, str]:
    """The three plots, as SVG: score histogram, pass rate per test, grading time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = {}
    fig, ax = plt.subplots(figsize=(6, 3))
    top = max([max_score, *scores, 1.0])
    ax.hist(scores, bins=min(20, max(int(top), 1)), range=(0, top), color="#4477aa",
            edgecolor="white")
    ax.set_xlabel(f"score (of {max_score:g})")
    ax.set_ylabel("submissions")
    ax.set_title("Score distribution")
    plots["scores"] = _svg(fig)

    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.35 * max(len(pass_rates), 1)))
    names = [name for name, _ in pass_rates]
    ax.barh(names, [rate * 100 for _, rate in pass_rates], color="#228833")
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    ax.set_xlabel("% of submissions passing")
    ax.set_title("Pass rate per test")
    plots["pass_rate"] = _svg(fig)

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(range(len(seconds)), [s for _, s in seconds], color="#ccbb44")
    ax.set_xlabel("submissions (slowest first)")
    ax.set_ylabel("seconds")
    ax.set_title("Grading time per submission")
    plots["seconds"] = _svg(fig)
    return plots


def _feedback_link(record: GradeRecord) -> str:
    """The student's feedback page, relative to <course>/kdlab/<assignment>/."""
    student = html.escape(record.student)
    if not record.notebook_id:
        return student
    href = (f"../../feedback/{record.student}/{record.assignment}/"
            f"{record.notebook_id}.html")
    return f"<a class='student' href='{html.escape(href, quote=True)}'>{student}</a>"


def render(assignment: str, lab: Lab, records: dict[str, GradeRecord],
           final: dict[str, FinalScore]) -> str:
    """The overview page's HTML; `final` are the gradebook's scores (may lack students)."""
    esc = html.escape
    ordered = [records[s] for s in sorted(records)]
    max_score = lab.max_score

    def score_of(record: GradeRecord) -> float:
        done = final.get(record.student)
        return done.score if done else record.score

    scores = [score_of(r) for r in ordered]
    items = lab.graded_items()
    pass_rates = []
    for item in items:
        passed = sum(1 for r in ordered for t in r.result.get("tests", [])
                     if t["name"] == item.name and t.get("status") == Status.PASS)
        label = f"{item.name} (hidden)" if item.hidden else item.name
        pass_rates.append((label, passed / len(ordered) if ordered else 0.0))
    seconds = sorted(((r.student, float(r.seconds or 0)) for r in ordered
                      if not r.reused_from), key=lambda pair: -pair[1])
    plots = _figures(scores, max_score, pass_rates, seconds)

    reasons: dict[str, list[GradeRecord]] = {}
    for record in ordered:
        if reason := first_failure(record):
            reasons.setdefault(reason, []).append(record)
    counted = Counter({reason: len(who) for reason, who in reasons.items()})
    reason_rows = []
    for reason, count in counted.most_common(TOP_REASONS):
        who = reasons[reason]
        links = ", ".join(_feedback_link(r) for r in who[:LINKS_PER_REASON])
        if len(who) > LINKS_PER_REASON:
            links += f" and {len(who) - LINKS_PER_REASON} more"
        reason_rows.append(f"<tr><td>{count}</td><td>{esc(reason)}</td><td>{links}</td></tr>")

    student_rows = []
    for record, score in zip(ordered, scores, strict=True):
        done = final.get(record.student)
        late = (f"-{done.late_submission_penalty:g} ({done.seconds_late / 3600:.1f} h late)"
                if done and done.late_submission_penalty else "")
        previous = (record.previous or {}).get("score")
        student_rows.append(
            f"<tr><td>{_feedback_link(record)}</td><td>{score:g}</td><td>{esc(late)}</td>"
            f"<td>{'' if previous is None else f'{previous:g}'}</td>"
            f"<td>{esc(record.status)}</td><td>{esc(first_failure(record))}</td>"
            f"<td>{float(record.seconds or 0):.1f}</td>"
            f"<td>{esc('; '.join(record.flags))}</td></tr>")
    flagged = [r for r in ordered if r.flags]
    mean = sum(scores) / len(scores) if scores else 0.0
    passed_all = sum(1 for s in scores if s >= max_score)
    graded_seconds = [s for _, s in seconds]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{esc(assignment)}: class overview</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{padding:.25em .6em;text-align:left;"
        "vertical-align:top}tr{border-bottom:1px solid #ddd}figure{display:inline-block;"
        "margin:0 1em 1em 0}svg{max-width:100%;height:auto}.flag{color:#a00}</style>"
        "</head><body>",
        f"<h1>{esc(assignment)} — {esc(lab.title)}</h1>",
        f"<p id='summary'>{len(ordered)} submissions; mean score {mean:.2f} of "
        f"{max_score:g}; {passed_all} with full marks; {len(flagged)} flagged"
        + (f"; grading took {sum(graded_seconds):.0f} s in all, "
           f"{max(graded_seconds):.1f} s at most" if graded_seconds else "") + ".</p>",
        f"<figure id='plot-scores'>{plots['scores']}</figure>",
        f"<figure id='plot-pass-rate'>{plots['pass_rate']}</figure>",
        "<h2>First failure reasons</h2>",
        "<table id='reasons'><tr><th>count</th><th>reason</th><th>students</th></tr>"
        + "".join(reason_rows) + "</table>" if reason_rows
        else "<p>Every submission passed every test.</p>",
        "<h2>Grading time</h2>",
        f"<figure id='plot-seconds'>{plots['seconds']}</figure>",
        "<h2 class='flag'>Integrity flags</h2>",
        "<table id='flags'>" + "".join(
            f"<tr><td>{_feedback_link(r)}</td><td class='flag'>"
            f"{'<br>'.join(esc(f) for f in r.flags)}</td></tr>" for r in flagged)
        + "</table>" if flagged else "<p id='flags'>No result carries an integrity flag.</p>",
        "<h2>Students</h2>",
        "<table id='students'><tr><th>student</th><th>score</th><th>late penalty</th>"
        "<th>before regrade</th><th>status</th><th>first failure</th><th>seconds</th>"
        "<th>flags</th></tr>" + "".join(student_rows) + "</table>",
        "</body></html>\n",
    ]
    return "\n".join(parts)


def write(path: Path, assignment: str, lab: Lab, records: dict[str, GradeRecord],
          final: dict[str, FinalScore]) -> Path:
    """Write the page atomically to `path` (<course>/kdlab/<assignment>/index.html: its
    links to the feedback pages are relative to there); returns the path."""
    write_atomic(path, render(assignment, lab, records, final))
    return path
