"""The images share their common layers: packages are installed once, in kdlab/common.

These look at the images ./setup and `kdlab image build` made: the toolchain and
the runtime stand on the very layers of kdlab/common, the grader and lab images on
the runtime's, and no image above kdlab/common installs Debian packages again (the
set-up time that costs was the point of kdlab/common), but for the few an image
declares (the hub's proxy, which only the hub runs).
"""

from __future__ import annotations

from typing import Any

import pytest

from grader.batch import sandbox
from grader.images import build as images


@pytest.fixture(scope="module")
def client() -> Any:
    images.build(["grader", "lab"])
    return sandbox.client()


def _layers(client: Any, tag: str) -> list[str]:
    return client.images.get(tag).attrs["RootFS"]["Layers"]


@pytest.mark.parametrize(("above", "below"), [
    (images.COMMON_IMAGE, images.COMPILERS_IMAGE),
    (images.TOOLCHAIN_IMAGE, images.COMMON_IMAGE),
    (images.IMAGES["runtime"].tag, images.COMMON_IMAGE),
    (images.IMAGES["grader"].tag, images.IMAGES["runtime"].tag),
    (images.IMAGES["lab"].tag, images.IMAGES["runtime"].tag),
])
def test_image_stands_on_the_layers_below(client, above: str, below: str) -> None:
    under = _layers(client, below)
    assert _layers(client, above)[:len(under)] == under, f"{above} is not built on {below}"


@pytest.mark.parametrize("spec", images.IMAGES.values(), ids=lambda spec: spec.name)
def test_no_image_above_common_installs_other_packages(client, spec: images.ImageSpec) -> None:
    """Only the packages an image declares (the hub's proxy) are installed above common."""
    if not spec.default:
        images.build([spec.name])  # set-up does not build it: it is built on first use
    history = client.api.history(spec.tag)  # newest step first
    own = [step["CreatedBy"] for step in
           history[:len(history) - len(client.api.history(images.COMMON_IMAGE))]]
    assert own, f"{spec.tag} has no layers of its own"
    installs = [s for s in own if "apt-get install" in s]
    installed = {word for step in installs
                 for word in step.split("apt-get install", 1)[1].split("&&", 1)[0].split()
                 if not word.startswith("-")}
    assert installed == set(spec.packages), installs
