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
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from grader.util import write_atomic


@dataclass
class GradeRecord:
    """One graded submission: what the journal keeps and every later step reads (gradebook,
    CSV, feedback page, overview). On disk it is `to_json()`; `from_json` also reads the
    records of earlier versions, which left out what they did not know.

    `result` is the CheckResult's JSON (grader.grading.results), its messages bounded.
    """

    student: str
    assignment: str = ""
    notebook: str = ""
    notebook_id: str = ""
    driver_cell_id: str = ""
    lab: str = ""
    #: Identity of what was graded (driver source, lab, image): an unchanged key is not
    #: graded again.
    key: str = ""
    #: graded, timeout, oom (the sandbox stopped the student's code) or no-driver.
    status: str = ""
    message: str = ""
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    graded_at: str = ""
    run: str = ""
    timestamp: str = ""
    seconds: float | None = None
    phases: dict[str, float] = field(default_factory=dict)
    memory_peak_mb: float | None = None
    #: The student whose identical driver was graded instead.
    reused_from: str | None = None
    #: The record this one replaced: run, graded_at, key, score, max_score.
    previous: dict[str, Any] | None = None
    #: The grading host of a cluster that ran it (None: this machine; grader.cluster).
    host: str | None = None

    @property
    def score(self) -> float:
        return float(self.result.get("score", 0))

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GradeRecord:
        """A record from its JSON; TypeError when `data` is not one (no student)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


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

    def get(self, student: str) -> GradeRecord | None:
        """The student's record, or None (also for a file that is not a valid record)."""
        record = _read(self.path(student))
        return record if record is not None and record.student == student else None

    def put(self, record: GradeRecord) -> None:
        """Durably replace the student's record."""
        write_atomic(self.path(record.student), json.dumps(record.to_json()), durable=True)

    def records(self) -> dict[str, GradeRecord]:
        """Every valid record, by student."""
        found = {}
        for path in sorted(self.root.glob("*.json")):
            if (record := _read(path)) is not None:
                found[record.student] = record
        return found


def _read(path: Path) -> GradeRecord | None:
    """The record in `path`, or None for a file that is not one."""
    try:
        data = json.loads(path.read_text())
        return GradeRecord.from_json(data) if isinstance(data, dict) else None
    except (OSError, json.JSONDecodeError, TypeError):
        return None
