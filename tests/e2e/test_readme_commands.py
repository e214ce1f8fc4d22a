"""Every command of the README, run as written, in the order the README gives them.

The commands are the lines of the README's fenced `sh` blocks (a trailing
`# comment` dropped). Each runs in bash from the checkout's top folder, as a
reader would paste it, through scripts/in-toolchain like on the host (the
toolchain image has the Docker CLI, and the checkout and the kernel pair cache
are at the same paths inside). A command passes when it exits 0 without a
Python traceback, and, where the README promises more (a lab URL that opens,
one JSON object), when it keeps that promise too.

SKIPPED names the few commands that are not run here, each with the reason;
EXPECTED_ERRORS the ones that, in a checkout with no student work, must stop
with the message that says what to do.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.batch import sandbox
from grader.hub import server as hub_server
from grader.images import labserver
from tests.conftest import REPO

README = REPO / "README.md"
#: Seconds one README command may take (a check builds and boots under TCG).
COMMAND_TIMEOUT_S = 900

SKIPPED = {
    "./setup": "CI runs it right before the tests (.ci/run); run from inside the toolchain "
               "container it would rebuild the image the tests are running in",
    "scripts/in-toolchain python3 -m pytest -q": "the test suite itself, this test included",
    'scripts/in-toolchain python3 -m pytest -q -m "not e2e"': "the unit lane: .ci/run runs it "
        "right before the end-to-end lane this test belongs to",
    "scripts/in-toolchain kdlab kernel build --source debian:linux-source-7.2":
        "builds a second kernel pair (about 6 minutes of both cores); kernel sources are "
        "tested in test_kernel_pair",
    "scripts/in-toolchain kdlab kernel build --source /path/to/linux-7.0.tar.xz":
        "a placeholder path, not a command",
    "scripts/in-toolchain kdlab --kernel ~/.cache/kdlab/kernels/<key> check …":
        "a placeholder, not a command",
    "scripts/in-toolchain python3 bench/check_latency.py":
        "a benchmark: it measures for minutes and prints figures rather than passing or failing",
    "scripts/in-toolchain python3 bench/check_latency.py --lab labs/03-pci-registers "
    "--trace-cost": "a benchmark (as above)",
    "scripts/in-toolchain python3 bench/batch_throughput.py -n 100": "a benchmark (as above)",
    "scripts/in-toolchain python3 bench/trace_picture.py": "a benchmark (as above)",
    "scripts/in-toolchain dask scheduler": "a service that runs until stopped; "
        "tests/e2e/test_cluster.py starts one (and the workers) on hosts of their own",
    "scripts/in-toolchain kdlab worker tcp://HOST:8786": "a placeholder address, and a "
        "service (as above)",
    "scripts/in-toolchain kdlab grade 00-hello --course course --cluster tcp://HOST:8786":
        "a placeholder address; tests/e2e/test_cluster.py grades through a real cluster",
    "scripts/in-toolchain kdlab image save grader -o grader.tar.gz": "writes gigabytes for "
        "minutes; tests/e2e/test_cluster_images.py saves and loads a small image the same way",
    "kdlab image load grader.tar.gz": "on a grading host, after the save (as above)",
    "scripts/in-toolchain python3 bench/mutation_score.py --jobs 2":
        "grades every seeded bug of every lab (minutes); tests/test_labs.py grades the same "
        "variants with their expectations",
    "scripts/in-toolchain kdlab hub --roster students.csv":
        "starts a course server for a class on port 8000 until stopped; tests/e2e/test_hub.py "
        "starts one of its own the same way (grader.hub.server.start)",
    "scripts/in-toolchain python3 bench/hub_capacity.py -n 10": "a benchmark (as above)",
}

#: Commands that need what this checkout does not have (a released course with student
#: submissions), and the advice one of which they must stop with instead of a traceback.
NO_SUBMISSIONS = ("release it first", "collect the submissions first")
EXPECTED_ERRORS = {
    "scripts/in-toolchain kdlab grade 00-hello --course course": NO_SUBMISSIONS,
    "scripts/in-toolchain kdlab grade 00-hello --course course --similarity": NO_SUBMISSIONS,
    "scripts/in-toolchain kdlab grade 00-hello --course course --regrade ann bob":
        NO_SUBMISSIONS,
    "scripts/in-toolchain kdlab similarity 00-hello --course course --archive "
    "~/kdlab-2025/submitted": NO_SUBMISSIONS,
    "scripts/in-toolchain kdlab export 00-hello --course course --to canvas --roster "
    "roster.csv": ("not a readable CSV roster",),
    # No course server has run here, so there is no course folder it collected into.
    "scripts/in-toolchain kdlab grade 00-hello --course kdlab-course": (
        "`kdlab hub` makes ./kdlab-course",),
}

#: Files the commands leave in the checkout (the README's own `> hello.rs`, the
#: gradebook nbgrader opens), removed afterwards unless they were there before.
LEFT_BEHIND = ("hello.rs", "course/gradebook.db")


def commands(readme: Path = README) -> list[str]:
    """The command lines of the README's ```sh blocks, in order, comments dropped."""
    found: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", readme.read_text(), re.M | re.S):
        for line in block.splitlines():
            command = re.sub(r"\s+#\s.*$", "", line).strip()
            if command:
                found.append(command)
    return found


