"""JupyterHub configuration of a kdlab course server (`kdlab hub`, grader/hub/server.py).

Plain configuration read from the environment the hub container is started with,
so that `kdlab hub` never writes code: it sets KDLAB_HUB_* (grader/hub/server.py
names them all) and this file turns them into JupyterHub, DockerSpawner,
NativeAuthenticator and idle-culler settings. The trust model is in
grader/hub/__init__.py; in short:

- every user's server is a container of the lab image on a Docker network of its
  own with the hub (internal: no route anywhere else), with CPU, memory and pid
  limits, all capabilities dropped but those its start script needs to hand the
  work folder to the user, and no Docker socket;
- a student's work lives in the named volume <name>-user-<username>, kept when
  the container is removed (every stop removes it, so a restart takes the newest
  lab image), and every server mounts the course's nbgrader exchange volume;
- each student runs as a uid of their own (UID_BASE + their hub id), so nbgrader's
  exchange permissions (inbound write-only, feedback unlistable) hold between
  students; the instructor (an admin) runs as the owner of the course folder,
  which only their server mounts, with formgrader turned on.
"""

import os
import sys

from jupyterhub import orm

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)
env = os.environ

NAME = env["KDLAB_HUB_NAME"]
EXCHANGE = "/srv/nbgrader/exchange"
WORK = "/home/student/work"
#: A student's uid is this plus their id in the hub's database: one uid per student,
#: far above the uids of people on a typical host.
UID_BASE = int(env.get("KDLAB_HUB_UID_BASE", "100000"))

# ------------------------------------------------------------------- hub, proxy, state
c.JupyterHub.bind_url = "http://:8000"
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.hub_connect_ip = env["KDLAB_HUB_HOSTNAME"]
c.JupyterHub.db_url = env.get("KDLAB_HUB_DB_URL") or "sqlite:////srv/jupyterhub/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/srv/jupyterhub/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.command = ["configurable-http-proxy"]
c.ConfigurableHTTPProxy.pid_file = "/srv/jupyterhub/jupyterhub-proxy.pid"
# Stopping the hub stops every server (their work stays in the volumes).
c.JupyterHub.cleanup_servers = True

# ------------------------------------------------------------------- accounts
c.JupyterHub.authenticator_class = "native"
c.Authenticator.admin_users = {env["KDLAB_HUB_ADMIN"]}
# The roster: these names may sign up (choosing their password on first use) and are
# authorised at once; anyone else's sign-up waits for the instructor (/hub/authorize).
# Users already in the database stay allowed across restarts and roster changes.
c.Authenticator.allowed_users = {n for n in env.get("KDLAB_HUB_STUDENTS", "").split(",") if n}
c.Authenticator.allow_existing_users = True
c.NativeAuthenticator.open_signup = False
c.NativeAuthenticator.minimum_password_length = 8
c.NativeAuthenticator.check_common_password = True

# A service for `kdlab hub`, its test and benchmark: manage users and their servers.
c.JupyterHub.services = [
    {"name": "kdlab", "api_token": env["KDLAB_HUB_SERVICE_TOKEN"]},
    {"name": "idle-culler",
     "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                 f"--timeout={env.get('KDLAB_HUB_CULL_TIMEOUT', '3600')}"]},
]
c.JupyterHub.load_roles = [
    {"name": "kdlab", "services": ["kdlab"],
     "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "list:users"]},
    {"name": "idle-culler", "services": ["idle-culler"],
     "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]},
]

# ------------------------------------------------------------------- servers
c.JupyterHub.spawner_class = "docker"
c.DockerSpawner.image = env["KDLAB_HUB_LAB_IMAGE"]
c.DockerSpawner.cmd = ["start-lab"]
c.DockerSpawner.name_template = NAME + "-user-{username}"
c.DockerSpawner.network_name = env["KDLAB_HUB_NETWORK"]
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.remove = True
c.DockerSpawner.mem_limit = env.get("KDLAB_HUB_MEM", "2G")
c.DockerSpawner.cpu_limit = float(env.get("KDLAB_HUB_CPUS", "1"))
c.DockerSpawner.extra_create_kwargs = {"user": "root"}
kvm_gid = env.get("KDLAB_HUB_KVM_GID", "")
c.DockerSpawner.extra_host_config = {
    "init": True,
    "pids_limit": 2048,
    "cap_drop": ["ALL"],
    # start-lab, as root: chown the work folder, set the user's uid, drop to it.
    "cap_add": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"],
    "security_opt": ["no-new-privileges"],
    **({"devices": ["/dev/kvm:/dev/kvm:rwm"], "group_add": [kvm_gid]} if kvm_gid else {}),
}
c.Spawner.default_url = "/lab"
# A cold lab image under TCG on a busy machine: be patient.
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 180


def prepare(spawner):
    """The user's mounts and identity: the course for the instructor, a volume for a student."""
    user = spawner.user
    exchange = {env["KDLAB_HUB_EXCHANGE_VOLUME"]: {"bind": EXCHANGE, "mode": "rw"}}
    if user.admin:
        spawner.volumes = {env["KDLAB_HUB_COURSE"]: {"bind": WORK, "mode": "rw"}, **exchange}
        # Names for the uids in the exchange, so that nbgrader's collect can check that a
        # submission is owned by the student it names (ExchangeCollect.check_owner).
        people = " ".join(f"{u.name}:{UID_BASE + u.id}" for u in user.db.query(orm.User)
                          if not u.admin)
        extra = {"KDLAB_ROLE": "instructor", "KDLAB_HUB_USERS": people}
    else:
        volume = f"{NAME}-user-{spawner.escaped_name}"
        spawner.volumes = {volume: {"bind": WORK, "mode": "rw"}, **exchange}
        extra = {"KDLAB_ROLE": "student", "KDLAB_UID": str(UID_BASE + user.id)}
    spawner.environment = {**spawner.environment, **extra}


c.Spawner.pre_spawn_hook = prepare
