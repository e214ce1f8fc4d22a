"""`kdlab image build`: the runtime, grader and lab images, from exactly the files they need.

Each image's build context is assembled here as a tar laid out like the
repository (so the Dockerfiles' COPY lines read as repo paths), holding only
what that image copies: sending the whole checkout would ship build/ scratch
and, worse, put lab solutions where a COPY could pick them up. Generated inputs
appear under build/images/ in the context:

- build/images/kernel/  the slim kernel pair export (grader.engine.kernel_export);
- build/images/course/  the released course (course/release, or made by
                        `nbgrader generate_assignment` from course/source);
- build/images/hub-requirements.txt  the `hub` extra of pyproject.toml (the hub image).

The runtime image stands on kdlab/common (images/common/Dockerfile, made by
./setup), as the toolchain image does: the Debian packages and the Python
environment are installed once, for every image.
Images build in dependency order (runtime, then grader and lab on top of it)
with Docker's layer cache, `--network=host` (package mirrors are reachable only
that way here) and a progress display fed by the build's step stream.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import tags
from grader.engine import kernel, kernel_export
from grader.lab.model import discover
from grader.progress import Reporter, Silent

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = tags.image("debian")
#: The shared packages and Python environment (images/common/Dockerfile).
COMMON_IMAGE = tags.image("common")
TOOLCHAIN_IMAGE = tags.image("toolchain")
#: The images ./setup makes before the kernel pair, each FROM the one before.
SETUP_IMAGES = (BASE_IMAGE, COMMON_IMAGE, TOOLCHAIN_IMAGE)
#: Image label holding the digest of what the image was built from (context_digest).
CONTEXT_LABEL = "kdlab.context"
#: Colour codes in build output (stderr of RUN steps), dropped from progress lines.
ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Output lines of a failed build kept for the error message.
ERROR_TAIL = 40


class ImageError(RuntimeError):
    """An image could not be built; the message has the failing step's output."""


@dataclass(frozen=True)
class ImageSpec:
    """One image: its tag, its Dockerfile and the images it is built on."""

    name: str
    tag: str
    dockerfile: str
    needs: tuple[str, ...] = ()
    local_bases: tuple[str, ...] = ()
    buildargs: dict[str, str] = field(default_factory=dict)
    #: Built by `kdlab image build` with no names (and so by ./setup); the hub image is
    #: not: `kdlab hub` builds it on first use (`kdlab image build hub` does too).
    default: bool = True


def lab_modules(labs_dir: Path = REPO / "labs") -> list[str]:
    """Every lab's module name: the images warm the kernel pair's ccache for each."""
    return sorted({lab.module for lab in discover(labs_dir)})


def image_labels(spec: ImageSpec, pair: kernel.KernelPair | None = None) -> dict[str, str]:
    """Labels the image gets beyond the context digest.

    The runtime image (and so every image built on it) names the kernel pair export
    it carries: batch grading mounts the host's copy of that export, and only that.
    """
    if spec.name == "runtime":
        export = kernel_export.cached_export(pair or kernel.find())
        return {kernel_export.IMAGE_LABEL: export.root.name}
    return {}


def build_args(spec: ImageSpec) -> dict[str, str]:
    """The image's build arguments, computed ones included."""
    if spec.name == "runtime":
        return {**spec.buildargs, "MODULES": " ".join(lab_modules())}
    return dict(spec.buildargs)


IMAGES: dict[str, ImageSpec] = {
    "runtime": ImageSpec("runtime", tags.image("runtime"), "images/runtime/Dockerfile",
                         local_bases=(COMMON_IMAGE,), buildargs={"COMMON": COMMON_IMAGE}),
    "grader": ImageSpec("grader", tags.image("grader"), "images/grader/Dockerfile",
                        needs=("runtime",), buildargs={"RUNTIME": tags.image("runtime")}),
    "lab": ImageSpec("lab", tags.image("lab"), "images/lab/Dockerfile", needs=("runtime",),
                     buildargs={"RUNTIME": tags.image("runtime")}),
    "hub": ImageSpec("hub", tags.image("hub"), "images/hub/Dockerfile",
                     local_bases=(COMMON_IMAGE,), buildargs={"COMMON": COMMON_IMAGE},
                     default=False),
}
#: What `kdlab image build` builds when no image is named.
DEFAULT_TARGETS = [name for name, spec in IMAGES.items() if spec.default]


def build_order(targets: list[str]) -> list[ImageSpec]:
    """The images to build for `targets`, each after the images it needs."""
    order: list[ImageSpec] = []

    def visit(name: str) -> None:
        spec = IMAGES[name]
        for dep in spec.needs:
            visit(dep)
        if spec not in order:
            order.append(spec)

    for target in targets:
        visit(target)
    return order


# ----------------------------------------------------------------------------- contexts

