"""Grading on a Dask cluster of real hosts: a scheduler and grading hosts, each a container.

Every host is its own container of the grader image on a private Docker network
made for the test, with its own address: the scheduler (`dask scheduler`) and the
grading hosts (`kdlab worker`), which run their sandboxes on this machine's Docker
engine through its socket (a real host would use its own engine). The hosts see
nothing of the checkout: a submission reaches its sandbox as source text inside
its Dask task and is copied into the container. The test itself runs in the
toolchain container on the host network (scripts/in-toolchain), which reaches the
private network's addresses directly: it is the instructor's client.

One batch with hostile submissions is graded through the scheduler while both
grading hosts are lost in the two ways a host goes: the first one's network is cut
(`docker network disconnect`: it keeps running, unreachable, until the scheduler
stops hearing from it), the second is killed (`docker kill`). The scheduler allows
one worker loss per submission here (Dask's allowed-failures: 1 instead of the
default 3, to see it with two losses): submissions on the first host go to the
second; those still there when it is killed too come back as grader errors naming
the reason, and a third host finishes the rest. A second `kdlab grade` grades only those.
Then the gradebook must equal a local run of the same batch: every student once,
the same scores, and no sandbox, container or network left behind.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.batch import run as batch
from grader.batch import sandbox
from grader.cluster import client as cluster_client
from tests import variants
from tests.batchcourse import Course
from tests.conftest import LABS
from tests.e2e.test_batch import HOSTILE, _leaky

pytestmark = pytest.mark.e2e

HELLO = LABS / "00-hello"
#: Label on everything the test starts (the fixture removes what carries it).
LABEL = "kdlab.test-cluster"
SCHEDULER_PORT = 8786
#: Seconds for a host to come up, and for the batch.
START_TIMEOUT_S = 120.0
BATCH_TIMEOUT_S = 1500.0


class Hosts:
    """The test's private network and the hosts on it; remove() takes all of it away."""

    def __init__(self, image: str) -> None:
        self.docker = sandbox.client()
        self.image = image
        self.run = uuid.uuid4().hex[:8]
        self.network = self.docker.networks.create(f"kdlab-test-cluster-{self.run}",
                                                   labels={LABEL: self.run})
        self.containers: dict[str, Any] = {}

    def _start(self, name: str, command: list[str], **extra: Any) -> Any:
        container = self.docker.containers.run(
            self.image, command, detach=True, name=f"kdlab-test-{name}-{self.run}",
            hostname=name, network=self.network.name, labels={LABEL: self.run}, **extra)
        self.containers[name] = container
        return container

    def address(self, name: str) -> str:
        container = self.containers[name]
        container.reload()
        return container.attrs["NetworkSettings"]["Networks"][self.network.name]["IPAddress"]

    def _wait_for_log(self, name: str, text: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        container = self.containers[name]
        while text not in container.logs().decode(errors="replace"):
            container.reload()
            assert container.status == "running", container.logs().decode()[-3000:]
            assert time.monotonic() < deadline, container.logs().decode()[-3000:]
            time.sleep(0.5)

    def scheduler(self) -> str:
        """Start the scheduler; its address."""
        self._start("scheduler", ["dask", "scheduler", "--port", str(SCHEDULER_PORT)],
                    environment={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
                                 "DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": "30s"})
        self._wait_for_log("scheduler", "Scheduler at:")
        return f"tcp://{self.address('scheduler')}:{SCHEDULER_PORT}"

    def worker(self, name: str, scheduler: str) -> None:
        """Start a grading host with one sandbox slot and the Docker socket, as an admin would."""
        socket_group = str(os.stat("/var/run/docker.sock").st_gid)
        self._start(name, ["kdlab", "worker", scheduler, "--name", name, "--slots", "1",
                           "--image", self.image],
                    volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock",
                                                      "mode": "rw"}},
                    group_add=[socket_group])
        self._wait_for_log(name, f"kdlab worker {name}:")

    def kill(self, name: str) -> None:
        self.containers[name].kill()

    def cut(self, name: str) -> None:
        """Take the host off the network: it runs on, and nothing it sends arrives."""
        self.network.disconnect(self.containers[name], force=True)

    def remove(self) -> None:
        for container in self.docker.containers.list(all=True,
                                                     filters={"label": f"{LABEL}={self.run}"}):
            container.remove(force=True)
        self.network.remove()


@pytest.fixture
def hosts(grader_image: str) -> Iterator[Hosts]:
    made = Hosts(grader_image)
    try:
        yield made
    finally:
        made.remove()


def _hand_in(course: Course) -> list[str]:
    """The batch: correct, broken and hostile drivers, a missing driver, a shared one."""
    solution = (HELLO / "hello.rs").read_text()
    drivers = {
        "a-solution": solution,
        "b-skeleton": course.lab.skeleton(),
        "c-off-by-one": variants.text("00-hello", "bug_off_by_one.patch"),
        "d-compile-error": variants.text("00-hello", "compile_error.patch"),
        "e-panic-in-init": variants.text("00-hello", "panic_in_init.patch"),
        "f-printk-flood": (HOSTILE / "printk_flood.rs").read_text(),
        "g-fork-bomb": (HOSTILE / "fork_bomb.rs").read_text(),
        "h-include-hidden-test": _leaky(str(HELLO / "hidden" / "tests.sh"), "include_bytes"),
        "i-no-goodbye": variants.text("00-hello", "bug_no_goodbye.patch"),
        "j-alt-solution": variants.text("00-hello", "alt_solution.rs"),
        "k-no-driver-cell": None,
        "l-same-as-a": solution,
    }
    for student, driver in drivers.items():
        course.submit(student, driver)
    return list(drivers)


