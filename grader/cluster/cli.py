"""CLI of cluster grading: `kdlab worker`, `kdlab image save|load`, `kdlab grade --cluster`.

Contract: thin, as grader.cli wants it. `kdlab worker` registers itself (EXTENSIONS);
`image save`/`image load` and `grade --cluster` hang off the parsers of
grader.cli.platform_cmds, which call the functions here; Dask and the Docker SDK
are imported only when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from grader.progress import Console

if TYPE_CHECKING:
    from grader.cluster.client import Cluster

#: What `kdlab image save` accepts besides tags: the images a grading host needs.
SAVE_NAMES = ("grader", "lab", "all")


def _cmd_worker(args: argparse.Namespace) -> int:
    from grader.cluster import worker

    print(worker.serve(args.scheduler, slots=args.slots, name=args.name or "",
                       image=args.image), file=sys.stderr)
    return 0


def cmd_image_save(args: argparse.Namespace) -> int:
    """`kdlab image save [grader|lab|all|TAG...] -o FILE`."""
    from grader import tags
    from grader.cluster import images

    names = args.images or ["grader"]
    wanted = ["grader", "lab"] if "all" in names else names
    tag_list = [tags.image(n) if n in SAVE_NAMES else n for n in wanted]
    written = images.save(tag_list, Path(args.output), reporter=Console())
    print(f"{args.output}: {', '.join(tag_list)} ({written / 1e9:.2f} GB); on each grading "
          f"host: kdlab image load {args.output}")
    return 0


def cmd_image_load(args: argparse.Namespace) -> int:
    """`kdlab image load FILE`."""
    from grader.cluster import images

    for tag in images.load(Path(args.file), reporter=Console()):
        print(f"loaded {tag}")
    return 0


def connect_for_grading(address: str, image: str) -> Cluster:
    """The Cluster `kdlab grade --cluster` grades on, described on stdout."""
    from grader.cluster import client

    cluster = client.connect(address, image)
    print(cluster.describe(), flush=True)
    return cluster


def add_image_commands(image: argparse._SubParsersAction) -> None:
    """`kdlab image save` and `kdlab image load` (called by grader.cli.platform_cmds)."""
    save = image.add_parser("save", help="write images to one file (docker save, gzip for "
                            ".gz) to copy to grading hosts without a registry")
    save.add_argument("images", nargs="*", metavar="IMAGE",
                      help="grader (the default), lab, all (both), or image tags")
    save.add_argument("-o", "--output", required=True, help="the file, e.g. grader.tar.gz")
    save.set_defaults(func=cmd_image_save)
    load = image.add_parser("load", help="load images saved by `kdlab image save`")
    load.add_argument("file")
    load.set_defaults(func=cmd_image_load)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `kdlab worker` to the kdlab parser."""
    from grader.batch import sandbox

    worker = sub.add_parser("worker", help="grade submissions for a Dask scheduler (`kdlab "
                            "grade --cluster`): a Dask worker running sandboxes on this host")
    worker.add_argument("scheduler", help="the scheduler's address, e.g. tcp://HOST:8786")
    worker.add_argument("--slots", type=int, default=0, help="sandboxes at once (default: "
                        "what cores and memory allow, as `kdlab grade -j`)")
    worker.add_argument("--name", help="this host's name in the cluster (default: hostname)")
    worker.add_argument("--image", default=sandbox.GRADER_IMAGE,
                        help="the grader image (must be the instructor's)")
    worker.set_defaults(func=_cmd_worker)
