"""What the driver did to the device, register by register, from QEMU's own trace.

QEMU records every MMIO/port access (`memory_region_ops_read/write`: absolute
address, value, size, region name), every PCI BAR mapping
(`pci_update_mappings_add`: bus:slot.fn, BAR, base, size) and every config-space
access (`pci_cfg_read/write`: device name, offset, value). This module filters
those to the lab's devices, makes addresses relative to each BAR, names each
access with the lab's register map (registers.toml: one description per device,
shared with the notebook's register view) and merges the byte-wise pieces of a
wider access (pci-testdev only takes byte accesses) back into one. Configuration
space offsets are named from the standard PCI header and the capabilities the
trace shows the kernel walking (`CR COMMAND`, `CW MSI_FLAGS`), not `@0x3d`.

This evidence comes from the host, not the guest: a module cannot forge it.

Attribution, for display only. Every access also carries the step of the run it
happened in: `load` (insmod and probe), each guest test by name, then `after the
tests`. The guest's test runner marks each step by writing the step's number to
the host bridge's INTERRUPT_LINE (config byte 0x3c of 00:00.0, a scratch byte);
QEMU records that write in the same trace, in order with the device accesses, so
no clock alignment is needed. The student's module is ring 0 and could write the
same byte, so a step name may lie: it is for drawing the timeline and grouping
the list, and no grade, trace check or message of a check rests on it.
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import KdlabError

#: The QEMU trace events the engine turns on for labs that have register maps.
EVENTS = ("memory_region_ops_read", "memory_region_ops_write", "pci_update_mappings_add",
          "pci_cfg_read", "pci_cfg_write")
#: Lines read from a trace at most (a flood of accesses must not exhaust the grader).
MAX_LINES = 2_000_000

MEM_OP = re.compile(r"memory_region_ops_(?P<op>read|write) cpu -?\d+ mr 0x[0-9a-f]+ "
                    r"addr 0x(?P<addr>[0-9a-f]+) value 0x(?P<value>[0-9a-f]+) size (?P<size>\d+) "
                    r"name '(?P<region>[^']*)'")
MAPPING = re.compile(r"pci_update_mappings_add (?:d=0x[0-9a-f]+ )?(?:(?P<dev>\S+) )?"
                     r"(?P<bdf>[0-9a-f]{2}:[0-9a-f]{2}\.\d) "
                     r"(?P<bar>\d+),0x(?P<base>[0-9a-f]+)\+0x(?P<size>[0-9a-f]+)")
#: The runner's step marks (see the module docstring): `pci_cfg_write mch 00:00.0 @0x3c <- N`.
STEP_MARK = re.compile(r"pci_cfg_write \S+ 00:00\.0 @0x3c <- 0x(?P<value>[0-9a-f]+)")
#: The step mark the runner writes after its last test.
TESTS_OVER = 0xFF
#: Config-space accesses through the legacy ports: their sizes (QEMU's `pci_cfg_*`
#: events do not carry one) are on the port access just before a write, just after a read.
CONF_DATA = "pci-conf-data"
CFG_OP = re.compile(r"pci_cfg_(?P<op>read|write) (?P<dev>\S+) (?P<bdf>[0-9a-f]{2}:\d{2}\.\d) "
                    r"@0x(?P<offset>[0-9a-f]+) (?:->|<-) 0x(?P<value>[0-9a-f]+)")


#: The standard PCI configuration header (type 0): offset -> (name, bytes).
PCI_HEADER: dict[int, tuple[str, int]] = {
    0x00: ("VENDOR_ID", 2), 0x02: ("DEVICE_ID", 2), 0x04: ("COMMAND", 2), 0x06: ("STATUS", 2),
    0x08: ("REVISION_ID", 1), 0x09: ("CLASS_PROG", 1), 0x0A: ("CLASS_DEVICE", 2),
    0x0C: ("CACHE_LINE_SIZE", 1), 0x0D: ("LATENCY_TIMER", 1), 0x0E: ("HEADER_TYPE", 1),
    0x0F: ("BIST", 1), 0x10: ("BAR0", 4), 0x14: ("BAR1", 4), 0x18: ("BAR2", 4),
    0x1C: ("BAR3", 4), 0x20: ("BAR4", 4), 0x24: ("BAR5", 4), 0x28: ("CARDBUS_CIS", 4),
    0x2C: ("SUBSYSTEM_VENDOR_ID", 2), 0x2E: ("SUBSYSTEM_ID", 2), 0x30: ("ROM_ADDRESS", 4),
    0x34: ("CAPABILITY_LIST", 1), 0x3C: ("INTERRUPT_LINE", 1), 0x3D: ("INTERRUPT_PIN", 1),
    0x3E: ("MIN_GNT", 1), 0x3F: ("MAX_LAT", 1),
}
#: Registers of the common capabilities (Linux's PCI_* names): id -> (offset in the
#: capability -> name). MSI's data register moves with its 64-bit flag (see _msi_names).
CAPABILITIES: dict[int, dict[int, str]] = {
    0x01: {0: "PM_CAP", 2: "PM_PMC", 4: "PM_CTRL"},
    0x05: {0: "MSI_CAP", 2: "MSI_FLAGS", 4: "MSI_ADDRESS_LO"},
    0x09: {0: "VNDR_CAP"},
    0x10: {0: "EXP_CAP", 2: "EXP_FLAGS", 4: "EXP_DEVCAP", 8: "EXP_DEVCTL", 0xA: "EXP_DEVSTA",
           0xC: "EXP_LNKCAP", 0x10: "EXP_LNKCTL", 0x12: "EXP_LNKSTA"},
    0x11: {0: "MSIX_CAP", 2: "MSIX_FLAGS", 4: "MSIX_TABLE", 8: "MSIX_PBA"},
}
MSI_64BIT = 0x80  # in MSI_FLAGS


class RegisterMapError(KdlabError):
    """registers.toml is malformed; the message names the device and register."""


@dataclass(frozen=True)
class Field:
    """A bit field of a register: bits msb..lsb, optionally with named values."""

    name: str
    msb: int
    lsb: int
    description: str = ""
    values: dict[int, str] = field(default_factory=dict)

    def extract(self, value: int) -> int:
        return (value >> self.lsb) & ((1 << (self.msb - self.lsb + 1)) - 1)


@dataclass(frozen=True)
class Register:
    """One register of a device BAR."""

    name: str
    offset: int
    width: int
    access: str = "rw"
    description: str = ""
    fields: tuple[Field, ...] = ()
    count: int = 1  # a register array (`NAME(u8)[32]`): `count` registers...
    stride: int = 0  # ...`stride` bytes apart (default: the register's size)

    @property
    def size(self) -> int:
        return self.width // 8

    @property
    def label(self) -> str:
        """The name as register maps show it: `NAME[32]` for an array."""
        return f"{self.name}[{self.count}]" if self.count > 1 else self.name

    @property
    def span(self) -> int:
        """Bytes covered by the register (all elements of an array)."""
        return (self.count - 1) * (self.stride or self.size) + self.size

    def locate(self, offset: int) -> tuple[int, int] | None:
        """(array index, byte inside the element) of `offset`, None when not inside."""
        if not self.offset <= offset < self.offset + self.span:
            return None
        index, byte = divmod(offset - self.offset, self.stride or self.size)
        return (index, byte) if byte < self.size else None

    def decode(self, value: int) -> dict[str, int | str]:
        """Field name -> value (or the value's name) for a full-width value."""
        decoded: dict[str, int | str] = {}
        for f in self.fields:
            raw = f.extract(value)
            decoded[f.name] = f.values.get(raw, raw)
        return decoded


@dataclass(frozen=True)
class DeviceMap:
    """The register map of one BAR of one device, as a lab describes it."""

    name: str
    region: str
    bar: int
    registers: tuple[Register, ...]

    def register_at(self, offset: int) -> tuple[Register, int, int] | None:
        """The register covering `offset`, the array index and the byte inside it."""
        for reg in self.registers:
            if found := reg.locate(offset):
                return reg, *found
        return None

    def register(self, name: str) -> Register | None:
        return next((r for r in self.registers if r.name == name), None)


def load_register_maps(lab_root: Path) -> list[DeviceMap]:
    """The lab's registers.toml, or [] when the lab has no device."""
    path = lab_root / "registers.toml"
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text())
        devices = []
        for dev in data.get("devices", []):
            registers = []
            for reg in dev.get("registers", []):
                fields = tuple(
                    Field(f["name"], int(f["bits"][0]), int(f["bits"][-1]),
                          f.get("description", ""),
                          {int(k, 0): v for k, v in f.get("values", {}).items()})
                    for f in reg.get("fields", [])
                )
                registers.append(Register(reg["name"], int(reg["offset"]), int(reg["width"]),
                                          reg.get("access", "rw"), reg.get("description", ""),
                                          fields, int(reg.get("count", 1)),
                                          int(reg.get("stride", 0))))
            devices.append(DeviceMap(dev["name"], dev["region"], int(dev.get("bar", 0)),
                                     tuple(registers)))
        return devices
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, IndexError) as err:
        raise RegisterMapError(f"{path}: {err}") from err


