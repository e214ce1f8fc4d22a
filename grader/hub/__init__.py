"""A whole class on one server: JupyterHub with a kdlab lab per student (`kdlab hub`).

Contract: `grader.hub.roster` reads a class list into usernames; `grader.hub.server`
starts and stops the hub container (images/hub/, configured by
images/hub/jupyterhub_config.py) and everything it needs on this Docker daemon.
Every problem the user can fix is a `HubError` (a KdlabError) saying what to do.

Who is trusted, and what keeps each party to its own (the threat model):

- **The hub container** is trusted: it alone holds the Docker socket (it starts
  the users' containers), so it is root on this machine. It runs JupyterHub,
  configurable-http-proxy and the idle culler, and no user code.
- **Students are not trusted.** Each student's server is a container of the lab
  image (student code runs there: their notebooks, their kernel modules in QEMU)
  with CPU, memory and pid limits, all capabilities dropped but the five its start
  script needs to hand the work folder to the student before dropping to the
  student's uid for good (no_new_privs), no Docker socket, and a Docker network
  of its own with the hub that is `internal` (no route to the internet or the
  host; the hub answers on it). Its mounts are the student's own volume and the
  nbgrader exchange, nothing else: not the course folder, so never the
  assignments' source, the gradebook, other students' submissions or hidden
  tests (the lab image holds no hidden test code, see grader/images/build.py).
- **The exchange** is nbgrader's default one (a volume at /srv/nbgrader/exchange,
  world-writable with the sticky bit). nbgrader's own protection between
  students is Unix permissions: `inbound/` is write-only for others (0733, so a
  submission can be dropped but not listed, and its name ends in a random
  string), `feedback/` cannot be listed (0711, each page named by a hash of a
  secret only the submitter holds), `outbound/` is the instructor's and read-only
  for others. That holds only if students are different users: with every
  container running as uid 1000 (the image's default), each student would own
  the instructor's folders as much as the instructor does, list `inbound/` and
  read everyone's work. So the hub gives each student a uid of their own (a
  base + their id in the hub's database), and the instructor runs as the owner
  of the course folder, which no student has. The instructor's server also
  learns every student's uid by name, so nbgrader's collect warns when a
  submission is owned by someone other than the student its name claims.
  Left to nbgrader as it is: a student can still drop a forged submission named
  after another student into `inbound/` (collect then warns: "cheating
  attempt?"), and anyone can fill the exchange volume (no quota).
- **The instructor** (the hub's admin) is trusted with the course; their server
  mounts the course folder (a host folder: source, release, gradebook,
  submitted work) with formgrader turned on, and no Docker socket either:
  `kdlab grade`, which needs Docker for its sandboxes, runs on the host against
  the same folder, so a notebook or page the instructor opens in their server
  never has the power to start containers.
"""

from __future__ import annotations

from grader.errors import KdlabError


class HubError(KdlabError):
    """The hub cannot start or stop as asked; the message says what to do."""
