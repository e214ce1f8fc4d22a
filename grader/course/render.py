"""HTML and plain-text views of a CheckResult, for notebooks and nbgrader feedback.

Pure functions from data to strings, no I/O: the notebook magic (grader.course.jupyter)
displays them, the grade cells print the plain-text parts (nbgrader copies cell
outputs into the feedback HTML), and unit tests call them directly on results
built by hand.

Hidden tests: a notebook passes `hidden` (the names the course hides until
grading); the student sees that such a test exists and what it is worth, never
its outcome, until the autograder prints it in the grade cell.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from html import escape

from grader.engine.modbuild import Diagnostic
from grader.evidence import timeline
from grader.evidence.kernlog import FATAL, Event
from grader.grading.results import MARKS, CheckResult, Mark, Status, TestOutcome

#: Lines of source shown around a compiler diagnostic.
SPAN_CONTEXT = 2
#: Kernel-log excerpt lines printed in a grade cell (the full log is in the driver cell).
FEEDBACK_EXCERPT_LINES = 30
#: Device accesses listed in the notebook before "... and N more".
TRACE_SHOWN = 200

#: The badge of a hidden test's row, whose status the student does not see yet.
HIDDEN = Mark("hidden", "", "#57606a")

#: Inline styles, put on the tags by `wrap`: JupyterLab's own table CSS (right-aligned
#: cells) and HTML sanitizers (which drop <style>) must not change what a student sees,
#: in the notebook or in nbgrader's feedback page.
CELL = "border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top"
PRE = "margin:0.2em 0;white-space:pre-wrap;font-size:90%;text-align:left"
INLINE = {
    "<table ": '<table style="border-collapse:collapse;margin:0.4em 0" ',
    "<td>": f'<td style="{CELL}">',
    "<th>": f'<th style="{CELL};background:#f6f8fa">',
    "<th ": f'<th style="{CELL};background:#f6f8fa" ',
    "<pre>": f'<pre style="{PRE}">',
    '<pre class="kdlab-span">': f'<pre class="kdlab-span" style="{PRE};background:#f6f8fa;'
                                'padding:4px 8px;border-left:3px solid #cf222e">',
    "<summary>": '<summary style="cursor:pointer">',
}


def _pre(text: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<pre{attr}>{escape(text)}</pre>"


def _mark(status: str) -> Mark:
    return HIDDEN if status == HIDDEN.word else MARKS[Status(status)]


def _badge(status: str) -> str:
    mark = _mark(status)
    return (f'<span class="kdlab-badge" style="color:{mark.colour};font-weight:bold">'
            f"{mark.word}</span>")


def _points(value: float) -> str:
    return f"{value:g}"


def wrap(*parts: str) -> str:
    """One output block of the parts, styled inline (text is escaped, so only tags match)."""
    html = "".join(p for p in parts if p)
    for tag, styled in INLINE.items():
        html = html.replace(tag, styled)
    return f'<div class="kdlab">{html}</div>'


# -- compiler diagnostics ----------------------------------------------------------------


#: A location in the student's own file: a bare `NAME.rs:LINE[:COL]` (kernel-crate and
#: library places are shown with a folder, `kernel/io.rs:781`, and are left alone).
#: (Atomic, so that an already annotated place is never matched again by backtracking.)
STUDENT_PLACE = r"(?<![\w/.])({name}):(?>(\d+)(?::(\d+))?)(?! \(driver cell)"


def in_cell(text: str, source_name: str = "") -> str:
    """`text` with each place in the student's file also given as its driver cell line.

    The driver cell is the file plus the magic line on top, so the file's line N is
    the cell's line N + 1. Without `source_name` (batch pages, which see only the
    result) any bare `NAME.rs:LINE` is the student's: other places carry a folder.
    """
    name = re.escape(source_name) if source_name else r"[A-Za-z_]\w*\.rs"
    return re.sub(STUDENT_PLACE.format(name=name),
                  lambda m: f"{m[0]} (driver cell line {int(m[2]) + 1})", text)


def code_span(source: str, line: int, column: int, context: int = SPAN_CONTEXT) -> str:
    """The lines around `line` of `source`, numbered, with a caret under `column`.

    The caret points at the character rustc blamed; numbers are the file's lines,
    which are the driver cell's lines minus one (the magic line).
    """
    lines = source.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    first, last = max(1, line - context), min(len(lines), line + context)
    width = len(str(last))
    out = []
    for number in range(first, last + 1):
        out.append(f"{number:>{width}} | {lines[number - 1]}")
        if number == line and column > 0:
            out.append(f"{'':>{width}} | {' ' * (column - 1)}^")
    return "\n".join(out)


def diagnostic_html(diag: Diagnostic, source: str, source_name: str) -> str:
    """One rustc message: where (file:line and the cell line), what, and the code span."""
    code = f"[{diag.code}]" if diag.code else ""
    where = diag.file + (f":{diag.line}" if diag.line else "") + (
        f":{diag.column}" if diag.line and diag.column else "")
    cell_line = f" (driver cell line {diag.line + 1})" if diag.file == source_name and diag.line \
        else ""
    label, color = ("error", "#cf222e") if diag.level == "error" else (diag.level, "#9a6700")
    span = code_span(source, diag.line, diag.column) if diag.file == source_name else ""
    span = span or diag.snippet
    parts = [
        f'<div><b style="color:{color}">{escape(label)}{escape(code)}</b>: '
        f"{escape(diag.message)}<br><code>{escape(where)}</code>{escape(cell_line)}</div>",
        _pre(span, "kdlab-span") if span else "",
    ]
    if diag.rendered:
        parts.append("<details><summary>rustc's full message</summary>"
                     f"{_pre(diag.rendered)}</details>")
    return "".join(parts)


def refusal_html(result: CheckResult) -> str:
    """Why nothing was built: the kernel pair cannot serve this lab (one sentence)."""
    if not result.refused:
        return ""
    return f"<h4>Not checked: this kernel cannot build this lab</h4><p>{escape(result.refused)}</p>"


def build_html(result: CheckResult, source: str, source_name: str) -> str:
    """The build step: nothing when it was clean (or never started), else every error and
    warning."""
    build = result.build
    if result.refused:
        return ""
    shown = [d for d in build.diagnostics if d.level in ("error", "warning")]
    if build.ok and not shown:
        return ""
    head = "<h4>The module did not build</h4>" if not build.ok else \
        f"<h4>Compiler warnings ({len(shown)})</h4>"
    body = "".join(diagnostic_html(d, source, source_name) for d in shown)
    if not build.ok and not build.errors and build.log:
        body += _pre(build.log)
    return head + body


def build_text(result: CheckResult) -> str:
    """The build errors as plain lines (for feedback), at their driver cell lines."""
    lines = [in_cell(d.short()) for d in result.build.errors]
    if not lines and result.build.log:
        lines = result.build.log.splitlines()[-10:]
    return "\n".join(lines)


# -- results -------------------------------------------------------------------------------


def is_hidden(test: TestOutcome, hidden: Collection[str]) -> bool:
    return test.hidden or test.name in hidden


def results_html(result: CheckResult, hidden: Collection[str] = (),
                 show_hidden: bool = False, source_name: str = "") -> str:
    """The results table: one row per test, totals, hidden tests masked unless shown."""
    rows = []
    visible_score = visible_max = 0.0
    for test in result.tests:
        masked = is_hidden(test, hidden) and not show_hidden
        note = "hidden test: graded after you submit" if masked else ""
        if masked:
            status, points, message = "hidden", f"?/{_points(test.max_points)}", ""
        else:
            status, points = test.status, f"{_points(test.points)}/{_points(test.max_points)}"
            message = in_cell(test.message, source_name) if test.status != Status.PASS else ""
            visible_score += test.points
            visible_max += test.max_points
        rows.append(
            f'<tr class="kdlab-test kdlab-{status}" data-test="{escape(test.name)}">'
            f"<td><code>{escape(test.name)}</code></td><td>{escape(test.description)}</td>"
            f"<td>{_badge(status)}</td><td>{points}</td>"
            f"<td>{_pre(message) if message else note}</td></tr>"
        )
    if visible_max == result.max_score:
        total = f"{_points(result.score)}/{_points(result.max_score)}"
    else:
        total = (f"{_points(visible_score)}/{_points(visible_max)} in visible tests "
                 f"(of {_points(result.max_score)})")
    return (
        f'<table class="kdlab-results" data-lab="{escape(result.lab)}">'
        "<thead><tr><th>test</th><th>checks that</th><th>result</th><th>points</th>"
        "<th>message</th></tr></thead><tbody>" + "".join(rows) +
        f'</tbody><tfoot><tr><th colspan="3">score</th><th class="kdlab-total" '
        f'colspan="2">{total}</th></tr></tfoot></table>'
    )


def event_trace(event: Event, source_name: str = "") -> str:
    """The event's call trace cut to what matters (innermost first), one frame a line."""
    return "\n".join(f"  {in_cell(frame, source_name)}" for frame in event.trace)