def _tree(root: Path, arc: str, leave_out: tuple[str, ...] = ()) -> Iterator[tuple[str, Path]]:
    """(archive name, path) for every file and symlink under root, caches left out.

    leave_out: top-level folders of root to skip as well.
    """
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        if path.relative_to(root).parts[0] in leave_out:
            continue
        if path.is_file() or path.is_symlink():
            yield f"{arc}/{path.relative_to(root)}", path


def _labs_without_solutions(labs_dir: Path) -> Iterator[tuple[str, Path]]:
    """The labs as students may see them: everything but each lab's solution source and its
    hidden tests (hidden/: their code exists only where the instructor grades)."""
    for lab in discover(labs_dir):
        for arc, path in _tree(lab.root, f"labs/{lab.root.name}", leave_out=("hidden",)):
            if path != lab.source:
                yield arc, path
    readme = labs_dir / "README.md"
    if readme.is_file():
        yield "labs/README.md", readme


def course_release(repo: Path, work: Path) -> Path:
    """A directory holding the released course (release/<assignment>/...), made if needed.

    course/release/ is used as it is; otherwise `nbgrader generate_assignment`
    runs on a copy of course/ (the checkout is left untouched). Without a
    course yet, the image gets a README pointing at the labs.
    """
    course = repo / "course"
    if (course / "release").is_dir():
        return course
    out = work / "course"
    shutil.rmtree(out, ignore_errors=True)
    if (course / "source").is_dir():
        shutil.copytree(course, out, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
        for assignment in sorted(p.name for p in (out / "source").iterdir() if p.is_dir()):
            proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment",
                                   assignment, "--force"], cwd=out, capture_output=True,
                                  text=True, check=False)
            if proc.returncode != 0:
                raise ImageError(f"nbgrader generate_assignment {assignment} failed on a copy "
                                 "of course/:\n" + (proc.stdout + proc.stderr)[-3000:])
        return out
    out.mkdir(parents=True)
    (out / "README.md").write_text("No course has been released into this image; the labs "
                                   "are in /opt/kdlab/labs.\n")
    return out


