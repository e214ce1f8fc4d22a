"""The engine end to end: `kdlab check` on the hello lab with the real kernel pair and QEMU."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.grading import check
from tests import variants
from tests.conftest import LABS

HELLO = LABS / "00-hello"


def _qemu_processes() -> list[str]:
    """QEMU processes still alive (zombies do not count: they hold no resources)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text()
        except OSError:
            continue
        name, state = fields[fields.index("(") + 1: fields.rindex(")")], fields.split(") ")[1][0]
        if name.startswith("qemu-system") and state != "Z":
            alive.append(f"{stat.parent.name} {name}")
    return alive


def test_cli_json_is_one_object_with_full_marks(pair) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "grader.cli.main", "--kernel", str(pair.root), "check", str(HELLO),
         "--source", str(HELLO / "hello.rs"), "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # exactly one JSON document, nothing else on stdout
    assert set(result) >= {"lab", "score", "max_score", "tests", "build", "kernel_log", "timings"}
    assert result["score"] == result["max_score"] == 6
    assert {t["status"] for t in result["tests"]} == {"pass"}
    assert set(result["tests"][0]) >= {"name", "status", "points", "max_points", "message"}
    assert result["build"] == {"ok": True, "diagnostics": [], "log": ""}
    assert set(result["timings"]) == {"build_s", "boot_s", "total_s"}
    assert "Hello from kdlab (3/3)" in result["kernel_log"]


def test_compile_error_scores_zero_with_diagnostic_naming_the_line(pair, tmp_path) -> None:
    result = check.run(HELLO, variants.path("00-hello", "compile_error.patch", tmp_path), pair)
    assert result.score == 0
    assert not result.build.ok
    error = result.build.errors[0]
    assert (error.file, error.line) == ("hello.rs", 35)
    assert error.column > 0 and error.message and error.rendered
    assert all(t.status == "error" and "did not build" in t.message for t in result.tests)


def test_panic_in_init_scores_zero_and_names_the_panic(pair, tmp_path) -> None:
    started = time.monotonic()
    result = check.run(HELLO, variants.path("00-hello", "panic_in_init.patch", tmp_path), pair)
    assert result.score == 0
    assert result.events[0].kind == "rust_panic"
    assert "deliberate panic in init" in result.kernel_log
    assert "panicked" in result.tests[1].message
    assert time.monotonic() - started < 30
    assert _qemu_processes() == []


def test_hang_in_init_scores_zero_within_the_timeout(pair, tmp_path) -> None:
    started = time.monotonic()
    result = check.run(HELLO, variants.path("00-hello", "hang_in_init.patch", tmp_path), pair)
    elapsed = time.monotonic() - started
    assert result.score == 0
    assert "hang" in [e.kind for e in result.events]
    assert "module load (init) was still running" in result.tests[1].message
    assert elapsed < 30 + 10  # boot timeout of the lab plus the build
    assert _qemu_processes() == []


def test_missing_source_is_a_graded_result_not_a_crash(pair, tmp_path) -> None:
    result = check.run(HELLO, tmp_path / "nope.rs", pair)
    assert result.score == 0 and not result.build.ok
    assert "cannot read the source" in result.build.log


def test_kvm_choice_off_uses_tcg(pair) -> None:
    result = check.run(HELLO, HELLO / "hello.rs", pair, kvm="off")
    assert result.accel == "tcg"
    assert result.score == result.max_score


def test_pair_is_relocatable_and_works_read_only(pair) -> None:
    """The pair mounted read-only at another path, in a fresh toolchain container."""
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as err:
        pytest.fail(f"the relocation test needs the Docker engine: {err}")
    repo = str(LABS.parent)
    output = client.containers.run(
        "kdlab/toolchain:trixie",
        ["kdlab", "--kernel", "/opt/elsewhere", "check", f"{repo}/labs/00-hello", "--source",
         f"{repo}/labs/00-hello/hello.rs", "--json"],
        volumes={str(pair.root): {"bind": "/opt/elsewhere", "mode": "ro"},
                 repo: {"bind": repo, "mode": "ro"}},
        environment={"PYTHONPATH": repo, "KDLAB_CACHE": "/tmp/kdlab"},
        network_disabled=True, remove=True, stderr=False,
    )
    result = json.loads(output)
    assert result["score"] == result["max_score"], result["tests"]
