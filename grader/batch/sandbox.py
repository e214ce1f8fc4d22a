"""One submission, one throw-away container: the only place a student's code is compiled.

A submission is hostile until proven otherwise, so each one gets its own
container of the grader image (toolchain + kernel pair + grader, no labs):

- no network, a read-only root file system, all capabilities dropped, no new
  privileges, a non-root user; CPU, memory (no swap) and pids limits;
- the student's submission directory mounted read-only, nothing else of the
  host: not the course, not the gradebook, not other students' work (or, for a
  grading host that shares no file system with the instructor's, only the
  driver source itself, copied into the scratch volume: grader.cluster);
- scratch space on a size-limited tmpfs volume (a volume rather than a plain
  tmpfs mount because Docker refuses put_archive on a read-only container
  unless the target is a volume);
- a wall-clock bound twice over: the container's main process is
  `sleep <timeout>`, so it ends itself even if the grader dies, and a
  watchdog here kills it when the timeout passes.

Grading runs in two phases (grader.batch.sandbox_worker). The module is compiled
while the container holds only the submission and the kernel pair, so an
`include_str!("/…/hidden/test")` finds no file; the worker kills anything the
build left running; only then are the lab's guest tests copied in and the
module booted with them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import tags
from grader.engine import initramfs
from grader.engine.modbuild import BuildResult
from grader.errors import KdlabError
from grader.grading import grade
from grader.grading.results import CheckResult, Status
from grader.lab.model import Lab

GRADER_IMAGE = tags.image("grader")
#: Who runs inside the container (the grader image's `grader` user).
USER = "1000:1000"
SCRATCH = "/scratch"
#: Where the grader image keeps its kernel pair ($KDLAB_KERNEL there).
IMAGE_KERNEL = "/opt/kdlab/kernel"
SUBMISSION = "/submission"
#: Label on every container and volume made here, so leftovers can be found and removed.
LABEL = "kdlab.sandbox"
#: Output kept from a worker that failed (its stderr, for the instructor).
STDERR_TAIL = 3000


class SandboxError(KdlabError):
    """The sandbox itself could not run (no Docker, no grader image): not the student's fault."""


@dataclass(frozen=True)
class Limits:
    """Resources of one submission's container."""

    cpus: float = 1.0
    memory_mb: int = 1536
    pids: int = 512
    #: The tmpfs scratch volume (module build, initramfs, serial logs); counts as memory.
    scratch_mb: int = 512
    #: Wall-clock seconds allowed beyond the lab's own build and boot timeouts.
    margin_s: float = 60.0

    def timeout_s(self, lab: Lab) -> float:
        return lab.timeouts.build + lab.timeouts.boot + self.margin_s


@dataclass(frozen=True)
class Submission:
    """One student's work to grade: `directory` is mounted, `notebook` is a file in it.

    With `source` (the driver cell's Rust source, taken out of the notebook where the
    notebook is), nothing is mounted: the source is copied into the container. A
    grading host elsewhere (grader.cluster) sees no path of the instructor's.
    """

    key: str
    directory: Path | None
    notebook: str
    source: str | None = None


@dataclass
class Outcome:
    """What happened in the sandbox.

    status: "graded" (result is the worker's CheckResult), "timeout" or "oom"
    (the student's code exhausted the sandbox: a zero result saying so), or
    "error" (the grader failed: result is None and the submission should be
    graded again later).
    """

    status: str
    result: CheckResult | None
    message: str = ""
    phases: dict[str, float] = field(default_factory=dict)
    #: The container's peak memory (build and boot), when the run got that far.
    memory_peak_mb: float | None = None

    @property
    def final(self) -> bool:
        return self.status != "error"


def client() -> Any:
    """A Docker client, or a SandboxError that says what is missing."""
    try:
        import docker

        docker_client = docker.from_env(timeout=120)
        docker_client.ping()
        return docker_client
    except Exception as err:  # the SDK raises many types for "no daemon"
        raise SandboxError(f"Docker is not reachable ({err}); batch grading runs each "
                           "submission in a container") from err


def zero_result(lab: Lab, reason: str, status: str) -> CheckResult:
    """Every test at 0 for `reason` (the sandbox stopped the run)."""
    tests = grade.not_run(lab, reason, Status.ERROR)
    return CheckResult(lab.id, tests, BuildResult(False, None, log=reason),
                       boot_status=f"sandbox {status}")


