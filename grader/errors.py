"""The one base of every error kdlab reports to a person.

Contract: anything that goes wrong because of the user's input or machine (a missing
tool, a bad lab, no Docker, no kernel pair) raises a subclass of `KdlabError` whose
message says what happened and what to do, in one line. The CLI catches this base
once and prints the message without a traceback; anything else escaping is a bug in
kdlab and keeps its traceback. A student's broken or hostile driver is never an
error: it is a grade with feedback (grading/results.py).
"""

from __future__ import annotations


class KdlabError(Exception):
    """A problem the user can fix; `str(error)` says how. `exit_code` is the CLI's."""

    exit_code: int = 2


class UsageError(KdlabError):
    """The command line names something that is not there (a file, a lab)."""
