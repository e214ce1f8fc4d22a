"""The kernel pair: a bzImage plus the build tree out-of-tree Rust modules compile against.

A pair is built once from a kernel source (Debian's `linux-source-7.x` package or
a local tarball) and the course Kconfig fragment, then cached outside the
repository under a key made of the source's identity, the configuration and the
Rust compiler (a module must be compiled by the same rustc as the kernel crate).
A second build with the same inputs finds the cached pair and returns at once.

The tree is built in place (no O=), so the pair directory is self-contained and
can be moved or mounted at another path: nothing in it needs an absolute path.
The build runs in a `.KEY.partial` folder renamed when done, and rustc records
source paths in the kernel crate (panic locations, metadata that modules read):
they are remapped to tree-relative paths (`rust/kernel/...`), so that a pair
names neither the folder it was built in nor where it lives. (Linux does this
itself only with rustc's `--remap-path-scope`, which rustc 1.85 lacks. Pairs
built before this still record the `.partial` path; grader.evidence.symbolize.Paths
rewrites both for students.)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from grader import paths
from grader.engine import toolchain
from grader.engine.modbuild import build_module
from grader.errors import KdlabError
from grader.progress import Reporter, Silent

DEFAULT_SOURCE = "debian:linux-source-7.3"
PAIR_FILE = "pair.json"
#: Rough number of Kbuild steps of a course kernel build; only used to scale the progress bar.
EXPECTED_BUILD_STEPS = 1360


class KernelError(KdlabError):
    """A kernel pair could not be found or built; the message says why and what to do."""


def course_fragment() -> Path:
    """The course's Kconfig fragment, shipped as package data."""
    return Path(str(resources.files("grader.engine") / "data" / "course.config"))


def inline_helpers_fragment() -> Path:
    """What `--inline-helpers` adds to the fragment (package data): a pair of its own,
    since the fragment is part of the cache key."""
    return Path(str(resources.files("grader.engine") / "data" / "inline-helpers.config"))


