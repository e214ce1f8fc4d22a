"""Kernel-log analysis on recorded console output of real runs, and on known kernel formats."""

from __future__ import annotations

from pathlib import Path

from grader.evidence.kernlog import analyse
from grader.evidence.symbolize import Paths

DATA = Path(__file__).parents[1] / "data" / "console"
#: What must never reach a student: the kernel pair's place in kdlab's cache.
CACHE_PATHS = ("/.cache/", ".partial")


def test_rust_panic_in_init_is_the_cause_with_its_message_and_location() -> None:
    log = analyse((DATA / "panic_in_init.log").read_text(), Paths("7.3.4", "", "hello.rs"),
                  module="hello")
    fatal = log.fatal
    assert fatal is not None and fatal.kind == "rust_panic"
    assert fatal.detail == "kdlab test: deliberate panic in init"  # the panic's own message
    assert fatal.location == "hello.rs:37"  # the student's line, not the panic helper
    assert fatal.raised_at == ""  # it panicked in the student's own code
    # Without the module's debug info the function is the module's first plausible frame
    # (the guessed trace's `assume_init_drop+0x1` cannot be a return address).
    assert fatal.function == "<hello::Hello as kernel::module::Module>::init [hello]"
    assert fatal.phase == "module load (init)"
    assert fatal.describe().startswith(
        "Rust code panicked in the kernel in <hello::Hello as kernel::module::Module>::init "
        "[hello] at hello.rs:37 during module load (init): kdlab test: deliberate panic")
    assert [e.kind for e in log.events][:2] == ["rust_panic", "bug"]
    assert "panic" in {e.kind for e in log.events}
    assert not log.finished


def test_kernel_crate_panic_keeps_the_message_and_hides_the_cache_path() -> None:
    """A panic raised in the kernel crate on behalf of the student's code (an index out of
    range in a projection), recorded from lab 04's bug_panic_projection on a pair built in
    `.partial`."""
    raw = (DATA / "panic_in_kernel_crate.log").read_text()
    assert ".partial/linux/rust/kernel/ptr/projection.rs" in raw
    log = analyse(raw, Paths("7.3.4", "", "io_views.rs"), module="io_views")
    fatal = log.fatal
    assert fatal is not None and fatal.kind == "rust_panic"
    assert fatal.detail == "index out of bounds: the len is 3 but the index is 3"
    assert fatal.raised_at == "kernel/ptr/projection.rs:103 (Linux 7.3.4 kernel crate)"
    assert fatal.function == "io_views::show_refused [io_views]"
    assert fatal.phase == "the guest tests"
    shown = "\n".join([*log.lines, *(e.describe() for e in log.events),
                        *(e.excerpt for e in log.events)])
    assert not [p for p in CACHE_PATHS if p in shown]


def test_hang_names_the_step_and_its_limit() -> None:
    log = analyse((DATA / "hang_in_init.log").read_text())
    assert [e.kind for e in log.events] == ["hang"]
    assert log.events[0].detail == ("module load (init) was still running after 10 s: the "
                                    "module's init, or a probe it started, never returned")
    assert log.phases == ["load"]


def test_null_dereference_in_the_module_is_named_by_its_rip() -> None:
    """Recorded from lab 02's bug_null_deref: read_iter reads through a null pointer."""
    log = analyse((DATA / "oops_null_deref.log").read_text(), Paths("7.3.4", "", "scratch.rs"),
                  module="scratch")
    fatal = log.fatal
    assert fatal is not None and fatal.kind == "oops"
    assert fatal.detail == "kernel NULL pointer dereference, address: 0000000000000000"
    # The RIP frame is exact (not a guessed return address) and comes first.
    assert fatal.function == ("<scratch::Scratchpad as kernel::miscdevice::MiscDevice>"
                              "::read_iter [scratch]")
    assert fatal.trace[0] == fatal.function
    assert fatal.phase == "the guest tests"


OOPS = """\
[    1.000000] kdlab: phase=tests
[    1.100000] BUG: kernel NULL pointer dereference, address: 0000000000000008
[    1.100000] #PF: supervisor read access in kernel mode
[    1.100000] Oops: Oops: 0000 [#1] PREEMPT
[    1.100000] CPU: 0 UID: 0 PID: 31 Comm: cat Tainted: G           O        7.3.4 #1
[    1.100000] RIP: 0010:_RNvXs_CsabC_7scratch+0x1c/0x40 [scratch]
[    1.100000] Kernel panic - not syncing: Fatal exception
"""


def test_oops_names_the_faulting_function_and_phase() -> None:
    log = analyse(OOPS)
    fatal = log.fatal
    assert fatal is not None and fatal.kind == "oops"
    assert fatal.function == "_RNvXs_CsabC_7scratch [scratch]"  # not a valid v0 name: kept
    assert fatal.phase == "the guest tests"
    assert "in _RNvXs_CsabC_7scratch [scratch] during the guest tests" in fatal.describe()


def test_warning_and_lockups_and_load_failures_are_named() -> None:
    text = "\n".join([
        "[    2.0] WARNING: CPU: 0 PID: 1 at drivers/misc/x.c:10 probe+0x1/0x2",
        "[    3.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [insmod:55]",
        "[    4.0] INFO: task insmod:55 blocked for more than 5 seconds.",
        "[    5.0] scratch: Unknown symbol foo (err -2)",
        "[    5.1] kdlab: insmod rc=1 insmod: can't insert 'scratch.ko': unknown symbol in module",
    ])
    kinds = [e.kind for e in analyse(text).events]
    assert kinds == ["warning", "soft_lockup", "hung_task", "load_failure", "load_failure"]
    log = analyse(text)
    assert log.insmod_rc == 1 and "unknown symbol" in log.insmod_error
    assert log.fatal is not None and log.fatal.kind == "soft_lockup"


def test_hang_in_the_tests_names_the_test_that_was_running() -> None:
    log = analyse("[ 0.3] kdlab: phase=tests\n[ 0.4] kdlab: test=write_then_read\n"
                  "[ 45.0] kdlab: hang step=tests seconds=45\n")
    assert log.events[0].detail == ("the guest tests was still running after 45 s "
                                    "(in test write_then_read)")


def test_clean_run_has_no_events_and_is_finished() -> None:
    log = analyse("[ 0.1] kdlab: phase=load module=x\n[ 0.2] kdlab: insmod rc=0 \n"
                  "[ 0.3] kdlab: phase=tests\n[ 0.4] kdlab: phase=done rc=0\n")
    assert log.events == [] and log.finished and log.insmod_rc == 0
