"""A slim copy of a kernel pair: only what building an out-of-tree module and booting need.

A full pair is the whole built kernel tree (~2.2 GB: every driver's objects, the
sources, Documentation). Images that ship a pair to students or to the batch
grader need a fraction of it, so this module exports:

- the kernel's own definition of an external-module build tree
  (`scripts/package/install-extmod-build`, what distributions use for their
  linux-headers packages: Makefiles, include/, arch headers, scripts/, objtool,
  Module.symvers, the generated config headers);
- what that script leaves out and a *Rust* module build needs: the kernel
  crate's metadata and its proc-macro libraries (`rust/*.rmeta`, `rust/*.so`,
  stripped of debug info), the inline helpers' bitcode when that option is on,
  and `.config`;
- the bzImage QEMU boots, the pair's metadata, its compiler-probe cache and
  ccache directory (both work read-only), and the current probe wrapper.

The export is a kernel pair in its own right (`KernelPair.load` opens it) and is
cached next to the pair it came from, keyed by the pair, the export format and
the wrapper script (a read-only export cannot update its own wrapper).
`verify` builds a tiny Rust module against it, which proves the export complete.
Run in an image build under each lab's module name, it also fills the pair's
ccache with the C files Kbuild generates per module name (<name>.mod.c): a
read-only export in a container then answers them from the cache instead of
compiling them for every submission (about 0.4 s of a 1.9 s build here).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from grader import paths
from grader.engine.kernel import PAIR_FILE, KernelError, KernelPair, find
from grader.engine.modbuild import build_module

#: Bump when the set of exported files changes: old exports are then rebuilt.
EXPORT_FORMAT = 3
#: Caches the engine keeps in a pair; copied as they are (a read-only copy still answers).
PAIR_CACHES = ("cc-probe-cache", "ccache")
#: Label of an image that carries an export: the export's directory name (export_dir),
#: which says which pair, export format and probe wrapper it is.
IMAGE_LABEL = "kdlab.kernel"
EXPORT_FILE = "export.json"

#: Files outside install-extmod-build's list, relative to the tree, as glob patterns.
RUST_AND_BOOT = (
    ".config",
    "arch/x86/boot/bzImage",
    "rust/*.rmeta",
    "rust/*.so",
    "rust/helpers/*.bc",
)

#: The smallest Rust module: what `verify` builds against an export (NAME: its name).
PROBE_MODULE = """\
// SPDX-License-Identifier: GPL-2.0
//! kdlab: proves a kernel pair export can build a Rust module.
use kernel::prelude::*;

module! {
    type: Probe,
    name: "NAME",
    authors: ["kdlab"],
    description: "kernel export check",
    license: "GPL",
}

struct Probe;

