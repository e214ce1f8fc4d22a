"""The `kdlab` command line: thin wrappers over the engine's modules.

Contract: every subcommand returns its exit status (see EXIT_CODES); anything that
goes wrong because of the user's input or machine is a `KdlabError`, caught here
once and printed as one `kdlab: ...` line saying what to do, never a traceback.
Subcommands of other parts of the platform plug in through EXTENSIONS: a module
with a `register(subparsers)` function, added to that list in one line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from grader.engine import kernel, toolchain
from grader.errors import KdlabError, UsageError
from grader.lab.model import Lab
from grader.progress import Console, Silent

#: What kdlab's exit status means (the help's epilog and README say the same).
EXIT_CODES: dict[int, str] = {
    0: "done (`check`: graded, whatever the score)",
    1: "done, and found problems (`doctor`; `grade` left submissions ungraded; "
       "`course generate --check` found notebooks out of date)",
    2: "a mistake in the command or a missing piece (lab, file, tool, kernel pair, Docker, "
       "image): the message says what to do",
    130: "interrupted",
}

#: Modules that add subcommands (course, image, grade...).
EXTENSIONS: list[str] = [
    "grader.course.generate",
    "grader.cli.platform_cmds",
    "grader.cli.instructor_cmds",
    "grader.cluster.cli",
    "grader.cli.hub_cmds",
]


def _cmd_doctor(args: argparse.Namespace) -> int:
    from grader.cli import doctor

    findings = doctor.run(args.kernel)
    print(doctor.render(findings))
    return 1 if any(f.ok is False for f in findings) else 0


def _cmd_kernel_build(args: argparse.Namespace) -> int:
    pair = kernel.build(
        args.source,
        Path(args.config) if args.config else None,
        reporter=Console(),
        jobs=args.jobs,
        inline_helpers=args.inline_helpers,
    )
    print(f"kernel pair: Linux {pair.release} ({pair.source}) at {pair.root}")
    return 0


def _cmd_kernel_list(args: argparse.Namespace) -> int:
    pairs = kernel.cached_pairs()
    if not pairs:
        print("no kernel pairs cached; build one with `kdlab kernel build`")
    for pair in pairs:
        option = "inline-helpers" if pair.inline_helpers else ""
        print(f"Linux {pair.release:10} {pair.source:40} {option:15} {pair.root}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from grader.grading import check

    source = Path(args.source)
    if not source.is_file():
        raise UsageError(f"--source {source}: no such file (the driver's .rs file; "
                         f"`kdlab skeleton {args.lab} > driver.rs` makes a starting one)")
    Lab.load(Path(args.lab))  # the user's own mistakes first, then the machine's
    pair = kernel.find(args.kernel)
    toolchain.require()
    reporter = Silent() if args.json or args.format else Console()
    result = check.run(Path(args.lab), source, pair, reporter=reporter, kvm=args.kvm)
    if args.format:
        from grader.batch import exports

        print(exports.check_format(result.to_json(), args.format), end="")
    elif args.json:
        print(json.dumps(result.to_json()))
    else:
        print(result.summary())
    return 0


def _cmd_skeleton(args: argparse.Namespace) -> int:
    print(Lab.load(Path(args.lab)).skeleton(), end="")
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so the docs and tests can inspect it)."""
    top = argparse.ArgumentParser(
        prog="kdlab", description="Build, boot and grade Linux kernel drivers in Rust.",
        epilog="exit status: " + "; ".join(f"{code} {what}" for code, what in EXIT_CODES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--kernel", help="kernel pair directory (default: $KDLAB_KERNEL, else "
                     "the course pair: linux-source-7.3 with the course config)")
    sub = top.add_subparsers(dest="command", required=True)

    doctor = sub.add_parser("doctor", help="check the toolchain, the kernel pair, Docker, "
                            "the images and the lab volume, and say what to run for each problem")
    doctor.set_defaults(func=_cmd_doctor)

    kern = sub.add_parser("kernel", help="build or list kernel pairs").add_subparsers(
        dest="kernel_command", required=True)
    kbuild = kern.add_parser("build", help="build (or find cached) the kernel pair")
    kbuild.add_argument("--source", default=kernel.DEFAULT_SOURCE,
                        help="debian:linux-source-X.Y or a path to a kernel tarball "
                        f"(default {kernel.DEFAULT_SOURCE})")
    kbuild.add_argument("--config", help="Kconfig fragment (default: the course fragment)")
    kbuild.add_argument("-j", "--jobs", type=int, help="parallel make jobs (default: all cores)")
    kbuild.add_argument("--inline-helpers", action="store_true",
                        help="with CONFIG_RUST_INLINE_HELPERS: the C helpers Rust calls are "
                        "inlined into Rust code, modules included (Linux 7.3; a pair of its own)")
    kbuild.set_defaults(func=_cmd_kernel_build)
    klist = kern.add_parser("list", help="list cached kernel pairs")
    klist.set_defaults(func=_cmd_kernel_list)

    chk = sub.add_parser("check", help="build, boot and grade one source file for a lab")
    chk.add_argument("lab", help="lab directory, e.g. labs/00-hello")
    chk.add_argument("--source", required=True, help="the driver's .rs file")
    chk.add_argument("--json", action="store_true", help="print one JSON object")
    chk.add_argument("--format", choices=["gradescope", "prairielearn", "junit"],
                     help="print the result as Gradescope's or PrairieLearn's results.json, "
                     "or as JUnit XML")
    chk.add_argument("--kvm", choices=["auto", "on", "off"], default="auto",
                     help="use KVM (auto: when /dev/kvm works)")
    chk.set_defaults(func=_cmd_check)

    skel = sub.add_parser("skeleton", help="print a lab's student skeleton (solutions removed)")
    skel.add_argument("lab")
    skel.set_defaults(func=_cmd_skeleton)

    # Commands of other parts of the platform register themselves here, each module
    # with a `register(subparsers)` function (keeps this file thin).
    for name in EXTENSIONS:
        module = importlib.import_module(name)
        module.register(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run one kdlab command; its exit status (EXIT_CODES)."""
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KdlabError as err:
        print(f"kdlab: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("kdlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
