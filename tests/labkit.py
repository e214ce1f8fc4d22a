"""Helpers for the tests that start the student's lab the way `kdlab lab` does.

Each test lab gets its own container name, port and (when it uses one) Docker
volume, so tests never touch a student's running `kdlab-lab` or its
`kdlab-work` volume; host work folders live under the checkout's build/,
which the Docker daemon sees at the same path (scripts/in-toolchain mounts the
checkout there). JupyterLab is then used through its HTTP API, as a browser
would: the contents API lists and saves the student's files.
"""

from __future__ import annotations

import contextlib
import json
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grader.batch import sandbox
from grader.images import build as images
from grader.images import labserver
from tests.conftest import REPO

SCRATCH = REPO / "build" / "test-lab"


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def current_images() -> None:
    """Build where this checkout changed them the images `kdlab image build` makes
    (runtime, grader, lab): all three, so that a test run never leaves one of them
    built on an older runtime than another (`kdlab doctor` reports that, and the
    README-commands test runs doctor). A no-op when nothing changed."""
    images.build(images.DEFAULT_TARGETS)


def lab_image() -> str:
    """The lab image of this checkout (built, or found current, first)."""
    current_images()
    return images.IMAGES["lab"].tag


@contextlib.contextmanager
def running_lab(work: Path | None = None, volume: str | None = None,
                name: str | None = None) -> Iterator[tuple[labserver.LabServer, Any]]:
    """A lab started by labserver.start on a free port; (server, container), removed after."""
    client = sandbox.client()
    name = name or unique("kdlab-lab-test")
    server = labserver.start(client, port=free_port(), name=name, work=work,
                             volume=volume or labserver.WORK_VOLUME)
    try:
        yield server, client.containers.get(name)
    finally:
        labserver.stop(client, name)


def api(server: labserver.LabServer, path: str, method: str = "GET",
        body: dict | None = None) -> tuple[int, dict]:
    """One request to JupyterLab's REST API with the lab's token: (status, JSON reply)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/api/{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read() or b"{}")


def listing(server: labserver.LabServer, path: str = "") -> dict[str, dict]:
    """The folder `path` of the student's work as the contents API shows it, by name."""
    _, model = api(server, f"contents/{path}?content=1")
    return {entry["name"]: entry for entry in model["content"]}


def save_text(server: labserver.LabServer, path: str, text: str) -> int:
    """Save a text file through the contents API, as the editor does; the HTTP status."""
    status, _ = api(server, f"contents/{path}", "PUT",
                    {"type": "file", "format": "text", "content": text})
    return status
