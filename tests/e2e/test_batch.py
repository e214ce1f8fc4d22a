"""Batch grading end to end: a real nbgrader course, the real Docker engine, real QEMU.

One batch of 23 submissions of lab 00 — correct, broken and hostile — is graded
by `kdlab grade` (each submission in its own sandbox container) and every
submission is checked for its score, its feedback and its gradebook entry;
then the same batch is run again (nothing is graded twice). A separate small
course is killed midway and resumed. Hostile drivers cover what a student
controls (the driver source: panic, hang, printk flood, a fork bomb in the
guest, a compile-time memory bomb, `include_str!`/`#[path]` of host files);
hostile *Python* cells in a notebook are shown never to run at all.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader.batch import run as batch
from tests import variants
from tests.batchcourse import REPO, SCRATCH, Course, sandbox_leftovers
from tests.conftest import LABS

HELLO = LABS / "00-hello"
HOSTILE = Path(__file__).resolve().parents[1] / "data" / "batch"


def _leaky(path: str, how: str = "include_str") -> str:
    """The hello solution plus a compile-time read of `path`, printed at init."""
    solution = (HELLO / "hello.rs").read_text()
    if how == "path":
        grab = f'#[path = "{path}"]\nmod leak;\n'
        show = ""
    else:
        grab = f'const LEAK: &[u8] = {how}!("{path}");\n'
        show = '        pr_info!("leak: {:?}\\n", LEAK);\n'
    solution = solution.replace("use kernel::prelude::*;\n", f"use kernel::prelude::*;\n{grab}")
    return solution.replace("        let count = module_parameters::count.value();\n",
                            f"{show}        let count = module_parameters::count.value();\n", 1)


class _Listener:
    """A TCP server on the host side; counts connections (there must be none)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def _submissions(course: Course, listener: _Listener) -> dict[str, dict]:
    """Hand in the batch; returns what each student must get."""
    solution = (HELLO / "hello.rs").read_text()
    variant = lambda name: variants.text("00-hello", name)  # noqa: E731
    marker = course.root / "PWNED-by-notebook"
    outside = SCRATCH / f"PWNED-{course.root.name}"
    hostile_python = (
        f"import socket\nsocket.create_connection(('127.0.0.1', {listener.port}), timeout=5)",
        f"open({str(marker)!r}, 'w').write('pwned')\nopen({str(outside)!r}, 'w').write('x')",
        "import os\nos.system('touch /tmp/pwned')",
    )
    hidden_tests = str(HELLO / "hidden" / "tests.sh")
    refused = "including files at build time is not allowed"
    expect: dict[str, dict] = {
        "a-solution": dict(driver=solution, score=6),
        "b-alt-solution": dict(driver=variant("alt_solution.rs"), score=6),
        "c-skeleton": dict(driver=course.lab.skeleton(), score=1,
                           message="greetings: expected"),
        "d-no-goodbye": dict(driver=variant("bug_no_goodbye.patch"), score=4,
                             message="no 'Goodbye from kdlab after 3 greetings'"),
        "e-off-by-one": dict(driver=variant("bug_off_by_one.patch"), score=3,
                             message="expected 'Hello from kdlab (1/3)"),
        "f-compile-error": dict(driver=variant("compile_error.patch"), score=0,
                                message="did not build", compiler="hello.rs:35"),
        "g-panic-in-init": dict(driver=variant("panic_in_init.patch"), score=0, message="panic",
                                event="rust_panic"),
        "h-hang-in-init": dict(driver=variant("hang_in_init.patch"), score=0,
                               message="module load (init) was still running", event="hang"),
        "i-printk-flood": dict(driver=(HOSTILE / "printk_flood.rs").read_text(), score=0,
                               message="not run"),
        "j-fork-bomb": dict(driver=(HOSTILE / "fork_bomb.rs").read_text(), score=0,
                            message="not run"),
        "k-forged-ktap": dict(driver=variant("forged_ktap.rs"), score=1),
        "l-include-hidden-test": dict(driver=_leaky(hidden_tests, "include_bytes"), score=0,
                                      compiler=refused),
        "m-include-gradebook": dict(driver=_leaky(str(course.root / "gradebook.db"),
                                                  "include_bytes"), score=0,
                                    compiler=refused),
        "n-include-peer": dict(driver=_leaky(str(course.root / "submitted" / "a-solution" /
                                                 "hello" / "hello.ipynb"), "include_str"),
                               score=0, compiler=refused),
        "o-path-attribute": dict(driver=_leaky(hidden_tests, "path"), score=0,
                                 compiler=refused),
        "p-hostile-python": dict(driver=solution, extra_cells=hostile_python, score=6),
        "q-no-driver-cell": dict(driver=None, score=0, status="no-driver",
                                 message="no driver cell"),
        "r-two-driver-cells": dict(driver=solution, second_driver=True, score=0,
                                   status="no-driver", message="2 driver cells"),
        "s-names-another-lab": dict(driver=solution, lab_id="05-edu-capstone", score=6,
                                    note="graded as '00-hello'"),
        "t-same-as-a": dict(driver=solution, score=6, reused_from="a-solution"),
        "u-empty-driver": dict(driver="", score=0, message="did not build"),
        "v-not-json": dict(driver=solution, garbage=True, score=0, status="no-driver",
                           message="not a readable notebook"),
        "w-memory-bomb": dict(driver=solution.replace(
            "use kernel::prelude::*;\n",
            "use kernel::prelude::*;\npub static BIG: [u8; 1 << 32] = [1; 1 << 32];\n", 1),
            score=0, status="oom", message="ran out of memory"),
    }
    for student, spec in expect.items():
        folder = course.submit(student, spec["driver"], extra_cells=spec.get("extra_cells", ()),
                               lab_id=spec.get("lab_id"),
                               second_driver=spec.get("second_driver", False))
        if spec.get("garbage"):
            (folder / "hello.ipynb").write_text('{"cells": [ this is not json')
    expect["p-hostile-python"]["markers"] = [marker, outside]
    return expect


