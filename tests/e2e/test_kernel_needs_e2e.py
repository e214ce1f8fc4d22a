"""The batch refuses a lab the grader image's kernel pair cannot serve, before grading
anyone (the other refusals, on recorded pairs, are tests/unit/test_kernel_needs.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import LABS


def test_the_batch_refuses_before_grading_anyone(tmp_path: Path) -> None:
    """Against the pair inside the real grader image (read, never rebuilt here): a lab that
    needs a newer kernel stops `kdlab grade` with its reason, and no student gets a zero."""
    from grader.batch import run as batch
    from grader.batch import sandbox
    from tests.batchcourse import Course

    labs = tmp_path / "labs"
    shutil.copytree(LABS / "00-hello", labs / "00-hello")
    toml = labs / "00-hello" / "lab.toml"
    toml.write_text(toml.read_text().replace('min = "7.3"', 'min = "7.4"'))
    release, _ = sandbox.image_pair(sandbox.client())
    made = Course(labs / "00-hello", "00-hello")
    try:
        made.submit("alice", made.lab.solved())
        with pytest.raises(batch.BatchError) as refused:
            batch.grade(batch.Options(course=made.root, assignment="00-hello", labs=labs))
        assert str(refused.value) == (
            f"lab 00-hello needs Linux ≥ 7.4 (module parameters read by value); this pair is "
            f"{release}: build the course pair with `kdlab kernel build`, then the grader "
            "image with `kdlab image build grader` (nothing was graded)")
        assert not (made.root / "kdlab" / "00-hello" / "journal").exists()
        assert made.gradebook_scores() == {}
    finally:
        made.remove()
