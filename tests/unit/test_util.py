"""The shared helpers: a bounded run leaves nothing behind, an atomic write is whole."""

from __future__ import annotations

import os
import time
from pathlib import Path

from grader.util import run_bounded, write_atomic


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_run_past_its_deadline_is_killed_with_everything_it_started(tmp_path: Path) -> None:
    started = time.monotonic()
    code, out = run_bounded(["sh", "-c", "sleep 60 & echo $!; wait"], tmp_path, 0.5, {})
    assert code is None and time.monotonic() - started < 10
    child = int(out.split()[0])
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the command's own child outlived the run"


def test_a_run_within_its_deadline_gives_its_code_and_output(tmp_path: Path) -> None:
    code, out = run_bounded(["sh", "-c", "echo $LC_ALL $EXTRA; exit 3"], tmp_path, 30,
                            {"EXTRA": "x"})
    assert (code, out) == (3, "C x\n")


def test_write_atomic_replaces_whole_files_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "page.html"
    write_atomic(target, "old")
    write_atomic(target, b"\x00new", mode=0o755, durable=True)
    assert target.read_bytes() == b"\x00new" and os.stat(target).st_mode & 0o777 == 0o755
    assert [p.name for p in target.parent.iterdir()] == ["page.html"]
