"""Out-of-tree Kbuild of one student `.rs` file against the kernel pair.

The source is copied into a fresh scratch directory with a one-line Kbuild file;
nothing else of the course is there. rustc is asked for JSON diagnostics
(`KRUSTFLAGS=--error-format=json`) so that errors come back structured: file,
line, column, level, message, the code span and rustc's own rendering. A build
that fails is a result (score 0 with diagnostics), not an exception.

Errors after rustc are diagnostics too, located in the student's file: modpost's
undefined symbols — above all `rust_build_error`, what is left of a
`build_assert!` the compiler could not prove (an infallible I/O accessor or a
`[build: i]` projection with a run-time offset) — and its section mismatches.
The module is compiled with line tables (`-Cdebuginfo=line-tables-only`, ~0.1 s
on a lab module) so that grader.evidence.symbolize can follow a reference from the
object back through the kernel crate's inlined functions to the student's call,
and a crash at run time to the student's line. Everything a student is shown has
the kernel pair's location rewritten (grader.evidence.symbolize.Paths) and make's
directory chatter removed.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Protocol

from grader.evidence.symbolize import Frame, ModuleDebug, Paths, Place, demangle
from grader.util import run_bounded, write_atomic


class BuildTree(Protocol):
    """What a module is built against: a configured and built kernel tree
    (grader.engine.kernel.KernelPair is one; this module does not need the rest of it,
    and kernel.build uses this module to smoke-test a new pair)."""

    @property
    def root(self) -> Path: ...  # the pair's folder (compiler-probe cache, ccache)

    @property
    def tree(self) -> Path: ...  # the kernel source and build tree

    @property
    def release(self) -> str: ...  # its `uname -r`


#: Output kept from a failed build when rustc gave no diagnostic (linker, Kbuild errors).
LOG_TAIL_LINES = 40
#: rustc flags of every module build: JSON diagnostics, and line tables for evidence.symbolize.
KRUSTFLAGS = "--error-format=json -Cdebuginfo=line-tables-only"
#: make's own lines: where it went and that a sub-make failed, never the reason.
MAKE_NOISE = re.compile(r"^make(?:\[\d+\])?: (?:Entering directory|Leaving directory|\*\*\*)")
#: What `build_assert!` leaves behind when the compiler could not prove its condition.
BUILD_ERROR = "rust_build_error"
UNDEFINED = re.compile(r"ERROR: modpost: (?:\"(?P<a>[\w.$]+)\" \[[^\]]*\]"
                       r"|[\w.-]+: symbol '(?P<b>[\w.$]+)') undefined")
MISMATCH = re.compile(r"(?:WARNING|ERROR): modpost: \S+: section mismatch in reference: "
                      r"(?P<from>[\w.$]+)\+0x(?P<offset>[0-9a-f]+) \(section: (?P<fsec>[\w.]+)\)"
                      r" -> (?P<to>[\w.$]+) \(section: (?P<tsec>[\w.]+)\)")
OTHER_ERROR = re.compile(r"(?:^|: )(?:ERROR|error|fatal error): (?P<what>.+)")
#: rustc's closing tallies ("1 warning emitted", "aborting due to 2 previous errors"):
#: about the diagnostics above them, not diagnostics of their own.
TALLY = re.compile(r"aborting due to .*|\d+ warnings? emitted")
#: Infallible I/O accessors have a `try_` twin that checks the offset at run time.
ACCESSOR = re.compile(r"^(?:read|write)(?:8|16|32|64)?(?:_relaxed)?$")


@dataclass
class Diagnostic:
    """One compiler message, located in the student's file."""

    level: str
    message: str
    file: str
    line: int
    column: int
    code: str = ""
    snippet: str = ""
    rendered: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    def short(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "") + (
            f":{self.column}" if self.line and self.column else "")
        return f"{where}: {self.level}: {self.message}"


def _base_name(function: str) -> str:
    """`write8<&kernel::pci::io::Bar<40>>` -> `write8`; `a::b::c` -> `c`."""
    depth, name = 0, ""
    for char in function:
        depth += char == "<"
        if depth == 0:
            name += char
        depth -= char == ">"
    return name.rsplit("::", 1)[-1]


