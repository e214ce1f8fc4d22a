"""The notebook side of kdlab: `%load_ext grader.course.jupyter`.

`%%kdlab_driver LAB` (the driver cell, see grader.course.notebook) writes the cell to a
file, runs the engine on it with a progress display, and shows the compiler's
diagnostics, the results table, what the kernel reported and the kernel log.
The last result of each lab is kept, so later cells can use it without a second
build and boot: the self-check cell, the register view of the trace, and the
autograder's grade cells, which print a test's outcome (nbgrader copies it into
the feedback) and return its points (nbgrader >= 0.9 reads a grade cell's
numeric result as its partial credit).

Grading never depends on the student's code behaving: a driver that does not
build, crashes the kernel or hangs is a result with 0 points and reasons. Only
kdlab itself failing to run (no kernel pair) is an error, and even then the
grade cells print why and give 0 instead of aborting the autograder.

Rendering lives in grader.course.render and grader.lab.regview (pure, unit-tested); this
module only does I/O: files, the engine, displays and widgets.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from grader import paths
from grader.course import render as nbrender
from grader.course.notebook import DRIVER_MAGIC
from grader.engine import kernel
from grader.errors import KdlabError
from grader.grading.results import CheckResult
from grader.lab import regview
from grader.lab.model import Lab, LabError, find_lab
from grader.progress import Console, Reporter

#: The engine's phases (build, boot+tests): the progress bar's length.
PHASES = 2


@dataclass
class Run:
    """The last check of a lab in this kernel: what was checked and what came out."""

    lab: Lab
    source: str
    path: Path
    result: CheckResult | None = None
    error: str = ""


@dataclass
class _State:
    runs: dict[str, Run] = field(default_factory=dict)
    hidden: dict[str, set[str]] = field(default_factory=dict)
    workdir: Path | None = None


_STATE = _State()


# -- labs and files ------------------------------------------------------------------------


def workdir() -> Path:
    """This kernel's scratch folder for driver files.

    Not the notebook's folder: nbgrader copies everything beside a source
    notebook into the release, and the solution must not travel with it.
    """
    if _STATE.workdir is None:
        _STATE.workdir = paths.notebook_dir() / f"kdlab-notebook-{os.getpid()}"
    return _STATE.workdir


def configure(lab_id: str, hidden: Iterable[str] = ()) -> None:
    """Set the course's choices for a lab: which tests stay hidden until grading."""
    _STATE.hidden[lab_id] = set(hidden)


def hidden_tests(lab: Lab) -> set[str]:
    return _STATE.hidden.get(lab.id, set()) | {t.name for t in lab.tests if t.hidden}


# -- progress ------------------------------------------------------------------------------


class WidgetProgress:
    """A Reporter drawn with ipywidgets: a bar over the phases and a live status line.

    The engine blocks the kernel while it builds and boots, so a small thread
    ticks the elapsed time; widget updates from a thread are fine in ipykernel.
    """

    def __init__(self) -> None:
        import ipywidgets as widgets

        self.bar = widgets.IntProgress(value=0, min=0, max=PHASES, bar_style="info",
                                       layout=widgets.Layout(width="40em"))
        self.label = widgets.HTML("starting…")
        self.widget = widgets.VBox([self.label, self.bar])
        self.finished: list[str] = []
        self._title = ""
        self._text = ""
        self._started = 0.0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def _show(self) -> None:
        lines = [f"✓ {line}" for line in self.finished]
        if self._title:
            elapsed = time.monotonic() - self._started
            lines.append(f"→ {self._title} … {elapsed:.0f} s {self._text}")
        self.label.value = "<br>".join(escape(line) for line in lines)

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            self._show()

    def begin(self, title: str, total: int | None = None) -> None:
        self._title, self._text, self._started = title, "", time.monotonic()
        self._stop.clear()
        self._show()
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def advance(self, done: int, text: str = "") -> None:
        self._text = text[-60:]

    def end(self, summary: str) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        elapsed = time.monotonic() - self._started
        self.finished.append(f"{self._title}: {summary} ({elapsed:.1f} s)")
        self._title = ""
        self.bar.value = min(PHASES, self.bar.value + 1)
        if "fail" in summary or "timed out" in summary:
            self.bar.bar_style = "danger"
        self._show()

    def close(self) -> None:
        self._stop.set()
        self.widget.close()


def _reporter() -> tuple[Reporter, object | None]:
    """A widget reporter and the widget to display, or plain lines without ipywidgets."""
    try:
        progress = WidgetProgress()
    except ImportError:
        return Console(stream=sys.stdout), None
    return progress, progress.widget


# -- checking ------------------------------------------------------------------------------


def check(lab_id: str, source: str, reporter: Reporter | None = None) -> Run:
    """Write `source` to this kernel's scratch folder and grade it; keep the run."""
    lab = find_lab(lab_id, paths.labs_dir())
    path = workdir() / lab.id / lab.source.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    run = Run(lab, source, path)
    # A failed attempt must not leave an older result in place; re-inserting keeps the
    # dict in the order the labs last ran (last_run() without a lab takes the newest).
    _STATE.runs.pop(lab.id, None)
    _STATE.runs[lab.id] = run
    from grader.grading import check as engine

    try:
        run.result = engine.run(lab.root, path, kernel.find(), reporter=reporter,
                                kvm=paths.notebook_kvm())
    except KdlabError as err:
        run.error = f"kdlab could not check the driver: {err}"
    except Exception:  # an engine bug: say so, never take the notebook down with it
        run.error = "kdlab failed unexpectedly:\n" + traceback.format_exc(limit=8)
    return run


