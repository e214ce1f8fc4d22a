"""The version matrix as a test lane: every lab's solution on every cached pair other than
the course pair (which tests/test_labs.py covers) is either refused with the lab's
declared reason or gets full marks. A lab that fails instead is missing a `[kernel]`
declaration, or the pair is broken.

The lane always has one pair besides the course pair to run on: the inline-helpers
pair, which the `other_pairs` fixture builds when the cache does not hold it (6.5-10
min of both cores, once per machine: the README-commands test's `kdlab kernel build
--inline-helpers` then finds it cached). Other pairs (7.2, a 7.0 tarball) are used
when cached. bench/kernel_matrix.py prints the same outcomes as the table in the README.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.engine import kernel
from grader.grading import check
from grader.lab.model import Lab, discover
from tests.conftest import LABS


@pytest.fixture(scope="module")
def other_pairs(pair: kernel.KernelPair) -> list[kernel.KernelPair]:
    """Every cached pair but the course pair, the inline-helpers pair built if missing."""
    kernel.build(inline_helpers=True)
    others = [p for p in kernel.cached_pairs() if p.root != pair.root]
    assert others, "the inline-helpers pair was built but is not in the cache"
    return others


def _label(pair: kernel.KernelPair) -> str:
    return pair.release + ("-inline-helpers" if pair.inline_helpers else "")


@pytest.mark.parametrize("lab", discover(LABS), ids=lambda lab: lab.id)
def test_solution_is_refused_or_gets_full_marks(lab: Lab, pair: kernel.KernelPair,
                                                other_pairs: list[kernel.KernelPair],
                                                tmp_path: Path) -> None:
    wrong = []
    for other in other_pairs:
        result = check.run(lab.root, lab.source, other, workdir=tmp_path / other.root.name)
        if result.refused:
            if f"({lab.kernel.reason})" not in result.refused:
                wrong.append(f"{_label(other)}: refused for another reason: {result.refused}")
            elif other.inline_helpers and other.release == pair.release:
                wrong.append(f"{_label(other)}: refused, but the inline-helpers option must "
                             "not change which labs a release serves")
        elif result.score != result.max_score:
            wrong.append(f"{_label(other)}: {result.summary()}")
    assert not wrong, "\n".join(wrong)


def test_inline_helpers_is_a_pair_of_its_own(pair: kernel.KernelPair,
                                             other_pairs: list[kernel.KernelPair]) -> None:
    """`kdlab kernel build --inline-helpers` finds its pair under its own key, with the
    option on, and leaves the course pair (`latest`) alone."""
    cached = {p.root for p in other_pairs if p.inline_helpers and p.source == pair.source}
    found = kernel.build(inline_helpers=True)
    # (A machine may also hold inline-helpers pairs of earlier course fragments.)
    assert found.root in cached and found.root != pair.root
    assert found.inline_helpers and not pair.inline_helpers
    assert kernel.find().root == pair.root
