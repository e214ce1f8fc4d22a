"""rustc JSON diagnostics from recorded Kbuild output become structured, located messages."""

from __future__ import annotations

from pathlib import Path

from grader.engine.modbuild import build_error_message, link_diagnostics, parse_diagnostics
from grader.evidence.symbolize import Paths, Place

DATA = Path(__file__).parents[1] / "data" / "rustc"


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


def test_rustcs_warning_tally_is_not_a_warning_of_its_own() -> None:
    """Lab 00's seeded bug_no_goodbye, built for real: one warning, then rustc's
    "1 warning emitted", which the notebook once listed as a second warning."""
    diagnostics, _ = parse_diagnostics((DATA / "warning.out").read_text(), "hello.rs")
    assert [(d.level, d.code, d.line) for d in diagnostics] == [("warning", "dead_code", 28)]


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


PARTIAL = ("/root/.cache/kdlab/kernels/.linux-source-7.3-7.3.4-1-bpo13+1-a508b7fd1080.partial/"
           "linux/")


def test_paths_name_the_kernel_crate_and_never_the_cache() -> None:
    paths = Paths("7.3.4", "/opt/kdlab/kernel/linux", "io_views.rs")
    text = paths.clean(f"panicked at {PARTIAL}rust/kernel/print.rs:369:1: and "
                       "/opt/kdlab/kernel/linux/rust/kernel/io.rs:781:9 via "
                       "/usr/lib/rustlib/src/rust/library/core/src/option.rs:978:20 from "
                       "/tmp/kdlab-check-1/build/io_views.rs:12:5 after make: Leaving directory "
                       "'/root/.cache/kdlab/kernels/linux-source-7.3-x/linux'")
    assert text == ("panicked at kernel/print.rs:369 (Linux 7.3.4 kernel crate): and "
                    "kernel/io.rs:781 (Linux 7.3.4 kernel crate) via "
                    "core/src/option.rs:978 (Rust core library) from io_views.rs:12:5 after "
                    "make: Leaving directory '<kdlab cache>'")


def test_rust_build_error_names_the_call_and_the_fallible_accessor() -> None:
    """The inline chain of a `rust_build_error` reference, as lab 04's infallible
    `bar.write8(data, offset)` with a run-time offset gives it (innermost first)."""
    crate = "(Linux 7.3.4 kernel crate)"
    chain = [Place("io_view_assert<&Bar<40>, u8>", "kernel/build_assert.rs", 211,
                   f"kernel/build_assert.rs:211 {crate}"),
             Place("write<&Bar<40>, u8, usize>", "kernel/io.rs", 1028,
                   f"kernel/io.rs:1028 {crate}"),
             Place("write8<&Bar<40>>", "kernel/io.rs", 781, f"kernel/io.rs:781 {crate}"),
             Place("io_views::ring", "io_views.rs", 112, "io_views.rs:112")]
    message, call = build_error_message(chain, "io_views.rs")
    assert call is not None and call.line == 112
    assert message.startswith("`write8` here (in `ring`) cannot be checked at build time")
    assert "try_write8" in message and "kernel/io.rs:781" in message
    projection = [Place("build_index<[u8]>", "kernel/ptr/projection.rs", 53, "p"), chain[-1]]
    assert "[try: i]" in build_error_message(projection, "io_views.rs")[0]
    own, call = build_error_message([chain[-1]], "io_views.rs")
    assert own.startswith("this `build_assert!` in `ring`") and call == chain[-1]


def test_a_failed_link_without_its_object_is_still_an_error_at_the_file() -> None:
    output = "  MODPOST Module.symvers\nERROR: modpost: io_views.ko: symbol 'rust_build_error' " \
             "undefined!\nmake[3]: *** [Makefile.modpost:147: Module.symvers] Error 1\n"
    (error,) = link_diagnostics(output, Path("/nonexistent/io_views.o"),
                                Paths(source_name="io_views.rs"))
    assert (error.level, error.file, error.code) == ("error", "io_views.rs", "rust_build_error")
    assert "build_assert!" in error.message
