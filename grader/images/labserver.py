"""`kdlab lab`: start the student's lab (JupyterLab in the lab image) and say how to open it.

The container keeps the student's work in a Docker volume (or a host folder
given with --work), so stopping and starting the lab loses nothing, and a newer
image adds its new assignments next to the student's files (images/lab/start-lab).
Starting it again while it runs as asked (the same image, port and work) gives
the running lab's URL instead of a new container: a student who lost the URL
must not cut off the notebooks open in the browser, whose unsaved edits would
then have no server to be saved to.
The container starts as root only to make that folder the student's (whoever
owns a host folder, or a volume Docker made as root's) and runs JupyterLab as
the student. KVM is passed in when it works on this machine; QEMU uses TCG
otherwise.

Every way a start can fail that the user can do something about (no image, a
port in use, a folder the student cannot use) is a LabStartError whose message says
what to do.
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

from grader import tags
from grader.engine import qemu
from grader.errors import KdlabError

LAB_IMAGE = tags.image("lab")
#: kdlab-lab and kdlab-work, or NS-lab and NS-work with KDLAB_IMAGE_NS=NS (a second
#: set of images gets a lab of its own, apart from the student's).
CONTAINER_NAME = f"{tags.namespace()}-lab"
WORK_VOLUME = f"{tags.namespace()}-work"
CONTAINER_PORT = 8888
HOME = "/home/student"
WORK = f"{HOME}/work"
#: The student's uid in the lab image (its account is made in images/runtime/Dockerfile).
STUDENT_UID = 1000
#: Lines of the container's log kept in the message when it stopped.
LOG_TAIL = 20
#: How images/lab/start-lab begins the messages it stops with.
START_ERROR = "kdlab lab: "


class LabStartError(KdlabError):
    """The lab could not start; the message says why and what to do."""


@dataclass(frozen=True)
class LabServer:
    """A running lab container and the URL that opens it."""

    container_id: str
    url: str
    token: str
    port: int
    #: True when the lab was already running as asked and was left as it was.
    resumed: bool = False


def _urls(port: int, token: str) -> tuple[str, str]:
    """(the URL a student opens, the URL that tells whether JupyterLab answers)."""
    return (f"http://127.0.0.1:{port}/lab?token={token}",
            f"http://127.0.0.1:{port}/api/status?token={token}")


def _kvm_options() -> dict:
    if not qemu.kvm_usable():
        return {}
    return {"devices": ["/dev/kvm:/dev/kvm:rwm"], "group_add": [str(os.stat("/dev/kvm").st_gid)]}


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when JupyterLab serves `url` (its /api/status endpoint with the token)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _require_image(docker_client: Any, image: str) -> str:
    """The image's ID; a missing image is a LabStartError saying how to build it."""
    import docker

    try:
        return docker_client.images.get(image).id
    except docker.errors.ImageNotFound:
        raise LabStartError(f"the lab image {image} is not here: build it with `./setup` (or "
                       "`scripts/in-toolchain kdlab image build lab`)") from None


def _running_as_asked(docker_client: Any, name: str, image_id: str, port: int,
                      mount: str, token: str | None) -> LabServer | None:
    """The lab container `name` if it runs the image `image_id` on `port` with `mount`
    as the work (and `token`, when one is asked for) and JupyterLab answers."""
    import docker

    try:
        container = docker_client.containers.get(name)
    except docker.errors.NotFound:
        return None
    attrs = container.attrs
    env = dict(e.split("=", 1) for e in attrs["Config"].get("Env") or [] if "=" in e)
    running_token = env.get("KDLAB_TOKEN", "")
    ports = (attrs["HostConfig"].get("PortBindings") or {}).get(f"{CONTAINER_PORT}/tcp") or []
    mounts = [m.get("Name") if m.get("Type") == "volume" else m.get("Source")
              for m in attrs.get("Mounts") or [] if m.get("Destination") == WORK]
    url, status = _urls(port, running_token)
    if (container.status == "running" and running_token and token in (None, running_token)
            and attrs["Image"] == image_id
            and [p.get("HostPort") for p in ports] == [str(port)]
            and mounts == [mount] and answers(status)):
        return LabServer(container.id, url, running_token, port, resumed=True)
    return None


def _run(docker_client: Any, image: str, name: str, port: int, mount: str,
         environment: dict[str, str]) -> Any:
    """Start the container; a port already taken is a LabStartError naming --port."""
    import docker

    try:
        return docker_client.containers.run(
            image, detach=True, name=name, init=True, user="root",
            ports={f"{CONTAINER_PORT}/tcp": ("127.0.0.1", port)},
            environment=environment,
            volumes={mount: {"bind": WORK, "mode": "rw"}},
            labels={"kdlab.lab": "1"},
            **_kvm_options(),
        )
    except docker.errors.APIError as err:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(name).remove(force=True)
        if "port is already allocated" in str(err) or "address already in use" in str(err):
            raise LabStartError(f"port {port} is already in use on this machine: start the lab on "
                           f"another one, e.g. `kdlab lab --port {port + 1}`") from None
        raise LabStartError(f"Docker could not start the lab: {err.explanation or err}") from None


def start(docker_client: Any, port: int = CONTAINER_PORT, image: str = LAB_IMAGE,
          name: str = CONTAINER_NAME, work: Path | None = None, volume: str = WORK_VOLUME,
          token: str | None = None, wait_s: float = 90.0) -> LabServer:
    """Start the lab container and wait until JupyterLab answers; one that already
    runs as asked is kept (`resumed`), one that runs otherwise is replaced.

    work: a host folder for the student's files (made by Docker when missing);
    without it, the Docker volume `volume` (made when missing).
    """
    import docker

    image_id = _require_image(docker_client, image)
    mount = str(work.resolve()) if work else volume
    running = _running_as_asked(docker_client, name, image_id, port, mount, token)
    if running:
        return running
    with contextlib.suppress(docker.errors.NotFound):
        docker_client.containers.get(name).remove(force=True)
    token = token or secrets.token_hex(16)
    environment = {"KDLAB_TOKEN": token, "KDLAB_HOST_PORT": str(port),
                   "KDLAB_WORK_SHOWN": mount if work else f"the Docker volume {volume}",
                   "KDLAB_WORK_VOLUME": "" if work else "1"}
    container = _run(docker_client, image, name, port, mount, environment)
    url, status = _urls(port, token)
    deadline = time.monotonic() + wait_s
    while not answers(status):
        container.reload()
        if container.status != "running":
            logs = container.logs(tail=LOG_TAIL).decode(errors="replace").strip()
            container.remove(force=True)
            if START_ERROR in logs:  # start-lab's own message says what to do
                raise LabStartError(logs[logs.index(START_ERROR) + len(START_ERROR):].strip())
            raise LabStartError(f"the lab stopped while starting; its last words:\n{logs}")
        if time.monotonic() > deadline:
            raise LabStartError(f"JupyterLab did not answer on port {port} within {wait_s:.0f} s; "
                           f"its log: `docker logs {name}`")
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


def volume_owner(docker_client: Any, image: str = LAB_IMAGE,
                 volume: str = WORK_VOLUME) -> int | None:
    """The uid that owns the work volume's top folder; None when there is no such volume.

    Read by a throw-away container of the lab image (a volume's files are not
    visible from here otherwise).
    """
    import docker

    try:
        docker_client.volumes.get(volume)
    except docker.errors.NotFound:
        return None
    out = docker_client.containers.run(image, ["stat", "-c", "%u", WORK], user="root",
                                       remove=True, network_mode="none",
                                       volumes={volume: {"bind": WORK, "mode": "ro"}})
    return int(out.decode().strip())
