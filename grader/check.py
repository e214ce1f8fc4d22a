"""`kdlab check`: source -> build -> initramfs -> QEMU -> kernel log + KTAP -> grade.

Each stage is a module with one job; this one only wires them together, times
them and makes sure that whatever the student's code does, the caller gets a
CheckResult (never an exception for the student's behaviour) and no QEMU or
scratch directory is left behind.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from grader import grade, initramfs, kernlog, ktap, qemu, trace
from grader.kernel import KernelPair, cache_root
from grader.lab import Lab
from grader.modbuild import build_module
from grader.progress import Reporter, Silent
from grader.results import CheckResult, Timings

#: Seconds of the boot budget kept back for the kernel to start and the VM to end.
BOOT_MARGIN_S = 5
#: A blocked task is reported as hung after this many seconds in D state.
HUNG_TASK_S = 5
#: Module init must return within this many seconds.
LOAD_TIMEOUT_S = 10


def use_kvm(choice: str) -> bool:
    """'on' demands KVM, 'off' refuses it, 'auto' uses it when /dev/kvm works."""
    if choice == "off":
        return False
    usable = qemu.kvm_usable(cache_root())
    if choice == "on" and not usable:
        raise RuntimeError("--kvm on: /dev/kvm is missing or does not work here")
    return usable


def guest_env(lab: Lab) -> dict[str, str]:
    """What the guest init reads from /etc/kdlab.env."""
    tests_budget = max(5, int(lab.timeouts.boot) - LOAD_TIMEOUT_S - BOOT_MARGIN_S)
    return {
        "MODULE": lab.module,
        "MODULE_PARAMS": lab.module_params,
        "LOAD_TIMEOUT_S": str(LOAD_TIMEOUT_S),
        "TESTS_TIMEOUT_S": str(tests_budget),
        "HUNG_TASK_S": str(HUNG_TASK_S),
    }


def run(lab_dir: Path, source: Path, pair: KernelPair, reporter: Reporter | None = None,
        kvm: str = "auto", workdir: Path | None = None, trace_devices: bool = True,
        ) -> CheckResult:
    """Grade one source file for one lab; `workdir` keeps the scratch files for inspection.

    `trace_devices=False` skips recording device accesses (the benchmark uses it to
    measure what the trace costs); the lab's trace checks then fail as not run.
    """
    reporter = reporter or Silent()
    started = time.monotonic()
    lab = Lab.load(lab_dir)
    scratch = Path(tempfile.mkdtemp(prefix="kdlab-check-")) if workdir is None else workdir
    try:
        reporter.begin(f"building {source.name} as {lab.module}.ko")
        build = build_module(pair, source, lab.module, scratch / "build", lab.timeouts.build)
        reporter.end("ok" if build.ok else f"failed ({len(build.errors)} errors)")
        timings = Timings(build_s=build.seconds)
        if not build.ok:
            timings.total_s = time.monotonic() - started
            tests = (grade.grade_tests(lab, build, None, None)
                     + grade.grade_trace_checks(lab, build, None, None))
            return CheckResult(lab.id, tests, build, timings=timings, boot_status="not booted")

        reporter.begin("booting QEMU and running the guest tests")
        initrd = initramfs.assemble(lab, build.module, scratch / "guest", cache_root(),
                                    guest_env(lab))
        accel = use_kvm(kvm)
        boot = qemu.run(qemu.RunSpec(
            kernel=pair.bzimage, initrd=initrd, workdir=scratch / "vm", devices=lab.devices,
            memory_mb=lab.memory_mb, timeout_s=lab.timeouts.boot, kvm=accel,
            trace_events=trace.EVENTS if lab.register_maps and trace_devices else (),
        ))
        log = kernlog.analyse(boot.console)
        doc = ktap.parse(boot.ktap)
        accesses = trace.decode(boot.trace_file, list(lab.register_maps))
        tests = (grade.grade_tests(lab, build, log, doc, boot.timed_out)
                 + grade.grade_trace_checks(lab, build, log, accesses))
        status = ("timed out" if boot.timed_out else
                  "finished" if log.finished else f"ended during {log.phase}")
        reporter.end(status)
        timings.boot_s = boot.seconds
        timings.total_s = time.monotonic() - started
        extra = {"trace": accesses.to_json()} if lab.register_maps else {}
        return CheckResult(lab.id, tests, build, kernel_log="\n".join(log.lines),
                           events=log.events, timings=timings, accel=boot.accel,
                           boot_status=status, extra=extra)
    finally:
        if workdir is None:
            shutil.rmtree(scratch, ignore_errors=True)