def hub_requirements(repo: Path, work: Path) -> Path:
    """The `hub` extra of pyproject.toml as a pip requirements file: the hub image is
    rebuilt when its requirements change, not whenever pyproject.toml does."""
    import tomllib

    extra = tomllib.loads((repo / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["hub"]
    out = work / "hub-requirements.txt"
    text = "".join(f"{line}\n" for line in extra)
    if not out.is_file() or out.read_text() != text:
        out.write_text(text)
    return out


def context_files(spec: ImageSpec, repo: Path = REPO, work: Path | None = None,
                  pair: kernel.KernelPair | None = None) -> list[tuple[str, Path]]:
    """Everything the image's Dockerfile copies, as (path in the context, file)."""
    work = work or repo / "build" / "images"
    files: list[tuple[str, Path]] = [(spec.dockerfile, repo / spec.dockerfile)]
    if spec.name == "runtime":
        # Without the export's compile caches: they change with every build against
        # the export (grader.batch.run warms them for the sandboxes) and would make the
        # image look outdated; the runtime image fills its own when built.
        export = kernel_export.cached_export(pair or kernel.find())
        files += list(_tree(export.root, "build/images/kernel", kernel_export.PAIR_CACHES))
        files += list(_tree(repo / "grader", "grader"))
    if spec.name == "lab":
        files += list(_labs_without_solutions(repo / "labs"))
        release = course_release(repo, work)
        # The released assignments only: no sources (solutions), no student work, and
        # no gradebook (instructor data, and rewritten by every release).
        files += [(arc, path) for arc, path in _tree(release, "build/images/course")
                  if not arc.startswith("build/images/course/source/")
                  and "/submitted/" not in arc and "/autograded/" not in arc
                  and "/feedback/" not in arc and path.suffix != ".db"]
        files += [(f"images/lab/{name}", repo / "images/lab" / name)
                  for name in ("start-lab", "nbgrader_config.py", "nbgrader_student_config.py")]
    if spec.name == "hub":
        files += [("build/images/hub-requirements.txt", hub_requirements(repo, work)),
                  ("images/hub/jupyterhub_config.py", repo / "images/hub/jupyterhub_config.py")]
    return files


def write_context(files: list[tuple[str, Path]], out: Any) -> None:
    """Write the build context tar (modes kept: scripts and the probe wrapper stay executable)."""
    with tarfile.open(fileobj=out, mode="w") as tar:
        for arc, path in files:
            info = tar.gettarinfo(str(path), arcname=arc)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isfile():
                with path.open("rb") as stream:
                    tar.addfile(info, stream)
            else:
                tar.addfile(info)


# ----------------------------------------------------------------------------- builds

@dataclass
class Built:
    """One finished image build (up_to_date: nothing changed, Docker was not even asked)."""

    tag: str
    image_id: str
    size: int
    steps: int
    cached_steps: int
    seconds: float
    up_to_date: bool = False


def context_digest(spec: ImageSpec, files: list[tuple[str, Path]], docker_client: Any) -> str:
    """Identity of everything an image is made from: its files, its Dockerfile, its bases.

    Stored as a label on the image; an image whose label matches is current, so
    `kdlab image build` (and ./setup) returns at once when nothing changed.
    """
    digest = hashlib.sha256(json.dumps([spec.tag, build_args(spec)]).encode())
    for base in (*spec.local_bases, *(IMAGES[n].tag for n in spec.needs)):
        digest.update(f"base {base} {docker_client.images.get(base).id}\n".encode())
    for arc, path in files:
        digest.update(f"{arc}\0{path.lstat().st_mode:o}\0".encode())
        if path.is_symlink():
            digest.update(os.readlink(path).encode())
        else:
            with path.open("rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def _docker() -> Any:
    from grader.batch.sandbox import client

    return client()


def build_image(spec: ImageSpec, docker_client: Any, reporter: Reporter | None = None,
                no_cache: bool = False, repo: Path = REPO) -> Built:
    """Build one image with the layer cache; raise ImageError with the failing output."""
    import time

    reporter = reporter or Silent()
    started = time.monotonic()
    for base in spec.local_bases:
        if not _image_exists(docker_client, base):
            raise ImageError(f"{spec.tag} is built FROM {base}, which is not here: run ./setup")
    reporter.begin(f"{spec.tag}: preparing the build context")
    work = repo / "build" / "images"
    work.mkdir(parents=True, exist_ok=True)
    files = context_files(spec, repo, work)
    digest = context_digest(spec, files, docker_client)
    if not no_cache and _image_exists(docker_client, spec.tag):
        image = docker_client.images.get(spec.tag)
        if (image.labels or {}).get(CONTEXT_LABEL) == digest:
            reporter.end("up to date")
            return Built(spec.tag, image.id, int(image.attrs["Size"]), 0, 0,
                         time.monotonic() - started, up_to_date=True)
    with tempfile.TemporaryFile(dir=work) as context:
        write_context(files, context)
        size_mb = context.tell() / 1e6
        context.seek(0)
        reporter.end(f"{len(files)} files, {size_mb:.0f} MB, changed since the last build")
        stream = docker_client.api.build(
            fileobj=context, custom_context=True, dockerfile=spec.dockerfile, tag=spec.tag,
            network_mode="host", buildargs=build_args(spec), rm=True, forcerm=True,
            nocache=no_cache, pull=False, decode=True,
            labels={CONTEXT_LABEL: digest, **image_labels(spec)})
        steps, cached, image_id = _follow(stream, spec.tag, reporter)
    image = docker_client.images.get(spec.tag)
    return Built(spec.tag, image_id or image.id, int(image.attrs["Size"]), steps, cached,
                 time.monotonic() - started)


def _image_exists(docker_client: Any, tag: str) -> bool:
    import docker

    try:
        docker_client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _follow(stream: Any, tag: str, reporter: Reporter) -> tuple[int, int, str]:
    """Turn the classic builder's JSON stream into progress; (steps, cached steps, image id)."""
    tail: list[str] = []
    total = steps = cached = 0
    image_id = ""
    step_text = ""
    for event in stream:
        if "error" in event:
            reporter.end("failed")
            raise ImageError(f"building {tag} failed at {step_text!r}: {event['error']}\n"
                             + "".join(tail[-ERROR_TAIL:]))
        if "aux" in event and "ID" in event["aux"]:
            image_id = event["aux"]["ID"]
        text = ANSI.sub("", event.get("stream", ""))
        if not text:
            continue
        tail.append(text if text.endswith("\n") else text + "\n")
        del tail[:-ERROR_TAIL]
        match = re.match(r"Step (\d+)/(\d+) : (.*)", text)
        if match:
            steps, step_text = int(match[1]), match[3].strip()
            if not total:
                total = int(match[2])
                reporter.begin(f"{tag}: building", total=total)
            reporter.advance(steps - 1, step_text[:70])
        elif "Using cache" in text:
            cached += 1
        elif text.strip():
            reporter.advance(max(steps - 1, 0), text.strip()[:70])
    reporter.advance(total, "done")
    reporter.end(f"{steps} steps, {cached} from cache")
    return steps, cached, image_id


def build(targets: list[str], reporter: Reporter | None = None,
          no_cache: bool = False) -> list[Built]:
    """Build `targets` (runtime/grader/lab) and what they need, in order."""
    docker_client = _docker()
    return [build_image(spec, docker_client, reporter, no_cache) for spec in build_order(targets)]


def sizes(wanted: list[str] | None = None) -> dict[str, int]:
    """Sizes in bytes of the kdlab images that exist (set-up and built ones)."""
    docker_client = _docker()
    found = {}
    for tag in wanted or [*SETUP_IMAGES, *(s.tag for s in IMAGES.values())]:
        if _image_exists(docker_client, tag):
            found[tag] = int(docker_client.images.get(tag).attrs["Size"])
    return found
