"""The instructor's side of `kdlab grade --cluster`: a batch Runner over a Dask client.

Contract: `connect(address, image)` reaches the Dask scheduler (or raises
ClusterError saying how to start one), registers the image check on every grading
host (grader.cluster.task.ImageCheck: hosts with another grader image leave) and
waits for at least one host that offers `sandbox` slots. `Cluster.runner` is then
the grader.batch.run.RunnerFactory of the batch: every submission becomes one
Dask task holding one `sandbox` resource on some host; the batch's Job is sent
once, as a task the scheduler can run again if the worker keeping it dies.

Nothing lost, nothing twice: Dask re-runs the task of a worker that died on
another one; a task whose workers die `allowed-failures` + 1 times (Dask's
setting, 3 by default) comes back as a grader error naming that reason (not a
grade, so the next run tries it again); the batch alone records what comes back,
once. If the scheduler goes away, or no grading host is connected for
NO_HOST_TIMEOUT_S, what is still out becomes a grader error instead of a hang.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from grader.batch import sandbox
from grader.batch.run import Graded, Job, Pending
from grader.cluster import task
from grader.errors import KdlabError

#: Seconds to reach the scheduler.
CONNECT_TIMEOUT_S = 30.0
#: Seconds a refused scheduler address is tried again (a scheduler that is starting).
REFUSED_GRACE_S = 3.0
#: Seconds to wait at the start for a first grading host.
HOST_WAIT_S = 120.0
#: Seconds without any grading host after which the batch stops waiting.
NO_HOST_TIMEOUT_S = 600.0
#: How often the runner looks at the cluster while a batch runs.
WATCH_INTERVAL_S = 2.0
#: The Dask resource a grading host offers, one per sandbox it runs at once.
RESOURCE = "sandbox"


class ClusterError(KdlabError):
    """The cluster cannot grade (no scheduler at that address, no grading host, no image)."""


@dataclass
class Cluster:
    """A connection to a Dask scheduler whose workers are kdlab grading hosts."""

    client: Any
    address: str
    image: task.ImageIdentity
    #: Hosts that refused to grade (another grader image), with their reason.
    refused: list[str] = field(default_factory=list)

    def hosts(self) -> dict[str, int]:
        """Sandbox slots per grading host connected now, by worker name."""
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        return {str(w.get("name") or addr): int((w.get("resources") or {}).get(RESOURCE, 0))
                for addr, w in workers.items() if (w.get("resources") or {}).get(RESOURCE)}

    def describe(self) -> str:
        """Where the batch runs, for the person running it (the dashboard URL included)."""
        hosts = self.hosts()
        lines = [f"Dask scheduler {self.address}, dashboard {self.client.dashboard_link}",
                 f"{len(hosts)} grading hosts, {sum(hosts.values())} sandboxes at once: "
                 + ", ".join(f"{name} ({slots})" for name, slots in sorted(hosts.items()))]
        lines += [f"  refused: {reason}" for reason in self.refused]
        return "\n".join(lines)

    def runner(self, job: Job) -> ClusterRunner:
        """The batch's Runner (grader.batch.run.RunnerFactory)."""
        return ClusterRunner(self, job)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the scheduler may be gone already
            self.client.close(timeout=10)


def connect(address: str, image: str = sandbox.GRADER_IMAGE,
            host_wait_s: float = HOST_WAIT_S) -> Cluster:
    """Connect to the scheduler at `address`, check the hosts' images, wait for a host."""
    import docker
    from distributed import Client

    try:
        identity = task.ImageIdentity.of(sandbox.client(), image)
    except docker.errors.ImageNotFound as err:
        raise ClusterError(f"the grader image {image} is not here: the grading hosts must "
                           "have the instructor's (`kdlab image build grader`)") from err
    try:
        _wait_until_listening(address)
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise ClusterError(f"no Dask scheduler answers at {address} ({err}): start one "
                           "there with `dask scheduler`, then `kdlab worker "
                           f"{address}` on every grading host") from err
    cluster = Cluster(client, address, identity)
    try:
        client.register_plugin(task.ImageCheck(identity))
    except Exception as err:  # a host refused: it leaves; the others grade
        cluster.refused.append(str(err))
    deadline = time.monotonic() + host_wait_s
    while not cluster.hosts():
        if time.monotonic() > deadline:
            cluster.close()
            raise ClusterError(f"no grading host is connected to {address} after "
                               f"{host_wait_s:.0f} s: start `kdlab worker {address}` on "
                               "each host" + "".join(f"; {r}" for r in cluster.refused))
        time.sleep(1.0)
    return cluster


