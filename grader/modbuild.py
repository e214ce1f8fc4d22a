"""Out-of-tree Kbuild of one student `.rs` file against the kernel pair.

The source is copied into a fresh scratch directory with a one-line Kbuild file;
nothing else of the course is there. rustc is asked for JSON diagnostics
(`KRUSTFLAGS=--error-format=json`) so that errors come back structured: file,
line, column, level, message, the code span and rustc's own rendering. A build
that fails is a result (score 0 with diagnostics), not an exception.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from grader.kernel import KernelPair

#: Output kept from a failed build when rustc gave no diagnostic (linker, Kbuild errors).
LOG_TAIL_LINES = 40


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
        return f"{self.file}:{self.line}:{self.column}: {self.level}: {self.message}"


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


def parse_diagnostics(output: str, source_name: str) -> tuple[list[Diagnostic], str]:
    """Split Kbuild output into rustc JSON diagnostics and the remaining plain text.

    Spans are reported relative to the student's file name; a diagnostic whose
    primary span is inside the kernel crate keeps that path, so a student still
    sees e.g. which trait bound in `rust/kernel/` their code did not satisfy.
    """
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
        if data["level"] in ("failure-note",) or data["message"].startswith("aborting due to"):
            continue
        spans = data.get("spans") or []
        primary = next((s for s in spans if s.get("is_primary")), spans[0] if spans else None)
        file, line_no, column, snippet = source_name, 0, 0, ""
        if primary:
            name = primary.get("file_name", "")
            file = source_name if Path(name).name == source_name else name
            line_no, column = primary.get("line_start", 0), primary.get("column_start", 0)
            snippet = "\n".join(t.get("text", "") for t in primary.get("text") or [])
        code = (data.get("code") or {}).get("code", "")
        diagnostics.append(Diagnostic(data["level"], data["message"], file, line_no, column, code,
                                      snippet, data.get("rendered") or ""))
    return diagnostics, "\n".join(rest)


def _run_limited(cmd: list[str], cwd: Path, timeout: float,
                 env: dict[str, str]) -> tuple[int | None, str]:
    """Run cmd in its own process group; on timeout kill the whole group (rustc, make...)."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, env={**os.environ, "LC_ALL": "C", **env},
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out


def probe_cache_args(pair: KernelPair) -> list[str]:
    """make arguments that answer Kbuild's compiler probes from the pair's cache.

    The wrapper script is installed into the pair under a name carrying its content
    hash, so checkouts of different kdlab versions sharing one pair never overwrite
    each other's. A read-only pair without this version's wrapper runs the probes.
    """
    script = (resources.files("grader") / "data" / "cc-probe-cache").read_bytes()
    wrapper = pair.root / f"kdlab-cc-{hashlib.sha256(script).hexdigest()[:12]}"
    if not wrapper.is_file():
        try:
            tmp = wrapper.with_name(f".{wrapper.name}.{os.getpid()}")
            tmp.write_bytes(script)
            tmp.chmod(0o755)
            tmp.replace(wrapper)
        except OSError:
            return []
    return [f"CC={wrapper}"]


def build_module(pair: KernelPair, source: Path, module: str, scratch: Path,
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
           "KRUSTFLAGS=--error-format=json", "modules"]
    code, output = _run_limited(cmd, scratch, timeout,
                                {"KDLAB_CC_CACHE": str(pair.root / "cc-probe-cache"),
                                 "KDLAB_CCACHE_DIR": str(pair.root / "ccache")})
    seconds = time.monotonic() - started
    diagnostics, plain = parse_diagnostics(output, f"{module}.rs")
    ko = scratch / f"{module}.ko"
    if code is None:
        return BuildResult(False, None, diagnostics, f"the build took longer than {timeout:.0f} s "
                           "and was stopped", seconds, timed_out=True)
    ok = code == 0 and ko.is_file()
    log = "" if ok else "\n".join(plain.splitlines()[-LOG_TAIL_LINES:])
    if not ok and not any(d.level == "error" for d in diagnostics):
        log = log or "the build failed without a compiler message"
        missing = re.search(r"ERROR: modpost: \"(\w+)\" \[.*\] undefined", plain)
        if missing:
            diagnostics.append(Diagnostic(
                "error", f"the module uses `{missing[1]}`, which the kernel does not export",
                f"{module}.rs", 0, 0))
    return BuildResult(ok, ko if ok else None, diagnostics, log, seconds)
