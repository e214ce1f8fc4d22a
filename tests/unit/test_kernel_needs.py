"""What a lab needs of the kernel pair (lab.toml `[kernel]`), and every place that refuses
a pair that does not meet it: `kdlab check`, the notebook, the course generator.

The pairs here are recorded: a pair directory with the pair.json and .config a real
build writes, and no built tree. That is what a refusal reads, and it proves the
refusal comes before any compiler runs (there is nothing here to compile against).
The batch's refusal, which reads the pair inside the grader image, is in
tests/e2e/test_kernel_needs_e2e.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grader.course import generate as course
from grader.course import jupyter
from grader.engine import kernel
from grader.grading import check
from grader.lab.model import KernelNeeds, Lab, LabError, discover
from tests.conftest import LABS

SOURCE_72 = "linux-source-7.2_7.2.12-1~bpo13+1"
IO_VIEWS_ON_72 = ("lab 04-io-views needs Linux ≥ 7.3 with CONFIG_PCI, CONFIG_DEBUG_FS "
                  "(I/O views); this pair is 7.2.12: build the course pair with "
                  "`kdlab kernel build`")


def recorded_pair(root: Path, release: str, config: str) -> kernel.KernelPair:
    """A pair directory as `kdlab kernel build` leaves it, minus the built tree."""
    (root / "linux").mkdir(parents=True)
    (root / "linux" / ".config").write_text(config)
    (root / kernel.PAIR_FILE).write_text(json.dumps({
        "release": release, "source": SOURCE_72, "config_sha256": "0" * 64,
        "rustc": "rustc 1.85.1 (4eb161250 2025-03-15) (built from a source tarball)",
        "built_s": 299.0}))
    return kernel.KernelPair.load(root)


COURSE_CONFIG = "CONFIG_RUST=y\nCONFIG_PCI=y\nCONFIG_PCI_MSI=y\nCONFIG_DEBUG_FS=y\n"


@pytest.fixture
def pair_72(tmp_path: Path) -> kernel.KernelPair:
    return recorded_pair(tmp_path / "pair-7.2", "7.2.12", COURSE_CONFIG)


def needs(**table) -> KernelNeeds:
    return KernelNeeds.from_toml(table, "lab.toml")


def test_the_refusal_is_one_sentence_with_the_reason_and_what_to_do() -> None:
    io_views = Lab.load(LABS / "04-io-views")
    assert io_views.kernel.refusal(io_views.id, "7.2.12", kernel.parse_config(COURSE_CONFIG)) \
        == IO_VIEWS_ON_72


@pytest.mark.parametrize(("table", "release", "config", "refused"), [
    ({"min": "7.3", "reason": "r"}, "7.3.4", {}, ""),
    ({"min": "7.3", "reason": "r"}, "7.3", {}, ""),
    ({"min": "7.3", "reason": "r"}, "7.3.0-rc2", {}, ""),
    ({"min": "7.3", "reason": "r"}, "7.2.12", {}, "needs Linux ≥ 7.3 (r); this pair is 7.2.12:"),
    ({"min": "7.3", "reason": "r"}, "7.0", {}, "this pair is 7.0:"),
    ({"min": "7.1", "max": "7.2", "reason": "r"}, "7.2.12", {}, ""),
    ({"min": "7.1", "max": "7.2", "reason": "r"}, "7.3.4", {},
     "needs Linux 7.1 to 7.2 (r); this pair is 7.3.4:"),
    ({"max": "7.2", "reason": "r"}, "7.3.4", {}, "needs Linux ≤ 7.2 (r)"),
    ({"config": ["CONFIG_PCI_MSI"], "reason": "MSI"}, "7.3.4", {"CONFIG_PCI_MSI": "y"}, ""),
    ({"config": ["CONFIG_PCI_MSI"], "reason": "MSI"}, "7.3.4", {"CONFIG_PCI_MSI": "m"}, ""),
    ({"config": ["CONFIG_PCI_MSI"], "reason": "MSI"}, "7.3.4", {"CONFIG_PCI_MSI": "n"},
     "needs a kernel with CONFIG_PCI_MSI (MSI); this pair (7.3.4) is built without "
     "CONFIG_PCI_MSI:"),
    ({"min": "7.3", "config": ["CONFIG_A", "CONFIG_B"], "reason": "r"}, "7.2.1",
     {"CONFIG_A": "y"}, "needs Linux ≥ 7.3 with CONFIG_A, CONFIG_B (r); this pair is 7.2.1 "
     "without CONFIG_B:"),
])
def test_range_and_config(table: dict, release: str, config: dict, refused: str) -> None:
    sentence = needs(**table).refusal("lab", release, config)
    if not refused:
        assert sentence == ""
    else:
        assert refused in sentence
        assert sentence.startswith("lab lab needs ")
        assert sentence.endswith(": build the course pair with `kdlab kernel build`")


def test_no_kernel_table_accepts_any_pair() -> None:
    assert needs().refusal("02-misc-device", "7.0", {}) == ""


@pytest.mark.parametrize(("table", "message"), [
    ({"min": "7.3"}, "needs a `reason`"),
    ({"min": "seven", "reason": "r"}, "'seven' is not a kernel version"),
    ({"config": ["PCI_MSI"], "reason": "r"}, "must be Kconfig symbols"),
    ({"minimum": "7.3", "reason": "r"}, "unknown fields \\['minimum'\\]"),
])
def test_malformed_kernel_tables_name_the_problem(table: dict, message: str) -> None:
    with pytest.raises(LabError, match=message):
        needs(**table)


def test_a_lab_with_a_malformed_kernel_table_does_not_load(tmp_path: Path) -> None:
    lab = tmp_path / "04-io-views"
    shutil.copytree(LABS / "04-io-views", lab)
    toml = lab / "lab.toml"
    toml.write_text(toml.read_text().replace('reason = "I/O views"\n', ""))
    with pytest.raises(LabError, match=f"{toml}: \\[kernel\\] needs a `reason`"):
        Lab.load(lab)


def test_check_refuses_before_compiling(pair_72: kernel.KernelPair, tmp_path: Path) -> None:
    """The recorded pair has no tree: a check that tried to build would fail differently."""
    lab = LABS / "04-io-views"
    result = check.run(lab, lab / "io_views.rs", pair_72, workdir=tmp_path / "scratch")
    assert result.refused == IO_VIEWS_ON_72
    assert not (tmp_path / "scratch").exists()
    data = result.to_json()
    assert data["refused"] == IO_VIEWS_ON_72 and data["score"] == 0
    assert data["max_score"] == Lab.load(lab).max_score
    assert {t["status"] for t in data["tests"]} == {"skip"}
    assert all(t["message"] == f"not run: {IO_VIEWS_ON_72}" for t in data["tests"])
    assert result.summary().splitlines()[-1] == f"not checked: {IO_VIEWS_ON_72}"


def test_a_pair_that_meets_the_lab_is_not_refused(tmp_path: Path) -> None:
    """A lab with no `[kernel]` table on a 7.3 pair; a refused result carries its reason."""
    pair = recorded_pair(tmp_path / "pair-7.3", "7.3.4", COURSE_CONFIG)
    lab = Lab.load(LABS / "02-misc-device")
    assert check.refusal(lab, pair) == ""
    assert check.refused(lab, "why").to_json()["refused"] == "why"


def test_the_notebook_shows_the_refusal_and_grade_cells_give_zero(
        pair_72: kernel.KernelPair, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KDLAB_KERNEL", str(pair_72.root))
    monkeypatch.setenv("KDLAB_NOTEBOOK_DIR", str(tmp_path))
    lab = Lab.load(LABS / "04-io-views")
    run = jupyter.check(lab.id, lab.solved())
    assert run.error == "" and run.result is not None
    html = jupyter.run_html(run)
    assert "Not checked: this kernel cannot build this lab" in html
    assert "The module did not build" not in html
    assert "needs Linux ≥ 7.3" in html
    assert jupyter.points(lab.id, lab.tests[0].name) == 0.0
    printed = capsys.readouterr().out
    assert f"not run: {IO_VIEWS_ON_72}" in printed and "build errors" not in printed


def test_course_generation_leaves_out_labs_the_pair_cannot_serve(
        pair_72: kernel.KernelPair, tmp_path: Path) -> None:
    report = course.generate(LABS, tmp_path / "course", pair=pair_72)
    refused = {lab.id for lab in discover(LABS) if lab.kernel.min > (7, 2, 12)}
    assert refused and set(report.skipped) == refused
    assert report.skipped["04-io-views"] == [IO_VIEWS_ON_72]
    written = {p.parent.name for p in report.written}
    assert written == {lab.id for lab in discover(LABS)} - refused
    assert "02-misc-device" in written


def test_the_course_pair_meets_every_lab(pair: kernel.KernelPair) -> None:
    """The declarations are true of the pair the course is built for."""
    for lab in discover(LABS):
        assert check.refusal(lab, pair) == "", lab.id
