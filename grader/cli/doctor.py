"""`kdlab doctor`: is this machine ready for kdlab, and if not, what to run.

One finding per thing a user needs: the tools (grader.engine.toolchain), the kernel
pair, Docker, each kdlab image (there, built on the current images below it,
carrying the current kernel pair) and the lab's work volume (the student's).
Every problem comes with the command that fixes it, so the report is a to-do
list rather than a diagnosis to interpret.

Docker is optional where kdlab runs without it (inside the grader or lab
image, or on a host with the toolchain installed and no Docker): with no Docker
socket in sight, its checks are reported as not done, not as problems.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.engine import kernel, toolchain

SOCKET = Path("/var/run/docker.sock")
SETUP = "./setup"
IMAGE_BUILD = "scripts/in-toolchain kdlab image build"


@dataclass(frozen=True)
class Finding:
    """One check: `ok` None when it could not be done here; `fix` what to run when not ok."""

    subject: str
    ok: bool | None
    detail: str
    fix: str = ""


def _toolchain() -> Finding:
    report = toolchain.missing_report()
    if report:
        return Finding("toolchain", False, report,
                       "install those packages, or run kdlab through scripts/in-toolchain")
    return Finding("toolchain", True, "complete")


def _kernel(explicit: str | None) -> tuple[Finding, kernel.KernelPair | None]:
    try:
        pair = kernel.find(explicit)
    except kernel.KernelError as err:
        return Finding("kernel pair", False, str(err),
                       "scripts/in-toolchain kdlab kernel build"), None
    return Finding("kernel pair", True, f"Linux {pair.release} at {pair.root}"), pair


def _docker() -> tuple[Finding, Any]:
    try:
        import docker  # noqa: F401 (only whether the SDK is there)
    except ImportError:
        return Finding("docker", None, "not checked: the docker Python package is not "
                       "installed here (images and the lab are checked where it is: "
                       "scripts/in-toolchain kdlab doctor)"), None
    from grader.batch.sandbox import SandboxError, client

    if not SOCKET.exists() and not os.environ.get("DOCKER_HOST"):
        return Finding("docker", None, f"not checked: no Docker here ({SOCKET} is missing); "
                       "images and the lab are checked where Docker runs "
                       "(scripts/in-toolchain kdlab doctor)"), None
    try:
        docker_client = client()
    except SandboxError as err:
        return Finding("docker", False, str(err), "start Docker (sudo systemctl start docker) "
                       "and make sure you may use it (the docker group)"), None
    version = docker_client.version().get("Version", "?")
    return Finding("docker", True, f"engine {version}"), docker_client


def _layers(image: Any) -> list[str]:
    return list(image.attrs.get("RootFS", {}).get("Layers", []))


def _images(docker_client: Any, pair: kernel.KernelPair | None) -> Iterator[Finding]:
    """Each kdlab image: present, built on the image below it as that one is now, and
    (the runtime and what stands on it) carrying the current kernel pair's export."""
    import docker

    from grader.engine import kernel_export
    from grader.images import build as images

    below = {images.COMPILERS_IMAGE: images.BASE_IMAGE, images.COMMON_IMAGE: images.COMPILERS_IMAGE,
             images.TOOLCHAIN_IMAGE: images.COMMON_IMAGE,
             **{spec.tag: (images.IMAGES[spec.needs[0]].tag if spec.needs
                           else spec.local_bases[0]) for spec in images.IMAGES.values()}}
    built = [images.IMAGES[name].tag for name in images.DEFAULT_TARGETS]  # the hub's: `kdlab hub`
    export = kernel_export.export_dir(pair).name if pair else None
    found: dict[str, Any] = {}
    for tag in (*images.SETUP_IMAGES, *built):
        fix = IMAGE_BUILD if tag in built else SETUP
        try:
            image = found[tag] = docker_client.images.get(tag)
        except docker.errors.ImageNotFound:
            yield Finding(f"image {tag}", False, "missing", fix)
            continue
        parent = found.get(below.get(tag, ""))
        labels = image.labels or {}
        if parent is not None and _layers(image)[:len(_layers(parent))] != _layers(parent):
            yield Finding(f"image {tag}", False, f"built on an older {below[tag]}", fix)
        elif tag in built and images.built_from(image) is None:
            yield Finding(f"image {tag}", False, "not made by kdlab image build on this "
                          "machine", fix)
        elif tag in built and export and labels.get(kernel_export.IMAGE_LABEL) != export:
            yield Finding(f"image {tag}", False, "carries another kernel pair ("
                          f"{labels.get(kernel_export.IMAGE_LABEL)}; this machine's: {export})",
                          fix)
        else:
            yield Finding(f"image {tag}", True, f"{int(image.attrs['Size']) / 1e9:.2f} GB")


def _work_volume(docker_client: Any) -> Finding:
    import docker

    from grader.images import labserver

    subject = f"lab volume {labserver.WORK_VOLUME}"
    try:
        owner = labserver.volume_owner(docker_client)
    except docker.errors.ImageNotFound:
        return Finding(subject, None, "not checked: the lab image is missing")
    if owner is None:
        return Finding(subject, True, "not made yet (`kdlab lab` makes it)")
    if owner != labserver.STUDENT_UID:
        return Finding(subject, False, f"belongs to uid {owner}, not to the student "
                       f"({labserver.STUDENT_UID}); `kdlab lab` gives it to the student",
                       "scripts/in-toolchain kdlab lab")
    return Finding(subject, True, "the student's")


def run(explicit_kernel: str | None = None) -> list[Finding]:
    """Every finding, in the order a fresh machine gets set up."""
    findings = [_toolchain()]
    kernel_finding, pair = _kernel(explicit_kernel)
    findings.append(kernel_finding)
    docker_finding, docker_client = _docker()
    findings.append(docker_finding)
    if docker_client is not None:
        findings += list(_images(docker_client, pair))
        findings.append(_work_volume(docker_client))
    return findings


def render(findings: list[Finding]) -> str:
    """The report: one line per finding, with `-> run: FIX` under each problem."""
    marks = {True: "ok", False: "PROBLEM", None: "-"}
    lines = []
    for finding in findings:
        detail = finding.detail.replace("\n", "\n" + " " * 10)
        lines.append(f"{marks[finding.ok]:9} {finding.subject}: {detail}")
        if finding.ok is False and finding.fix:
            lines.append(f"{'':9} -> run: {finding.fix}")
    return "\n".join(lines)