def lab_archive(lab: Lab, cache: Path) -> bytes:
    """The lab's grading files (hidden tests included), plus its guest helpers compiled here.

    The helpers go where initramfs.compile_helper looks for them in the
    container's cache, so the container never compiles lab code itself.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        # Directories first and owned by the container's user: docker creates missing
        # parents as root, and the worker must be able to add to its cache.
        for name in ("lab", "cache", "cache/guest-bin"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(_owned(info))
        for path in lab.grading_files():
            tar.add(path, arcname=f"lab/{path.relative_to(lab.root)}", filter=_owned)
        for binary in initramfs.lab_helpers(lab, cache).values():
            tar.add(binary, arcname=f"cache/guest-bin/{binary.name}", filter=_owned)
    return buf.getvalue()


def _owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 1000
    info.uname = info.gname = ""
    return info


def _run_config(sub: Submission, image: str, limits: Limits, timeout_s: float, kvm: bool,
                volume: str, labels: dict[str, str], kernel: Path | None = None) -> dict:
    """containers.create() arguments: every isolation setting in one place."""
    config: dict[str, Any] = dict(
        image=image,
        command=["sleep", str(int(timeout_s) + 5)],
        user=USER,
        detach=True,
        network_mode="none",
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        mem_limit=f"{limits.memory_mb}m",
        memswap_limit=f"{limits.memory_mb}m",
        nano_cpus=int(limits.cpus * 1e9),
        pids_limit=limits.pids,
        ulimits=[{"Name": "core", "Soft": 0, "Hard": 0},
                 {"Name": "nofile", "Soft": 1024, "Hard": 1024}],
        volumes={volume: {"bind": SCRATCH, "mode": "rw"}},
        # A Mount, not a bind in `volumes`: a source path the daemon cannot see is an
        # error here, where a plain bind would silently create an empty directory.
        mounts=[*_submission_mounts(sub), *_kernel_mounts(kernel)],
        tmpfs={"/tmp": "size=64m,noexec,nosuid,nodev"},
        environment={"KDLAB_CACHE": f"{SCRATCH}/cache", "HOME": SCRATCH,
                     "PYTHONDONTWRITEBYTECODE": "1", "LC_ALL": "C.UTF-8"},
        working_dir=SCRATCH,
        labels=labels,
        # Named for the student, so `docker ps` during a batch says who is being graded.
        name=f"kdlab-{re.sub(r'[^A-Za-z0-9_.-]+', '-', sub.key)[:40]}-{secrets.token_hex(3)}",
    )
    if kvm:
        config["devices"] = ["/dev/kvm:/dev/kvm:rwm"]
        config["group_add"] = [str(os.stat("/dev/kvm").st_gid)]
    return config


def _submission_mount(directory: Path) -> Any:
    from docker.types import Mount

    return Mount(SUBMISSION, str(directory), type="bind", read_only=True)


def _submission_mounts(sub: Submission) -> list[Any]:
    """The submission's folder, unless its source is copied in (see Submission)."""
    if sub.source is not None or sub.directory is None:
        return []
    return [_submission_mount(sub.directory)]


#: Where a submission's copied-in source goes (in the scratch volume: see run()).
SOURCE_DIR = f"{SCRATCH}/submission"


def source_archive(module: str, source: str) -> bytes:
    """A tar of the driver source as `submission/<module>.rs`, for put_archive at SCRATCH."""
    buf = io.BytesIO()
    data = source.encode("utf-8")
    with tarfile.open(fileobj=buf, mode="w") as tar:
        folder = tarfile.TarInfo("submission")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(_owned(folder))
        info = tarfile.TarInfo(f"submission/{module}.rs")
        info.size, info.mode = len(data), 0o644
        tar.addfile(_owned(info), io.BytesIO(data))
    return buf.getvalue()


def _driver_args(sub: Submission, module: str) -> list[str]:
    """How the build phase finds the driver: the mounted notebook or the copied-in source."""
    if sub.source is not None:
        return ["--source", f"{SOURCE_DIR}/{module}.rs"]
    return ["--notebook", f"{SUBMISSION}/{sub.notebook}"]


def _kernel_mounts(kernel: Path | None, read_only: bool = True) -> list[Any]:
    """The host's kernel pair export over the image's copy (see run())."""
    if kernel is None:
        return []
    from docker.types import Mount

    return [Mount(IMAGE_KERNEL, str(kernel), type="bind", read_only=read_only)]


def warm_kernel(docker_client: Any, kernel: Path, modules: tuple[str, ...],
                image: str = GRADER_IMAGE) -> str:
    """Build a probe module under each name against `kernel`, mounted where sandboxes see it.

    ccache keys hold the path from the module's build directory to the kernel
    tree, so the cache is filled from inside a container, with the same layout as
    the sandboxes (tree at IMAGE_KERNEL, build directory three levels deep), once
    per batch. Returns '' or what went wrong.
    """
    import docker

    try:
        docker_client.containers.run(
            image, ["python3", "-m", "grader.engine.kernel_export", "--verify", IMAGE_KERNEL,
                    "--modules", *modules],
            remove=True, network_mode="none", user=f"{os.getuid()}:{os.getgid()}",
            mounts=_kernel_mounts(kernel, read_only=False),
            environment={"PYTHONDONTWRITEBYTECODE": "1"}, stderr=True)
        return ""
    except docker.errors.DockerException as err:
        return str(err)


