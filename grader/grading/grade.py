"""Turn the evidence of one run into points: the lab's graded items x (build, log, results, trace).

Every item `Lab.graded_items()` lists gets exactly one outcome, in that order. A
guest test earns its points only when the result channel verified its block
(grader.evidence.channel) and the block says ok; anything else earns none, with a message
that says why in the student's terms: the build failed, the module did not load,
the kernel crashed in a named function during a named phase, the guest stopped
responding, the result was not trusted, or the test's own diagnostics. Tests the
guest printed but the lab does not declare earn nothing (a module cannot invent
tests). Trace checks are judged on the host's own record of device accesses.
"""

from __future__ import annotations

from typing import Any

from grader.engine.modbuild import BuildResult
from grader.evidence import ktap
from grader.evidence.channel import Verdict
from grader.evidence.kernlog import KernelLog
from grader.evidence.trace import Trace
from grader.grading.results import Status, TestOutcome
from grader.lab.model import GradedItem, Lab

#: How a reported KTAP status counts; a TODO/XFAIL test is a known failure, not a pass.
KTAP_STATUS = {
    ktap.Status.PASS: Status.PASS,
    ktap.Status.SKIP: Status.SKIP,
    ktap.Status.FAIL: Status.FAIL,
    ktap.Status.XFAIL: Status.FAIL,
}


def _why_unreported(build: BuildResult, log: KernelLog | None, verdict: Verdict | None,
                    timed_out: bool, timeout_s: float) -> str:
    """The reason a test never reported, from the most to the least specific evidence."""
    if not build.ok:
        # The first error names the student's line; make's last words never say why.
        first = build.errors[0].short() if build.errors else (
            build.log.strip().splitlines() or ["no compiler message"])[-1]
        return f"not run: the module did not build ({first})"
    assert log is not None
    if fatal := log.fatal:
        return f"not run: {fatal.describe()}"
    if timed_out:
        return (f"not run: the guest stopped responding during {log.phase} and was stopped "
                f"after {timeout_s:.0f} s")
    if verdict is not None and not verdict.started:
        return "not run: the guest ended before the tests started"
    return "not run: the guest tests ended before this test reported"


def _untrusted(verdict: Verdict) -> str:
    return ("not counted: the result channel was tampered with in this run — "
            + "; ".join(verdict.problems))


def _test_outcome(index: int, item: GradedItem, lab: Lab, build: BuildResult,
                  log: KernelLog | None, verdict: Verdict | None, doc: ktap.TestResult | None,
                  timed_out: bool) -> TestOutcome:
    base: dict[str, Any] = dict(name=item.name, max_points=item.points,
                                description=item.description, hidden=item.hidden)
    reported = doc.find(item.name) if doc is not None else None
    if verdict is not None and index in verdict.rejected:
        return TestOutcome(status=Status.ERROR, points=0.0, message=_untrusted(verdict),
                           **base)
    if reported is None or reported.status not in KTAP_STATUS:
        message = _why_unreported(build, log, verdict, timed_out, lab.timeouts.boot)
        if verdict is not None and verdict.problems:
            message += "\n" + _untrusted(verdict)
        return TestOutcome(status=Status.ERROR, points=0.0, message=message, **base)
    status = KTAP_STATUS[reported.status]
    message = reported.message()
    load_failure = next((e for e in (log.events if log else []) if e.kind == "load_failure"),
                        None)
    if status == Status.FAIL and load_failure is not None:
        message = f"{load_failure.describe()}\n{message}".strip()
    if status == Status.SKIP:
        message = message or f"skipped: {reported.reason or 'no reason given'}"
    return TestOutcome(status=status, points=item.points if status == Status.PASS else 0.0,
                       message=message, **base)


def _trace_outcome(item: GradedItem, lab: Lab, build: BuildResult, log: KernelLog | None,
                   trace: Trace | None) -> TestOutcome:
    base: dict[str, Any] = dict(name=item.name, max_points=item.points,
                                description=item.description, hidden=item.hidden)
    check = next(c for c in lab.trace_checks if c.name == item.name)
    if not build.ok or trace is None:
        reason = _why_unreported(build, log, None, False, lab.timeouts.boot)
        return TestOutcome(status=Status.ERROR, points=0.0, message=reason, **base)
    passed, message = check.evaluate(trace)
    return TestOutcome(status=Status.PASS if passed else Status.FAIL,
                       points=item.points if passed else 0.0, message=message, **base)


def not_run(lab: Lab, reason: str, status: Status) -> list[TestOutcome]:
    """Every graded item at 0 with `reason`, for a run that never reached the tests (the
    sandbox stopped it, or the kernel pair cannot serve the lab)."""
    return [TestOutcome(i.name, status, 0.0, i.points, f"not run: {reason}", i.description,
                        i.hidden) for i in lab.graded_items()]


def grade(lab: Lab, build: BuildResult, log: KernelLog | None, verdict: Verdict | None,
          trace: Trace | None, timed_out: bool = False) -> list[TestOutcome]:
    """One outcome per graded item of the lab, in the lab's order.

    `verdict` is None when nothing booted; only its verified KTAP is read.
    """
    doc = ktap.parse(verdict.ktap) if verdict is not None and verdict.started else None
    outcomes = []
    index = 0
    for item in lab.graded_items():
        if item.kind == "test":
            index += 1
            outcomes.append(_test_outcome(index, item, lab, build, log, verdict, doc, timed_out))
        else:
            outcomes.append(_trace_outcome(item, lab, build, log, trace))
    return outcomes
