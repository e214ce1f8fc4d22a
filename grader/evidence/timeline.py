"""The device trace for people: grouped accesses, and a timeline picture per step of the run.

Input: a decoded trace (grader.evidence.trace: named accesses, each with the step of the
run it happened in) and the lab's trace checks. `trace_json` is what `kdlab check
--json` carries under "trace", so that every front end shows the same:

- "steps": load, each guest test, after the tests: name, first access, count;
- "groups": runs of similar accesses as one row each: `R NAME[0..31] →
  "mmio-no-eventfd"`, `W @0x800 = 0xfa × 3`, `R STATUS × 1,204,331 (polling)`
  (at most MAX_GROUPS; "accesses" keeps the plain list, cut as before);
- "timeline": the picture's data, small whatever the trace's size: the rows
  (the device's registers, then the configuration registers touched), the
  columns (ranges of access numbers: one per access when there are few, at most
  COLUMNS; a step never shares a column with another), the cells (row, read or
  write, column, how many) and the failing trace checks' marks (the accesses
  they were about, or the registers they looked for in vain).

`svg` draws the timeline with matplotlib (imported only then: the grader that
records traces does not need it): access order across, each step at least
MIN_SHARE of the width so that a short test stays visible next to two million
polling reads, registers down, reads and writes in two colours and halves of the
row, step bands behind, failing checks' accesses ringed. `figure_html` is the
`<img>` both the notebook and the feedback page embed (a data: URI, so HTML
sanitizers and a page saved alone keep it).

Attribution is display only: the steps come from marks any code in the guest
could write (grader.evidence.trace), so they order and label the picture and the list,
and nothing here feeds a grade.
"""  # noqa: RUF002 (the multiplication sign is what the list shows)

from __future__ import annotations

import base64
import io
import math
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass

from grader.evidence.trace import PCI_HEADER, Access, DeviceMap, Trace
from grader.evidence.tracecheck import TraceCheck

#: Groups carried in the JSON (a driver alternating two registers makes one per access).
MAX_GROUPS = 1000
#: Columns of the picture at most: ~1.5 px each at its width.
COLUMNS = 600
#: Share of the width a step with accesses gets at least, and one without.
MIN_SHARE = 0.03
EMPTY_SHARE = 0.02
#: Reads of one register in a row from which the group says "polling".
POLLING = 4
#: A pattern of at most MAX_PERIOD groups repeated at least REPEATS times becomes one group.
MAX_PERIOD, REPEATS = 8, 3
#: Values a group spells out (bytes of a sweep, values of a run).
SHOWN_VALUES = 16

TIMES = "\N{MULTIPLICATION SIGN}"

#: Bars drawn as vectors at most; above, the bars become one bitmap inside the SVG (the
#: text stays text), so that a busy trace's picture stays small.
VECTOR_BARS = 500
RASTER_DPI = 150
#: The picture's size in inches: width, above and below the rows, per row.
WIDTH_IN, TOP_IN, BOTTOM_IN, ROW_IN = 10, 1.6, 0.6, 0.2

READ, WRITE = 0, 1
COLOURS = {READ: "#0969da", WRITE: "#e16f24"}
HIGHLIGHT = "#cf222e"


@dataclass(frozen=True)
class Group:
    """Consecutive accesses of one step to one register, told as one."""

    first: int  # index of the first access
    count: int
    step: int
    op: str
    device: str
    register: str
    text: str

    def to_json(self) -> dict:
        return {"first": self.first, "count": self.count, "step": self.step, "op": self.op,
                "device": self.device, "register": self.register, "text": self.text}


def _spelled(accesses: list[Access]) -> str:
    """The values of a sweep over consecutive offsets: a string when they are text."""
    if all(a.size == 1 for a in accesses):
        data = bytes(a.value for a in accesses)
        text = data.rstrip(b"\0")
        if text and all(32 <= c < 127 for c in text) and b"\0" not in text:
            return f'→ "{text.decode()}"'
        shown = " ".join(f"{c:02x}" for c in data[:SHOWN_VALUES])
        return f"= {shown}" + (" …" if len(data) > SHOWN_VALUES else "")
    shown = ", ".join(f"0x{a.value:x}" for a in accesses[:SHOWN_VALUES])
    return f"= {shown}" + (" …" if len(accesses) > SHOWN_VALUES else "")


