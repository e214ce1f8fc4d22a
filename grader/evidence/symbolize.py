"""Where in the student's source: module addresses and kernel paths as a student reads them.

Two jobs, both about pointing at something a student can open:

- `Paths.clean` rewrites the paths the toolchain and the kernel print. The kernel
  crate was compiled inside the kernel pair, so its panic locations, diagnostics
  and debug info carry the pair's location in kdlab's cache (and, for pairs built
  before the build folder was remapped, the stale `.partial` folder it was built
  in). A student sees `kernel/ptr/projection.rs:103 (Linux 7.3.4 kernel crate)`,
  the Rust core library as `core/src/...`, their own file by its name, and never
  a cache path.
- `ModuleDebug` answers "which line of the student's file" for an address in
  their module (a call-trace frame `func+0x12/0x40 [io_views]`) and for a
  reference to a symbol the link could not resolve (`rust_build_error`). The
  module is compiled with line tables (grader.engine.modbuild), so each address has an
  inline chain from the kernel-crate function that raised the problem out to the
  student's call. A relocatable `.ko` puts `.text`, `.init.text` and `.exit.text`
  all at address 0, which DWARF lookups cannot tell apart, so the object is first
  linked (`ld.lld`, undefined symbols allowed, relocations kept) into an image
  where every section has its own addresses; that costs ~20 ms and runs only
  when something failed. `llvm-symbolizer` then reads the chains.

Every lookup degrades to "unknown" (an empty list) when a tool or the debug info
is missing: the feedback loses a line number, the grade never changes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: A call-trace or RIP frame as the kernel prints it: `? name+0x12/0x40 [module]`.
FRAME = re.compile(r"(?P<unreliable>\? )?(?P<symbol>[A-Za-z_$][\w.$]*)\+0x(?P<offset>[0-9a-f]+)"
                   r"/0x(?P<size>[0-9a-f]+)(?: \[(?P<module>\w+)\])?")
#: A return address follows a call instruction (at least 2 bytes, 5 for a direct call):
#: a smaller offset in a guessed call trace is a stale value on the stack, not a caller.
MIN_RETURN_OFFSET = 2
#: Seconds a symbolizer tool may take before it is given up on.
TOOL_TIMEOUT_S = 20

#: Where the kernel pair's tree has been: kdlab's cache layout, and the build folder
#: (`.KEY.partial`) of pairs whose recorded paths predate the remapped build.
PAIR_TREE = re.compile(r"(?:/[^\s/:'\"`()]+)*?/(?:\.[^\s/:'\"`()]+\.partial|kernels/[^\s/:'\"`()]+)"
                       r"/linux/")
KERNEL_CRATE = re.compile(r"(?<![\w/.])rust/kernel/(?P<file>[\w/.-]+\.rs)(?::(?P<line>\d+))?"
                          r"(?::\d+)?")
RUST_LIBRARY = re.compile(r"(?:/[^\s/:'\"`()]+)*/rustlib/src/rust/library/(?P<crate>\w+)/"
                          r"(?P<file>[\w/.-]+\.rs)(?::(?P<line>\d+))?(?::\d+)?")
#: Anything else under kdlab's cache (a make line, a wrapper path): named, not shown.
CACHE = re.compile(r"(?:/[^\s/:'\"`()]+)*/\.cache/kdlab(?:/[^\s:'\"`()]*)?")


@dataclass(frozen=True)
class Paths:
    """Rewrites toolchain and kernel paths for a student; `release` names the kernel crate."""

    release: str = ""
    tree: str = ""
    source_name: str = ""

    def clean(self, text: str) -> str:
        """`text` with every kernel-pair, cache and scratch path made readable."""
        if self.tree:
            text = text.replace(self.tree.rstrip("/") + "/", "")
        text = PAIR_TREE.sub("", text)
        crate = f"Linux {self.release} kernel crate" if self.release else "kernel crate"
        text = KERNEL_CRATE.sub(
            lambda m: f"kernel/{m['file']}" + (f":{m['line']} ({crate})" if m["line"] else ""),
            text)
        text = RUST_LIBRARY.sub(
            lambda m: f"{m['crate']}/{m['file']}"
            + (f":{m['line']} (Rust {m['crate']} library)" if m["line"] else ""), text)
        if self.source_name:
            text = re.sub(rf"(?:/[^\s/:'\"`()]+)+/{re.escape(self.source_name)}\b",
                          self.source_name, text)
        return CACHE.sub("<kdlab cache>", text)


@dataclass(frozen=True)
class Frame:
    """One frame of a kernel call trace (or the RIP line)."""

    symbol: str
    offset: int
    module: str = ""
    #: A call-trace entry is a return address (the call is just before it); RIP is not.
    returns: bool = True

    @property
    def plausible(self) -> bool:
        return not self.returns or self.offset >= MIN_RETURN_OFFSET


def parse_frame(line: str, returns: bool = True) -> Frame | None:
    """The frame printed on a call-trace or RIP line, if there is one."""
    found = FRAME.search(line)
    if not found:
        return None
    return Frame(found["symbol"], int(found["offset"], 16), found["module"] or "", returns)


@dataclass(frozen=True)
class Place:
    """A source position of an address: the function, `file:line` (paths cleaned) and how
    a student reads it (`kernel/io.rs:781 (Linux 7.3.4 kernel crate)`)."""

    function: str
    file: str
    line: int
    where: str


def _run(cmd: list[str], stdin: str = "") -> str:
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                              timeout=TOOL_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout


def demangle(names: list[str]) -> list[str]:
    """Rust (v0) and C++ symbol names as source paths; unchanged where the tool is missing."""
    if not names or not shutil.which("llvm-cxxfilt"):
        return names
    out = _run(["llvm-cxxfilt"], "\n".join(names) + "\n").splitlines()
    return out if len(out) == len(names) else names


class ModuleDebug:
    """Source lookups in one built module (`.ko`, or the `.o` when the link failed)."""

    def __init__(self, obj: Path, paths: Paths) -> None:
        self.obj = obj
        self.paths = paths
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._image: Path | None = None
        self._symbols: dict[str, int] = {}

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> ModuleDebug:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _linked(self) -> Path | None:
        """The object linked at distinct section addresses, relocations kept (made once)."""
        if self._image is not None or self._dir is not None:
            return self._image
        self._dir = tempfile.TemporaryDirectory(prefix="kdlab-sym-")
        if not self.obj.is_file() or not shutil.which("ld.lld"):
            return None
        image = Path(self._dir.name) / "module.elf"
        _run(["ld.lld", "-o", str(image), "--unresolved-symbols=ignore-all", "--noinhibit-exec",
              "--emit-relocs", "-e", "0", str(self.obj)])
        if not image.is_file():
            return None
        for line in _run(["llvm-nm", "--defined-only", str(image)]).splitlines():
            parts = line.split()
            if len(parts) == 3:
                self._symbols[parts[2]] = int(parts[0], 16)
        self._image = image
        return image

    def _chains(self, addresses: list[int]) -> list[list[Place]]:
        """llvm-symbolizer's inline chain (innermost first) for each address."""
        image = self._linked()
        if image is None or not addresses:
            return [[] for _ in addresses]
        out = _run(["llvm-symbolizer", f"--obj={image}", "--inlining", "--functions=linkage",
                    "--demangle", "--output-style=JSON"],
                   "".join(f"0x{a:x}\n" for a in addresses))
        chains: dict[int, list[Place]] = {}
        for line in out.splitlines():
            try:
                answer = json.loads(line)
                chains[int(answer["Address"], 16)] = self._places(answer.get("Symbol") or [])
            except (ValueError, KeyError, TypeError):
                continue
        return [chains.get(a, []) for a in addresses]

    def _places(self, symbols: list[dict]) -> list[Place]:
        places = []
        for symbol in symbols:
            file, line = str(symbol.get("FileName") or ""), int(symbol.get("Line") or 0)
            if not file or not line:
                continue
            if Path(file).name == self.paths.source_name:
                file = self.paths.source_name
            places.append(Place(str(symbol.get("FunctionName") or "?"), self.paths.clean(file),
                                line, self.paths.clean(f"{file}:{line}")))
        return places

    def frames(self, frames: list[Frame]) -> list[list[Place]]:
        """The inline chain of each frame (empty for frames outside this module)."""
        addresses: list[int] = []
        wanted: list[int] = []
        self._linked()
        for index, frame in enumerate(frames):
            start = self._symbols.get(frame.symbol)
            if start is None or not frame.plausible:
                continue
            addresses.append(start + frame.offset - (1 if frame.returns else 0))
            wanted.append(index)
        chains: list[list[Place]] = [[] for _ in frames]
        for index, chain in zip(wanted, self._chains(addresses), strict=True):
            chains[index] = chain
        return chains

    def references(self, symbol: str) -> list[list[Place]]:
        """The inline chain of every place the module refers to `symbol` (a call, mostly)."""
        image = self._linked()
        if image is None:
            return []
        sites = []
        for line in _run(["llvm-objdump", "-r", str(image)]).splitlines():
            parts = line.split()
            if len(parts) == 3 and re.fullmatch(rf"{re.escape(symbol)}(?:[+-]0x[0-9a-f]+)?",
                                                parts[2]):
                sites.append(int(parts[0], 16))
        return [chain for chain in self._chains(sites) if chain]

    def in_source(self, chain: list[Place]) -> Place | None:
        """The innermost place of a chain in the student's file."""
        return next((p for p in chain if p.file == self.paths.source_name), None)
