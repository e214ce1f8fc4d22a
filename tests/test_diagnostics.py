"""rustc JSON diagnostics from recorded Kbuild output become structured, located messages."""

from __future__ import annotations

from pathlib import Path

from grader.modbuild import parse_diagnostics

DATA = Path(__file__).parent / "data" / "rustc"


def test_recorded_syntax_error_is_located_in_the_students_file() -> None:
    diagnostics, plain = parse_diagnostics((DATA / "compile_error.out").read_text(), "hello.rs")
    assert len(diagnostics) == 1  # "aborting due to ..." is not a diagnostic of the student's
    error = diagnostics[0]
    assert (error.level, error.file, error.line) == ("error", "hello.rs", 35)
    assert error.message == "expected `;`, found keyword `for`"
    assert "module_parameters::count.value()" in error.snippet
    assert error.rendered.startswith("error: expected `;`")
    assert error.short() == f"hello.rs:35:{error.column}: error: {error.message}"
    assert "RUSTC [M] hello.o" in plain and "{" not in plain


def test_kernel_crate_spans_keep_their_path_and_codes_are_kept() -> None:
    line = ('{"$message_type":"diagnostic","message":"type `u32` cannot be dereferenced",'
            '"code":{"code":"E0614","explanation":null},"level":"error","spans":[{"file_name":'
            '"rust/kernel/io.rs","line_start":7,"line_end":7,"column_start":3,"column_end":9,'
            '"is_primary":true,"text":[{"text":"  *x","highlight_start":3,"highlight_end":5}]}],'
            '"children":[],"rendered":"error[E0614]: ..."}')
    (error,), _ = parse_diagnostics(line + "\nnot json {\n", "hello.rs")
    located = (error.file, error.line, error.column, error.code)
    assert located == ("kernel/io.rs", 7, 3, "E0614")  # the crate's path, not the pair's
    assert error.snippet == "  *x"


def test_garbage_lines_are_plain_output_not_errors() -> None:
    diagnostics, plain = parse_diagnostics('{"broken json\n{"$message_type":"artifact"}\n',
                                           "x.rs")
    assert diagnostics == [] and "broken json" in plain