@pytest.fixture(scope="module")
def graded(grader_image):
    """The batch, graded once by the CLI (as an instructor runs it)."""
    listener = _Listener()
    course = Course(HELLO, "hello")
    expect = _submissions(course, listener)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "grader.cli.main", "grade", "hello", "--course", str(course.root),
         "--labs", str(LABS), "--image", grader_image],
        capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - started
    listener.close()
    yield course, expect, proc, seconds, listener
    course.remove()


def _records(course: Course) -> dict[str, dict]:
    journal = course.root / "kdlab" / "hello" / "journal"
    return {p.stem: json.loads(p.read_text()) for p in journal.glob("*.json")}


def test_batch_completes_without_grader_errors(graded) -> None:
    course, expect, proc, seconds, _ = graded
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(expect) >= 20
    assert set(_records(course)) == set(expect)
    assert "Traceback" not in proc.stderr
    for student in expect:  # progress was shown per submission
        assert student in proc.stdout
    print(f"\n{len(expect)} submissions graded in {seconds:.0f} s")


@pytest.mark.parametrize("student", [
    "a-solution", "b-alt-solution", "c-skeleton", "d-no-goodbye", "e-off-by-one",
    "f-compile-error", "g-panic-in-init", "h-hang-in-init", "i-printk-flood", "j-fork-bomb",
    "k-forged-ktap", "l-include-hidden-test", "m-include-gradebook", "n-include-peer",
    "o-path-attribute", "p-hostile-python", "q-no-driver-cell", "r-two-driver-cells",
    "s-names-another-lab", "t-same-as-a", "u-empty-driver", "v-not-json", "w-memory-bomb",
])
def test_each_submission_gets_its_score_and_feedback(graded, student: str) -> None:
    course, expect, _, _, _ = graded
    spec = expect[student]
    record = _records(course)[student]
    result = record["result"]
    assert result["score"] == spec["score"], json.dumps(result["tests"], indent=1)[:3000]
    assert result["max_score"] == 6
    assert record["status"] == spec.get("status", "graded"), record["message"]
    # The gradebook holds the same points, cell by cell.
    cells = course.gradebook_scores()[student]
    assert sum(cells.values()) == spec["score"]
    for test in result["tests"]:
        assert cells[f"test_{test['name']}"] == test["points"]
    # Feedback: a page per student that says what went wrong.
    page = (course.root / "feedback" / student / "hello" / "hello.html").read_text()
    assert f"{spec['score']:g} / 6" in page
    messages = "\n".join(t["message"] for t in result["tests"]) + record["message"]
    if spec["score"] < 6:
        assert any(t["status"] != "pass" and t["message"] for t in result["tests"])
    if "message" in spec:
        assert spec["message"] in messages
        assert spec["message"].replace("'", "&#x27;") in page
    if "compiler" in spec:
        rendered = "\n".join(d["rendered"] or d["message"] for d in
                             result["build"]["diagnostics"])
        assert spec["compiler"] in rendered, rendered[:2000]
        assert not result["build"]["ok"]
    if "event" in spec:
        assert spec["event"] in [e["kind"] for e in result["events"]]
    if "note" in spec:
        assert any(spec["note"] in note for note in record["notes"])
    if "reused_from" in spec:
        assert record["reused_from"] == spec["reused_from"]


def test_hidden_files_never_reach_the_kernel_log(graded) -> None:
    """include_* of the tests, the gradebook or a peer was refused: nothing leaked."""
    course, _, _, _, _ = graded
    records = _records(course)
    for student in ("l-include-hidden-test", "m-include-gradebook", "n-include-peer",
                    "o-path-attribute"):
        result = records[student]["result"]
        assert result["boot"]["status"] == "not booted"
        assert "greetings without parameters" not in json.dumps(result)  # no test code shows