def image_pair(docker_client: Any, image: str = GRADER_IMAGE) -> tuple[str, dict[str, str]]:
    """The release and configuration of the kernel pair `image` builds modules against.

    Read from the image itself (pair.json and .config, by `cat`: any grader image
    has it), so the batch can hold a lab's `[kernel]` needs against the pair its
    sandboxes really use before it grades anything.
    """
    from grader.engine.kernel import PAIR_FILE, parse_config

    out = docker_client.containers.run(
        image, ["sh", "-c", f'cat {IMAGE_KERNEL}/{PAIR_FILE} && echo "{_CONFIG_MARK}" '
                f'&& cat {IMAGE_KERNEL}/linux/.config'],
        remove=True, network_mode="none", user=USER).decode(errors="replace")
    meta, _, config = out.partition(_CONFIG_MARK)
    return json.loads(meta)["release"], parse_config(config)


#: Separates pair.json from .config in image_pair's output.
_CONFIG_MARK = "#kdlab: .config follows"


def check_visible(docker_client: Any, directory: Path, image: str = GRADER_IMAGE) -> str:
    """'' when the Docker daemon sees `directory` as this process does, else why not.

    Submissions are bind-mounted by path, and the path is resolved by the daemon:
    when kdlab itself runs in a container (scripts/in-toolchain), only what that
    container mounted at the same path (the checkout, the cache) is the same.
    """
    import docker

    marker = directory / f".kdlab-visible-{os.getpid()}"
    marker.write_text("")
    try:
        docker_client.containers.run(
            image, ["test", "-e", f"{SUBMISSION}/{marker.name}"], remove=True,
            network_mode="none", mounts=[_submission_mount(directory)], user=USER)
        return ""
    except docker.errors.ContainerError:
        return f"{directory} is not the same folder for the Docker daemon"
    except docker.errors.APIError as err:
        return f"the Docker daemon cannot mount {directory}: {err.explanation or err}"
    finally:
        marker.unlink(missing_ok=True)


