"""Helpers for the tests and the benchmark that run a whole `kdlab hub`.

Each run gets a hub of its own (`kdlab-hub-test-XXXXXXXX`: its container, network,
volumes and users' containers all carry that name, see grader.hub.server) on a
free port, with a course folder under build/ (the Docker daemon sees it at the
same path, as `kdlab grade` needs), and removes all of it afterwards. People and
their servers are reached the way a browser reaches them: through the hub's
proxy, at /hub/... and /user/<name>/...; the hub's `kdlab` service token stands
in for each person's log-in session where a test is not about logging in
(the server it reaches still runs as that person).
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grader.batch import sandbox
from grader.hub import server
from grader.hub.roster import Student
from grader.images import build as images
from tests.conftest import REPO
from tests.labkit import current_images, free_port, unique

SCRATCH = REPO / "build" / "test-hub"
COURSE_ID = "kdlab"
#: A user's server under TCG on a loaded machine: the lab image is large.
SPAWN_TIMEOUT_S = 420


def lab_image() -> str:
    """The lab image of this checkout (built, or found current, first), unless
    KDLAB_TEST_LAB_IMAGE names one to use as it is; the hub image is built by
    server.start on first use."""
    given = os.environ.get("KDLAB_TEST_LAB_IMAGE")
    if given:
        return given
    current_images()
    return images.IMAGES["lab"].tag


@contextlib.contextmanager
def running_hub(students: tuple[str, ...], admin: str = "teacher", **options: Any
                ) -> Iterator[tuple[server.Hub, server.Settings]]:
    """A hub of its own with these students on the roster; everything removed after."""
    client = sandbox.client()
    name = unique("kdlab-hub-test")
    course = SCRATCH / name / "course"
    settings = server.Settings(course=course, admin=admin, name=name, port=free_port(),
                               students=tuple(Student(s) for s in students),
                               lab_image=lab_image(), **options)
    try:
        yield server.start(client, settings), settings
    finally:
        server.stop(client, name)
        server.remove_data(client, name)
        shutil.rmtree(SCRATCH / name, ignore_errors=True)


def request(hub: server.Hub, path: str, method: str = "GET", body: Any = None,
            timeout: float = 120) -> tuple[int, Any]:
    """One request to `path` under the hub's URL with the service token: (status, reply)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{hub.url}{path}", method=method, data=data, headers={
        "Authorization": f"token {hub.token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            payload = response.read()
            status = response.status
    except urllib.error.HTTPError as err:
        payload, status = err.read(), err.code
    try:
        return status, json.loads(payload) if payload else None
    except json.JSONDecodeError:
        return status, payload.decode(errors="replace")


def start_servers(hub: server.Hub, users: list[str], timeout_s: float = SPAWN_TIMEOUT_S
                  ) -> dict[str, float]:
    """Ask the hub for every user's server at once; seconds until each was ready."""
    asked = time.monotonic()
    for user in users:
        status, reply = request(hub, f"/hub/api/users/{user}/server", "POST")
        assert status in (201, 202, 400), (user, status, reply)  # 400: already running
    ready: dict[str, float] = {}
    deadline = asked + timeout_s
    while len(ready) < len(users):
        for user in set(users) - set(ready):
            _, model = request(hub, f"/hub/api/users/{user}")
            spawned = (model or {}).get("servers", {}).get("", {})
            if spawned.get("ready"):
                ready[user] = time.monotonic() - asked
            elif not spawned.get("pending") and not spawned:
                raise AssertionError(f"{user}'s server stopped while starting: "
                                     f"`docker logs {hub.name}`")
        if time.monotonic() > deadline:
            raise AssertionError(f"servers not ready in {timeout_s:.0f} s: "
                                 f"{sorted(set(users) - set(ready))}")
        time.sleep(2)
    return ready


