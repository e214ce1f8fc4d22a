"""`kdlab grade ASSIGNMENT`: every collected submission, each in its own sandbox, in parallel.

Reads an nbgrader course's submitted/<student>/<assignment>/ notebooks without
running them (a student's Python cells never execute on the grader: only the
driver cell's Rust source is taken out, as data), grades each in a fresh
container (grader.batch.sandbox), and makes the results durable in three places:

- the journal (<course>/kdlab/<assignment>/journal/<student>.json), one file per
  submission, written atomically the moment it is graded: a batch killed
  midway loses no finished grade, and the next run grades only what is missing
  or changed since (same driver source and same lab = same grade: skipped);
- the nbgrader gradebook, through a single writer thread (grader.batch.gradebook);
  it is refilled from the journal at the start of every run, so a write lost in
  a kill is redone;
- a CSV export and a feedback page per student (grader.batch.report), and the
  class overview page <course>/kdlab/<assignment>/index.html (grader.batch.overview).

A record that replaces an earlier one (a change of driver or lab, --force,
--regrade) keeps the earlier score under `previous`, so a regrade after a test fix
shows what it changed.

Before anything is graded, the lab's `[kernel]` needs are held against the pair
in the grader image: a pair that cannot serve the lab stops the batch with the
lab's reason, instead of writing a zero for every student into the gradebook.

Identical drivers (an untouched skeleton, say) are graded once and the result
shared. `history.jsonl` beside the journal logs every grading for audit.

Where the sandboxes run is a `Runner`: by default threads on this host's Docker
engine (LocalRunner); grader.cluster supplies one that sends each submission, as a
small picklable request, to the hosts of a Dask cluster. Either way only this
process records grades (journal, gradebook, CSV, feedback), as they come back.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from grader import paths
from grader.batch import gradebook, sandbox
from grader.batch import report as batch_report
from grader.batch.journal import GradeRecord, Journal
from grader.course.notebook import DRIVER_MAGIC, NotebookError, driver_cells, extract_driver
from grader.errors import KdlabError
from grader.grading.results import CheckResult, integrity_flags
from grader.lab.model import Lab, find_lab
from grader.util import write_atomic

#: Notebooks larger than this are not opened on the grader (a student's notebook is data).
MAX_NOTEBOOK_BYTES = 20 << 20
#: A test message kept in a record (a flood of guest output is cut here).
MAX_MESSAGE_CHARS = 8000
#: Files of a submission nbgrader's release_feedback needs next to its feedback page.
FEEDBACK_KEYS = ("timestamp.txt", "submission_secret.txt")


class BatchError(KdlabError):
    """The batch cannot start (no course, no lab, no image, gradebook not ready)."""


@dataclass(frozen=True)
class Options:
    """What `kdlab grade` was asked to do."""

    course: Path
    assignment: str
    labs: Path
    lab: str | None = None
    jobs: int = 0
    force: bool = False
    image: str = sandbox.GRADER_IMAGE
    csv: Path | None = None
    students: tuple[str, ...] = ()
    regrade: tuple[str, ...] = ()  # grade these again even if their driver is unchanged
    similarity: bool = False  # also run the similarity check (grader.batch.similarity)
    limits: sandbox.Limits = field(default_factory=sandbox.Limits)


@dataclass
class Pending:
    """One submission found on disk, prepared on the host without running anything."""

    student: str
    directory: Path
    notebook: str = ""
    driver_cell_id: str = ""
    key: str = ""
    problem: str = ""
    notes: list[str] = field(default_factory=list)
    timestamp: str = ""
    #: The driver cell's Rust source (what a grading host elsewhere is sent).
    source: str = ""


class Progress(Protocol):
    """What the person running the batch sees, per submission."""

    def planned(self, total: int, to_grade: int, jobs: int) -> None: ...

    def state(self, student: str, state: str) -> None: ...

    def finished(self, student: str, record: GradeRecord | None, error: str = "") -> None: ...


class QuietProgress:
    """Reports nothing (tests, --json callers)."""

    def planned(self, total: int, to_grade: int, jobs: int) -> None:
        pass

    def state(self, student: str, state: str) -> None:
        pass

    def finished(self, student: str, record: GradeRecord | None, error: str = "") -> None:
        pass


class ConsoleProgress:
    """One line per submission event, with a count of what is done; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = 0
        self._total = 0
        self._started = time.monotonic()
        self._hosts: dict[str, int] = {}

    def _line(self, student: str, text: str) -> None:
        elapsed = time.monotonic() - self._started
        print(f"[{elapsed:6.1f}s {self._done:3}/{self._total}] {student:20} {text}", flush=True)

    def planned(self, total: int, to_grade: int, jobs: int) -> None:
        self._total = total
        print(f"{total} submissions: {to_grade} to grade, {total - to_grade} already graded; "
              f"{jobs} containers in parallel", flush=True)

    def state(self, student: str, state: str) -> None:
        with self._lock:
            self._line(student, state)

    def finished(self, student: str, record: GradeRecord | None, error: str = "") -> None:
        with self._lock:
            self._done += 1
            if record is None:
                self._line(student, f"NOT GRADED: {error}")
                return
            result = record.result
            how = record.status
            if record.reused_from:
                how = f"same driver as {record.reused_from}"
            seconds = f" in {record.seconds:.1f} s" if record.seconds else ""
            host = ""
            if record.host:  # graded on a cluster: where, and that host's count
                self._hosts[record.host] = self._hosts.get(record.host, 0) + 1
                host = f" on {record.host} (its {self._hosts[record.host]}.)"
            self._line(student, f"{how} {result['score']:g}/{result['max_score']:g}{seconds}"
                       f"{host}")


