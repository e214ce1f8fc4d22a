"""What `kdlab kernel build --inline-helpers` changes: the course pair against its
inline-helpers twin (same source, CONFIG_RUST_INLINE_HELPERS=y).

Rust code cannot call the kernel's C inline functions and macros (readb, spin_lock,
refcount_inc...), so the kernel crate calls small exported C wrappers, the
`rust_helper_*` functions of rust/helpers/. With the option, those wrappers are
compiled to LLVM bitcode and linked into every Rust object, out-of-tree modules
included, so that they can be inlined. Per lab solution this prints:

- the size of the `.ko` and of its code (`llvm-size`: text),
- the calls to `rust_helper_*` left in it: call sites (relocations against them in
  `llvm-objdump -dr`) and distinct helpers (undefined symbols in `llvm-nm -u`),

and, over --runs checks of lab 04 on each pair (alternating), the median time of its
probe measured inside the guest (selecting, copying and checksumming three headers
through the BAR view; lab 04's hidden reload_rings test prints it, display only).

Usage: python3 bench/inline_helpers.py [--runs 5] [--kvm off]
The two pairs must be cached: `kdlab kernel build` and `kdlab kernel build --inline-helpers`.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.engine import kernel
from grader.grading import check
from grader.lab.model import Lab, discover

HOT_PATH_LAB = REPO / "labs" / "04-io-views"
#: What lab 04's reload_rings prints (hidden/probe_timing.c).
PROBE_TIMING = re.compile(r"probe mean (\d+) us over (\d+) binds")
HELPER = "rust_helper_"


def pairs() -> tuple[kernel.KernelPair, kernel.KernelPair]:
    """The course pair and the cached inline-helpers pair of the same source."""
    course = kernel.find()
    twins = [p for p in kernel.cached_pairs() if p.inline_helpers and p.source == course.source]
    if not twins:
        raise SystemExit(f"no inline-helpers pair of {course.source} is cached: run "
                         "`kdlab kernel build --inline-helpers` first")
    return course, twins[0]


def _tool(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def module_figures(ko: Path) -> dict[str, int]:
    """Size, code size and the rust_helper_* calls left in one module."""
    text = int(_tool("llvm-size", str(ko)).splitlines()[1].split()[0])
    calls = sum(1 for line in _tool("llvm-objdump", "-dr", str(ko)).splitlines()
                if "R_X86_64_" in line and HELPER in line)
    helpers = {line.split()[-1] for line in _tool("llvm-nm", "-u", str(ko)).splitlines()
               if HELPER in line}
    return {"bytes": ko.stat().st_size, "text": text, "calls": calls, "helpers": len(helpers)}


def build_figures(lab: Lab, pair: kernel.KernelPair) -> dict[str, int]:
    with tempfile.TemporaryDirectory(prefix="kdlab-inline-") as scratch:
        built = check.build(lab.source, pair, Path(scratch), module=lab.module,
                            timeout_s=lab.timeouts.build, allow=lab.allow)
        if not built.ok or built.module is None:
            raise SystemExit(f"{lab.id} does not build on {pair.root}: "
                             + "; ".join(d.short() for d in built.errors))
        return module_figures(built.module)


def probe_us(pair: kernel.KernelPair, kvm: str) -> float:
    """One check of lab 04's solution; the probe time its hidden test printed."""
    result = check.run(HOT_PATH_LAB, Lab.load(HOT_PATH_LAB).source, pair, kvm=kvm)
    if result.score != result.max_score:
        raise SystemExit(f"lab 04's solution lost points on {pair.root}: {result.summary()}")
    for test in result.tests:
        if match := PROBE_TIMING.search(test.message):
            return float(match[1])
    raise SystemExit("lab 04 printed no probe timing (its hidden tests are needed)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="checks of lab 04 on each pair")
    parser.add_argument("--kvm", choices=["auto", "on", "off"], default="off")
    args = parser.parse_args()
    default, inline = pairs()
    print(f"default pair:        {default.root}\ninline-helpers pair: {inline.root}\n")
    print("| lab | .ko bytes | text bytes | rust_helper_* call sites | distinct helpers |")
    print("|---|---|---|---|---|")
    for lab in discover(REPO / "labs"):
        a, b = build_figures(lab, default), build_figures(lab, inline)
        print(f"| {lab.id} | " + " | ".join(f"{a[k]} → {b[k]}" for k in
                                              ("bytes", "text", "calls", "helpers")) + " |",
              flush=True)
    times: dict[str, list[float]] = {"default": [], "inline": []}
    for run in range(args.runs):
        for name, pair in (("default", default), ("inline", inline)):
            times[name].append(probe_us(pair, args.kvm))
            print(f"  run {run + 1}: {name:7} probe {times[name][-1]:.0f} us", flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    change = (medians["inline"] - medians["default"]) / medians["default"] * 100
    print(f"\nlab 04 probe in the guest ({args.runs} checks each, mean of 60 binds per check): "
          f"median {medians['default']:.0f} us default, {medians['inline']:.0f} us inline "
          f"helpers ({change:+.1f} %); ranges {min(times['default']):.0f}-"
          f"{max(times['default']):.0f} and {min(times['inline']):.0f}-"
          f"{max(times['inline']):.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
