"""`kdlab worker tcp://HOST:8786`: this host grades submissions for a Dask scheduler.

Contract: a Dask worker (distributed.Worker, not a kdlab engine) that offers
`sandbox` slots, one per submission container it can run at once (as many as
`kdlab grade -j` would use here: cores, and memory for the sandbox limit), with
one thread per slot. It refuses to start without Docker or without a grader
image, and leaves the cluster when the instructor's client finds its grader image
is not the instructor's (grader.cluster.task.ImageCheck); either way the message
says how to copy the right image here (`kdlab image save`/`load`). If no scheduler
answers within `death_timeout_s`, it stops with that message.
"""

from __future__ import annotations

import asyncio
import socket

from grader.batch import sandbox
from grader.batch.run import default_jobs
from grader.cluster import task
from grader.cluster.client import RESOURCE, ClusterError

#: Seconds a starting worker waits for the scheduler.
DEATH_TIMEOUT_S = 60.0


def slots_here(docker_client: object) -> int:
    """Sandboxes this host runs at once by default (the same rule as `kdlab grade -j`)."""
    return default_jobs(docker_client, sandbox.Limits())


def serve(address: str, slots: int = 0, name: str = "", image: str = sandbox.GRADER_IMAGE,
          death_timeout_s: float = DEATH_TIMEOUT_S) -> str:
    """Grade for the scheduler at `address` until stopped; returns why it stopped."""
    import docker
    from distributed import Worker

    docker_client = sandbox.client()
    try:
        docker_client.images.get(image)
    except docker.errors.ImageNotFound as err:
        raise task.ImageMismatch(f"this host has no {image}: {task.IMAGE_HINT}") from err
    slots = slots or slots_here(docker_client)
    name = name or socket.gethostname()

    async def run() -> None:
        worker = Worker(address, nthreads=slots, resources={RESOURCE: slots}, name=name,
                        death_timeout=death_timeout_s)
        try:
            await worker
        except Exception as err:  # Dask: TimeoutError/OSError when no scheduler answers
            raise ClusterError(f"no Dask scheduler answered at {address} within "
                               f"{death_timeout_s:.0f} s ({err}): start it with "
                               "`dask scheduler` on that host") from err
        print(f"kdlab worker {name}: {slots} sandboxes at once ({image}), grading for "
              f"{address}", flush=True)
        await worker.finished()

    asyncio.run(run())
    if task.refusals:
        raise task.ImageMismatch(task.refusals[-1])
    return f"kdlab worker {name}: the scheduler at {address} closed the connection"