@dataclass
class Summary:
    """What a batch did."""

    assignment: str
    total: int = 0
    graded: int = 0
    skipped: int = 0
    reused: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    #: Submissions graded now per grading host (a cluster's; empty when graded here).
    hosts: dict[str, int] = field(default_factory=dict)
    gradebook_errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    csv: Path | None = None
    overview: Path | None = None
    similarity: Path | None = None
    records: dict[str, GradeRecord] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.errors and not self.gradebook_errors

    def describe(self) -> str:
        lines = [f"{self.assignment}: {self.total} submissions, {self.graded} graded now, "
                 f"{self.reused} shared an identical driver, {self.skipped} already graded; "
                 f"{self.seconds:.0f} s"]
        if self.hosts:
            lines.append("  graded on: " + ", ".join(f"{host} {n}" for host, n in
                                                     sorted(self.hosts.items())))
        lines += [f"  not graded: {s}: {e}" for s, e in sorted(self.errors.items())]
        lines += [f"  gradebook: {s}: {e}" for s, e in sorted(self.gradebook_errors.items())]
        lines += [f"  warning: {w}" for w in sorted(set(self.warnings))[:20]]
        flagged = {s: r.flags for s, r in sorted(self.records.items()) if r.flags}
        lines += [f"  flagged: {s}: {'; '.join(f)[:200]}" for s, f in flagged.items()]
        if self.csv:
            lines.append(f"CSV: {self.csv}")
        if self.overview:
            lines.append(f"class overview: {self.overview}")
        if self.similarity:
            lines.append(f"similarity: {self.similarity}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- preparation

def assignment_lab(options: Options) -> Lab:
    """The lab an assignment is graded against: --lab, else its source notebook's driver cell.

    Never the student's own driver cell: a student could name an easier lab there.
    """
    lab_id = options.lab
    if lab_id is None:
        for folder in ("source", "release"):
            for nb in sorted((options.course / folder / options.assignment).glob("*.ipynb")):
                cells = driver_cells(json.loads(nb.read_text(encoding="utf-8")))
                if cells:
                    lab_id = cells[0][1]
                    break
            if lab_id:
                break
    if not lab_id:
        raise BatchError(f"cannot tell which lab {options.assignment!r} is: no {DRIVER_MAGIC} "
                         f"cell in {options.course}/source/{options.assignment}/; pass --lab")
    return find_lab(lab_id, options.labs)


def lab_digest(lab: Lab) -> str:
    """Identity of what grading uses from the lab (Lab.grading_files)."""
    digest = hashlib.sha256()
    for path in lab.grading_files():
        digest.update(str(path.relative_to(lab.root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _notebook_candidates(directory: Path, known: list[str]) -> list[Path]:
    """The submission's regular-file notebooks, the assignment's own names first.

    Symlinks are refused: read on the host, one could point at another student's
    notebook or at the gradebook.
    """
    found = [p for p in sorted(directory.glob("*.ipynb"))
             if p.is_file() and not p.is_symlink() and p.stat().st_size <= MAX_NOTEBOOK_BYTES]
    return sorted(found, key=lambda p: (p.stem not in known, p.name))


def prepare(student: str, directory: Path, lab: Lab, digest: str,
            known_notebooks: list[str]) -> Pending:
    """Find the driver cell (as data: nothing of the notebook runs) and the grading key."""
    pending = Pending(student, directory)
    stamp = directory / "timestamp.txt"
    if stamp.is_file() and not stamp.is_symlink():
        pending.timestamp = stamp.read_text(errors="replace").strip()[:64]
    problems = []
    for nb in _notebook_candidates(directory, known_notebooks):
        try:
            notebook = json.loads(nb.read_text(encoding="utf-8"))
            cells = driver_cells(notebook) if isinstance(notebook, dict) else []
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as err:
            problems.append(f"{nb.name}: not a readable notebook ({err})")
            continue
        if not cells:
            continue
        try:
            claimed_lab, source = extract_driver(nb)
        except NotebookError as err:
            problems.append(str(err))
            continue
        pending.notebook = nb.name
        meta = notebook["cells"][cells[0][0]].get("metadata", {}).get("nbgrader", {})
        pending.driver_cell_id = str(meta.get("grade_id", ""))
        if claimed_lab and claimed_lab != lab.id:
            pending.notes.append(f"the driver cell names lab {claimed_lab!r}; it was graded as "
                                 f"{lab.id!r}, this assignment's lab")
        if nb.stem not in known_notebooks:
            pending.problem = (f"{nb.name} is not a notebook of this assignment (expected "
                               f"{', '.join(n + '.ipynb' for n in known_notebooks)})")
        pending.key = hashlib.sha256(f"{lab.id}\0{digest}\0{source}".encode()).hexdigest()
        pending.source = source
        return pending
    pending.problem = "; ".join(problems) or (
        f"no driver cell (a code cell starting with {DRIVER_MAGIC}) in any notebook of the "
        "submission — was it deleted?")
    pending.notebook = f"{known_notebooks[0]}.ipynb" if known_notebooks else ""
    pending.key = hashlib.sha256(f"problem\0{digest}\0{pending.problem}".encode()).hexdigest()
    return pending


def discover(options: Options, lab: Lab, digest: str, known: list[str]) -> list[Pending]:
    """Every student's submission of the assignment, prepared."""
    submitted = options.course / "submitted"
    if not submitted.is_dir():
        raise BatchError(f"{submitted} does not exist: collect the submissions first "
                         "(`nbgrader collect`)")
    found = []
    for student_dir in sorted(submitted.iterdir()):
        directory = student_dir / options.assignment
        if options.students and student_dir.name not in options.students:
            continue
        if directory.is_dir() and not directory.is_symlink():
            found.append(prepare(student_dir.name, directory.resolve(), lab, digest, known))
    return found


# ----------------------------------------------------------------------------- records

def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _bounded(result: dict) -> dict:
    for test in result.get("tests", []):
        message = test.get("message") or ""
        if len(message) > MAX_MESSAGE_CHARS:
            test["message"] = message[:MAX_MESSAGE_CHARS] + "\n[... cut by kdlab grade ...]"
    return result


def make_record(pending: Pending, options: Options, lab: Lab, run_id: str, status: str,
                result: CheckResult, message: str = "", **extra: Any) -> GradeRecord:
    data = result.to_json()
    return GradeRecord(
        student=pending.student, assignment=options.assignment,
        notebook=pending.notebook, notebook_id=Path(pending.notebook).stem,
        driver_cell_id=pending.driver_cell_id, lab=lab.id, key=pending.key,
        status=status, message=message, notes=pending.notes,
        flags=integrity_flags(data),
        result=_bounded(data), graded_at=_now(), run=run_id,
        timestamp=pending.timestamp, **extra,
    )


def kernel_for_sandboxes(docker_client: Any, lab: Lab, image: str) -> Path | None:
    """The host's copy of the image's kernel pair export, warmed for `lab`'s module.

    Sandboxes read it through a read-only bind mount instead of the image's copy:
    the same files, but a bind mount reads faster than some storage drivers
    (fuse-overlayfs: the module build takes 1.4 s instead of 1.9 s), and its ccache
    holds the C files Kbuild generates for this module name. None (the image's own
    copy is used) when this host has no such export, the image carries another
    pair, or the Docker daemon cannot see the export's path.
    """
    from grader.engine import kernel, kernel_export

    try:
        export = kernel_export.cached_export(kernel.find())
        carried = (docker_client.images.get(image).labels or {}).get(kernel_export.IMAGE_LABEL)
    except Exception:  # no pair here, no such image: the image's copy it is
        return None
    if carried != export.root.name:
        return None
    if sandbox.check_visible(docker_client, export.root, image):
        return None
    if sandbox.warm_kernel(docker_client, export.root, (lab.module,), image):
        return None
    return export.root


def default_jobs(docker_client: Any, limits: sandbox.Limits) -> int:
    """As many containers as the Docker host has cores, and memory for (80 % of RAM)."""
    info = docker_client.info()
    cores = int(info.get("NCPU") or os.cpu_count() or 1)
    by_memory = int(info.get("MemTotal", 0) * 0.8 // (limits.memory_mb << 20))
    return max(1, min(cores, by_memory or cores))


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise BatchError(f"another `kdlab grade` is running on this assignment ({path})") \
                from err
        yield


# ----------------------------------------------------------------------------- runners

@dataclass(frozen=True)
class Job:
    """What grades every submission of one batch, the same on whichever host: picklable."""

    lab: Lab
    #: sandbox.lab_archive(): the lab's grading files and guest helpers, made once here.
    lab_tar: bytes
    image: str
    limits: sandbox.Limits
    #: Labels on every container of the batch (sandbox.reap finds leftovers by them).
    labels: dict[str, str]


@dataclass(frozen=True)
class Graded:
    """One submission's sandbox run, as a runner hands it back to the batch."""

    outcome: sandbox.Outcome
    seconds: float
    #: The grading host that ran it ('' for this one).
    host: str = ""


class Runner(Protocol):
    """Where the batch's sandboxes run. The batch alone records what comes back."""

    #: Sandboxes at once (what the progress display reports).
    slots: int

    def submit(self, pending: Pending,
               on_phase: Callable[[str], None]) -> concurrent.futures.Future[Graded]: ...

    def close(self, interrupted: bool) -> list[str]:
        """Stop (cancelling what has not finished when `interrupted`) and remove the batch's
        containers; returns what could not be removed."""
        ...


#: Makes the batch's runner once the batch knows its Job (see grade()).
RunnerFactory = Callable[[Job], Runner]


def timed_run(docker_client: Any, sub: sandbox.Submission, job: Job, **host: Any) -> Graded:
    """sandbox.run for `job`, timed; `host`: this host's kvm, kernel and on_phase."""
    started = time.monotonic()
    outcome = sandbox.run(docker_client, sub, job.lab, job.lab_tar, image=job.image,
                          limits=job.limits, labels=job.labels, **host)
    return Graded(outcome, round(time.monotonic() - started, 2))


class LocalRunner:
    """Threads on this host, each running one sandbox on this host's Docker engine."""

    def __init__(self, docker_client: Any, job: Job, jobs: int = 0) -> None:
        self.docker, self.job = docker_client, job
        self.slots = jobs or default_jobs(docker_client, job.limits)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.slots,
                                                           thread_name_prefix="sandbox")
        self._lock = threading.Lock()
        self._host: dict[str, Any] | None = None

    def _host_setup(self) -> dict[str, Any]:
        """KVM and the kernel pair mount, found once, when the first submission needs them."""
        with self._lock:
            if self._host is None:
                self._host = {"kvm": _kvm(), "kernel": kernel_for_sandboxes(
                    self.docker, self.job.lab, self.job.image)}
            return self._host

    def _run(self, pending: Pending, on_phase: Callable[[str], None]) -> Graded:
        sub = sandbox.Submission(pending.student, pending.directory, pending.notebook)
        return timed_run(self.docker, sub, self.job, on_phase=on_phase, **self._host_setup())

    def submit(self, pending: Pending,
               on_phase: Callable[[str], None]) -> concurrent.futures.Future[Graded]:
        return self._pool.submit(self._run, pending, on_phase)

    def close(self, interrupted: bool) -> list[str]:
        if interrupted:
            # Stop the running containers now (their grades are not final and will be
            # made by the next run) instead of waiting for them.
            self._pool.shutdown(wait=False, cancel_futures=True)
            sandbox.reap(self.docker, self.job.labels)
        self._pool.shutdown(wait=True, cancel_futures=True)
        return sandbox.reap(self.docker, self.job.labels)


# ----------------------------------------------------------------------------- the batch

class _Batch:
    """One run: the submissions to grade, the journal and the gradebook writer."""

    def __init__(self, options: Options, lab: Lab, progress: Progress,
                 writer: gradebook.GradebookWriter, journal: Journal, state_dir: Path) -> None:
        self.options, self.lab, self.progress = options, lab, progress
        self.writer, self.journal = writer, journal
        self.history = state_dir / "history.jsonl"
        self.run_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.job = Job(lab, sandbox.lab_archive(lab, paths.cache_root()), options.image,
                       options.limits, {"kdlab.batch": _batch_label(options)})
        self.summary = Summary(options.assignment)
        self._lock = threading.Lock()

    def record(self, record: GradeRecord) -> None:
        """Durable first (journal), then the gradebook and the feedback page."""
        before = self.journal.get(record.student)
        if before is not None:
            record.previous = {"run": before.run, "graded_at": before.graded_at,
                               "key": before.key} | {
                k: before.result.get(k) for k in ("score", "max_score")}
        self.journal.put(record)
        with self._lock, self.history.open("a") as log:
            log.write(json.dumps({"run": record.run, "student": record.student,
                                  "status": record.status, "key": record.key,
                                  "reused_from": record.reused_from,
                                  "score": record.result.get("score"),
                                  "previous_score": (record.previous or {}).get("score")})
                      + "\n")
        self.writer.submit(record)
        self.feedback(record)

    def feedback(self, record: GradeRecord, only_missing: bool = False) -> None:
        """The student's feedback page, where nbgrader keeps feedback."""
        if not record.notebook_id:
            return
        page = (self.options.course / "feedback" / record.student / self.options.assignment
                / f"{record.notebook_id}.html")
        if not (only_missing and page.exists()):
            write_atomic(page, batch_report.feedback_html(record))
        # What `nbgrader release_feedback` reads beside the page (as generate_feedback
        # leaves it): the submission's time and the secret its feedback is filed under.
        submitted = self.options.course / "submitted" / record.student / self.options.assignment
        for name in FEEDBACK_KEYS:
            if (submitted / name).is_file():
                shutil.copyfile(submitted / name, page.parent / name)

    def not_graded(self, pending: Pending, message: str) -> None:
        """The grader (not the student) failed: no record; the next run grades it again."""
        self.summary.errors[pending.student] = message
        self.progress.finished(pending.student, None, message)

    def graded(self, pending: Pending,
               future: concurrent.futures.Future[Graded]) -> GradeRecord | None:
        """Record what a runner sent back; None when the grader (not the student) failed."""
        try:
            graded = future.result()
        except Exception as err:  # a grader failure for one submission must not end the batch
            self.not_graded(pending, f"{type(err).__name__}: {err}")
            return None
        outcome = graded.outcome
        if not outcome.final:
            self.not_graded(pending, outcome.message)
            return None
        assert outcome.result is not None
        record = make_record(pending, self.options, self.lab, self.run_id, outcome.status,
                             outcome.result, outcome.message if outcome.status != "graded"
                             else "", seconds=graded.seconds, phases=outcome.phases,
                             memory_peak_mb=outcome.memory_peak_mb,
                             **({"host": graded.host} if graded.host else {}))
        self.record(record)
        self.summary.graded += 1
        if graded.host:
            self.summary.hosts[graded.host] = self.summary.hosts.get(graded.host, 0) + 1
        self.progress.finished(pending.student, record)
        return record

    def share(self, record: GradeRecord, pending: Pending) -> None:
        """Give `pending` (same driver source) the result graded for another student."""
        shared = make_record(pending, self.options, self.lab, self.run_id, record.status,
                             CheckResult.from_json(record.result), record.message,
                             reused_from=record.student, seconds=0.0)
        self.record(shared)
        self.summary.reused += 1
        self.progress.finished(pending.student, shared)

    def run(self, todo: list[Pending], runner: Runner) -> None:
        """Grade `todo` through `runner`; records are made here, as results come back."""
        groups: dict[str, list[Pending]] = {}
        for pending in todo:
            if pending.problem:
                zero = sandbox.zero_result(self.lab, pending.problem, "not started")
                unstarted = make_record(pending, self.options, self.lab, self.run_id, "no-driver",
                                        zero, pending.problem)
                self.record(unstarted)
                self.summary.graded += 1
                self.progress.finished(pending.student, unstarted)
            else:
                groups.setdefault(pending.key, []).append(pending)
        futures = {}
        for group in groups.values():
            first = group[0]
            futures[runner.submit(first, functools.partial(self.progress.state,
                                                           first.student))] = group
        for future in concurrent.futures.as_completed(futures):
            first, *others = futures[future]
            record = self.graded(first, future)
            for other in others:
                if record is not None:
                    self.share(record, other)
                else:
                    self.summary.errors[other.student] = \
                        f"same driver as {first.student}, whose grading failed"


def _batch_label(options: Options) -> str:
    ident = f"{options.course}\0{options.assignment}".encode()
    return hashlib.sha256(ident).hexdigest()[:16]


def _kvm() -> bool:
    from grader.engine.qemu import kvm_usable

    return kvm_usable()


def after_batch(options: Options, lab: Lab, config: gradebook.CourseConfig,
                summary: Summary) -> None:
    """What the instructor reads after a batch: the class overview, the similarity check."""
    from grader.batch import overview, similarity

    state_dir = options.course / "kdlab" / options.assignment
    try:
        if options.similarity:
            try:
                summary.similarity = similarity.check(similarity.Options(
                    options.course, options.assignment, lab)).page
            except similarity.SimilarityError as err:
                summary.warnings.append(f"similarity check: {err}")
        summary.overview = overview.write(state_dir / "index.html", options.assignment, lab,
                                          summary.records,
                                          gradebook.final_scores(config, options.assignment))
    except ModuleNotFoundError as err:  # grades are in; say what the reports need
        summary.warnings.append(f"no class overview or similarity report: {err.name} is not "
                                "installed (pip install -e . or rebuild the toolchain image)")


def grade(options: Options, progress: Progress | None = None,
          runners: RunnerFactory | None = None) -> Summary:
    """Grade the assignment's submissions; see the module docstring.

    `runners`: where the sandboxes run (default: LocalRunner, this host's Docker engine,
    which must then see the course at the same path: submissions are mounted).
    """
    started = time.monotonic()
    progress = progress or QuietProgress()
    if not options.course.is_dir():
        raise BatchError(f"{options.course} is not a directory: --course names the nbgrader "
                         "course folder (`kdlab hub` makes ./kdlab-course on its first start; "
                         "the course in this checkout is ./course)")
    lab = assignment_lab(options)
    config = gradebook.course_config(options.course)
    try:
        known = gradebook.check_assignment(config.db_url, config.course_id, options.assignment)
    except gradebook.GradebookError as err:
        raise BatchError(str(err)) from err
    state_dir = options.course / "kdlab" / options.assignment
    with _exclusive(state_dir / ".lock"):
        docker_client = sandbox.client()
        try:
            docker_client.images.get(options.image)
        except Exception as err:
            raise BatchError(f"the grader image {options.image} is missing: "
                             "`kdlab image build grader`") from err
        release, kernel_config = sandbox.image_pair(docker_client, options.image)
        if refusal := lab.kernel.refusal(lab.id, release, kernel_config):
            raise BatchError(f"{refusal}, then the grader image with "
                             "`kdlab image build grader` (nothing was graded)")
        problem = "" if runners else sandbox.check_visible(docker_client, state_dir,
                                                              options.image)
        if problem:
            raise BatchError(f"{problem}: the containers that grade submissions mount them by "
                             "path, so the course must be where the Docker daemon sees it at "
                             "the same path (with scripts/in-toolchain: inside the checkout)")
        sandbox.reap(docker_client, {"kdlab.batch": _batch_label(options)})
        journal = Journal(state_dir / "journal")
        digest = lab_digest(lab)
        pending = discover(options, lab, digest, known)
        missing = sorted(set(options.regrade) - {item.student for item in pending})
        if missing:
            raise BatchError(f"nothing to regrade for {', '.join(missing)}: no "
                             f"submitted/<student>/{options.assignment}/ folder")
        try:
            writer = gradebook.GradebookWriter(config, options.assignment)
        except gradebook.GradebookError as err:
            raise BatchError(str(err)) from err
        writer.start()
        batch = _Batch(options, lab, progress, writer, journal, state_dir)
        summary = batch.summary
        summary.total = len(pending)
        todo = []
        for item in pending:
            done = journal.get(item.student)
            if done is not None and done.key == item.key and not options.force \
                    and item.student not in options.regrade:
                writer.submit(done)  # the gradebook catches up after a killed run
                batch.feedback(done, only_missing=True)
                summary.skipped += 1
            else:
                todo.append(item)
        runner = (runners or (lambda job: LocalRunner(docker_client, job, options.jobs)))(
            batch.job)
        progress.planned(len(pending), len(todo), runner.slots)
        interrupted = True
        try:
            batch.run(todo, runner)
            interrupted = False
        finally:
            writer.finish()
            left = runner.close(interrupted)
        summary.gradebook_errors = dict(writer.errors)
        summary.warnings = list(writer.warnings)
        if left:
            summary.warnings.append(
                f"the Docker daemon did not remove {', '.join(left)}; the next run of this "
                "assignment tries again (or: docker rm -f / docker volume rm them)")
        summary.records = journal.records()
        summary.csv = options.csv or state_dir.parent / f"{options.assignment}.csv"
        graded = [item.name for item in lab.graded_items()]
        test_names = graded + [t["name"] for r in summary.records.values()
                               for t in r.result.get("tests", []) if t["name"] not in graded]
        write_atomic(summary.csv, batch_report.csv_text(
            list(summary.records.values()), list(dict.fromkeys(test_names))))
        after_batch(options, lab, config, summary)
        summary.seconds = time.monotonic() - started
        return summary
