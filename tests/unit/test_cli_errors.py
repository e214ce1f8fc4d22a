"""A user's mistake ends in one plain `kdlab: ...` message, never in a traceback.

Each case runs the real command line (`python3 -m grader.cli.main`, what the `kdlab`
wrapper runs) on a mistake a newcomer makes: a misspelt image or lab, a file
that is not there, an image not built yet. The message must name the mistake.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from grader import tags
from tests.conftest import REPO

CASES = [
    (["image", "build", "nosuch"], "no image 'nosuch'"),
    (["skeleton", "labs/nosuch"], "not a lab folder"),
    (["grade", "00-hello", "--course", "/nonexistent"], "/nonexistent is not a directory"),
    (["kernel", "build", "--source", "/nonexistent.tar.xz"], "/nonexistent.tar.xz"),
    (["lab", "--image", tags.image("nosuch"), "--port", "1"], "is not here"),
]


@pytest.mark.parametrize(("args", "says"), CASES, ids=lambda a: " ".join(a) if isinstance(a, list)
                         else None)
def test_mistake_gets_a_message_not_a_traceback(args: list[str], says: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "grader.cli.main", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    assert says in proc.stderr and "kdlab" in proc.stderr, proc.stderr