def _outcomes(summary: batch.Summary) -> dict[str, tuple]:
    """What must not depend on where a submission was graded: status, score, test points."""
    return {s: (r.status, r.result["score"],
                tuple((t["name"], t["points"]) for t in r.result["tests"]))
            for s, r in summary.records.items()}


def _processing(cluster: cluster_client.Cluster, host: str) -> set[str]:
    """Students whose grading task the scheduler has on `host` now."""
    names = {addr: w.get("name") for addr, w in
             cluster.client.scheduler_info(n_workers=-1)["workers"].items()}
    return {str(key).split("-", 4)[4]  # kdlab-grade-<run>-<token>-<student>
            for addr, keys in cluster.client.processing().items() if names.get(addr) == host
            for key in keys if str(key).startswith("kdlab-grade-")}


def _graded_on(journal: Path, host: str) -> int:
    return sum(json.loads(p.read_text()).get("host") == host for p in journal.glob("*.json"))


def test_cluster_batch_survives_lost_hosts_and_equals_a_local_run(hosts: Hosts) -> None:
    local = Course(HELLO, "hello")
    remote = Course(HELLO, "hello")
    try:
        students = _hand_in(local)
        assert _hand_in(remote) == students
        expected = batch.grade(batch.Options(course=local.root, assignment="hello", labs=LABS,
                                             image=hosts.image, jobs=2))
        assert expected.complete, expected.describe()
        assert _outcomes(expected)["a-solution"][1] == 6

        scheduler = hosts.scheduler()
        hosts.worker("host-a", scheduler)
        hosts.worker("host-b", scheduler)
        cluster = cluster_client.connect(scheduler, hosts.image)
        options = batch.Options(course=remote.root, assignment="hello", labs=LABS,
                                image=hosts.image)
        result: dict[str, Any] = {}
        grading = threading.Thread(target=lambda: result.update(
            summary=batch.grade(options, runners=cluster.runner)), daemon=True)
        try:
            grading.start()
            journal = remote.root / "kdlab" / "hello" / "journal"
            deadline = time.monotonic() + BATCH_TIMEOUT_S
            # Cut host-a off while it grades its first submissions. (Waiting for it to
            # finish one first raced the batch: host-b could empty the queue meanwhile.)
            while not _processing(cluster, "host-a"):
                assert grading.is_alive() and time.monotonic() < deadline, result
                time.sleep(0.5)
            hosts.cut("host-a")
            # What the scheduler still has on host-a once it is cut is lost with it
            # (read after the cut: a result delivered just before is not).
            time.sleep(1)
            on_a = _processing(cluster, "host-a")
            assert on_a, "host-a had nothing left when it was cut"
            # Then host-b, once its share and host-a's are there and it has graded another.
            done_b = _graded_on(journal, "host-b")
            while not (_graded_on(journal, "host-b") > done_b
                       and _processing(cluster, "host-b") & on_a):
                assert grading.is_alive() and time.monotonic() < deadline, (result, on_a)
                time.sleep(0.5)
            on_b = _processing(cluster, "host-b")
            hosts.kill("host-b")
            hosts.worker("host-c", scheduler)
            grading.join(BATCH_TIMEOUT_S)
            assert not grading.is_alive()
            first = result["summary"]
            # Lost twice: grader errors with the reason, nothing recorded for them (and
            # for a student with the same driver as one of them, the same).
            killed = {s for s, m in first.errors.items() if "KilledWorker" in m}
            assert killed, first.describe()
            assert killed <= on_a & on_b, (first.errors, on_a, on_b)
            for student, message in first.errors.items():
                assert student in killed or message.startswith("same driver as "), message
                assert student in killed or message.split()[3].rstrip(",") in killed, message
            assert "each one died" in first.errors[min(killed)]
            assert set(first.hosts) <= {"host-a", "host-b", "host-c"}, first.describe()
            assert sum(first.hosts.values()) == first.graded - 1  # k-no-driver-cell: no host
            assert not set(first.errors) & set(first.records)
            # The next run grades exactly those, on the host that is left.
            second = batch.grade(options, runners=cluster.runner)
            assert second.complete, second.describe()
            assert (second.graded, second.reused) == (len(killed), len(first.errors) - len(killed))
            assert set(second.hosts) == {"host-c"}
        finally:
            cluster.close()

        differ = {s: (second.records[s].message, second.records[s].result["tests"],
                      expected.records[s].message) for s, o in _outcomes(second).items()
                  if o != _outcomes(expected).get(s)}
        assert not differ, json.dumps(differ, indent=1)[:6000]
        assert set(second.records) == set(expected.records)
        assert remote.gradebook_scores() == local.gradebook_scores()
        history = [json.loads(line)["student"] for line in
                   (remote.root / "kdlab" / "hello" / "history.jsonl").read_text().splitlines()]
        assert sorted(history) == sorted(students)  # every submission recorded exactly once
        assert second.records["l-same-as-a"].reused_from == "a-solution"
        label = f"kdlab.batch={batch._batch_label(options)}"
        assert not sandbox.client().containers.list(
            all=True, filters={"label": [sandbox.LABEL, label]})
    finally:
        for course in (local, remote):
            sandbox.reap(sandbox.client(), {"kdlab.batch": batch._batch_label(
                batch.Options(course=course.root, assignment="hello", labs=LABS))})
        local.remove()
        remote.remove()
