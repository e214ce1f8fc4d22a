"""A lab as data: its metadata (lab.toml), its driver source and its guest tests.

Labs are folders under labs/; adding one never touches the grader. A lab folder:

    lab.toml          title, goals, module name, devices, timeouts, tests with points
    <module>.rs       the driver, with solution regions (see below)
    guest/tests.sh    the visible tests: one shell function per test, named as in
                      lab.toml, run as root in the guest by kdlab's runner
    guest/*.c, *.h    optional helper programs, compiled statically into /lab/<stem>
    hidden/tests.sh   the hidden tests' functions (and hidden/*.c helpers): present
                      only where the instructor grades, never in a student's copy
    README.md         the teaching text the notebooks present
    registers.toml    optional register maps of the lab's devices (grader.trace)

What a lab grades is defined here once: `Lab.graded_items()` (its tests, then its
host-side trace checks, with points) is what grading, zero records for stopped
runs, the course's grade cells and the gradebook all use; `Lab.grading_files()` is
what grading reads from the folder (the solution and teaching text excluded).

Solution regions use nbgrader's delimiters in Rust comments. Lines inside a
region that start with `//>` are the student's stub: comments in the solution,
code in the skeleton, so the skeleton compiles without hand-copying anything:

    // BEGIN SOLUTION
    //> Err(ENODEV)
    let bar = pdev.iomap_region_sized::<SIZE>(0, c"lab")?;
    ...
    // END SOLUTION
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from grader.trace import DeviceMap, RegisterMapError, load_register_maps
from grader.tracecheck import TraceCheck, TraceCheckError

BEGIN = "BEGIN SOLUTION"
END = "END SOLUTION"
STUB_PREFIX = "//>"
TODO_LINE = "// TODO: your code here"


class LabError(ValueError):
    """A lab folder is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class LabTest:
    """One graded test: a top-level KTAP test of the guest run, or a host-side check."""

    name: str
    points: float
    description: str = ""
    hidden: bool = False


@dataclass(frozen=True)
class GradedItem:
    """One thing a lab gives points for: a guest test or a host-side trace check."""

    name: str
    points: float
    description: str
    hidden: bool
    kind: str  # "test" (reported by the guest) or "trace" (checked on the host)


@dataclass(frozen=True)
class Timeouts:
    """Seconds allowed for each step; a step that runs over is stopped and reported."""

    build: float = 120.0
    boot: float = 60.0


