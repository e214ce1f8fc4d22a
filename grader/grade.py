"""Turn the evidence of one run into points: lab tests x (build, kernel log, KTAP).

Every test declared in lab.toml gets exactly one outcome. A test the guest
reported as ok earns its points; anything else earns none, with a message that
says why in the student's terms: the build failed, the module did not load, the
kernel crashed in a named function during a named phase, the guest stopped
responding, or the test's own diagnostics. Tests the guest printed but the lab
does not declare earn nothing (a module cannot invent tests).
"""

from __future__ import annotations

from grader import ktap
from grader.kernlog import KernelLog
from grader.lab import Lab
from grader.modbuild import BuildResult
from grader.results import TestOutcome
from grader.trace import Trace

#: How a reported KTAP status counts; a TODO/XFAIL test is a known failure, not a pass.
KTAP_STATUS = {
    ktap.Status.PASS: "pass",
    ktap.Status.SKIP: "skip",
    ktap.Status.FAIL: "fail",
    ktap.Status.XFAIL: "fail",
}


def _why_unreported(build: BuildResult, log: KernelLog | None, timed_out: bool,
                    timeout_s: float) -> str:
    """The reason a test never reported, from the most to the least specific evidence."""
    if not build.ok:
        first = build.errors[0].short() if build.errors else build.log.splitlines()[-1:]
        return f"not run: the module did not build ({first})"
    assert log is not None
    if fatal := log.fatal:
        return f"not run: {fatal.describe()}"
    if timed_out:
        return (f"not run: the guest stopped responding during {log.phase} and was stopped "
                f"after {timeout_s:.0f} s")
    return "not run: the guest tests ended before this test reported"


def grade_tests(lab: Lab, build: BuildResult, log: KernelLog | None, doc: ktap.TestResult | None,
                timed_out: bool = False) -> list[TestOutcome]:
    """One outcome per lab test, in lab order."""
    outcomes = []
    load_failure = next((e for e in (log.events if log else []) if e.kind == "load_failure"),
                        None)
    for test in lab.tests:
        reported = doc.find(test.name) if doc is not None else None
        base = dict(name=test.name, max_points=test.points, description=test.description,
                    hidden=test.hidden)
        if reported is None or reported.status not in KTAP_STATUS:
            message = _why_unreported(build, log, timed_out, lab.timeouts.boot)
            outcomes.append(TestOutcome(status="error", points=0.0, message=message, **base))
            continue
        status = KTAP_STATUS[reported.status]
        message = reported.message()
        if status == "fail" and load_failure is not None:
            message = f"{load_failure.describe()}\n{message}".strip()
        if status == "skip":
            message = message or f"skipped: {reported.reason or 'no reason given'}"
        outcomes.append(TestOutcome(status=status, points=test.points if status == "pass" else 0.0,
                                    message=message, **base))
    return outcomes


def grade_trace_checks(lab: Lab, build: BuildResult, log: KernelLog | None,
                       trace: Trace | None) -> list[TestOutcome]:
    """Outcomes of the lab's host-side trace checks (evidence the guest cannot forge)."""
    outcomes = []
    for check in lab.trace_checks:
        base = dict(name=check.name, max_points=check.points, description=check.description)
        if not build.ok or trace is None:
            reason = _why_unreported(build, log, False, lab.timeouts.boot)
            outcomes.append(TestOutcome(status="error", points=0.0, message=reason, **base))
            continue
        passed, message = check.evaluate(trace)
        outcomes.append(TestOutcome(status="pass" if passed else "fail",
                                    points=check.points if passed else 0.0, message=message,
                                    **base))
    return outcomes
