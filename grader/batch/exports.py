"""Grades out: the gradebook into an LMS, one result into a grading platform.

Two directions, each in the format its receiver documents:

- `kdlab export ASSIGNMENT --to canvas|moodle|csv`: the course's grades as the
  nbgrader gradebook holds them (manual grades and late penalties included, the
  score `nbgrader export` computes: raw score less penalty, never below 0):
  - canvas: Canvas's gradebook import CSV (Student, ID, SIS User ID, SIS Login ID,
    Section, then one column per assignment; the "Points Possible" row Canvas's own
    export has);
  - moodle: Moodle's grade import CSV (First name, Last name, ID number, Email
    address, then the assignment; at import, map "ID number" or "Email address" to
    the user and the assignment column to the grade item);
  - csv: nbgrader's own export columns, for anything else.
  Student ids in the LMS come from a roster CSV in nbgrader's `db student import`
  format (id, first_name, last_name, email, lms_user_id), optionally with
  sis_user_id, sis_login_id and section columns.
- `kdlab check --format gradescope|prairielearn|junit`: one CheckResult as
  Gradescope's autograder results.json, PrairieLearn's external-grader
  results.json (score 0..1, cut to fit its 1 MB limit) or JUnit XML, so a course
  can run kdlab inside the platform it already uses.

Hidden tests stay hidden where the format can say so: Gradescope's
`after_published` (shown once the instructor publishes grades; `hidden` is for
tests worth no points, and kdlab's hidden tests carry points).
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from grader.batch.gradebook import FinalScore
from grader.errors import KdlabError
from grader.grading.results import Status

#: PrairieLearn's documented limit on results.json.
PRAIRIELEARN_MAX_BYTES = 1_000_000
#: Gradescope visibility of a hidden test (counts, shown after grades are published).
HIDDEN_VISIBILITY = "after_published"
#: Roster columns: nbgrader's student import columns, then the LMS's ids.
ROSTER_COLUMNS = ("id", "first_name", "last_name", "email", "lms_user_id", "sis_user_id",
                  "sis_login_id", "section")
LMS_FORMATS = ("canvas", "moodle", "csv")
CHECK_FORMATS = ("gradescope", "prairielearn", "junit")


class ExportError(KdlabError):
    """An export cannot be made as asked (roster unreadable, a student missing from it)."""


# ----------------------------------------------------------------------------- roster

def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """{nbgrader student id: row} from a roster CSV with at least an `id` column."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as stream:
            rows = list(csv.DictReader(stream))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ExportError(f"{path}: not a readable CSV roster ({err})") from err
    if not rows or "id" not in rows[0]:
        raise ExportError(f"{path}: the roster needs an `id` column (the nbgrader student "
                          f"id); known columns: {', '.join(ROSTER_COLUMNS)}")
    return {row["id"].strip(): {k: (v or "").strip() for k, v in row.items() if k}
            for row in rows if (row.get("id") or "").strip()}


def _person(score: FinalScore, roster: dict[str, dict[str, str]]) -> dict[str, str]:
    """What the roster says about a student, the gradebook filling the gaps."""
    row = dict(roster.get(score.student, {}))
    for key, value in (("first_name", score.first_name), ("last_name", score.last_name),
                       ("email", score.email), ("lms_user_id", score.lms_user_id)):
        row[key] = row.get(key) or value
    return row


def _points(value: float) -> str:
    return f"{round(value, 2):g}"


# ----------------------------------------------------------------------------- LMS exports

def canvas_csv(assignment: str, scores: dict[str, FinalScore],
               roster: dict[str, dict[str, str]]) -> str:
    """Canvas's gradebook import CSV; a student needs a Canvas ID or SIS User ID."""
    missing = sorted(s for s in scores if not (_person(scores[s], roster).get("lms_user_id")
                                               or _person(scores[s], roster).get("sis_user_id")))
    if missing:
        raise ExportError(f"no Canvas id (lms_user_id or sis_user_id in the roster) for "
                          f"{', '.join(missing)}: Canvas cannot tell who they are")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment])
    top = max((s.max_score for s in scores.values()), default=0.0)
    writer.writerow(["Points Possible", "", "", "", "", _points(top)])
    for student in sorted(scores):
        person = _person(scores[student], roster)
        name = ", ".join(p for p in (person.get("last_name"), person.get("first_name")) if p)
        writer.writerow([name or student, person.get("lms_user_id", ""),
                         person.get("sis_user_id", ""), person.get("sis_login_id", ""),
                         person.get("section", ""), _points(scores[student].score)])
    return out.getvalue()


