"""Read the guest's kernel log: crashes, warnings, lockups, load failures, phases.

The console is host-side evidence of what the kernel did. Each recognised
event gets a kind (oops, panic, bug, rust_panic, warning, soft_lockup,
hung_task, rcu_stall, load_failure, hang), a one-line summary for the student,
the faulting function when the kernel printed one, and an excerpt of the log.
The `kdlab: ...` lines are phase markers written by the guest init.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

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

    def to_json(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        where = f" in {self.function}" if self.function else ""
        during = f" during {self.phase}" if self.phase else ""
        return f"{self.summary}{where}{during}: {self.detail}"


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


def analyse(console: str) -> KernelLog:
    """Turn raw console text into a KernelLog."""
    lines = [TIMESTAMP.sub("", line.rstrip("\r")) for line in console.splitlines()]
    log = KernelLog(lines)
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
                    f"{_phase_name(m[1])} was still running after {m[2]} s", number,
                    phase=_phase_name(m[1]), excerpt=log.excerpt(number, 12, 2)))
            continue
        for kind, pattern in PATTERNS:
            if found := pattern.search(line):
                detail = next(g for g in found.groups() if g)
                log.events.append(Event(kind, SUMMARIES[kind], detail.strip(), number,
                                        phase=_phase_name(log.phase)))
                break
    for event in log.events:
        if event.kind == "rust_panic":
            # The CPU stopped in the kernel's panic helper; where the student's code
            # panicked is the location rustc compiled in: "hello.rs:37:13".
            event.function = event.detail.rstrip(":")
            event.excerpt = log.excerpt(event.line)
        elif event.kind in FATAL | {"warning"} and not event.excerpt:
            for follow in lines[event.line: event.line + 40]:
                if rip := RIP.search(follow):
                    event.function = rip["func"] + (f" [{rip['mod']}]" if rip["mod"] else "")
                    break
            event.excerpt = log.excerpt(event.line)
    return log
