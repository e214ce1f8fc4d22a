"""CLI extension: `kdlab similarity` and `kdlab export`, the instructor's side after grading.

Registered through grader.cli.main.EXTENSIONS; `kdlab grade --similarity/--regrade`
and `kdlab check --format` live with their commands. Heavy imports (copydetect,
nbgrader) happen inside the commands.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from grader import paths
from grader.lab.model import Lab


def _course_lab(args: argparse.Namespace) -> Lab:
    """The assignment's lab, found as `kdlab grade` finds it."""
    from grader.batch import run as batch

    return batch.assignment_lab(batch.Options(
        course=Path(args.course).resolve(), assignment=args.assignment,
        labs=Path(args.labs).resolve(), lab=args.lab))


def _cmd_similarity(args: argparse.Namespace) -> int:
    from grader.batch import similarity

    report = similarity.check(similarity.Options(
        Path(args.course).resolve(), args.assignment, _course_lab(args),
        Path(args.archive).resolve() if args.archive else None, args.threshold))
    for rank, pair in enumerate(report.pairs[:args.top], 1):
        print(f"{rank:3}. {pair.similarity:4.0%}  {pair.a} — {pair.b}")
    for student, why in sorted(report.skipped.items()):
        print(f"  not compared: {student}: {why}")
    print(f"{len(report.pairs)} pairs ranked: {report.csv}\nside by side: {report.page}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from grader.batch import exports, gradebook

    course = Path(args.course).resolve()
    roster = exports.read_roster(Path(args.roster)) if args.roster else {}
    if args.to != "csv" and not roster:
        raise exports.ExportError(f"--to {args.to} needs --roster ROSTER.csv: the LMS "
                                  "knows students by its own ids")
    config = gradebook.course_config(course)
    gradebook.check_assignment(config.db_url, config.course_id, args.assignment)
    scores = gradebook.final_scores(config, args.assignment)
    text = exports.LMS_WRITERS[args.to](args.title or args.assignment, scores, roster)
    if args.output == "-":
        print(text, end="")
        return 0
    out = Path(args.output or course / "kdlab" / f"{args.assignment}-{args.to}.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"{len(scores)} grades of {args.assignment} for {args.to}: {out}")
    return 0


def _course_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help="the nbgrader assignment, e.g. 00-hello")
    parser.add_argument("--course", default=str(paths.course_dir()),
                        help="nbgrader course directory (default: $KDLAB_COURSE, else course/)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the similarity and export commands to the kdlab parser."""
    from grader.batch import exports, similarity

    sim = sub.add_parser("similarity", help="compare the submissions' drivers pairwise "
                         "(the lab's skeleton does not count)")
    _course_args(sim)
    sim.add_argument("--labs", default=str(paths.labs_dir()),
                     help="labs directory (default: $KDLAB_LABS, else labs/)")
    sim.add_argument("--lab", help="lab id (default: the one the assignment's source "
                     "notebook names)")
    sim.add_argument("--archive", help="folder of earlier terms' drivers (.rs files or "
                     "notebooks, searched recursively) to compare against as well")
    sim.add_argument("--threshold", type=float, default=similarity.DEFAULT_THRESHOLD,
                     help="show pairs side by side from this share of code on "
                     f"(default {similarity.DEFAULT_THRESHOLD})")
    sim.add_argument("--top", type=int, default=10, help="pairs to print (default 10)")
    sim.set_defaults(func=_cmd_similarity)

    export = sub.add_parser("export", help="write an assignment's grades in an LMS's import "
                            "format (from the nbgrader gradebook)")
    _course_args(export)
    export.add_argument("--to", choices=exports.LMS_FORMATS, required=True)
    export.add_argument("--roster", help="roster CSV: id (nbgrader student id), first_name, "
                        "last_name, email, lms_user_id, sis_user_id, sis_login_id, section")
    export.add_argument("--title", help="the assignment's name in the LMS (default: its "
                        "nbgrader name)")
    export.add_argument("-o", "--output", help="output file, - for stdout (default: "
                        "<course>/kdlab/<assignment>-<to>.csv)")
    export.set_defaults(func=_cmd_export)
