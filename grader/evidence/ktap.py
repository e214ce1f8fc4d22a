"""Parse the guest's KTAP output into a tree of test results.

The graded tests run inside a QEMU guest and report in KTAP, the kernel's dialect
of TAP (Documentation/dev-tools/ktap.rst). What reaches the host can be mixed with
kernel messages, cut short by a crashing driver, or simply garbage, so this parser
never raises on its input: like the kernel's tools/testing/kunit/kunit_parser.py,
on which it is modelled, it is a recursive descent over lines that records
problems (in `TestResult.errors`) instead of giving up. Unlike kunit_parser it
follows indentation, so that a truncated or interleaved log still says exactly
which tests reported, which did not, and why.

Format decisions, where ktap.rst leaves room:

* A printk timestamp (``[    1.234567] ``, optionally followed by a caller id
  such as ``[    T1]``) is removed before a line is parsed. Lines that are not
  KTAP are kept in `TestResult.log` and never change a status.
* Nesting follows indentation (a tab counts as 8 columns, so tab-indented KUnit
  logs work as well as 2- or 4-space ones): a version line, ``# Subtest:`` line
  or plan indented deeper than the current level opens the subtests of the next
  test, whose own result line comes back at the outer level (KUnit's layout).
  A result line indented deeper than its level is accepted with a warning, as
  kunit_parser accepts it.
* A test's diagnostics are the ``#`` lines printed at its level after the
  previous result and before its own (KUnit prints them first). Non-KTAP lines
  indented at least as deep as that level (and indented at all) that directly
  follow a diagnostic are kept with it: that is how KUnit prints the
  "Expected ... but" block of a failed expectation. Diagnostics between a
  version line and its plan (``# module: ...``) belong to the test that owns
  those subtests; diagnostics left over after the last test of a level belong to
  the owner too, unless tests are missing: then they go to the first missing
  test, which is the one that was running when the output stopped.
* ``# SKIP`` and ``# TODO`` are case-insensitive, as in TAP; the KTAP additions
  ``XFAIL``, ``TIMEOUT`` and ``ERROR`` must be upper case, so that free-form
  diagnostic data such as ``# error count 0`` is not read as a directive. TODO
  and XFAIL mean "known to fail": status XFAIL, which is not a failure (TAP does
  not count TODO tests as failures, whichever way they turn out). TIMEOUT keeps
  the ok/not ok result; ERROR gives status ERROR.
* Plans are trusted: tests that a plan announces but that never report are
  MISSING. A parent whose subtests did not all report is an ERROR even if it
  said ok, a parent that said ok (or skip) while a subtest failed is a FAIL, and
  one that said ok without running any subtest is NO_TESTS.
* Output that stops without a final newline gets a warning when its last line
  is KTAP: ``ok 2 sec`` may be ``ok 2 second`` cut short by a killed guest.
* Only the first document is parsed: a second top-level version line (say, the
  guest rebooted and ran its tests again) ends it, so a clean second run cannot
  hide the tests the first one never reported.
* Output without any version line is an ERROR document; a document with no
  tests at all is NO_TESTS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum, StrEnum, auto


class Status(StrEnum):
    """Outcome of one test; for a test with subtests it also reflects them."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    XFAIL = "xfail"  # TODO or XFAIL directive: known to fail, not counted as a failure
    NO_TESTS = "no_tests"  # a test (or the document) that ran no tests at all
    MISSING = "missing"  # announced by a plan, or started, but never reported
    ERROR = "error"  # ERROR directive, unusable output, or incomplete subtests

    @property
    def is_failure(self) -> bool:
        """Whether the outcome must count against the student."""
        return self in (Status.FAIL, Status.MISSING, Status.ERROR)


# How several outcomes sum up to one: the worst wins, and one passing test
# outranks skips, so "some passed, the rest skipped" is PASS.
_RANK = {
    status: rank
    for rank, status in enumerate(
        [
            Status.NO_TESTS,
            Status.SKIP,
            Status.XFAIL,
            Status.PASS,
            Status.FAIL,
            Status.MISSING,
            Status.ERROR,
        ]
    )
}

# Deeper nesting than this is treated as garbage: the input is untrusted and
# every level costs a Python stack frame.
_MAX_DEPTH = 64


def _worst(statuses: Iterable[Status]) -> Status:
    return max(statuses, key=_RANK.__getitem__)


