"""The `kdlab` command line: thin wrappers over the engine's modules."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from grader.batch.sandbox import SandboxError
from grader.course.notebook import NotebookError
from grader.engine import kernel, toolchain
from grader.lab.model import LabError
from grader.progress import Console, Silent

#: Modules that add subcommands (course, image, grade...).
EXTENSIONS: list[str] = [
    "grader.course.generate",
    "grader.cli.platform_cmds",
    "grader.cli.instructor_cmds",
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

    toolchain.require()
    reporter = Silent() if args.json or args.format else Console()
    result = check.run(
        Path(args.lab), Path(args.source), kernel.find(args.kernel), reporter=reporter,
        kvm=args.kvm,
    )
    if args.format:
        from grader.batch import exports

        print(exports.check_format(result.to_json(), args.format), end="")
    elif args.json:
        print(json.dumps(result.to_json()))
    else:
        print(result.summary())
    return 0


def _cmd_skeleton(args: argparse.Namespace) -> int:
    from grader.lab import model as lab

    print(lab.Lab.load(Path(args.lab)).skeleton(), end="")
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so the docs and tests can inspect it)."""
    top = argparse.ArgumentParser(prog="kdlab", description=__doc__)
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


#: Errors that mean the user asked for something that cannot be done here and now
#: (a missing lab, kernel pair, tool, notebook or Docker): their messages say what to
#: do, so kdlab prints them alone, without a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    kernel.KernelError, toolchain.ToolchainMissing, LabError, NotebookError, SandboxError)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as err:
        print(f"kdlab: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kdlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