@dataclass(frozen=True)
class KernelSource:
    """A kernel source tarball and a stable identity for it (used in the cache key)."""

    spec: str
    tarball: Path
    identity: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _debian_source(spec: str, downloads: Path) -> KernelSource:
    package = spec.split(":", 1)[1]
    match = re.fullmatch(r"linux-source-(\d+\.\d+)", package)
    if not match:
        raise KernelError(f"{spec}: expected debian:linux-source-X.Y, e.g. {DEFAULT_SOURCE}")
    installed = Path(f"/usr/src/{package}.tar.xz")
    query = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", package],
        capture_output=True, text=True, check=False,
    )
    if installed.is_file() and query.returncode == 0:
        return KernelSource(spec, installed, f"{package}_{query.stdout.strip()}")
    # Not installed: fetch the package into the cache, no root needed.
    downloads.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run(
        ["apt-get", "download", package], cwd=downloads, capture_output=True, text=True,
        check=False,
    )
    debs = sorted(downloads.glob(f"{package}_*.deb"))
    if fetched.returncode != 0 or not debs:
        raise KernelError(
            f"{spec}: {package} is neither installed nor downloadable "
            f"({fetched.stderr.strip() or 'no package file'}). On Debian trixie it is in "
            "trixie-backports: `apt-get install -t trixie-backports "
            f"{package}`, or pass a tarball with --source PATH.tar.xz."
        )
    deb = debs[-1]
    tarball = downloads / f"{deb.stem}.tar.xz"
    if not tarball.is_file():
        with tarfile.open(fileobj=subprocess.Popen(
            ["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE
        ).stdout, mode="r|") as data:
            for member in data:
                if member.name.endswith(f"{package}.tar.xz"):
                    extracted = data.extractfile(member)
                    assert extracted is not None
                    with tarball.open("wb") as out:
                        shutil.copyfileobj(extracted, out)
                    break
    return KernelSource(spec, tarball, deb.stem)


def resolve_source(spec: str, cache: Path | None = None) -> KernelSource:
    """Turn `debian:linux-source-7.3` or `PATH.tar.{xz,gz,zst}` into a source with an identity."""
    cache = cache or paths.cache_root()
    if spec.startswith("debian:"):
        return _debian_source(spec, cache / "downloads")
    tarball = Path(spec).expanduser().resolve()
    if not tarball.is_file():
        raise KernelError(f"kernel source {spec}: no such file")
    if not re.search(r"\.tar(\.(xz|gz|bz2|zst))?$", tarball.name):
        raise KernelError(f"kernel source {spec}: expected a .tar.xz/.tar.gz/.tar.zst tarball")
    return KernelSource(spec, tarball, f"{tarball.name}_{_sha256(tarball)[:16]}")


def rustc_version() -> str:
    """The exact rustc in use: modules must be compiled by the kernel crate's compiler."""
    try:
        out = subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        raise KernelError(f"rustc is not usable: {err}") from err
    return out.stdout.strip()


def pair_key(source: KernelSource, fragment: str, rustc: str) -> str:
    """Cache key: readable source identity plus a hash of everything else that matters."""
    digest = hashlib.sha256("\0".join([source.identity, fragment, rustc, "x86_64"]).encode())
    name = re.sub(r"[^A-Za-z0-9.+-]+", "-", source.identity).strip("-")
    return f"{name}-{digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class KernelPair:
    """A built kernel: the tree that modules compile against and the image QEMU boots."""

    root: Path
    release: str
    source: str
    config_sha256: str
    rustc: str
    built_s: float

    @property
    def tree(self) -> Path:
        return self.root / "linux"

    @property
    def bzimage(self) -> Path:
        return self.tree / "arch/x86/boot/bzImage"

    def config(self) -> dict[str, str]:
        """The pair's final configuration (what labs' `[kernel] config` is checked against)."""
        return parse_config((self.tree / ".config").read_text(errors="replace"))

    @property
    def inline_helpers(self) -> bool:
        """Whether it was built with `--inline-helpers` (CONFIG_RUST_INLINE_HELPERS)."""
        return self.config().get("CONFIG_RUST_INLINE_HELPERS") == "y"

    @classmethod
    def load(cls, root: Path) -> KernelPair:
        """Open a pair directory (any path: pairs are relocatable)."""
        meta = root / PAIR_FILE
        if not meta.is_file():
            raise KernelError(
                f"{root} is not a kernel pair (no {PAIR_FILE}). Build one with "
                "`kdlab kernel build`."
            )
        data = json.loads(meta.read_text())
        return cls(root=root.resolve(), **{k: v for k, v in data.items() if k != "root"})

    def save(self) -> None:
        data = asdict(self)
        data.pop("root")
        (self.root / PAIR_FILE).write_text(json.dumps(data, indent=2) + "\n")


def _tree_release(tree: Path) -> str:
    text = (tree / "Makefile").read_text(errors="replace")
    fields = {k: v.strip() for k, v in re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)"
                                                 r"[ \t]*=[ \t]*(.*)$", text, re.M)}
    release = f"{fields.get('VERSION', '?')}.{fields.get('PATCHLEVEL', '?')}"
    if fields.get("SUBLEVEL", "0") != "0":
        release += f".{fields['SUBLEVEL']}"
    return release + fields.get("EXTRAVERSION", "")


def parse_config(config: str) -> dict[str, str]:
    """A `.config` as symbol -> value ('n' for `# CONFIG_X is not set`)."""
    final: dict[str, str] = {}
    for line in config.splitlines():
        if m := re.fullmatch(r"(CONFIG_\w+)=(.*)", line):
            final[m[1]] = m[2]
        elif m := re.fullmatch(r"# (CONFIG_\w+) is not set", line):
            final[m[1]] = "n"
    return final


