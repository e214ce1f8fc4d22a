"""Fixtures of the end-to-end lane only."""

from __future__ import annotations

import os

import pytest

from grader.images import build as images
from tests import browserkit, labkit


@pytest.fixture(scope="session")
def grader_image() -> str:
    """The grader image, current with this checkout (with the runtime and lab images:
    labkit.current_images; a no-op when nothing changed), unless KDLAB_TEST_GRADER_IMAGE names
    one to use as it is."""
    given = os.environ.get("KDLAB_TEST_GRADER_IMAGE")
    if given:
        return given
    labkit.current_images()
    return images.IMAGES["grader"].tag


@pytest.fixture(scope="session")
def browser():
    """One headless chromium for every browser test (each opens its own page or context)."""
    try:
        with browserkit.launch() as chromium:
            yield chromium
    except AssertionError as err:
        pytest.fail(str(err))
