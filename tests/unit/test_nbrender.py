"""The notebook views (grader.course.render, grader.lab.regview) on results and maps built by hand.

Fast and engine-free: what a student reads must be right whatever produced it.
The same views on real engine results are exercised by test_notebooks.py.
"""

from __future__ import annotations

from html import unescape

import pytest

from grader.course import render as nbrender
from grader.engine.modbuild import BuildResult, Diagnostic
from grader.evidence.kernlog import Event
from grader.evidence.trace import DeviceMap, Field, Register
from grader.grading.results import CheckResult, Status
from grader.grading.results import TestOutcome as Outcome
from grader.lab import regview
from grader.lab.model import Lab
from tests.conftest import LABS

SOURCE = "use kernel::prelude::*;\n\nfn f() {\n    let x = 1\n    x\n}\n"


def _tests() -> list[Outcome]:
    return [
        Outcome("loads", "pass", 1, 1, "", "the module loads"),
        Outcome("greets", "fail", 0, 2, "expected 'Hello (1/3)'\n     got ''", "greets"),
        Outcome("secret", "fail", 0, 1, "the hidden reason", "an edge case"),
    ]


def _oops() -> Event:
    return Event("oops", "kernel oops", "kernel NULL pointer dereference", 3,
                 function="hello_read [hello]", phase="the guest tests",
                 excerpt="BUG: kernel NULL pointer dereference\nRIP: 0010:hello_read+0x1/0x2")


def test_code_span_marks_the_column_with_numbered_lines() -> None:
    span = nbrender.code_span(SOURCE, 4, 14)
    assert span.splitlines() == [
        "2 | ",
        "3 | fn f() {",
        "4 |     let x = 1",
        "  |              ^",
        "5 |     x",
        "6 | }",
    ]
    assert nbrender.code_span(SOURCE, 99, 1) == ""


def test_diagnostic_names_file_line_cell_line_and_shows_the_span() -> None:
    diag = Diagnostic("error", "expected `;`, found `x`", "hello.rs", 4, 14, "",
                      "    let x = 1", "error: expected `;`\n --> hello.rs:4:14")
    html = nbrender.diagnostic_html(diag, SOURCE, "hello.rs")
    text = unescape(html)
    assert "hello.rs:4:14" in text and "driver cell line 5" in text
    assert "expected `;`, found `x`" in text
    assert "4 |     let x = 1" in text and "rustc's full message" in text


def test_diagnostic_in_the_kernel_crate_keeps_rustcs_snippet() -> None:
    diag = Diagnostic("error", "trait bound not satisfied", "rust/kernel/io.rs", 10, 5, "E0277",
                      "pub fn read8(&self)")
    text = unescape(nbrender.diagnostic_html(diag, SOURCE, "hello.rs"))
    assert "error[E0277]" in text and "rust/kernel/io.rs:10:5" in text
    assert "pub fn read8(&self)" in text and "driver cell line" not in text


def test_results_table_masks_hidden_tests_until_shown() -> None:
    result = CheckResult("00-hello", _tests(), BuildResult(True, None))
    masked = unescape(nbrender.results_html(result, hidden={"secret"}))
    assert masked.count('class="kdlab-test') == 3
    assert "the hidden reason" not in masked and "?/1" in masked
    assert "expected 'Hello (1/3)'" in masked
    assert "1/3 in visible tests (of 4)" in masked
    shown = unescape(nbrender.results_html(result, hidden={"secret"}, show_hidden=True))
    assert "the hidden reason" in shown and ">1/4<" in shown


def test_result_html_shows_build_errors_events_log_and_trace() -> None:
    build = BuildResult(False, None, [Diagnostic("error", "boom", "hello.rs", 4, 14)])
    result = CheckResult("00-hello", _tests(), build, kernel_log="line 1\nline 2",
                         events=[_oops()], extra={"trace": {"accesses": [{"text": "W TEST = 0x0"}],
                                                            "total": 1}})
    text = unescape(nbrender.result_html(result, SOURCE, "hello.rs"))
    assert "The module did not build" in text and "boom" in text
    assert "hello_read [hello]" in text and "<details open>" in text
    assert "kernel log (2 lines)" in text and "W TEST = 0x0" in text


def test_feedback_text_has_message_and_the_faulting_function_with_excerpt() -> None:
    panic = Event("panic", "kernel panic", "Fatal exception", 9, phase="the guest tests")
    result = CheckResult("00-hello", _tests(), BuildResult(True, None),
                         events=[_oops(), panic])
    text = nbrender.feedback_text(result, "greets")
    assert text.startswith("FAIL greets: 0/2 points")
    assert "expected 'Hello (1/3)'" in text
    assert "kernel: kernel oops in hello_read [hello] during the guest tests" in text
    assert "  | RIP: 0010:hello_read+0x1/0x2" in text
    assert "kernel (also): kernel panic during the guest tests: Fatal exception" in text
    assert nbrender.feedback_text(result, "loads").startswith("PASS loads: 1/1 points")
    later = nbrender.feedback_text(result, "secret")
    assert "kernel oops in hello_read" in later and "RIP" not in later
    assert "shown under greets" in later