def config_mismatches(fragment: str, config: str) -> list[str]:
    """Fragment symbols whose value did not survive olddefconfig, as readable lines."""
    final = parse_config(config)
    problems = []
    for line in fragment.splitlines():
        if m := re.fullmatch(r"(CONFIG_\w+)=(.*)", line.strip()):
            want, got = m[2], final.get(m[1], "n")
            if want != got:
                problems.append(f"{m[1]}: wanted {want}, got {got}")
        elif (m := re.fullmatch(r"# (CONFIG_\w+) is not set", line.strip())) and final.get(
            m[1], "n"
        ) != "n":
            problems.append(f"{m[1]}: wanted n, got {final[m[1]]}")
    return problems


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder per pair: a second `kdlab kernel build` waits, then finds it cached."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _make(tree: Path, *targets: str, jobs: int = 1, reporter: Reporter | None = None,
          log: Path) -> None:
    """Run make in the tree with LLVM=1, feed progress, keep the full log for errors.

    Rust sources are recorded relative to the tree (see the module docstring).
    """
    cmd = ["make", "-C", str(tree), "LLVM=1", f"-j{jobs}",
           f"KRUSTFLAGS=--remap-path-prefix={tree.resolve()}/=", *targets]
    steps = 0
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if reporter is not None and line.startswith("  ") and line[2:3].isupper():
                steps += 1
                reporter.advance(steps, line.strip())
        proc.wait()
    if proc.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-30:])
        raise KernelError(f"`make {' '.join(targets)}` failed (full log: {log}):\n{tail}")


def build(spec: str = DEFAULT_SOURCE, fragment_path: Path | None = None,
          cache: Path | None = None, reporter: Reporter | None = None,
          jobs: int | None = None, inline_helpers: bool = False) -> KernelPair:
    """Build (or find in the cache) the kernel pair for a source and a config fragment.

    `inline_helpers` adds CONFIG_RUST_INLINE_HELPERS (inline_helpers_fragment) to the
    fragment; such a pair is never the course pair that `latest` points at.
    """
    reporter = reporter or Silent()
    cache = cache or paths.cache_root()
    fragment_path = fragment_path or course_fragment()
    fragment = fragment_path.read_text()
    if inline_helpers:
        fragment += "\n" + inline_helpers_fragment().read_text()
    source = resolve_source(spec, cache)
    rustc = rustc_version()
    key = pair_key(source, fragment, rustc)
    final = cache / "kernels" / key
    with _locked(cache / "kernels" / f".{key}.lock"):
        course_pair = (spec == DEFAULT_SOURCE and fragment_path == course_fragment()
                       and not inline_helpers)
        if (final / PAIR_FILE).is_file():
            if course_pair:
                _point_latest(cache, key)
            return KernelPair.load(final)
        toolchain.require(toolchain.KERNEL_BUILD_TOOLS)
        started = time.monotonic()
        work = cache / "kernels" / f".{key}.partial"
        log = work / "build.log"
        if (work / ".configured").is_file():
            # An interrupted build of the same key: make carries on where it stopped.
            tree = work / "linux"
            release = _tree_release(tree)
            reporter.begin(f"resuming the interrupted build of Linux {release}")
            reporter.end(str(work))
        else:
            tree, release = _unpack_and_configure(source, fragment_path, fragment, work, log,
                                                  reporter)
        reporter.begin(f"building Linux {release} (LLVM=1)", total=EXPECTED_BUILD_STEPS)
        _make(tree, "all", jobs=jobs or os.cpu_count() or 1, reporter=reporter, log=log)
        reporter.end("bzImage and module build tree ready")

        pair = KernelPair(
            root=work, release=release, source=source.identity,
            config_sha256=hashlib.sha256((tree / ".config").read_bytes()).hexdigest(),
            rustc=rustc,
            built_s=round(time.monotonic() - started, 1),
        )
        reporter.begin("smoke test: an out-of-tree build of samples/rust/rust_minimal.rs")
        _smoke_test(pair, work / "smoke")
        reporter.end("ok")
        pair.save()
        work.rename(final)
        if course_pair:
            _point_latest(cache, key)
        return KernelPair.load(final)


