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
    registers.toml    optional register maps of the lab's devices (grader.evidence.trace)

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import KdlabError
from grader.evidence.trace import DeviceMap, RegisterMapError, load_register_maps
from grader.evidence.tracecheck import TraceCheck, TraceCheckError

BEGIN = "BEGIN SOLUTION"
END = "END SOLUTION"
STUB_PREFIX = "//>"
TODO_LINE = "// TODO: your code here"


class LabError(KdlabError):
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


#: The pair every lab works on, and how to get it (the end of every refusal).
COURSE_PAIR_HINT = "build the course pair with `kdlab kernel build`"


def _version(text: str, origin: str) -> tuple[int, ...]:
    """'7.3' -> (7, 3); a kernel release such as '7.2.12' or '7.3.0-rc2' -> (7, 2, 12)."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        raise LabError(f"{origin}: {text!r} is not a kernel version (write e.g. \"7.3\")")
    return tuple(int(part) for part in match.groups() if part is not None)


def _shown(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


@dataclass(frozen=True)
class KernelNeeds:
    """What a lab needs of the kernel pair, from lab.toml's `[kernel]` table:

        [kernel]
        min = "7.3"                  # oldest release whose kernel crate has the lab's APIs
        max = "7.3"                  # newest release known to work (optional, whole series)
        config = ["CONFIG_PCI_MSI"]  # symbols that must be y or m in the pair
        reason = "I/O views"         # what the student reads in a refusal: why

    Checked before anything is compiled, so a student on an unsuitable pair reads
    one sentence that says why and what to do, instead of compiler errors about
    APIs their kernel does not have. An empty table (the default) accepts any pair.
    """

    min: tuple[int, ...] = ()
    max: tuple[int, ...] = ()
    config: tuple[str, ...] = ()
    reason: str = ""

    @classmethod
    def from_toml(cls, table: dict, origin: str) -> KernelNeeds:
        """Validate `[kernel]`; errors name lab.toml and the field."""
        unknown = set(table) - {"min", "max", "config", "reason"}
        if unknown:
            raise LabError(f"{origin}: [kernel] has unknown fields {sorted(unknown)} "
                           "(known: min, max, config, reason)")
        config = tuple(table.get("config", ()))
        bad = [s for s in config if not re.fullmatch(r"CONFIG_[A-Z0-9_]+", str(s))]
        if bad:
            raise LabError(f"{origin}: [kernel] config {bad} must be Kconfig symbols "
                           "such as CONFIG_PCI_MSI")
        needs = cls(min=_version(str(table["min"]), origin) if "min" in table else (),
                    max=_version(str(table["max"]), origin) if "max" in table else (),
                    config=config, reason=str(table.get("reason", "")).strip())
        if (needs.min or needs.max or needs.config) and not needs.reason:
            raise LabError(f"{origin}: [kernel] needs a `reason`: what a student on another "
                           "kernel reads about why this lab cannot run there")
        return needs

    def _range(self) -> str:
        if self.min and self.max:
            return f"Linux {_shown(self.min)} to {_shown(self.max)}"
        if self.min:
            return f"Linux ≥ {_shown(self.min)}"
        return f"Linux ≤ {_shown(self.max)}" if self.max else "a kernel"

    def refusal(self, lab_id: str, release: str, config: Mapping[str, str]) -> str:
        """'' when a pair of this release and configuration (symbol -> value) meets the
        needs, else the one sentence that says what the lab needs, what the pair is,
        and what to do."""
        version = _version(release, "the kernel pair's release")
        too_old = bool(self.min) and version < self.min
        too_new = bool(self.max) and version[:len(self.max)] > self.max
        missing = [s for s in self.config if config.get(s, "n") not in ("y", "m")]
        if not (too_old or too_new or missing):
            return ""
        wanted = self._range() + (f" with {', '.join(self.config)}" if self.config else "")
        if too_old or too_new:
            pair = f"this pair is {release}" + (f" without {', '.join(missing)}" if missing
                                                else "")
        else:
            pair = f"this pair ({release}) is built without {', '.join(missing)}"
        return f"lab {lab_id} needs {wanted} ({self.reason}); {pair}: {COURSE_PAIR_HINT}"


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
    kernel: KernelNeeds = KernelNeeds()
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
        kernel = KernelNeeds.from_toml(data.get("kernel", {}), str(meta))
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
                kernel=kernel,
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
        """The lab's solution source, with its region markers (instructor side only)."""
        try:
            return self.source.read_text()
        except FileNotFoundError:
            raise LabError(f"{self.source} is not here: the student's lab image ships no "
                           "solutions; the skeleton is the driver cell of the lab's "
                           "notebook") from None

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


def lab_folders(labs_dir: Path) -> list[Path]:
    """The lab folders (those with a lab.toml) in `labs_dir`, in folder order."""
    if not labs_dir.is_dir():
        raise LabError(f"{labs_dir} is not a directory (the labs folder: --labs or $KDLAB_LABS)")
    return sorted(p for p in labs_dir.iterdir() if (p / "lab.toml").is_file())


def discover(labs_dir: Path) -> list[Lab]:
    """Every lab under labs/, in folder order."""
    return [Lab.load(p) for p in lab_folders(labs_dir)]


def find_lab(lab_id: str, labs_dir: Path) -> Lab:
    """The lab called `lab_id` in `labs_dir`: its folder name or its lab.toml id."""
    if (labs_dir / lab_id / "lab.toml").is_file():
        return Lab.load(labs_dir / lab_id)
    for lab in discover(labs_dir):
        if lab.id == lab_id:
            return lab
    raise LabError(f"no lab {lab_id!r} in {labs_dir} (the labs folder: --labs or $KDLAB_LABS)")
