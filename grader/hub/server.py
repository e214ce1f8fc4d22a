"""`kdlab hub`: start and stop a course server (JupyterHub) on this Docker daemon.

Contract: `start(client, settings)` makes what the hub needs and is missing (its
image, built on first use with progress; the course folder, copied from the
checkout's course/; an internal Docker network; its data and exchange volumes),
replaces any hub container of the same name, waits until JupyterHub answers and
returns a `Hub` (URL, service token). `stop(client, name)` stops the hub and every
user's server and removes their containers and the network, and keeps every
volume and the course folder: work, submissions, the database survive.

Everything of one hub is named from `settings.name` (`<ns>-hub` by default, ns
the image namespace): the container, the network, `<name>-data` (the hub's
database and cookie secret), `<name>-exchange` (nbgrader's exchange) and the
students' `<name>-user-<username>` volumes, so tests and benchmarks run a hub of
their own beside a course's. How it is configured inside is
images/hub/jupyterhub_config.py, which reads exactly the KDLAB_HUB_* variables
made here; the trust model is in grader/hub/__init__.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import tags
from grader.engine import qemu
from grader.hub import HubError
from grader.hub.roster import Student
from grader.progress import Reporter, Silent

REPO = Path(__file__).resolve().parents[2]
HUB_PORT = 8000
#: The uid the instructor's server runs as when kdlab makes the course folder (the
#: lab image's `student`); students get uids far above it (jupyterhub_config.py).
INSTRUCTOR_UID = 1000
#: Where the hub keeps its state, inside its container.
STATE = "/srv/jupyterhub"
#: Lines of the hub's log kept in the message when it stopped.
LOG_TAIL = 30
#: Seconds JupyterHub may take to stop every server before it is killed.
STOP_TIMEOUT_S = 120


def default_name() -> str:
    """kdlab-hub, or NS-hub with KDLAB_IMAGE_NS=NS."""
    return f"{tags.namespace()}-hub"


@dataclass(frozen=True)
class Settings:
    """What `kdlab hub` was asked for."""

    course: Path
    admin: str = "instructor"
    students: tuple[Student, ...] = ()
    name: str = field(default_factory=default_name)
    port: int = HUB_PORT
    ip: str = "127.0.0.1"
    mem: str = "2G"
    cpus: float = 1.0
    cull_after_s: int = 3600
    db_url: str = ""
    lab_image: str = field(default_factory=lambda: tags.image("lab"))
    hub_image: str = field(default_factory=lambda: tags.image("hub"))


@dataclass(frozen=True)
class Hub:
    """A running hub: where to open it and the token of its `kdlab` service."""

    container_id: str
    url: str
    token: str
    name: str

    def api(self, path: str, method: str = "GET", body: dict | None = None,
            timeout: float = 60) -> Any:
        """One call to the hub's REST API as the `kdlab` service; the JSON reply."""
        request = urllib.request.Request(
            f"{self.url}/hub/api/{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
        return json.loads(payload) if payload else None


def volume_names(name: str) -> tuple[str, str]:
    """The hub's data volume and its exchange volume."""
    return f"{name}-data", f"{name}-exchange"


def user_prefix(name: str) -> str:
    """What the names of the users' containers and volumes start with."""
    return f"{name}-user-"


def prepare_course(course: Path, repo: Path = REPO) -> None:
    """Make the course folder from the checkout's course/ when it does not exist.

    nbgrader's configuration and the assignments' source notebooks; the instructor
    generates and releases from there in formgrader. The folder is given to the lab
    image's user, whom the instructor's server then runs as. An existing folder is
    used as it is, if it is not root's (the instructor's server would have to run as
    root to write to it).
    """
    if not course.exists():
        course.mkdir(parents=True)
        shutil.copy2(repo / "course" / "nbgrader_config.py", course / "nbgrader_config.py")
        shutil.copytree(repo / "course" / "source", course / "source")
        if os.geteuid() == 0:
            for path in [course, *course.rglob("*")]:
                os.chown(path, INSTRUCTOR_UID, INSTRUCTOR_UID, follow_symlinks=False)
    elif not course.is_dir():
        raise HubError(f"{course} is not a folder; name the course folder with --course DIR")
    elif course.stat().st_uid == 0:
        raise HubError(f"the course folder {course} belongs to root; give it to the "
                       f"instructor's user (sudo chown -R {INSTRUCTOR_UID}:{INSTRUCTOR_UID} "
                       f"{course}) and start again")


def _require_image(client: Any, image: str, what: str) -> None:
    import docker

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        raise HubError(f"the {what} image {image} is not here: build it with "
                       f"`kdlab image build {what}`") from None


def _ensure_hub_image(client: Any, settings: Settings, reporter: Reporter) -> None:
    """The hub image, built on first use (it is not part of ./setup's images)."""
    from grader.images import build as images

    if settings.hub_image != images.IMAGES["hub"].tag:
        _require_image(client, settings.hub_image, "hub")
        return
    try:
        images.build_image(images.IMAGES["hub"], client, reporter)
    except images.ImageError as err:
        raise HubError(f"the hub image could not be built: {err}") from None


def _network(client: Any, name: str) -> Any:
    """The users' network: internal (no route out), shared with the hub only."""
    import docker

    try:
        return client.networks.get(name)
    except docker.errors.NotFound:
        return client.networks.create(name, driver="bridge", internal=True,
                                      labels={"kdlab.hub": name})


def _volume(client: Any, name: str, hub: str) -> None:
    import docker

    try:
        client.volumes.get(name)
    except docker.errors.NotFound:
        client.volumes.create(name, labels={"kdlab.hub": hub})


def _kvm_gid() -> str:
    """/dev/kvm's group when KVM works here (then every lab gets it), else ''."""
    return str(os.stat("/dev/kvm").st_gid) if qemu.kvm_usable() else ""


def environment(settings: Settings, token: str) -> dict[str, str]:
    """The KDLAB_HUB_* variables images/hub/jupyterhub_config.py reads."""
    _, exchange = volume_names(settings.name)
    return {
        "KDLAB_HUB_NAME": settings.name,
        "KDLAB_HUB_HOSTNAME": settings.name,
        "KDLAB_HUB_NETWORK": settings.name,
        "KDLAB_HUB_EXCHANGE_VOLUME": exchange,
        "KDLAB_HUB_COURSE": str(settings.course),
        "KDLAB_HUB_LAB_IMAGE": settings.lab_image,
        "KDLAB_HUB_ADMIN": settings.admin,
        "KDLAB_HUB_STUDENTS": ",".join(s.username for s in settings.students),
        "KDLAB_HUB_MEM": settings.mem,
        "KDLAB_HUB_CPUS": str(settings.cpus),
        "KDLAB_HUB_CULL_TIMEOUT": str(settings.cull_after_s),
        "KDLAB_HUB_DB_URL": settings.db_url,
        "KDLAB_HUB_KVM_GID": _kvm_gid(),
        "KDLAB_HUB_SERVICE_TOKEN": token,
    }


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/hub/api/", timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def import_roster(course: Path, students: tuple[Student, ...]) -> None:
    """The class into the course's gradebook (names and emails for formgrader and exports).

    The gradebook stays the course folder owner's: the instructor's server writes it.
    """
    if not students:
        return
    from nbgrader.api import Gradebook

    database = course / "gradebook.db"
    with Gradebook(f"sqlite:///{database}") as gradebook:
        for student in students:
            gradebook.update_or_create_student(
                student.username, first_name=student.first_name or None,
                last_name=student.last_name or None, email=student.email or None)
    owner = course.stat()
    os.chown(database, owner.st_uid, owner.st_gid)


def start(client: Any, settings: Settings, reporter: Reporter | None = None,
          wait_s: float = 180) -> Hub:
    """Start (or restart) the hub; see the module docstring."""
    import docker

    from grader.batch import sandbox

    reporter = reporter or Silent()
    _require_image(client, settings.lab_image, "lab")
    _ensure_hub_image(client, settings, reporter)
    course = settings.course.resolve()
    prepare_course(course)
    if problem := sandbox.check_visible(client, course, settings.lab_image):
        raise HubError(f"{problem}: the instructor's server mounts the course folder by path; "
                       "choose one the Docker daemon sees (with scripts/in-toolchain: inside "
                       "the checkout)")
    import_roster(course, settings.students)
    settings = Settings(**{**settings.__dict__, "course": course})
    network = _network(client, settings.name)
    for volume in volume_names(settings.name):
        _volume(client, volume, settings.name)
    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(settings.name).remove(force=True)
    token = secrets.token_hex(32)
    try:
        container = client.containers.create(
            settings.hub_image, name=settings.name, hostname=settings.name,
            environment=environment(settings, token),
            ports={f"{HUB_PORT}/tcp": (settings.ip, settings.port)},
            volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                     volume_names(settings.name)[0]: {"bind": STATE, "mode": "rw"}},
            labels={"kdlab.hub": settings.name}, init=True,
            restart_policy={"Name": "unless-stopped"})
        network.connect(container, aliases=[settings.name])
        container.start()
    except docker.errors.APIError as err:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(settings.name).remove(force=True)
        if "port is already allocated" in str(err) or "address already in use" in str(err):
            raise HubError(f"port {settings.port} is already in use on this machine: start the "
                           f"hub on another one, e.g. `kdlab hub --port {settings.port + 1}`"
                           ) from None
        raise HubError(f"Docker could not start the hub: {err.explanation or err}") from None
    host = "127.0.0.1" if settings.ip in ("0.0.0.0", "") else settings.ip
    url = f"http://{host}:{settings.port}"
    reporter.begin(f"{settings.name}: waiting for JupyterHub")
    deadline = time.monotonic() + wait_s
    while not _answers(url):
        container.reload()
        if container.status not in ("created", "running"):
            logs = container.logs(tail=LOG_TAIL).decode(errors="replace").strip()
            raise HubError(f"the hub stopped while starting (`docker logs {settings.name}`); "
                           f"its last words:\n{logs}")
        if time.monotonic() > deadline:
            raise HubError(f"JupyterHub did not answer on port {settings.port} within "
                           f"{wait_s:.0f} s; its log: `docker logs {settings.name}`")
        time.sleep(1)
    reporter.end("answering")
    return Hub(container.id, url, token, settings.name)


