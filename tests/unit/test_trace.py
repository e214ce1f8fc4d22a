"""Device-access trace decoding and host-side checks, on a recorded QEMU trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.evidence.trace import Access, DeviceMap, Field, Register, Trace, decode
from grader.evidence.tracecheck import TraceCheck, TraceCheckError

DATA = Path(__file__).parents[1] / "data" / "trace"

TESTDEV = DeviceMap("pci-testdev", "pci-testdev-mmio", 0, (
    Register("TEST", 0x0, 8, fields=(Field("test", 7, 0),)),
    Register("OFFSET", 0x4, 32, "r", fields=(Field("offset", 31, 0),)),
    Register("DATA", 0x8, 8, fields=(Field("data", 7, 0),)),
    Register("COUNT", 0xC, 32, "r", fields=(Field("count", 31, 0),)),
    Register("NAME", 0x10, 8, "r", count=32, stride=1),
))
EDU = DeviceMap("edu", "edu-mmio", 0, (
    Register("DMA_CMD", 0x98, 32, fields=(
        Field("start", 0, 0), Field("dir", 1, 1, values={0: "to_device", 1: "to_ram"}),
        Field("irq", 2, 2))),
    Register("IRQ_RAISE", 0x60, 32),
    Register("IRQ_ACK", 0x64, 32),
))


@pytest.fixture(scope="module")
def recorded() -> Trace:
    return decode(DATA / "pci-testdev.trace", [TESTDEV])


def test_offsets_are_relative_to_the_bar_and_named(recorded: Trace) -> None:
    texts = [a.text() for a in recorded.accesses]
    assert "W TEST = 0x0 (test=0)" in texts
    assert "R OFFSET = 0x800 (offset=2048)" in texts
    # the BAR sits at 0x8000000 in the guest; every register offset is below 4 KiB
    assert all(a.offset < 0x1000 for a in recorded.accesses if a.op in ("R", "W"))


def test_bytewise_pieces_merge_into_one_register_access(recorded: Trace) -> None:
    counts = [a for a in recorded.accesses if a.register == "COUNT"]
    assert counts and all(a.size == 4 and a.part == "" for a in counts)
    assert counts[0].fields == {"count": 3}


def test_register_arrays_name_each_element(recorded: Trace) -> None:
    name = [a.text() for a in recorded.accesses if a.register == "NAME"][:3]
    assert name == ["R NAME[0] = 0x6d", "R NAME[1] = 0x6d", "R NAME[2] = 0x69"]


def test_values_are_masked_to_the_access_size(recorded: Trace) -> None:
    data = next(a for a in recorded.accesses if a.register == "DATA")
    assert data.value == 0xFA  # QEMU prints 0xfffffffffffffffa for this byte read


def test_other_devices_and_regions_are_dropped(recorded: Trace) -> None:
    assert {a.device for a in recorded.accesses} == {"pci-testdev"}


def test_config_space_accesses_after_the_driver_enabled_the_device(recorded: Trace) -> None:
    config = [a for a in recorded.accesses if a.op in ("CR", "CW")]
    assert any(a.offset == 0x0 and a.value == 0x51B36 for a in config)


def test_missing_trace_file_decodes_to_nothing(tmp_path: Path) -> None:
    assert decode(tmp_path / "absent", [TESTDEV]).accesses == []


def _trace(*accesses: tuple[str, str, int]) -> Trace:
    out = []
    for op, reg, value in accesses:
        register = EDU.register(reg)
        assert register is not None
        out.append(Access(op, "edu", register.offset, 4, value, reg, "", register.decode(value)))
    return Trace(out)


def _check(**rule) -> TraceCheck:
    return TraceCheck.from_toml({"name": "c", "points": 1, **rule}, [EDU, TESTDEV])


def test_field_values_decode_with_names() -> None:
    trace = _trace(("W", "DMA_CMD", 0b111))
    assert trace.accesses[0].text() == "W DMA_CMD = 0x7 (start=1 dir=to_ram irq=1)"
    assert _check(must="W DMA_CMD dir=to_ram").evaluate(trace)[0]
    assert not _check(must="W DMA_CMD dir=to_device").evaluate(trace)[0]


def test_must_and_never_name_the_register() -> None:
    trace = _trace(("W", "IRQ_RAISE", 1))
    ok, message = _check(must="W IRQ_ACK").evaluate(trace)
    assert not ok and "IRQ_ACK" in message
    ok, message = _check(never="W IRQ_RAISE").evaluate(trace)
    assert not ok and "W IRQ_RAISE" in message and "#1" in message
    assert _check(never="W IRQ_ACK").evaluate(trace) == (True, "")
    # a driver that never touched the device earns nothing from a "never" rule
    ok, message = _check(never="W IRQ_ACK").evaluate(Trace([]))
    assert not ok and "never accessed" in message


def test_ranges_accept_every_documented_value() -> None:
    """A device that documents a range as one meaning: any value in it satisfies the rule."""
    def writes(*values: int) -> Trace:
        test = TESTDEV.register("TEST")
        assert test is not None
        return Trace([Access("W", "pci-testdev", 0, 1, v, "TEST", "", test.decode(v))
                      for v in values])

    idle = TraceCheck.from_toml({"name": "idle", "must": "W TEST test=3..255"}, [TESTDEV])
    assert idle.evaluate(writes(3))[0] and idle.evaluate(writes(255))[0]
    ok, message = idle.evaluate(writes(0, 2))
    # TEST was written, so the message says with which values, not "must access TEST"
    assert not ok and "accessed TEST 2 time(s), never with test=3..255" in message
    assert "W TEST = 0x0" in message and "W TEST = 0x2" in message
    ok, message = idle.evaluate(Trace([]))
    assert not ok and "none to TEST" in message


def test_order_and_each_then() -> None:
    good = _trace(("W", "IRQ_RAISE", 1), ("W", "IRQ_ACK", 1), ("W", "IRQ_RAISE", 1),
                  ("W", "IRQ_ACK", 1))
    missed = _trace(("W", "IRQ_RAISE", 1), ("W", "IRQ_RAISE", 1), ("W", "IRQ_ACK", 1))
    each = _check(each="W IRQ_RAISE", then="W IRQ_ACK")
    assert each.evaluate(good) == (True, "")
    ok, message = each.evaluate(missed)
    assert not ok and "access #1" in message and "IRQ_ACK" in message
    assert "> #1 W IRQ_RAISE = 0x1" in message and "#3 W IRQ_ACK = 0x1" in message  # excerpt
    assert not each.evaluate(Trace([]))[0]  # nothing raised: the behaviour never happened
    order = _check(order=["W IRQ_RAISE", "W IRQ_ACK"])
    assert order.evaluate(good)[0]
    assert not order.evaluate(_trace(("W", "IRQ_ACK", 1), ("W", "IRQ_RAISE", 1)))[0]


@pytest.mark.parametrize("rule", [
    {"must": "X IRQ_ACK"}, {"must": "W NO_SUCH_REG"}, {"must": "W IRQ_ACK", "never": "R X"},
    {"order": ["W IRQ_ACK"]}, {"each": "W IRQ_RAISE"}, {"must": "W DMA_CMD start"},
])
def test_malformed_checks_are_rejected_with_the_check_name(rule: dict) -> None:
    with pytest.raises(TraceCheckError, match="trace check c"):
        _check(**rule)
