"""Forged results end to end: hostile modules (tests/data/forge/) against the real engine.

Each forgery is graded for two labs twice: as submitted (the source policy refuses
what it must) and with the policy relaxed for exactly what the module needs, so
that the result channel alone has to hold. It never scores more than the lab's
empty skeleton, and where it wrote to the result channel, the result says so.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from grader.grading import check
from grader.grading.results import integrity_flags
from grader.lab.model import Lab
from tests.conftest import LABS

FORGE = Path(__file__).resolve().parents[1] / "data" / "forge"
FORGERIES = sorted(p.name for p in FORGE.glob("*.rs"))
TARGETS = ["00-hello", "02-misc-device"]
#: Forgeries that write to the result channel: their runs must be flagged.
ON_CHANNEL = {"uart_report.rs", "uart_report_reset.rs", "uart_fake_seals.rs",
              "uart_on_unload.rs", "uart_then_wedge.rs", "tty_layer.rs"}


def needs(forgery: str) -> list[str]:
    """The policy rules the forgery's `//! allow:` line names."""
    line = re.search(r"^//! allow:(.*)$", (FORGE / forgery).read_text(), re.M)
    assert line is not None, f"{forgery} has no //! allow: line"
    return line.group(1).split()


def forged_source(forgery: str, lab: Lab, tmp_path: Path) -> Path:
    report = "KTAP version 1\n" + f"1..{len(lab.tests)}\n" + "".join(
        f"ok {i} {t.name}\n" for i, t in enumerate(lab.tests, 1))
    text = (FORGE / forgery).read_text().replace("@MODULE@", lab.module)
    path = tmp_path / f"{lab.module}.rs"
    path.write_text(text.replace("@REPORT@", report.replace("\n", "\\n")))
    return path


def relaxed(lab: Lab, rules: list[str], tmp_path: Path) -> Path:
    """A copy of the lab whose lab.toml allows `rules`."""
    copy = tmp_path / lab.root.name
    shutil.copytree(lab.root, copy)
    with (copy / "lab.toml").open("a") as toml:
        toml.write(f"\n[source_policy]\nallow = {rules!r}\n".replace("'", '"'))
    return copy


_SKELETON_SCORES: dict[str, float] = {}


def skeleton_score(lab_id: str, pair, tmp_path: Path) -> float:
    """What the lab's empty skeleton scores (graded once per lab)."""
    if lab_id not in _SKELETON_SCORES:
        lab = Lab.load(LABS / lab_id)
        source = tmp_path / "skeleton" / lab.source.name
        source.parent.mkdir()
        source.write_text(lab.skeleton())
        result = check.run(lab.root, source, pair)
        assert result.build.ok, result.build.log
        _SKELETON_SCORES[lab_id] = result.score
    return _SKELETON_SCORES[lab_id]


@pytest.mark.parametrize("lab_id", TARGETS)
@pytest.mark.parametrize("forgery", FORGERIES)
def test_the_policy_refuses_what_a_forgery_needs(forgery: str, lab_id: str, pair,
                                                 tmp_path: Path) -> None:
    lab = Lab.load(LABS / lab_id)
    result = check.run(lab.root, forged_source(forgery, lab, tmp_path), pair)
    rules = needs(forgery)
    if rules:
        codes = {d.code for d in result.build.errors}
        assert not result.build.ok and {f"kdlab::{r}" for r in rules} <= codes, codes
        assert result.score == 0
    else:
        assert result.score <= skeleton_score(lab_id, pair, tmp_path), result.summary()


@pytest.mark.parametrize("lab_id", TARGETS)
@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forgery_scores_no_more_than_the_skeleton(forgery: str, lab_id: str, pair,
                                                    tmp_path: Path) -> None:
    lab = Lab.load(LABS / lab_id)
    copy = relaxed(lab, needs(forgery), tmp_path)
    result = check.run(copy, forged_source(forgery, lab, tmp_path), pair)
    assert result.build.ok, result.build.log[-3000:]
    assert result.score <= skeleton_score(lab_id, pair, tmp_path), result.summary()
    verdict = result.to_json()["channel"]
    if forgery in ON_CHANNEL:
        assert not verdict["trusted"], (verdict, result.summary())
        # The student and the instructor are told (summary, batch record flags).
        assert "not trusted: " in result.summary()
        assert any(f.startswith("result channel: ") for f in integrity_flags(result.to_json()))
    else:
        assert verdict["trusted"], verdict
