"""One submission in one container: isolation settings, phase order, timeout and memory limit.

Real containers of the grader image (rebuilt from this checkout by the
grader_image fixture), real module builds and boots.
"""

from __future__ import annotations

import json
import threading

import pytest

from grader import images, sandbox
from grader.kernel import cache_root
from grader.lab import Lab
from tests.batchcourse import Course
from tests.conftest import LABS

pytestmark = pytest.mark.e2e

HELLO = LABS / "00-hello"


@pytest.fixture(scope="module")
def grader_image() -> str:
    """The grader image, current with this checkout (a no-op when nothing changed)."""
    images.build(["grader"])
    return images.IMAGES["grader"].tag


@pytest.fixture(scope="module")
def course():
    made = Course(HELLO, "hello")
    yield made
    made.remove()


def _run(course: Course, student: str, driver: str, image: str, **kwargs):
    folder = course.submit(student, driver)
    lab = Lab.load(HELLO)
    return sandbox.run(sandbox.client(), sandbox.Submission(student, folder, "hello.ipynb"), lab,
                       sandbox.lab_archive(lab, cache_root()), image=image, **kwargs)


def test_container_is_isolated(course, grader_image) -> None:
    seen: dict = {}
    client = sandbox.client()

    def inspect(phase: str) -> None:
        if phase == "booting":
            (container,) = client.containers.list(filters={"label": "kdlab.test=isolation"})
            seen.update(container.attrs)
            seen["top"] = container.top()

    outcome = _run(course, "iso", (HELLO / "hello.rs").read_text(), grader_image,
                   labels={"kdlab.test": "isolation"}, on_phase=inspect)
    assert outcome.status == "graded" and outcome.result["score"] == 6
    host = seen["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["PidsLimit"] == sandbox.Limits().pids
    assert host["Memory"] == host["MemorySwap"] == sandbox.Limits().memory_mb << 20
    assert host["NanoCpus"] == int(sandbox.Limits().cpus * 1e9)
    assert seen["Config"]["User"] == sandbox.USER
    mounts = {m["Destination"]: m for m in seen["Mounts"]}
    assert set(mounts) == {sandbox.SUBMISSION, sandbox.SCRATCH}
    assert mounts[sandbox.SUBMISSION]["RW"] is False
    assert mounts[sandbox.SUBMISSION]["Source"] == str(course.root / "submitted" / "iso" / "hello")
    # Between the phases only the container's own sleep is left: the build's processes
    # were killed before the tests were copied in.
    commands = [p[-1] for p in seen["top"]["Processes"]]
    assert len(commands) == 1 and commands[0].startswith("sleep"), commands


def test_the_build_cannot_see_the_tests_that_come_later(course, grader_image) -> None:
    """The lab is copied to /scratch/lab after the build: including it fails to compile."""
    solution = (HELLO / "hello.rs").read_text()
    leak = solution.replace("use kernel::prelude::*;\n", 'use kernel::prelude::*;\n'
                            'const T: &str = include_str!("/scratch/lab/guest/run.sh");\n')
    outcome = _run(course, "later", leak, grader_image)
    assert outcome.status == "graded"
    assert outcome.result["score"] == 0
    assert not outcome.result["build"]["ok"]
    assert "couldn't read `/scratch/lab/guest/run.sh`" in json.dumps(outcome.result["build"])


def test_wall_clock_timeout_kills_the_container(course, grader_image) -> None:
    lab = Lab.load(HELLO)
    tight = sandbox.Limits(margin_s=4 - lab.timeouts.build - lab.timeouts.boot)
    outcome = _run(course, "slow", (HELLO / "hello.rs").read_text(), grader_image, limits=tight)
    assert outcome.status == "timeout"
    assert outcome.result["score"] == 0
    assert "took longer than 4 s" in outcome.result["tests"][0]["message"]
    assert sandbox.client().containers.list(all=True, filters={"label": sandbox.LABEL}) == []


def test_compile_time_memory_bomb_is_an_oom_zero(course, grader_image) -> None:
    """A 4 GiB array evaluated by rustc: the OOM killer ends the build, the grade says why."""
    bomb = (HELLO / "hello.rs").read_text().replace(
        "use kernel::prelude::*;\n",
        "use kernel::prelude::*;\n#[used]\nstatic BIG: [u8; 1 << 32] = [1; 1 << 32];\n", 1)
    outcome = _run(course, "bomb", bomb, grader_image)
    assert outcome.status == "oom", outcome.message
    assert outcome.result["score"] == 0
    assert "ran out of memory" in outcome.result["tests"][0]["message"]
    assert f"{sandbox.Limits().memory_mb} MB" in outcome.message


def test_parallel_sandboxes_do_not_share_scratch(course, grader_image) -> None:
    """Two submissions at once, each sees only its own files (scratch volumes are per run)."""
    solution = (HELLO / "hello.rs").read_text()
    outcomes = {}

    def grade(student: str, driver: str) -> None:
        outcomes[student] = _run(course, student, driver, grader_image)

    threads = [threading.Thread(target=grade, args=("p1", solution)),
               threading.Thread(target=grade, args=("p2", course.lab.skeleton()))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes["p1"].result["score"] == 6
    assert outcomes["p2"].result["score"] == 1
