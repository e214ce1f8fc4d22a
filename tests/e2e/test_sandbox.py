"""One submission in one container: isolation settings, phase order, timeout and memory limit.

Real containers of the grader image (rebuilt from this checkout by the
grader_image fixture), real module builds and boots.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
from pathlib import Path

import pytest

from grader.batch import run as batch
from grader.batch import sandbox
from grader.engine import kernel_export
from grader.images import build as images
from grader.lab.model import Lab
from grader.paths import cache_root
from tests import variants
from tests.batchcourse import Course, sandbox_leftovers
from tests.conftest import LABS

HELLO = LABS / "00-hello"


@pytest.fixture(scope="module")
def course():
    made = Course(HELLO, "hello")
    yield made
    made.remove()


@functools.cache
def _kernel(image: str) -> Path | None:
    """The kernel pair export `kdlab grade` mounts into the sandboxes (warmed once here)."""
    return batch.kernel_for_sandboxes(sandbox.client(), Lab.load(HELLO), image)


def _run(course: Course, student: str, driver: str, image: str, lab: Lab | None = None,
         **kwargs):
    """Grade one driver in a sandbox as `kdlab grade` does (host kernel export mounted)."""
    folder = course.submit(student, driver)
    lab = lab or Lab.load(HELLO)
    return sandbox.run(sandbox.client(), sandbox.Submission(student, folder, "hello.ipynb"),
                       lab, sandbox.lab_archive(lab, cache_root()), image=image,
                       kernel=_kernel(image), **kwargs)


def test_sandboxes_mount_the_pair_their_image_carries_and_no_other(grader_image) -> None:
    client = sandbox.client()
    carried = client.images.get(grader_image).labels[kernel_export.IMAGE_LABEL]
    mounted = _kernel(grader_image)
    assert mounted is not None and mounted.name == carried
    # The toolchain image carries no pair: nothing of the host's is mounted into it.
    assert batch.kernel_for_sandboxes(client, Lab.load(HELLO), images.TOOLCHAIN_IMAGE) is None


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
    assert outcome.status == "graded" and outcome.result.score == 6
    # What the submission cost, measured by the container's own cgroup (QEMU's RAM alone
    # is more than 64 MiB), within the limit.
    assert 64 < outcome.memory_peak_mb <= sandbox.Limits().memory_mb
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
    kernel = seen["Config"]["Env"]
    kernel_dir = next((e.split("=", 1)[1] for e in kernel if e.startswith("KDLAB_KERNEL=")), "")
    # The submission, the scratch volume, and (when the host has one) the kernel pair
    # export: nothing else of the host, and only scratch is writable.
    assert set(mounts) - {kernel_dir} == {sandbox.SUBMISSION, sandbox.SCRATCH}
    assert [d for d, m in mounts.items() if m["RW"]] == [sandbox.SCRATCH]
    assert mounts[sandbox.SUBMISSION]["Source"] == str(course.root / "submitted" / "iso" / "hello")
    # Between the phases only the container's own sleep is left: the build's processes
    # were killed before the tests were copied in.
    commands = [p[-1] for p in seen["top"]["Processes"]]
    assert len(commands) == 1 and commands[0].startswith("sleep"), commands


def test_the_build_cannot_see_the_tests_that_come_later(course, grader_image) -> None:
    """The lab is copied to /scratch/lab after the build: including it fails to compile.

    The source policy refuses include_str! before rustc runs; the lab here allows it,
    so that this proves the second line of defence, the sandbox's phase order."""
    solution = (HELLO / "hello.rs").read_text()
    leak = solution.replace("use kernel::prelude::*;\n", 'use kernel::prelude::*;\n'
                            'const T: &str = include_str!("/scratch/lab/hidden/tests.sh");\n')
    lab = dataclasses.replace(Lab.load(HELLO), allow=("include-files",))
    outcome = _run(course, "later", leak, grader_image, lab=lab)
    assert outcome.status == "graded"
    assert outcome.result.score == 0
    assert not outcome.result.build.ok
    assert "couldn't read `/scratch/lab/hidden/tests.sh`" in json.dumps(
        outcome.result.build.to_json())


def test_wall_clock_timeout_kills_the_container(course, grader_image) -> None:
    lab = Lab.load(HELLO)
    # A driver whose init never returns: the guest gives module loading 10 s before it
    # reports a hang itself, so on any machine the 4 s watchdog must step in first.
    tight = sandbox.Limits(margin_s=4 - lab.timeouts.build - lab.timeouts.boot)
    outcome = _run(course, "slow", variants.text("00-hello", "hang_in_init.patch"),
                   grader_image, limits=tight)
    assert outcome.status == "timeout", outcome.phases
    assert outcome.result.score == 0
    assert "took longer than 4 s" in outcome.result.tests[0].message
    assert sandbox_leftovers() == []


def test_compile_time_memory_bomb_is_an_oom_zero(course, grader_image) -> None:
    """A 4 GiB array evaluated by rustc: the OOM killer ends the build, the grade says why."""
    bomb = (HELLO / "hello.rs").read_text().replace(
        "use kernel::prelude::*;\n",
        "use kernel::prelude::*;\npub static BIG: [u8; 1 << 32] = [1; 1 << 32];\n", 1)
    outcome = _run(course, "bomb", bomb, grader_image)
    assert outcome.status == "oom", outcome.message
    assert outcome.result.score == 0
    assert "ran out of memory" in outcome.result.tests[0].message
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
    first, second = outcomes["p1"].result, outcomes["p2"].result
    assert first is not None and first.score == 6
    assert second is not None and second.score == 1
