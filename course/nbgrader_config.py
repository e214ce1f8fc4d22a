"""nbgrader configuration of the kdlab course (run nbgrader from this folder).

The notebooks in source/ are generated from the labs (`kdlab course generate`);
grading runs the real engine in the notebook's kernel, so nbgrader must run
where kdlab runs: inside the toolchain image (`scripts/in-toolchain nbgrader ...`),
with `grader` importable (PYTHONPATH=<checkout> or `pip install -e .`).
"""

try:
    from grader.course.nbgrader_rust import ClearRustSolutions
except ImportError as err:  # say what to do instead of a bare traceback
    raise SystemExit(
        "kdlab's nbgrader configuration needs the `grader` package: run nbgrader through "
        f"scripts/in-toolchain, or `pip install -e .` in the checkout ({err})"
    ) from err
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ComputeChecksums,
    IncludeHeaderFooter,
    InstantiateTests,
    LockCells,
    SaveCells,
)

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "kdlab"

# Release: nbgrader 0.9's GenerateAssignment pipeline with ClearSolutions replaced by
# the Rust-aware one, so the driver cell becomes the lab's skeleton (`kdlab skeleton`).
c.GenerateAssignment.preprocessors = [
    IncludeHeaderFooter,
    InstantiateTests,
    LockCells,
    ClearRustSolutions,
    ClearOutput,
    CheckCellMetadata,
    ComputeChecksums,
    SaveCells,
    ClearHiddenTests,
    ClearMarkScheme,
    ComputeChecksums,
    CheckCellMetadata,
]

# Grading builds a kernel module and boots it in QEMU in the driver cell: allow for
# the lab's build and boot timeouts (at most a few minutes) on a busy grader.
c.Execute.timeout = 900
# A failing test prints its message and a kernel-log excerpt; keep feedback readable.
c.LimitOutput.max_lines = 400
