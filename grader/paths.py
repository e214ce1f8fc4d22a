"""Every setting kdlab reads from the environment, and every default location.

Contract: no other module reads a `KDLAB_*` variable or works out a default
folder; they call these functions (read at call time, so a test or a notebook can
change the environment). One variable, one meaning, everywhere:

| variable             | meaning                                    | default                  |
|----------------------|--------------------------------------------|--------------------------|
| `KDLAB_CACHE`        | cache: kernel pairs, exports, KVM memo     | `~/.cache/kdlab`         |
| `KDLAB_KERNEL`       | the kernel pair directory to use           | the course pair (cache)  |
| `KDLAB_LABS`         | the labs folder (one folder of lab folders)| the checkout's `labs/`   |
| `KDLAB_COURSE`       | the nbgrader course folder                 | the checkout's `course/` |
| `KDLAB_IMAGE_NS`     | namespace of the images (grader/tags.py)   | `kdlab`                  |
| `KDLAB_NOTEBOOK_DIR` | where a notebook writes driver files       | the system's temp folder |
| `KDLAB_KVM`          | KVM in notebook checks: auto, on or off    | `auto`                   |
| `KDLAB_HUB_COURSE`   | the course folder `kdlab hub` serves       | `./kdlab-course`         |

Read elsewhere, not by Python: `KDLAB_TOOLCHAIN_IMAGE` and `KDLAB_DEBIAN_MIRROR`
(scripts/in-toolchain, images/base/build.sh); `KDLAB_TOKEN`, `KDLAB_PORT`,
`KDLAB_HOST_PORT`, `KDLAB_WORK_SHOWN` and `KDLAB_WORK_VOLUME` (the lab image's
start-lab, set by grader/images/labserver.py); `KDLAB_CC`, `KDLAB_CC_CACHE` and
`KDLAB_CCACHE_DIR` (the compiler wrapper, set by grader/engine/modbuild.py);
`KDLAB_SECRET` (the guest runner, sent by the host over the result channel).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: The checkout (or the folder the package is installed in) holding labs/ and course/.
REPO = Path(__file__).resolve().parents[1]


def _env(name: str) -> str:
    """The variable's value, '' when unset or empty (empty means unset, as in the shell)."""
    return os.environ.get(name, "")


def cache_root() -> Path:
    """Where kernel pairs and other derived files live, outside any checkout."""
    return Path(_env("KDLAB_CACHE") or Path.home() / ".cache" / "kdlab")


def kernel_dir() -> Path | None:
    """The kernel pair chosen by the environment, or None for the course pair."""
    chosen = _env("KDLAB_KERNEL")
    return Path(chosen) if chosen else None


def labs_dir() -> Path:
    """The folder of lab folders."""
    return Path(_env("KDLAB_LABS") or REPO / "labs")


def course_dir() -> Path:
    """The nbgrader course folder."""
    return Path(_env("KDLAB_COURSE") or REPO / "course")


def image_namespace() -> str | None:
    """The image namespace chosen by the environment, or None for the default one."""
    return _env("KDLAB_IMAGE_NS") or None


def notebook_dir() -> Path:
    """Where a notebook kernel keeps its scratch driver files."""
    return Path(_env("KDLAB_NOTEBOOK_DIR") or tempfile.gettempdir())


def notebook_kvm() -> str:
    """KVM choice of notebook checks (auto, on, off)."""
    return _env("KDLAB_KVM") or "auto"


def hub_course() -> Path:
    """The course folder a `kdlab hub` serves to its instructor (made from course/ if missing)."""
    return Path(_env("KDLAB_HUB_COURSE") or "kdlab-course")