def events_html(result: CheckResult, source_name: str = "") -> str:
    """What went wrong in the kernel: the student's function and line, the message, what
    raised it, the cut call trace and a log excerpt.

    The first fatal event (the cause) has its excerpt open; its consequences
    (the BUG and panic after a Rust panic, say) are listed collapsed.
    """
    items = []
    cause = primary_event(result.events)
    for event in result.events:
        opened = " open" if event is cause else ""
        lines = log_excerpt(result, event, limit=40)
        trace = (f"<details{opened}><summary>call trace (your code and what it called)"
                 f"</summary>{_pre(event_trace(event, source_name))}</details>"
                 if event.trace else "")
        excerpt = (f"<details{'' if trace else opened}><summary>kernel log around it</summary>"
                   f"{_pre(chr(10).join(lines))}</details>") if lines else ""
        items.append(f"<li><b>{escape(event.summary)}</b>"
                     + (f" in <code>{escape(event.function)}</code>" if event.function else "")
                     + (f" at <code>{escape(in_cell(event.location, source_name))}</code>"
                        if event.location else "")
                     + (f" during {escape(event.phase)}" if event.phase else "")
                     + f": {escape(event.detail)}"
                     + (f" <span style=\"color:#57606a\">(raised in "
                        f"{escape(event.raised_at)})</span>" if event.raised_at else "")
                     + f"{trace}{excerpt}</li>")
    if not items:
        return ""
    return f'<h4>The kernel reported</h4><ul class="kdlab-events">{"".join(items)}</ul>'


