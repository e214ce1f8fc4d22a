"""`kdlab hub --roster`: the class lists registrars and LMSs export, and the mistakes in them.

Each case is a real CSV file as an export looks (Canvas's gradebook export with its
"Points Possible" row, Moodle's user list, nbgrader's student import format), read
by grader.hub.roster; a roster that cannot be used is one line naming the row and
the fix, also through the real command line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grader.errors import KdlabError
from grader.hub import roster
from tests.conftest import REPO

CANVAS = """Student,ID,SIS User ID,SIS Login ID,Section,Lab 00 (1234)
    Points Possible,,,,,6.00
"Lee, Ann",4411,S001,ann.lee,CS 330,
"Ng, Bob",4412,S002,Bob_Ng,CS 330,
"""
MOODLE = """username,firstname,lastname,email
ann,Ann,Lee,ann@uni.example
bob,Bob,Ng,bob@uni.example
"""
NBGRADER = """id,first_name,last_name,email
ann-1,Ann,Lee,ann@uni.example
"""
EMAIL_ONLY = """Name,Email Address
Ann Lee,Ann.Lee@uni.example
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "students.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "expected"), [
    (CANVAS, ["ann.lee", "bob_ng"]),
    (MOODLE, ["ann", "bob"]),
    (NBGRADER, ["ann-1"]),
    (EMAIL_ONLY, ["ann.lee"]),
], ids=["canvas", "moodle", "nbgrader", "email"])
def test_exports_give_their_logins(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert [s.username for s in roster.read(_write(tmp_path, text))] == expected


def test_names_and_emails_are_kept(tmp_path: Path) -> None:
    ann = roster.read(_write(tmp_path, MOODLE))[0]
    assert (ann.first_name, ann.last_name, ann.email) == ("Ann", "Lee", "ann@uni.example")


@pytest.mark.parametrize(("text", "says"), [
    ("name,grade\nAnn,3\n", "no column names the students' logins"),
    ("username\nann\nANN\n", "rows 2 and 3: the username 'ann' appears twice"),
    ("username\nann+bob\n", "row 2: 'ann+bob' cannot be a username"),
    ("username\n\n", "no students"),
], ids=["no-column", "twice", "bad-name", "empty"])
def test_unusable_rosters_say_which_row_and_what_to_do(tmp_path: Path, text: str,
                                                        says: str) -> None:
    with pytest.raises(roster.RosterError) as refused:
        roster.read(_write(tmp_path, text))
    assert says in str(refused.value)
    assert isinstance(refused.value, KdlabError)
    assert "\n" not in str(refused.value)


def test_a_bad_roster_on_the_command_line_is_one_message(tmp_path: Path) -> None:
    path = _write(tmp_path, "username\nann+bob\n")
    proc = subprocess.run([sys.executable, "-m", "grader.cli.main", "hub", "--roster", str(path),
                           "--name", "kdlab-hub-roster-test"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "cannot be a username" in proc.stderr, proc.stderr