def build_error_message(chain: list[Place], source_name: str) -> tuple[str, Place | None]:
    """What a `rust_build_error` reference means at the student's call, and that call.

    `chain` is the inline chain of the reference (innermost first): the kernel
    crate's `build_assert!`, the kernel functions around it, then the student's code.
    """
    index = next((i for i, p in enumerate(chain) if p.file == source_name), None)
    if index is None:
        return ("a build-time check (`build_assert!`) in the kernel crate could not be proven: "
                + " <- ".join(p.where for p in chain[:3]), None)
    call = chain[index]
    if index == 0:
        return (f"this `build_assert!` in `{_base_name(call.function)}` could not be proven "
                "at build time: its condition must be known to the compiler (use constants, "
                "or check at run time and return an error)", call)
    callee = chain[index - 1]
    name = _base_name(callee.function)
    head = (f"`{name}` here (in `{_base_name(call.function)}`) cannot be checked at build time "
            f"({callee.where} asserts it with `build_assert!`)")
    if ACCESSOR.match(name):
        return (f"{head}: its offset must be a constant the compiler can prove in range. For an "
                f"offset known only at run time use the fallible `try_{name}`, which checks it "
                "when it runs and returns an error (`?`)", call)
    if "projection" in chain[0].file or "index" in name:
        return (f"{head}: a `[build: i]` projection needs an index the compiler can prove in "
                "range. For an index known only at run time project with `[try: i]` and "
                "handle the error", call)
    return (f"{head}: pass values the compiler can check (constants), or use the fallible "
            "variant of the call, which checks them at run time", call)


def link_diagnostics(output: str, obj: Path, paths: Paths) -> list[Diagnostic]:
    """modpost and linker errors (undefined symbols, section mismatches) as located diagnostics.

    `obj` is the module's object (the `.o`; the `.ko` was never made when modpost failed).
    """
    source = paths.source_name
    try:
        text = (obj.parent / source).read_text(errors="replace").splitlines()
    except OSError:
        text = []

    def snippet(line: int) -> str:
        return text[line - 1] if 0 < line <= len(text) else ""

    found: list[Diagnostic] = []
    with ModuleDebug(obj, paths) as debug:
        for line in dict.fromkeys(output.splitlines()):
            if m := UNDEFINED.search(line):
                symbol = m["a"] or m["b"]
                chains = debug.references(symbol)
                if symbol == BUILD_ERROR:
                    for chain in chains or [[]]:
                        message, call = build_error_message(chain, source)
                        line_no = call.line if call else 0
                        found.append(Diagnostic("error", message, source, line_no, 0,
                                                BUILD_ERROR, snippet(line_no)))
                    continue
                name = demangle([symbol])[0]
                calls: list[Place | None] = [
                    p for p in (debug.in_source(c) for c in chains) if p] or [None]
                for call in dict.fromkeys(calls):
                    line_no = call.line if call else 0
                    found.append(Diagnostic(
                        "error", f"the module uses `{name}`, which the kernel does not export "
                        "to modules: use the kernel crate's safe API for it", source,
                        line_no, 0, "undefined-symbol", snippet(line_no)))
            elif m := MISMATCH.search(line):
                caller, callee = demangle([m["from"], m["to"]])
                chain = debug.frames([Frame(m["from"], int(m["offset"], 16), returns=False)])[0]
                call = debug.in_source(chain)
                found.append(Diagnostic(
                    "error" if line.startswith("ERROR") else "warning",
                    f"`{caller}` ({m['fsec']}) refers to `{callee}` ({m['tsec']}), which the "
                    "kernel frees or never loads at that point (section mismatch): do not call "
                    "init-only code after init, nor exit code outside exit", source,
                    call.line if call else 0, 0, "section-mismatch",
                    snippet(call.line if call else 0)))
    return found


def clean_log(text: str, paths: Paths) -> str:
    """Build output for a student: make's directory lines gone, paths made readable."""
    return "\n".join(paths.clean(line) for line in text.splitlines()
                     if not MAKE_NOISE.match(line.strip()))


@dataclass
class BuildResult:
    """What the build step produced: a module, or the reasons there is none."""

    ok: bool
    module: Path | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    log: str = ""
    seconds: float = 0.0
    timed_out: bool = False

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "error"]

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "diagnostics": [d.to_json() for d in self.diagnostics],
            "log": self.log if not self.ok else "",
        }

    @classmethod
    def from_json(cls, data: dict) -> BuildResult:
        """What `to_json` wrote (the module file itself is not part of it)."""
        return cls(bool(data["ok"]), None, [Diagnostic(**d) for d in data["diagnostics"]],
                   data["log"])


