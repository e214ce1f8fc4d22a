"""Assemble the guest's initramfs: busybox, kdlab's init and runner, the module and the lab's tests.

The archive is an uncompressed newc cpio (the kernel always accepts one, and
skipping compression saves time on every boot): a cached base shared by every run,
followed by a small archive of the run's own files. Guest helper programs written in
C are compiled statically once and cached by content hash (of the program and the
lab's shared headers in guest/).

The lab's hidden tests (hidden/, see grader.lab.model) go in only when the lab folder
has them: where the instructor grades. A student's copy of a lab has none, and the
runner then lists those tests as graded after submission.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from importlib import resources
from pathlib import Path

from grader.errors import KdlabError
from grader.lab.model import Lab

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


class InitramfsError(KdlabError):
    """The guest image could not be assembled (a lab helper does not compile, say)."""


def _busybox() -> Path:
    for candidate in BUSYBOX_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise InitramfsError("busybox is missing (Debian package busybox-static)")


@functools.cache
def _applets() -> list[str]:
    """busybox's applets as paths (bin/sh, sbin/insmod...): links made on the host save
    the guest a `busybox --install` on every boot."""
    out = subprocess.run([str(_busybox()), "--list-full"], capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.split() if line.startswith(("bin/", "sbin/", "usr/"))]


def _guest_asset(name: str) -> Path:
    return Path(str(resources.files("grader.engine") / "guest" / name))


def compile_helper(source: Path, cache: Path, include: Path | None = None) -> Path:
    """Compile one guest helper (C, static), reusing the cached binary when unchanged.

    `include` is the folder of headers the helper may include (the lab's guest/,
    which hidden helpers share): they are part of the cache key.
    """
    headers = sorted(include.glob("*.h")) if include is not None else []
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in [source, *headers])).hexdigest()[:16]
    out = cache / "guest-bin" / f"{source.stem}-{digest}"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # One temporary name per process and thread: checks run concurrently in one
    # process (tests/e2e/test_labs.py, the batch grader's pool) and may compile the
    # same helper at once on a fresh cache; the last rename wins, with the same bytes.
    tmp = out.with_suffix(f".tmp{os.getpid()}-{threading.get_ident()}")
    proc = subprocess.run(
        ["cc", "-static", "-O2", "-Wall", *([f"-I{include}"] if include is not None else []),
         "-o", str(tmp), str(source), "-lpthread"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise InitramfsError(f"guest helper {source} does not compile:\n{proc.stderr}")
    tmp.replace(out)
    return out


def lab_helpers(lab: Lab, cache: Path) -> dict[str, Path]:
    """The lab's guest helper programs (guest/*.c, and hidden/*.c where present), compiled:
    the name each has in the guest's /lab -> the cached binary."""
    sources = sorted(lab.guest_dir.glob("*.c"))
    if lab.has_hidden_tests:
        sources += sorted(lab.hidden_dir.glob("*.c"))
    return {source.stem: compile_helper(source, cache, lab.guest_dir) for source in sources}


def _cpio(root: Path, out: Path) -> None:
    """Write the tree under `root` as a newc archive (owned by root, as the guest expects)."""
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    with out.open("wb") as stream:
        proc = subprocess.run(
            ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=root,
            input="\n".join(names).encode(), stdout=stream, stderr=subprocess.PIPE, check=False,
        )
    if proc.returncode != 0:
        raise InitramfsError(f"cpio failed: {proc.stderr.decode(errors='replace')}")


def base_archive(cache: Path) -> Path:
    """The part every run shares (busybox, its applet links, init, the test runner),
    archived once per content and reused: the kernel unpacks concatenated archives."""
    parts = [_busybox(), _guest_asset("init"), _guest_asset("runner")]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()[:16]
    archive = cache / "initramfs" / f"base-{digest}.cpio"
    if archive.is_file():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=archive.parent) as scratch:
        root = Path(scratch) / "root"
        for sub in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "lab", "lib/kdlab"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy2(_busybox(), root / "bin/busybox")
        for applet in _applets():
            link = root / applet
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to("/bin/busybox")
        shutil.copy2(_guest_asset("init"), root / "init")
        shutil.copy2(_guest_asset("runner"), root / "lib/kdlab/runner")
        (root / "init").chmod(0o755)
        tmp = Path(scratch) / "base.cpio"
        _cpio(root, tmp)
        tmp.replace(archive)
    return archive


def assemble(lab: Lab, module_ko: Path | None, staging: Path, cache: Path,
             env: dict[str, str]) -> Path:
    """Build `staging/initramfs.cpio` for one run: the shared base plus this run's files."""
    root = staging / "root"
    for sub in ("etc", "lab"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "etc/kdlab.env").write_text(
        "".join(f"{key}={shlex.quote(value)}\n" for key, value in sorted(env.items()))
    )
    if module_ko is not None:
        shutil.copy2(module_ko, root / "lab" / f"{lab.module}.ko")
    for name, binary in lab_helpers(lab, cache).items():
        shutil.copy2(binary, root / "lab" / name)
    shutil.copy2(lab.guest_dir / "tests.sh", root / "lab" / "tests.sh")
    if lab.has_hidden_tests:
        (root / "lab" / "hidden").mkdir()
        shutil.copy2(lab.hidden_dir / "tests.sh", root / "lab" / "hidden" / "tests.sh")
    own = staging / "run.cpio"
    _cpio(root, own)
    archive = staging / "initramfs.cpio"
    with archive.open("wb") as out:
        for part in (base_archive(cache), own):
            with part.open("rb") as stream:
                shutil.copyfileobj(stream, out)
    return archive
