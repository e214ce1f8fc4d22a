"""Shared fixtures: the real kernel pair (built once, cached) and the labs."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.engine import kernel, toolchain

REPO = Path(__file__).resolve().parent.parent
LABS = REPO / "labs"
VARIANTS = Path(__file__).resolve().parent / "labs"


@pytest.fixture(scope="session")
def pair() -> kernel.KernelPair:
    """The course kernel pair: built by `./setup`, found in the cache here (or built once)."""
    report = toolchain.missing_report()
    if report:
        pytest.fail(f"end-to-end tests need the toolchain (run them via scripts/in-toolchain):\n"
                    f"{report}")
    return kernel.build()