def _unpack_and_configure(source: KernelSource, fragment_path: Path, fragment: str, work: Path,
                          log: Path, reporter: Reporter) -> tuple[Path, str]:
    """A fresh tree configured as tinyconfig + fragment; every fragment symbol must hold."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    reporter.begin(f"unpacking {source.tarball.name}")
    subprocess.run(["tar", "-xf", str(source.tarball), "-C", str(work)], check=True)
    tops = [p for p in work.iterdir() if p.is_dir()]
    if len(tops) != 1 or not (tops[0] / "Makefile").is_file():
        raise KernelError(f"{source.tarball}: expected one top-level kernel source directory")
    tree = tops[0].rename(work / "linux")
    release = _tree_release(tree)
    reporter.end(f"Linux {release}")

    reporter.begin("configuring (tinyconfig + course fragment)")
    _make(tree, "tinyconfig", log=log)
    merged = work / "fragment.config"  # the fragment plus the pair's options (build())
    merged.write_text(fragment)
    subprocess.run(
        ["scripts/kconfig/merge_config.sh", "-m", ".config", str(merged)],
        cwd=tree, check=True, capture_output=True,
    )
    # Each Kconfig pass runs the compiler probes again (~20 s on 2 cores). Kconfig
    # writes the build's copy of the configuration (include/config/auto.conf and the
    # generated headers) only when it is missing: without tinyconfig's stale copy,
    # olddefconfig writes it, newer than .config, and `make all` needs no pass of its own.
    (tree / "include" / "config" / "auto.conf").unlink(missing_ok=True)
    _make(tree, "olddefconfig", log=log)
    problems = config_mismatches(fragment, (tree / ".config").read_text())
    if problems:
        raise KernelError(
            f"the configuration fragment {fragment_path} does not apply to Linux {release}:\n  "
            + "\n  ".join(problems)
            + "\n(a dependency is missing from the fragment, or this kernel does not have "
            "the symbol; `make LLVM=1 rustavailable` in the tree tells whether Rust is usable)"
        )
    (work / ".configured").write_text(release)
    reporter.end("done")
    return tree, release


def _smoke_test(pair: KernelPair, scratch: Path) -> None:
    """Build the kernel's own minimal Rust sample out of tree against the new pair.

    A pair that cannot build a module is not a pair; this also fills the pair's
    cache of compiler-probe answers, so later builds are fast even where the
    pair is mounted read-only.
    """
    result = build_module(pair, pair.tree / "samples/rust/rust_minimal.rs", "rust_minimal",
                          scratch, timeout=600)
    shutil.rmtree(scratch, ignore_errors=True)
    if not result.ok:
        details = "\n".join(d.short() for d in result.errors) or result.log
        raise KernelError(f"the new kernel pair cannot build a Rust module:\n{details}")


def _point_latest(cache: Path, key: str) -> None:
    latest = cache / "kernels" / "latest"
    tmp = latest.with_name(".latest.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(key)
    tmp.replace(latest)


def find(explicit: str | Path | None = None, cache: Path | None = None) -> KernelPair:
    """The pair to use: an explicit path, else $KDLAB_KERNEL, else the course pair
    (the default source with the course fragment; `kernels/latest` points at it)."""
    chosen = explicit or paths.kernel_dir()
    if chosen:
        return KernelPair.load(Path(chosen))
    latest = (cache or paths.cache_root()) / "kernels" / "latest"
    if not latest.exists():
        raise KernelError(
            "no kernel pair has been built yet. Run `kdlab kernel build` "
            f"(default source {DEFAULT_SOURCE}; takes 6 to 13 minutes on 2 cores)."
        )
    return KernelPair.load(latest.resolve())


def cached_pairs(cache: Path | None = None) -> list[KernelPair]:
    """Every complete pair in the cache."""
    kernels = (cache or paths.cache_root()) / "kernels"
    if not kernels.is_dir():
        return []
    return [KernelPair.load(p) for p in sorted(kernels.iterdir())
            if not p.is_symlink() and (p / PAIR_FILE).is_file()]
