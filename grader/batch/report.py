"""What a batch leaves for people: the CSV for the instructor, a feedback page per student.

The CSV has one row per submission with a column per test, so it opens in a
spreadsheet next to the gradebook export. The feedback page goes where
nbgrader keeps feedback (feedback/<student>/<assignment>/<notebook>.html):
the score, each test with its message, the compiler's diagnostics and the
kernel's verdict, because a student who only sees "0" learns nothing. The
student wrote a driver cell, not a file: every place in their source is also
given as its driver cell line, as the notebook does (grader.course.render.in_cell),
and a crash shows the student's function and line, what raised it and the cut
call trace, like the notebook and `kdlab check`.
"""

from __future__ import annotations

import csv
import html
import io

from grader.batch.journal import GradeRecord
from grader.course.render import in_cell
from grader.evidence import timeline
from grader.grading.results import MARKS, Status

#: Kernel log shown in a feedback page (the end, where crashes are).
FEEDBACK_LOG_LINES = 60


def _first_problem(record: GradeRecord) -> str:
    if record.message:
        return record.message
    for test in record.result.get("tests", []):
        if test.get("status") != Status.PASS and test.get("message"):
            return f"{test['name']}: {test['message'].splitlines()[0]}"
    return ""


def csv_text(records: list[GradeRecord], test_names: list[str]) -> str:
    """The CSV export: one row per submission, one column per test."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student", "assignment", "notebook", "status", "score", "max_score",
                     *test_names, "build_ok", "boot", "first_problem", "flags",
                     "graded_at", "seconds"])
    for record in sorted(records, key=lambda r: r.student):
        result = record.result
        points = {t["name"]: t["points"] for t in result.get("tests", [])}
        writer.writerow([
            record.student, record.assignment, record.notebook,
            record.status, result.get("score", ""), result.get("max_score", ""),
            *(points.get(name, "") for name in test_names),
            (result.get("build") or {}).get("ok", ""), (result.get("boot") or {}).get(
                "status", ""),
            _first_problem(record)[:300], "; ".join(record.flags)[:300],
            record.graded_at,
            "" if record.seconds is None else record.seconds,
        ])
    return out.getvalue()


def _event(event: dict) -> str:
    """One kernel event as kernlog.Event.describe() words it, with its cut call trace."""
    where = f" in {event['function']}" if event.get("function") else ""
    at = f" at {event['location']}" if event.get("location") else ""
    during = f" during {event['phase']}" if event.get("phase") else ""
    raised = f" (raised in {event['raised_at']})" if event.get("raised_at") else ""
    summary = event.get("summary", event.get("kind", ""))
    text = in_cell(f"{summary}{where}{at}{during}: {event.get('detail', '')}{raised}")
    trace = "\n".join(f"  {in_cell(frame)}" for frame in event.get("trace") or [])
    trace = f"<pre>call trace (innermost first):\n{html.escape(trace)}</pre>" if trace else ""
    excerpt = (f"<details><summary>kernel log around it</summary><pre>"
               f"{html.escape(event['excerpt'])}</pre></details>") if event.get("excerpt") else ""
    return f"<li>{html.escape(text)}{trace}{excerpt}</li>"


def _diagnostic(diag: dict) -> str:
    """A compiler or link error at its driver cell line, with the code and rustc's words."""
    esc = html.escape
    line = diag.get("line") or 0
    where = f"driver cell line {line + 1}" if line else "the driver cell"
    level = diag.get("level", "error")
    parts = [f"<p><strong>{esc(level)}</strong> at {esc(where)}: {esc(diag.get('message', ''))}"
             "</p>"]
    if diag.get("snippet"):
        parts.append(f"<pre>{esc(diag['snippet'])}</pre>")
    if diag.get("rendered"):
        parts.append(f"<details><summary>the compiler's full message</summary><pre>"
                     f"{esc(in_cell(diag['rendered']))}</pre></details>")
    return "".join(parts)


def trace_section(result: dict) -> str:
    """The device accesses: the timeline picture by step and the grouped list ("" for a lab
    without a device, or a record made before the timeline existed)."""
    trace = result.get("trace") or {}
    figure, grouped = timeline.figure_html(trace), timeline.groups_text(trace)
    if not figure and not grouped:
        return ""
    return (f"<h2>Device accesses ({trace.get('total', 0):,}, recorded by QEMU)</h2>{figure}"
            f"<details><summary>grouped by step</summary><pre>{html.escape(grouped)}</pre>"
            "</details>")


def feedback_html(record: GradeRecord) -> str:
    """A self-contained feedback page for one submission."""
    result = record.result
    esc = html.escape
    rows = []
    for test in result.get("tests", []):
        mark = MARKS[Status(test["status"])].symbol
        name = esc(test["name"]) + (" <em>(hidden)</em>" if test.get("hidden") else "")
        message = esc(in_cell(test.get("message") or ""))
        rows.append(f"<tr><td>{mark}</td><td>{name}</td><td>{test['points']:g}/"
                    f"{test['max_points']:g}</td><td><pre>{message}</pre></td></tr>")
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{esc(record.assignment)}: feedback for {esc(record.student)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}td{vertical-align:top;padding:.3em}"
        "pre{white-space:pre-wrap;margin:0}table{border-collapse:collapse}"
        "tr{border-bottom:1px solid #ddd}</style></head><body>",
        f"<h1>{esc(record.assignment)} — {result.get('score', 0):g} / "
        f"{result.get('max_score', 0):g}</h1>",
    ]
    if record.message:
        parts.append(f"<p><strong>{esc(record.message)}</strong></p>")
    if record.flags:
        parts.append("<h2>Not counted</h2><ul>"
                     + "".join(f"<li>{esc(flag)}</li>" for flag in record.flags) + "</ul>")
    parts.append("<table><tr><th></th><th>test</th><th>points</th><th>what happened</th></tr>"
                 + "".join(rows) + "</table>")
    build = result.get("build") or {}
    diagnostics = [d for d in build.get("diagnostics", []) if d.get("level") == "error"]
    if diagnostics or (build and not build.get("ok") and build.get("log")):
        parts.append("<h2>Compiler</h2>")
        parts += [_diagnostic(d) for d in diagnostics]
        if not diagnostics:
            parts.append(f"<pre>{esc(build.get('log', ''))}</pre>")
    events = result.get("events") or []
    if events:
        parts.append("<h2>Kernel</h2><ul>" + "".join(_event(e) for e in events) + "</ul>")
    parts.append(trace_section(result))
    log = (result.get("kernel_log") or "").splitlines()[-FEEDBACK_LOG_LINES:]
    if log:
        parts.append(f"<h2>Kernel log (last {len(log)} lines)</h2><pre>"
                     f"{esc(chr(10).join(log))}</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