@dataclass
class TestResult:
    """One test of a KTAP document, or the document itself (the root).

    `number` is the number printed on the result line (0 for the root and for
    tests that never reported one). `directive` is ``SKIP``, ``TODO``,
    ``XFAIL``, ``TIMEOUT``, ``ERROR`` or empty; `reason` is the text after it (or
    the diagnostic data after ``#`` when there is no directive), or why a test is
    MISSING or ERROR. `diagnostics` are the test's ``#`` lines as printed (plus
    their continuation lines); `log` holds the other, non-KTAP lines printed
    while it ran (kernel messages, oopses); `errors` are the problems found in
    the output at this test, with line numbers.
    """

    __test__ = False  # not a pytest test class, despite the name

    name: str
    status: Status
    number: int = 0
    directive: str = ""
    reason: str = ""
    diagnostics: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    subtests: list[TestResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def find(self, name: str) -> TestResult | None:
        """The first direct subtest called `name`: graded tests are top-level tests."""
        return next((test for test in self.subtests if test.name == name), None)

    def message(self) -> str:
        """What to show a student: the reason, then the diagnostics without ``# ``."""
        lines = [self.reason] if self.reason else []
        lines += [_unhash(line) for line in self.diagnostics]
        return "\n".join(lines)

    def walk(self) -> Iterator[TestResult]:
        """This test and all its subtests, depth first, e.g. to collect `errors`."""
        yield self
        for test in self.subtests:
            yield from test.walk()


def _unhash(diagnostic: str) -> str:
    """A diagnostic without its ``# ``; continuation lines keep their indentation."""
    return diagnostic[1:].removeprefix(" ") if diagnostic.startswith("#") else diagnostic


class _Kind(Enum):
    VERSION = auto()
    SUBTEST = auto()
    PLAN = auto()
    RESULT = auto()
    DIAGNOSTIC = auto()
    OTHER = auto()


_STRUCTURAL = (_Kind.VERSION, _Kind.SUBTEST, _Kind.PLAN, _Kind.RESULT)
_PRINTK_PREFIX = re.compile(r"\[\s*\d+\.\d+\](?:\[\s*[A-Z]?\d+\])? ?")
# Tried in order with fullmatch; "# Subtest:" must win over plain diagnostics.
_PATTERNS = (
    (_Kind.VERSION, re.compile(r"(K?TAP) version (\d+)")),
    (_Kind.SUBTEST, re.compile(r"#\s*Subtest:\s*(.*)")),
    (_Kind.PLAN, re.compile(r"1\.\.(\d+)(?:\s*#.*)?")),
    (_Kind.RESULT, re.compile(r"(ok|not ok)\s+(\d+)(?:\s+(.*))?")),
    (_Kind.DIAGNOSTIC, re.compile(r"#.*")),
)
_VERSIONS = {"KTAP": (1,), "TAP": (13, 14)}
_DIRECTIVE_MARK = re.compile(r"(?:^|\s)#")
_LEADING_DASH = re.compile(r"-(?:\s+|$)")


@dataclass(frozen=True, slots=True)
class _Line:
    number: int  # 1-based, for messages
    indent: int  # columns, tabs expanded
    kind: _Kind
    text: str  # without printk prefix, indentation and trailing whitespace
    match: re.Match[str] | None

    def dedent(self, indent: int) -> str:
        """The line relative to `indent`, keeping any deeper indentation."""
        return " " * max(self.indent - indent, 0) + self.text


def _lex(text: str) -> list[_Line]:
    lines = []
    # split on "\n" and strip the rest: serial consoles end lines with "\r\n"
    # or even "\r\r\n", which must not turn into extra blank lines.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip()
        if prefix := _PRINTK_PREFIX.match(line):
            line = line[prefix.end() :]
        body = line.lstrip()
        indent = len(line[: len(line) - len(body)].expandtabs(8))
        kind, match = _Kind.OTHER, None
        for candidate, pattern in _PATTERNS:
            if match := pattern.fullmatch(body):
                kind = candidate
                break
        lines.append(_Line(number, indent, kind, body, match))
    return lines


def _describe(rest: str) -> tuple[str, str, str]:
    """Split what follows a result's number into (name, directive, reason)."""
    mark = _DIRECTIVE_MARK.search(rest)
    name, tail = (rest[: mark.start()], rest[mark.end() :]) if mark else (rest, "")
    name = _LEADING_DASH.sub("", name.strip(), count=1)  # "ok 1 - name", TAP style
    tail = tail.strip()
    word, _, after = tail.partition(" ")
    if word.upper().startswith("SKIP"):
        return name, "SKIP", after.strip()
    if word.upper() == "TODO":
        return name, "TODO", after.strip()
    if word in ("XFAIL", "TIMEOUT", "ERROR"):
        return name, word, after.strip()
    return name, "", tail


def _reported_status(ok: bool, directive: str) -> Status:
    if directive == "SKIP":
        return Status.SKIP
    if directive in ("TODO", "XFAIL"):
        return Status.XFAIL
    if directive == "ERROR":
        return Status.ERROR
    return Status.PASS if ok else Status.FAIL


def _combine(test: TestResult, reported: Status) -> Status:
    """The status of a test that printed subtests, given what it reported itself.

    A parent's own line is not enough: a suite must not pass because it said ok
    while one of its cases failed or never reported.
    """
    if not test.subtests:
        if reported is Status.PASS:
            test.errors.append("reported ok but ran no subtests")
            return Status.NO_TESTS
        return reported
    worst = _worst(sub.status for sub in test.subtests)
    if worst is Status.MISSING:
        test.errors.append("reported a result before all of its subtests did")
        return Status.ERROR
    if worst is Status.ERROR:
        return Status.ERROR
    if worst is Status.FAIL and reported in (Status.PASS, Status.SKIP):
        test.errors.append(f"reported {reported} although a subtest failed")
        return Status.FAIL
    return reported


class _Parser:
    """Recursive descent over lexed lines: one `document` call per nesting level."""

    def __init__(self, lines: list[_Line], start: int) -> None:
        self._lines = lines
        self._pos = start
        self.end = len(lines)  # lowered when a second document starts
        self._end_reason = "output ended"
        self._last_diagnostic = -1  # index of the last line kept as a diagnostic
        self._depth = 0
        # for each index, the index of the first structural line at or after it
        self._next_structural = [len(lines)] * (len(lines) + 1)
        for index in range(len(lines) - 1, -1, -1):
            structural = lines[index].kind in _STRUCTURAL
            self._next_structural[index] = index if structural else self._next_structural[index + 1]

    def _peek(self) -> _Line | None:
        return self._lines[self._pos] if self._pos < self.end else None

    def document(self, owner: TestResult, indent: int, *, root: bool) -> None:
        """Parse the tests of one level, starting at its first line, into `owner.subtests`.

        Below the top level, stop at the first line that belongs to an outer
        level (normally the owner's own result line) without consuming it.
        """
        first = self._lines[self._pos]
        if first.kind is _Kind.VERSION:
            self._pos += 1
            _check_version(owner, first)
        children = owner.subtests
        plan: int | None = None
        named = False
        pending = TestResult(name="", status=Status.MISSING)  # the test being printed
        nested = False  # whether `pending` has printed subtests
        while (line := self._peek()) is not None:
            outer = not root and line.indent < indent
            if line.kind is _Kind.OTHER:
                self._pos += 1
                self._other(line, pending, indent)
            elif line.kind is _Kind.DIAGNOSTIC:
                if outer and self._outer_level_follows(indent):
                    break
                self._pos += 1
                if outer:
                    pending.log.append(line.text)
                else:
                    self._diagnostic(line, pending)
            elif outer:
                break
            elif line.kind is _Kind.RESULT:
                self._pos += 1
                _report(pending, line, indent, len(children) + 1, nested)
                children.append(pending)
                pending, nested = TestResult(name="", status=Status.MISSING), False
            elif line.indent > indent:
                if nested:
                    pending.number = len(children) + 1
                    pending.reason = f"no result line before line {line.number}"
                    children.append(pending)
                    pending = TestResult(name="", status=Status.MISSING)
                nested = self._nest(owner, pending, line)
            elif line.kind is _Kind.VERSION:
                if root:
                    self.end = self._pos
                    self._end_reason = f"a new KTAP document started at line {line.number}"
                    owner.errors.append(
                        f"line {line.number}: a second KTAP document starts here; "
                        "only the first one is parsed"
                    )
                break
            elif line.kind is _Kind.SUBTEST:
                header = not (named or plan is not None or children or nested)
                if not (header or root):
                    break  # a sibling's subtests start: the owner's result line is lost
                self._pos += 1
                if header:
                    assert line.match is not None
                    owner.name, named = line.match[1], True
                else:
                    owner.errors.append(f"line {line.number}: unexpected '# Subtest:' line")
                    self._diagnostic(line, pending)
            else:
                self._pos += 1
                plan = self._plan(owner, line, plan,
                                  pending if not (children or nested) else None)
        if (stop := self._peek()) is None:
            why = self._end_reason
        else:
            why = f"the outer level resumed at line {stop.number}"
        self._close(owner, plan, pending, nested, why)

    def _nest(self, owner: TestResult, pending: TestResult, line: _Line) -> bool:
        """Parse the subtests that `line` opens into `pending`; False if refused."""
        if self._depth >= _MAX_DEPTH:
            self._pos += 1
            owner.errors.append(f"line {line.number}: nested deeper than {_MAX_DEPTH} levels")
            pending.log.append(line.text)
            return False
        self._depth += 1
        self.document(pending, line.indent, root=False)
        self._depth -= 1
        return True

    def _plan(
        self, owner: TestResult, line: _Line, plan: int | None, header: TestResult | None
    ) -> int | None:
        """Record a plan line; before the first test it ends the owner's header."""
        assert line.match is not None
        if plan is not None:
            owner.errors.append(f"line {line.number}: second plan line ignored")
            return plan
        if header is not None:  # what came before the plan describes the owner
            owner.diagnostics += header.diagnostics
            owner.log += header.log
            header.diagnostics, header.log = [], []
        return int(line.match[1])

    def _other(self, line: _Line, pending: TestResult, indent: int) -> None:
        index = self._pos - 1
        if not line.text:
            return
        if index == self._last_diagnostic + 1 and line.indent >= max(indent, 1):
            pending.diagnostics.append(line.dedent(indent))
            self._last_diagnostic = index
        else:
            pending.log.append(line.text)

    def _diagnostic(self, line: _Line, pending: TestResult) -> None:
        pending.diagnostics.append(line.text)
        self._last_diagnostic = self._pos - 1

    def _outer_level_follows(self, indent: int) -> bool:
        """Whether the next structural line (if any) belongs to an outer level.

        A diagnostic printed left of the current level ends it only then: KUnit
        prints a suite's summary ("# suite: pass:2 ...") at the suite's level
        just before its result line.
        """
        index = self._next_structural[self._pos]
        return index >= self.end or self._lines[index].indent < indent

    def _close(
        self, owner: TestResult, plan: int | None, pending: TestResult, nested: bool, why: str
    ) -> None:
        """Finish a level: add the tests that never reported and place leftovers."""
        children = owner.subtests
        first_missing = len(children)
        if nested:
            pending.number = first_missing + 1
            pending.reason = f"{why} before test {pending.number} reported"
            children.append(pending)
        if plan is not None and len(children) < plan:
            owner.errors.append(f"{why} after {first_missing} of {plan} planned tests")
            reported = {child.number for child in children}
            numbers = [n for n in range(1, plan + 1) if n not in reported]
            children += [
                TestResult(
                    name="",
                    status=Status.MISSING,
                    number=number,
                    reason=f"{why} before test {number} reported",
                )
                for number in numbers[: plan - len(children)]
            ]
        elif plan is not None and len(children) > plan:
            owner.errors.append(f"plan was 1..{plan} but {len(children)} tests reported")
        if not nested:
            target = children[first_missing] if len(children) > first_missing else owner
            target.diagnostics += pending.diagnostics
            target.log += pending.log


def _check_version(owner: TestResult, line: _Line) -> None:
    assert line.match is not None
    kind, version = line.match[1], int(line.match[2])
    if version not in _VERSIONS[kind]:
        owner.errors.append(f"line {line.number}: unknown {kind} version {version}")


def _report(test: TestResult, line: _Line, indent: int, expected: int, nested: bool) -> None:
    """Fill in `test` from its result line."""
    assert line.match is not None
    result, number, rest = line.match.groups()
    test.number = int(number)
    if test.number != expected:
        test.errors.append(f"line {line.number}: expected test number {expected}, not {number}")
    if line.indent != indent:
        test.errors.append(
            f"line {line.number}: result indented by {line.indent}, expected {indent}"
        )
    name, test.directive, test.reason = _describe(rest or "")
    if name and test.name and name != test.name:
        test.errors.append(
            f"line {line.number}: result is for {name!r} but the subtest header said {test.name!r}"
        )
    test.name = name or test.name
    reported = _reported_status(result == "ok", test.directive)
    test.status = _combine(test, reported) if nested else reported


def parse(text: str) -> TestResult:
    """Parse a log into its document: the root whose subtests are the top-level tests.

    Never raises on bad input; see the module docstring for how odd output is read.
    """
    lines = _lex(text)
    root = TestResult(name="", status=Status.NO_TESTS)
    start = next((i for i, line in enumerate(lines) if line.kind is _Kind.VERSION), None)
    if start is None:
        root.status = Status.ERROR
        root.reason = (
            "no KTAP version line in the output: the tests did not run or their output was lost"
        )
        root.errors.append(root.reason)
        return root
    parser = _Parser(lines, start)
    parser.document(root, lines[start].indent, root=True)
    if root.subtests:
        root.status = _worst(test.status for test in root.subtests)
    else:
        root.reason = "no tests were reported"
    last = lines[-1]
    if last.kind is not _Kind.OTHER and len(lines) - 1 < parser.end:
        root.errors.append(
            f"line {last.number}: the output stops in the middle of this line, "
            f"so {last.text!r} may be cut short"
        )
    return root
