"""Mutation score per lab: how many of its seeded realistic mistakes the tests catch.

A lab's mutants are the `bug_*` variants of tests/labs/<lab>/variants.toml: small
patches of the solution, each one mistake students make (missing acknowledge,
wrong register width, off-by-one lengths, no bus mastering, no quiesce on unbind,
races...). Each is graded like a submission; it is killed when it scores less than
full marks. A survivor is a mistake no test can see: its variants.toml entry says
why it is accepted (`accepted = "..."`, also written in the lab's README), or it is
a hole in the tests. tests/test_labs.py checks each mutant's expected outcome; this
script is the overview: per lab, killed / total, the tests each mutant failed, the
survivors with their reasons, and a Markdown table for README.md.

Usage: python3 bench/mutation_score.py [--lab 05-edu-capstone] [--jobs 2] [--kvm auto|on|off]
Exits 1 when a survivor has no accepted reason.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.engine import kernel
from grader.grading import check
from grader.lab.model import Lab, discover
from tests import variants


@dataclass(frozen=True)
class Mutant:
    """One seeded mistake of a lab and how the tests took it."""

    lab: str
    file: str
    what: str
    score: float
    max_score: float
    lost: tuple[str, ...]
    accepted: str

    @property
    def killed(self) -> bool:
        return self.score < self.max_score


def _what(lab_id: str, file: str) -> str:
    """The patch's first line: what the mistake is, in words."""
    return (REPO / "tests" / "labs" / lab_id / file).read_text().splitlines()[0].strip()


def _grade(lab: Lab, spec: dict, pair: Path, kvm: str, tmp: Path) -> Mutant:
    lab_id = lab.root.name
    source = variants.path(lab_id, spec["file"], tmp / lab_id)  # bug names repeat across labs
    result = check.run(lab.root, source, pair, kvm=kvm)
    lost = tuple(t.name for t in result.tests if t.points < t.max_points)
    return Mutant(lab_id, spec["file"], _what(lab_id, spec["file"]), result.score,
                  result.max_score, lost, spec.get("accepted", ""))


def _report(lab_id: str, mutants: list[Mutant]) -> bool:
    """Prints one lab's mutants; False when a survivor has no accepted reason."""
    killed = sum(m.killed for m in mutants)
    print(f"\n{lab_id}: {killed}/{len(mutants)} killed")
    ok = True
    for m in mutants:
        if m.killed:
            print(f"  killed   {m.file}: {m.score:g}/{m.max_score:g}, lost {', '.join(m.lost)}")
        elif m.accepted:
            print(f"  survives {m.file} (accepted: {m.accepted})")
        else:
            print(f"  SURVIVES {m.file}: {m.what} -- no test catches it and it is not accepted")
            ok = False
    return ok


def _table(by_lab: dict[str, list[Mutant]]) -> None:
    print("\n| lab | mutants | killed | accepted survivors |\n|---|---|---|---|")
    for lab_id, mutants in by_lab.items():
        survivors = [m.file.removeprefix("bug_").removesuffix(".patch")
                     for m in mutants if not m.killed]
        print(f"| `{lab_id}` | {len(mutants)} | {sum(m.killed for m in mutants)} | "
              f"{', '.join(f'`{s}`' for s in survivors) or '—'} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", action="append", help="only this lab (folder name); repeatable")
    parser.add_argument("--jobs", type=int, default=1, help="mutants graded at once")
    parser.add_argument("--kvm", choices=["auto", "on", "off"], default="off")
    args = parser.parse_args()
    pair = kernel.find()
    labs = [lab for lab in discover(REPO / "labs") if not args.lab or lab.root.name in args.lab]
    jobs = [(lab, spec) for lab in labs for spec in variants.specs(lab.root.name)
            if spec["file"].startswith("bug_")]
    with tempfile.TemporaryDirectory(prefix="kdlab-mutants-") as tmp, \
            ThreadPoolExecutor(max_workers=args.jobs) as pool:
        graded = list(pool.map(lambda job: _grade(*job, pair, args.kvm, Path(tmp)), jobs))
    by_lab: dict[str, list[Mutant]] = {}
    for mutant in graded:
        by_lab.setdefault(mutant.lab, []).append(mutant)
    ok = all([_report(lab_id, mutants) for lab_id, mutants in by_lab.items()])
    _table(by_lab)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
