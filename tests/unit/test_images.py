"""images/common/packages keeps in step with the tools the engine insists on
(grader.engine.toolchain.TOOLS): packages are installed once, in kdlab/common.

The built images' layers are checked in tests/e2e/test_images_e2e.py.
"""

from __future__ import annotations

from grader.engine import toolchain
from tests.conftest import REPO

#: Packages of the toolchain's tool list that a module build needs only part of.
SUBSTITUTES = {"build-essential": {"make", "gcc", "libc6-dev"}}


def test_common_packages_cover_every_tool_the_engine_checks() -> None:
    listed = set()
    for line in (REPO / "images/common/packages").read_text().splitlines():
        listed.update(line.split("#", 1)[0].split())
    needed = {"rust-src", "ccache", "qemu-system-data", "python3-venv"}
    for tool in toolchain.TOOLS:
        needed |= SUBSTITUTES.get(tool.package, {tool.package})
    assert needed <= listed, f"missing from images/common/packages: {sorted(needed - listed)}"
