"""Fixtures of the end-to-end lane only."""

from __future__ import annotations

import pytest

from tests import browserkit


@pytest.fixture(scope="session")
def browser():
    """One headless chromium for every browser test (each opens its own page or context)."""
    try:
        with browserkit.launch() as chromium:
            yield chromium
    except AssertionError as err:
        pytest.fail(str(err))