@dataclass
class Ran:
    """One command's exit code and output; for `kdlab lab`, whether its URL opened."""

    code: int
    stdout: str
    stderr: str
    opened: bool | None = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _run(command: str) -> Ran:
    proc = subprocess.run(["bash", "-c", command], cwd=REPO, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL)
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def _lab_url(output: str) -> str:
    match = re.search(r"http://127\.0\.0\.1:\d+/lab\?token=\w+", output)
    assert match, f"no lab URL printed:\n{output}"
    return match.group(0)


def _opens(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status == 200 and "JupyterLab" in response.read().decode(errors="replace")


@pytest.fixture(scope="module")
def ran() -> dict[str, Ran]:
    """Every command not skipped, run once in README order (later ones use earlier ones'
    results: the skeleton written to hello.rs, the lab started); the lab URL opened
    between starting and stopping the lab."""
    client = sandbox.client()
    students_lab = any(c.name == labserver.CONTAINER_NAME for c in client.containers.list(all=True))
    class_hub = hub_server.running(client, hub_server.default_name()) is not None
    had_volume = any(v.name == labserver.WORK_VOLUME for v in client.volumes.list())
    before = {name for name in LEFT_BEHIND if (REPO / name).exists()}
    results: dict[str, Ran] = {}
    try:
        for command in commands():
            if command in SKIPPED or (students_lab and " kdlab lab" in command) or (
                    class_hub and " kdlab hub --stop" in command):
                continue  # (a lab or hub already running here is someone's: left alone)
            result = results[command] = _run(command)
            if command.endswith("kdlab lab") and result.code == 0:
                result.opened = _opens(_lab_url(result.stdout))
    finally:
        for name in set(LEFT_BEHIND) - before:
            (REPO / name).unlink(missing_ok=True)
        if not students_lab:
            labserver.stop(client)
            if not had_volume:
                for volume in client.volumes.list(filters={"name": labserver.WORK_VOLUME}):
                    volume.remove(force=True)
    return results


def test_the_skip_lists_name_readme_commands() -> None:
    """Every skipped or expected-to-fail command is still in the README, word for word."""
    documented = set(commands())
    assert documented, "no ```sh blocks found in the README"
    assert set(SKIPPED) <= documented, set(SKIPPED) - documented
    assert set(EXPECTED_ERRORS) <= documented, set(EXPECTED_ERRORS) - documented
    assert len(SKIPPED) < len(documented) / 2, "most of the README is not run"


@pytest.mark.parametrize("command", [c for c in commands() if c not in SKIPPED])
def test_readme_command(command: str, ran: dict[str, Ran]) -> None:
    if command not in ran:
        pytest.skip("a lab or a course server is running here: not replaced or stopped")
    result = ran[command]
    assert "Traceback (most recent call last)" not in result.output, result.output[-4000:]
    if command in EXPECTED_ERRORS:
        assert result.code != 0, result.output
        assert any(advice in result.output for advice in EXPECTED_ERRORS[command]), result.output
        assert "kdlab: " in result.output, result.output
        return
    assert result.code == 0, f"exit {result.code}:\n{result.output[-4000:]}"
    if command.endswith("kdlab lab"):
        assert result.opened, result.output
    if command.endswith("--json"):  # exactly one JSON object, the check's report
        report = json.loads(result.stdout)
        assert report["lab"] == "00-hello" and report["tests"], report
