"""How many students one machine's `kdlab hub` holds: spawn time, idle memory, a class-wide check.

Starts a hub of its own (tests/hubkit.py: its own name, port, volumes; all removed
at the end) with N students on the roster, then measures:

1. spawn: every student's server asked for at once through the hub's API; the
   seconds until each was ready (median and max), as a class arriving together;
2. idle memory: each student's container after it settled (cgroup memory usage
   without the page cache, which the kernel gives back under pressure);
3. a class-wide check: every student runs lab 00's check (build, boot in QEMU,
   grade) in their own container at the same moment, as after "now run the cell";
   the wall time until the last one is graded, and that every one passed the tests
   the student's image runs (the hidden ones are graded after submission).

Then it says what a bigger server would hold by the same measure (memory for
idle servers; cores for simultaneous checks, each capped at --cpus).

    scripts/in-toolchain python3 bench/hub_capacity.py -n 10
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.lab.model import Lab
from tests import hubkit

HELLO = REPO / "labs" / "00-hello"
#: Seconds the servers are left alone before their memory is read.
SETTLE_S = 30
#: Seconds one check may take when the whole class checks at once.
CHECK_TIMEOUT_S = 3600
BIG_CORES, BIG_MEM_GB = 32, 128
#: Memory kept free on a server for the hub, the kernel and the page cache.
HEADROOM = 0.8


def idle_memory(container) -> int:
    """Bytes the container uses, page cache aside (cgroup v1 `cache`, v2 `inactive_file`)."""
    stats = container.stats(stream=False)["memory_stats"]
    detail = stats.get("stats", {})
    return int(stats["usage"] - detail.get("cache", detail.get("inactive_file", 0)))


def check_in(hub, user: str, source: str) -> tuple[float, bool]:
    """Lab 00's check in the user's container as the user: (seconds, whether every test
    the student's image runs passed; the hidden ones are graded after submission)."""
    container = hubkit.user_container(hub, user)
    started = time.monotonic()
    script = (f"cat > /tmp/hello.rs <<'EOF'\n{source}\nEOF\n"
              f"timeout {CHECK_TIMEOUT_S} python3 -m grader.cli.main check "
              "/opt/kdlab/labs/00-hello --source /tmp/hello.rs --json")
    result = container.exec_run(["setpriv", "--reuid=student", "--regid=student",
                                 "--clear-groups", "env", "HOME=/home/student", "sh", "-c",
                                 script], user="root")
    seconds = time.monotonic() - started
    if result.exit_code != 0:
        raise SystemExit(f"{user}'s check failed:\n{result.output.decode()[-2000:]}")
    tests = json.loads(result.output.decode().strip().splitlines()[-1])["tests"]
    run = [t for t in tests if not t["hidden"]]
    return seconds, bool(run) and all(t["status"] == "pass" for t in run)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=10, help="students (default 10)")
    parser.add_argument("--mem", default="1536M", help="memory limit per server")
    parser.add_argument("--cpus", type=float, default=1.0, help="CPU limit per server")
    parser.add_argument("--no-check", action="store_true", help="skip the class-wide check")
    args = parser.parse_args()

    students = tuple(f"s{i:03d}" for i in range(1, args.n + 1))
    lab = Lab.load(HELLO)
    with hubkit.running_hub(students, admin="teacher", mem=args.mem, cpus=args.cpus) as (
            hub, _):
        spawned = hubkit.start_servers(hub, list(students))
        times = sorted(spawned.values())
        print(f"spawn, {args.n} at once: median {statistics.median(times):.1f} s, "
              f"min {times[0]:.1f} s, max {times[-1]:.1f} s")
        time.sleep(SETTLE_S)
        memory = [idle_memory(hubkit.user_container(hub, s)) for s in students]
        idle = statistics.median(memory)
        print(f"idle memory per student: median {idle / 2**20:.0f} MiB, "
              f"max {max(memory) / 2**20:.0f} MiB")
        if not args.no_check:
            source = lab.solved()
            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(args.n) as pool:
                runs = list(pool.map(lambda s: check_in(hub, s, source), students))
            wall = time.monotonic() - started
            each = sorted(seconds for seconds, _ in runs)
            full = sum(passed for _, passed in runs)
            print(f"lab 00 check, all {args.n} at once: {wall:.0f} s until the last "
                  f"(each: median {statistics.median(each):.0f} s, min {each[0]:.0f} s); "
                  f"{full}/{args.n} passed every visible test")
        held = int(BIG_MEM_GB * 2**30 * HEADROOM / idle)
        print(f"a {BIG_CORES}-core, {BIG_MEM_GB} GB server by the same measure: "
              f"~{held} idle students in memory, {int(BIG_CORES / args.cpus)} checks at a "
              "time at this machine's speed per core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
