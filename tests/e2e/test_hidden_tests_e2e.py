"""Hidden tests stay hidden: their code is nowhere in the student's image, and a check
there runs the visible tests only, listing the hidden ones as graded after submission.

The lab image is rebuilt from this checkout first (a no-op when nothing changed).
"""

from __future__ import annotations

import json
import re

import pytest

from grader.batch import sandbox
from grader.images import build as images
from grader.lab.model import Lab, discover
from tests import labkit
from tests.conftest import LABS, REPO

#: Lines shorter than this are too generic to identify a hidden test's code.
MIN_LINE = 28


def _visible_text() -> str:
    """Everything of the labs outside their hidden/ folders (shared helpers, boilerplate)."""
    return "\n".join(path.read_text(errors="replace") for path in sorted(LABS.rglob("*"))
                     if path.is_file() and "hidden" not in path.relative_to(LABS).parts)


def fingerprints(lab: Lab) -> list[str]:
    """Text only the lab's hidden tests and helpers have (code lines, and the string
    literals that survive compilation into a helper binary): nothing visible contains it."""
    visible = _visible_text()
    found = []
    for path in sorted(lab.hidden_dir.iterdir()):
        for line in path.read_text().splitlines():
            line = line.strip()
            found += re.findall(rf'"([^"%\\]{{{MIN_LINE},}})"', line)
            if len(line) >= MIN_LINE and not line.startswith(("#", "//", "/*", "*")):
                found.append(line)
    return sorted({text for text in found if text not in visible})


@pytest.fixture(scope="module")
def lab_image() -> str:
    return labkit.lab_image()


def test_every_lab_has_hidden_tests_with_code_to_look_for() -> None:
    for lab in discover(LABS):
        hidden = [t.name for t in lab.tests if t.hidden]
        assert hidden and lab.has_hidden_tests, lab.id
        assert len(fingerprints(lab)) >= 1, lab.id
        visible = (lab.guest_dir / "tests.sh").read_text()
        for name in hidden:
            assert f"{name}()" not in visible, f"{lab.id}: {name} is defined in guest/"
            assert f"{name}()" in (lab.hidden_dir / "tests.sh").read_text(), name


def test_the_lab_image_context_has_no_hidden_file() -> None:
    """Nothing of a lab's hidden/ folder is even sent to the Docker daemon."""
    files = images.context_files(images.IMAGES["lab"])
    assert not [arc for arc, _ in files if "/hidden/" in arc]
    assert [arc for arc, _ in files if arc.endswith("guest/tests.sh")]


#: Where Debian's packages put their files: nothing of this project's can be there, and
#: searching their gigabytes would only slow the search down.
SYSTEM = ("/proc", "/sys", "/dev", "/usr/lib", "/usr/share", "/usr/bin", "/usr/sbin",
          "/usr/libexec", "/usr/include", "/usr/src", "/var/lib/dpkg", "/var/cache")


def test_no_hidden_test_code_anywhere_in_the_lab_image(lab_image: str) -> None:
    patterns = "\n".join(p for lab in discover(LABS) for p in fingerprints(lab))
    prune = " -o ".join(f"-path {path}" for path in SYSTEM)
    script = (f"printf '%s\\n' \"$PATTERNS\" > /tmp/patterns; "
              f"find / \\( {prune} -o -path /tmp/patterns \\) -prune -o -type f -print0 "
              "| xargs -0 grep -laF -f /tmp/patterns; "
              "ls -d /opt/kdlab/labs/*/hidden 2>/dev/null; true")
    client = sandbox.client()
    out = client.containers.run(lab_image, ["sh", "-c", script], user="root", remove=True,
                                network_disabled=True, environment={"PATTERNS": patterns})
    found = out.decode().split()
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