impl kernel::Module for Probe {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("probe\\n");
        Ok(Probe)
    }
}
"""


def _wrapper() -> bytes:
    """The compiler-probe wrapper the engine installs into pairs (grader/data)."""
    return (resources.files("grader.engine") / "data" / "cc-probe-cache").read_bytes()


def export_dir(pair: KernelPair, cache: Path | None = None) -> Path:
    """Where the export of `pair` is cached."""
    wrapper = hashlib.sha256(_wrapper()).hexdigest()[:8]
    name = f"{pair.root.name}-x{EXPORT_FORMAT}-{wrapper}"
    return (cache or paths.cache_root()) / "exports" / name


def _copy_extmod_tree(tree: Path, dest: Path) -> None:
    """Run the kernel's own install-extmod-build (CC == HOSTCC: nothing is rebuilt)."""
    env = {**os.environ, "srctree": ".", "SRCARCH": "x86", "CC": "clang", "HOSTCC": "clang",
           "MAKE": "make", "LC_ALL": "C"}
    proc = subprocess.run(["sh", "scripts/package/install-extmod-build", str(dest)], cwd=tree,
                          env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise KernelError(f"install-extmod-build failed in {tree}:\n{proc.stderr[-2000:]}")


def _copy_extra(tree: Path, dest: Path) -> None:
    """The Rust metadata, proc macros, bzImage and .config (debug info stripped from .so)."""
    for pattern in RUST_AND_BOOT:
        for src in sorted(tree.glob(pattern)):
            target = dest / src.relative_to(tree)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            if target.suffix == ".so" and shutil.which("llvm-strip"):
                # rustc loads proc macros by their dynamic symbols and .rustc metadata;
                # DWARF is ~60 % of these files and nothing reads it.
                subprocess.run(["llvm-strip", "--strip-debug", str(target)], check=True)


def export(pair: KernelPair, dest: Path) -> KernelPair:
    """Write the slim export of `pair` to `dest` (which must not exist) and open it."""
    if dest.exists():
        raise KernelError(f"{dest} already exists")
    work = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    started = time.monotonic()
    tree = work / "linux"
    tree.mkdir(parents=True)
    _copy_extmod_tree(pair.tree, tree)
    _copy_extra(pair.tree, tree)
    shutil.copy2(pair.root / PAIR_FILE, work / PAIR_FILE)
    (work / "kdlab-cc").write_bytes(_wrapper())
    (work / "kdlab-cc").chmod(0o755)
    for name in PAIR_CACHES:
        if (pair.root / name).is_dir():
            shutil.copytree(pair.root / name, work / name)
    (work / EXPORT_FILE).write_text(json.dumps({
        "format": EXPORT_FORMAT, "from": str(pair.root), "seconds": round(time.monotonic()
                                                                          - started, 1),
    }, indent=2) + "\n")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work.rename(dest)
    return KernelPair.load(dest)


def cached_export(pair: KernelPair, cache: Path | None = None) -> KernelPair:
    """The export of `pair`, made once and verified (a second call returns at once)."""
    dest = export_dir(pair, cache)
    if (dest / EXPORT_FILE).is_file():
        return KernelPair.load(dest)
    exported = export(pair, dest)
    problem = verify(exported)
    if problem:
        shutil.rmtree(dest, ignore_errors=True)
        raise KernelError(f"the export of {pair.root} cannot build a module:\n{problem}")
    return exported


def verify(pair: KernelPair, modules: tuple[str, ...] = ("kdlab_probe",),
           timeout: float = 180.0) -> str:
    """Build a tiny Rust module under each name against `pair`: '' when it works, else why.

    Where the pair's caches are writable (an image build step), this also warms
    them for modules of those names (see the module docstring).
    """
    for module in modules:
        with tempfile.TemporaryDirectory(prefix="kdlab-export-") as tmp:
            source = Path(tmp) / f"{module}.rs"
            source.write_text(PROBE_MODULE.replace("NAME", module))
            result = build_module(pair, source, module, Path(tmp) / "build", timeout)
            if not result.ok:
                return "\n".join(d.short() for d in result.errors) or result.log
    return ""


def size_bytes(root: Path) -> int:
    """Bytes on disk under root (files only, symlinks not followed)."""
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> int:
    """`python3 -m grader.engine.kernel_export`: export a pair, or verify one (image builds)."""
    cli = argparse.ArgumentParser(prog="python3 -m grader.engine.kernel_export",
                                  description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--kernel", help="the pair to export (default: the last one built)")
    cli.add_argument("--verify", metavar="PAIR", help="only build a probe module against PAIR")
    cli.add_argument("--modules", nargs="*", default=["kdlab_probe"],
                     help="with --verify: build the probe under each of these module names")
    args = cli.parse_args(argv)
    try:
        if args.verify:
            problem = verify(KernelPair.load(Path(args.verify)), tuple(args.modules))
            print(problem or f"{args.verify}: builds Rust modules", file=sys.stderr)
            return 1 if problem else 0
        exported = cached_export(find(args.kernel))
    except KernelError as err:
        print(f"kernel_export: {err}", file=sys.stderr)
        return 2
    print(f"{exported.root} ({size_bytes(exported.root) / 1e6:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
