"""The variants of each lab under tests/labs/<lab-id>/: whole Rust files or small patches.

A seeded bug is the lab's solution with a small change. Kept as a full copy, every
bug repeated hundreds of lines of the solution, and an edit to the solution did
not reach its bugs: they went on testing a driver that no longer existed. So a
bug is stored as `<name>.patch`, a unified diff against the solution as a student
would hand it in (`solved`: the lab source without its solution markers), and
`text` applies it with GNU patch each time. A patch that no longer applies
exactly fails loudly (tests/test_variants.py checks them all without booting
anything), rather than being fuzzed onto code it was not written for.

Variants written independently of the solution (alt_solution.rs, hostile
modules such as forged_ktap.rs) stay whole `.rs` files, read as they are.

To change a patched variant, or to add one:

    python3 -m tests.variants text 00-hello bug_off_by_one.patch > /tmp/hello.rs
    (edit /tmp/hello.rs)
    python3 -m tests.variants diff 00-hello /tmp/hello.rs "what the bug is" \\
        > tests/labs/00-hello/bug_off_by_one.patch
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from grader.lab.model import Lab
from tests.conftest import LABS, VARIANTS

#: Lines of context in each patch (diff -u's default): enough to land in one place only.
CONTEXT = 3
#: GNU patch, strict: no fuzz (a hunk whose context changed fails instead of landing
#: nearby), and --forward because --batch would otherwise apply a patch that looks
#: reversed (a solution that already contains the bug) backwards, silently.
PATCH = ["patch", "--quiet", "--batch", "--forward", "--no-backup-if-mismatch", "--fuzz=0",
         "--reject-file=-"]


class VariantError(RuntimeError):
    """A variant is missing or its patch does not apply exactly to the lab's solution."""


def lab(lab_id: str) -> Lab:
    """The lab a variant folder belongs to: labs/<lab-id>."""
    return Lab.load(LABS / lab_id)


def specs(lab_id: str) -> list[dict]:
    """The `[[variant]]` tables of tests/labs/<lab-id>/variants.toml ([] if it has none)."""
    spec = VARIANTS / lab_id / "variants.toml"
    if not spec.is_file():
        return []
    return list(tomllib.loads(spec.read_text()).get("variant", []))


def solved(lab_id: str) -> str:
    """The lab's solution as a student hands it in (`Lab.solved`): what patches apply to."""
    return lab(lab_id).solved()


def text(lab_id: str, file: str) -> str:
    """The Rust source of variant `file` (as variants.toml names it) of lab `lab_id`."""
    stored = VARIANTS / lab_id / file
    if not stored.is_file():
        raise VariantError(f"{stored}: no such variant")
    if stored.suffix != ".patch":
        return stored.read_text()
    name, base = _base(lab_id, stored)
    with tempfile.TemporaryDirectory(prefix="kdlab-variant-") as tmp:
        target = Path(tmp) / name
        target.write_text(base)
        proc = subprocess.run([*PATCH, "--input", str(stored.resolve()), name], cwd=tmp,
                              capture_output=True, text=True)
        output = (proc.stdout + proc.stderr).strip()
        # --quiet prints nothing when every hunk applies as written: anything else is a failure.
        if proc.returncode != 0 or output:
            # Once more on a fresh copy, verbose, for which hunk failed where.
            target.write_text(base)
            detail = subprocess.run(
                [*[a for a in PATCH if a != "--quiet"], "--dry-run", "--input",
                 str(stored.resolve()), name], cwd=tmp, capture_output=True, text=True)
            raise VariantError(
                f"{stored} does not apply exactly to {name} of {lab_id}; regenerate it "
                f"(see tests/variants.py). GNU patch says:\n{output}\n"
                f"{(detail.stdout + detail.stderr).strip()}")
        return target.read_text()


def path(lab_id: str, file: str, tmp_dir: Path) -> Path:
    """Variant `file` on disk, for callers that build from a path (`grader.grading.check.run`).

    Written as tmp_dir/<variant name>/<the solution's file name>, so that compiler
    messages name the file a student's would, and several variants (or a skeleton)
    can share one tmp_dir.
    """
    folder = tmp_dir / Path(file).stem
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / lab(lab_id).source.name
    target.write_text(text(lab_id, file))
    return target


def diff(lab_id: str, rust: str, description: str, base: str | None = None) -> str:
    """The patch that turns `solved(lab_id)` into `rust`, headed by a one-line `description`.

    GNU patch skips text before the first `---` line; the description says what the
    bug is (matching the comment in variants.toml) for someone reading the patch.
    `base`: a whole-file variant in the same folder (alt_solution.rs) to patch
    instead of the solution, for a bug seeded into another way of writing the driver.
    """
    if "\n" in description.strip() or description.lstrip().startswith(("---", "+++", "***",
                                                                           "@@", "Index:")):
        raise VariantError(f"the description must be one line of prose: {description!r}")
    name = base or lab(lab_id).source.name
    with tempfile.TemporaryDirectory(prefix="kdlab-variant-") as tmp:
        before, after = Path(tmp) / "solution.rs", Path(tmp) / "variant.rs"
        before.write_text(text(lab_id, base) if base else solved(lab_id))
        after.write_text(rust)
        proc = subprocess.run(["diff", f"-U{CONTEXT}", "--label", f"a/{name}", "--label",
                               f"b/{name}", str(before), str(after)],
                              capture_output=True, text=True)
    if proc.returncode != 1:
        raise VariantError(proc.stderr.strip() or "the variant is the solution itself")
    return f"{description.strip()}\n{proc.stdout}"


def _base(lab_id: str, stored: Path) -> tuple[str, str]:
    """The file a patch applies to, as its `--- a/NAME` line names it, and its text.

    NAME is the solution's file name (the patch applies to `solved`) or a whole-file
    variant beside the patch (alt_solution.rs); anything else is refused, as a
    patch made for another lab's solution would be.
    """
    lines = stored.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("--- a/")), None)
    name = lines[start][len("--- a/"):] if start is not None else ""
    if start is None or lines[start + 1:start + 2] != [f"+++ b/{name}"]:
        raise VariantError(f"{stored}: expected a unified diff of a/NAME and b/NAME")
    if name == lab(lab_id).source.name:
        return name, solved(lab_id)
    other = stored.parent / name
    if other.suffix == ".rs" and other.is_file():
        return name, other.read_text()
    raise VariantError(f"{stored} patches {name}, which is neither the solution of {lab_id} "
                       f"({lab(lab_id).source.name}) nor a .rs variant beside it")


def main(argv: list[str]) -> int:
    """`text LAB FILE` prints a variant; `diff LAB EDITED.rs DESCRIPTION [BASE.rs]` its patch."""
    if len(argv) == 3 and argv[0] == "text":
        sys.stdout.write(text(argv[1], argv[2]))
        return 0
    if len(argv) in (4, 5) and argv[0] == "diff":
        sys.stdout.write(diff(argv[1], Path(argv[2]).read_text(), argv[3], *argv[4:]))
        return 0
    print(main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