def _group_text(run: list[Access], sweep: bool) -> str:
    first, last = run[0], run[-1]
    if len(run) == 1:
        return first.text()
    name = first.register or f"@0x{first.offset:x}"
    if sweep:
        # `NAME[0]` .. `NAME[31]` -> `NAME[0..31]`; byte pieces `[0]` .. `[3]` the same way.
        span = (f"{name}{first.part[:-1]}..{last.part[1:]}" if first.part and last.part
                else f"{name}+{first.offset:x}..{last.offset:x}")
        return f"{first.op} {span} {_spelled(run)}"
    count = f"{TIMES} {len(run):,}"
    values = {a.value for a in run}
    where = f"{name}{first.part}"
    if len(values) == 1:
        return f"{first.op} {where} = 0x{first.value:x} {count}"
    polling = " (polling)" if first.op in ("R", "CR") and len(run) >= POLLING else ""
    return f"{first.op} {where} {count}{polling} = 0x{first.value:x} … 0x{last.value:x}"


def groups(trace: Trace) -> list[Group]:
    """The accesses told in groups: runs, and repeated patterns of runs as one."""
    return _cycles(_runs(trace))


def _runs(trace: Trace) -> list[Group]:
    """Runs of accesses of one step, op and register, each either repeating one place
    (`× n`) or sweeping consecutive offsets (an array read element by element)."""  # noqa: RUF002
    out: list[Group] = []
    run: list[Access] = []
    start = 0
    sweep = False

    def flush() -> None:
        if run:
            out.append(Group(start, len(run), run[0].step, run[0].op, run[0].device,
                             run[0].register, _group_text(run, sweep)))

    for index, access in enumerate(trace.accesses):
        if run:
            prev = run[-1]
            same = (access.step == prev.step and access.op == prev.op
                    and access.device == prev.device and access.register == prev.register
                    and (access.register or access.offset == prev.offset))
            repeat = same and access.offset == prev.offset and access.size == prev.size
            ascending = same and access.offset == prev.offset + prev.size
            if (repeat and not sweep) or (ascending and (sweep or len(run) == 1)):
                sweep = ascending
                run.append(access)
                continue
        flush()
        run, start, sweep = [access], index, False
    flush()
    return out


def _cycles(rows: list[Group]) -> list[Group]:
    """Collapse a pattern of up to MAX_PERIOD groups repeated at least REPEATS times in a
    row (a driver's loop: `(W FACTORIAL, R IRQ_STATUS, W IRQ_ACK) × 21`) into one group."""  # noqa: RUF002
    sig = [(g.step, g.op, g.device, g.register, g.count) for g in rows]
    out: list[Group] = []
    i = 0
    while i < len(rows):
        best_period, best_reps = 0, 1
        for period in range(2, MAX_PERIOD + 1):
            reps = 1
            while sig[i + reps * period:i + (reps + 1) * period] == sig[i:i + period]:
                reps += 1
            if reps >= REPEATS and reps * period > best_reps * best_period:
                best_period, best_reps = period, reps
        if not best_period:
            out.append(rows[i])
            i += 1
            continue
        cycle = rows[i:i + best_period * best_reps]
        names = ", ".join(" ".join(g.text.split()[:2]) + (f" {TIMES} {g.count}" if g.count > 1
                                                          else "")
                          for g in cycle[:best_period])
        out.append(Group(cycle[0].first, sum(g.count for g in cycle), cycle[0].step, "", "", "",
                         f"({names}) {TIMES} {best_reps:,}"))
        i += best_period * best_reps
    return out


# -- the picture's data --------------------------------------------------------------------


def _row_key(item: Access | Group) -> tuple[str, str, str]:
    """The picture's row of an access or of a run (all its accesses share it)."""
    if item.op in ("CR", "CW"):
        return item.device, "config", item.register.split("..")[0]
    return item.device, "bar", item.register or "other offsets"


def _rows(runs: list[Group], devices: list[DeviceMap]) -> dict[tuple[str, str, str], str]:
    """Row key -> label, in drawing order: each device's registers (all of them: one the
    driver never touched is information too), its other offsets, its config registers."""
    seen = {_row_key(run) for run in runs}
    prefix = len(devices) > 1
    rows: dict[tuple[str, str, str], str] = {}
    header_order = {name: offset for offset, (name, _) in PCI_HEADER.items()}
    for dev in devices:
        head = f"{dev.name}: " if prefix else ""
        for reg in sorted(dev.registers, key=lambda r: r.offset):
            rows[(dev.name, "bar", reg.name)] = head + reg.label
        if (dev.name, "bar", "other offsets") in seen:
            rows[(dev.name, "bar", "other offsets")] = head + "other offsets"
        config = sorted((k for k in seen if k[0] == dev.name and k[1] == "config"),
                        key=lambda k: (header_order.get(k[2], 0x100), k[2]))
        for key in config:
            rows[key] = f"{head}config {key[2]}"
    return rows


