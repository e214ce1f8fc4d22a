"""`kdlab lab`: start the student's lab (JupyterLab in the lab image) and say how to open it.

The container keeps the student's work in a Docker volume (or a host folder
given with --work), so stopping and starting the lab loses nothing. KVM is
passed in when it works on this machine; QEMU uses TCG otherwise.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import qemu
from grader.kernel import cache_root

LAB_IMAGE = "kdlab/lab:trixie"
CONTAINER_NAME = "kdlab-lab"
WORK_VOLUME = "kdlab-work"
CONTAINER_PORT = 8888
HOME = "/home/student"


@dataclass(frozen=True)
class LabServer:
    """A running lab container and the URL that opens it."""

    container_id: str
    url: str
    token: str
    port: int


def _kvm_options() -> dict:
    if not qemu.kvm_usable(cache_root()):
        return {}
    return {"devices": ["/dev/kvm:/dev/kvm:rwm"], "group_add": [str(os.stat("/dev/kvm").st_gid)]}


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when JupyterLab serves `url` (its /api/status endpoint with the token)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start(docker_client: Any, port: int = CONTAINER_PORT, image: str = LAB_IMAGE,
          name: str = CONTAINER_NAME, work: Path | None = None, token: str | None = None,
          wait_s: float = 90.0) -> LabServer:
    """Start (or replace) the lab container and wait until JupyterLab answers."""
    import docker

    with contextlib.suppress(docker.errors.NotFound):
        docker_client.containers.get(name).remove(force=True)
    token = token or secrets.token_hex(16)
    mount = str(work.resolve()) if work else WORK_VOLUME
    container = docker_client.containers.run(
        image, detach=True, name=name, init=True,
        ports={f"{CONTAINER_PORT}/tcp": ("127.0.0.1", port)},
        environment={"KDLAB_TOKEN": token, "KDLAB_HOST_PORT": str(port)},
        volumes={mount: {"bind": f"{HOME}/work", "mode": "rw"}},
        labels={"kdlab.lab": "1"},
        **_kvm_options(),
    )
    url = f"http://127.0.0.1:{port}/lab?token={token}"
    status = f"http://127.0.0.1:{port}/api/status?token={token}"
    deadline = time.monotonic() + wait_s
    while not answers(status):
        container.reload()
        if container.status != "running":
            logs = container.logs(tail=40).decode(errors="replace")
            raise RuntimeError(f"the lab container stopped:\n{logs}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"JupyterLab did not answer on port {port} within {wait_s:.0f} s")
        time.sleep(0.5)
    return LabServer(container.id, url, token, port)


def stop(docker_client: Any, name: str = CONTAINER_NAME) -> bool:
    """Stop and remove the lab container (the work volume stays); False if none ran."""
    import docker

    try:
        docker_client.containers.get(name).remove(force=True)
        return True
    except docker.errors.NotFound:
        return False
