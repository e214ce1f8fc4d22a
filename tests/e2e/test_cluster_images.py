"""Images to grading hosts without a registry, and the hosts' check that they are the same.

A small image made for the test (FROM scratch, one random file, kdlab's identity
labels) goes through `kdlab image save` and, after it is deleted from the engine,
`kdlab image load`: it must come back with the same ID and the same file, gzip or
plain. The image check a grading host runs (grader.cluster.task.ImageIdentity) is
held against the real engine: same ID, or a rebuild with the same kernel pair and
context labels, is accepted; anything else, or no image, is refused with the way
to copy the instructor's image.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator

import pytest

from grader.batch import sandbox
from grader.cluster import task
from grader.engine.kernel_export import IMAGE_LABEL
from grader.images.build import CONTEXT_LABEL
from tests.batchcourse import SCRATCH
from tests.conftest import REPO

pytestmark = pytest.mark.e2e


@pytest.fixture
def small_image() -> Iterator[tuple[str, bytes]]:
    """A fresh image (tag, its one file's bytes); removed afterwards."""
    payload = os.urandom(1 << 20)
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY payload /payload\n"),
                           ("payload", payload)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    tag = f"kdlab-test/transfer-{uuid.uuid4().hex[:8]}:x"
    docker_client = sandbox.client()
    docker_client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True,
                               labels={IMAGE_LABEL: "pair-1", CONTEXT_LABEL: "ctx-1"})
    try:
        yield tag, payload
    finally:
        with contextlib.suppress(Exception):  # already gone: the test deletes it on purpose
            docker_client.images.remove(tag, force=True)


def _kdlab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.cli.main", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)


def _payload(tag: str) -> bytes:
    """The image's /payload, read out of a container made (not started) from it."""
    container = sandbox.client().containers.create(tag, command=["none"])
    try:
        stream, _ = container.get_archive("/payload")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            return tar.extractfile("payload").read()
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar"])
def test_saved_image_loads_on_an_engine_without_it(small_image, suffix: str) -> None:
    tag, payload = small_image
    docker_client = sandbox.client()
    image_id = docker_client.images.get(tag).id
    SCRATCH.mkdir(parents=True, exist_ok=True)
    archive = SCRATCH / f"images-{uuid.uuid4().hex[:8]}{suffix}"
    try:
        saved = _kdlab("image", "save", tag, "-o", str(archive))
        assert saved.returncode == 0, saved.stderr
        with archive.open("rb") as raw:
            assert (raw.read(2) == b"\x1f\x8b") == (suffix == ".tar.gz")
        docker_client.images.remove(tag, force=True)  # the layer is gone from the engine
        assert tag not in {t for image in docker_client.images.list() for t in image.tags}
        loaded = _kdlab("image", "load", str(archive))
        assert loaded.returncode == 0, loaded.stderr
        assert f"loaded {tag}" in loaded.stdout
        assert docker_client.images.get(tag).id == image_id  # what the hosts' check compares
        assert _payload(tag) == payload
    finally:
        archive.unlink(missing_ok=True)


def test_grading_hosts_accept_only_the_instructors_image(small_image) -> None:
    tag, _ = small_image
    docker_client = sandbox.client()
    mine = task.ImageIdentity.of(docker_client, tag)
    assert (mine.kernel, mine.context) == ("pair-1", "ctx-1")
    assert mine.problem(docker_client) == ""
    rebuilt = dataclasses.replace(mine, image_id="sha256:" + "0" * 64)
    assert rebuilt.problem(docker_client) == ""  # same files built elsewhere
    other = dataclasses.replace(rebuilt, context="ctx-2")
    assert "kdlab image load" in other.problem(docker_client)
    assert "kdlab image load" in dataclasses.replace(other, kernel="", context="").problem(
        docker_client)
    missing = dataclasses.replace(mine, tag="kdlab-test/nosuch:x")
    assert missing.problem(docker_client).startswith("this host has no kdlab-test/nosuch:x")
