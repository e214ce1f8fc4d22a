"""Shared fixtures: the real kernel pair (built once, cached) and the labs."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.engine import kernel, toolchain

#: Fixtures shared by test modules of both lanes (the nbgrader course copy).
pytest_plugins = ["tests.coursekit"]

REPO = Path(__file__).resolve().parent.parent
LABS = REPO / "labs"
VARIANTS = Path(__file__).resolve().parent / "labs"
E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e/ is end to end and no other is: the two lanes
    (`-m e2e`, `-m "not e2e"`) are exactly the two folders."""
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def pair() -> kernel.KernelPair:
    """The course kernel pair: built by `./setup`, found in the cache here (or built once)."""
    report = toolchain.missing_report()
    if report:
        pytest.fail(f"end-to-end tests need the toolchain (run them via scripts/in-toolchain):\n"
                    f"{report}")
    return kernel.build()
