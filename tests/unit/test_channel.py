"""The result channel's rules (evidence/channel.py), on transcripts as the guest's runner writes.

The genuine transcripts are sealed by the runner's own shell function (taken from
grader/engine/guest/runner and run by `sh`), so these tests also prove that the guest's
MAC and the host's agree byte for byte.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from grader.evidence import channel
from grader.evidence.channel import Conversation, verify

RUNNER = Path(__file__).resolve().parents[2] / "grader" / "engine" / "guest" / "runner"


def _seal_function() -> str:
    text = RUNNER.read_text()
    return re.search(r"^seal\(\) \{\n.*?^\}\n", text, re.M | re.S).group()


def sealed(secret: str, blocks: list[tuple[str, str]]) -> bytes:
    """What the runner prints for `blocks` [(index, text)], sealed by its own shell code."""
    script = _seal_function() + "KDLAB_PREV=start\n" + "".join(
        f"seal {index} '{text}'\n" for index, text in blocks)
    proc = subprocess.run(["sh", "-c", f"exec 3>&1\n{script}"], capture_output=True,
                          env={"KDLAB_SECRET": secret, "PATH": "/usr/bin:/bin"}, check=True)
    return proc.stdout


GENUINE = [("0", "KTAP version 1\n1..2"), ("1", "# greeting seen\nok 1 loads"),
           ("2", "# expected 3, got 2\nnot ok 2 greets"), ("end", "# kdlab-end 2")]


def conversation(*chunks: bytes) -> Conversation:
    conv = Conversation()
    for chunk in chunks:
        conv.feed(chunk)
    return conv


def run(before: bytes = b"", blocks=GENUINE, after: bytes = b"",
        tamper=lambda data: data) -> tuple[Conversation, channel.Verdict]:
    conv = Conversation()
    reply = conv.feed(before + b"kdlab-hello\n")
    assert reply == conv.secret.encode() + b"\n"
    conv.feed(tamper(sealed(conv.secret, blocks)) + after)
    return conv, verify(conv)


def test_the_shell_seal_and_the_host_mac_agree() -> None:
    out = sealed("ab" * 16, [("0", "KTAP version 1\n1..1")]).decode()
    block, seal_line = out.rsplit("\n", 2)[0], out.splitlines()[-1]
    assert seal_line == "# kdlab-seal 0 " + channel.mac("ab" * 16, "0", "start", block)


def test_a_genuine_run_is_trusted_and_complete() -> None:
    _, verdict = run()
    assert verdict.trusted and verdict.complete, verdict.problems
    assert verdict.ktap.splitlines() == ["KTAP version 1", "1..2", "# greeting seen",
                                         "ok 1 loads", "# expected 3, got 2", "not ok 2 greets"]
    assert set(verdict.seconds) == {1, 2}


def test_the_host_answers_only_the_first_hello() -> None:
    conv = Conversation()
    assert conv.feed(b"kdlab-hel") == b""  # a hello split across reads
    assert conv.feed(b"lo\n") == conv.secret.encode() + b"\n"
    assert conv.feed(b"kdlab-hello\n") == b""


def test_a_forged_report_without_the_secret_earns_nothing() -> None:
    forged = b"KTAP version 1\n1..2\nok 1 loads\nok 2 greets\n"
    _, verdict = run(before=forged)
    assert not verdict.trusted and "before the tests started" in verdict.problems[0]
    assert "ok 2 greets" not in verdict.ktap.splitlines()


def test_a_report_with_made_up_seals_earns_nothing() -> None:
    fake = "# kdlab-seal {} " + "0" * 64 + "\n"
    forged = ("KTAP version 1\n1..2\n" + fake.format(0) + "ok 1 loads\n" + fake.format(1)
              + "ok 2 greets\n" + fake.format(2) + "# kdlab-end 2\n" + fake.format("end"))
    conv = Conversation()
    conv.feed(b"kdlab-hello\n" + forged.encode())
    verdict = verify(conv)
    assert verdict.ktap == "" and not verdict.complete and verdict.rejected == {1, 2}


def test_lines_injected_into_a_block_void_that_block_only() -> None:
    _, verdict = run(tamper=lambda data: data.replace(b"# greeting seen",
                                                      b"# greeting seen\nok 1 x"))
    assert verdict.rejected == {1} and not verdict.trusted
    assert "loads" not in verdict.ktap and "not ok 2 greets" in verdict.ktap
    assert verdict.complete  # the chain goes on after the tampered block


def test_lines_between_blocks_are_dropped_and_reported() -> None:
    def inject(data: bytes) -> bytes:
        first_seal = data.index(b"# kdlab-seal 1 ")
        end = data.index(b"\n", first_seal) + 1
        return data[:end] + b"ok 2 greets\n" + data[end:]

    _, verdict = run(tamper=inject)
    # The runner's own block 2 now starts with the injected line: it does not verify.
    assert 2 in verdict.rejected and "ok 2 greets" not in verdict.ktap


def test_a_replayed_block_does_not_count_twice() -> None:
    def replay(data: bytes) -> bytes:
        start = data.index(b"# kdlab-seal 0 ")
        start = data.index(b"\n", start) + 1
        end = data.index(b"\n", data.index(b"# kdlab-seal 1 ")) + 1
        return data[:end] + data[start:end] + data[end:]

    _, verdict = run(tamper=replay)
    assert verdict.ktap.count("ok 1 loads") == 1 and not verdict.trusted


def test_a_second_hello_distrusts_the_whole_run() -> None:
    conv = Conversation()
    conv.feed(b"kdlab-hello\n")
    conv.feed(b"kdlab-hello\n" + sealed(conv.secret, GENUINE))
    verdict = verify(conv)
    assert verdict.ktap == "" and "started twice" in verdict.problems[0]


def test_output_after_the_end_is_reported() -> None:
    _, verdict = run(after=b"ok 3 extra\n")
    assert verdict.complete and "after the test runner had finished" in verdict.problems[0]


def test_a_complete_run_whose_vm_had_to_be_killed_is_reported() -> None:
    conv, _ = run()
    verdict = verify(conv, exited_after_end=False)
    assert "did not end afterwards" in verdict.problems[0]


def test_a_run_cut_short_keeps_what_verified_and_blames_nobody() -> None:
    _, verdict = run(blocks=GENUINE[:2])
    assert verdict.trusted and not verdict.complete and "ok 1 loads" in verdict.ktap


def test_a_silent_guest_is_not_started() -> None:
    verdict = verify(Conversation())
    assert not verdict.started and verdict.trusted


def test_a_flood_is_cut_and_reported() -> None:
    conv = conversation(b"kdlab-hello\n", b"x" * (channel.LIMIT + 10))
    assert len(conv.data) == channel.LIMIT
    assert any("more than" in p for p in verify(conv).problems)
