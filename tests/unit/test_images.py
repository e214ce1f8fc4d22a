"""The images share their common layers: packages are installed once, in kdlab/common.

The first test keeps images/common/packages in step with the tools the engine
insists on (grader.engine.toolchain.TOOLS). The others look at the images ./setup and
`kdlab image build` made: the toolchain and the runtime stand on the very
layers of kdlab/common, the grader and lab images on the runtime's, and no image
above kdlab/common installs Debian packages again (the set-up time that costs
was the point of kdlab/common).
"""

from __future__ import annotations

from typing import Any

import pytest

from grader.batch import sandbox
from grader.engine import toolchain
from grader.images import build as images
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


@pytest.fixture(scope="module")
def client() -> Any:
    images.build(["grader", "lab"])
    return sandbox.client()


def _layers(client: Any, tag: str) -> list[str]:
    return client.images.get(tag).attrs["RootFS"]["Layers"]


@pytest.mark.e2e
@pytest.mark.parametrize(("above", "below"), [
    (images.TOOLCHAIN_IMAGE, images.COMMON_IMAGE),
    (images.IMAGES["runtime"].tag, images.COMMON_IMAGE),
    (images.IMAGES["grader"].tag, images.IMAGES["runtime"].tag),
    (images.IMAGES["lab"].tag, images.IMAGES["runtime"].tag),
])
def test_image_stands_on_the_layers_below(client, above: str, below: str) -> None:
    under = _layers(client, below)
    assert _layers(client, above)[:len(under)] == under, f"{above} is not built on {below}"


@pytest.mark.e2e
@pytest.mark.parametrize("tag", [spec.tag for spec in images.IMAGES.values()])
def test_no_image_above_common_installs_packages(client, tag: str) -> None:
    history = client.api.history(tag)  # newest step first
    own = [step["CreatedBy"] for step in
           history[:len(history) - len(client.api.history(images.COMMON_IMAGE))]]
    assert own, f"{tag} has no layers of its own"
    assert not [s for s in own if "apt-get install" in s], own
