"""CLI extension: `kdlab image build|sizes|save|load`, `kdlab lab` and `kdlab grade`.

Registered through grader.cli.main.EXTENSIONS. Everything heavy (the Docker SDK,
nbgrader) is imported inside the commands, so `kdlab check` keeps working where
those are not installed (inside the grader image, say).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import paths
from grader.progress import Console


def _gb(size: int) -> str:
    return f"{size / 1e9:.2f} GB"


def _image_name(value: str) -> str:
    """An image name on the command line (argparse's choices cannot check nargs="*"
    with a default: it checks the default list itself as if it were one name)."""
    from grader.images import build as images

    if value != "all" and value not in images.IMAGES:
        raise argparse.ArgumentTypeError(
            f"no image {value!r}: choose from all, {', '.join(images.IMAGES)}")
    return value


def _cmd_image_build(args: argparse.Namespace) -> int:
    from grader.images import build as images

    targets = (images.DEFAULT_TARGETS if not args.images or "all" in args.images
               else args.images)
    built = images.build(targets, reporter=Console(), no_cache=args.no_cache)
    for item in built:
        how = ("up to date" if item.up_to_date else
               f"{item.steps} steps ({item.cached_steps} from the layer cache)")
        print(f"{item.tag:24} {_gb(item.size):>8}  {how}, {item.seconds:.0f} s")
    return 0


def _cmd_image_sizes(args: argparse.Namespace) -> int:
    from grader.images import build as images

    for tag, size in images.sizes().items():
        print(f"{tag:26} {_gb(size):>8}")
    return 0


def _cmd_lab(args: argparse.Namespace) -> int:
    from grader.batch.sandbox import client
    from grader.images import labserver

    docker_client = client()
    if args.stop:
        stopped = labserver.stop(docker_client)
        print("lab stopped (your work is kept)" if stopped else "no lab was running")
        return 0
    print(f"starting {args.image} (JupyterLab on port {args.port}) ...", file=sys.stderr)
    server = labserver.start(docker_client, port=args.port, image=args.image,
                             work=Path(args.work) if args.work else None)
    state = ("was already running (the same image, port and work; left as it was)"
             if server.resumed else "is running")
    print(f"\nkdlab lab {state}. Open:\n\n    {server.url}\n")
    print("Stop it with `kdlab lab --stop`; your work stays in "
          + (args.work or f"the Docker volume {labserver.WORK_VOLUME}") + ".")
    return 0


def _cmd_grade(args: argparse.Namespace) -> int:
    from grader.batch import run as batch

    options = batch.Options(
        course=Path(args.course).resolve(), assignment=args.assignment,
        labs=Path(args.labs).resolve(), lab=args.lab, jobs=args.jobs, force=args.force,
        image=args.image, csv=Path(args.csv).resolve() if args.csv else None,
        students=tuple(args.student or ()) + tuple(args.regrade or ()),
        regrade=tuple(args.regrade or ()), similarity=args.similarity,
    )
    cluster = None
    if args.cluster:  # grading hosts of a Dask cluster (grader.cluster) instead of this one
        from grader.cluster.cli import connect_for_grading

        cluster = connect_for_grading(args.cluster, args.image)
    try:
        summary = batch.grade(options, progress=batch.ConsoleProgress(),
                              runners=cluster.runner if cluster else None)
    finally:
        if cluster:
            cluster.close()
    print(summary.describe())
    return 0 if summary.complete else 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add the image, lab and grade commands to the kdlab parser."""
    from grader.batch import sandbox
    from grader.cluster.cli import add_image_commands
    from grader.images import build as images
    from grader.images import labserver

    image = sub.add_parser("image", help="build the runtime, grader and lab images").add_subparsers(
        dest="image_command", required=True)
    ibuild = image.add_parser("build", help="build images (with the layer cache) and print "
                              "their sizes")
    ibuild.add_argument("images", nargs="*", type=_image_name, metavar="IMAGE",
                        help=f"all (the default), {', '.join(images.IMAGES)}")
    ibuild.add_argument("--no-cache", action="store_true", help="rebuild every layer")
    ibuild.set_defaults(func=_cmd_image_build)
    isizes = image.add_parser("sizes", help="sizes of the kdlab images present")
    isizes.set_defaults(func=_cmd_image_sizes)
    add_image_commands(image)

    lab = sub.add_parser("lab", help="start the student lab (JupyterLab) and print its URL")
    lab.add_argument("--port", type=int, default=labserver.CONTAINER_PORT)
    lab.add_argument("--work", help="host folder for the student's work (default: a Docker "
                     "volume)")
    lab.add_argument("--image", default=labserver.LAB_IMAGE)
    lab.add_argument("--stop", action="store_true", help="stop the lab")
    lab.set_defaults(func=_cmd_lab)

    grade = sub.add_parser("grade", help="grade an nbgrader assignment's submissions, each in "
                           "its own container, into the gradebook")
    grade.add_argument("assignment", help="the nbgrader assignment, e.g. 00-hello")
    grade.add_argument("--course", default=str(paths.course_dir()),
                       help="nbgrader course directory (default: $KDLAB_COURSE, else course/)")
    grade.add_argument("--labs", default=str(paths.labs_dir()),
                       help="labs directory (default: $KDLAB_LABS, else labs/)")
    grade.add_argument("--lab", help="lab id to grade against (default: the one named by the "
                       "assignment's source notebook)")
    grade.add_argument("-j", "--jobs", type=int, default=0,
                       help="containers in parallel (default: what cores and memory allow)")
    grade.add_argument("--force", action="store_true",
                       help="grade again even submissions already graded")
    grade.add_argument("--image", default=sandbox.GRADER_IMAGE)
    grade.add_argument("--csv", help="CSV export path (default: <course>/kdlab/<assignment>.csv)")
    grade.add_argument("--student", action="append", help="grade only this student (repeatable)")
    grade.add_argument("--regrade", nargs="+", metavar="STUDENT",
                       help="grade these students again (and only them), even if their driver "
                       "did not change; the journal keeps the old score beside the new")
    grade.add_argument("--similarity", action="store_true",
                       help="also run `kdlab similarity` on the assignment")
    grade.add_argument("--cluster", metavar="tcp://HOST:8786",
                       help="grade on the hosts of this Dask scheduler (each runs `kdlab "
                       "worker`) instead of this host's Docker engine")
    grade.set_defaults(func=_cmd_grade)
