"""Lab Rust follows the kernel's style: rustfmt-clean, and every `unsafe` explained."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LABS, VARIANTS

SOURCES = sorted(LABS.glob("*/*.rs")) + sorted(VARIANTS.glob("*/alt_solution.rs"))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rustfmt_clean(source: Path) -> None:
    rustfmt = shutil.which("rustfmt")
    assert rustfmt, "rustfmt is part of the toolchain image"
    proc = subprocess.run([rustfmt, "--edition", "2021", "--check", str(source)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_unsafe_has_a_safety_comment(source: Path) -> None:
    lines = source.read_text().splitlines()
    for number, line in enumerate(lines):
        code = line.split("//", 1)[0]
        if not re.search(r"\bunsafe\s*(\{|impl\b)", code):
            continue
        before = "\n".join(lines[max(0, number - 8): number + 1])
        assert "SAFETY:" in before, f"{source.name}:{number + 1}: `unsafe` without // SAFETY:"
