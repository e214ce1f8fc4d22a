"""`kdlab check`: source -> build -> initramfs -> QEMU -> kernel log + results -> grade.

Two stages, each a function with a plain result, that callers run in turn:

- `build(source, pair, ...)`: the source policy (grader.grading.policy), then the module
  build (grader.engine.modbuild) -> BuildResult; it takes the lab's build settings, not
  the lab folder, because the sandbox compiles before any lab file is present;
- `boot_and_grade(lab, build, pair)`: the initramfs, one QEMU run with the result
  channel (grader.evidence.channel), the kernel log, KTAP and device trace -> CheckResult.

`run` does both, once `refusal` found that the pair meets the lab's `[kernel]`
needs (else it returns the `refused` result at once, nothing compiled). The
sandbox (grader.batch.sandbox_worker) calls them separately, so that the module is
compiled before the lab's tests are in its container (the batch checks the
sandboxes' pair before it starts any). Whatever the student's code does, the
caller gets a CheckResult (never an exception for the student's behaviour) and
no QEMU or scratch directory is left behind.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from grader.engine import initramfs, qemu
from grader.engine.kernel import KernelPair
from grader.engine.modbuild import BuildResult, build_module
from grader.evidence import channel, kernlog, timeline, trace
from grader.evidence.symbolize import ModuleDebug, Paths
from grader.grading import grade, policy
from grader.grading.results import CheckResult, Status, Timings
from grader.lab.model import Lab
from grader.paths import cache_root
from grader.progress import Reporter, Silent

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
    usable = qemu.kvm_usable()
    if choice == "on" and not usable:
        raise qemu.QemuError("--kvm on: /dev/kvm is missing or does not work here; "
                             "use --kvm auto (TCG, slower) or run where KVM works")
    return usable


def guest_env(lab: Lab) -> dict[str, str]:
    """What the guest init and runner read from /etc/kdlab.env."""
    tests_budget = max(5, int(lab.timeouts.boot) - LOAD_TIMEOUT_S - BOOT_MARGIN_S)
    return {
        "MODULE": lab.module,
        "MODULE_PARAMS": lab.module_params,
        "LOAD_TIMEOUT_S": str(LOAD_TIMEOUT_S),
        "TESTS_TIMEOUT_S": str(tests_budget),
        "HUNG_TASK_S": str(HUNG_TASK_S),
        "TESTS": " ".join(t.name for t in lab.tests),
        "HIDDEN": " ".join(t.name for t in lab.tests if t.hidden),
    }


def refusal(lab: Lab, pair: KernelPair) -> str:
    """'' when `pair` meets what the lab declares it needs (lab.toml `[kernel]`), else the
    sentence that says why not and what to do. Cheap: no compiler runs."""
    return lab.kernel.refusal(lab.id, pair.release, pair.config())


def refused(lab: Lab, reason: str) -> CheckResult:
    """The result of a check the pair cannot serve: data like any other result (every test
    not run, 0 points, the reason in `refused`), never an exception."""
    return CheckResult(lab.id, grade.not_run(lab, reason, Status.SKIP), BuildResult(False, None),
                       boot_status="refused", refused=reason)


def build(source: Path, pair: KernelPair, scratch: Path, *, module: str, timeout_s: float,
          allow: tuple[str, ...] = (), reporter: Reporter | None = None) -> BuildResult:
    """Stage 1: check the source against the source policy (less what the lab `allow`s),
    then compile it as `module`.ko."""
    reporter = reporter or Silent()
    reporter.begin(f"building {source.name} as {module}.ko")
    refused = policy.check_file(source, allow)
    result = refused if refused is not None else build_module(
        pair, source, module, scratch / "build", timeout_s)
    reporter.end("ok" if result.ok else f"failed ({len(result.errors)} errors)")
    return result


def boot_and_grade(lab: Lab, built: BuildResult, pair: KernelPair, scratch: Path,
                   reporter: Reporter | None = None, kvm: str = "auto",
                   trace_devices: bool = True) -> CheckResult:
    """Stage 2: boot the built module with the lab's tests and turn the evidence into points.

    `trace_devices=False` skips recording device accesses (the benchmark uses it to
    measure what the trace costs); the lab's trace checks then fail as not run.
    """
    reporter = reporter or Silent()
    timings = Timings(build_s=built.seconds)
    if not built.ok:
        tests = grade.grade(lab, built, None, None, None)
        return CheckResult(lab.id, tests, built, timings=timings, boot_status="not booted")

    reporter.begin("booting QEMU and running the guest tests")
    initrd = initramfs.assemble(lab, built.module, scratch / "guest", cache_root(),
                                guest_env(lab))
    boot = qemu.run(qemu.RunSpec(
        kernel=pair.bzimage, initrd=initrd, workdir=scratch / "vm", devices=lab.devices,
        memory_mb=lab.memory_mb, cpus=lab.cpus, timeout_s=lab.timeouts.boot, kvm=use_kvm(kvm),
        trace_events=trace.EVENTS if lab.register_maps and trace_devices else (),
    ))
    # Crashes are located in the student's source through the module's line tables,
    # while the module is still there (run() removes the scratch after this returns).
    paths = Paths(pair.release, str(pair.tree), f"{lab.module}.rs")
    assert built.module is not None  # built.ok
    with ModuleDebug(built.module, paths) as debug:
        log = kernlog.analyse(boot.console, paths, debug, lab.module)
    verdict = channel.verify(boot.channel, exited_after_end=not boot.timed_out)
    accesses = trace.decode(boot.trace_file, list(lab.register_maps),
                            [t.name for t in lab.tests])
    tests = grade.grade(lab, built, log, verdict, accesses, boot.timed_out)
    status = ("timed out" if boot.timed_out else
              "finished" if verdict.complete else f"ended during {log.phase}")
    reporter.end(status)
    timings.boot_s = boot.seconds
    extra: dict = {"channel": verdict.to_json()}
    if lab.register_maps:
        extra["trace"] = timeline.trace_json(accesses, list(lab.register_maps),
                                             lab.trace_checks)
    return CheckResult(lab.id, tests, built, kernel_log="\n".join(log.lines),
                       events=log.events, timings=timings, accel=boot.accel,
                       boot_status=status, extra=extra)


def run(lab_dir: Path, source: Path, pair: KernelPair, reporter: Reporter | None = None,
        kvm: str = "auto", workdir: Path | None = None, trace_devices: bool = True,
        ) -> CheckResult:
    """Grade one source file for one lab; `workdir` keeps the scratch files for inspection."""
    started = time.monotonic()
    lab = Lab.load(lab_dir)
    if reason := refusal(lab, pair):
        return refused(lab, reason)
    use_kvm(kvm)  # a KVM that is demanded but missing stops here, before the build
    scratch = Path(tempfile.mkdtemp(prefix="kdlab-check-")) if workdir is None else workdir
    try:
        built = build(source, pair, scratch, module=lab.module, timeout_s=lab.timeouts.build,
                      allow=lab.allow, reporter=reporter)
        result = boot_and_grade(lab, built, pair, scratch, reporter, kvm, trace_devices)
        result.timings.total_s = time.monotonic() - started
        return result
    finally:
        if workdir is None:
            shutil.rmtree(scratch, ignore_errors=True)