def stop_server(hub: server.Hub, user: str, timeout_s: float = 120) -> None:
    request(hub, f"/hub/api/users/{user}/server", "DELETE")
    deadline = time.monotonic() + timeout_s
    while request(hub, f"/hub/api/users/{user}")[1].get("servers"):
        assert time.monotonic() < deadline, f"{user}'s server did not stop"
        time.sleep(1)


def nbgrader_action(hub: server.Hub, user: str, action: str, assignment: str) -> Any:
    """A student's Assignments-tab action (fetch, submit, fetch_feedback): what the tab
    posts to nbgrader's server extension in the student's own server."""
    status, reply = request(hub, f"/user/{user}/assignments/{action}", "POST",
                            {"assignment_id": assignment, "course_id": COURSE_ID}, timeout=300)
    assert status == 200, (user, action, status, reply)
    assert not (isinstance(reply, dict) and reply.get("success") is False), (user, action, reply)
    return reply


def formgrader(hub: server.Hub, user: str, action: str, assignment: str) -> dict:
    """An instructor's formgrader button (assign = Generate, release, collect,
    release_feedback): formgrader's API in the instructor's server."""
    status, reply = request(hub, f"/user/{user}/formgrader/api/assignment/{assignment}/{action}",
                            "POST", {}, timeout=600)
    assert status == 200 and reply.get("success"), (action, status, reply)
    return reply


def contents(hub: server.Hub, user: str, path: str, method: str = "GET",
             body: dict | None = None) -> Any:
    """JupyterLab's contents API in the user's server (what the file browser and the
    notebook editor use)."""
    status, reply = request(hub, f"/user/{user}/api/contents/{urllib.parse.quote(path)}",
                            method, body)
    assert status in (200, 201), (user, path, status, reply)
    return reply


class Browserless:
    """A person at the hub's log-in and sign-up forms, with cookies and _xsrf, no browser."""

    def __init__(self, hub: server.Hub) -> None:
        self.hub = hub
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def _xsrf(self, page: str) -> str:
        with self.opener.open(f"{self.hub.url}{page}", timeout=60):
            pass
        return next(c.value for c in self.cookies if c.name == "_xsrf")

    def post_form(self, page: str, fields: dict[str, str]) -> tuple[int, str, str]:
        """(status, final URL, page text) after posting the form of `page`."""
        data = urllib.parse.urlencode({**fields, "_xsrf": self._xsrf(page)}).encode()
        try:
            with self.opener.open(f"{self.hub.url}{page}", data=data, timeout=120) as response:
                return response.status, response.url, response.read().decode(errors="replace")
        except urllib.error.HTTPError as err:
            return err.code, err.url, err.read().decode(errors="replace")

    def sign_up(self, username: str, password: str) -> str:
        _, _, text = self.post_form("/hub/signup", {
            "username": username, "signup_password": password,
            "signup_password_confirmation": password})
        return text

    def log_in(self, username: str, password: str) -> bool:
        """True when the hub let the person in (its session cookie is set)."""
        self.post_form("/hub/login?next=%2Fhub%2Fhome", {"username": username,
                                                         "password": password})
        return any(c.name == "jupyterhub-session-id" for c in self.cookies) and any(
            c.name.startswith("jupyterhub-hub-login") for c in self.cookies)


def user_container(hub: server.Hub, user: str) -> Any:
    return sandbox.client().containers.get(f"{server.user_prefix(hub.name)}{user}")


def run_as_user(hub: server.Hub, user: str, command: str) -> tuple[int, str]:
    """A shell command in the user's container as the user (their uid): (exit, output)."""
    container = user_container(hub, user)
    result = container.exec_run(["setpriv", "--reuid=student", "--regid=student",
                                 "--clear-groups", "sh", "-c", command], user="root")
    return result.exit_code, result.output.decode(errors="replace")


def write_roster(path: Path, students: list[str]) -> Path:
    path.write_text("username\n" + "".join(f"{s}\n" for s in students))
    return path
