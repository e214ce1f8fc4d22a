"""The device-access trace end to end: real QEMU, real kernel pair, the PCI lab."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from grader import check, lab
from tests import variants
from tests.conftest import LABS

pytestmark = pytest.mark.e2e

PCI_LAB = LABS / "03-pci-registers"


def test_pci_solution_trace_names_registers_and_fields(pair) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "grader.cli", "--kernel", str(pair.root), "check", str(PCI_LAB),
         "--source", str(PCI_LAB / "pci_lab.rs"), "--json"],
        capture_output=True, text=True, timeout=300,
    )
    result = json.loads(proc.stdout)
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