@dataclass
class ConfigSpace:
    """Names of one device's configuration registers, learned while reading the trace.

    The header is standard; capabilities are found where the trace shows them: a
    read of CAPABILITY_LIST, or of a capability's ID and next pointer, says which
    capability starts where (the kernel walks the list at enumeration, before any
    driver runs).
    """

    capabilities: dict[int, int] = field(default_factory=dict)  # offset -> capability id
    msi_flags: int = 0

    def learn(self, offset: int, value: int) -> None:
        """Take what a config read returned into account."""
        if offset == 0x34 and value & 0xFC:
            self.capabilities.setdefault(value & 0xFC, -1)
        elif offset in self.capabilities:
            self.capabilities[offset] = value & 0xFF
            if (following := (value >> 8) & 0xFC) >= 0x40:
                self.capabilities.setdefault(following, -1)
        elif self.name(offset) == "MSI_FLAGS":
            self.msi_flags = value

    def _msi_names(self) -> dict[int, str]:
        if self.msi_flags & MSI_64BIT:
            return {8: "MSI_ADDRESS_HI", 0xC: "MSI_DATA_64", 0x10: "MSI_MASK_64"}
        return {8: "MSI_DATA_32", 0xC: "MSI_MASK_32"}

    def name(self, offset: int) -> str:
        """The register at `offset`: `COMMAND`, `MSI_FLAGS`, else `@0x41`."""
        if offset in PCI_HEADER:
            return PCI_HEADER[offset][0]
        for start, cap in self.capabilities.items():
            names = {**CAPABILITIES.get(cap, {}), **(self._msi_names() if cap == 5 else {})}
            if offset - start in names:
                return names[offset - start]
        return f"@0x{offset:x}"

    def span(self, offset: int, size: int) -> str:
        """The registers one access of `size` bytes covers: `VENDOR_ID..DEVICE_ID`."""
        first = self.name(offset)
        width = PCI_HEADER.get(offset, ("", size))[1]
        if size <= width:
            return first
        last = next((PCI_HEADER[o][0] for o in range(offset + size - 1, offset, -1)
                     if o in PCI_HEADER), first)
        return first if last == first else f"{first}..{last}"