def parse_diagnostics(output: str, source_name: str,
                      paths: Paths | None = None) -> tuple[list[Diagnostic], str]:
    """Split Kbuild output into rustc JSON diagnostics and the remaining plain text.

    Spans are reported relative to the student's file name; a diagnostic whose
    primary span is inside the kernel crate keeps that (cleaned) path, so a student
    still sees e.g. which trait bound in `kernel/` their code did not satisfy.
    """
    clean = (paths or Paths(source_name=source_name)).clean
    diagnostics: list[Diagnostic] = []
    rest: list[str] = []
    for line in output.splitlines():
        if not line.startswith("{"):
            rest.append(line)
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            rest.append(line)
            continue
        if data.get("$message_type", "diagnostic") != "diagnostic" or "level" not in data:
            continue
        if data["level"] == "failure-note" or TALLY.fullmatch(data["message"]):
            continue
        spans = data.get("spans") or []
        primary = next((s for s in spans if s.get("is_primary")), spans[0] if spans else None)
        file, line_no, column, snippet = source_name, 0, 0, ""
        if primary:
            name = primary.get("file_name", "")
            file = source_name if Path(name).name == source_name else clean(name)
            line_no, column = primary.get("line_start", 0), primary.get("column_start", 0)
            snippet = "\n".join(t.get("text", "") for t in primary.get("text") or [])
        code = (data.get("code") or {}).get("code", "")
        diagnostics.append(Diagnostic(data["level"], clean(data["message"]), file, line_no,
                                      column, code, snippet, clean(data.get("rendered") or "")))
    return diagnostics, "\n".join(rest)


def probe_cache_args(pair: BuildTree) -> list[str]:
    """make arguments that answer Kbuild's compiler probes from the pair's cache.

    The wrapper script is installed into the pair under a name carrying its content
    hash, so checkouts of different kdlab versions sharing one pair never overwrite
    each other's. A read-only pair without this version's wrapper runs the probes.
    """
    script = (resources.files("grader.engine") / "data" / "cc-probe-cache").read_bytes()
    wrapper = pair.root / f"kdlab-cc-{hashlib.sha256(script).hexdigest()[:12]}"
    if not wrapper.is_file():
        try:
            write_atomic(wrapper, script, mode=0o755)
        except OSError:
            return []
    return [f"CC={wrapper}"]


def build_module(pair: BuildTree, source: Path, module: str, scratch: Path,
                 timeout: float = 120.0) -> BuildResult:
    """Build `module.ko` from one Rust source file in `scratch` (which must be empty or new)."""
    started = time.monotonic()
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        text = source.read_bytes()
    except OSError as err:
        return BuildResult(False, None, log=f"cannot read the source {source}: {err}")
    (scratch / f"{module}.rs").write_bytes(text)
    (scratch / "Kbuild").write_text(f"obj-m := {module}.o\n")
    cmd = ["make", "-C", str(pair.tree), f"M={scratch}", "LLVM=1", *probe_cache_args(pair),
           f"KRUSTFLAGS={KRUSTFLAGS}", "modules"]
    code, output = run_bounded(cmd, scratch, timeout,
                               {"KDLAB_CC_CACHE": str(pair.root / "cc-probe-cache"),
                                 "KDLAB_CCACHE_DIR": str(pair.root / "ccache")})
    seconds = time.monotonic() - started
    paths = Paths(pair.release, str(pair.tree), f"{module}.rs")
    diagnostics, plain = parse_diagnostics(output, f"{module}.rs", paths)
    ko = scratch / f"{module}.ko"
    if code is None:
        return BuildResult(False, None, diagnostics, f"the build took longer than {timeout:.0f} s "
                           "and was stopped", seconds, timed_out=True)
    ok = code == 0 and ko.is_file()
    log = "" if ok else clean_log("\n".join(plain.splitlines()[-LOG_TAIL_LINES:]), paths)
    if not ok and not any(d.level == "error" for d in diagnostics):
        diagnostics += link_diagnostics(plain, scratch / f"{module}.o", paths)
    if not ok and not any(d.level == "error" for d in diagnostics):
        log = log or "the build failed without a compiler message"
        other = next((m for line in log.splitlines() if (m := OTHER_ERROR.search(line))), None)
        diagnostics.append(Diagnostic("error", other["what"] if other else log.splitlines()[-1],
                                      f"{module}.rs", 0, 0, "build"))
    return BuildResult(ok, ko if ok else None, diagnostics, log, seconds)
