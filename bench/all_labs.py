"""Grade every lab's solution once, as a course would at the start of a term: total wall time.

Target (labs issue): the whole lab set graded in under 60 s on 2 cores without KVM,
once the kernel pair is built. Prints per-lab score and time, the total, and the
peak memory of the grading process.

Usage: python3 bench/all_labs.py [--kvm auto|on|off] [--jobs N]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.engine import kernel
from grader.grading import check
from grader.lab.model import discover


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kvm", choices=["auto", "on", "off"], default="off")
    parser.add_argument("--jobs", type=int, default=1,
                        help="labs graded at once (each QEMU uses one core)")
    args = parser.parse_args()
    pair = kernel.find()
    labs = discover(REPO / "labs")
    started = time.monotonic()

    def grade(lab):
        return lab, check.run(lab.root, lab.source, pair, kvm=args.kvm)

    failed = 0
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for lab, result in pool.map(grade, labs):
            t = result.timings
            print(f"{lab.id:18} {result.score:g}/{result.max_score:g}  build {t.build_s:5.2f}s  "
                  f"boot+tests {t.boot_s:5.2f}s  total {t.total_s:5.2f}s", flush=True)
            failed += result.score != result.max_score
    total = time.monotonic() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"all {len(labs)} labs: {total:.1f}s wall ({args.jobs} at a time); peak memory: "
          f"grader {own:.0f} MiB, largest child (QEMU/rustc) {children:.0f} MiB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
