"""The result of checking one submission: per-test outcomes, points, evidence.

This is the one shape every consumer reads: `kdlab check --json`, the notebook
widgets, the nbgrader grade cells and batch grading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from grader.engine.modbuild import BuildResult
from grader.evidence.kernlog import Event


class Status(StrEnum):
    """How one graded test ended (`status` in `kdlab check --json`)."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"  # not run: the kernel pair cannot serve the lab, or the test skipped itself
    ERROR = "error"  # no trustworthy answer: the module did not build, crashed or hung


@dataclass(frozen=True)
class Mark:
    """How a status is shown: its word (terminal, notebook, nbgrader feedback), its symbol
    (the batch's feedback page) and its colour (HTML)."""

    word: str
    symbol: str
    colour: str


#: The one table of status marks, for every place a status is shown.
MARKS: dict[Status, Mark] = {
    Status.PASS: Mark("PASS", "✔", "#1a7f37"),
    Status.FAIL: Mark("FAIL", "✘", "#cf222e"),
    Status.ERROR: Mark("ERROR", "✘", "#cf222e"),
    Status.SKIP: Mark("SKIP", "-", "#9a6700"),
}

#: Diagnostic codes of the source policy (grader.grading.policy) start with this.
POLICY_CODE = "kdlab::"
#: The kernel log kept in a result: enough for feedback, bounded for gradebooks.
KERNEL_LOG_LIMIT = 64 * 1024
#: The keys of a result's JSON that CheckResult's own fields make (the rest is `extra`).
_OWN_KEYS = frozenset({"lab", "score", "max_score", "tests", "build", "kernel_log", "events",
                       "boot", "timings", "refused"})


@dataclass
class TestOutcome:
    """One graded test."""

    name: str
    status: Status
    points: float
    max_points: float
    message: str = ""
    description: str = ""
    hidden: bool = False

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "points": self.points,
                "max_points": self.max_points, "message": self.message,
                "description": self.description, "hidden": self.hidden}

    @classmethod
    def from_json(cls, data: dict) -> TestOutcome:
        return cls(**{**data, "status": Status(data["status"])})


@dataclass
class Timings:
    """Seconds spent in each step, measured on the host."""

    build_s: float = 0.0
    boot_s: float = 0.0
    total_s: float = 0.0

    def to_json(self) -> dict:
        return {k: round(v, 3) for k, v in vars(self).items()}


@dataclass
class CheckResult:
    """Everything `kdlab check` found out about one submission."""

    lab: str
    tests: list[TestOutcome]
    build: BuildResult
    kernel_log: str = ""
    events: list[Event] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    accel: str = ""
    boot_status: str = ""
    extra: dict = field(default_factory=dict)
    #: Why the check did not start: the kernel pair does not meet the lab's `[kernel]`
    #: needs (grader.grading.check.refusal). Empty for every check that ran.
    refused: str = ""

    @property
    def score(self) -> float:
        return round(sum(t.points for t in self.tests), 3)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_points for t in self.tests), 3)

    @classmethod
    def from_json(cls, data: dict) -> CheckResult:
        """The result `to_json` wrote (a sandbox's output, a journal's record): its
        `to_json` gives `data` back. Keys it does not know stay in `extra`."""
        boot = data.get("boot") or {}
        return cls(
            lab=data["lab"],
            tests=[TestOutcome.from_json(t) for t in data["tests"]],
            build=BuildResult.from_json(data["build"]),
            kernel_log=data.get("kernel_log", ""),
            events=[Event(**e) for e in data.get("events", [])],
            timings=Timings(**data.get("timings", {})),
            accel=boot.get("accel", ""),
            boot_status=boot.get("status", ""),
            extra={k: v for k, v in data.items() if k not in _OWN_KEYS},
            refused=data.get("refused", ""),
        )

    def to_json(self) -> dict:
        log = self.kernel_log
        if len(log) > KERNEL_LOG_LIMIT:
            log = log[:KERNEL_LOG_LIMIT // 2] + "\n[... cut ...]\n" + log[-KERNEL_LOG_LIMIT // 2:]
        return {
            "lab": self.lab,
            "score": self.score,
            "max_score": self.max_score,
            "tests": [t.to_json() for t in self.tests],
            "build": self.build.to_json(),
            "kernel_log": log,
            "events": [e.to_json() for e in self.events],
            "boot": {"status": self.boot_status, "accel": self.accel},
            "timings": self.timings.to_json(),
            "refused": self.refused,
            **self.extra,
        }

    def summary(self) -> str:
        """A plain-text report for the terminal."""
        lines = [f"{self.lab}: {self.score:g}/{self.max_score:g}"]
        if self.refused:
            return "\n".join([*lines, f"not checked: {self.refused}"])
        if not self.build.ok:
            lines.append("build failed:")
            lines += [f"  {d.short()}" for d in self.build.errors] or [f"  {self.build.log}"]
        for event in self.events:
            lines.append(f"kernel: {event.describe()}")
        for problem in (self.extra.get("channel") or {}).get("problems", []):
            lines.append(f"not trusted: {problem}")
        for test in self.tests:
            mark = MARKS[test.status].word
            lines.append(f"  {mark:5} {test.name} ({test.points:g}/{test.max_points:g})")
            if test.status != Status.PASS and test.message:
                lines += [f"       {line}" for line in test.message.splitlines()[:8]]
        t = self.timings
        lines.append(f"build {t.build_s:.1f}s, boot+tests {t.boot_s:.1f}s ({self.accel}), "
                     f"total {t.total_s:.1f}s")
        return "\n".join(lines)


def integrity_flags(result: dict) -> list[str]:
    """Why a result (CheckResult JSON) deserves an instructor's look: the source policy
    refused a construct, or something other than the test runner wrote to the result
    channel. Every failed attempt to forge a grade shows up here."""
    flags = sorted({f"source policy: {d['code'].removeprefix(POLICY_CODE)} (line {d['line']})"
                    for d in (result.get("build") or {}).get("diagnostics", [])
                    if str(d.get("code", "")).startswith(POLICY_CODE)})
    flags += [f"result channel: {p}" for p in (result.get("channel") or {}).get("problems", [])]
    return flags
