"""images/common's package lists keep in step with the tools the engine insists on
(grader.engine.toolchain.TOOLS): packages are installed once, in kdlab/common, and
what a kernel build needs is in its first stage (images/common/compilers), on which
./setup builds the kernel pair.

The built images' layers are checked in tests/e2e/test_images_e2e.py.
"""

from __future__ import annotations

from grader.engine import toolchain
from tests.conftest import REPO

#: Packages of the toolchain's tool list that a module build needs only part of.
SUBSTITUTES = {"build-essential": {"make", "gcc", "libc6-dev"}}


def _listed(name: str) -> set[str]:
    words: set[str] = set()
    for line in (REPO / "images/common" / name).read_text().splitlines():
        words.update(line.split("#", 1)[0].split())
    return words


def _packages(tools: list[toolchain.Tool]) -> set[str]:
    return {package for tool in tools for package in SUBSTITUTES.get(tool.package, {tool.package})}


def test_common_packages_cover_every_tool_the_engine_checks() -> None:
    needed = {"rust-src", "ccache", "qemu-system-data", "python3-venv"} | _packages(
        list(toolchain.TOOLS))
    listed = _listed("compilers") | _listed("packages")
    assert needed <= listed, f"missing from images/common's lists: {sorted(needed - listed)}"
    assert not _listed("compilers") & _listed("packages"), "a package is listed twice"


def test_the_compilers_stage_builds_a_kernel() -> None:
    kernel_tools = [t for t in toolchain.TOOLS if t.name in toolchain.KERNEL_BUILD_TOOLS]
    assert {t.name for t in kernel_tools} == toolchain.KERNEL_BUILD_TOOLS
    needed = {"rust-src", "python3", "libelf-dev"} | _packages(kernel_tools)
    assert needed <= _listed("compilers"), sorted(needed - _listed("compilers"))