def test_notebook_python_never_runs(graded) -> None:
    """A student's Python cells (socket, writes outside the submission) are data, not code."""
    _, expect, _, _, listener = graded
    assert listener.connections == 0
    for marker in expect["p-hostile-python"]["markers"]:
        assert not marker.exists(), marker


def test_printk_flood_result_stays_bounded(graded) -> None:
    course, _, _, _, _ = graded
    size = (course.root / "kdlab" / "hello" / "journal" / "i-printk-flood.json").stat().st_size
    assert size < 256 * 1024


def test_csv_export_has_a_row_per_submission(graded) -> None:
    course, expect, _, _, _ = graded
    lines = (course.root / "kdlab" / "hello.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:6] == ["student", "assignment", "notebook", "status", "score", "max_score"]
    assert {"module_loads", "greets_count_times", "says_goodbye_on_unload",
            "parameter_default"} <= set(header)
    rows = {line.split(",")[0]: line.split(",") for line in lines[1:]}
    assert set(rows) == set(expect)
    for student, spec in expect.items():
        assert float(rows[student][4]) == spec["score"]


def test_no_container_or_volume_is_left(graded) -> None:
    assert sandbox_leftovers() == []


def test_rerun_is_idempotent(graded) -> None:
    """A second run grades nothing, and leaves the journal and the gradebook as they were."""
    course, expect, _, _, _ = graded
    before_records = _records(course)
    before_scores = course.gradebook_scores()
    summary = batch.grade(batch.Options(course=course.root, assignment="hello", labs=LABS))
    assert (summary.graded, summary.reused, summary.skipped) == (0, 0, len(expect))
    assert summary.complete
    assert _records(course) == before_records
    assert course.gradebook_scores() == before_scores


# ----------------------------------------------------------------------------- kill and resume

def test_killed_batch_resumes_and_grades_each_submission_once(grader_image) -> None:
    course = Course(HELLO, "hello")
    try:
        solution = (HELLO / "hello.rs").read_text()
        students = [f"s{n:02d}" for n in range(8)]
        for n, student in enumerate(students):
            # Distinct drivers (a comment differs), so each one is really graded.
            driver = solution if n % 3 else course.lab.skeleton()
            course.submit(student, f"// submission of {student}\n{driver}")
        cmd = [sys.executable, "-m", "grader.cli.main", "grade", "hello", "--course",
               str(course.root), "--labs", str(LABS), "--image", grader_image, "-j", "2"]
        journal = course.root / "kdlab" / "hello" / "journal"
        first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        deadline = time.monotonic() + 600
        while len(list(journal.glob("*.json"))) < 3:
            assert first.poll() is None, first.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        finished_first = {p.stem for p in journal.glob("*.json")}
        assert 3 <= len(finished_first) < len(students)

        second = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        history = [json.loads(line) for line in
                   (course.root / "kdlab" / "hello" / "history.jsonl").read_text().splitlines()
                   if line.strip()]
        graded = [h["student"] for h in history]
        assert sorted(graded) == students  # every submission graded exactly once
        runs = {h["student"]: h["run"] for h in history}
        first_run = runs[min(finished_first)]
        assert {s for s, r in runs.items() if r == first_run} == finished_first
        assert len(set(runs.values())) == 2
        scores = course.gradebook_scores()
        assert set(scores) == set(students)
        for n, student in enumerate(students):
            assert sum(scores[student].values()) == (6 if n % 3 else 1)
        assert sandbox_leftovers() == []
    finally:
        course.remove()


# ----------------------------------------------------------------------------- hang in probe

PCI_LAB = LABS / "03-pci-registers"


@pytest.mark.skipif(not (PCI_LAB / "lab.toml").is_file(), reason="needs the PCI lab")
def test_hang_in_probe_scores_zero_with_the_reason(grader_image) -> None:
    course = Course(PCI_LAB, "pci")
    try:
        solution = course.lab.solution()
        marker = "pin_init::pin_init_scope(move || {\n"
        assert marker in solution
        hang = solution.replace(marker, marker + "            #[allow(clippy::empty_loop)]\n"
                                "            loop {\n                core::hint::spin_loop();\n"
                                "            }\n", 1)
        course.submit("hangs-in-probe", hang)
        course.submit("solution", solution)
        summary = batch.grade(batch.Options(course=course.root, assignment="pci", labs=LABS))
        assert summary.complete, summary.describe()
        hung = summary.records["hangs-in-probe"].result
        assert hung["score"] == 0
        assert {e["kind"] for e in hung["events"]} & {"soft_lockup", "hang", "panic"}, \
            hung["events"]
        assert "not run" in hung["tests"][0]["message"]
        good = summary.records["solution"].result
        assert good["score"] == good["max_score"] > 0, json.dumps(good["tests"])[:2000]
    finally:
        course.remove()


def test_repo_scratch_is_where_courses_live() -> None:
    """Courses for these tests must be visible to the Docker daemon at the same path."""
    assert SCRATCH.is_relative_to(REPO)
