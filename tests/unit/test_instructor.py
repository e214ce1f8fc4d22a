"""The instructor's side after grading, without containers: similarity, grades out, overview.

Real parts throughout: copydetect on the labs' own solutions, alternative
solutions and seeded bugs; a real nbgrader course and gradebook (tests/batchcourse)
with nbgrader's own late-submission plugin; each platform format checked
against the field list or schema its documentation publishes; the overview page
opened in Debian's chromium.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from grader.batch import exports, gradebook, overview, sandbox, similarity
from grader.batch.journal import GradeRecord
from grader.batch.report import feedback_html
from grader.lab.model import Lab, discover
from grader.util import write_atomic
from tests import variants
from tests.batchcourse import Course
from tests.conftest import LABS, REPO, VARIANTS

HELLO = Lab.load(LABS / "00-hello")
ARTIFACTS = REPO / "build" / "artifacts"


# ----------------------------------------------------------------------------- similarity

def _disguised(source: str) -> str:
    """`source` as a copier hides it: every `let`/`fn`/parameter name renamed, the top-level
    items (functions, impls, structs) in reverse order."""
    names = set(re.findall(r"\blet\s+(?:mut\s+)?([a-z_]\w*)", source))
    names |= set(re.findall(r"\bfn\s+([a-z_]\w*)", source)) - {"init", "drop", "probe"}
    for name in sorted(names, key=len, reverse=True):
        source = re.sub(rf"\b{name}\b", f"my_{name}_x", source)
    head, _, body = source.partition("\n\n")
    items = re.split(r"\n\n(?=\S)", body)
    return head + "\n\n" + "\n\n".join(reversed(items))


def _family(lab_id: str, file: str) -> str:
    """Which solution a variant was made from: a patch names its base, a whole file is its own."""
    stored = VARIANTS / lab_id / file
    return variants._base(lab_id, stored)[0] if stored.suffix == ".patch" else file


@pytest.mark.parametrize("lab", discover(LABS), ids=lambda lab: lab.id)
def test_variants_of_one_solution_rank_as_near_copies(lab: Lab) -> None:
    sources = {"solution": lab.solved(), "disguised": _disguised(lab.solved())}
    family = {"solution": lab.source.name, "disguised": lab.source.name}
    for spec in variants.specs(lab.id):
        if spec["file"].startswith("bug_") or spec["file"] == "alt_solution.rs":
            sources[spec["file"]] = variants.text(lab.id, spec["file"])
            family[spec["file"]] = _family(lab.id, spec["file"])
    assert "alt_solution.rs" in sources and len(sources) > 3
    pairs = similarity.compare(sources, lab.skeleton())
    near = similarity.DEFAULT_THRESHOLD
    bases = {lab.source.name: "solution", "alt_solution.rs": "alt_solution.rs"}
    copies = [p for p in pairs if family[p.a] == family[p.b]
              and bases[family[p.a]] in (p.a, p.b)]
    other = [p for p in pairs if family[p.a] != family[p.b]]
    assert all(p.similarity >= near for p in copies), [(p.a, p.b, p.similarity) for p in copies]
    assert all(p.similarity < near for p in other), [(p.a, p.b, p.similarity) for p in other]
    alternative = next(p for p in pairs if {p.a, p.b} == {"alt_solution.rs", "solution"})
    assert pairs.index(alternative) > max(pairs.index(p) for p in copies)
    hidden = next(p for p in pairs if {p.a, p.b} == {"disguised", "solution"})
    assert hidden.similarity >= near, "renaming and reordering hid a copy"


def test_the_skeleton_is_boilerplate() -> None:
    skeleton = HELLO.skeleton()
    pairs = similarity.compare({"ann": skeleton, "bob": skeleton + "\n"}, skeleton)
    assert pairs[0].similarity == 0.0
    without = similarity.compare({"ann": skeleton, "bob": skeleton}, "")
    assert without[0].similarity == 1.0


def _notebook(source: str) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [],
                                  "source": f"%%kdlab_driver 00-hello\n{source}"}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_check_writes_a_ranked_csv_and_matches_side_by_side(tmp_path) -> None:
    drivers = {"ann": HELLO.solved(), "bob": variants.text("00-hello", "bug_off_by_one.patch"),
               "cy": variants.text("00-hello", "alt_solution.rs"), "dee": None}
    for student, source in drivers.items():
        folder = tmp_path / "submitted" / student / "00-hello"
        folder.mkdir(parents=True)
        (folder / "00-hello.ipynb").write_text(
            _notebook(source) if source else json.dumps({"cells": [], "metadata": {},
                                                         "nbformat": 4, "nbformat_minor": 5}))
    archive = tmp_path / "archive" / "2025"
    archive.mkdir(parents=True)
    (archive / "eve.rs").write_text(_disguised(variants.text("00-hello", "alt_solution.rs")))
    report = similarity.check(similarity.Options(tmp_path, "00-hello", HELLO,
                                                 tmp_path / "archive"))
    rows = list(csv.DictReader(io.StringIO(report.csv.read_text())))
    assert [r["rank"] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]
    ranked = [{r["a"], r["b"]} for r in rows]
    assert ranked[0] == {"ann", "bob"}
    assert {"cy", "archive:2025/eve.rs"} in ranked[:2]
    assert len(rows) == 3 + 3  # three students pairwise, each against one archived driver
    assert "dee" in report.skipped and "no driver cell" in report.skipped["dee"]
    page = report.page.read_text()
    shown = sum(1 for r in rows if float(r["similarity"]) >= similarity.DEFAULT_THRESHOLD)
    assert page.count("<section class='match'>") == shown >= 1
    assert "<mark>" in page and "href='../../feedback/ann/00-hello/'" in page


def test_similarity_refuses_a_course_without_submissions(tmp_path) -> None:
    with pytest.raises(similarity.SimilarityError, match="nbgrader collect"):
        similarity.check(similarity.Options(tmp_path, "00-hello", HELLO))


# ----------------------------------------------------------------------------- records

def _result(lab: Lab, failing: dict[str, str] | None = None, **extra: object) -> dict:
    """A CheckResult JSON for `lab`: every graded item passes but those in `failing`."""
    failing = failing or {}
    tests = [{"name": i.name, "status": "fail" if i.name in failing else "pass",
              "points": 0.0 if i.name in failing else i.points, "max_points": i.points,
              "message": failing.get(i.name, ""), "description": i.description,
              "hidden": i.hidden} for i in lab.graded_items()]
    return {"lab": lab.id, "tests": tests, "score": sum(t["points"] for t in tests),
            "max_score": lab.max_score, "build": {"ok": True, "diagnostics": []},
            "events": [], "kernel_log": "booted", "boot": {"status": "finished"},
            "timings": {"total_s": 12.5}, **extra}


def _record(student: str, result: dict, timestamp: str = "2026-01-15 12:00:00 UTC",
            **extra: Any) -> GradeRecord:
    return GradeRecord(**{
        "student": student, "assignment": "00-hello", "notebook": "00-hello.ipynb",
        "notebook_id": "00-hello", "driver_cell_id": "driver", "status": "graded",
        "result": result, "timestamp": timestamp, "seconds": 20.0, **extra})


# ----------------------------------------------------------------------------- grades out

@pytest.fixture(scope="module")
def graded_course():
    """A real nbgrader course of lab 00 due 2026-01-15 noon, nbgrader's late plugin set to
    'zero', and three submissions written through kdlab's gradebook writer: ann on time with
    full marks, bob on time with a failing test, cy one day late with full marks."""
    course = Course(LABS / "00-hello", "00-hello")
    with (course.root / "nbgrader_config.py").open("a") as config:
        config.write('c.LateSubmissionPlugin.penalty_method = "zero"\n')
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, course_id="kdlab-test") as gb:
        gb.update_or_create_assignment("00-hello", duedate="2026-01-15 12:00:00 UTC")
    writer = gradebook.GradebookWriter(gradebook.course_config(course.root), "00-hello")
    writer.start()
    writer.submit(_record("ann", _result(HELLO)))
    writer.submit(_record("bob", _result(HELLO, {"greets_count_times": "expected 3"})))
    writer.submit(_record("cy", _result(HELLO), "2026-01-16 12:00:00 UTC"))
    writer.finish()
    assert not writer.errors, writer.errors
    yield course
    course.remove()


def test_late_submissions_get_the_course_plugins_penalty(graded_course) -> None:
    config = gradebook.course_config(graded_course.root)
    scores = gradebook.final_scores(config, "00-hello")
    assert {s: (f.raw_score, f.late_submission_penalty, f.score) for s, f in scores.items()} == {
        "ann": (6.0, 0.0, 6.0), "bob": (4.0, 0.0, 4.0), "cy": (6.0, 6.0, 0.0)}
    assert scores["cy"].seconds_late == 24 * 3600


def test_a_broken_late_plugin_setting_is_a_plain_error(tmp_path) -> None:
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa\nc.AssignLatePenalties.plugin_class = 'no.such.Plugin'\n")
    with pytest.raises(gradebook.GradebookError, match="late-submission plugin"):
        gradebook.late_plugin(gradebook.course_config(tmp_path))


ROSTER = """id,first_name,last_name,email,lms_user_id,sis_user_id,sis_login_id,section
ann,Ann,Archer,ann@uni.example,101,S-1,ann.a,Lab A
bob,Bob,"Baker, Jr.",bob@uni.example,102,S-2,bob.b,Lab B
cy,Cy,Cole,cy@uni.example,103,S-3,cy.c,Lab A
"""


def test_canvas_import_csv(graded_course, tmp_path) -> None:
    """Canvas's gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, then the
    assignment; the 'Points Possible' row its own export carries."""
    (tmp_path / "roster.csv").write_text(ROSTER)
    roster = exports.read_roster(tmp_path / "roster.csv")
    scores = gradebook.final_scores(gradebook.course_config(graded_course.root), "00-hello")
    rows = list(csv.reader(io.StringIO(exports.canvas_csv("Lab 0", scores, roster))))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 0"]
    assert rows[1] == ["Points Possible", "", "", "", "", "6"]
    assert rows[2:] == [["Archer, Ann", "101", "S-1", "ann.a", "Lab A", "6"],
                        ["Baker, Jr., Bob", "102", "S-2", "bob.b", "Lab B", "4"],
                        ["Cole, Cy", "103", "S-3", "cy.c", "Lab A", "0"]]
    with pytest.raises(exports.ExportError, match=r"no Canvas id .* for ann, bob, cy"):
        exports.canvas_csv("Lab 0", scores, {})


def test_moodle_import_csv_and_plain_csv(graded_course, tmp_path) -> None:
    (tmp_path / "roster.csv").write_text(ROSTER)
    roster = exports.read_roster(tmp_path / "roster.csv")
    scores = gradebook.final_scores(gradebook.course_config(graded_course.root), "00-hello")
    rows = list(csv.reader(io.StringIO(exports.moodle_csv("00-hello", scores, roster))))
    assert rows[0] == ["First name", "Last name", "ID number", "Email address", "00-hello"]
    assert rows[3] == ["Cy", "Cole", "S-3", "cy@uni.example", "0"]
    plain = list(csv.DictReader(io.StringIO(exports.plain_csv("00-hello", scores, {}))))
    assert [(r["student_id"], r["raw_score"], r["late_submission_penalty"], r["score"])
            for r in plain] == [("ann", "6", "0", "6"), ("bob", "4", "0", "4"),
                                ("cy", "6", "6", "0")]


def test_export_from_the_command_line(graded_course, tmp_path, capsys) -> None:
    from grader.cli.main import main

    (tmp_path / "roster.csv").write_text(ROSTER)
    out = tmp_path / "canvas.csv"
    assert main(["export", "00-hello", "--course", str(graded_course.root), "--to", "canvas",
                 "--roster", str(tmp_path / "roster.csv"), "-o", str(out)]) == 0
    assert out.read_text().splitlines()[2] == "\"Archer, Ann\",101,S-1,ann.a,Lab A,6"
    assert main(["export", "00-hello", "--course", str(graded_course.root),
                 "--to", "moodle"]) == 2
    assert "needs --roster" in capsys.readouterr().err
    assert main(["export", "nope", "--course", str(graded_course.root), "--to", "csv"]) == 2
    assert "not in the gradebook" in capsys.readouterr().err


# ----------------------------------------------------------------------------- platforms

#: Gradescope's results.json fields (gradescope-autograders "Autograder Specifications").
GRADESCOPE_TOP = {"score", "execution_time", "output", "visibility", "stdout_visibility",
                  "extra_data", "tests", "leaderboard"}
GRADESCOPE_TEST = {"score", "max_score", "name", "number", "output", "tags", "visibility",
                   "extra_data"}
GRADESCOPE_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
#: PrairieLearn's external-grader results (docs/externalGrading.md, "Grading results").
PRAIRIELEARN_TOP = {"gradable", "score", "message", "output", "images", "tests",
                    "format_errors"}
PRAIRIELEARN_TEST = {"name", "description", "points", "max_points", "message", "output",
                     "images"}


def test_gradescope_results_follow_its_field_list() -> None:
    doc = exports.gradescope(_result(HELLO, {"says_goodbye_on_unload": "no goodbye"}))
    assert set(doc) <= GRADESCOPE_TOP and doc["score"] == 4.0
    for test in doc["tests"]:
        assert set(test) <= GRADESCOPE_TEST and test["visibility"] in GRADESCOPE_VISIBILITY
    by_name = {t["name"]: t for t in doc["tests"]}
    assert by_name["parameter_default"]["visibility"] == "after_published"
    assert by_name["module_loads"]["visibility"] == "visible"
    assert by_name["says_goodbye_on_unload"] | {} == {
        "name": "says_goodbye_on_unload", "score": 0.0, "max_score": 2.0,
        "output": "no goodbye", "visibility": "visible"}
    assert sum(t["score"] for t in doc["tests"]) == doc["score"]


def test_prairielearn_results_follow_its_field_list_and_fit_in_1_mb() -> None:
    doc = exports.prairielearn(_result(HELLO, {"greets_count_times": "x" * 700_000,
                                               "parameter_default": "é" * 400_000}))
    assert set(doc) <= PRAIRIELEARN_TOP and doc["gradable"] is True
    assert doc["score"] == round(3 / 6, 4)
    assert len(json.dumps(doc).encode()) <= exports.PRAIRIELEARN_MAX_BYTES
    tests = {t["name"]: t for t in doc["tests"]}
    assert all(set(t) <= PRAIRIELEARN_TEST for t in doc["tests"])
    assert [t["name"] for t in doc["tests"]] == [i.name for i in HELLO.graded_items()]
    assert tests["greets_count_times"]["message"].endswith("cut to fit the size limit ...]")
    assert (tests["greets_count_times"]["points"], tests["greets_count_times"]["max_points"]) \
        == (0.0, 2.0)
    assert "(hidden test)" in tests["parameter_default"]["description"]


def test_prairielearn_compile_errors_are_not_gradable_but_policy_refusals_are() -> None:
    broken = sandbox.zero_result(HELLO, "did not build", "graded").to_json()
    broken["build"]["diagnostics"] = [{"level": "error", "message": "expected `;`",
                                       "code": "", "rendered": "error: expected `;`"}]
    doc = exports.prairielearn(broken)
    assert doc["gradable"] is False and doc["format_errors"] == ["error: expected `;`"]
    assert "score" not in doc
    broken["build"]["diagnostics"][0]["code"] = "kdlab::inline-asm"
    assert exports.prairielearn(broken)["score"] == 0.0


#: The junit-10 schema (pytest's junit-10.xsd, from Maven Surefire): element -> (required
#: attributes, allowed attributes), children allowed.
JUNIT = {
    "testsuites": (set(), {"name", "time", "tests", "failures", "errors"}, {"testsuite"}),
    "testsuite": ({"name", "tests", "failures", "errors"},
                  {"name", "tests", "failures", "errors", "group", "time", "skipped",
                   "timestamp", "hostname", "id", "package", "file", "log", "url", "version"},
                  {"testsuite", "properties", "testcase", "system-out", "system-err"}),
    "properties": (set(), set(), {"property"}),
    "property": ({"name", "value"}, {"name", "value"}, set()),
    "testcase": ({"name"}, {"name", "time", "classname", "group"},
                 {"skipped", "error", "failure", "system-out", "system-err"}),
    "failure": (set(), {"type", "message"}, set()),
    "error": (set(), {"type", "message"}, set()),
    "skipped": (set(), {"type", "message"}, set()),
    "system-out": (set(), set(), set()),
    "system-err": (set(), set(), set()),
}
SUREFIRE_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]{0,3})?")


def _valid_junit(element: ET.Element) -> None:
    required, allowed, children = JUNIT[element.tag]
    assert required <= set(element.attrib) <= allowed, (element.tag, element.attrib)
    if "time" in element.attrib:
        assert SUREFIRE_TIME.fullmatch(element.attrib["time"]), element.attrib["time"]
    for child in element:
        assert child.tag in children, (element.tag, child.tag)
        _valid_junit(child)


def test_junit_xml_follows_the_junit_10_schema_and_junitparser_reads_it() -> None:
    from junitparser import JUnitXml

    result = _result(HELLO, {"greets_count_times": "expected 'Hello' <3> & more"})
    result["tests"][-1].update(status="error", points=0.0, message="not run: panic")
    result["score"] = 3.0
    text = exports.junit(result)
    root = ET.fromstring(text.encode())
    _valid_junit(root)
    suite = next(iter(JUnitXml.fromstring(text)))
    assert (suite.tests, suite.failures, suite.errors) == (4, 1, 1)
    props = {p.name: p.value for p in suite.properties()}
    assert props["score"] == "3" and props["points.module_loads"] == "1/1"
    assert props["hidden.parameter_default"] == "true"
    failed = next(case for case in suite if case.name == "greets_count_times")
    assert failed.result[0].message == "expected 'Hello' <3> & more"


# ----------------------------------------------------------------------------- overview

def _class_records() -> dict[str, GradeRecord]:
    panic = _result(HELLO, {i.name: "not run: panic" for i in HELLO.graded_items()})
    panic["events"] = [{"kind": "rust_panic", "summary": "Rust code panicked in the kernel",
                        "function": "hello::init", "phase": "module load", "detail": "x"}]
    hang = _result(HELLO, {i.name: "not run" for i in HELLO.graded_items()})
    hang["events"] = [{"kind": "hang", "summary": "hung", "phase": "module load (init)"}]
    built = _result(HELLO, {i.name: "not run" for i in HELLO.graded_items()})
    built["build"] = {"ok": False, "diagnostics": [
        {"level": "error", "code": "E0425", "message": "cannot find value `x`"}]}
    forged = _result(HELLO, channel={"problems": ["a block not sealed by the runner"]})
    records = {
        "ann": _record("ann", _result(HELLO)),
        "bob": _record("bob", _result(HELLO, {"greets_count_times": "expected 3"}),
                       previous={"score": 3.0}),
        "cy": _record("cy", panic), "dan": _record("dan", dict(panic), seconds=31.0),
        "eve": _record("eve", hang), "fay": _record("fay", built),
        "gus": _record("gus", forged, flags=["result channel: a block not sealed"]),
        "hal": _record("hal", _result(HELLO), reused_from="ann", seconds=0.0),
    }
    return records


def test_first_failure_names_the_earliest_step_that_went_wrong() -> None:
    records = _class_records()
    assert {s: overview.first_failure(r) for s, r in records.items()} == {
        "ann": "", "bob": "test greets_count_times failed",
        "cy": "kernel rust_panic in hello::init", "dan": "kernel rust_panic in hello::init",
        "eve": "hang during module load (init)",
        "fay": "build error E0425: cannot find value `x`", "gus": "", "hal": ""}


def _write_overview(folder: Path) -> Path:
    """The overview of a class beside its feedback pages, as a course lays them out."""
    records = _class_records()
    for record in records.values():
        write_atomic(folder / "feedback" / record.student / "00-hello" / "00-hello.html",
                     feedback_html(record))
    late = gradebook.FinalScore("ann", 6.0, 6.0, 6.0, "2026-01-16T12:00:00", 86400.0)
    return overview.write(folder / "kdlab" / "00-hello" / "index.html", "00-hello", HELLO,
                          records, {"ann": late})


def test_overview_page_has_the_plots_reasons_and_flags(tmp_path) -> None:
    page = _write_overview(tmp_path).read_text()
    assert page.count("<svg") == 3 and "<?xml" not in page
    assert "8 submissions" in page and "1 flagged" in page
    reasons = page[page.index("<table id='reasons'>"):]
    reasons = reasons[:reasons.index("</table>")]
    assert re.search(r"<td>2</td><td>kernel rust_panic in hello::init</td>", reasons)
    assert "href='../../feedback/cy/00-hello/00-hello.html'" in reasons
    assert "hang during module load (init)" in reasons and "E0425" in reasons
    assert "a block not sealed" in page[page.index("id='flags'"):]
    assert "-6 (24.0 h late)" in page  # ann's late penalty from the gradebook
    assert "<td>3</td>" in page  # bob's score before the regrade


def test_overview_renders_in_a_browser_with_working_links(tmp_path) -> None:
    """Debian's chromium opens the page from disk (no server): three plots drawn, every
    student link leads to that student's feedback page."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.is_file():
        pytest.fail(f"{chromium} is missing: the toolchain image installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    page_path = _write_overview(tmp_path)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(page_path.as_uri())
        plots = page.locator("figure svg")
        assert plots.count() == 3
        for i in range(3):
            box = plots.nth(i).bounding_box()
            assert box and box["width"] > 200 and box["height"] > 100
        # The histogram's bars are drawn (matplotlib paths inside the figure).
        assert page.locator("#plot-scores svg path").count() > 5
        page.screenshot(path=str(ARTIFACTS / "class-overview.png"), full_page=True)
        links = page.locator("a.student")
        hrefs = {links.nth(i).get_attribute("href") for i in range(links.count())}
        assert len(hrefs) == 8
        page.locator("#reasons a.student", has_text="cy").first.click()
        page.wait_for_load_state()
        assert page.title() == "00-hello: feedback for cy"
        browser.close()
