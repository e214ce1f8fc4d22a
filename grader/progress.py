"""Progress reporting for long work (kernel build, image build, batch grading).

The engine only calls a `Reporter`; what the user sees depends on where it
runs: a live bar on a terminal, one plain line every few seconds in CI logs,
an ipywidgets bar in a notebook (grader.course.jupyter), nothing at all for `--json`.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol


class Reporter(Protocol):
    """What a long-running step tells the person waiting for it."""

    def begin(self, title: str, total: int | None = None) -> None:
        """A new phase starts; `total` is the expected number of steps, if known."""

    def advance(self, done: int, text: str = "") -> None:
        """`done` steps of the current phase are finished; `text` says what is happening."""

    def end(self, summary: str) -> None:
        """The current phase is over."""


class Silent:
    """Reports nothing: for `--json` output and for tests."""

    def begin(self, title: str, total: int | None = None) -> None:
        pass

    def advance(self, done: int, text: str = "") -> None:
        pass

    def end(self, summary: str) -> None:
        pass


class Console:
    """A rich progress bar on a terminal; plain timestamped lines elsewhere (CI logs)."""

    def __init__(self, stream=None, interval_s: float = 10.0, live: bool | None = None) -> None:
        """live: a rich bar (default: when the stream is a terminal) or plain lines."""
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self._live = self.stream.isatty() if live is None else live
        self._bar: Any = None  # a rich Progress while a live bar is shown
        self._task: Any = None
        self._title = ""
        self._total: int | None = None
        self._started = 0.0
        self._last_print = 0.0

    def begin(self, title: str, total: int | None = None) -> None:
        self._title, self._total = title, total
        self._started = self._last_print = time.monotonic()
        if self._live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[text]}", style="dim"),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(title, total=total, text="")
        else:
            print(f"{title} ...", file=self.stream, flush=True)

    def advance(self, done: int, text: str = "") -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, text=text[-60:])
            return
        now = time.monotonic()
        if now - self._last_print >= self.interval_s:
            self._last_print = now
            of = f"/{self._total}" if self._total else ""
            print(f"  [{now - self._started:6.0f}s] {done}{of} {text}", file=self.stream,
                  flush=True)

    def end(self, summary: str) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elapsed = time.monotonic() - self._started
        print(f"{self._title}: {summary} ({elapsed:.0f}s)", file=self.stream, flush=True)
