"""Hidden tests stay hidden: their code is nowhere in the student's image, and a check
there runs the visible tests only, listing the hidden ones as graded after submission.

The lab image is rebuilt from this checkout first (a no-op when nothing changed).
"""

from __future__ import annotations

import json
import re

import pytest

from grader import images, sandbox
from grader.lab import Lab, discover
from tests.conftest import LABS, REPO

pytestmark = pytest.mark.e2e

#: Lines shorter than this are too generic to identify a hidden test's code.
MIN_LINE = 24


def fingerprints(lab: Lab) -> list[str]:
    """Distinctive lines of the lab's hidden tests and helpers (code and message text)."""
    lines = []
    for path in sorted(lab.hidden_dir.iterdir()):
        for line in path.read_text().splitlines():
            line = line.strip()
            # String literals of C helpers also survive compilation: search for those too.
            lines += re.findall(rf'"([^"%\\]{{{MIN_LINE},}})"', line)
            if len(line) >= MIN_LINE and not line.startswith(("#", "//", "/*", "*")):
                lines.append(line)
    return sorted(set(lines))


@pytest.fixture(scope="module")
def lab_image() -> str:
    images.build(["lab"])
    return images.IMAGES["lab"].tag


def test_every_lab_has_hidden_tests_with_code_to_look_for() -> None:
    for lab in discover(LABS):
        hidden = [t.name for t in lab.tests if t.hidden]
        assert hidden and lab.has_hidden_tests, lab.id
        assert len(fingerprints(lab)) >= 1, lab.id
        visible = (lab.guest_dir / "tests.sh").read_text()
        for name in hidden:
            assert f"{name}()" not in visible, f"{lab.id}: {name} is defined in guest/"
            assert f"{name}()" in (lab.hidden_dir / "tests.sh").read_text(), name


def test_no_hidden_test_code_anywhere_in_the_lab_image(lab_image: str) -> None:
    patterns = "\n".join(p for lab in discover(LABS) for p in fingerprints(lab))
    script = ("cat > /tmp/patterns; grep -rlaF -f /tmp/patterns / --exclude-dir=proc "
              "--exclude-dir=sys --exclude-dir=dev 2>/dev/null | grep -v '^/tmp/patterns$'; "
              "ls -d /opt/kdlab/labs/*/hidden 2>/dev/null; true")
    client = sandbox.client()
    container = client.containers.create(lab_image, ["sh", "-c", script], user="root",
                                         stdin_open=True, network_disabled=True)
    try:
        socket = container.attach_socket(params={"stdin": 1, "stream": 1})
        container.start()
        socket._sock.sendall(patterns.encode() + b"\n")
        socket._sock.close()
        container.wait(timeout=600)
        found = container.logs(stdout=True, stderr=False).decode().split()
    finally:
        container.remove(force=True)
    assert found == [], f"hidden test code in the lab image: {found}"


def test_a_check_in_the_lab_image_lists_hidden_tests_as_graded_later(lab_image: str) -> None:
    solution = REPO / "labs" / "00-hello" / "hello.rs"
    client = sandbox.client()
    out = client.containers.run(
        lab_image, ["kdlab", "check", "/opt/kdlab/labs/00-hello", "--source", "/src/hello.rs",
                    "--json"],
        volumes={str(solution): {"bind": "/src/hello.rs", "mode": "ro"}},
        remove=True, network_disabled=True, stdout=True, stderr=False)
    result = json.loads(out.decode().strip().splitlines()[-1])
    tests = {t["name"]: t for t in result["tests"]}
    hidden = tests["parameter_default"]
    assert hidden["hidden"] and hidden["status"] == "skip" and hidden["points"] == 0
    assert "graded after you submit" in hidden["message"]
    visible = [t for t in result["tests"] if not t["hidden"]]
    assert visible and all(t["status"] == "pass" for t in visible), visible
