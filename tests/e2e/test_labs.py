"""Every lab, end to end on the real kernel pair and QEMU.

For each lab: the solution gets full marks; the generated skeleton compiles,
boots without a crash and earns at most its declared free points; and every
variant under tests/labs/<lab>/ (an alternative solution, seeded bugs, hostile
modules; read through tests/variants.py) scores as its variants.toml says.

The checks all run first, as many at once as the machine has cores (as `kdlab
grade -j` runs them), in one module fixture; each test then looks at its result.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
from pathlib import Path

import pytest

from grader.evidence import kernlog
from grader.grading import check
from grader.grading.results import CheckResult
from grader.lab import model as lab
from tests import variants
from tests.conftest import LABS

LAB_DIRS = [p for p in sorted(LABS.iterdir()) if (p / "lab.toml").is_file()]


def _variants() -> list[tuple[Path, dict]]:
    return [(lab_dir, v) for lab_dir in LAB_DIRS for v in variants.specs(lab_dir.name)]


#: What a check is of: ("solution", lab), ("skeleton", lab) or ("variant", lab, file).
Key = tuple[str, ...]


@pytest.fixture(scope="module")
def checked(pair, tmp_path_factory) -> dict[Key, CheckResult]:
    """Every lab's solution, skeleton and variants, checked for real, cores-many at once."""
    work = tmp_path_factory.mktemp("labs")
    sources: dict[Key, Path] = {}
    for lab_dir in LAB_DIRS:
        the_lab = lab.Lab.load(lab_dir)
        sources["solution", lab_dir.name] = the_lab.source
        skeleton = work / "skeleton" / lab_dir.name / the_lab.source.name
        skeleton.parent.mkdir(parents=True)
        skeleton.write_text(the_lab.skeleton())
        sources["skeleton", lab_dir.name] = skeleton
    for lab_dir, variant in _variants():
        sources["variant", lab_dir.name, variant["file"]] = variants.path(
            lab_dir.name, variant["file"], work / "variants" / lab_dir.name)
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        futures = {key: pool.submit(check.run, LABS / key[1], source, pair)
                   for key, source in sources.items()}
        return {key: future.result() for key, future in futures.items()}


def _by_name(result) -> dict:
    return {t.name: t for t in result.tests}


#: The kernel pair's place in kdlab's cache: never shown to a student.
CACHE_PATHS = ("/.cache/", ".partial")


def _assert_feedback_points_at_the_student(result, module: str) -> None:
    """A failed build names the student's line; a crash names the student's line or
    function and its cause, a hang the step that hung; nothing shown names a cache path."""
    shown = json.dumps(result.to_json()) + result.summary()
    assert not [p for p in CACHE_PATHS if p in shown], shown
    if not result.build.ok:
        first = result.build.errors[0]
        assert (first.file, first.line > 0) == (f"{module}.rs", True), first
        assert all(first.short() in t.message for t in result.tests if t.status == "error")
    # The cause is the first fatal event (a hang's reboot blocking on the stuck probe is a
    # consequence); a hang is named by its step, which the guest init reports.
    crash = next((e for e in result.events if e.kind in kernlog.FATAL), None)
    if crash is not None and crash.kind == "hang":
        assert crash.phase and crash.detail.startswith(crash.phase), crash
    elif crash is not None:
        assert crash.location.startswith(f"{module}.rs:") or crash.function, crash
        unreported = [t.message for t in result.tests if t.message.startswith("not run")]
        assert crash.detail and all(crash.describe() in m for m in unreported), unreported


@pytest.mark.parametrize("lab_dir", LAB_DIRS, ids=lambda p: p.name)
def test_solution_gets_full_marks(lab_dir: Path, checked) -> None:
    the_lab = lab.Lab.load(lab_dir)
    result = checked["solution", lab_dir.name]
    failing = {t.name: t.message for t in result.tests if t.status != "pass"}
    assert result.build.ok, [d.short() for d in result.build.diagnostics]
    assert failing == {}, result.kernel_log[-3000:]
    assert result.score == result.max_score == the_lab.max_score
    assert not [e for e in result.events if e.kind != "warning"], result.events


@pytest.mark.parametrize("lab_dir", LAB_DIRS, ids=lambda p: p.name)
def test_skeleton_compiles_and_earns_only_free_points(lab_dir: Path, checked) -> None:
    the_lab = lab.Lab.load(lab_dir)
    result = checked["skeleton", lab_dir.name]
    assert result.build.ok, [d.short() for d in result.build.errors]
    assert result.score <= the_lab.raw.get("skeleton_points", 0)
    assert result.boot_status == "finished", result.kernel_log[-3000:]
    assert result.events == [], [e.describe() for e in result.events]


@pytest.mark.parametrize(
    ("lab_dir", "variant"), _variants(), ids=lambda v: v.name if isinstance(v, Path) else v["file"]
)
def test_variant_scores_as_declared(lab_dir: Path, variant: dict, checked) -> None:
    result = checked["variant", lab_dir.name, variant["file"]]
    outcomes = _by_name(result)
    detail = {n: (t.status, t.message) for n, t in outcomes.items()}
    _assert_feedback_points_at_the_student(result, lab.Lab.load(lab_dir).module)
    expect = variant["expect"]
    if expect == "full":
        assert result.score == result.max_score, detail
    elif expect == "zero":
        assert result.score == 0, detail
    else:
        assert 0 < result.score < result.max_score, detail
    for name in variant.get("pass", []):
        assert outcomes[name].status == "pass", detail
    for name in variant.get("fail", []):
        assert outcomes[name].status in ("fail", "error"), detail
        assert outcomes[name].message, f"{name} failed without telling the student why"
    for name in variant.get("error", []):
        assert outcomes[name].status == "error", detail
    for name, text in variant.get("message", {}).items():
        assert text in outcomes[name].message, detail
    if "event" in variant:
        kinds = [e.kind for e in result.events]
        assert variant["event"] in kinds, (kinds, result.kernel_log[-3000:])
