"""The student image end to end: `kdlab lab` starts it, JupyterLab answers, a check runs inside.

The image is rebuilt from this checkout first (Docker's layer cache makes that
quick when nothing changed), started the way `kdlab lab` starts it, on a free
port, with a work folder under build/ (visible to the Docker daemon at the same
path), and removed at the end.
"""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest

from grader.images import build as images
from tests import labkit
from tests.conftest import LABS

#: The lean target for the student image.
MAX_LAB_IMAGE_BYTES = 3_000_000_000


@pytest.fixture(scope="module")
def lab_server():
    built = {b.tag: b for b in images.build(["lab"])}
    work = labkit.SCRATCH / labkit.unique("lab-work")
    with labkit.running_lab(work=work) as (server, container):
        yield server, container, work, built
    shutil.rmtree(work, ignore_errors=True)


def test_lab_image_is_lean(lab_server) -> None:
    _, _, _, built = lab_server
    assert built[images.IMAGES["lab"].tag].size <= MAX_LAB_IMAGE_BYTES


def test_jupyterlab_answers_on_its_port(lab_server) -> None:
    server, container, _, _ = lab_server
    with urllib.request.urlopen(server.url, timeout=10) as response:
        assert response.status == 200
        assert "JupyterLab" in response.read().decode(errors="replace")
    api = f"http://127.0.0.1:{server.port}/api/kernelspecs?token={server.token}"
    with urllib.request.urlopen(api, timeout=10) as response:
        assert "python3" in json.loads(response.read())["kernelspecs"]
    logs = container.logs().decode(errors="replace")
    assert f"token={server.token}" in logs  # the start script printed how to open it


def test_runs_as_non_root_without_solutions(lab_server) -> None:
    _, container, _, _ = lab_server
    # Only the container's init stays root; JupyterLab (and so every kernel and
    # terminal) runs as the student.
    processes = container.exec_run(["ps", "-eo", "uid=,args="]).output.decode()
    jupyter = [line.split(None, 1) for line in processes.splitlines() if "jupyter-lab" in line]
    assert jupyter and all(uid == "1000" for uid, _ in jupyter), processes
    listing = container.exec_run(["find", "/opt/kdlab/labs", "-name", "*.rs"]).output.decode()
    assert listing.strip() == ""  # solutions stay out of the student's image
    # ... so the skeleton (made from a solution) is not made here, and kdlab says so.
    skeleton = container.exec_run(["kdlab", "skeleton", "/opt/kdlab/labs/00-hello"],
                                  user="student")
    said = skeleton.output.decode()
    assert skeleton.exit_code == 2 and "Traceback" not in said, said
    assert "the skeleton is the driver cell of the lab's notebook" in said, said
    # The released course only: no source notebooks (solutions), no gradebook.
    course = container.exec_run(["find", "/opt/kdlab/course", "-name", "source", "-o", "-name",
                                 "*.db"]).output.decode()
    assert course.strip() == ""
    extensions = container.exec_run(["jupyter", "labextension", "list"]).output.decode()
    assert "nbgrader" in extensions and "jupyter-widgets" in extensions


def test_a_lab_check_runs_inside(lab_server) -> None:
    _, container, work, _ = lab_server
    shutil.copy(LABS / "00-hello" / "hello.rs", work / "hello.rs")
    result = container.exec_run(
        ["kdlab", "check", "/opt/kdlab/labs/00-hello", "--source",
         "/home/student/work/hello.rs", "--json"], user="student")
    assert result.exit_code == 0, result.output.decode()[-3000:]
    report = json.loads(result.output.decode().strip().splitlines()[-1])
    # Every visible test passes; the hidden one is graded after submission (its code is
    # not in the student's image), so it earns nothing here.
    visible = [t for t in report["tests"] if not t["hidden"]]
    assert visible and all(t["status"] == "pass" for t in visible), report["tests"]
    assert report["score"] == sum(t["max_points"] for t in visible) and report["max_score"] == 6
    assert report["build"]["ok"]


def _outputs(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        text = out.get("text") or out.get("data", {}).get("text/plain") or ""
        parts.append("".join(text) if isinstance(text, list) else str(text))
        if out.get("output_type") == "error":
            parts.append(f"ERROR {out.get('ename')}: {out.get('evalue')}")
    return "\n".join(parts)


@pytest.mark.parametrize("lab_dir", sorted(p for p in LABS.iterdir() if (p / "lab.toml").is_file()),
                         ids=lambda p: p.name)
def test_every_lab_notebook_builds_and_boots_inside(lab_server, lab_dir) -> None:
    """The released notebook, with the lab's solution in its driver cell, run top to bottom
    by a Jupyter kernel inside the image: every autograder cell passes."""
    from grader.course.notebook import DRIVER_MAGIC
    from grader.lab.model import Lab

    _, container, work, _ = lab_server
    lab = Lab.load(lab_dir)
    released = work / lab.id / f"{lab.id}.ipynb"
    if not released.is_file():
        pytest.skip(f"the course has no released notebook for {lab.id}")
    nb = json.loads(released.read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and source.startswith(DRIVER_MAGIC):
            cell["source"] = f"{DRIVER_MAGIC} {lab.id}\n{lab.solution()}"
    solved = work / lab.id / "solved.ipynb"
    solved.write_text(json.dumps(nb))
    solved.chmod(0o666)
    run = container.exec_run(
        ["jupyter", "nbconvert", "--to", "notebook", "--execute",
         "--ExecutePreprocessor.timeout=600", f"/home/student/work/{lab.id}/solved.ipynb",
         "--output", f"/tmp/{lab.id}-run.ipynb"], user="student")
    assert run.exit_code == 0, run.output.decode()[-3000:]
    done = json.loads(container.exec_run(["cat", f"/tmp/{lab.id}-run.ipynb"]).output)
    graded = [_outputs(c) for c in done["cells"] if c["cell_type"] == "code"
              and c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    shown = [text for text in graded if text.strip()]
    assert shown, "no autograder cell printed anything"
    assert all(text.startswith("PASS") for text in shown), "\n\n".join(shown)[:4000]
