"""The grading steps that run *inside* a submission's sandbox container, one phase per call.

grader.batch.sandbox runs this module twice in the same container, so that the
student's code is compiled before anything secret is in the container:

1. `build`: extract the driver cell from the student's notebook (mounted
   read-only; or take the driver source the sandbox copied in, for a grading
   host without the notebook) and compile it against the kernel pair. At this point the
   container holds the toolchain, the kernel pair and this one submission,
   nothing else: an `include_str!` of a hidden test, the gradebook or another
   student's work finds no such file. Afterwards every process the build left
   behind is killed.
2. `boot`: the sandbox has now copied the lab's guest tests in (hidden ones
   included); grader.grading.check.boot_and_grade boots the module built in phase 1 with
   them and grades it; the CheckResult JSON goes to stdout (with the container's
   OOM-kill count beside it). Nothing is compiled in this phase.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from grader import paths
from grader.course.notebook import NotebookError, extract_driver
from grader.engine import initramfs
from grader.engine.kernel import find
from grader.engine.modbuild import BuildResult, Diagnostic
from grader.grading import check
from grader.grading.results import CheckResult
from grader.lab.model import Lab

BUILD_FILE = "build.json"
#: Cache contents baked into the grader image (see seed_cache), copied to the run's cache.
SEED = Path("/opt/kdlab/cache-seed")


def _save_build(build: BuildResult, out: Path) -> dict:
    data = {"ok": build.ok, "module": str(build.module) if build.module else None,
            "diagnostics": [d.to_json() for d in build.diagnostics], "log": build.log,
            "seconds": build.seconds, "timed_out": build.timed_out}
    (out / BUILD_FILE).write_text(json.dumps(data))
    return data


def _load_build(out: Path) -> BuildResult:
    data = json.loads((out / BUILD_FILE).read_text())
    return BuildResult(
        ok=data["ok"], module=Path(data["module"]) if data["module"] else None,
        diagnostics=[Diagnostic(**d) for d in data["diagnostics"]], log=data["log"],
        seconds=data["seconds"], timed_out=data["timed_out"])


def oom_kills() -> int:
    """Processes the kernel's OOM killer ended in this container so far (cgroup v1 or v2).

    Docker reports OOMKilled only when the container's main process dies, not
    when rustc or QEMU does; the cgroup's own counter sees every kill.
    """
    for path, key in ((Path("/sys/fs/cgroup/memory.events"), "oom_kill"),
                      (Path("/sys/fs/cgroup/memory/memory.oom_control"), "oom_kill")):
        try:
            for line in path.read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
        except (OSError, ValueError):
            continue
    return 0


def memory_peak_mb() -> float | None:
    """The most memory this container has used so far (cgroup v2 or v1), in MiB.

    Counts everything the submission cost: rustc, QEMU's guest RAM as it was
    touched, and the files written to the tmpfs scratch volume.
    """
    for path in (Path("/sys/fs/cgroup/memory.peak"),
                 Path("/sys/fs/cgroup/memory/memory.max_usage_in_bytes")):
        try:
            return round(int(path.read_text().split()[0]) / 2**20, 1)
        except (OSError, ValueError, IndexError):
            continue
    return None


def _kill_leftovers() -> None:
    """Nothing started during the build may live on to see the tests copied in next.

    kill(-1) reaches every process this user may signal except the caller and
    the container's init.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)


def seed_cache(seed: Path) -> None:
    """Fill `seed` (at image build time) with what every run would otherwise remake:
    the engine's shared initramfs base, when the engine has one."""
    base_archive = getattr(initramfs, "base_archive", None)
    if base_archive is not None:
        base_archive(seed)


def _use_seed(seed: Path = SEED) -> None:
    """Start this container's (empty, tmpfs) cache from the image's seed."""
    if seed.is_dir():
        shutil.copytree(seed, paths.cache_root(), dirs_exist_ok=True)


def _driver_text(notebook: Path | None, source: Path | None) -> str:
    """The driver's Rust source: the notebook's driver cell, or the copied-in source file."""
    if source is not None:
        return source.read_text(encoding="utf-8", errors="replace")
    if notebook is None:
        raise NotebookError("no driver: neither --notebook nor --source")
    return extract_driver(notebook)[1]


def phase_build(notebook: Path | None, module: str, timeout: float, allow: tuple[str, ...],
                out: Path, source: Path | None = None) -> dict:
    """Compile the driver (see _driver_text) as `module.ko`; returns the summary printed."""
    out.mkdir(parents=True, exist_ok=True)
    _use_seed()
    try:
        source_text = _driver_text(notebook, source)
    except NotebookError as err:
        build = BuildResult(False, None, log=str(err))
    else:
        source = out / "src" / f"{module}.rs"
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(source_text, encoding="utf-8")
        build = check.build(source, find(), out, module=module, timeout_s=timeout, allow=allow)
    summary = _save_build(build, out)
    _kill_leftovers()
    return {"ok": summary["ok"], "seconds": round(build.seconds, 3),
            "errors": len(build.errors), "oom_kills": oom_kills()}


def phase_boot(lab_dir: Path, out: Path, kvm: str) -> CheckResult:
    """Boot the module built in phase 1 with the lab's tests (now present) and grade it."""
    build = _load_build(out)
    lab = Lab.load(lab_dir)
    if build.module is not None and build.module.stem != lab.module:
        raise RuntimeError(f"phase 1 built {build.module.name}, the lab wants {lab.module}.ko")
    started = time.monotonic()
    result = check.boot_and_grade(lab, build, find(), out / "check", kvm=kvm)
    result.timings.total_s = build.seconds + time.monotonic() - started
    return result


def main(argv: list[str] | None = None) -> int:
    """`python3 -m grader.batch.sandbox_worker build|boot`: one JSON line on stdout."""
    cli = argparse.ArgumentParser(prog="python3 -m grader.batch.sandbox_worker")
    sub = cli.add_subparsers(dest="phase", required=True)
    b = sub.add_parser("build")
    driver = b.add_mutually_exclusive_group(required=True)
    driver.add_argument("--notebook", type=Path, help="the submission's notebook")
    driver.add_argument("--source", type=Path, help="the driver's Rust source (copied in)")
    b.add_argument("--module", required=True)
    b.add_argument("--timeout", type=float, default=120.0)
    b.add_argument("--allow", action="append", default=[],
                   help="a source policy rule the lab allows (repeatable)")
    b.add_argument("--out", required=True, type=Path)
    g = sub.add_parser("boot")
    g.add_argument("--lab", required=True, type=Path)
    g.add_argument("--out", required=True, type=Path)
    g.add_argument("--kvm", choices=["auto", "on", "off"], default="auto")
    s = sub.add_parser("seed")
    s.add_argument("--cache", type=Path, default=SEED)
    args = cli.parse_args(argv)
    if args.phase == "seed":
        seed_cache(args.cache)
    elif args.phase == "build":
        print(json.dumps(phase_build(args.notebook, args.module, args.timeout,
                                     tuple(args.allow), args.out, args.source)))
    else:
        result = phase_boot(args.lab, args.out, args.kvm).to_json()
        print(json.dumps({"result": result, "oom_kills": oom_kills(),
                          "memory_peak_mb": memory_peak_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
