"""The images share their common layers: packages are installed once, in kdlab/common.

These look at the images ./setup and `kdlab image build` made: the toolchain and
the runtime stand on the very layers of kdlab/common, the grader and lab images on
the runtime's, and no image above kdlab/common installs Debian packages again (the
set-up time that costs was the point of kdlab/common).
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
    (images.TOOLCHAIN_IMAGE, images.COMMON_IMAGE),
    (images.IMAGES["runtime"].tag, images.COMMON_IMAGE),
    (images.IMAGES["grader"].tag, images.IMAGES["runtime"].tag),
    (images.IMAGES["lab"].tag, images.IMAGES["runtime"].tag),
])
def test_image_stands_on_the_layers_below(client, above: str, below: str) -> None:
    under = _layers(client, below)
    assert _layers(client, above)[:len(under)] == under, f"{above} is not built on {below}"


@pytest.mark.parametrize("tag", [spec.tag for spec in images.IMAGES.values()])
def test_no_image_above_common_installs_packages(client, tag: str) -> None:
    history = client.api.history(tag)  # newest step first
    own = [step["CreatedBy"] for step in
           history[:len(history) - len(client.api.history(images.COMMON_IMAGE))]]
    assert own, f"{tag} has no layers of its own"
    assert not [s for s in own if "apt-get install" in s], own