def _wait_until_listening(address: str) -> None:
    """Raise ConnectionRefusedError if nothing listens at a TCP address for REFUSED_GRACE_S.

    Dask's client would retry a refused connection for all of CONNECT_TIMEOUT_S, as if
    the scheduler were always about to start, before the person is told to start one;
    a scheduler started a moment ago still gets a few seconds to open its port.
    """
    import socket

    from distributed.comm import parse_address, parse_host_port

    scheme, location = parse_address(address)
    if scheme != "tcp":
        return
    host, port = parse_host_port(location, default_port=8786)
    deadline = time.monotonic() + REFUSED_GRACE_S
    while True:
        try:
            with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
                return
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class ClusterRunner:
    """grader.batch.run.Runner: one Dask task per submission, holding one sandbox slot."""

    def __init__(self, cluster: Cluster, job: Job) -> None:
        self.cluster, self.job = cluster, job
        self.client = cluster.client
        self.slots = sum(cluster.hosts().values())
        self._run = uuid.uuid4().hex[:8]
        # Sandboxes a killed earlier run of this batch left on the hosts.
        self._reap()
        self._job = self.client.submit(task.hold, job, key=f"kdlab-job-{self._run}",
                                       pure=False)
        self._lock = threading.Lock()
        self._out: dict[Any, concurrent.futures.Future[Graded]] = {}
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="kdlab-cluster-watch",
                                         daemon=True)
        self._watcher.start()

    def submit(self, pending: Pending,
               on_phase: Any) -> concurrent.futures.Future[Graded]:
        request = task.Request(pending.student, pending.notebook, pending.source)
        future = self.client.submit(
            task.grade, self._job, self.cluster.image, request, pure=False,
            key=f"kdlab-grade-{self._run}-{uuid.uuid4().hex[:6]}-{pending.student}",
            resources={RESOURCE: 1})
        done: concurrent.futures.Future[Graded] = concurrent.futures.Future()
        done.set_running_or_notify_cancel()
        with self._lock:
            self._out[future] = done
        on_phase("sent to the cluster")
        future.add_done_callback(self._settle)
        return done

    def _settle(self, future: Any) -> None:
        """A task ended (graded, failed, or its workers kept dying): hand it to the batch."""
        from distributed import KilledWorker

        with self._lock:
            done = self._out.pop(future, None)
        if done is None:  # already failed by the watcher
            return
        try:
            error = future.exception()
        except BaseException as err:  # cancelled: the scheduler or the client went away
            done.set_exception(ClusterError(f"the grading task was cancelled ({err!r})"))
            return
        if error is None:
            done.set_result(future.result())
        elif isinstance(error, KilledWorker):
            done.set_result(Graded(sandbox.Outcome("error", None, killed_reason(error)), 0.0))
        else:
            done.set_exception(error)

    def _fail_all(self, reason: str) -> None:
        with self._lock:
            out, self._out = self._out, {}
        for future, done in out.items():
            future.cancel()
            done.set_exception(ClusterError(reason))

    def _watch(self) -> None:
        """Turn a lost scheduler, or a cluster without hosts for too long, into errors."""
        alone_since: float | None = None
        while not self._stop.wait(WATCH_INTERVAL_S):
            if self.client.status not in ("running", "connecting"):
                self._fail_all(f"lost the Dask scheduler at {self.cluster.address}")
                continue
            try:
                hosts = self.cluster.hosts()
            except Exception:  # the scheduler did not answer this time
                continue
            if hosts:
                alone_since = None
            elif alone_since is None:
                alone_since = time.monotonic()
            elif time.monotonic() - alone_since > NO_HOST_TIMEOUT_S:
                self._fail_all(f"no grading host was connected to {self.cluster.address} "
                               f"for {NO_HOST_TIMEOUT_S:.0f} s")

    def _reap(self) -> list[str]:
        """Remove the batch's sandboxes on every host; what could not be removed."""
        try:
            left = self.client.run(task.reap, self.job.labels, on_error="return")
        except Exception as err:  # no answer: the hosts' next run of the batch tries again
            return [f"the grading hosts' sandboxes ({err})"]
        return [f"{host}: {name}" for host, names in left.items()
                if isinstance(names, list) for name in names]

    def close(self, interrupted: bool) -> list[str]:
        self._stop.set()
        self._watcher.join()
        if interrupted:
            self._fail_all("the batch was interrupted")
        self._job.release()
        return self._reap()


def killed_reason(error: Any) -> str:
    """A grader error for a submission whose grading hosts kept dying (Dask's KilledWorker)."""
    return (f"grading this submission was attempted on {error.allowed_failures + 1} grading "
            "hosts and each one died while it ran (Dask's KilledWorker, last on "
            f"{error.last_worker.address}): not retried again; see those hosts' logs")
