"""Kernel-log analysis on recorded console output of real runs, and on known kernel formats."""

from __future__ import annotations

from pathlib import Path

from grader.kernlog import analyse

DATA = Path(__file__).parent / "data" / "console"


def test_rust_panic_in_init_is_the_cause_with_its_location() -> None:
    log = analyse((DATA / "panic_in_init.log").read_text())
    fatal = log.fatal
    assert fatal is not None and fatal.kind == "rust_panic"
    assert "hello.rs:37:13" in fatal.detail
    assert fatal.function == "hello.rs:37:13"  # not the panic helper the CPU stopped in
    assert fatal.phase == "module load (init)"
    assert [e.kind for e in log.events][:2] == ["rust_panic", "bug"]
    assert "panic" in {e.kind for e in log.events}
    assert not log.finished


def test_hang_names_the_step_and_its_limit() -> None:
    log = analyse((DATA / "hang_in_init.log").read_text())
    assert [e.kind for e in log.events] == ["hang"]
    assert log.events[0].detail == "module load (init) was still running after 10 s"
    assert log.phases == ["load"]


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
    assert fatal.function == "_RNvXs_CsabC_7scratch [scratch]"
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


def test_clean_run_has_no_events_and_is_finished() -> None:
    log = analyse("[ 0.1] kdlab: phase=load module=x\n[ 0.2] kdlab: insmod rc=0 \n"
                  "[ 0.3] kdlab: phase=tests\n[ 0.4] kdlab: phase=done rc=0\n")
    assert log.events == [] and log.finished and log.insmod_rc == 0
