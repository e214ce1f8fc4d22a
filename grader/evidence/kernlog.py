"""Read the guest's kernel log: crashes, warnings, lockups, load failures, phases.

The console is host-side evidence of what the kernel did. Each recognised
event gets a kind (oops, panic, bug, rust_panic, warning, soft_lockup,
hung_task, rcu_stall, load_failure, hang), a one-line summary for the student,
the faulting function when the kernel printed one, and an excerpt of the log.
The `kdlab: ...` lines are phase markers written by the guest init.

A crash is told in the student's terms: a Rust panic's own message ("index out
of bounds: the len is 3 but the index is 3") is the detail; the function and
`file:line` are the student's, found by symbolising the module's frames of the
call trace (RIP, then the call trace) against the built module's line tables
(grader.evidence.symbolize.ModuleDebug); the kernel-crate place that raised it is kept
as context (`raised_at`), and the call trace is cut to those frames (`trace`).
The course kernel's unwinder guesses (every frame is `?`): a frame counts only
when it can be a return address, and for a panic the frame whose inline chain
ends at the panic's own location wins. Every line is rewritten by
grader.evidence.symbolize.Paths, so no kernel-pair cache path reaches a student.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from grader.evidence.symbolize import Frame, ModuleDebug, Paths, Place, demangle, parse_frame

TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")

#: (kind, pattern) in priority order: the first kind found is the run's "cause".
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("rust_panic", re.compile(r"(?:rust_kernel: )?panicked at (?P<what>.+)")),
    ("soft_lockup", re.compile(r"BUG: soft lockup - (?P<what>.+)")),
    ("hung_task", re.compile(r"INFO: task (?P<what>\S+ blocked for more than \d+ seconds)")),
    ("rcu_stall", re.compile(r"rcu: INFO: (?P<what>.*stall.*)")),
    ("oops", re.compile(r"(?:BUG: (?P<what>unable to handle .+|kernel NULL pointer dereference.*)"
                        r"|Oops: (?P<what2>.+))")),
    ("bug", re.compile(r"kernel BUG at (?P<what>.+)")),
    ("warning", re.compile(r"WARNING: CPU: \d+ PID: \d+ at (?P<what>.+)")),
    ("panic", re.compile(r"Kernel panic - not syncing: (?P<what>.+)")),
    ("load_failure", re.compile(r"(?P<what>\w+: (?:Unknown symbol \S+.*"
                                r"|module verification failed.*"
                                r"|disagrees about version of symbol \S+))")),
)
RIP = re.compile(r"RIP: \d+:(?P<func>[\w.]+)\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[(?P<mod>\w+)\])?")
MARK = re.compile(r"kdlab: (?P<text>.*)")
#: Where Rust says it panicked: `panicked at FILE:LINE:COL:` (message on the next lines).
#: (Paths.clean has already turned a kernel-crate path into `kernel/x.rs:N (Linux ... crate)`.)
PANIC_AT = re.compile(r"^(?P<file>\S+?):(?P<line>\d+)(?::\d+)?(?P<label> \([^)]*\))?:?\s*"
                      r"(?P<rest>.*)$")
#: The end of a crash report (its call trace is above it).
END_TRACE = re.compile(r"---\[ end trace|^Kernel panic|</TASK>")
#: Lines of log read after an event for its message, RIP and call trace.
REPORT_LINES = 80
#: Frames of the cut call trace shown to a student.
TRACE_SHOWN = 6

SUMMARIES = {
    "rust_panic": "Rust code panicked in the kernel",
    "soft_lockup": "the CPU was stuck in kernel code (soft lockup)",
    "hung_task": "a task was blocked in the kernel for too long (hung task)",
    "rcu_stall": "the CPU did not leave kernel code for too long (RCU stall)",
    "oops": "kernel oops",
    "bug": "kernel BUG",
    "warning": "kernel warning (WARN)",
    "panic": "kernel panic",
    "load_failure": "the module failed to load",
    "hang": "a step did not finish in time (the guest stopped responding)",
}
#: What a hang of a step means in the student's code (tests: the test that was running).
HANG_WHAT = {"load": ": the module's init, or a probe it started, never returned"}
#: Kinds that end the run (the kernel is dead or wedged); warnings do not.
FATAL = {"rust_panic", "soft_lockup", "hung_task", "rcu_stall", "oops", "bug", "panic", "hang"}


@dataclass
class Event:
    """One thing the kernel log shows went wrong."""

    kind: str
    summary: str
    detail: str
    line: int
    function: str = ""
    phase: str = ""
    excerpt: str = ""
    #: The student's `file:line` where it happened ("" when the log does not tell).
    location: str = ""
    #: The kernel-side place that raised it (kernel-crate `file:line`, or a kernel function).
    raised_at: str = ""
    #: The call trace cut to what matters, innermost first: "function (file:line)".
    trace: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        where = f" in {self.function}" if self.function else ""
        at = f" at {self.location}" if self.location else ""
        during = f" during {self.phase}" if self.phase else ""
        raised = f" (raised in {self.raised_at})" if self.raised_at else ""
        return f"{self.summary}{where}{at}{during}: {self.detail}{raised}"


@dataclass
class KernelLog:
    """The analysed console: plain lines, events, phases and the insmod status."""

    lines: list[str]
    events: list[Event] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    insmod_rc: int | None = None
    insmod_error: str = ""
    finished: bool = False

    @property
    def fatal(self) -> Event | None:
        """The first event that ended the run, if any."""
        return next((e for e in self.events if e.kind in FATAL), None)

    @property
    def phase(self) -> str:
        return self.phases[-1] if self.phases else "boot"

    def excerpt(self, around: int, before: int = 8, after: int = 20) -> str:
        return "\n".join(self.lines[max(0, around - before): around + after])


def _phase_name(phase: str) -> str:
    return {"load": "module load (init)", "tests": "the guest tests", "boot": "boot"}.get(
        phase, phase)


def analyse(console: str, paths: Paths | None = None, debug: ModuleDebug | None = None,
            module: str = "") -> KernelLog:
    """Turn raw console text into a KernelLog.

    `paths` rewrites kernel-pair paths (default: without the kernel release);
    `debug` (the built module's line tables) and `module` (its name) locate
    crashes in the student's source; without them the function is the module
    frame's name as the kernel printed it, demangled.
    """
    paths = paths or Paths()
    lines = [paths.clean(TIMESTAMP.sub("", line.rstrip("\r"))) for line in console.splitlines()]
    log = KernelLog(lines)
    test = ""
    for number, line in enumerate(lines):
        if mark := MARK.search(line):
            text = mark["text"]
            if text.startswith("phase="):
                name = text.split()[0].removeprefix("phase=")
                log.phases.append(name)
                log.finished = log.finished or name == "done"
            elif m := re.match(r"insmod rc=(\d+) ?(.*)", text):
                log.insmod_rc, log.insmod_error = int(m[1]), m[2].strip()
                if log.insmod_rc != 0:
                    log.events.append(Event(
                        "load_failure", SUMMARIES["load_failure"],
                        log.insmod_error or f"insmod exit status {log.insmod_rc}", number,
                        phase=_phase_name("load"), excerpt=log.excerpt(number, 12, 2)))
            elif m := re.match(r"hang step=(\w+) seconds=(\d+)", text):
                log.events.append(Event(
                    "hang", SUMMARIES["hang"],
                    f"{_phase_name(m[1])} was still running after {m[2]} s"
                    + HANG_WHAT.get(m[1], f" (in test {test})" if test else ""), number,
                    phase=_phase_name(m[1]), excerpt=log.excerpt(number, 12, 2)))
            elif text.startswith("test="):
                test = text.removeprefix("test=").split()[0]
            continue
        for kind, pattern in PATTERNS:
            if found := pattern.search(line):
                detail = next(g for g in found.groups() if g)
                log.events.append(Event(kind, SUMMARIES[kind], detail.strip(), number,
                                        phase=_phase_name(log.phase)))
                break
    for event in log.events:
        if event.kind in FATAL | {"warning"} and not event.excerpt:
            _locate(event, lines, paths, debug, module)
            event.excerpt = log.excerpt(event.line)
    return log


def _report(lines: list[str], start: int) -> tuple[list[str], Frame | None, list[Frame]]:
    """The message lines, the RIP frame and the call-trace frames of the report at `start`."""
    message: list[str] = []
    rip: Frame | None = None
    frames: list[Frame] = []
    in_message = True
    for line in lines[start + 1: start + REPORT_LINES]:
        if in_message and (line.startswith("---") or any(p.search(line) for _, p in PATTERNS)
                           or line.startswith(("CPU:", "RIP:", "Call Trace:"))):
            in_message = False
        if in_message:
            message.append(line.strip())
            continue
        if line.startswith("RIP:") and rip is None:
            rip = parse_frame(line, returns=False)
        elif (frame := parse_frame(line)) is not None and not line.startswith("RIP:"):
            frames.append(frame)
        if END_TRACE.search(line) and (frames or rip):
            break
    return [m for m in message if m][:3], rip, frames


def _named(place: Place, chain: list[Place]) -> str:
    """The function of `place`; a closure is named after the function it is written in."""
    if not place.function.startswith("{"):
        return place.function
    outer = next((p.function for p in chain[chain.index(place) + 1:]
                  if p.file == place.file and not p.function.startswith("{")), "")
    return f"a closure in {outer}" if outer else place.function


def _locate(event: Event, lines: list[str], paths: Paths, debug: ModuleDebug | None,
            module: str) -> None:
    """Fill in the event's message, the student's function and line, what raised it, its trace."""
    message, rip, frames = _report(lines, event.line)
    panic_at: Place | None = None
    if event.kind == "rust_panic" and (m := PANIC_AT.match(event.detail)):
        raised = f"{m['file']}:{m['line']}{m['label'] or ''}"
        panic_at = Place("", m["file"], int(m["line"]), raised)
        event.detail = " ".join([m["rest"].strip(), *message]).strip() or "panic"
        if m["file"] == paths.source_name or (not paths.source_name and "/" not in m["file"]
                                              and m["file"].endswith(".rs")):
            event.location = raised
        else:
            event.raised_at = raised
    ours = [f for f in ([rip] if rip else []) + frames
            if f.module and (f.module == module or not module) and f.plausible]
    chains = debug.frames(ours) if debug is not None and ours else [[] for _ in ours]
    chosen: list[Place] = []
    for chain in chains:
        if debug is None or debug.in_source(chain) is None:
            continue
        if panic_at is not None and (event.location or (chain[0].file == panic_at.file
                                                        and chain[0].line == panic_at.line)):
            chosen = chain
            break
        chosen = chosen or chain
    if chosen and debug is not None and (place := debug.in_source(chosen)):
        event.function = _named(place, chosen)
        event.location = event.location or place.where
        event.trace = [f"{p.function} ({p.where})" for p in chosen][:TRACE_SHOWN]
        if not event.raised_at and chosen[0] is not place:
            event.raised_at = f"{chosen[0].function} ({chosen[0].where})"
    elif ours:
        event.function = f"{demangle([ours[0].symbol])[0]} [{ours[0].module}]"
        event.trace = [f"{name} [{f.module}]"
                       for f, name in zip(ours, demangle([f.symbol for f in ours]), strict=True)
                       ][:TRACE_SHOWN]
    elif rip is not None:
        event.function = demangle([rip.symbol])[0] + (f" [{rip.module}]" if rip.module else "")
    if rip is not None and not rip.module and not event.raised_at and event.kind != "rust_panic":
        event.raised_at = demangle([rip.symbol])[0]
