"""The source policy: constructs no lab needs and that reach around the kernel crate.

A student's module is ring 0 in the guest, so whatever it can express in Rust it
can do there. The labs teach the kernel crate's safe abstractions; a handful of
constructs exist only to step outside them, and each is also the shortest path
to forging results (grader.evidence.channel says why and what is left):

- `inline-assembly`: `asm!`, `global_asm!`, `naked_asm!`: instructions the
  compiler cannot check (direct port I/O, and the result channel is a UART;
  halting or resetting the machine).
- `extern`: `extern` blocks, functions and crates: C symbols the kernel crate
  does not wrap.
- `symbol-attributes`: `#[no_mangle]`, `#[export_name]`, `#[link_section]`,
  `#[link]`, `#[link_name]`, `#[used]`, `#[linkage]`, `#[naked]`: code and data
  placed or named at the linker's level.
- `raw-bindings`: `kernel::bindings`, the raw C API under the kernel crate.
- `include-files`: `include!`, `include_str!`, `include_bytes!`, `#[path = ...]`:
  files read at build time (hidden tests, other students' work).
- `identifier-pasting`: `paste!`, which builds identifiers the rules above catch.
- `feature-gates`: `#![feature(...)]`, unstable compiler features.
- `transmute`: `transmute(...)`, `transmute::<...>`: any bits as any type (the
  kernel's `transmute::AsBytes`/`FromBytes` traits stay allowed).
- `raw-addresses`: `as *const`/`as *mut` casts, `with_exposed_provenance`,
  `without_provenance`, `from_exposed_addr`: pointers made out of numbers, to
  reach memory nothing gave the module.

A lab that needs one says so in lab.toml (`[source_policy] allow = ["rule", ...]`).

The check reads tokens, not text (Pygments' Rust lexer): comments and string
literals never trigger it, raw identifiers (`r#asm`) and attributes inside
`unsafe(...)` do. A refusal is a failed build with one diagnostic per construct,
located like a compiler error (line, column, the line's text), never a crash.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pygments.lexers import RustLexer
from pygments.token import Comment, Keyword, Name, String, _TokenType

from grader.engine.modbuild import BuildResult, Diagnostic


@dataclass(frozen=True)
class Rule:
    """One refused construct: its id (for lab.toml's allow list) and the student's reason."""

    id: str
    reason: str


RULES = {rule.id: rule for rule in (
    Rule("inline-assembly", "inline assembly is not allowed in this course: it runs "
         "instructions the kernel crate cannot check (direct port I/O, halting or resetting "
         "the machine); use the kernel crate's APIs"),
    Rule("extern", "`extern` is not allowed in this course: it links to C symbols the kernel "
         "crate does not wrap; use the kernel crate's APIs"),
    Rule("symbol-attributes", "this attribute is not allowed in this course: it places or "
         "names code and data at the linker's level, which no lab needs"),
    Rule("raw-bindings", "`kernel::bindings` is not allowed in this course: it is the raw C API "
         "under the kernel crate; use the kernel crate's safe abstractions"),
    Rule("include-files", "including files at build time is not allowed in this course: the "
         "driver must be this one file"),
    Rule("identifier-pasting", "`paste!` is not allowed in this course: no lab needs to build "
         "identifiers"),
    Rule("feature-gates", "`#![feature]` is not allowed in this course: the labs use only the "
         "features the kernel enables"),
    Rule("transmute", "`transmute` is not allowed in this course: it reinterprets any bits as "
         "any type; use the kernel crate's FromBytes/AsBytes or a typed conversion"),
    Rule("raw-addresses", "making raw pointers out of casts or numbers is not allowed in this "
         "course: reach memory through the references and I/O types the kernel crate gives "
         "you"),
)}

ASM = {"asm", "global_asm", "naked_asm"}
INCLUDES = {"include", "include_str", "include_bytes"}
SYMBOL_ATTRS = {"no_mangle", "export_name", "link_section", "link", "link_name", "used",
                "linkage", "naked"}
PROVENANCE = {"with_exposed_provenance", "with_exposed_provenance_mut", "without_provenance",
              "without_provenance_mut", "from_exposed_addr", "from_exposed_addr_mut"}
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A string literal inside an attribute (`#[doc = "..."]`): its words are not code.
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


@dataclass(frozen=True)
class _Token:
    kind: _TokenType
    text: str
    offset: int


def _tokens(source: str) -> list[_Token]:
    """Significant tokens: no whitespace, comments (but attributes) or string literals."""
    out = []
    for offset, kind, text in RustLexer().get_tokens_unprocessed(source):
        if not text.strip() or kind in String or (kind in Comment and kind is not Comment.Preproc):
            continue
        out.append(_Token(kind, text, offset))
    return out


def _attribute_words(tokens: list[_Token], i: int) -> Iterator[tuple[str, int]]:
    """The words of the attribute that starts at tokens[i] (`#[` or `#![`), with offsets."""
    for token in tokens[i + 1:]:
        if token.kind is Comment.Preproc and token.text == "]":
            return
        code = QUOTED.sub(lambda m: " " * len(m.group()), token.text)
        for match in WORD.finditer(code):
            yield match.group(), token.offset + match.start()


def _following(tokens: list[_Token], i: int, n: int = 2) -> str:
    return "".join(t.text for t in tokens[i + 1:i + 1 + n])


def violations(source: str) -> Iterator[tuple[str, int]]:
    """(rule id, character offset) for every refused construct in `source`."""
    tokens = _tokens(source)
    for i, token in enumerate(tokens):
        text = token.text
        if token.kind is Comment.Preproc and text in ("#[", "#!["):
            for word, offset in _attribute_words(tokens, i):
                if word in SYMBOL_ATTRS:
                    yield "symbol-attributes", offset
                elif word == "path":
                    yield "include-files", offset
                elif word == "feature" and text == "#![":
                    yield "feature-gates", offset
            continue
        if token.kind is Comment.Preproc:
            continue
        is_macro = text.endswith("!") or _following(tokens, i, 1) == "!"
        word = text.rstrip("!")
        if token.kind in Keyword and word == "extern":
            yield "extern", token.offset
        elif token.kind in Keyword and word == "as" and _following(tokens, i, 1) == "*" \
                and _following(tokens, i + 1, 1) in ("const", "mut"):
            yield "raw-addresses", token.offset
        elif token.kind not in Name and token.kind not in Keyword:
            continue
        elif word in ASM:
            yield "inline-assembly", token.offset
        elif word in INCLUDES and is_macro:
            yield "include-files", token.offset
        elif word == "paste" and is_macro:
            yield "identifier-pasting", token.offset
        elif word == "bindings":
            yield "raw-bindings", token.offset
        elif word in ("transmute", "transmute_copy") and (
                _following(tokens, i, 1) == "(" or _following(tokens, i, 3).startswith("::<")):
            yield "transmute", token.offset
        elif word in PROVENANCE:
            yield "raw-addresses", token.offset


def _position(source: str, offset: int) -> tuple[int, int, str]:
    line = source.count("\n", 0, offset) + 1
    start = source.rfind("\n", 0, offset) + 1
    end = source.find("\n", offset)
    return line, offset - start + 1, source[start:end if end >= 0 else len(source)]


def check(source: str, file_name: str, allow: tuple[str, ...] = ()) -> list[Diagnostic]:
    """One error diagnostic per refused construct, located like rustc's."""
    found = []
    for rule_id, offset in violations(source):
        if rule_id in allow:
            continue
        line, column, text = _position(source, offset)
        reason = RULES[rule_id].reason
        caret = " " * (column - 1) + "^"
        rendered = (f"error: {reason}\n --> {file_name}:{line}:{column}\n  |\n"
                    f"  | {text}\n  | {caret}\n  = note: kdlab source policy, rule {rule_id}\n")
        found.append(Diagnostic("error", reason, file_name, line, column,
                                code=f"kdlab::{rule_id}", snippet=text, rendered=rendered))
    return found


def check_file(path: Path, allow: tuple[str, ...] = ()) -> BuildResult | None:
    """None when `path` passes the policy, else the failed build that says why."""
    started = time.monotonic()
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # the build reports the unreadable file in its own words
    diagnostics = check(source, path.name, allow)
    if not diagnostics:
        return None
    log = "".join(d.rendered for d in diagnostics)
    return BuildResult(False, None, diagnostics=diagnostics, log=log,
                       seconds=time.monotonic() - started)
