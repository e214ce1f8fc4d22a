"""The batch journal: one file per graded submission, written atomically.

A batch can be killed at any moment (Ctrl-C, OOM, a reboot). Each finished
grade is therefore made durable on its own, before anything else uses it:
written to a temporary file, flushed to disk, renamed over the final name (an
atomic replace), and the directory synced. A reader sees either the old record
or the new one, never half of one; the next run reads the journal and grades
only what is missing or changed. The gradebook is filled from the journal, so
a gradebook write lost in a kill is simply redone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from grader.util import write_atomic


def _safe(name: str) -> str:
    """A student id as a file name (ids come from folder names, but be strict)."""
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", name) or "_"


class Journal:
    """Grading records of one assignment, one JSON file per student."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, student: str) -> Path:
        return self.root / f"{_safe(student)}.json"

    def get(self, student: str) -> dict | None:
        """The student's record, or None (also for a file that is not a valid record)."""
        try:
            record = json.loads(self.path(student).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return record if isinstance(record, dict) and record.get("student") == student else None

    def put(self, record: dict) -> None:
        """Durably replace the student's record."""
        write_atomic(self.path(record["student"]), json.dumps(record), durable=True)

    def records(self) -> dict[str, dict]:
        """Every valid record, by student."""
        found = {}
        for path in sorted(self.root.glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(record, dict) and "student" in record:
                found[record["student"]] = record
        return found
