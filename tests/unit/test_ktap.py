"""Tests of grader.evidence.ktap on recorded kernel output and on hand-made broken output.

The recorded logs (tests/data/ktap, see its README) are the kernel's own KUnit
parser fixtures; the hand-written cases cover what a crashing student driver
or the lab's guest script (grader/engine/guest/ktap.sh) can produce.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.evidence.ktap import Status, TestResult, parse

DATA = Path(__file__).parents[1] / "data" / "ktap"
PANIC = "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(98,0)"


def load(name: str) -> TestResult:
    """Parse a recorded log byte for byte (no newline translation)."""
    return parse((DATA / name).read_bytes().decode())


def statuses(test: TestResult) -> list[Status]:
    return [sub.status for sub in test.subtests]


def names(test: TestResult) -> list[str]:
    return [sub.name for sub in test.subtests]


def all_errors(test: TestResult) -> list[str]:
    return [error for node in test.walk() for error in node.errors]


# --- recorded kernel output -------------------------------------------------

# file: (document status, top-level test names, total number of tests in the tree)
RECORDED = {
    "test_is_test_passed-all_passed.log": (Status.PASS, ["sysctl_test", "example"], 12),
    "test_is_test_passed-all_passed_nested.log": (Status.PASS, ["sysctl_test", "example"], 10),
    "test_is_test_passed-crash.log": (Status.FAIL, ["sysctl_test", "example"], 12),
    "test_is_test_passed-failure.log": (Status.FAIL, ["sysctl_test", "example"], 12),
    "test_is_test_passed-failure-nested.log": (Status.FAIL, ["subtest 1", "subtest 2"], 4),
    "test_is_test_passed-kselftest.log": (
        Status.PASS,
        [
            "selftests: membarrier: membarrier_test_single_thread",
            "selftests: membarrier: membarrier_test_multi_thread",
        ],
        2,
    ),
    "test_is_test_passed-missing_plan.log": (Status.PASS, ["sysctl_test", "example"], 12),
    "test_is_test_passed-no_tests_no_plan.log": (Status.PASS, ["suite"], 2),
    "test_is_test_passed-no_tests_run_no_header.log": (Status.ERROR, [], 0),
    "test_is_test_passed-no_tests_run_with_header.log": (Status.NO_TESTS, [], 0),
    "test_interrupted_tap_output.log": (
        Status.PASS,
        ["kunit-resource-test", "kunit-try-catch-test", "string-stream-test"],
        13,
    ),
    "test_kernel_panic_interrupt.log": (
        Status.MISSING,
        ["kunit-resource-test", "kunit-try-catch-test", "string-stream-test"],
        13,
    ),
    "test_multiple_prefixes.log": (
        Status.PASS,
        ["kunit-resource-test", "kunit-try-catch-test", "string-stream-test"],
        13,
    ),
    "test_output_with_prefix_isolated_correctly.log": (
        Status.PASS,
        ["kunit-resource-test", "kunit-try-catch-test", "string-stream-test"],
        13,
    ),
    "test_parse_attributes.log": (Status.PASS, ["suite"], 2),
    "test_parse_subtest_header.log": (Status.PASS, ["suite"], 2),
    "test_skip_all_tests.log": (Status.SKIP, ["string-stream-test", "example"], 7),
    "test_skip_tests.log": (Status.PASS, ["string-stream-test", "example"], 7),
}


def test_every_recorded_log_is_covered() -> None:
    assert sorted(path.name for path in DATA.glob("*.log")) == sorted(RECORDED)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_log_shape(name: str) -> None:
    status, top_level, total = RECORDED[name]
    doc = load(name)
    assert doc.status is status
    assert names(doc) == top_level
    assert sum(1 for _ in doc.walk()) - 1 == total


def test_all_passed_kunit_suites() -> None:
    doc = load("test_is_test_passed-all_passed.log")
    sysctl = doc.find("sysctl_test")
    assert sysctl is not None
    assert sysctl.number == 1
    assert statuses(sysctl) == [Status.PASS] * 8
    assert [sub.number for sub in sysctl.subtests] == list(range(1, 9))
    assert sysctl.subtests[0].name == "sysctl_test_dointvec_null_tbl_data"
    # kernel messages inside the suite are kept, not parsed
    assert sysctl.log == ["kunit sysctl_test: all tests passed"]
    example = doc.find("example")
    assert example is not None
    simple = example.subtests[0]
    assert simple.diagnostics == [
        "# example_simple_test: initializing",
        "# example_simple_test: example_simple_test passed",
    ]
    assert simple.log == ["init_suite"]
    assert all_errors(doc) == []


def test_failed_expectation_message_keeps_kunit_continuation_lines() -> None:
    doc = load("test_is_test_passed-failure.log")
    example = doc.find("example")
    assert example is not None
    assert example.status is Status.FAIL
    simple, mock = example.subtests
    assert (simple.name, simple.status) == ("example_simple_test", Status.FAIL)
    assert (mock.name, mock.status) == ("example_mock_test", Status.PASS)
    assert simple.message() == "\n".join(
        [
            "example_simple_test: initializing",
            "example_simple_test: EXPECTATION FAILED at lib/kunit/example-test.c:30",
            "Expected 1 + 1 == 3, but",
            "        1 + 1 == 2",
            "        3 == 3",
            "example_simple_test: example_simple_test failed",
        ]
    )
    assert doc.find("sysctl_test").status is Status.PASS  # type: ignore[union-attr]
    assert all_errors(doc) == []


def test_crash_keeps_the_oops_in_the_crashed_test_log() -> None:
    doc = load("test_is_test_passed-crash.log")
    example = doc.find("example")
    assert example is not None
    crashed = example.subtests[0]
    assert crashed.status is Status.FAIL
    assert "# example_simple_test: kunit test case crashed!" in crashed.diagnostics
    assert "Call Trace:" in crashed.log
    assert "[<6016f46e>] ? kunit_run_tests+0xce/0x260" in crashed.log
    assert example.subtests[1].status is Status.PASS
    # boot messages before the header are not part of the document
    assert doc.log == ["List of all partitions:"]


def test_skip_directive_and_reason() -> None:
    doc = load("test_skip_tests.log")
    example = doc.find("example")
    assert example is not None
    assert example.status is Status.PASS  # one passed, one skipped
    skipped = example.subtests[1]
    assert skipped.name == "example_skip_test"
    assert (skipped.status, skipped.directive) == (Status.SKIP, "SKIP")
    assert skipped.reason == "this test should be skipped"
    assert skipped.message() == "this test should be skipped\nexample_skip_test: initializing"


def test_all_skipped_suites_are_skipped() -> None:
    doc = load("test_skip_all_tests.log")
    assert statuses(doc) == [Status.SKIP, Status.SKIP]
    stream = doc.find("string-stream-test")
    assert stream is not None
    assert [sub.reason for sub in stream.subtests] == ["all tests skipped"] * 3


def test_printk_prefixes_and_garbage_are_stripped() -> None:
    for name in ("test_output_with_prefix_isolated_correctly.log", "test_multiple_prefixes.log"):
        doc = load(name)
        stream = doc.find("string-stream-test")
        assert stream is not None
        assert names(stream) == [
            "string_stream_test_empty_on_creation",
            "string_stream_test_not_empty_after_add",
            "string_stream_test_get_string",
        ]
        assert PANIC in doc.log
        assert all_errors(doc) == []
    doc = load("test_output_with_prefix_isolated_correctly.log")
    resource = doc.find("kunit-resource-test")
    assert resource is not None
    assert resource.subtests[3].log == ["foo bar \t#"]
    assert resource.subtests[3].status is Status.PASS


def test_kernel_messages_between_results_go_to_the_log() -> None:
    doc = load("test_interrupted_tap_output.log")
    resource = doc.find("kunit-resource-test")
    assert resource is not None
    assert resource.subtests[3].log[0] == "kAFS: Red Hat AFS client v0.1 registering."
    assert len(resource.subtests[3].log) == 6
    assert statuses(resource) == [Status.PASS] * 5


def test_missing_plan_counts_results() -> None:
    doc = load("test_is_test_passed-missing_plan.log")
    sysctl = doc.find("sysctl_test")
    assert sysctl is not None
    assert len(sysctl.subtests) == 8
    assert sysctl.status is Status.PASS
    assert all_errors(doc) == []


def test_kernel_panic_leaves_planned_tests_missing() -> None:
    doc = load("test_kernel_panic_interrupt.log")
    assert doc.status.is_failure
    stream = doc.find("string-stream-test")
    assert stream is not None
    assert stream.status is Status.MISSING
    assert stream.number == 3
    assert stream.reason == "output ended before test 3 reported"
    assert statuses(stream) == [Status.PASS, Status.MISSING, Status.MISSING]
    running = stream.subtests[1]
    assert running.number == 2
    assert running.reason == "output ended before test 2 reported"
    # the panic is shown with the test that was running when it happened
    assert running.log[0] == PANIC
    assert stream.subtests[2].reason == "output ended before test 3 reported"
    assert "output ended after 1 of 3 planned tests" in stream.errors
    assert doc.find("kunit-try-catch-test").status is Status.PASS  # type: ignore[union-attr]


def test_nested_failures_bubble_up() -> None:
    doc = load("test_is_test_passed-failure-nested.log")
    first, second = doc.subtests
    assert (first.status, statuses(first)) == (Status.FAIL, [Status.PASS])
    assert (second.status, statuses(second)) == (Status.FAIL, [Status.FAIL])
    assert second.subtests[0].name == "subsubtest 1"
    # over-indented result lines are accepted but reported
    assert first.subtests[0].errors == ["line 5: result indented by 8, expected 4"]


def test_three_levels_of_tab_indentation() -> None:
    doc = load("test_is_test_passed-all_passed_nested.log")
    sysctl = doc.find("sysctl_test")
    assert sysctl is not None
    assert names(sysctl)[1] == "example"
    inner = sysctl.subtests[1]
    assert names(inner) == ["example_simple_test", "example_mock_test"]
    assert inner.log == ["kunit example: all tests passed"]
    assert statuses(sysctl) == [Status.PASS] * 4


def test_no_header_is_an_error_with_a_message() -> None:
    doc = load("test_is_test_passed-no_tests_run_no_header.log")
    assert doc.status is Status.ERROR
    assert doc.subtests == []
    assert "no KTAP version line" in doc.message()
    assert doc.errors == [doc.reason]


def test_empty_plan_is_no_tests() -> None:
    doc = load("test_is_test_passed-no_tests_run_with_header.log")
    assert doc.status is Status.NO_TESTS
    assert doc.message() == "no tests were reported"
    assert not doc.status.is_failure


def test_subtest_without_tests_takes_its_reported_skip() -> None:
    doc = load("test_is_test_passed-no_tests_no_plan.log")
    suite = doc.find("suite")
    assert suite is not None
    case = suite.subtests[0]
    assert (case.name, case.status, case.subtests) == ("case", Status.SKIP, [])


def test_metadata_before_the_plan_belongs_to_the_suite() -> None:
    doc = load("test_parse_attributes.log")
    suite = doc.find("suite")
    assert suite is not None
    assert suite.diagnostics == ["# module: example"]
    assert suite.subtests[0].diagnostics == ["# test.speed: slow"]
    # the log ends without a newline: the last result may be cut short
    assert doc.errors == [
        "line 9: the output stops in the middle of this line, so 'ok 1 suite' may be cut short"
    ]


def test_kselftest_nested_tap_in_diagnostics_is_not_parsed() -> None:
    doc = load("test_is_test_passed-kselftest.log")
    first = doc.subtests[0]
    assert first.subtests == []
    assert first.diagnostics == [
        "# selftests: membarrier: membarrier_test_single_thread",
        "# TAP version 13",
        "# 1..2",
        "# ok 1 sys_membarrier available",
        "# ok 2 sys membarrier invalid command test: command = -1, flags = 0, errno = 22. "
        "Failed as expected",
    ]


# --- hand-written output ----------------------------------------------------

# What grader/engine/guest/ktap.sh prints, on a console shared with the kernel.
GUEST = """\
[    0.498765] kdlab: loading out-of-tree module taints kernel.
KTAP version 1
1..4
# insmod kdlab_led.ko
[    0.512345] kdlab: probe of 0000:00:03.0 succeeded
ok 1 module_loads
# read /dev/kdlab0: expected 'hello', got ''
not ok 2 read_returns_data
ok 3 ioctl_reset # SKIP device has no reset register
[    0.612345] kdlab: removed
ok 4 unload
"""


def test_guest_script_output_with_interleaved_printk() -> None:
    doc = parse(GUEST)
    assert names(doc) == ["module_loads", "read_returns_data", "ioctl_reset", "unload"]
    assert statuses(doc) == [Status.PASS, Status.FAIL, Status.SKIP, Status.PASS]
    assert doc.status is Status.FAIL
    loads = doc.find("module_loads")
    assert loads is not None
    assert loads.diagnostics == ["# insmod kdlab_led.ko"]
    assert loads.log == ["kdlab: probe of 0000:00:03.0 succeeded"]
    failed = doc.find("read_returns_data")
    assert failed is not None
    assert failed.message() == "read /dev/kdlab0: expected 'hello', got ''"
    assert doc.find("ioctl_reset").reason == "device has no reset register"  # type: ignore[union-attr]
    assert doc.find("unload").log == ["kdlab: removed"]  # type: ignore[union-attr]
    assert doc.find("missing") is None
    assert all_errors(doc) == []


def test_crlf_line_endings_match_lf() -> None:
    crlf = parse(GUEST.replace("\n", "\r\n"))
    assert crlf == parse(GUEST)
    assert crlf.find("read_returns_data").diagnostics == [  # type: ignore[union-attr]
        "# read /dev/kdlab0: expected 'hello', got ''"
    ]


def test_output_cut_in_the_middle_of_a_line() -> None:
    doc = parse("KTAP version 1\n1..3\n# a: ok\nok 1 a\n# b: starting\nnot o")
    assert statuses(doc) == [Status.PASS, Status.MISSING, Status.MISSING]
    assert doc.status is Status.MISSING
    running, never = doc.subtests[1:]
    assert (running.number, never.number) == (2, 3)
    assert running.reason == "output ended before test 2 reported"
    assert running.diagnostics == ["# b: starting"]
    assert running.log == ["not o"]
    assert running.message() == "output ended before test 2 reported\nb: starting"
    assert never.reason == "output ended before test 3 reported"
    assert doc.errors == ["output ended after 1 of 3 planned tests"]


def test_cut_result_line_that_still_parses_is_flagged() -> None:
    doc = parse("KTAP version 1\n1..2\nok 1 first\nok 2 seco")
    assert names(doc) == ["first", "seco"]
    assert doc.find("second") is None
    assert doc.errors == [
        "line 4: the output stops in the middle of this line, so 'ok 2 seco' may be cut short"
    ]


def test_parent_reporting_before_its_planned_subtests_is_an_error() -> None:
    doc = parse(
        "KTAP version 1\n"
        "1..1\n"
        "    KTAP version 1\n"
        "    # Subtest: suite\n"
        "    1..3\n"
        "    ok 1 a\n"
        "    ok 2 b\n"
        "ok 1 suite\n"
    )
    suite = doc.find("suite")
    assert suite is not None
    assert suite.status is Status.ERROR
    assert statuses(suite) == [Status.PASS, Status.PASS, Status.MISSING]
    assert suite.subtests[2].reason == "the outer level resumed at line 8 before test 3 reported"
    assert "reported a result before all of its subtests did" in suite.errors
    assert doc.status is Status.ERROR


def test_parent_claiming_ok_over_a_failed_subtest_fails() -> None:
    doc = parse("KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n  not ok 1 inner\nok 1 outer\n")
    outer = doc.find("outer")
    assert outer is not None
    assert outer.status is Status.FAIL
    assert outer.errors == ["reported pass although a subtest failed"]


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "garbage\nmore garbage\nok 1 looks like a result\n", "# TAP version 13\n"],
)
def test_no_header_at_all(text: str) -> None:
    doc = parse(text)
    assert doc.status is Status.ERROR
    assert doc.subtests == []
    assert doc.message().startswith("no KTAP version line in the output")


def test_garbage_lines_are_ignored() -> None:
    doc = parse(
        "boot noise\n"
        "TAP version 14\n"
        "1..2\n"
        "\x1b[0m}{ random junk\n"
        "ok 1 - a\n"
        "   ok not a result\n"
        "0..3\n"
        "not ok 2 b # TIMEOUT 30 seconds\n"
        "trailing noise\n"
    )
    assert names(doc) == ["a", "b"]
    assert statuses(doc) == [Status.PASS, Status.FAIL]
    b = doc.subtests[1]
    assert (b.directive, b.reason) == ("TIMEOUT", "30 seconds")
    assert b.log == ["ok not a result", "0..3"]
    assert doc.log == ["trailing noise"]
    assert all_errors(doc) == []


# Current KUnit layout: 4-space indentation, version line and "# Subtest:" per
# suite, suite statistics at the parent's level just before the suite result.
NESTED = """\
KTAP version 1
1..2
    KTAP version 1
    # Subtest: leds
    # module: kdlab_leds
    1..4
    # leds_on: initializing
    ok 1 leds_on
    # leds_blink: EXPECTATION FAILED at drivers/kdlab/leds_test.rs:42
    Expected state == Blinking, but
        state == Off
    not ok 2 leds_blink # TODO blinking is not implemented yet
    ok 3 leds_dim # skip no PWM on this machine
    ok 4 leds_off
