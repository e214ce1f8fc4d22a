"""Cluster grading's parts that need no cluster: what a task carries, and the user's mistakes.

The request and the job must cross to another host through Dask's own
serialization and hold the source itself (no path of the instructor's); the
sandbox's copy-in archive must hold exactly that source where the build phase
reads it. A mistake (no scheduler at the address, no grader image on a host, a
file that is no image archive) ends in one `kdlab: ...` line naming it. The CLI
cases talk to the real Docker engine, as tests/unit/test_cli_errors.py does.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile

import pytest
from distributed.protocol import pickle as dask_pickle

from grader import tags
from grader.batch import run as batch
from grader.batch import sandbox, sandbox_worker
from grader.cluster import task
from grader.lab.model import Lab
from tests.conftest import LABS, REPO

HELLO = Lab.load(LABS / "00-hello")


def test_job_and_request_cross_to_another_host_with_the_source_itself() -> None:
    source = (LABS / "00-hello" / "hello.rs").read_text()
    job = batch.Job(HELLO, b"lab archive", "kdlab/grader:trixie", sandbox.Limits(),
                    {"kdlab.batch": "0123"})
    request = task.Request("ann", "hello.ipynb", source)
    image = task.ImageIdentity("kdlab/grader:trixie", "sha256:abc", "pair", "context")
    job2, request2, image2 = dask_pickle.loads(dask_pickle.dumps((job, request, image)))
    assert (request2, image2) == (request, image)
    assert job2.lab.graded_items() == HELLO.graded_items()
    assert (job2.lab_tar, job2.limits, job2.labels) == (job.lab_tar, job.limits, job.labels)
    assert str(LABS) not in repr(request2)


def test_copied_in_source_is_where_the_build_phase_reads_it(tmp_path) -> None:
    source = "// ünïcode\nmodule! {}\n"
    with tarfile.open(fileobj=io.BytesIO(sandbox.source_archive("hello", source))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"submission", "submission/hello.rs"}
        assert {(m.uid, m.gid) for m in members.values()} == {(1000, 1000)}
        data = tar.extractfile("submission/hello.rs").read().decode()
    assert data == source
    sub = sandbox.Submission("ann", None, "hello.ipynb", source)
    assert sandbox._driver_args(sub, "hello") == ["--source", f"{sandbox.SOURCE_DIR}/hello.rs"]
    assert sandbox._submission_mounts(sub) == []
    copied = tmp_path / "hello.rs"
    copied.write_text(source)
    assert sandbox_worker._driver_text(None, copied) == source


def test_a_mounted_submission_is_still_read_from_its_notebook(tmp_path) -> None:
    sub = sandbox.Submission("ann", tmp_path, "hello.ipynb")
    assert sandbox._driver_args(sub, "hello") == ["--notebook",
                                                 f"{sandbox.SUBMISSION}/hello.ipynb"]
    assert [m["Source"] for m in sandbox._submission_mounts(sub)] == [str(tmp_path)]


def test_build_phase_takes_a_notebook_or_a_source_not_both(tmp_path) -> None:
    with pytest.raises(SystemExit):
        sandbox_worker.main(["build", "--notebook", "a.ipynb", "--source", "a.rs",
                             "--module", "hello", "--out", str(tmp_path)])


CASES = [
    (["grade", "hello", "--cluster", "tcp://127.0.0.1:9", "--image", tags.image("debian")],
     "no Dask scheduler answers at tcp://127.0.0.1:9"),
    (["grade", "hello", "--cluster", "tcp://127.0.0.1:9", "--image", "kdlab-test/nosuch:x"],
     "the grader image kdlab-test/nosuch:x is not here"),
    (["worker", "tcp://127.0.0.1:9", "--image", "kdlab-test/nosuch:x"],
     "kdlab image load"),
    (["image", "load", "pyproject.toml"], "is not an image archive"),
    (["image", "save", "kdlab-test/nosuch:x", "-o", "build/nosuch.tar.gz"],
     "no image kdlab-test/nosuch:x here to save"),
]


@pytest.mark.parametrize(("args", "says"), CASES, ids=lambda a: " ".join(a[:2])
                         if isinstance(a, list) else None)
def test_mistake_gets_a_message_not_a_traceback(args: list[str], says: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "grader.cli.main", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert says in last and last.startswith("kdlab: "), proc.stderr
