"""A user's mistake ends in one plain `kdlab: ...` message, never in a traceback.

Each case runs the real command line (`python3 -m grader.cli.main`, what the `kdlab`
wrapper runs) on a mistake a newcomer makes: a misspelt image or lab, a file
that is not there, an image not built yet, a machine without Docker or KVM. The
message must name the mistake and the exit status must be the documented one.
Every subcommand has at least one case (a test below checks that).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from grader import tags
from grader.cli import main as cli
from tests.conftest import REPO

#: A Docker endpoint where no daemon listens: the machine without Docker.
NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}

#: (arguments, what stderr must say, extra environment).
CASES: list[tuple[list[str], str, dict[str, str]]] = [
    (["image", "build", "nosuch"], "no image 'nosuch'", {}),
    (["image", "sizes"], "Docker is not reachable", NO_DOCKER),
    (["skeleton", "labs/nosuch"], "not a lab folder", {}),
    (["skeleton", "labs"], "not a lab folder", {}),
    (["grade", "00-hello", "--course", "/nonexistent"], "/nonexistent is not a directory", {}),
    (["grade", "00-hello", "--labs", "/nonexistent"], "/nonexistent is not a directory", {}),
    (["kernel", "build", "--source", "/nonexistent.tar.xz"], "/nonexistent.tar.xz", {}),
    (["lab", "--image", tags.image("nosuch"), "--port", "1"], "is not here", {}),
    (["lab"], "Docker is not reachable", NO_DOCKER),
    (["check", "labs/00-hello", "--source", "nosuch.rs"], "no such file", {}),
    (["check", "labs/nosuch", "--source", "README.md"], "not a lab folder", {}),
    (["--kernel", "/nonexistent", "check", "labs/00-hello", "--source", "README.md"],
     "/nonexistent", {}),
    (["doctor"], "", NO_DOCKER),
    (["course", "generate", "--labs", "/nonexistent"], "/nonexistent is not a directory", {}),
    (["course", "list", "--labs", "/nonexistent"], "/nonexistent is not a directory", {}),
    (["similarity", "00-hello", "--course", "/nonexistent"], "/nonexistent", {}),
    (["similarity", "nosuch", "--course", "course"], "nosuch", {}),
    (["export", "00-hello", "--to", "canvas"], "needs --roster", {}),
    (["export", "00-hello", "--to", "csv", "--course", "/nonexistent"], "/nonexistent", {}),
    (["image", "load", "/nonexistent.tar.gz"], "is not a file", {}),
    (["image", "save", "grader", "-o", "/nonexistent/dir/images.tar"], "Docker is not reachable",
     NO_DOCKER),
    (["worker", "tcp://127.0.0.1:1"], "Docker is not reachable", NO_DOCKER),
    (["hub", "--roster", "/nonexistent.csv"], "no such file", {}),
    (["hub", "--stop"], "Docker is not reachable", NO_DOCKER),
]


def _kdlab(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "grader.cli.main", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess[str]]:
    """Every case's run, started all at once (each is a second of Python start-up)."""
    started = {_id(args): (args, _kdlab(args, env)) for args, _, env in CASES}
    done = {}
    for key, (args, proc) in started.items():
        out, err = proc.communicate(timeout=300)
        done[key] = subprocess.CompletedProcess(args, proc.returncode, out, err)
    return done


def _id(args: list[str]) -> str:
    return " ".join(args)


@pytest.mark.parametrize(("args", "says", "env"), CASES,
                         ids=lambda a: _id(a) if isinstance(a, list) else "")
def test_mistake_gets_a_message_not_a_traceback(
        runs: dict[str, subprocess.CompletedProcess[str]], args: list[str], says: str,
        env: dict[str, str]) -> None:
    proc = runs[_id(args)]
    assert proc.returncode in cli.EXIT_CODES and proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    if args == ["doctor"]:  # doctor reports problems as its output, then exits 1
        assert proc.returncode == 1 and "Docker" in proc.stdout, proc.stdout
        return
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr, proc.stderr
    # the last line is kdlab's own message, or argparse's `kdlab ...: error: ...`
    assert proc.stderr.strip().splitlines()[-1].startswith("kdlab"), proc.stderr


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every runnable subcommand of `parser`, e.g. "kernel build"."""
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found |= _commands(child, (*prefix, name)) or {" ".join((*prefix, name))}
    return found


#: Commands that take no input a user could get wrong.
NO_INPUT = {"kernel list"}


def test_every_command_has_a_mistake_case() -> None:
    tried = {" ".join(a for a in args if not a.startswith("-") and a not in ("/nonexistent",))
             for args, _, _ in CASES}
    missing = {c for c in _commands(cli.parser()) - NO_INPUT
               if not any(t == c or t.startswith(c + " ") for t in tried)}
    assert not missing, f"no mistake case for: {sorted(missing)}"


def test_exit_codes_are_in_the_help() -> None:
    out, _ = _kdlab(["--help"], {}).communicate(timeout=300)
    for code in cli.EXIT_CODES:
        assert f"{code} " in out, out
