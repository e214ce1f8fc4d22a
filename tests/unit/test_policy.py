"""The source policy (grading/policy.py): what it refuses, where it says so, what it allows."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.grading import policy
from grader.lab.model import discover
from tests.conftest import LABS, VARIANTS

REFUSED = {
    "inline-assembly": 'unsafe { core::arch::asm!("out dx, al", in("dx") 0x2f8u16, in("al") 1u8) }',
    "extern": 'extern "C" { fn printk(fmt: *const u8, ...) -> i32; }',
    "symbol-attributes": "#[no_mangle]\npub static FLAG: u8 = 1;",
    "raw-bindings": "let _ = unsafe { kernel::bindings::emergency_restart() };",
    "include-files": 'const T: &str = include_str!("/lab/hidden/tests.sh");',
    "identifier-pasting": "kernel::macros::paste! { [<as m>]!(\"hlt\") }",
    "feature-gates": "#![feature(core_intrinsics)]",
    "transmute": "let p: usize = unsafe { core::mem::transmute::<&u8, usize>(&x) };",
    "raw-addresses": "let p = 0xffff_8880_0000_0000usize as *mut u8;",
}

EVASIONS = [
    ("raw identifier", "unsafe { core::arch::r#asm!(\"hlt\") };", "inline-assembly"),
    ("renamed import", "use core::arch::asm as quiet;", "inline-assembly"),
    ("2024 unsafe attribute", "#[unsafe(no_mangle)]\nstatic X: u8 = 0;", "symbol-attributes"),
    ("cfg_attr", '#[cfg_attr(all(), link_section = ".init")]\nstatic X: u8 = 0;',
     "symbol-attributes"),
    ("extern fn", 'pub unsafe extern "C" fn f() {}', "extern"),
    ("path attribute", '#[path = "/lab/hidden/tests.sh"]\nmod leak;', "include-files"),
    ("global asm", 'core::arch::global_asm!("nop");', "inline-assembly"),
    ("provenance", "let p = core::ptr::with_exposed_provenance_mut::<u8>(0x1000);",
     "raw-addresses"),
]


@pytest.mark.parametrize("rule", sorted(REFUSED))
def test_each_rule_refuses_its_construct_at_its_line(rule: str) -> None:
    source = f"// a student's driver\nfn f(x: u8) {{\n    {REFUSED[rule]}\n}}\n"
    found = policy.check(source, "hello.rs")
    assert [d.code for d in found] == [f"kdlab::{rule}"], found
    assert found[0].line == 3 and found[0].file == "hello.rs" and found[0].level == "error"
    assert found[0].message == policy.RULES[rule].reason
    assert "hello.rs:3:" in found[0].rendered and REFUSED[rule].splitlines()[0] in found[0].snippet


@pytest.mark.parametrize(("what", "source", "rule"), EVASIONS, ids=[e[0] for e in EVASIONS])
def test_common_evasions_are_caught(what: str, source: str, rule: str) -> None:
    assert rule in {d.code.removeprefix("kdlab::") for d in policy.check(source, "x.rs")}, what


def test_words_in_comments_strings_and_docs_are_not_code() -> None:
    source = ('// asm! extern no_mangle bindings\n/* nested /* asm! */ transmute( */\n'
              '/// Call `include_str!` never.\nlet s = "asm! extern \\" kernel::bindings";\n'
              'let r = r#"#[no_mangle] extern "C""#;\n#[doc = "used for linking"]\nstruct S;\n'
              'unsafe impl kernel::transmute::AsBytes for S {}\nlet include = 1; let used = 2;\n')
    assert policy.check(source, "x.rs") == []


def test_a_lab_can_allow_a_rule() -> None:
    source = REFUSED["inline-assembly"]
    assert policy.check(source, "x.rs", allow=("inline-assembly",)) == []
    assert policy.check(source, "x.rs", allow=("extern",)) != []


def test_check_file_is_a_failed_build_with_every_violation(tmp_path: Path) -> None:
    path = tmp_path / "hello.rs"
    path.write_text(f"{REFUSED['extern']}\n{REFUSED['inline-assembly']}\n")
    build = policy.check_file(path)
    assert build is not None and not build.ok and build.module is None
    assert [d.line for d in build.errors] == [1, 2]
    assert "kdlab source policy" in build.log
    path.write_text("fn ok() {}\n")
    assert policy.check_file(path) is None


@pytest.mark.parametrize("lab", discover(LABS), ids=lambda lab: lab.id)
def test_every_solution_skeleton_and_variant_passes(lab) -> None:
    sources = {"solution": lab.solved(), "skeleton": lab.skeleton()}
    for path in sorted((VARIANTS / lab.id).glob("*.rs")):
        sources[path.name] = path.read_text()
    for name, text in sources.items():
        assert policy.check(text, name, lab.allow) == [], name
