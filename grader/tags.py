"""Names of kdlab's Docker images: `<namespace>/<name>:trixie`.

The namespace is `kdlab` unless KDLAB_IMAGE_NS names another one. Images of
another namespace are a complete second set, built and used side by side with
the first without retagging it: a from-scratch set-up being timed, a change to
the image layout being tried on a machine whose images others are using.
./setup and scripts/in-toolchain read the same variable (and the latter passes
it into the toolchain container), so every kdlab command of such a session
uses the same set.
"""

from __future__ import annotations

from grader import paths

SUITE = "trixie"
DEFAULT_NAMESPACE = "kdlab"


def namespace() -> str:
    """The image namespace in force (KDLAB_IMAGE_NS, else kdlab)."""
    return paths.image_namespace() or DEFAULT_NAMESPACE


def image(name: str) -> str:
    """The tag of kdlab image `name` (debian, common, toolchain, runtime, grader, lab)."""
    return f"{namespace()}/{name}:{SUITE}"
