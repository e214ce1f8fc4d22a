"""Small helpers shared by every layer: atomic file replacement and bounded runs.

Contract: `write_atomic` replaces a file in one step (a reader sees the old file or
the new one, never half of either); `run_bounded` runs a command in its own process
group and, at its deadline, kills the whole group (make's rustc, QEMU's helpers),
so nothing a student's code starts outlives the run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any


def write_atomic(path: Path, data: str | bytes, *, mode: int | None = None,
                 durable: bool = False) -> None:
    """Replace `path` with `data` in one step; `durable` also syncs the file and its folder
    (a journal entry must survive a crash right after it was written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Per process and thread: two writers of one path must not share a temporary file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with tmp.open("wb") as out:
        out.write(raw)
        if durable:
            out.flush()
            os.fsync(out.fileno())
    if mode is not None:
        tmp.chmod(mode)
    tmp.replace(path)
    if durable:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def start_group(cmd: list[str], **popen: Any) -> subprocess.Popen:
    """Start `cmd` as the leader of a new process group (see kill_group)."""
    return subprocess.Popen(cmd, start_new_session=True, **popen)


def kill_group(proc: subprocess.Popen) -> None:
    """Kill `proc` and everything it started (its whole process group)."""
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
        os.killpg(proc.pid, signal.SIGKILL)


def run_bounded(cmd: list[str], cwd: Path, timeout: float,
                env: dict[str, str]) -> tuple[int | None, str]:
    """Run `cmd` (stdout and stderr together, C locale); (exit code, output), or
    (None, output so far) when it ran past `timeout` seconds and was killed."""
    proc = start_group(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, env={**os.environ, "LC_ALL": "C", **env})
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, _ = proc.communicate()
        return None, out
