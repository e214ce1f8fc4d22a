"""The version matrix as a test lane: every lab's solution on every cached pair other than
the course pair (which tests/test_labs.py covers) is either refused with the lab's
declared reason or gets full marks. A lab that fails instead is missing a `[kernel]`
declaration, or the pair is broken.

Pairs are not built here (6.5 min of both cores each): the lane runs on what the cache
holds and says so when it holds nothing else. bench/kernel_matrix.py prints the same
outcomes as the table in the README.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.engine import kernel
from grader.grading import check
from grader.lab.model import Lab, discover
from tests.conftest import LABS

NOT_CACHED = ("no kernel pair besides the course pair is cached, so the matrix lane has "
              "nothing to run: build one with `kdlab kernel build --source "
              "debian:linux-source-7.2` or `kdlab kernel build --inline-helpers`")


def _other_pairs() -> list[kernel.KernelPair | None]:
    """The cached pairs that are not the course pair; [None] (one skip) when there are none."""
    try:
        course = kernel.find().root
    except kernel.KernelError:
        course = None
    others = [p for p in kernel.cached_pairs() if p.root != course]
    return others or [None]


def _label(pair: kernel.KernelPair | None) -> str:
    if pair is None:
        return "none-cached"
    return pair.release + ("-inline-helpers" if pair.inline_helpers else "")


@pytest.mark.parametrize("other", _other_pairs(), ids=_label)
@pytest.mark.parametrize("lab", discover(LABS), ids=lambda lab: lab.id)
def test_solution_is_refused_or_gets_full_marks(lab: Lab, other: kernel.KernelPair | None,
                                                tmp_path: Path) -> None:
    if other is None:
        pytest.skip(NOT_CACHED)
    result = check.run(lab.root, lab.source, other, workdir=tmp_path)
    if result.refused:
        assert f"({lab.kernel.reason})" in result.refused
        assert not other.inline_helpers or other.release != kernel.find().release, \
            "the inline-helpers option must not change which labs a release serves"
    else:
        assert result.score == result.max_score, result.summary()


def test_inline_helpers_is_a_pair_of_its_own(pair: kernel.KernelPair) -> None:
    """`kdlab kernel build --inline-helpers` finds its pair under its own key, with the
    option on, and leaves the course pair (`latest`) alone."""
    cached = [p for p in kernel.cached_pairs() if p.inline_helpers and p.source == pair.source]
    if not cached:
        pytest.skip("no inline-helpers pair is cached: `kdlab kernel build --inline-helpers` "
                    "builds one (6.5 min on 2 cores)")
    found = kernel.build(inline_helpers=True)
    assert found.root == cached[0].root != pair.root
    assert found.inline_helpers and not pair.inline_helpers
    assert kernel.find().root == pair.root