@dataclass(frozen=True)
class Lab:
    """A loaded lab folder."""

    root: Path
    id: str
    title: str
    module: str
    source: Path
    goals: tuple[str, ...]
    devices: tuple[str, ...]
    module_params: str
    tests: tuple[LabTest, ...]
    timeouts: Timeouts
    memory_mb: int
    cpus: int = 1
    allow: tuple[str, ...] = ()
    register_maps: tuple[DeviceMap, ...] = ()
    trace_checks: tuple[TraceCheck, ...] = ()
    raw: dict = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> Lab:
        """Read and validate lab.toml; errors name the lab and the field."""
        root = root.resolve()
        meta = root / "lab.toml"
        if not meta.is_file():
            raise LabError(f"{root}: not a lab folder (no lab.toml)")
        try:
            data = tomllib.loads(meta.read_text())
        except tomllib.TOMLDecodeError as err:
            raise LabError(f"{meta}: {err}") from err
        try:
            register_maps = tuple(load_register_maps(root))
            checks = tuple(TraceCheck.from_toml(c, list(register_maps))
                           for c in data.get("trace_checks", []))
        except (RegisterMapError, TraceCheckError) as err:
            raise LabError(f"{meta}: {err}") from err
        try:
            module = data["module"]
            tests = tuple(
                LabTest(t["name"], float(t["points"]), t.get("description", ""),
                        bool(t.get("hidden", False)))
                for t in data["tests"]
            )
            lab = cls(
                root=root,
                id=data.get("id", root.name),
                title=data["title"],
                module=module,
                source=root / data.get("source", f"{module}.rs"),
                goals=tuple(data.get("goals", ())),
                devices=tuple(data.get("devices", ())),
                module_params=data.get("module_params", ""),
                tests=tests,
                timeouts=Timeouts(**data.get("timeouts", {})),
                memory_mb=int(data.get("memory_mb", 128)),
                cpus=int(data.get("cpus", 1)),
                allow=tuple(data.get("source_policy", {}).get("allow", ())),
                register_maps=register_maps,
                trace_checks=checks,
                raw=data,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise LabError(f"{meta}: missing or malformed field: {err}") from err
        if not re.fullmatch(r"[a-z][a-z0-9_]*", module):
            raise LabError(f"{meta}: module name {module!r} must be a Rust/Kbuild identifier")
        names = [t.name for t in tests] + [c.name for c in checks]
        if len(set(names)) != len(names):
            raise LabError(f"{meta}: duplicate test names")
        if not (root / "guest" / "tests.sh").is_file():
            raise LabError(f"{root}: missing guest/tests.sh (the guest-side tests)")
        if (root / "hidden").is_dir() and not (root / "hidden" / "tests.sh").is_file():
            raise LabError(f"{root}: hidden/ has no tests.sh (the hidden tests' functions)")
        return lab

    def graded_items(self) -> tuple[GradedItem, ...]:
        """Everything the lab gives points for, in grading order: the one list every
        consumer (grading, zero records, grade cells, gradebook) uses."""
        return (tuple(GradedItem(t.name, t.points, t.description, t.hidden, "test")
                      for t in self.tests)
                + tuple(GradedItem(c.name, c.points, c.description, False, "trace")
                        for c in self.trace_checks))

    @property
    def max_score(self) -> float:
        return sum(item.points for item in self.graded_items())

    @property
    def guest_dir(self) -> Path:
        return self.root / "guest"

    @property
    def hidden_dir(self) -> Path:
        return self.root / "hidden"

    @property
    def has_hidden_tests(self) -> bool:
        """Whether this copy of the lab carries its hidden tests' code (the instructor's does,
        a student's never)."""
        return (self.hidden_dir / "tests.sh").is_file()

    def grading_files(self) -> list[Path]:
        """The files grading reads (lab.toml, register maps, guest and hidden tests), sorted:
        what the batch's grading key hashes and what a sandbox gets."""
        files = [self.root / "lab.toml", *sorted(self.root.glob("registers.toml"))]
        for folder in (self.guest_dir, self.hidden_dir):
            if folder.is_dir():
                files += sorted(p for p in folder.rglob("*")
                                if p.is_file() and "__pycache__" not in p.parts)
        return files

    def solution(self) -> str:
        return self.source.read_text()

    def skeleton(self) -> str:
        """The student's starting file, generated from the solution."""
        return strip_solutions(self.solution(), str(self.source))

    def solved(self) -> str:
        """The solution as a student would hand it in: no region markers, no stubs."""
        return strip_solutions(self.solution(), str(self.source), keep_solution=True)


def strip_solutions(text: str, origin: str = "<source>", *, keep_solution: bool = False) -> str:
    """Replace each solution region by a TODO line plus its `//>` stub lines.

    keep_solution: by the region's solution lines instead, without the markers and
    stubs: the driver as a student who solved the lab hands it in (what seeded-bug
    patches and submission diffs are made against).
    """
    out: list[str] = []
    region_start: int | None = None
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if BEGIN in line:
            if region_start is not None:
                raise LabError(f"{origin}:{number}: {BEGIN} inside the region opened at line "
                               f"{region_start}")
            region_start = number
            indent = line[: len(line) - len(line.lstrip())]
            if not keep_solution:
                out.append(f"{indent}{TODO_LINE}\n")
        elif END in line:
            if region_start is None:
                raise LabError(f"{origin}:{number}: {END} without {BEGIN}")
            region_start = None
        elif region_start is not None:
            stripped = line.lstrip()
            if not stripped.startswith(STUB_PREFIX):
                if keep_solution:
                    out.append(line)
            elif not keep_solution:
                indent = line[: len(line) - len(stripped)]
                stub = stripped[len(STUB_PREFIX):]
                out.append(indent + (stub[1:] if stub.startswith(" ") else stub))
        else:
            out.append(line)
    if region_start is not None:
        raise LabError(f"{origin}:{region_start}: {BEGIN} is never closed")
    return "".join(out)


def discover(labs_dir: Path) -> list[Lab]:
    """Every lab under labs/, in folder order."""
    return [Lab.load(p) for p in sorted(labs_dir.iterdir()) if (p / "lab.toml").is_file()]