def test_feedback_excerpt_comes_from_the_full_log_without_register_dumps() -> None:
    log = "\n".join(["before"] * 10 + ["Oops: 0000", "RIP: 0010:f+0x1/0x2", "RAX: 0",
                                         "Code: 0f 0b", "Call Trace:", " f+0x1/0x2 [hello]"])
    event = Event("oops", "kernel oops", "0000", 10, function="f [hello]")
    result = CheckResult("00-hello", _tests(), BuildResult(True, None), kernel_log=log,
                         events=[event])
    excerpt = nbrender.log_excerpt(result, event)
    assert excerpt[-4:] == ["Oops: 0000", "RIP: 0010:f+0x1/0x2", "Call Trace:",
                            " f+0x1/0x2 [hello]"]
    assert len(excerpt) == 6 + 4


def test_feedback_text_for_a_build_failure_lists_the_errors() -> None:
    build = BuildResult(False, None, [Diagnostic("error", "boom", "hello.rs", 4, 14)])
    tests = [Outcome("loads", "error", 0, 1, "not run: the module did not build")]
    text = nbrender.feedback_text(CheckResult("00-hello", tests, build), "loads")
    assert "not run: the module did not build" in text
    assert "hello.rs:4:14 (driver cell line 5): error: boom" in text


def test_self_check_counts_only_visible_tests() -> None:
    result = CheckResult("00-hello", _tests(), BuildResult(True, None))
    text = unescape(nbrender.self_check_html(result, hidden={"secret"}))
    assert "1 of 2 visible tests do not pass yet (1/3)" in text
    assert "1 hidden test(s)" in text and "the hidden reason" not in text


# -- register view -----------------------------------------------------------------------------

STATUS = Register("STATUS", 0x20, 32, "r", "device status", (
    Field("busy", 0, 0, "computing", {0: "idle", 1: "busy"}),
    Field("irq", 7, 7, "raise an interrupt when done"),
    Field("count", 15, 8, "items"),
))
DEVICE = DeviceMap("edu", "edu-mmio", 0, (STATUS,))


def test_decode_splits_a_value_into_named_fields_msb_first() -> None:
    fields = regview.decode(STATUS, 0x0381)
    assert [(f.field.name, f.raw, f.meaning, f.bits) for f in fields] == [
        ("count", 3, "", "15:8"), ("irq", 1, "", "7"), ("busy", 1, "busy", "0")]
    assert regview.decode_text(STATUS, 0x0381) == \
        "STATUS = 0x00000381: count=3 irq=1 busy=1 (busy)"


def test_decode_html_has_a_bit_per_cell_and_field_rows() -> None:
    html = regview.decode_html(DEVICE, STATUS, 0x0381)
    assert html.count("<td title=\"bit ") == 32
    assert "<code>count</code></td><td>15:8</td><td>0x03</td><td>3</td>" in html
    assert "<td>busy</td>" in html


def test_find_register_explains_what_exists() -> None:
    assert regview.find_register([DEVICE], "STATUS") == (DEVICE, STATUS)
    with pytest.raises(regview.RegisterLookupError, match="edu:STATUS"):
        regview.find_register([DEVICE], "NOPE")


def test_a_real_lab_map_renders_and_decodes() -> None:
    lab_dirs = [p for p in sorted(LABS.iterdir()) if (p / "registers.toml").is_file()]
    if not lab_dirs:
        pytest.skip("no lab has a registers.toml yet")
    lab = Lab.load(lab_dirs[0])
    devices = list(lab.register_maps)
    markdown = regview.map_markdown(devices)
    for reg in devices[0].registers:
        assert f"`{reg.label}`" in markdown
        assert reg.name in regview.map_html(devices)
    reg = devices[0].registers[0]
    assert regview.decode_text(reg, 0).startswith(f"{reg.name} = 0x")


def test_register_magic_line_decodes_a_value_of_a_real_lab() -> None:
    from grader.course import jupyter

    lab_dirs = [p for p in sorted(LABS.iterdir()) if (p / "registers.toml").is_file()]
    if not lab_dirs:
        pytest.skip("no lab has a registers.toml yet")
    lab = Lab.load(lab_dirs[0])
    reg = lab.register_maps[0].registers[0]
    html = jupyter.register_line(f"{lab.id} {reg.name} 0x1").data
    assert f'data-register="{reg.name}"' in html and "= 1</p>" in html
    assert 'class="kdlab-regmap"' in jupyter.register_line(lab.id).data
    assert "is not a number" in jupyter.register_line(f"{lab.id} {reg.name} zz").data
    with pytest.raises(regview.RegisterLookupError, match="the lab's registers are"):
        jupyter.register_line(f"{lab.id} NO_SUCH_REGISTER 1")


def test_a_result_read_back_from_its_json_is_the_same_result() -> None:
    """CheckResult.from_json reads what a sandbox printed or a journal kept: every field,
    the statuses as Status, and the keys it does not model (channel, trace) untouched."""
    diag = Diagnostic("warning", "unused variable `x`", "hello.rs", 4, 9, "unused_variables",
                      "    let x = 1", "warning: unused variable")
    result = CheckResult("00-hello", _tests(), BuildResult(True, None, [diag], seconds=1.5),
                         kernel_log="x" * 70_000, events=[_oops()], accel="tcg",
                         boot_status="finished",
                         extra={"channel": {"trusted": True, "problems": []}})
    data = result.to_json()
    again = CheckResult.from_json(data)
    assert again.to_json() == data
    assert [t.status for t in again.tests] == [Status.PASS, Status.FAIL, Status.FAIL]
    assert again.events == [_oops()] and again.build.diagnostics == [diag]
    assert again.extra == {"channel": {"trusted": True, "problems": []}}
    assert again.summary() == CheckResult.from_json(again.to_json()).summary()