def running(client: Any, name: str) -> Any | None:
    """The hub container of that name, or None."""
    import docker

    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None


def stop(client: Any, name: str) -> bool:
    """Stop the hub and the users' servers; keep the volumes. False if nothing ran."""
    import docker

    hub = running(client, name)
    if hub is not None:
        # JupyterHub stops every server on the way out (cleanup_servers); DockerSpawner
        # removes their containers; what is left after a kill is removed below.
        with contextlib.suppress(docker.errors.APIError):
            hub.stop(timeout=STOP_TIMEOUT_S)
        with contextlib.suppress(docker.errors.NotFound):
            hub.remove(force=True)
    users = [c for c in client.containers.list(all=True)
             if c.name.startswith(user_prefix(name))]
    for container in users:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    with contextlib.suppress(docker.errors.NotFound):
        client.networks.get(name).remove()
    return hub is not None or bool(users)


def remove_data(client: Any, name: str) -> list[str]:
    """Remove every volume of a stopped hub (tests and benchmarks clean up with it)."""
    import docker

    removed = []
    for volume in client.volumes.list():
        if volume.name in volume_names(name) or volume.name.startswith(user_prefix(name)):
            with contextlib.suppress(docker.errors.NotFound):
                volume.remove(force=True)
                removed.append(volume.name)
    return removed
