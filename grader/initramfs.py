"""Assemble the guest's initramfs: busybox, kdlab's init, the module and the lab's tests.

The archive is an uncompressed newc cpio (the kernel always accepts one, and
skipping compression saves time on every boot): a cached base shared by every run,
followed by a small archive of the run's own files. Guest helper programs written in
C are compiled statically once and cached by content hash.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from grader.lab import Lab

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


class InitramfsError(RuntimeError):
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
    return Path(str(resources.files("grader") / "guest" / name))


def compile_helper(source: Path, cache: Path) -> Path:
    """Compile one guest helper (C, static), reusing the cached binary when unchanged."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    out = cache / "guest-bin" / f"{source.stem}-{digest}"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    proc = subprocess.run(
        ["cc", "-static", "-O2", "-Wall", "-o", str(tmp), str(source), "-lpthread"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise InitramfsError(f"guest helper {source} does not compile:\n{proc.stderr}")
    tmp.replace(out)
    return out


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
    """The part every run shares (busybox, its applet links, init, the KTAP helpers),
    archived once per content and reused: the kernel unpacks concatenated archives."""
    parts = [_busybox(), _guest_asset("init"), _guest_asset("ktap.sh")]
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
        shutil.copy2(_guest_asset("ktap.sh"), root / "lib/kdlab/ktap.sh")
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
    for item in sorted(lab.guest_dir.iterdir()):
        if item.suffix == ".c":
            binary = compile_helper(item, cache)
            shutil.copy2(binary, root / "lab" / item.stem)
        elif item.is_file():
            shutil.copy2(item, root / "lab" / item.name)
    own = staging / "run.cpio"
    _cpio(root, own)
    archive = staging / "initramfs.cpio"
    with archive.open("wb") as out:
        for part in (base_archive(cache), own):
            with part.open("rb") as stream:
                shutil.copyfileobj(stream, out)
    return archive
