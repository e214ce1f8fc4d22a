"""The notebook's register view: a lab's register maps as tables, a value as its fields.

The maps come from the lab's registers.toml, parsed by grader.evidence.trace (one
description per device, shared with the trace decoder), so what the notebook
shows and what the trace names an access are always the same thing. Pure
functions: the notebook (grader.course.jupyter) displays them, the course generator
puts the markdown table in the lesson, tests call them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from grader.errors import KdlabError
from grader.evidence.trace import DeviceMap, Field, Register


class RegisterLookupError(KdlabError):
    """No such register (or device) in the lab's map; the message lists what there is."""


@dataclass(frozen=True)
class FieldValue:
    """One decoded field of a register value."""

    field: Field
    raw: int

    @property
    def meaning(self) -> str:
        """The value's name when the map gives one (e.g. `idle`), else empty."""
        return self.field.values.get(self.raw, "")

    @property
    def bits(self) -> str:
        f = self.field
        return f"{f.msb}" if f.msb == f.lsb else f"{f.msb}:{f.lsb}"


def find_register(devices: list[DeviceMap], name: str,
                  device: str | None = None) -> tuple[DeviceMap, Register]:
    """The register called `name` (in `device`, if given); an error lists the known names."""
    for dev in devices:
        if device and dev.name != device:
            continue
        if reg := dev.register(name):
            return dev, reg
    known = ", ".join(f"{d.name}:{r.name}" for d in devices for r in d.registers) or "none"
    where = f" in {device}" if device else ""
    raise RegisterLookupError(f"no register {name!r}{where}; the lab's registers are: {known}")


def decode(register: Register, value: int) -> list[FieldValue]:
    """The register's fields, most significant first, with their values in `value`."""
    fields = sorted(register.fields, key=lambda f: f.msb, reverse=True)
    return [FieldValue(f, f.extract(value)) for f in fields]


def _hex(value: int, width_bits: int) -> str:
    return f"0x{value:0{max(1, width_bits // 4)}x}"


def _bit_strip(register: Register, value: int) -> str:
    """The value bit by bit, most significant first, grouped by field (a small diagram)."""
    cells = []
    owner = {}
    for f in register.fields:
        for bit in range(f.lsb, f.msb + 1):
            owner[bit] = f.name
    colors = ("#ddf4ff", "#fff8c5", "#dafbe1", "#ffebe9", "#fbefff", "#f6f8fa")
    palette = {f.name: colors[i % len(colors)] for i, f in enumerate(register.fields)}
    for bit in range(register.width - 1, -1, -1):
        name = owner.get(bit, "")
        color = palette.get(name, "#ffffff")
        title = f"bit {bit}" + (f": {name}" if name else " (reserved)")
        cells.append(f'<td title="{escape(title)}" style="background:{color};text-align:center;'
                     f'padding:1px 3px;font-family:monospace">{(value >> bit) & 1}</td>')
    return f'<table class="kdlab-bits"><tr>{"".join(cells)}</tr></table>'


def decode_html(device: DeviceMap, register: Register, value: int) -> str:
    """A value of a register: hex, bits and one row per field with its meaning."""
    rows = "".join(
        f"<tr><td><code>{escape(fv.field.name)}</code></td><td>{fv.bits}</td>"
        f"<td>{_hex(fv.raw, fv.field.msb - fv.field.lsb + 1)}</td><td>{fv.raw}</td>"
        f"<td>{escape(fv.meaning)}</td><td>{escape(fv.field.description)}</td></tr>"
        for fv in decode(register, value)
    )
    return (
        f'<div class="kdlab-register" data-register="{escape(register.name)}">'
        f"<p><b>{escape(device.name)} {escape(register.name)}</b> "
        f"(offset 0x{register.offset:x}, {register.width} bits, {escape(register.access)}) "
        f"= <code>{_hex(value, register.width)}</code> = {value}</p>"
        f"{_bit_strip(register, value)}"
        '<table class="kdlab-fields"><thead><tr><th>field</th><th>bits</th><th>hex</th>'
        "<th>value</th><th>meaning</th><th>description</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def decode_text(register: Register, value: int) -> str:
    """`TEST = 0x02: test=2 (mmio-datamatch-eventfd)` — for logs and plain outputs."""
    parts = []
    for fv in decode(register, value):
        parts.append(f"{fv.field.name}={fv.raw}" + (f" ({fv.meaning})" if fv.meaning else ""))
    return f"{register.name} = {_hex(value, register.width)}: " + " ".join(parts)


def _fields_summary(register: Register) -> str:
    fields = sorted(register.fields, key=lambda f: f.msb, reverse=True)
    return ", ".join(
        f"{f.name} [{f.msb}]" if f.msb == f.lsb else f"{f.name} [{f.msb}:{f.lsb}]"
        for f in fields
    )


def map_html(devices: list[DeviceMap]) -> str:
    """Every register of every device, as the notebook's reference table."""
    out = []
    for dev in devices:
        rows = "".join(
            f"<tr><td>0x{r.offset:02x}</td><td><code>{escape(r.label)}</code></td>"
            f"<td>{r.width}</td><td>{escape(r.access)}</td>"
            f"<td>{escape(_fields_summary(r))}</td><td>{escape(r.description)}</td></tr>"
            for r in dev.registers
        )
        out.append(
            f"<p><b>{escape(dev.name)}</b> BAR{dev.bar}</p>"
            '<table class="kdlab-regmap"><thead><tr><th>offset</th><th>register</th>'
            "<th>width</th><th>access</th><th>fields</th><th>description</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    return "".join(out)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def map_markdown(devices: list[DeviceMap]) -> str:
    """The register maps as markdown tables (the lesson's register layout section)."""
    out = []
    for dev in devices:
        out.append(f"**{dev.name}**, BAR{dev.bar}\n")
        out.append("| offset | register | width | access | fields | description |")
        out.append("|---|---|---|---|---|---|")
        for r in dev.registers:
            out.append(f"| 0x{r.offset:02x} | `{r.label}` | {r.width} | {r.access} | "
                       f"{_md_cell(_fields_summary(r))} | {_md_cell(r.description)} |")
        fields = [(r, f) for r in dev.registers for f in r.fields if f.values or
                  (len(r.fields) > 1)]
        if fields:
            out.append("\n| register | field | bits | values | description |")
            out.append("|---|---|---|---|---|")
            for r, f in fields:
                bits = f"{f.msb}" if f.msb == f.lsb else f"{f.msb}:{f.lsb}"
                values = ", ".join(f"{k} = {v}" for k, v in sorted(f.values.items()))
                out.append(f"| `{r.name}` | `{f.name}` | {bits} | {_md_cell(values)} | "
                           f"{_md_cell(f.description)} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
