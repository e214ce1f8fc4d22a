"""The device-access trace end to end: real QEMU, real kernel pair, the PCI lab."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from grader.grading import check
from grader.lab import model as lab
from tests import variants
from tests.conftest import LABS

PCI_LAB = LABS / "03-pci-registers"


def _check_json(pair, lab_dir, source) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "grader.cli.main", "--kernel", str(pair.root), "check", str(lab_dir),
         "--source", str(source), "--json"],
        capture_output=True, text=True, timeout=300,
    )
    return json.loads(proc.stdout)


def test_pci_solution_trace_names_registers_and_fields(pair) -> None:
    result = _check_json(pair, PCI_LAB, PCI_LAB / "pci_lab.rs")
    assert result["score"] == result["max_score"], result["tests"]
    accesses = result["trace"]["accesses"]
    texts = [a["text"] for a in accesses]
    assert any(t.startswith("W TEST = 0x0 (test=") for t in texts), texts[:20]
    count = next(a for a in accesses if a["register"] == "COUNT" and a["op"] == "R")
    assert count["fields"] == {"count": 3} and count["size"] == 4  # four byte reads, merged
    assert all(a["offset"] < 0x1000 for a in accesses if a["op"] in ("R", "W"))
    checks = {t["name"]: t for t in result["tests"]}
    assert checks["idles_on_unbind"]["status"] == "pass"
    assert checks["never_writes_count"]["status"] == "pass"


def test_forged_ktap_scores_no_more_than_doing_nothing(pair, tmp_path) -> None:
    hello = lab.Lab.load(LABS / "00-hello")
    nothing = tmp_path / "hello.rs"
    nothing.write_text(hello.skeleton())
    forged = check.run(hello.root, variants.path("00-hello", "forged_ktap.rs", tmp_path), pair)
    idle = check.run(hello.root, nothing, pair)
    assert "ok 2 greets_count_times" in forged.kernel_log  # the forgery did reach the log
    assert forged.score <= idle.score


@pytest.mark.parametrize("lab_name", ["03-pci-registers", "05-edu-capstone"])
def test_solution_trace_is_attributed_to_named_steps_and_grouped(pair, lab_name) -> None:
    lab_dir = LABS / lab_name
    loaded = lab.Lab.load(lab_dir)
    result = _check_json(pair, lab_dir, loaded.source)
    trace = result["trace"]
    steps = [s["name"] for s in trace["steps"]]
    # the runner marked every test in the host's trace, in lab.toml's order
    assert steps == ["load", *(t.name for t in loaded.tests), "after the tests"], steps
    assert sum(s["count"] for s in trace["steps"]) == trace["total"]
    assert trace["steps"][0]["count"] > 0  # probe touched the device
    named = {s["name"] for s in trace["steps"] if s["count"]} - {"load"}
    assert named, trace["steps"]  # and some tests did too
    assert sum(g["count"] for g in trace["groups"]) == trace["total"]
    assert len(trace["groups"]) < trace["total"]
    assert not any(a["text"].startswith(("CR @", "CW @")) for a in trace["accesses"][:50])
    assert trace["timeline"]["marks"] == []  # every trace check passed
    if lab_name == "03-pci-registers":
        unbind = steps.index("unbind_quiets_device")
        assert any(g["step"] == unbind and g["text"].startswith("W TEST = 0xff")
                   for g in trace["groups"])


def test_a_failing_trace_check_is_highlighted_on_its_accesses(pair, tmp_path) -> None:
    result = _check_json(pair, PCI_LAB, variants.path("03-pci-registers",
                                                      "bug_writes_count.patch", tmp_path))
    checks = {t["name"]: t for t in result["tests"]}
    assert checks["never_writes_count"]["status"] == "fail"
    trace = result["trace"]
    (mark,) = trace["timeline"]["marks"]
    assert mark["check"] == "never_writes_count" and mark["accesses"]
    for index, _ in mark["accesses"]:
        access = trace["accesses"][index]
        assert (access["op"], access["register"]) == ("W", "COUNT")