@dataclass
class Access:
    """One access of the driver to a device, as the student should read it."""

    op: str  # "R", "W" (BAR) or "CR", "CW" (config space)
    device: str
    offset: int
    size: int
    value: int
    register: str = ""
    part: str = ""  # "[1]": 2nd byte of a register read bytewise; "[5]": element 5 of an array
    fields: dict[str, int | str] = field(default_factory=dict)
    step: int = 0  # index in Trace.steps: the step of the run (display only, see above)

    def text(self) -> str:
        """`W DMA_CMD = 0x5 (start=1 irq=1)`, `R COUNT = 0x1`, `CR DEVICE_ID = 0x5`."""
        where = f"{self.register}{self.part}" if self.register else f"@0x{self.offset:x}"
        shown = " ".join(f"{k}={v}" for k, v in self.fields.items())
        return f"{self.op} {where} = 0x{self.value:x}" + (f" ({shown})" if shown else "")

    def to_json(self) -> dict:
        return {"op": self.op, "device": self.device, "offset": self.offset, "size": self.size,
                "value": self.value, "register": self.register, "part": self.part,
                "fields": self.fields, "step": self.step, "text": self.text()}


@dataclass(frozen=True)
class Step:
    """A step of the run, as the runner marked it: `load`, a test's name, `after the tests`."""

    name: str
    kind: str  # "load", "test" or "end"
    first: int  # index of its first access (== the next step's first when it made none)


@dataclass
class Trace:
    """The decoded accesses of one run, and the steps they were made in."""

    accesses: list[Access]
    lines_read: int = 0
    cut: bool = False
    steps: list[Step] = field(default_factory=lambda: [Step("load", "load", 0)])
    #: Trace checks' verdicts on these accesses (grader.evidence.tracecheck), kept because grading
    #: and the timeline both ask and a trace may hold two million accesses.
    verdicts: dict = field(default_factory=dict, repr=False, compare=False)

    def step_ranges(self) -> list[tuple[Step, int, int]]:
        """Each step with the index range [start, end) of its accesses."""
        ends = [s.first for s in self.steps[1:]] + [len(self.accesses)]
        return [(s, s.first, end) for s, end in zip(self.steps, ends, strict=True)]

    def to_json(self, limit: int = 2000) -> dict:
        return {"accesses": [a.to_json() for a in self.accesses[:limit]],
                "total": len(self.accesses), "shown": min(limit, len(self.accesses)),
                "cut": self.cut,
                "steps": [{"name": s.name, "kind": s.kind, "first": start, "count": end - start}
                          for s, start, end in self.step_ranges()]}