def channel_html(result: CheckResult) -> str:
    """Results that did not count because something other than the test runner wrote them."""
    problems = (result.extra.get("channel") or {}).get("problems", [])
    if not problems:
        return ""
    items = "".join(f"<li>{escape(p)}</li>" for p in problems)
    return (f'<h4 style="color:#cf222e">Results not trusted</h4><ul>{items}</ul>'
            "<p>Only what the test runner reports counts; see the lab's README.</p>")


def kernel_log_html(log: str) -> str:
    """The whole kernel log, collapsed: evidence for the curious, not in the way."""
    if not log:
        return ""
    count = log.count("\n") + 1
    return (f'<details class="kdlab-log"><summary>kernel log ({count} lines)</summary>'
            f"{_pre(log)}</details>")


def trace_html(trace: dict | None, limit: int = TRACE_SHOWN) -> str:
    """The driver's accesses to the device (QEMU's trace): the timeline picture by step,
    then the accesses grouped by step and the plain list, both collapsed."""
    if not trace or not trace.get("accesses"):
        return ""
    accesses = trace["accesses"]
    total = trace.get("total", len(accesses))
    lines = [a.get("text", "") for a in accesses[:limit]]
    if (more := total - len(lines)) > 0:
        lines.append(f"... and {more} more")
    grouped = timeline.groups_text(trace)
    return (f'<div class="kdlab-trace"><h4>Device accesses ({total:,}, recorded by QEMU)</h4>'
            + timeline.figure_html(trace)
            + (f"<details><summary>grouped by step</summary>{_pre(grouped)}</details>"
               if grouped else "")
            + f"<details><summary>every access</summary>{_pre(chr(10).join(lines))}</details>"
            "</div>")


def timing_html(result: CheckResult) -> str:
    if result.refused:
        return ""
    t = result.timings
    parts = [f"built in {t.build_s:.1f} s"]
    if result.build.ok:
        parts.append(f"booted and tested in {t.boot_s:.1f} s ({result.accel or 'qemu'})")
    parts.append(f"guest {result.boot_status}" if result.boot_status else "")
    return f'<p style="color:#57606a">{escape(" · ".join(p for p in parts if p))}</p>'


def result_html(result: CheckResult, source: str, source_name: str,
                hidden: Collection[str] = (), show_hidden: bool = False) -> str:
    """Everything the driver cell shows after a check, as one HTML block."""
    return wrap(
        refusal_html(result),
        build_html(result, source, source_name),
        events_html(result, source_name),
        channel_html(result),
        results_html(result, hidden, show_hidden, source_name),
        timing_html(result),
        trace_html(result.extra.get("trace")),
        kernel_log_html(result.kernel_log),
    )


def error_html(title: str, detail: str) -> str:
    """kdlab itself could not run (no kernel pair, unknown lab): say what to do."""
    return wrap(f'<h4 style="color:#cf222e">{escape(title)}</h4>', _pre(detail))


