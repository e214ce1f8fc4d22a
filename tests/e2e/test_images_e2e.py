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


def test_a_build_with_nothing_changed_asks_docker_nothing(client) -> None:
    """A second `kdlab image build` finds every image current by the digest of what it
    is made from: recorded on this machine, and on the grader image also a label
    (grading hosts compare it; other images do without, since every label is a build
    step that walks the image)."""
    again = images.build(images.DEFAULT_TARGETS)
    assert all(built.up_to_date for built in again), [(b.tag, b.steps) for b in again]
    for name in images.DEFAULT_TARGETS:
        spec, image = images.IMAGES[name], client.images.get(images.IMAGES[name].tag)
        assert images.built_from(image) is not None, spec.tag
        assert (images.CONTEXT_LABEL in (image.labels or {})) == spec.identity_label, spec.tag


def test_the_runtimes_first_stage_is_what_setup_built_beside_the_kernel(client) -> None:
    """./setup builds the runtime's `accounts` stage while the kernel pair builds; the
    runtime's own build must find it in the layer cache, so the stage must not depend
    on anything the runtime's context brings (the kernel pair, the grader package)."""
    from grader.paths import REPO

    stage = client.images.build(path=str(REPO), dockerfile="images/runtime/Dockerfile",
                                target="accounts", network_mode="host", rm=True,
                                buildargs=images.IMAGES["runtime"].buildargs)[0]
    assert stage.id in {step["Id"] for step in client.api.history(images.IMAGES["runtime"].tag)}
