"""What the driver did to the device, register by register, from QEMU's own trace.

QEMU records every MMIO/port access (`memory_region_ops_read/write`: absolute
address, value, size, region name), every PCI BAR mapping
(`pci_update_mappings_add`: bus:slot.fn, BAR, base, size) and every config-space
access (`pci_cfg_read/write`: device name, offset, value). This module filters
those to the lab's devices, makes addresses relative to each BAR, names each
access with the lab's register map (registers.toml: one description per device,
shared with the notebook's register view) and merges the byte-wise pieces of a
wider access (pci-testdev only takes byte accesses) back into one.

This evidence comes from the host, not the guest: a module cannot forge it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

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
CFG_OP = re.compile(r"pci_cfg_(?P<op>read|write) (?P<dev>\S+) (?P<bdf>[0-9a-f]{2}:\d{2}\.\d) "
                    r"@0x(?P<offset>[0-9a-f]+) (?:->|<-) 0x(?P<value>[0-9a-f]+)")


class RegisterMapError(ValueError):
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

    def text(self) -> str:
        """`W DMA_CMD start=1 irq=1`, `R COUNT = 0x1`, `CR @0x2 = 0x5`."""
        if self.op in ("CR", "CW"):
            return f"{self.op} {self.device} config @0x{self.offset:x} = 0x{self.value:x}"
        where = f"{self.register}{self.part}" if self.register else f"@0x{self.offset:x}"
        shown = " ".join(f"{k}={v}" for k, v in self.fields.items())
        return f"{self.op} {where} = 0x{self.value:x}" + (f" ({shown})" if shown else "")

    def to_json(self) -> dict:
        return {"op": self.op, "device": self.device, "offset": self.offset, "size": self.size,
                "value": self.value, "register": self.register, "part": self.part,
                "fields": self.fields, "text": self.text()}


@dataclass
class Trace:
    """The decoded accesses of one run."""

    accesses: list[Access]
    lines_read: int = 0
    cut: bool = False

    def to_json(self, limit: int = 2000) -> dict:
        return {"accesses": [a.to_json() for a in self.accesses[:limit]],
                "total": len(self.accesses), "shown": min(limit, len(self.accesses)),
                "cut": self.cut}


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
                                 reg.decode(value)))
            i = j
        else:
            merged.append(first)
            i += 1
    return merged


def decode(trace_file: Path | None, devices: list[DeviceMap]) -> Trace:
    """Read QEMU's trace and keep the named accesses to the lab's devices."""
    if trace_file is None or not trace_file.is_file() or not devices:
        return Trace([])
    by_region = {d.region: d for d in devices}
    by_name = {d.name: d for d in devices}
    names: dict[str, str] = {}  # bus:slot.fn -> QEMU device name (from config accesses)
    bars: list[tuple[str, int, int, int]] = []  # (bdf, bar, base, size)
    mapped: set[str] = set()  # devices a driver has enabled (config accesses count after that)
    raw: list[Access] = []
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
                access = Access("R" if m["op"] == "read" else "W", dev.name, offset, size, value)
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
            elif m := MAPPING.search(line):
                bars.append((m["bdf"], int(m["bar"]), int(m["base"], 16), int(m["size"], 16)))
                mapped.add(m["bdf"])
                if m["dev"]:
                    names[m["bdf"]] = m["dev"]
            elif m := CFG_OP.search(line):
                names[m["bdf"]] = m["dev"]
                if m["dev"] in by_name and m["bdf"] in mapped:
                    raw.append(Access("CR" if m["op"] == "read" else "CW", m["dev"],
                                      int(m["offset"], 16), 0, int(m["value"], 16)))
    return Trace(_merge(raw, by_name), lines, cut)
