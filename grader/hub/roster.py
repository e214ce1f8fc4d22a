"""A class list for `kdlab hub --roster FILE`: the CSV a registrar or an LMS exports.

Contract: `read(path)` returns the class as `Student`s (username, names, email) in
the file's order, or raises RosterError with the file, the row and what to change.
The username column is found by its header, whichever export it comes from:
`username` (Moodle, most registrars), `login_id` / `sis_login_id` (Canvas's
gradebook export: "SIS Login ID"), `id` (nbgrader's `db student import`
format), `email` (its local part, when nothing else names the login). Rows with
no username (Canvas's "Points Possible" row) are skipped. A username must be
one a hub, a Docker volume name and nbgrader's exchange can all carry:
lowercase letters, digits, `.`, `_`, `-` (nbgrader splits file names on `+`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from grader.hub import HubError

#: Header names of an email address: the login is its local part.
EMAIL_COLUMNS = ("email", "email_address")
#: Header names that hold the login, most specific first (headers are compared in
#: lower case with spaces and dashes as underscores).
USERNAME_COLUMNS = ("username", "user_name", "login", "login_id", "sis_login_id", "user",
                    "user_id", "id", "student_id", *EMAIL_COLUMNS)
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
#: A roster larger than this is not a class list (a wrong file, say).
MAX_ROWS = 20_000


class RosterError(HubError):
    """The roster cannot be used as it is; the message names the row and the fix."""


@dataclass(frozen=True)
class Student:
    """One person of the class."""

    username: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""


def _key(header: str) -> str:
    return re.sub(r"[\s-]+", "_", header.strip().lower())


def _column(headers: list[str], path: Path) -> str:
    keys = {_key(h): h for h in headers if h}
    for wanted in USERNAME_COLUMNS:
        if wanted in keys:
            return keys[wanted]
    raise RosterError(f"{path}: no column names the students' logins (headers: "
                      f"{', '.join(headers) or 'none'}); add a column 'username'")


def _field(row: dict[str, str], *names: str) -> str:
    by_key = {_key(k): (v or "").strip() for k, v in row.items() if k}
    return next((by_key[n] for n in names if by_key.get(n)), "")


def read(path: Path) -> list[Student]:
    """The class in `path`, in the file's order; RosterError on anything unusable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RosterError(f"{path}: no such file (the roster is a CSV file with a header "
                          "row and a 'username' column)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise RosterError(f"{path}: cannot be read as UTF-8 text ({err}); export the "
                          "roster as CSV (UTF-8)") from None
    reader = csv.DictReader(text.splitlines())
    column = _column(list(reader.fieldnames or []), path)
    students: list[Student] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(reader, start=2):
        if number > MAX_ROWS:
            raise RosterError(f"{path}: more than {MAX_ROWS} rows; is this the class list?")
        value = (row.get(column) or "").strip()
        if not value:
            continue
        username = value.split("@", 1)[0].lower() if _key(column) in EMAIL_COLUMNS \
            else value.lower()
        if not USERNAME.fullmatch(username):
            raise RosterError(f"{path}, row {number}: {value!r} cannot be a username "
                              "(lowercase letters, digits, '.', '_', '-', at most 63); fix "
                              f"the '{column}' column")
        if username in seen:
            raise RosterError(f"{path}, rows {seen[username]} and {number}: the username "
                              f"{username!r} appears twice; each student once")
        seen[username] = number
        students.append(Student(username, _field(row, "first_name", "firstname", "given_name"),
                                _field(row, "last_name", "lastname", "surname", "family_name"),
                                _field(row, "email", "email_address")))
    if not students:
        raise RosterError(f"{path}: no students in the '{column}' column")
    return students
