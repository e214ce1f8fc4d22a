"""Find the host tools kdlab needs and say precisely what is missing.

Every build and boot step shells out to a real tool (make, rustc, clang, QEMU,
busybox...). Checking them up front turns a confusing failure deep inside
Kbuild into one actionable line: which tool, which version was found, which
is needed, and the Debian package that provides it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from grader import tags
from grader.errors import KdlabError

#: Where the kdlab toolchain image keeps things; the message for a missing
#: toolchain points users at it.
TOOLCHAIN_IMAGE = tags.image("toolchain")


@dataclass(frozen=True)
class Tool:
    """One required program, the minimum version the kernel or kdlab needs."""

    name: str
    command: str
    package: str
    purpose: str
    minimum: tuple[int, ...] = ()
    version_args: tuple[str, ...] = ("--version",)


# The minimums for rustc and bindgen are those of scripts/min-tool-version.sh
# in Linux 7.1+; the rest are what the build and boot steps call.
TOOLS: tuple[Tool, ...] = (
    Tool("rustc", "rustc", "rustc", "compiles Rust kernel code", (1, 85, 0)),
    Tool("bindgen", "bindgen", "bindgen", "generates the kernel crate's C bindings", (0, 71, 1)),
    Tool("clang", "clang", "clang", "LLVM=1 kernel build", (15, 0, 0)),
    Tool("ld.lld", "ld.lld", "lld", "LLVM=1 kernel link", (15, 0, 0)),
    Tool("llvm-ar", "llvm-ar", "llvm", "LLVM=1 archives"),
    Tool("make", "make", "build-essential", "Kbuild"),
    Tool("flex", "flex", "flex", "kconfig"),
    Tool("bison", "bison", "bison", "kconfig"),
    Tool("bc", "bc", "bc", "kernel build"),
    Tool("lz4", "lz4", "lz4", "compresses the kernel image (CONFIG_KERNEL_LZ4)"),
    Tool("cpio", "cpio", "cpio", "initramfs"),
    Tool("busybox", "busybox", "busybox-static", "guest userspace", (), ("--help",)),
    Tool("cc", "cc", "build-essential", "guest test programs (static)"),
    Tool("qemu", "qemu-system-x86_64", "qemu-system-x86", "boots the kernel", (7, 0, 0)),
)
#: What building a kernel pair runs (no guest, no QEMU): ./setup builds the pair in an
#: image that has only these (the compilers stage of images/common/Dockerfile).
KERNEL_BUILD_TOOLS = frozenset(("rustc", "bindgen", "clang", "ld.lld", "llvm-ar", "make",
                                "flex", "bison", "bc", "lz4", "cc"))


@dataclass
class Finding:
    """What was found for one tool; `problem` is empty when it is usable."""

    tool: Tool
    path: str | None
    version: tuple[int, ...] | None
    problem: str = ""


def _version_of(path: str, args: tuple[str, ...]) -> tuple[int, ...] | None:
    try:
        out = subprocess.run(
            [path, *args], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out.stdout + out.stderr)
    if not match:
        return None
    return tuple(int(part) for part in match.groups(default="0"))


def _rust_src_present() -> bool:
    """rust-src is a library tree, not a program: look where rustc's sysroot keeps it."""
    rustc = shutil.which("rustc")
    if not rustc:
        return False
    sysroot = subprocess.run(
        [rustc, "--print", "sysroot"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (Path(sysroot) / "lib/rustlib/src/rust/library/core/src/lib.rs").is_file()


def check(names: Collection[str] | None = None) -> list[Finding]:
    """Look for every tool (or those named); one finding per tool, problem set where unusable."""
    findings = []
    for tool in TOOLS:
        if names is not None and tool.name not in names:
            continue
        path = shutil.which(tool.command)
        if path is None:
            findings.append(Finding(tool, None, None, "not found"))
            continue
        version = _version_of(path, tool.version_args) if tool.minimum else None
        problem = ""
        if tool.minimum and (version is None or version < tool.minimum):
            found = ".".join(map(str, version)) if version else "unknown"
            problem = f"version {found} is older than {'.'.join(map(str, tool.minimum))}"
        findings.append(Finding(tool, path, version, problem))
    return findings


def missing_report(findings: list[Finding] | None = None) -> str:
    """A message naming each missing tool and how to get it; empty when all is there."""
    findings = check() if findings is None else findings
    lines = [
        f"  - {f.tool.name} ({f.tool.purpose}): {f.problem}; Debian package: {f.tool.package}"
        for f in findings
        if f.problem
    ]
    if shutil.which("rustc") and not _rust_src_present():
        lines.append("  - rust-src (the Rust standard library source): not found; "
                     "Debian package: rust-src")
    if not lines:
        return ""
    return (
        "kdlab needs tools that this machine does not have:\n"
        + "\n".join(lines)
        + "\nInstall them (Debian trixie has every one), or run kdlab inside the toolchain "
        f"image {TOOLCHAIN_IMAGE} (built by `./setup`): `scripts/in-toolchain kdlab ...`."
    )


class ToolchainMissing(KdlabError):
    """Raised when a step needs tools that are not installed."""


def require(names: Collection[str] | None = None) -> None:
    """Raise ToolchainMissing with the full report when anything (of those named) is missing."""
    report = missing_report(check(names))
    if report:
        raise ToolchainMissing(report)