class _Watchdog:
    """Kills the container when the wall-clock budget is spent."""

    def __init__(self, container: Any, timeout_s: float) -> None:
        self.fired = False
        self._container = container
        self._timer = threading.Timer(timeout_s, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        with contextlib.suppress(Exception):  # already gone: nothing to kill
            self._container.kill()

    def cancel(self) -> None:
        self._timer.cancel()


def _exec(container: Any, cmd: list[str]) -> tuple[int | None, str, str]:
    result = container.exec_run(cmd, user=USER, workdir=SCRATCH, demux=True)
    out, err = result.output if result.output else (b"", b"")
    return (result.exit_code, (out or b"").decode(errors="replace"),
            (err or b"").decode(errors="replace"))


def _last_json(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def run(docker_client: Any, sub: Submission, lab: Lab, lab_tar: bytes, *,
        image: str = GRADER_IMAGE, limits: Limits | None = None, kvm: bool = False,
        labels: dict[str, str] | None = None, kernel: Path | None = None,
        on_phase: Callable[[str], None] | None = None) -> Outcome:
    """Grade one submission in a fresh container; never raises for the student's behaviour.

    `kernel`: a kernel pair export on the host (grader.engine.kernel_export) mounted
    read-only over the image's own copy. Same files, but read through a plain bind
    mount rather than the image's storage driver (with fuse-overlayfs the module
    build takes 1.4 s instead of 1.9 s), with a ccache warmed for this lab's module
    (warm_kernel).
    """
    limits = limits or Limits()
    on_phase = on_phase or (lambda _phase: None)
    labels = {LABEL: "1", **(labels or {})}
    timeout_s = limits.timeout_s(lab)
    phases: dict[str, float] = {}
    mark = time.monotonic()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        phases[name] = round(now - mark, 3)
        mark = now

    import docker

    volume = docker_client.volumes.create(
        driver="local", labels=labels,
        driver_opts={"type": "tmpfs", "device": "tmpfs",
                     "o": f"size={limits.scratch_mb}m,mode=1777,noexec,nosuid,nodev"})
    container = None
    watchdog = None
    try:
        on_phase("starting")
        try:
            container = docker_client.containers.create(
                **_run_config(sub, image, limits, timeout_s, kvm, volume.name, labels, kernel))
            container.start()
        except docker.errors.DockerException as err:
            raise SandboxError(f"cannot start a container of {image}: {err}") from err
        watchdog = _Watchdog(container, timeout_s)
        lap("start_s")

        on_phase("building")
        if sub.source is not None:
            container.put_archive(SCRATCH, source_archive(lab.module, sub.source))
        code, out, stderr = _exec(container, [
            "python3", "-m", "grader.batch.sandbox_worker", "build",
            *_driver_args(sub, lab.module), "--module", lab.module,
            "--timeout", str(lab.timeouts.build), "--out", f"{SCRATCH}/out",
            *(f"--allow={rule}" for rule in lab.allow)])
        lap("build_s")
        built = _last_json(out)
        if code != 0 or built is None:
            return _failed(container, watchdog, lab, "build", code, stderr, limits, phases)
        if built.get("oom_kills"):
            return _out_of_memory(lab, "build", limits, phases)

        on_phase("booting")
        container.put_archive(SCRATCH, lab_tar)
        code, out, stderr = _exec(container, [
            "python3", "-m", "grader.batch.sandbox_worker", "boot", "--lab", f"{SCRATCH}/lab",
            "--out", f"{SCRATCH}/out", "--kvm", "on" if kvm else "off"])
        lap("boot_s")
        booted = _last_json(out)
        if code != 0 or booted is None or "result" not in booted:
            return _failed(container, watchdog, lab, "boot", code, stderr, limits, phases)
        if booted.get("oom_kills"):
            return _out_of_memory(lab, "boot", limits, phases)
        return Outcome("graded", CheckResult.from_json(booted["result"]), phases=phases,
                       memory_peak_mb=booted.get("memory_peak_mb"))
    except docker.errors.DockerException as err:
        if watchdog is not None and watchdog.fired:
            return _timed_out(lab, timeout_s, phases)
        return Outcome("error", None, f"Docker failed: {err}", phases)
    finally:
        if watchdog is not None:
            watchdog.cancel()
        started = time.monotonic()
        _remove(container, volume)
        phases["cleanup_s"] = round(time.monotonic() - started, 3)


def _out_of_memory(lab: Lab, phase: str, limits: Limits, phases: dict[str, float]) -> Outcome:
    reason = (f"the {phase} ran out of memory: the kernel's OOM killer stopped it (the grader "
              f"allows {limits.memory_mb} MB for building and booting a submission)")
    return Outcome("oom", zero_result(lab, reason, "oom"), reason, phases)


def _timed_out(lab: Lab, timeout_s: float, phases: dict[str, float]) -> Outcome:
    reason = (f"grading this submission took longer than {timeout_s:.0f} s and was stopped")
    return Outcome("timeout", zero_result(lab, reason, "timeout"), reason, phases)


def _failed(container: Any, watchdog: _Watchdog, lab: Lab, phase: str, code: int | None,
            stderr: str, limits: Limits, phases: dict[str, float]) -> Outcome:
    """A phase did not produce its JSON: the watchdog, the OOM killer, or a grader bug."""
    if watchdog.fired:
        return _timed_out(lab, limits.timeout_s(lab), phases)
    try:
        container.reload()
        oom = bool(container.attrs["State"].get("OOMKilled"))
    except Exception:
        oom = False
    if oom or code == 137:
        return _out_of_memory(lab, phase, limits, phases)
    return Outcome("error", None, f"the {phase} step failed (exit {code}): "
                   f"{stderr[-STDERR_TAIL:]}", phases)


#: How often removing a container or volume is tried before it is left to reap().
REMOVE_TRIES = 5


def _remove_one(thing: Any) -> bool:
    """Remove a container or volume (force); True once it is gone.

    The daemon can refuse for a while (a removal already in progress, a busy
    overlay mount under load), so this tries again with a growing pause.
    """
    import docker

    for attempt in range(REMOVE_TRIES):
        try:
            thing.remove(force=True)
            return True
        except docker.errors.NotFound:
            return True
        except Exception:  # busy, or the daemon is slow to answer: try again
            time.sleep(0.5 * (attempt + 1))
    return False


def _remove(container: Any, volume: Any) -> None:
    for thing in (container, volume):
        if thing is not None:
            _remove_one(thing)  # what stays is found by its labels: reap()


def reap(docker_client: Any, labels: dict[str, str]) -> list[str]:
    """Remove containers and volumes carrying all of `labels`; the names of those left.

    Finds what a killed batch left behind, and what the daemon would not remove
    when a submission finished.
    """
    filters = {"label": [LABEL, *(f"{k}={v}" for k, v in labels.items())]}
    left = [c.name for c in docker_client.containers.list(all=True, filters=filters)
            if not _remove_one(c)]
    # Volumes after containers: a volume is in use until its container is gone.
    left += [v.name for v in docker_client.volumes.list(filters=filters) if not _remove_one(v)]
    return left
