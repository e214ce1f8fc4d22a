"""Host-side checks over the device-access trace, declared in a lab's lab.toml.

    [[trace_checks]]
    name = "reads_count"               # graded like any test
    points = 1
    must = "R COUNT"                   # at least one matching access
    [[trace_checks]]
    name = "count_is_read_only"
    never = "W COUNT"                  # no matching access (and the device was used)
    [[trace_checks]]
    name = "arms_before_reading"
    order = ["W TEST", "R COUNT"]      # a match of the first before the first match of the second
    [[trace_checks]]
    name = "acks_every_interrupt"
    each = "W IRQ_RAISE"               # every match of `each` is followed by a match of
    then = "W IRQ_ACK"                 # `then` before the next `each` (and before the end)

A pattern is `OP REGISTER [field=value ...]`, OP one of R, W or RW (either); an
optional `device:` prefix picks one device of several. A numeric value may be an
inclusive range `LO..HI` (`W TEST test=3..255`), for a device that documents a
set of values as meaning the same thing: a check must accept each of them. The trace is recorded by
QEMU on the host, so a module cannot make these pass by printing anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.errors import KdlabError
from grader.evidence.trace import Access, DeviceMap, Trace

RULES = ("must", "never", "order", "each")
#: Accesses a failed check points at, at most (a driver may break a rule a million times).
MAX_ABOUT = 200


class TraceCheckError(KdlabError):
    """A trace check in lab.toml is malformed (names the check and the problem)."""


@dataclass(frozen=True)
class Pattern:
    """Which accesses a rule talks about."""

    text: str
    ops: tuple[str, ...]
    register: str
    device: str = ""
    fields: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str, devices: list[DeviceMap]) -> Pattern:
        words = text.split()
        if len(words) < 2 or words[0] not in ("R", "W", "RW"):
            raise TraceCheckError(f"pattern {text!r}: expected 'R|W|RW REGISTER [field=value]'")
        device, _, register = words[1].rpartition(":")
        known = [d for d in devices if not device or d.name == device]
        if not any(d.register(register) for d in known):
            raise TraceCheckError(f"pattern {text!r}: no register {register} in registers.toml")
        fields = []
        for word in words[2:]:
            name, sep, value = word.partition("=")
            if not sep:
                raise TraceCheckError(f"pattern {text!r}: {word!r} is not field=value")
            fields.append((name, value))
        ops = ("R", "W") if words[0] == "RW" else (words[0],)
        return cls(text, ops, register, device, tuple(fields))

    def matches(self, access: Access) -> bool:
        if access.op not in self.ops or access.register != self.register:
            return False
        if self.device and access.device != self.device:
            return False
        return all(_value_is(access.fields.get(name), value) for name, value in self.fields)


def _around(accesses: list[Access], index: int, before: int = 3, after: int = 3) -> str:
    """The accesses around one, numbered as in the timeline, for the failure message."""
    lines = [f"  {'>' if i == index else ' '} #{i + 1} {accesses[i].text()}"
             for i in range(max(0, index - before), min(len(accesses), index + after + 1))]
    return "\naround it:\n" + "\n".join(lines)


def _value_is(actual: int | str | None, wanted: str) -> bool:
    if actual is None:
        return False
    if isinstance(actual, int):
        low, sep, high = wanted.partition("..")
        try:
            if sep:
                return int(low, 0) <= actual <= int(high, 0)
            return actual == int(wanted, 0)
        except ValueError:
            return False
    return actual == wanted


def _register_seen(accesses: list[Access], pattern: Pattern) -> tuple[str, tuple[int, ...]]:
    """What the device saw on a pattern's register when no access matched its fields, and
    the indexes of those accesses (what the failure is about).

    A `must` rule with fields fails also for a driver that did access the register,
    with other values; saying "never accessed" would then be false, so the message
    lists the values it did see instead.
    """
    seen = tuple(i for i, a in enumerate(accesses) if a.op in pattern.ops
                 and a.register == pattern.register
                 and (not pattern.device or a.device == pattern.device))
    if not seen:
        return (f"the driver must access {pattern.register} ({len(accesses)} accesses "
                f"recorded, none to {pattern.register})"), seen
    values = list(dict.fromkeys(accesses[i].text() for i in seen))
    return (f"the driver accessed {pattern.register} {len(seen)} time(s), never with "
            f"{' '.join(f'{n}={v}' for n, v in pattern.fields)}: "
            + "; ".join(values[:4]) + ("; ..." if len(values) > 4 else "")), seen


@dataclass(frozen=True)
class Verdict:
    """A check's outcome: passed, the message, and the indexes of the accesses it is about
    (none when what it looked for never happened)."""

    passed: bool
    message: str = ""
    about: tuple[int, ...] = ()


@dataclass(frozen=True)
class TraceCheck:
    """One declared check: a rule over patterns, worth points."""

    name: str
    points: float
    description: str
    rule: str
    patterns: tuple[Pattern, ...]

    @classmethod
    def from_toml(cls, data: dict, devices: list[DeviceMap]) -> TraceCheck:
        name = data.get("name", "?")
        rules = [r for r in RULES if r in data]
        if len(rules) != 1:
            raise TraceCheckError(f"trace check {name}: give exactly one of {', '.join(RULES)}")
        rule = rules[0]
        try:
            if rule == "order":
                texts = list(data["order"])
                if len(texts) != 2:
                    raise TraceCheckError(f"trace check {name}: order takes two patterns")
            elif rule == "each":
                texts = [data["each"], data["then"]]
            else:
                texts = [data[rule]]
            patterns = tuple(Pattern.parse(t, devices) for t in texts)
        except KeyError as err:
            raise TraceCheckError(f"trace check {name}: missing {err}") from err
        except TraceCheckError as err:
            raise TraceCheckError(f"trace check {name}: {err}") from err
        return cls(name, float(data.get("points", 0)), data.get("description", ""), rule,
                   patterns)

    def evaluate(self, trace: Trace) -> tuple[bool, str]:
        """(passed, message for the student); the message names the register."""
        verdict = self.verdict(trace)
        return verdict.passed, verdict.message

    def verdict(self, trace: Trace) -> Verdict:
        """The outcome, with the accesses it was about (the timeline highlights them);
        judged once per trace."""
        if self not in trace.verdicts:
            trace.verdicts[self] = self._judge(trace)
        return trace.verdicts[self]

    def _judge(self, trace: Trace) -> Verdict:
        accesses = trace.accesses
        first = self.patterns[0]
        hits = [i for i, a in enumerate(accesses) if first.matches(a)]
        if self.rule == "must":
            if hits:
                return Verdict(True)
            message, seen = _register_seen(accesses, first)
            return Verdict(False, f"the device never saw `{first.text}`: {message}",
                           seen[:MAX_ABOUT])
        if self.rule == "never":
            device_used = any(a.op in ("R", "W") and (not first.device or a.device == first.device)
                              for a in accesses)
            if not device_used:
                # "Never did X" only means something for a driver that drove the device.
                return Verdict(False, "the driver never accessed the device's registers")
            if not hits:
                return Verdict(True)
            shown = "; ".join(f"#{i + 1} {accesses[i].text()}" for i in hits[:3])
            return Verdict(False, f"the driver did `{first.text}` {len(hits)} time(s), which it "
                           f"must never do: {shown}" + _around(accesses, hits[0]),
                           tuple(hits[:MAX_ABOUT]))
        second = self.patterns[1]
        if self.rule == "order":
            later = next((i for i, a in enumerate(accesses) if second.matches(a)), None)
            if later is None:
                return Verdict(False, f"the device never saw `{second.text}`")
            if not hits or hits[0] > later:
                return Verdict(False, f"`{second.text}` (access #{later + 1}) came before any "
                               f"`{first.text}`: {second.register} must come after "
                               f"{first.register}" + _around(accesses, later), (later,))
            return Verdict(True)
        for n, start in enumerate(hits):
            end = hits[n + 1] if n + 1 < len(hits) else len(accesses)
            if not any(second.matches(a) for a in accesses[start + 1:end]):
                return Verdict(False, f"`{first.text}` at access #{start + 1} was not followed "
                               f"by `{second.text}` (on {second.register}) before "
                               + ("the next one" if end < len(accesses) else "the end")
                               + _around(accesses, start), (start,))
        if not hits:
            return Verdict(False, f"the device never saw `{first.text}`")
        return Verdict(True)
