"""The result channel: how the guest's test results reach the host, and when they count.

Threat model. The student's module runs in ring 0 of the guest. It can write any
byte to any port or memory of the guest, read the initramfs, the kernel command
line and every process's memory, and reset or wedge the machine at any moment.
Only the host, QEMU and what the host observes are trusted. Everything the guest
says is a claim; a claim earns points only when it is bound to something the
module could not know when it was loaded.

The channel. The guest's test runner (grader/engine/guest/runner) reports on the second
serial port, which QEMU connects to a socket only this process holds. After the
module has loaded, the runner asks `kdlab-hello`; the host answers once, with a
secret it drew for this run (128 random bits). Every block the runner then prints
(the KTAP header and plan, each test's diagnostics and result line, the end) is
followed by `# kdlab-seal N MAC` with MAC = sha256(secret, N, previous MAC, block,
secret): the secret on both sides (a sandwich MAC, so no length extension), the
index and the chain (so blocks cannot be dropped, reordered, replayed or moved).
`verify` keeps exactly the blocks whose seals it can recompute; `grader.grading.grade`
reads results from those alone. A block that fails keeps its place in the chain
(the host follows the MAC written under it), so lines injected into one test's
block void that test, not the ones after it.

What earns nothing, and is reported (in `Verdict.problems`, shown to the student
and flagged in batch records): bytes on the channel before the runner's hello or
after its end seal, a block whose seal does not match (lines injected into it or
written outside the runner's framing), a second hello (then nothing of the run
is trusted: the secret went to whoever asked first), and a run that claims its
tests finished although QEMU, seen from the host, did not end after them.

Corroboration from the host: the hello and every verified block are timed on the
host's clock as they arrive, so each test's duration is what the host saw, and a
run's phases are the host's: load (QEMU start to hello), tests (hello to end
seal), done (end seal to QEMU's exit). The phase markers in the kernel log are
written inside the guest and are used only to word feedback.

Limits. No scheme makes ring-0 code harmless. A module that finds the secret in
the runner's memory (or patches the runner, busybox or the test helpers in
memory, or answers the hello itself and reads the secret from the UART) can
forge. grader.grading.policy refuses the source constructs that make that practical
(inline assembly, extern blocks, raw bindings, symbol and section attributes...),
so forging needs raw-pointer scanning of guest memory: far more work than doing
the lab, and still visible to an instructor reading the source. The device trace
(grader.evidence.tracecheck) is the host's own observation and needs no channel at all.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field

HELLO = "kdlab-hello"
#: The seal line after each block: index (or "end") and the MAC.
SEAL = re.compile(r"# kdlab-seal (\d+|end) ([0-9a-f]{64})")
#: Where the chain of MACs starts (the runner's first "previous MAC").
CHAIN_START = "start"
#: Problem descriptions are cut to this many characters of the offending text.
EXCERPT = 60
#: Bytes of the channel kept: a whole lab's results take a few KiB; a flood is cut.
LIMIT = 1 << 20


def mac(secret: str, index: str, previous: str, block: str) -> str:
    """The seal of one block, exactly as the runner computes it with busybox sha256sum."""
    text = f"{secret}\n{index}\n{previous}\n{block}\n{secret}"
    return hashlib.sha256(text.encode("utf-8", errors="surrogateescape")).hexdigest()


@dataclass
class Conversation:
    """The host's side of the channel during one run: answers the hello once, records all.

    `feed` takes what arrived from the guest and returns what to send back; QEMU's
    runner (grader.engine.qemu.run) calls it as bytes arrive, with the host's clock.
    """

    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    data: bytearray = field(default_factory=bytearray)
    #: Byte offset just after each hello line, and the host time it arrived.
    hellos: list[tuple[int, float]] = field(default_factory=list)
    #: Host time at which each line ended (by byte offset of the line's end).
    line_times: dict[int, float] = field(default_factory=dict)
    #: More than LIMIT bytes arrived (the rest was dropped).
    overflowed: bool = False
    _scanned: int = 0

    def feed(self, chunk: bytes, now: float | None = None) -> bytes:
        now = time.monotonic() if now is None else now
        if len(self.data) + len(chunk) > LIMIT:
            self.overflowed = True
            chunk = chunk[:max(0, LIMIT - len(self.data))]
        self.data += chunk
        reply = b""
        while (end := self.data.find(b"\n", self._scanned)) >= 0:
            line = self.data[self._scanned:end].rstrip(b"\r")
            self.line_times[end + 1] = now
            if line == HELLO.encode():
                self.hellos.append((end + 1, now))
                if len(self.hellos) == 1:
                    reply += self.secret.encode() + b"\n"
            self._scanned = end + 1
        return reply

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass
class Verdict:
    """What the channel proves: the KTAP text of the verified blocks, and every problem."""

    ktap: str = ""
    #: The runner's hello arrived (the module loaded and the tests started).
    started: bool = False
    #: The runner's end seal verified: every test ran and reported.
    complete: bool = False
    #: Host-observed seconds of each verified test block, by its index (1-based).
    seconds: dict[int, float] = field(default_factory=dict)
    #: Why something on the channel earned nothing, in words for the student.
    problems: list[str] = field(default_factory=list)
    #: Indices (1-based) of tests whose block arrived but did not verify.
    rejected: set[int] = field(default_factory=set)

    @property
    def trusted(self) -> bool:
        """No sign that anything but the runner wrote to the channel."""
        return not self.problems

    def to_json(self) -> dict:
        return {"trusted": self.trusted, "started": self.started, "complete": self.complete,
                "problems": list(self.problems),
                "test_seconds": {str(k): round(v, 3) for k, v in sorted(self.seconds.items())}}


def _excerpt(lines: list[str]) -> str:
    text = " / ".join(line.strip() for line in lines if line.strip())
    return text if len(text) <= EXCERPT else text[:EXCERPT - 1] + "…"


def verify(conv: Conversation, exited_after_end: bool = True) -> Verdict:
    """Keep the blocks whose seals verify, in order; say why anything else was dropped.

    `exited_after_end`: QEMU ended by itself after the channel fell silent (it was
    not killed by the host's timeout). A run whose end seal verified but whose VM
    then had to be killed contradicts the runner, which ends the VM right after.
    """
    verdict = Verdict()
    if not conv.hellos:
        if conv.data.strip():
            verdict.problems.append(
                "something other than the test runner wrote to the result channel before the "
                f"tests started ({_excerpt(conv.text.splitlines()[:3])!r}); it earns nothing")
        return verdict
    verdict.started = True
    start, hello_time = conv.hellos[0]
    before = conv.data[:start].decode("utf-8", errors="replace").splitlines()[:-1]
    if any(line.strip() for line in before):
        verdict.problems.append(
            "something other than the test runner wrote to the result channel before the tests "
            f"started ({_excerpt(before[:3])!r}); it earns nothing")
    if len(conv.hellos) > 1:
        verdict.problems.append(
            "the tests were started twice on the result channel (a second hello): this run's "
            "secret may have gone to something other than the test runner, so none of its "
            "results count")
        return verdict

    kept: list[str] = []
    block: list[str] = []
    expected, previous, last_time = 0, CHAIN_START, hello_time
    after_end: list[str] = []
    offset = start
    for raw in conv.data[start:].split(b"\n")[:-1]:
        offset += len(raw) + 1
        line = raw.rstrip(b"\r").decode("utf-8", errors="surrogateescape")
        if verdict.complete:
            after_end.append(line)
            continue
        seal = SEAL.fullmatch(line)
        if seal is None:
            block.append(line)
            continue
        index, claimed = seal.groups()
        wanted = str(expected) if index != "end" else "end"
        body = "\n".join(block)
        if index == wanted and claimed == mac(conv.secret, index, previous, body):
            arrived = conv.line_times.get(offset, last_time)
            if index == "end":
                verdict.complete = True
            else:
                if expected > 0:
                    verdict.seconds[expected] = arrived - last_time
                kept += block
                expected += 1
            previous, last_time = claimed, arrived
        else:
            if index == wanted:
                # The runner's chain goes on from the MAC it wrote, whatever was injected
                # into its block: follow it, so one tampered block does not void the rest.
                previous = claimed
                if index != "end":
                    expected += 1
            if index.isdigit() and int(index) > 0:
                verdict.rejected.add(int(index))
            verdict.problems.append(
                f"a block of results sealed as {index!r} on the result channel is not bound to "
                f"this run's secret ({_excerpt(block[-2:])!r}): something other than the test "
                "runner wrote it, or wrote into it; it earns nothing")
        block = []
    leftover = [line for line in block if line.strip()]
    # The runner prints a block and its seal in one write: result lines left without
    # a seal were written by something else (or cut off as the VM ended).
    if any(line.startswith(("ok ", "not ok ")) for line in leftover):
        verdict.problems.append(
            f"result lines on the channel that no seal covers ({_excerpt(leftover[-2:])!r}) "
            "earn nothing")
    if any(line.strip() for line in after_end):
        verdict.problems.append(
            "something wrote to the result channel after the test runner had finished "
            f"({_excerpt(after_end[:2])!r}); it earns nothing")
    if conv.overflowed:
        verdict.problems.append(
            f"the result channel carried more than {LIMIT >> 10} KiB (a test runner writes a "
            "few KiB); the rest was dropped")
    if verdict.complete and not exited_after_end:
        verdict.problems.append(
            "the runner reported that every test ran, but the VM did not end afterwards and "
            "was stopped by the host")
    verdict.ktap = "\n".join(kept) + ("\n" if kept else "")
    return verdict