def _layout(trace: Trace) -> tuple[list[list[float]], list[int]]:
    """Where each step is drawn ([x, width] in 0..1) and the columns' first access numbers."""
    ranges = trace.step_ranges()
    total = len(trace.accesses)
    shares = [max((end - start) / total, MIN_SHARE) if end > start else EMPTY_SHARE
              for _, start, end in ranges]
    scale = 1 / sum(shares)
    places, columns, x = [], [], 0.0
    for share, (_, start, end) in zip(shares, ranges, strict=True):
        count = end - start
        places.append([round(x, 6), round(share * scale, 6)])
        x += share * scale
        wanted = count if total <= COLUMNS else max(1, round(share * scale * COLUMNS))
        n = min(count, wanted)
        columns += [start + k * count // n for k in range(n)]
    return places, columns


def timeline(trace: Trace, devices: list[DeviceMap], checks: tuple[TraceCheck, ...] = (),
             runs: list[Group] | None = None) -> dict | None:
    """The picture's data (see the module docstring), or None without accesses. `runs`
    are the trace's runs (`_runs`) when the caller has them already."""
    if not trace.accesses:
        return None
    runs = _runs(trace) if runs is None else runs
    rows = _rows(runs, devices)
    index = {key: n for n, key in enumerate(rows)}
    places, columns = _layout(trace)
    cells: Counter[tuple[int, int, int]] = Counter()

    def add(row: int, op: int, first: int, end: int) -> None:
        column = bisect_right(columns, first) - 1
        while first < end:
            stop = min(end, columns[column + 1] if column + 1 < len(columns) else end)
            cells[(row, op, column)] += stop - first
            first, column = stop, column + 1

    # A run is binned at once: two million polling reads are one run.
    for run in runs:
        add(index[_row_key(run)], WRITE if run.op in ("W", "CW") else READ, run.first,
            run.first + run.count)

    marks = []
    for check in checks:
        verdict = check.verdict(trace)
        if verdict.passed:
            continue
        looked_for = [index[key] for key in rows
                      if any(key[1] == "bar" and key[2] == p.register
                             and (not p.device or p.device == key[0]) for p in check.patterns)]
        marks.append({"check": check.name, "registers": looked_for,
                      "accesses": [[i, index[_row_key(trace.accesses[i])]]
                                   for i in verdict.about]})
    return {"rows": list(rows.values()), "steps": places, "columns": columns,
            "cells": [[r, op, c, k] for (r, op, c), k in sorted(cells.items())],
            "marks": marks}


def trace_json(trace: Trace, devices: list[DeviceMap], checks: tuple[TraceCheck, ...] = ()
               ) -> dict:
    """The "trace" of `kdlab check --json`: the accesses, steps, groups and timeline."""
    runs = _runs(trace)
    grouped = _cycles(runs)
    data = trace.to_json()
    data["groups"] = [g.to_json() for g in grouped[:MAX_GROUPS]]
    data["groups_total"] = len(grouped)
    data["timeline"] = timeline(trace, devices, checks, runs)
    return data


# -- drawing ---------------------------------------------------------------------------------


def _column_places(data: dict) -> list[tuple[float, float]]:
    """(x, width) of every column: its step's place shared equally among the step's columns."""
    columns, places = data["timeline"]["columns"], data["timeline"]["steps"]
    out: list[tuple[float, float]] = []
    for (x, width), step in zip(places, data["steps"], strict=True):
        mine = [c for c in columns if step["first"] <= c < step["first"] + step["count"]]
        out += [(x + k * width / len(mine), width / len(mine)) for k in range(len(mine))]
    return out


def _centre(places: list[tuple[float, float]], columns: list[int], access: int) -> float:
    """Where the column holding access number `access` is drawn."""
    x, width = places[bisect_right(columns, access) - 1]
    return x + width / 2


def _bars(cells: list[list[int]], places: list[tuple[float, float]]
          ) -> dict[tuple[int, int, int], list[tuple[float, float]]]:
    """(row, op, shade) -> x ranges, neighbouring columns of one shade merged into one bar.
    The shade (1..4) grows with the log of the count, so a polling loop stands out."""
    most = max((c[3] for c in cells), default=1)
    bars: dict[tuple[int, int, int], list[tuple[float, float]]] = {}
    for row, op, column, count in cells:
        shade = 4 if most == 1 else 1 + round(3 * math.log(count) / math.log(most))
        x, width = places[column]
        ranges = bars.setdefault((row, op, shade), [])
        if ranges and abs(ranges[-1][0] + ranges[-1][1] - x) < 1e-9:
            ranges[-1] = (ranges[-1][0], ranges[-1][1] + width)
        else:
            ranges.append((x, width))
    return bars


def svg(data: dict) -> str:
    """The timeline of a "trace" JSON (trace_json's) as a standalone SVG document."""
    import matplotlib
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.transforms import blended_transform_factory

    view = data["timeline"]
    rows, steps = view["rows"], data["steps"]
    places = _column_places(data)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "kdlab",
                                "font.size": 8}):
        height = TOP_IN + BOTTOM_IN + ROW_IN * len(rows)
        fig = Figure(figsize=(WIDTH_IN, height))
        ax = fig.add_axes((0.2, BOTTOM_IN / height, 0.68, ROW_IN * len(rows) / height))
        ax.set_xlim(0, 1)
        ax.set_ylim(len(rows), 0)
        top = blended_transform_factory(ax.transData, ax.transAxes)
        for n, ((x, width), step) in enumerate(zip(view["steps"], steps, strict=True)):
            ax.axvspan(x, x + width, color="#eaeef2" if n % 2 else "#f6f8fa", zorder=0, lw=0)
            label = f"{step['name']} ({step['count']:,})"
            ax.text(x + width / 2, 1.01, label, transform=top, rotation=60, ha="left",
                    va="bottom", fontsize=7, rotation_mode="anchor")
        bars = _bars(view["cells"], places)
        raster = sum(len(ranges) for ranges in bars.values()) > VECTOR_BARS
        for (row, op, shade), ranges in bars.items():
            ax.broken_barh(ranges, (row + 0.08 + 0.44 * op, 0.4), facecolors=COLOURS[op],
                           alpha=0.4 + 0.15 * shade, lw=0, rasterized=raster)
        failed = []
        for mark in view["marks"]:
            failed.append(mark["check"])
            for row in mark["registers"]:
                ax.axhspan(row, row + 1, color=HIGHLIGHT, alpha=0.12, lw=0, zorder=0.5)
            if mark["accesses"]:
                xs = [_centre(places, view["columns"], i) for i, _ in mark["accesses"]]
                ax.scatter(xs, [row + 0.5 for _, row in mark["accesses"]], s=70,
                           facecolors="none", edgecolors=HIGHLIGHT, linewidths=1.5, zorder=3)
        ax.set_yticks([n + 0.5 for n in range(len(rows))], rows)
        flagged = {row for mark in view["marks"] for row in mark["registers"]
                   } | {row for mark in view["marks"] for _, row in mark["accesses"]}
        for n, tick in enumerate(ax.get_yticklabels()):
            if n in flagged:
                tick.set_color(HIGHLIGHT)
        ax.tick_params(axis="y", length=0)
        ticks = [(x, f"#{step['first'] + 1:,}") for (x, width), step in
                 zip(view["steps"], steps, strict=True) if width >= 0.04 and step["count"]]
        ax.set_xticks([x for x, _ in ticks], [label for _, label in ticks], fontsize=7)
        ax.set_xlabel(f"{data['total']:,} device accesses in trace order (each step stretched to "
                      "stay visible); steps as the test runner marked them", fontsize=7)
        handles: list[Artist] = [Patch(color=COLOURS[READ], label="read"),
                                 Patch(color=COLOURS[WRITE], label="write")]
        if failed:
            handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec=HIGHLIGHT,
                                  label="failed check: " + ", ".join(failed)))
        fig.legend(handles=handles, loc="upper left", frameon=False, fontsize=7,
                   bbox_to_anchor=(0.0, 1.0))
        out = io.StringIO()
        fig.savefig(out, format="svg", dpi=RASTER_DPI, metadata={"Date": None})
    return out.getvalue()