def _merge(accesses: list[Access], devices: dict[str, DeviceMap]) -> list[Access]:
    """Join byte-wise pieces of one register access (same op, ascending bytes) into one."""
    merged: list[Access] = []
    i = 0
    while i < len(accesses):
        first = accesses[i]
        reg = devices[first.device].register(first.register) if first.register else None
        if reg is None or reg.count > 1 or first.part != "[0]" or first.size >= reg.size:
            merged.append(first)
            i += 1
            continue
        value, size, j = first.value, first.size, i + 1
        while (j < len(accesses) and size < reg.size and accesses[j].op == first.op
               and accesses[j].register == first.register
               and accesses[j].offset == first.offset + size):
            value |= accesses[j].value << (8 * size)
            size += accesses[j].size
            j += 1
        if size == reg.size:
            merged.append(Access(first.op, first.device, first.offset, size, value, reg.name, "",
                                 reg.decode(value), first.step))
            i = j
        else:
            merged.append(first)
            i += 1
    return merged


def _step(value: int, tests: Sequence[str]) -> tuple[str, str]:
    """(name, kind) of the step the runner marked with `value`."""
    if value == TESTS_OVER:
        return "after the tests", "end"
    if 1 <= value <= len(tests):
        return tests[value - 1], "test"
    return f"mark {value}", "test"


def decode(trace_file: Path | None, devices: list[DeviceMap], tests: Sequence[str] = ()) -> Trace:
    """Read QEMU's trace and keep the named accesses to the lab's devices.

    `tests` are the runner's tests in its order (lab.toml's), which names the steps.
    """
    if trace_file is None or not trace_file.is_file() or not devices:
        return Trace([])
    by_region = {d.region: d for d in devices}
    by_name = {d.name: d for d in devices}
    names: dict[str, str] = {}  # bus:slot.fn -> QEMU device name (from config accesses)
    bars: list[tuple[str, int, int, int]] = []  # (bdf, bar, base, size)
    mapped: set[str] = set()  # devices a driver has enabled (config accesses count after that)
    config = {d.name: ConfigSpace() for d in devices}
    steps: list[tuple[str, str]] = [("load", "load")]
    raw: list[Access] = []
    write_size = 0  # of the config-data port write (QEMU traces it just before the config write)
    reading: Access | None = None  # a config read whose size the next port read gives
    lines = 0
    cut = False
    with trace_file.open(errors="replace") as stream:
        for line in stream:
            lines += 1
            if lines > MAX_LINES:
                cut = True
                break
            if (m := MEM_OP.search(line)) and m["region"] in by_region:
                dev = by_region[m["region"]]
                addr = int(m["addr"], 16)
                offset = next((addr - base for bdf, bar, base, size in bars
                               if names.get(bdf) == dev.name and bar == dev.bar
                               and base <= addr < base + size), addr)
                size = int(m["size"])
                # QEMU prints the value sign-extended to 64 bits; keep the accessed bytes.
                value = int(m["value"], 16) & ((1 << (8 * size)) - 1)
                access = Access("R" if m["op"] == "read" else "W", dev.name, offset, size, value,
                                step=len(steps) - 1)
                if found := dev.register_at(offset):
                    reg, index, byte = found
                    access.register = reg.name
                    element = f"[{index}]" if reg.count > 1 else ""
                    if byte or access.size < reg.size:
                        access.part = f"{element}.{byte}" if element else f"[{byte}]"
                    else:
                        access.part = element
                        access.fields = reg.decode(access.value)
                raw.append(access)
            elif m and m["region"] == CONF_DATA:
                if m["op"] == "write":
                    write_size = int(m["size"])
                elif reading is not None:
                    reading.size = int(m["size"])
                    reading.register = config[reading.device].span(reading.offset, reading.size)
                reading = None
            elif m := STEP_MARK.search(line):
                steps.append(_step(int(m["value"], 16), tests))
            elif m := MAPPING.search(line):
                bars.append((m["bdf"], int(m["bar"]), int(m["base"], 16), int(m["size"], 16)))
                mapped.add(m["bdf"])
                if m["dev"]:
                    names[m["bdf"]] = m["dev"]
            elif m := CFG_OP.search(line):
                names[m["bdf"]] = m["dev"]
                reading = None
                if m["dev"] not in by_name:
                    continue
                offset, value = int(m["offset"], 16), int(m["value"], 16)
                space = config[m["dev"]]
                if m["op"] == "read":
                    space.learn(offset, value)
                if m["bdf"] in mapped:
                    size = write_size if m["op"] == "write" else 0
                    access = Access("CR" if m["op"] == "read" else "CW", m["dev"], offset, size,
                                    value, space.span(offset, size), step=len(steps) - 1)
                    raw.append(access)
                    reading = access if m["op"] == "read" else None
    accesses = _merge(raw, by_name)
    firsts = [bisect_left(accesses, i, key=lambda a: a.step) for i in range(len(steps))]
    return Trace(accesses, lines, cut,
                 [Step(name, kind, first) for (name, kind), first in zip(steps, firsts,
                                                                          strict=True)])