def moodle_csv(assignment: str, scores: dict[str, FinalScore],
               roster: dict[str, dict[str, str]]) -> str:
    """Moodle's grade import CSV; a student needs an ID number or an email address."""
    missing = sorted(s for s in scores if not (_person(scores[s], roster).get("sis_user_id")
                                               or _person(scores[s], roster).get("email")))
    if missing:
        raise ExportError(f"no Moodle id (sis_user_id or email in the roster) for "
                          f"{', '.join(missing)}: Moodle cannot tell who they are")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["First name", "Last name", "ID number", "Email address", assignment])
    for student in sorted(scores):
        person = _person(scores[student], roster)
        writer.writerow([person.get("first_name", ""), person.get("last_name", ""),
                         person.get("sis_user_id", ""), person.get("email", ""),
                         _points(scores[student].score)])
    return out.getvalue()


def plain_csv(assignment: str, scores: dict[str, FinalScore],
              roster: dict[str, dict[str, str]]) -> str:
    """nbgrader export's columns (assignment, student_id, names, email, raw score,
    late penalty, score, max score), plus the submission time."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["assignment", "timestamp", "student_id", "last_name", "first_name",
                     "email", "raw_score", "late_submission_penalty", "score", "max_score"])
    for student in sorted(scores):
        done = scores[student]
        person = _person(done, roster)
        writer.writerow([assignment, done.timestamp, student, person.get("last_name", ""),
                         person.get("first_name", ""), person.get("email", ""),
                         _points(done.raw_score), _points(done.late_submission_penalty),
                         _points(done.score), _points(done.max_score)])
    return out.getvalue()


LMS_WRITERS = {"canvas": canvas_csv, "moodle": moodle_csv, "csv": plain_csv}


# ----------------------------------------------------------------------------- platforms

def _message(test: dict) -> str:
    return test.get("message") or ("passed" if test.get("status") == Status.PASS else "")


def gradescope(result: dict) -> dict:
    """Gradescope's autograder results.json for one CheckResult JSON."""
    tests = [{
        "name": test["name"], "score": test["points"], "max_score": test["max_points"],
        "output": _message(test),
        "visibility": HIDDEN_VISIBILITY if test.get("hidden") else "visible",
    } for test in result.get("tests", [])]
    return {"score": result.get("score", 0.0), "output": _overall(result),
            "execution_time": round((result.get("timings") or {}).get("total_s", 0.0)),
            "tests": tests}


def _overall(result: dict) -> str:
    """The submission-wide text: build errors, kernel events, untrusted results."""
    lines = [f"{result.get('lab', '')}: {result.get('score', 0):g}/"
             f"{result.get('max_score', 0):g}"]
    build = result.get("build") or {}
    lines += [d.get("rendered") or d.get("message", "") for d in build.get("diagnostics", [])
              if d.get("level") == "error"]
    lines += [f"kernel: {e.get('summary', e.get('kind'))}"
              + (f" in {e['function']}" if e.get("function") else "")
              for e in result.get("events") or []]
    lines += [f"not trusted: {p}" for p in (result.get("channel") or {}).get("problems", [])]
    return "\n".join(lines)