def groups_text(data: dict) -> str:
    """The grouped accesses under a heading per step (steps without accesses too), numbered
    as in trace checks' messages; "" for a trace recorded before steps and groups existed."""
    if "groups" not in data or "steps" not in data:
        return ""
    by_step: dict[int, list[dict]] = {}
    for group in data["groups"]:
        by_step.setdefault(group["step"], []).append(group)
    lines = []
    for n, step in enumerate(data["steps"]):
        count = f"{step['count']:,} accesses" if step["count"] else "no accesses"
        lines.append(f"── {step['name']} ({count}) ──")
        lines += [f"  #{g['first'] + 1:<7} {g['text']}" for g in by_step.get(n, [])]
    if (left := data.get("groups_total", 0) - len(data["groups"])) > 0:
        lines.append(f"... and {left:,} more groups")
    return "\n".join(lines)


def figure_html(data: dict | None) -> str:
    """The timeline as an `<img>` (a data: URI), or a note saying why there is none."""
    if not data or not data.get("timeline"):
        return ""
    try:
        picture = svg(data)
    except ImportError:
        return ("<p>The timeline picture needs matplotlib (pip install matplotlib); the "
                "grouped list follows.</p>")
    encoded = base64.b64encode(picture.encode()).decode()
    return (f'<img class="kdlab-timeline" alt="timeline of the device accesses by step" '
            f'style="max-width:100%" src="data:image/svg+xml;base64,{encoded}">')
