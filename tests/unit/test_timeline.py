"""Steps, named config space, grouped accesses and the timeline picture, on recorded traces.

The traces are real QEMU output of `kdlab check` runs (tests/data/trace/README.md),
with the test runner's step marks; the big polling traces are built from real
accesses repeated, as a driver hammering a register produces them.
"""

# ruff: noqa: RUF001 (the lists show the multiplication sign, as students read it)
from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from grader.batch import report as batch_report
from grader.course import render as nbrender
from grader.evidence import timeline
from grader.evidence.trace import Access, Trace, decode
from grader.lab.model import Lab
from tests.conftest import LABS

DATA = Path(__file__).parents[1] / "data" / "trace"
PCI_LAB = Lab.load(LABS / "03-pci-registers")
EDU_LAB = Lab.load(LABS / "05-edu-capstone")


def _decode(lab: Lab, name: str) -> Trace:
    return decode(DATA / name, list(lab.register_maps), [t.name for t in lab.tests])


@pytest.fixture(scope="module")
def pci() -> Trace:
    return _decode(PCI_LAB, "pci-lab-solution.trace")


@pytest.fixture(scope="module")
def edu() -> Trace:
    return _decode(EDU_LAB, "edu-solution.trace")


def _texts(trace: Trace, step: str) -> list[str]:
    ranges = {s.name: (start, end) for s, start, end in trace.step_ranges()}
    start, end = ranges[step]
    return [a.text() for a in trace.accesses[start:end]]


def test_steps_are_load_each_test_by_name_then_after_the_tests(pci: Trace) -> None:
    assert [s.name for s in pci.steps] == ["load", *(t.name for t in PCI_LAB.tests),
                                           "after the tests"]
    assert [a.step for a in pci.accesses] == sorted(a.step for a in pci.accesses)
    # probe selects test 0 during insmod; unbind (in its test) writes TEST = 0xff
    assert "W TEST = 0x0 (test=0)" in _texts(pci, "load")
    assert "W TEST = 0xff (test=255)" in _texts(pci, "unbind_quiets_device")
    assert "W TEST = 0xff (test=255)" not in _texts(pci, "device_state_matches")
    assert _texts(pci, "config_ids") == []  # it reads debugfs, not the device


def test_a_trace_without_marks_is_all_load(tmp_path: Path) -> None:
    old = _decode(PCI_LAB, "pci-testdev.trace")
    assert [s.name for s in old.steps] == ["load"] and old.accesses


def test_config_space_is_named_from_the_pci_header_and_capabilities(pci: Trace, edu: Trace
                                                                   ) -> None:
    texts = [a.text() for a in pci.accesses]
    assert "CR INTERRUPT_PIN = 0x0" in texts
    assert "CR VENDOR_ID..DEVICE_ID = 0x51b36" in texts  # one dword read of both
    assert not any("@0x" in t for t in texts if t.startswith("C"))
    edu_texts = [a.text() for a in edu.accesses]
    # the MSI capability, found where the kernel's walk of the capability list read it
    assert "CW MSI_ADDRESS_LO = 0xfee00000" in edu_texts
    assert any(t.startswith("CW MSI_DATA_64 = ") for t in edu_texts)
    assert "CW COMMAND = 0x406" in edu_texts


def test_runs_collapse_into_groups(pci: Trace, edu: Trace) -> None:
    texts = [g.text for g in timeline.groups(pci)]
    assert 'R NAME[0..31] → "mmio-no-eventfd"' in texts
    assert "W @0x800 = 0xfa × 3" in texts
    assert sum(g.count for g in timeline.groups(pci)) == len(pci.accesses)
    loops = [g.text for g in timeline.groups(edu) if g.text.startswith("(")]
    assert any(t.startswith("(W STATUS, W FACTORIAL, R IRQ_STATUS, W IRQ_ACK, R STATUS, "
                            "R FACTORIAL) × ") for t in loops), loops


def _polling(reads: int) -> Trace:
    """A driver that selects test 0, then polls COUNT `reads` times (real decoded accesses)."""
    real = _decode(PCI_LAB, "pci-lab-solution.trace")
    select = next(a for a in real.accesses if a.text() == "W TEST = 0x0 (test=0)")
    count = next(a for a in real.accesses if a.register == "COUNT" and a.op == "R")
    return Trace([select, *[count] * reads])


