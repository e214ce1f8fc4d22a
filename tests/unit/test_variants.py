"""Every variant under tests/labs/ is there and, if a patch, still applies to its lab's solution.

Seeded bugs are patches against the solution (tests/variants.py). An edit to a
lab's solution that a patch no longer fits is caught here, in a second, and not
after a kernel build and a QEMU boot in tests/test_labs.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import variants
from tests.conftest import LABS, VARIANTS

LAB_IDS = sorted(p.name for p in VARIANTS.iterdir() if (p / "variants.toml").is_file())
LISTED = [(lab_id, spec["file"]) for lab_id in LAB_IDS for spec in variants.specs(lab_id)]


def test_every_variant_folder_belongs_to_a_lab() -> None:
    assert LAB_IDS, f"no variants.toml under {VARIANTS}"
    assert [i for i in LAB_IDS if not (LABS / i / "lab.toml").is_file()] == []


@pytest.mark.parametrize(("lab_id", "file"), LISTED, ids=[f"{i}/{f}" for i, f in LISTED])
def test_variant_exists_applies_and_differs_from_the_solution(lab_id: str, file: str) -> None:
    assert Path(file).suffix in (".rs", ".patch"), file
    assert (VARIANTS / lab_id / file).is_file(), f"variants.toml lists {file}, which is missing"
    rust = variants.text(lab_id, file)  # raises, with GNU patch's words, if it does not apply
    assert rust != variants.solved(lab_id)
    assert rust != variants.lab(lab_id).solution()


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_every_file_in_a_variant_folder_is_listed(lab_id: str) -> None:
    listed = {spec["file"] for spec in variants.specs(lab_id)}
    stored = {p.name for p in (VARIANTS / lab_id).iterdir() if p.suffix in (".rs", ".patch")}
    assert stored - listed == set(), "files that no variants.toml entry tests"
    assert len(listed) == len(variants.specs(lab_id)), "a file is listed twice"


def test_a_patch_that_does_not_fit_the_solution_fails_loudly(tmp_path: Path,
                                                              monkeypatch) -> None:
    """Changed context must fail (no fuzz), as must a patch that is already applied."""
    stale = variants.solved("00-hello").replace("then keep `count`", "then store `count`")
    monkeypatch.setattr(variants, "solved", lambda lab_id: stale)
    with pytest.raises(variants.VariantError, match="does not apply exactly"):
        variants.text("00-hello", "bug_off_by_one.patch")
    monkeypatch.undo()

    applied = variants.text("00-hello", "bug_off_by_one.patch")
    monkeypatch.setattr(variants, "solved", lambda lab_id: applied)
    with pytest.raises(variants.VariantError, match="does not apply exactly"):
        variants.text("00-hello", "bug_off_by_one.patch")


def test_path_writes_the_solution_file_name_once_per_variant(tmp_path: Path) -> None:
    bug = variants.path("00-hello", "bug_off_by_one.patch", tmp_path)
    forged = variants.path("00-hello", "forged_ktap.rs", tmp_path)
    assert bug.name == forged.name == variants.lab("00-hello").source.name
    assert bug != forged
    assert bug.read_text() == variants.text("00-hello", "bug_off_by_one.patch")
    assert forged.read_text() == (VARIANTS / "00-hello" / "forged_ktap.rs").read_text()


def test_diff_round_trips_through_text(tmp_path: Path, monkeypatch) -> None:
    rust = variants.text("00-hello", "hang_in_init.patch")
    patch = variants.diff("00-hello", rust, "init spins forever.")
    assert patch.splitlines()[:3] == ["init spins forever.", "--- a/hello.rs", "+++ b/hello.rs"]
    folder = tmp_path / "00-hello"
    folder.mkdir()
    (folder / "again.patch").write_text(patch)
    monkeypatch.setattr(variants, "VARIANTS", tmp_path)
    assert variants.text("00-hello", "again.patch") == rust
