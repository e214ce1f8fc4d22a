"""Batch grading throughput, and what the sandbox costs per submission.

    scripts/in-toolchain python3 bench/batch_throughput.py [-n 100] [-j JOBS] [--overhead-runs 5]
        [--cluster here|tcp://HOST:8786]

1. Throughput: a real nbgrader course (tests/batchcourse.py) with N submissions
   of lab 00 — a mix of correct, partial, skeleton and non-compiling drivers,
   every one distinct (a comment differs) so that none is shared — graded by
   `kdlab grade` with JOBS containers in parallel (default: what the machine
   holds). Prints submissions per minute, the time for 100, and the peak
   memory of a submission's container.
2. Overhead: the same driver graded K times one after the other, by a bare
   `kdlab check` (grader.grading.check.run) and in a sandbox container (grader.batch.sandbox),
   medians side by side, with the sandbox's own phases.

With --cluster, step 1 grades through a Dask cluster (`kdlab grade --cluster`):
`here` starts a scheduler and one `kdlab worker` on this machine (so the figure,
next to a run without --cluster, is the cluster path's overhead), an address uses
that cluster's grading hosts. Per-host counts are printed as well.

Numbers depend on what else the machine runs: the load average is printed too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.batch import run as batch
from grader.batch import sandbox
from grader.cluster import client as cluster_client
from grader.engine import kernel
from grader.grading import check
from grader.images import build as images
from grader.paths import cache_root
from tests import variants
from tests.batchcourse import Course

HELLO = REPO / "labs" / "00-hello"


def _driver(n: int, course: Course) -> str:
    """Submission n of the mix: 7 in 10 correct, then skeleton, off-by-one, compile error."""
    kind = n % 10
    if kind == 7:
        text = course.lab.skeleton()
    elif kind == 8:
        text = variants.text("00-hello", "bug_off_by_one.patch")
    elif kind == 9:
        text = variants.text("00-hello", "compile_error.patch")
    else:
        text = (HELLO / "hello.rs").read_text()
    return f"// student {n:03d}\n{text}"


@contextlib.contextmanager
def one_host_cluster(jobs: int) -> Iterator[str]:
    """A Dask scheduler and one `kdlab worker` on this machine (processes of this bench)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                                  "--host", "127.0.0.1", "--port", str(port),
                                  "--dashboard-address", ":0"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:  # the scheduler's port open: its Python start-up takes seconds
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert scheduler.poll() is None and time.monotonic() < deadline, "no scheduler"
        time.sleep(0.2)
    worker = subprocess.Popen([sys.executable, "-m", "grader.cli.main", "worker", address,
                               "--slots", str(jobs)],
                              stderr=subprocess.DEVNULL)
    try:
        yield address
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=60)


def throughput(count: int, jobs: int, cluster: str = "") -> None:
    course = Course(HELLO, "hello")
    jobs = jobs or batch.default_jobs(sandbox.client(), sandbox.Limits())
    try:
        for n in range(count):
            course.submit(f"student{n:03d}", _driver(n, course))
        with contextlib.ExitStack() as stack:
            runners = None
            if cluster:
                address = (stack.enter_context(one_host_cluster(jobs)) if cluster == "here"
                           else cluster)
                hosts = cluster_client.connect(address)
                stack.callback(hosts.close)
                print(hosts.describe())
                jobs = sum(hosts.hosts().values())
                runners = hosts.runner
            load = os.getloadavg()[0]
            started = time.monotonic()
            summary = batch.grade(batch.Options(course=course.root, assignment="hello",
                                                labs=REPO / "labs", jobs=jobs), runners=runners)
            seconds = time.monotonic() - started
        assert summary.complete, summary.describe()
        assert summary.graded == count, summary.describe()
        per_min = count / seconds * 60
        where = " on a Dask cluster" if cluster else ""
        print(f"throughput{where}: {count} submissions in {seconds:.0f} s with {jobs} "
              f"containers in parallel = {per_min:.1f}/min; 100 submissions would take "
              f"{100 / per_min:.1f} min (target <= 3 min). Load average at start {load:.1f}.")
        if summary.hosts:
            print("per host: " + ", ".join(f"{host} {n}" for host, n in
                                           sorted(summary.hosts.items())))
        peaks = [r.memory_peak_mb for r in summary.records.values()
                 if r.memory_peak_mb is not None]
        if peaks:
            print(f"peak memory per submission graded (container cgroup): median "
                  f"{statistics.median(peaks):.0f} MiB, max {max(peaks):.0f} MiB "
                  f"(limit {sandbox.Limits().memory_mb} MiB)")
    finally:
        course.remove()


def overhead(runs: int) -> None:
    pair = kernel.find()
    source = HELLO / "hello.rs"
    bare = []
    for _ in range(runs):
        started = time.monotonic()
        result = check.run(HELLO, source, pair)
        bare.append(time.monotonic() - started)
        assert result.score == 6
    course = Course(HELLO, "hello")
    try:
        folder = course.submit("bench", source.read_text())
        lab = course.lab
        client = sandbox.client()
        tar = sandbox.lab_archive(lab, cache_root())
        export = batch.kernel_for_sandboxes(client, lab, sandbox.GRADER_IMAGE)
        boxed, phases = [], []
        for _ in range(runs):
            started = time.monotonic()
            outcome = sandbox.run(client, sandbox.Submission("bench", folder, "hello.ipynb"),
                                  lab, tar, kernel=export)
            boxed.append(time.monotonic() - started)
            assert outcome.result and outcome.result.score == 6, outcome.message
            phases.append(outcome.phases)
    finally:
        course.remove()
    b, s = statistics.median(bare), statistics.median(boxed)
    print(f"bare kdlab check: median {b:.2f} s over {runs} runs "
          f"(min {min(bare):.2f}, max {max(bare):.2f})")
    print(f"sandboxed:        median {s:.2f} s over {runs} runs "
          f"(min {min(boxed):.2f}, max {max(boxed):.2f})")
    print(f"container overhead per submission: {s - b:+.2f} s ({(s - b) / b * 100:+.0f} %)")
    for key in phases[0]:
        print(f"  sandbox {key:10} median {statistics.median(p[key] for p in phases):.2f} s")


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("-n", type=int, default=100, help="submissions (default 100)")
    cli.add_argument("-j", "--jobs", type=int, default=0, help="containers in parallel")
    cli.add_argument("--overhead-runs", type=int, default=5)
    cli.add_argument("--skip-throughput", action="store_true")
    cli.add_argument("--cluster", nargs="?", const="here", default="",
                     help="grade through a Dask cluster: `here` (the default) starts a "
                     "scheduler and one worker on this machine, or a scheduler's address")
    args = cli.parse_args()
    images.build(["grader"])
    tempfile.tempdir = str(REPO / "build")
    if not args.skip_throughput:
        throughput(args.n, args.jobs, args.cluster)
    if args.overhead_runs:
        overhead(args.overhead_runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