def test_polling_reads_are_one_group() -> None:
    assert [g.text for g in timeline.groups(_polling(1_204_331))] == [
        "W TEST = 0x0 (test=0)", "R COUNT = 0x3 × 1,204,331"]
    varying = Trace([Access("R", "edu", 0x20, 4, v, "STATUS") for v in (1, 1, 1, 1, 0)])
    assert timeline.groups(varying)[0].text == "R STATUS × 5 (polling) = 0x1 … 0x0"


def test_timeline_cells_account_for_every_access(edu: Trace) -> None:
    data = timeline.timeline(edu, list(EDU_LAB.register_maps))
    assert data is not None
    assert sum(cell[3] for cell in data["cells"]) == len(edu.accesses)
    assert len(data["columns"]) <= timeline.COLUMNS
    assert data["rows"][:3] == ["ID", "LIVENESS", "FACTORIAL"]
    assert "config MSI_FLAGS" in data["rows"]
    widths = [w for _, w in data["steps"]]
    assert abs(sum(widths) - 1) < 1e-4 and min(widths) > 0


def test_a_failing_check_marks_its_accesses_and_register() -> None:
    bug = _decode(PCI_LAB, "pci-lab-writes-count.trace")
    data = timeline.trace_json(bug, list(PCI_LAB.register_maps), PCI_LAB.trace_checks)
    marks = data["timeline"]["marks"]
    assert [m["check"] for m in marks] == ["never_writes_count"]
    writes = [i for i, a in enumerate(bug.accesses) if a.op == "W" and a.register == "COUNT"]
    assert [i for i, _ in marks[0]["accesses"]] == writes
    assert [data["timeline"]["rows"][r] for r in marks[0]["registers"]] == ["COUNT"]
    good = timeline.trace_json(_decode(PCI_LAB, "pci-lab-solution.trace"),
                               list(PCI_LAB.register_maps), PCI_LAB.trace_checks)
    assert good["timeline"]["marks"] == []


def test_check_json_carries_steps_groups_and_timeline(pci: Trace) -> None:
    data = timeline.trace_json(pci, list(PCI_LAB.register_maps), PCI_LAB.trace_checks)
    assert data["steps"][0] == {"name": "load", "kind": "load", "first": 0,
                                "count": pci.step_ranges()[0][2]}
    assert all("step" in a for a in data["accesses"])
    assert data["groups_total"] == len(data["groups"]) < len(pci.accesses) / 3


def _svg(html: str) -> str:
    found = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert found, html[:300]
    return base64.b64decode(found[1]).decode()


def test_the_picture_names_steps_registers_and_the_failed_check() -> None:
    bug = _decode(PCI_LAB, "pci-lab-writes-count.trace")
    data = timeline.trace_json(bug, list(PCI_LAB.register_maps), PCI_LAB.trace_checks)
    picture = _svg(timeline.figure_html(data))
    for text in ("unbind_quiets_device", "load (", "COUNT", "NAME[32]", "config COMMAND",
                 "failed check: never_writes_count"):
        assert text in picture, text
    assert timeline.HIGHLIGHT in picture


def test_two_million_polling_reads_stay_a_small_picture() -> None:
    data = timeline.trace_json(_polling(2_000_000), list(PCI_LAB.register_maps))
    html = timeline.figure_html(data)
    assert len(html) < 1_000_000
    assert "2,000,001 device accesses" in _svg(html)
    assert data["groups"][1]["text"] == "R COUNT = 0x3 × 2,000,000"


def test_notebook_and_feedback_page_show_picture_and_groups(pci: Trace) -> None:
    data = timeline.trace_json(pci, list(PCI_LAB.register_maps), PCI_LAB.trace_checks)
    for html in (nbrender.trace_html(data), batch_report.trace_section({"trace": data})):
        assert 'class="kdlab-timeline"' in html
        assert "── unbind_quiets_device (" in html and "W @0x800 = 0xfa × 3" in html


def test_records_from_before_the_timeline_still_show_their_list() -> None:
    old = {"accesses": [{"text": "W TEST = 0x0"}], "total": 1}
    assert "W TEST = 0x0" in nbrender.trace_html(old)
    assert "kdlab-timeline" not in nbrender.trace_html(old)
    assert batch_report.trace_section({"trace": old}) == ""
