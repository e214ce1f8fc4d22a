"""The hub's configuration (images/hub/jupyterhub_config.py) as JupyterHub loads it.

The settings `kdlab hub` passes (grader.hub.server.environment) are loaded by
traitlets from the real file, and a real DockerSpawner is made with them for a
student and for the instructor (the users in a real JupyterHub database, in
memory); the file's pre-spawn hook then gives each their mounts and identity.
The whole hub, with containers, is tests/e2e/test_hub.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

from grader.hub import server
from grader.hub.roster import Student
from tests.conftest import REPO

CONFIG = REPO / "images" / "hub" / "jupyterhub_config.py"
COURSE = Path("/srv/courses/os-2026")


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch):
    settings = server.Settings(course=COURSE, admin="teacher", name="kdlab-hub",
                               students=(Student("ann"), Student("bob")), mem="1G", cpus=0.5)
    for key, value in server.environment(settings, "t" * 64).items():
        monkeypatch.setenv(key, value)
    return PyFileConfigLoader(CONFIG.name, path=str(CONFIG.parent)).load_config()


@pytest.fixture
def users():
    from jupyterhub import orm

    db = orm.new_session_factory("sqlite://")()
    for name, admin in (("teacher", True), ("ann", False), ("bob", False)):
        db.add(orm.User(name=name, admin=admin))
    db.commit()
    return {u.name: u for u in db.query(orm.User)}, db


def _spawner(config, user, db):
    from types import SimpleNamespace

    # In the test extra; a toolchain image built before it was added lacks it.
    spawner_class = pytest.importorskip("dockerspawner").DockerSpawner

    person = SimpleNamespace(name=user.name, id=user.id, admin=user.admin, db=db,
                             url=f"/user/{user.name}/")
    spawner = spawner_class(config=config, user=person)
    config.Spawner.pre_spawn_hook(spawner)
    return spawner


def test_accounts_roster_and_limits(config) -> None:
    assert config.Authenticator.allowed_users == {"ann", "bob"}
    assert config.Authenticator.admin_users == {"teacher"}
    assert config.JupyterHub.authenticator_class == "native"
    assert (config.DockerSpawner.mem_limit, config.DockerSpawner.cpu_limit) == ("1G", 0.5)
    host = config.DockerSpawner.extra_host_config
    assert host["cap_drop"] == ["ALL"] and "no-new-privileges" in host["security_opt"]


def test_a_student_gets_their_volume_the_exchange_and_a_uid_of_their_own(config, users) -> None:
    people, db = users
    ann = _spawner(config, people["ann"], db)
    bob = _spawner(config, people["bob"], db)
    assert ann.volumes == {
        "kdlab-hub-user-ann": {"bind": "/home/student/work", "mode": "rw"},
        "kdlab-hub-exchange": {"bind": "/srv/nbgrader/exchange", "mode": "rw"}}
    assert ann.environment["KDLAB_ROLE"] == "student"
    assert ann.environment["KDLAB_UID"] != bob.environment["KDLAB_UID"]
    assert int(ann.environment["KDLAB_UID"]) >= 100000
    assert str(COURSE) not in str(ann.volumes)


def test_the_instructor_gets_the_course_and_the_students_uids(config, users) -> None:
    people, db = users
    teacher = _spawner(config, people["teacher"], db)
    ann = _spawner(config, people["ann"], db)
    assert teacher.volumes[str(COURSE)] == {"bind": "/home/student/work", "mode": "rw"}
    assert teacher.environment["KDLAB_ROLE"] == "instructor"
    assert f"ann:{ann.environment['KDLAB_UID']}" in teacher.environment["KDLAB_HUB_USERS"].split()
    assert "teacher" not in teacher.environment["KDLAB_HUB_USERS"]
