"""Submission-to-graded time of `kdlab check`: medians over N runs.

Prints build / boot+tests / total medians (and min/max) so that the figure in the
engine issue (target: <= 3 s median on 2 cores without KVM) can be re-measured
on any machine. With --trace-cost (for a lab with devices), runs alternate with and
without the QEMU device-access trace and the cost of the trace is printed.

Usage: python3 bench/check_latency.py [--runs 10] [--kvm auto|on|off] [--lab DIR]
       python3 bench/check_latency.py --lab labs/03-pci-registers --trace-cost
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.engine import kernel
from grader.grading import check
from grader.lab.model import Lab


def _measure(lab_dir: Path, runs: int, kvm: str, trace: bool, label: str) -> list[tuple]:
    source = Lab.load(lab_dir).source
    pair = kernel.find()
    rows = []
    for i in range(runs):
        result = check.run(lab_dir, source, pair, kvm=kvm, trace_devices=trace)
        graded = [t for t in result.tests if t.status == "pass"]
        t = result.timings
        rows.append((t.build_s, t.boot_s, t.total_s))
        print(f"{label} run {i + 1:2}: build {t.build_s:.2f}s  boot+tests {t.boot_s:.2f}s  "
              f"total {t.total_s:.2f}s ({result.accel}, {len(graded)}/{len(result.tests)} passed)",
              flush=True)
    return rows


def _report(label: str, rows: list[tuple]) -> float:
    columns = zip(*rows, strict=True)
    medians = []
    for name, column in zip(("build", "boot+tests", "total"), columns, strict=True):
        medians.append(statistics.median(column))
        print(f"{label} {name:>11}: median {medians[-1]:.2f}s  min {min(column):.2f}s  "
              f"max {max(column):.2f}s")
    return medians[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--kvm", choices=["auto", "on", "off"], default="off")
    parser.add_argument("--lab", default=str(REPO / "labs/00-hello"))
    parser.add_argument("--trace-cost", action="store_true")
    args = parser.parse_args()
    lab_dir = Path(args.lab)
    if not args.trace_cost:
        _report("", _measure(lab_dir, args.runs, args.kvm, True, ""))
        return 0
    with_trace: list[tuple] = []
    without: list[tuple] = []
    for _ in range(args.runs):  # interleaved, so machine load hits both alike
        with_trace += _measure(lab_dir, 1, args.kvm, True, "trace")
        without += _measure(lab_dir, 1, args.kvm, False, "no trace")
    on, off = _report("trace", with_trace), _report("no trace", without)
    print(f"trace cost: {on - off:+.2f}s per submission ({(on - off) / off * 100:+.1f} % of "
          f"submission-to-graded time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