# leds: pass:2 fail:0 skip:1 total:4
# Totals: pass:2 fail:0 skip:1 total:4
ok 1 leds
    KTAP version 1
    # Subtest: buttons
    1..2
    ok 1 buttons_probe # XFAIL
    not ok 2 buttons_irq # error count 3
not ok 2 buttons
"""


def test_nested_subtests_with_skip_and_todo() -> None:
    doc = parse(NESTED)
    leds = doc.find("leds")
    assert leds is not None
    assert leds.status is Status.PASS
    assert leds.diagnostics == [
        "# module: kdlab_leds",
        "# leds: pass:2 fail:0 skip:1 total:4",
        "# Totals: pass:2 fail:0 skip:1 total:4",
    ]
    assert statuses(leds) == [Status.PASS, Status.XFAIL, Status.SKIP, Status.PASS]
    on, blink, dim, _ = leds.subtests
    assert on.diagnostics == ["# leds_on: initializing"]
    assert (blink.directive, blink.reason) == ("TODO", "blinking is not implemented yet")
    assert blink.message().splitlines() == [
        "blinking is not implemented yet",
        "leds_blink: EXPECTATION FAILED at drivers/kdlab/leds_test.rs:42",
        "Expected state == Blinking, but",
        "    state == Off",
    ]
    assert (dim.directive, dim.reason) == ("SKIP", "no PWM on this machine")
    buttons = doc.find("buttons")
    assert buttons is not None
    assert buttons.status is Status.FAIL
    probe, irq = buttons.subtests
    assert (probe.status, probe.directive) == (Status.XFAIL, "XFAIL")
    # lower-case "error" is diagnostic data, not the ERROR directive
    assert (irq.status, irq.directive, irq.reason) == (Status.FAIL, "", "error count 3")
    assert doc.status is Status.FAIL
    assert all_errors(doc) == []


def test_error_directive() -> None:
    doc = parse("KTAP version 1\n1..1\nnot ok 1 probe # ERROR no device found\n")
    assert doc.subtests[0].status is Status.ERROR
    assert doc.subtests[0].message() == "no device found"


def test_second_header_starts_a_document_that_is_ignored() -> None:
    doc = parse(
        "KTAP version 1\n1..2\nok 1 a\nKTAP version 1\n1..2\nok 1 a\nok 2 b\n",
    )
    assert names(doc) == ["a", ""]
    assert statuses(doc) == [Status.PASS, Status.MISSING]
    assert doc.subtests[1].reason == (
        "a new KTAP document started at line 4 before test 2 reported"
    )
    assert "line 4: a second KTAP document starts here; only the first one is parsed" in (
        doc.errors
    )


def test_out_of_order_numbers_warn_and_keep_going() -> None:
    doc = parse("KTAP version 1\n1..3\nok 2 b\nok 1 a\nok 3 c\n")
    assert names(doc) == ["b", "a", "c"]
    assert doc.status is Status.PASS
    assert doc.subtests[0].errors == ["line 3: expected test number 1, not 2"]
    assert doc.subtests[1].errors == ["line 4: expected test number 2, not 1"]
    assert doc.subtests[2].errors == []


def test_skipped_number_is_the_missing_one() -> None:
    doc = parse("KTAP version 1\n1..3\nok 1 a\nok 3 c\n")
    assert [(sub.number, sub.status) for sub in doc.subtests] == [
        (1, Status.PASS),
        (3, Status.PASS),
        (2, Status.MISSING),
    ]


def test_more_results_than_planned() -> None:
    doc = parse("KTAP version 1\n1..1\nok 1 a\nok 2 b\n")
    assert names(doc) == ["a", "b"]
    assert doc.errors == ["plan was 1..1 but 2 tests reported"]


def test_trailing_plan_and_tap13_header() -> None:
    doc = parse("TAP version 13\nok 1 a\nnot ok 2 b # todo flaky\n1..2\n")
    assert statuses(doc) == [Status.PASS, Status.XFAIL]
    assert doc.status is Status.PASS
    assert all_errors(doc) == []


def test_unknown_version_is_parsed_with_a_warning() -> None:
    doc = parse("KTAP version 2\n1..1\nok 1 a\n")
    assert statuses(doc) == [Status.PASS]
    assert doc.errors == ["line 1: unknown KTAP version 2"]


def test_missing_result_line_of_a_suite() -> None:
    doc = parse(
        "KTAP version 1\n"
        "1..2\n"
        "    # Subtest: first\n"
        "    1..1\n"
        "    ok 1 x\n"
        "    # Subtest: second\n"
        "    1..1\n"
        "    ok 1 y\n"
        "ok 2 second\n"
    )
    first, second = doc.subtests
    assert (first.name, first.status, first.number) == ("first", Status.MISSING, 1)
    assert first.reason == "no result line before line 6"
    assert statuses(first) == [Status.PASS]
    assert (second.name, second.status) == ("second", Status.PASS)
    assert doc.status is Status.MISSING


def test_stray_subtest_line_at_top_level_is_a_diagnostic() -> None:
    doc = parse("KTAP version 1\n1..1\n# Subtest: x\nok 1 a\n")
    assert doc.subtests[0].diagnostics == ["# Subtest: x"]
    assert doc.errors == ["line 3: unexpected '# Subtest:' line"]


def test_second_plan_is_ignored() -> None:
    doc = parse("KTAP version 1\n1..1\n1..2\nok 1 a\n")
    assert doc.status is Status.PASS
    assert doc.errors == ["line 3: second plan line ignored"]


def test_suite_that_ran_nothing_but_said_ok() -> None:
    doc = parse("KTAP version 1\n1..1\n    # Subtest: empty\n    1..0\nok 1 empty\n")
    empty = doc.find("empty")
    assert empty is not None
    assert empty.status is Status.NO_TESTS
    assert empty.errors == ["reported ok but ran no subtests"]
    assert doc.status is Status.NO_TESTS


def test_outer_diagnostic_inside_a_level_that_goes_on_is_logged() -> None:
    doc = parse(
        "KTAP version 1\n1..1\n"
        "    # Subtest: s\n    1..2\n    ok 1 a\n"
        "# stray\n"
        "    ok 2 b\n"
        "ok 1 s\n"
    )
    s = doc.find("s")
    assert s is not None
    assert statuses(s) == [Status.PASS, Status.PASS]
    assert (s.subtests[1].log, s.subtests[1].diagnostics, s.diagnostics) == (["# stray"], [], [])
    assert all_errors(doc) == []


def test_absurd_nesting_does_not_blow_the_stack() -> None:
    depth = 200
    lines = []
    for level in range(depth):
        lines += ["  " * level + "KTAP version 1", "  " * level + "1..1"]
    lines.append("  " * depth + "ok 1 leaf")
    lines += ["  " * level + f"ok 1 t{level}" for level in reversed(range(depth))]
    doc = parse("\n".join(lines) + "\n")
    assert doc.find("t0") is not None
    assert any("nested deeper than 64 levels" in error for error in all_errors(doc))


def test_status_failure_classification() -> None:
    failing = {status for status in Status if status.is_failure}
    assert failing == {Status.FAIL, Status.MISSING, Status.ERROR}
