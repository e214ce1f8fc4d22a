"""`kdlab lab` on a fresh machine: a new volume, a new or foreign host folder, a restart,
a second start while it runs.

Each case starts the real lab image the way `kdlab lab` does (labserver.start)
and then looks at the student's work through JupyterLab's contents API, as the
browser does: every released assignment must be listed, and writable (a new
file saved, the released notebook saved over). A folder the student cannot be
given must stop the start with a message that says what to do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.batch import sandbox
from grader.images import labserver
from tests import coursekit, labkit

#: A host user that is not the image's student (uid 1000) and not root.
OTHER_UID = 4321


@pytest.fixture(scope="module", autouse=True)
def image() -> str:
    return labkit.lab_image()


@pytest.fixture
def folder() -> Iterator[Path]:
    """A host folder path under build/ that does not exist yet (removed afterwards)."""
    path = labkit.SCRATCH / labkit.unique("work")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def volume() -> Iterator[str]:
    """The name of a Docker volume that does not exist yet (removed afterwards)."""
    name = labkit.unique("kdlab-work-test")
    yield name
    with contextlib.suppress(Exception):
        sandbox.client().volumes.get(name).remove(force=True)


def _assert_course_is_the_students(server: labserver.LabServer) -> None:
    """Every released assignment is listed, writable, and takes a saved file and notebook."""
    top = labkit.listing(server)
    for assignment in coursekit.assignments():
        assert assignment in top, f"{assignment} not in the student's work: {sorted(top)}"
        assert top[assignment]["writable"], top[assignment]
        inside = labkit.listing(server, assignment)
        notebook = f"{assignment}.ipynb"
        assert notebook in inside, sorted(inside)
        assert labkit.save_text(server, f"{assignment}/notes.txt", "mine\n") in (200, 201)
        _, model = labkit.api(server, f"contents/{assignment}/{notebook}")
        status, _ = labkit.api(server, f"contents/{assignment}/{notebook}", "PUT",
                               {"type": "notebook", "format": "json",
                                "content": model["content"]})
        assert status == 200


def test_fresh_volume_then_restart_and_upgrade(volume) -> None:
    first, last = coursekit.assignments()[0], coursekit.assignments()[-1]
    with labkit.running_lab(volume=volume) as (server, container):
        _assert_course_is_the_students(server)
        assert labkit.save_text(server, f"{first}/driver-notes.txt", "kept\n") == 201
        # As if the image had been built before the last assignment existed.
        removed = container.exec_run(["rm", "-rf", f"{labserver.WORK}/{last}"], user="student")
        assert removed.exit_code == 0, removed.output
    # `kdlab lab --stop` removed the container; the volume stayed. A newer image adds
    # what it has that the student does not, and keeps the student's files.
    with labkit.running_lab(volume=volume) as (server, _):
        assert last in labkit.listing(server)
        _, kept = labkit.api(server, f"contents/{first}/driver-notes.txt")
        assert kept["content"] == "kept\n"
        _assert_course_is_the_students(server)


def test_starting_again_keeps_the_running_lab_unless_asked_otherwise(folder) -> None:
    """A second start as asked leaves the lab (its URL, token and container) as it
    was, so the notebooks open in the browser keep their server; another port
    replaces it."""
    client = sandbox.client()
    with labkit.running_lab(work=folder) as (server, container):
        again = labserver.start(client, port=server.port, name=container.name, work=folder)
        assert again.resumed
        assert (again.url, again.token, again.container_id) == (
            server.url, server.token, server.container_id)
        assert labkit.save_text(server, "still-here.txt", "yes\n") == 201  # the first URL works
        moved = labserver.start(client, port=labkit.free_port(), name=container.name,
                                work=folder)
        assert not moved.resumed
        assert moved.token != server.token and moved.container_id != server.container_id
        assert "still-here.txt" in labkit.listing(moved)


def test_fresh_host_folder(folder) -> None:
    """A folder that does not exist yet (Docker makes it, as root's)."""
    with labkit.running_lab(work=folder) as (server, _):
        _assert_course_is_the_students(server)
    assert (folder / coursekit.assignments()[0] / "notes.txt").read_text() == "mine\n"


def test_host_folder_of_another_user_stays_theirs(folder) -> None:
    folder.mkdir(parents=True)
    os.chown(folder, OTHER_UID, OTHER_UID)
    with labkit.running_lab(work=folder) as (server, _):
        _assert_course_is_the_students(server)
    saved = folder / coursekit.assignments()[0] / "notes.txt"
    assert (saved.stat().st_uid, saved.stat().st_gid) == (OTHER_UID, OTHER_UID)


def test_root_folder_with_files_is_refused_with_what_to_do(folder) -> None:
    folder.mkdir(parents=True)
    (folder / "thesis.txt").write_text("not the lab's\n")
    with pytest.raises(labserver.LabStartError) as refused, labkit.running_lab(work=folder):
        pass
    message = str(refused.value)
    assert str(folder) in message and "sudo chown -R" in message, message
    assert (folder / "thesis.txt").stat().st_uid == 0  # left alone


def test_folder_its_owner_cannot_write_is_refused_with_what_to_do(folder) -> None:
    folder.mkdir(parents=True)
    os.chown(folder, OTHER_UID, OTHER_UID)
    folder.chmod(0o555)
    with pytest.raises(labserver.LabStartError) as refused, labkit.running_lab(work=folder):
        pass
    assert f"chmod u+rwx {folder}" in str(refused.value), str(refused.value)


def test_the_notebook_list_needs_the_token(folder) -> None:
    with labkit.running_lab(work=folder) as (server, _):
        forged = dataclasses.replace(server, token="0" * 32)
        with pytest.raises(urllib.error.HTTPError) as denied:
            labkit.api(forged, "contents/")
        assert denied.value.code == 403