def prairielearn(result: dict, limit: int = PRAIRIELEARN_MAX_BYTES) -> dict:
    """PrairieLearn's external-grader results.json, at most `limit` bytes as JSON.

    A driver that did not compile is `gradable: false` with the compiler's errors as
    format_errors (PrairieLearn then costs the student no attempt), unless the source
    policy refused it: that was an attempt on the grader and scores 0.
    """
    build = result.get("build") or {}
    errors = [d for d in build.get("diagnostics", []) if d.get("level") == "error"]
    refused = any(str(d.get("code", "")).startswith("kdlab::") for d in errors)
    doc: dict = {"gradable": True}
    if not build.get("ok", True) and not refused and errors:
        doc = {"gradable": False,
               "format_errors": [d.get("rendered") or d.get("message", "") for d in errors]}
    else:
        total = result.get("max_score") or 0
        doc["score"] = round(result.get("score", 0) / total, 4) if total else 0.0
    doc["message"] = _overall(result).splitlines()[0]
    doc["output"] = _overall(result) + "\n\n" + (result.get("kernel_log") or "")
    doc["tests"] = [{"name": t["name"], "description": t.get("description", "")
                     + (" (hidden test)" if t.get("hidden") else ""),
                     "points": t["points"], "max_points": t["max_points"],
                     "message": _message(t)} for t in result.get("tests", [])]
    return fit(doc, limit)


def fit(doc: dict, limit: int) -> dict:
    """`doc` with its longest texts (output, message, format errors, test messages) cut until
    its JSON is at most `limit` bytes; scores and test names are never cut."""
    marker = "\n[... cut to fit the size limit ...]"
    while (excess := len(json.dumps(doc).encode()) - limit) > 0:
        slots: list[tuple[Any, Any]] = [(doc, key) for key in ("output", "message") if key in doc]
        slots += [(test, "message") for test in doc.get("tests", [])]
        slots += [(doc["format_errors"], i) for i in range(len(doc.get("format_errors", [])))]
        holder, key = max(slots, key=lambda slot: len(slot[0][slot[1]]), default=(None, None))
        if holder is None or len(holder[key]) <= len(marker):
            raise ValueError(f"the result does not fit in {limit} bytes even without its texts")
        # Cutting `excess` characters frees at least `excess` bytes of JSON.
        text = holder[key]
        holder[key] = text[:max(0, min(len(text) - excess, len(text) - 1) - len(marker))] + marker
    return doc


def junit(result: dict) -> str:
    """JUnit XML (the element and attribute set of the junit-10 schema that Jenkins, GitLab
    and pytest read): one testsuite for the lab, a testcase per graded item, its points as
    suite properties (testcase has no properties in that schema)."""
    tests = result.get("tests", [])
    failures = sum(1 for t in tests if t["status"] == Status.FAIL)
    errors = sum(1 for t in tests if t["status"] == Status.ERROR)
    skipped = sum(1 for t in tests if t["status"] == Status.SKIP)
    seconds = f"{(result.get('timings') or {}).get('total_s', 0.0):.3f}"
    lab = result.get("lab", "kdlab")
    root = ET.Element("testsuites", name="kdlab", tests=str(len(tests)),
                      failures=str(failures), errors=str(errors), time=seconds)
    suite = ET.SubElement(root, "testsuite", name=lab, tests=str(len(tests)),
                          failures=str(failures), errors=str(errors), skipped=str(skipped),
                          time=seconds)
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="score", value=f"{result.get('score', 0):g}")
    ET.SubElement(props, "property", name="max_score", value=f"{result.get('max_score', 0):g}")
    for test in tests:
        ET.SubElement(props, "property", name=f"points.{test['name']}",
                      value=f"{test['points']:g}/{test['max_points']:g}")
        if test.get("hidden"):
            ET.SubElement(props, "property", name=f"hidden.{test['name']}", value="true")
    for test in tests:
        case = ET.SubElement(suite, "testcase", name=test["name"], classname=lab)
        message = test.get("message") or ""
        tag = {Status.FAIL: "failure", Status.ERROR: "error",
               Status.SKIP: "skipped"}.get(Status(test["status"]))
        if tag:
            outcome = ET.SubElement(case, tag, message=message.splitlines()[0][:200]
                                    if message else test["status"], type=test["status"])
            outcome.text = message
    ET.SubElement(suite, "system-out").text = result.get("kernel_log") or ""
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def check_format(result: dict, name: str) -> str:
    """The result in format `name` (one of CHECK_FORMATS), as text to print."""
    if name == "junit":
        return junit(result)
    doc = gradescope(result) if name == "gradescope" else prairielearn(result)
    return json.dumps(doc, indent=1)