def run_html(run: Run, show_hidden: bool = False) -> str:
    """What the driver cell shows for a run."""
    if run.result is None:
        return nbrender.error_html("No result", run.error)
    return nbrender.result_html(run.result, run.source, run.path.name, hidden_tests(run.lab),
                                show_hidden)


def last_run(lab_id: str | None = None) -> Run | None:
    """The last run of `lab_id` (or of whatever lab ran last)."""
    if lab_id is None:
        return next(reversed(_STATE.runs.values()), None)
    for run in _STATE.runs.values():
        if lab_id in (run.lab.id, run.lab.root.name):
            return run
    return None


def last_result(lab_id: str | None = None) -> CheckResult | None:
    """The CheckResult of the last driver cell run (for exploring it in later cells)."""
    run = last_run(lab_id)
    return run.result if run else None


def _display_html(html: str, handle=None) -> None:
    from IPython.display import HTML, display

    if handle is not None:
        handle.update(HTML(html))
    else:
        display(HTML(html))


def driver_cell(line: str, cell: str) -> None:
    """`%%kdlab_driver LAB`: check the cell's Rust source as LAB's driver, show the result."""
    from IPython.display import display

    lab_id = line.strip()
    if not lab_id:
        _display_html(nbrender.error_html(
            "Which lab?", f"the first line must be `{DRIVER_MAGIC} LAB`, e.g. "
            f"`{DRIVER_MAGIC} 00-hello`"))
        return
    reporter, widget = _reporter()
    handle = display(widget, display_id=True) if widget is not None else None
    try:
        run = check(lab_id, cell, reporter)
    except LabError as err:
        _display_html(nbrender.error_html("Unknown lab", str(err)), handle)
        return
    finally:
        if isinstance(reporter, WidgetProgress):
            reporter.close()
    ip = _ipython()
    if ip is not None:
        ip.user_ns["kdlab_result"] = run.result
    _display_html(run_html(run), handle)


# -- later cells: self-check, grade cells, register view -------------------------------------


def _no_run_text(lab_id: str) -> str:
    return (f"no result for {lab_id}: the driver cell has not run in this kernel. Run it "
            f"(its first line must stay `{DRIVER_MAGIC} {lab_id}`), then this cell.")


def self_check(lab_id: str) -> None:
    """Show which visible tests still fail in the last run (for the student, before submitting)."""
    from IPython.display import HTML, display

    run = last_run(lab_id)
    if run is None or run.result is None:
        reason = run.error if run is not None else _no_run_text(lab_id)
        display(HTML(nbrender.error_html("Nothing to check yet", reason)))
        return
    display(HTML(nbrender.self_check_html(run.result, hidden_tests(run.lab))))


def points(lab_id: str, test: str) -> float:
    """A grade cell: print the test's outcome and why, return its points.

    Robust by design: whatever happened (no run, no such test, an unexpected
    error), it prints to stdout and returns a number. Nothing goes to stderr:
    nbgrader scores a grade cell with stderr output 0 whatever it returns.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            run = last_run(lab_id)
            if run is None:
                print(f"{test}: 0 points — {_no_run_text(lab_id)}")
                return 0.0
            if run.result is None:
                print(f"{test}: 0 points — {run.error}")
                return 0.0
            outcome = next((t for t in run.result.tests if t.name == test), None)
            print(nbrender.feedback_text(run.result, test))
            return float(outcome.points) if outcome is not None else 0.0
        except Exception:
            print(f"{test}: 0 points — grading error:\n{traceback.format_exc(limit=4)}")
            return 0.0


def _devices(lab_id: str):
    lab = find_lab(lab_id, paths.labs_dir())
    if not lab.register_maps:
        raise regview.RegisterLookupError(f"{lab_id} has no registers.toml")
    return list(lab.register_maps)


def registers(lab_id: str):
    """The lab's register maps as tables."""
    from IPython.display import HTML

    return HTML(nbrender.wrap(regview.map_html(_devices(lab_id))))


def decode(lab_id: str, register: str, value: int, device: str | None = None):
    """A register value split into its named fields (e.g. a value from the trace or dmesg)."""
    from IPython.display import HTML

    dev, reg = regview.find_register(_devices(lab_id), register, device)
    return HTML(nbrender.wrap(regview.decode_html(dev, reg, value)))


def trace(lab_id: str | None = None, limit: int = nbrender.TRACE_SHOWN):
    """The device accesses of the last run, as QEMU recorded them."""
    from IPython.display import HTML

    result = last_result(lab_id)
    if result is None or "trace" not in result.extra:
        return HTML(nbrender.error_html("No trace", "run the driver cell of a lab with a device"))
    return HTML(nbrender.wrap(nbrender.trace_html(result.extra["trace"], limit)))


def register_line(line: str):
    """`%kdlab_reg LAB REGISTER VALUE [DEVICE]`: the register view from a line."""
    words = line.split()
    if len(words) == 1:
        return registers(words[0])
    if len(words) not in (3, 4):
        return _usage_html("%kdlab_reg LAB [REGISTER VALUE [DEVICE]]   e.g. "
                           "%kdlab_reg 03-pci-registers TEST 0x2")
    try:
        value = int(words[2], 0)
    except ValueError:
        return _usage_html(f"{words[2]!r} is not a number (write 0x1f, 31 or 0b11111)")
    return decode(words[0], words[1], value, words[3] if len(words) == 4 else None)


def _usage_html(text: str):
    from IPython.display import HTML

    return HTML(nbrender.error_html("Usage", text))


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def load_ipython_extension(ipython) -> None:
    """`%load_ext grader.course.jupyter`: register the magics."""
    ipython.register_magic_function(driver_cell, "cell", DRIVER_MAGIC.lstrip("%"))
    ipython.register_magic_function(register_line, "line", "kdlab_reg")