# -- plain text for grade cells (nbgrader feedback) -----------------------------------------


#: Register-dump lines of an oops: noise for a student reading feedback (RIP and the
#: call trace, which say where, are kept).
REGISTER_DUMP = re.compile(r"^\s*(Code|RSP|RAX|RDX|RBP|R10|R13|FS|CS|CR2|DR0|DR3|PKRU):")


def log_excerpt(result: CheckResult, event: Event, before: int = 6, after: int = 60,
                limit: int = FEEDBACK_EXCERPT_LINES) -> list[str]:
    """The kernel log around an event, without register dumps, at most `limit` lines.

    Read from the full log (the event's line indexes it) rather than the event's
    own excerpt, so that the call trace after the register dump fits in.
    """
    lines = result.kernel_log.splitlines()
    if not 0 <= event.line < len(lines):
        lines = event.excerpt.splitlines()
        return [line for line in lines if not REGISTER_DUMP.match(line)][:limit]
    window = lines[max(0, event.line - before): event.line + after]
    return [line for line in window if not REGISTER_DUMP.match(line)][:limit]


def event_text(result: CheckResult, event: Event, with_excerpt: bool = True) -> str:
    """An event in one line (its places given as driver cell lines), its cut call trace,
    and the kernel-log lines around it."""
    text = f"kernel: {in_cell(event.describe())}"
    if event.trace and with_excerpt:
        text += "\ncall trace (innermost first):\n" + event_trace(event)
    excerpt = log_excerpt(result, event) if with_excerpt else []
    if excerpt:
        text += "\nkernel log excerpt:\n" + "\n".join(f"  | {line}" for line in excerpt)
    return text


def feedback_text(result: CheckResult, test_name: str) -> str:
    """What a grade cell prints: the outcome, and for a failure why, with the kernel's word.

    The kernel-log excerpt is printed once, under the first test that did not
    pass; the others name that test instead of repeating thirty lines.
    """
    test = next((t for t in result.tests if t.name == test_name), None)
    if test is None:
        return f"{test_name}: this check did not report the test (the lab has no such test?)"
    head = (f"{MARKS[test.status].word} {test.name}: {_points(test.points)}/"
            f"{_points(test.max_points)} points — {test.description}")
    if test.status == Status.PASS:
        return head
    lines = [head]
    if test.message:
        lines += ["", in_cell(test.message)]
    if not result.build.ok and not result.refused and (build := build_text(result)):
        lines += ["", "build errors:", build]
    if cause := primary_event(result.events):
        first = next(t for t in result.tests if t.status != Status.PASS)
        lines += ["", event_text(result, cause, with_excerpt=test is first)]
        if test is not first:
            lines.append(f"(the kernel log around it is shown under {first.name})")
        others = dict.fromkeys(in_cell(e.describe()) for e in result.events if e is not cause)
        lines += [f"kernel (also): {text}" for text in list(others)[:5]]
    return "\n".join(lines)


def primary_event(events: list[Event]) -> Event | None:
    """The event that explains the run: the first fatal one (the kernel's order), else the first.

    A Rust panic is followed by the BUG, the oops and the panic it causes; the
    first is the student's cause, the rest are consequences.
    """
    return next((e for e in events if e.kind in FATAL), events[0] if events else None)


def self_check_html(result: CheckResult, hidden: Collection[str] = ()) -> str:
    """A short verdict for the self-check cell: what still fails among the visible tests."""
    visible = [t for t in result.tests if not is_hidden(t, hidden)]
    failing = [t for t in visible if t.status != Status.PASS]
    hidden_count = len(result.tests) - len(visible)
    score = sum(t.points for t in visible)
    maximum = sum(t.max_points for t in visible)
    note = f" {hidden_count} hidden test(s) are graded after you submit." if hidden_count else ""
    if not failing:
        head = (f'<p class="kdlab-verdict" style="color:#1a7f37"><b>All {len(visible)} visible '
                f"tests pass ({_points(score)}/{_points(maximum)}).</b>{escape(note)}</p>")
        return wrap(head)
    items = "".join(f"<li><code>{escape(t.name)}</code>: {_pre(in_cell(t.message))}</li>"
                    for t in failing)
    head = (f'<p class="kdlab-verdict" style="color:#cf222e"><b>{len(failing)} of {len(visible)} '
            f"visible tests do not pass yet ({_points(score)}/{_points(maximum)}).</b>"
            f"{escape(note)}</p>")
    return wrap(head, f"<ul>{items}</ul>")
