"""The version matrix: every lab's solution graded on every cached kernel pair.

A course can pin another 7.x than the default 7.3; this says which labs it then
has. Each cell is the outcome of `kdlab check` of the lab's solution on that pair:
full marks, refused (the pair does not meet the lab's lab.toml `[kernel]` needs:
the declared reason, nothing compiled) or failed (the score and the first error:
either a lab that needs a declaration or a pair that is broken). With
--probe-refused, a refused solution is also compiled on that pair regardless,
to show the declaration is needed ("does not build: <the compiler's first error>")
and not merely cautious. Pairs not in the cache are not built here: build them
with `kdlab kernel build --source ...` (and `--inline-helpers`) first.

Usage: python3 bench/kernel_matrix.py [--probe-refused] [--kvm auto|on|off] [--lab DIR ...]
                                     [--pair DIR ...]
Exit status 1 when any cell failed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.engine import kernel
from grader.grading import check
from grader.grading.results import CheckResult
from grader.lab.model import Lab, discover


def pair_label(pair: kernel.KernelPair) -> str:
    """What a column is called: the release, and the pair option when it has one."""
    return pair.release + (" inline-helpers" if pair.inline_helpers else "")


def first_error(result: CheckResult) -> str:
    """The one line that says why a solution lost points."""
    if not result.build.ok:
        errors = result.build.errors
        return errors[0].message if errors else (result.build.log.splitlines() or ["?"])[-1]
    lost = next(t for t in result.tests if t.points < t.max_points)
    return f"{lost.name}: {lost.message.splitlines()[0] if lost.message else lost.status}"


def probe(lab: Lab, pair: kernel.KernelPair) -> str:
    """Compile the solution on a pair that the lab refuses: why the declaration is there."""
    with tempfile.TemporaryDirectory(prefix="kdlab-matrix-") as scratch:
        built = check.build(lab.source, pair, Path(scratch), module=lab.module,
                            timeout_s=lab.timeouts.build, allow=lab.allow)
    if built.ok:
        return "builds anyway (the declaration may be too strict)"
    if not built.errors:
        return f"does not build: {built.log.splitlines()[-1]}"
    first = built.errors[0]
    # A proc macro's panic says what it refused only in its help line.
    macro = re.search(r"= help: message: (.*)", first.rendered)
    return f"does not build: {first.message}" + (f" ({macro[1]})" if macro else "")


def cell(lab: Lab, pair: kernel.KernelPair, args: argparse.Namespace,
         notes: list[str]) -> tuple[str, bool]:
    """(the table cell, whether it failed); reasons and errors go to `notes`."""
    result = check.run(lab.root, lab.source, pair, kvm=args.kvm)
    where = f"{lab.id} on {pair_label(pair)}"
    if result.refused:
        notes.append(f"{where}: refused: {result.refused}")
        if args.probe_refused:
            notes.append(f"{where}: {probe(lab, pair)}")
        return "refused", False
    score = f"{result.score:g}/{result.max_score:g}"
    if result.score == result.max_score:
        return f"full marks {score}", False
    notes.append(f"{where}: failed: {first_error(result)}")
    return f"**failed** {score}", True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kvm", choices=["auto", "on", "off"], default="off")
    parser.add_argument("--probe-refused", action="store_true",
                        help="compile refused solutions anyway, to show why they are refused")
    parser.add_argument("--lab", action="append", help="only this lab (repeatable)")
    parser.add_argument("--pair", action="append",
                        help="only this pair directory (repeatable; default: every cached pair)")
    args = parser.parse_args()
    chosen = ([kernel.KernelPair.load(Path(d)) for d in args.pair] if args.pair
              else kernel.cached_pairs())
    pairs = sorted(chosen, key=lambda p: (p.release, pair_label(p)))
    if not pairs:
        print("no kernel pairs cached; build one with `kdlab kernel build`", file=sys.stderr)
        return 2
    labs = [Lab.load(Path(d)) for d in args.lab] if args.lab else discover(REPO / "labs")
    for pair in pairs:
        print(f"pair {pair_label(pair)}: {pair.source} at {pair.root}", flush=True)
    rows, notes, failed = [], [], False
    for lab in labs:
        cells = []
        for pair in pairs:
            text, bad = cell(lab, pair, args, notes)
            print(f"  {lab.id} on {pair_label(pair)}: {text}", flush=True)
            cells.append(text)
            failed |= bad
        rows.append(f"| {lab.id} | " + " | ".join(cells) + " |")
    print("\n| lab | " + " | ".join(pair_label(p) for p in pairs) + " |")
    print("|---|" + "---|" * len(pairs))
    print("\n".join(rows))
    print("\n" + "\n".join(notes) if notes else "")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
