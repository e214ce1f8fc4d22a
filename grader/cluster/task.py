"""What runs on a grading host: one submission in one sandbox, and the host's image check.

Contract: `grade(job, image, request)` is the Dask task of one submission. It needs
nothing of the instructor's file system: the request carries the driver source,
the job the lab's grading files (an archive made on the instructor's side), and
the sandbox gets both by copying them into its container (grader.batch.sandbox).
It runs only with the instructor's grader image: `ImageIdentity.problem` compares
this host's image with the identity the instructor's client sent, and the
`ImageCheck` worker plugin makes a host with another image refuse to work at all
(it leaves the cluster, saying how to load the right image). What this host
needs once (its Docker client, KVM, a warmed kernel pair mount) is found on the
first task and kept for the next ones.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from dataclasses import dataclass
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from grader.batch import sandbox
from grader.batch.run import Graded, Job, kernel_for_sandboxes, timed_run
from grader.engine.kernel_export import IMAGE_LABEL
from grader.errors import KdlabError
from grader.images.build import CONTEXT_LABEL
from grader.lab.model import Lab

logger = logging.getLogger("kdlab.worker")

#: How a host gets the instructor's image without a registry (the end of every refusal).
IMAGE_HINT = ("copy the instructor's: `kdlab image save grader -o grader.tar.gz` there, "
              "`kdlab image load grader.tar.gz` here")


class ImageMismatch(KdlabError):
    """This grading host's grader image is not the instructor's (or it has none)."""


@dataclass(frozen=True)
class ImageIdentity:
    """Which grader image the instructor grades with: what every host must have too.

    The image ID survives `docker save`/`docker load` and a registry; an image built
    again elsewhere from the same files has another ID but the same kernel pair
    (label kdlab.kernel) and build-context digest (label kdlab.context).
    """

    tag: str
    image_id: str
    kernel: str = ""
    context: str = ""

    @classmethod
    def of(cls, docker_client: Any, tag: str) -> ImageIdentity:
        """The identity of image `tag` on `docker_client`'s engine (docker errors pass)."""
        image = docker_client.images.get(tag)
        labels = image.labels or {}
        return cls(tag, image.id, labels.get(IMAGE_LABEL, ""), labels.get(CONTEXT_LABEL, ""))

    def problem(self, docker_client: Any) -> str:
        """'' when `docker_client`'s engine has this image, else what is wrong and what to do."""
        import docker

        try:
            here = ImageIdentity.of(docker_client, self.tag)
        except docker.errors.ImageNotFound:
            return f"this host has no {self.tag}: {IMAGE_HINT}"
        if here.image_id == self.image_id:
            return ""
        if self.kernel and self.context and (here.kernel, here.context) == (self.kernel,
                                                                            self.context):
            return ""
        return (f"this host's {self.tag} ({_short(here.image_id)}, kernel pair "
                f"{here.kernel or '?'}) is not the instructor's ({_short(self.image_id)}, "
                f"kernel pair {self.kernel or '?'}): {IMAGE_HINT}")


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


@dataclass(frozen=True)
class Request:
    """One submission as sent to a grading host: the driver source itself, never a path."""

    student: str
    notebook: str
    source: str


#: Why this process refused to grade (ImageCheck); `kdlab worker` exits with it.
refusals: list[str] = []


class ImageCheck(WorkerPlugin):
    """Registered by the instructor's client on every worker, present and joining.

    A worker whose grader image differs refuses: it logs why, leaves the cluster
    (so no submission is sent there) and the client's registration fails with the
    same message.
    """

    name = "kdlab-image-check"

    def __init__(self, image: ImageIdentity) -> None:
        self.image = image

    def setup(self, worker: Any) -> None:
        problem = self.image.problem(_docker())
        if not problem:
            return
        message = f"grading host {worker.name} refuses to grade: {problem}"
        logger.error("kdlab: %s", message)
        refusals.append(message)
        asyncio.get_running_loop().create_task(worker.close(reason=f"kdlab: {problem}"))
        raise ImageMismatch(message)


# ----------------------------------------------------------------------------- this host

_lock = threading.Lock()
_state: dict[Any, Any] = {}


def _docker() -> Any:
    """This host's Docker client, made once per process."""
    with _lock:
        if "docker" not in _state:
            _state["docker"] = sandbox.client()
        return _state["docker"]


def _host_kernel(docker_client: Any, lab: Lab, image: str) -> Any:
    """This host's kernel pair export for the sandboxes, only when it already has one.

    Making an export copies the kernel tree: worth it on the instructor's machine, not
    on a host that has only the images (the image's own copy serves there).
    """
    from grader.engine import kernel, kernel_export

    try:
        pair = kernel.find()
        if not (kernel_export.export_dir(pair) / kernel_export.EXPORT_FILE).is_file():
            return None
    except Exception:  # no kernel pair on this host at all
        return None
    return kernel_for_sandboxes(docker_client, lab, image)


def _host_setup(job: Job, image: ImageIdentity) -> dict[str, Any]:
    """KVM and the kernel mount for `job` on this host; raises ImageMismatch first."""
    from grader.engine.qemu import kvm_usable

    docker_client = _docker()
    with _lock:
        if ("image", image) not in _state:
            _state["image", image] = image.problem(docker_client)
        if _state["image", image]:
            raise ImageMismatch(_state["image", image])
        if "kvm" not in _state:
            _state["kvm"] = kvm_usable()
        key = ("kernel", job.lab.module, image)
        if key not in _state:
            _state[key] = _host_kernel(docker_client, job.lab, image.tag)
        return {"kvm": _state["kvm"], "kernel": _state[key]}


def _worker_name() -> str:
    from distributed import get_worker

    return str(get_worker().name)


def grade(job: Job, image: ImageIdentity, request: Request) -> Graded:
    """The Dask task of one submission: grade it in a sandbox on this host."""
    host = _host_setup(job, image)
    sub = sandbox.Submission(request.student, None, request.notebook, request.source)
    graded = timed_run(_docker(), sub, job, **host)
    return dataclasses.replace(graded, host=_worker_name())


def reap(labels: dict[str, str]) -> list[str]:
    """Remove this host's sandboxes of a batch (client.run on every worker); what is left."""
    return sandbox.reap(_docker(), labels)


def hold(job: Job) -> Job:
    """The batch's Job as a task result, sent once: the scheduler keeps the task, so a
    copy lost with a worker is made again elsewhere (scattered data would be gone)."""
    return job
