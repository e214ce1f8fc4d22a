"""Lab folders: metadata validation and skeleton generation from solution regions."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.engine.kernel import config_mismatches
from grader.lab.model import Lab, LabError, discover, strip_solutions
from tests.conftest import LABS

REGION = (
    "fn init() -> Result<Self> {\n"
    "    // BEGIN SOLUTION\n"
    "    //> Err(ENODEV)\n"
    "    let x = compute();\n"
    "    Ok(Self { x })\n"
    "    // END SOLUTION\n"
    "}\n"
)


def test_regions_become_todo_plus_stub() -> None:
    assert strip_solutions(REGION) == (
        "fn init() -> Result<Self> {\n    // TODO: your code here\n    Err(ENODEV)\n}\n"
    )


def test_solved_keeps_the_solution_without_markers_or_stubs() -> None:
    assert strip_solutions(REGION, keep_solution=True) == (
        "fn init() -> Result<Self> {\n    let x = compute();\n    Ok(Self { x })\n}\n"
    )


@pytest.mark.parametrize(("source", "problem"), [
    ("// BEGIN SOLUTION\nx\n", "never closed"),
    ("x\n// END SOLUTION\n", "without BEGIN"),
    ("// BEGIN SOLUTION\n// BEGIN SOLUTION\n// END SOLUTION\n", "inside the region"),
])
def test_broken_regions_name_the_line(source: str, problem: str) -> None:
    with pytest.raises(LabError, match=problem):
        strip_solutions(source, "lab.rs")


def test_every_lab_in_the_repo_loads_and_has_a_skeleton() -> None:
    labs = discover(LABS)
    assert labs and labs[0].id == "00-hello"
    for lab in labs:
        assert lab.max_score > 0
        skeleton = lab.skeleton()
        assert "BEGIN SOLUTION" not in skeleton and "//>" not in skeleton


def test_malformed_lab_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text('title = "x"\nmodule = "Bad-Name"\n[[tests]]\nname="a"\n'
                                       "points=1\n")
    (tmp_path / "guest").mkdir()
    (tmp_path / "guest" / "tests.sh").write_text("")
    with pytest.raises(LabError, match="module name"):
        Lab.load(tmp_path)
    (tmp_path / "lab.toml").write_text('title = "x"\n')
    with pytest.raises(LabError, match=r"lab\.toml: missing or malformed field"):
        Lab.load(tmp_path)


def test_config_mismatches_report_symbols_that_did_not_apply() -> None:
    fragment = "CONFIG_RUST=y\nCONFIG_PCI=y\n# CONFIG_INPUT is not set\nCONFIG_NR=4\n"
    config = "CONFIG_RUST=y\n# CONFIG_PCI is not set\nCONFIG_INPUT=y\nCONFIG_NR=2\n"
    assert config_mismatches(fragment, config) == [
        "CONFIG_PCI: wanted y, got n",
        "CONFIG_INPUT: wanted n, got y",
        "CONFIG_NR: wanted 4, got 2",
    ]
