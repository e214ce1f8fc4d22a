"""CLI extension: `kdlab hub`, a course server for a whole class (grader/hub/).

Registered through grader.cli.main.EXTENSIONS. The Docker SDK and nbgrader are
imported inside the command, as for the other platform commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import paths
from grader.progress import Console


def _cmd_hub(args: argparse.Namespace) -> int:
    from grader.batch.sandbox import client
    from grader.hub import HubError, roster, server

    docker_client = client()
    if args.stop:
        stopped = server.stop(docker_client, args.name)
        print(f"{args.name} stopped (the course folder and every volume are kept)" if stopped
              else f"no hub {args.name} was running")
        return 0
    try:
        students = tuple(roster.read(Path(args.roster))) if args.roster else ()
        settings = server.Settings(
            course=Path(args.course), admin=args.admin, students=students, name=args.name,
            port=args.port, ip=args.ip, mem=args.mem, cpus=args.cpus,
            cull_after_s=args.cull_after, db_url=args.db_url)
        print(f"starting {settings.name} (JupyterHub on {args.ip}:{args.port}) ...",
              file=sys.stderr)
        hub = server.start(docker_client, settings, reporter=Console())
    except HubError as err:
        print(f"kdlab: {err}", file=sys.stderr)
        return err.exit_code
    print(f"\nkdlab hub is running: {hub.url}\n")
    if students:
        print(f"{len(students)} students on the roster may sign up at {hub.url}/hub/signup "
              "with their username and choose a password.")
    print(f"The instructor signs up as {args.admin!r} first ({hub.url}/hub/signup): that "
          "account is the admin, with formgrader and the course in "
          f"{settings.course.resolve()}.")
    print(f"Grade on this machine: kdlab grade ASSIGNMENT --course {settings.course.resolve()}")
    print("Stop it with `kdlab hub --stop`; all work is kept.")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the hub command to the kdlab parser."""
    from grader.hub import server

    hub = sub.add_parser("hub", help="start a course server (JupyterHub, a lab per student, "
                         "nbgrader's exchange) on this machine")
    hub.add_argument("--roster", help="the class list: a CSV with a username column (as a "
                     "registrar or LMS exports it); those students may sign up")
    hub.add_argument("--admin", default="instructor",
                     help="the instructor's username, the hub's admin (default: instructor)")
    hub.add_argument("--course", default=str(paths.hub_course()),
                     help="the course folder (nbgrader: source, release, gradebook, "
                     "submissions), made from course/ when missing (default: ./kdlab-course)")
    hub.add_argument("--port", type=int, default=server.HUB_PORT)
    hub.add_argument("--ip", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1; 0.0.0.0 for the class, "
                     "behind a TLS proxy)")
    hub.add_argument("--mem", default="2G", help="memory limit per user's server (default 2G)")
    hub.add_argument("--cpus", type=float, default=1.0,
                     help="CPU limit per user's server (default 1)")
    hub.add_argument("--cull-after", type=int, default=3600, metavar="SECONDS",
                     help="stop a server idle this long (default 3600); its work is kept")
    hub.add_argument("--db-url", default="",
                     help="the hub's database (default: SQLite in its data volume; "
                     "postgresql://... accepted)")
    hub.add_argument("--name", default=server.default_name(),
                     help="name of the hub's container, network and volumes")
    hub.add_argument("--stop", action="store_true",
                     help="stop the hub and every server; keep all work and data")
    hub.set_defaults(func=_cmd_hub)

