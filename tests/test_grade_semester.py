"""Deadlines in ``course grade``: ``course.toml``'s late policy applied to the saved raw scores.

Grading itself is replaced by a stand-in (``_run_jobs``, which the real grader feeds to its
workers): each submission's notebook says what it scores, so a test knows the raw scores and
how many submissions were graded; the pages, records, tables and the late policy are the real
ones. The expected final scores are worked out by hand from the dates in each test. Pages are
read back with html5lib (the HTML5 parsing algorithm browsers use), not with the code under test.
"""

import csv
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from bleach._vendor import html5lib

from autograder import CourseError, grading
from autograder.grading import Result, feedback_dir
from conftest import ROOT

A = "01_gradient_descent"
B = "02_sgd_minibatch"
# 2026-09-14 23:59 in Berlin (summer time, UTC+2) is 21:59 UTC
TOML = """timezone = "Europe/Berlin"

[late_policy]
percent_per_day = 10
max_percent = 50
cutoff_days = 7

[assignments."01_gradient_descent"]
due = "2026-09-14 23:59"

[extensions.ext]
"01_gradient_descent" = 3
"""
TIMES = {   # student -> timestamp.txt (None: no file)
    "ontime": "2026-09-14 21:00:00.000000 UTC",   # 59 minutes early
    "late": "2026-09-16 00:59:00.000000 UTC",     # 1 day 3 hours late: 2 started days, 20%
    "ext": "2026-09-17 12:00:00.000000 UTC",      # 2 days 14 h late, within a 3-day extension
    "cutoff": "2026-09-24 22:00:00.000000 UTC",   # 10 days late: past the 7-day cut-off
    "notime": None,
}


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A course root with two assignments, a submissions folder, an out folder, and the stand-in grader."""
    root = tmp_path / "course"
    for a in (A, B):
        shutil.copytree(ROOT / "notebooks" / a, root / "notebooks" / a)
    graded = []

    def fake_run_jobs(course_root, jobs, workers, dask_address, options):
        for job in jobs:
            graded.append((job.student, job.assignment))
            res = Result(job.student, job.assignment, max_score=10.0, problems=list(job.problems))
            for name, data in job.notebooks.items():
                nb = nbformat.reads(data.decode("utf-8"), as_version=4)
                fake = nb.metadata.get("fake", {})
                res.score = float(fake.get("score", 0))
                res.cells.append([name, "ex1", res.score, 10.0, fake.get("message", "")])
                md = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
                # what nbgrader's page would hold: the student's text, still to be made safe by the grader
                res.feedback[name] = f"<html><head><title>x</title></head><body><div>{md}</div></body></html>"
            yield job, res

    monkeypatch.setattr(grading, "_run_jobs", fake_run_jobs)
    return root, tmp_path / "subs", tmp_path / "out", graded


def submit(subs, student, assignment=A, score=8, stamp=None, markdown="My notes.", message=""):
    folder = subs / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown), nbformat.v4.new_code_cell("x = 1")])
    nb.metadata["fake"] = {"score": score, "message": message}
    nbformat.write(nb, str(folder / f"{assignment}.ipynb"))
    if stamp is not None:
        (folder / "timestamp.txt").write_text(stamp)
    return folder


def grade(course, **kw):
    root, subs, out, graded = course
    graded.clear()
    results, skipped, reused = grading.grade_class(root, subs, out, progress=False, options=grading.Options(isolation="none"), **kw)
    return results, reused, list(graded)


def rows(out):
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return {(r["student_id"], r["assignment"]): r for r in csv.DictReader(fh)}


def page(out, student, assignment=A):
    return (feedback_dir(out, student, assignment) / f"{assignment}.html").read_text(encoding="utf-8")


def late_lines(text):
    """The text of each ``grader-late`` element, as a browser parses the page."""
    doc = html5lib.parse(text, treebuilder="etree", namespaceHTMLElements=False)
    return ["".join(e.itertext()) for e in doc.iter() if "grader-late" in (e.get("class") or "").split()]


def without_region(text):
    start, stop = text.index("<!--grader-late-->"), text.index("<!--/grader-late-->")
    return text[:start] + text[stop:]


def class_setup(course, toml=TOML):
    root, subs, out, _ = course
    (root / "course.toml").write_text(toml)
    for student, stamp in TIMES.items():
        submit(subs, student, stamp=stamp)
    submit(subs, "late", assignment=B, score=5, stamp=TIMES["late"])   # B has no due date


# -- the policy applied ---------------------------------------------------------------------------

def test_late_on_time_extension_and_cutoff_in_grades_csv(course):
    class_setup(course)
    out = course[2]
    results, reused, graded = grade(course)
    assert reused == 0 and len(graded) == 6
    assert all(r.score == (5 if r.assignment == B else 8) for r in results), "the results keep the raw score"
    got = {k: (r["score"], r["max_score"], r["raw_score"], r["late_by"], r["penalty"]) for k, r in rows(out).items()}
    assert got == {
        ("ontime", A): ("8", "10", "8", "", "0"),
        ("late", A): ("6.4", "10", "8", "27.00h", "20"),
        ("ext", A): ("8", "10", "8", "", "0"),              # due 2026-09-17 21:59 UTC with the extension
        ("cutoff", A): ("0", "10", "8", "240.02h", "100"),
        ("notime", A): ("8", "10", "8", "", "0"),
        ("late", B): ("5", "10", "5", "", "0"),             # no due date: no penalty
    }
    with open(out / "grades.csv", encoding="utf-8") as fh:
        assert fh.readline().strip() == "student_id,assignment,score,max_score,raw_score,late_by,penalty"


def test_the_feedback_says_what_was_deducted_and_why(course):
    class_setup(course)
    out = course[2]
    grade(course)
    assert late_lines(page(out, "late")) == [
        "Due 2026-09-14 23:59 Europe/Berlin. Submitted 1 day 3 hours after the due date (2 started days at 10% each): "
        "20% of the score deducted, 8 / 10 \u2192 6.4 / 10."]
    cut = late_lines(page(out, "cutoff"))
    assert len(cut) == 1 and "past the cut-off of 7 days: no credit" in cut[0] and "8 / 10 \u2192 0 / 10" in cut[0]
    assert late_lines(page(out, "ontime")) == [] and late_lines(page(out, "ext")) == []
    assert late_lines(page(out, "late", B)) == []
    assert late_lines(page(out, "notime")) == ["Due 2026-09-14 23:59 Europe/Berlin; this submission has no recorded time "
                                               "(no timestamp.txt beside it), so no late penalty was applied."]
    report = (out / "report.txt").read_text(encoding="utf-8").splitlines()
    i = report.index("late/01_gradient_descent: 8 / 10")
    assert report[i + 1].startswith("  deadline: Due 2026-09-14 23:59 Europe/Berlin. Submitted 1 day 3 hours") \
        and report[i + 1].endswith("8 / 10 \u2192 6.4 / 10.")
    j = report.index("ontime/01_gradient_descent: 8 / 10")
    assert not any(line.startswith(("  deadline", "  !")) for line in report[j + 1:j + 2])
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    assert ("  late: 2 submission(s) after the due date, 2 with points deducted (9.6 in all); mean final score 6.08 / 10; "
            "1 without a submission time (no penalty applied)") in summary.splitlines()


def test_summary_html_lists_the_late_submissions(course):
    class_setup(course)
    out = course[2]
    grade(course)
    doc = html5lib.parse((out / "summary.html").read_text(encoding="utf-8"), treebuilder="etree", namespaceHTMLElements=False)
    cells = [["".join(td.itertext()) for td in tr.iter("td")] for tr in doc.iter("tr")]
    late = {c[0]: c for c in cells if c and c[0] in TIMES}
    assert set(late) == {"late", "cutoff"}, cells
    assert late["late"][1:] == ["1 day 3 hours", "20%", "6.4 / 10"] and late["cutoff"][1:] == ["10 days 1 minute", "100%", "0 / 10"]
    assert all(img.get("src", "").startswith("data:image/png;base64,") for img in doc.iter("img"))


def test_without_course_toml_nothing_is_deducted(course):
    class_setup(course)
    root, _, out, _ = course
    (root / "course.toml").unlink()
    grade(course)
    for (student, a), r in rows(out).items():
        assert (r["score"], r["raw_score"], r["late_by"], r["penalty"]) == (r["raw_score"], "5" if a == B else "8", "", "0")
        assert late_lines(page(out, student, a)) == []
    assert "deadline" not in (out / "report.txt").read_text(encoding="utf-8")


# -- changes without regrading -------------------------------------------------------------------

def test_a_changed_policy_or_extension_regrades_nothing_and_rewrites_only_the_line(course):
    class_setup(course)
    root, _, out, _ = course
    grade(course)
    records = {p: p.read_bytes() for p in (out / ".course-grading").rglob("*.json")}
    before = {s: page(out, s) for s in TIMES}
    (root / "course.toml").write_text(TOML.replace("percent_per_day = 10", "percent_per_day = 25")
                                      + '\n[extensions.cutoff]\n"01_gradient_descent" = "2026-09-20 23:59"\n')
    results, reused, graded = grade(course)
    assert graded == [] and reused == len(results) == 6
    got = {k[0]: (r["score"], r["penalty"]) for k, r in rows(out).items() if k[1] == A}
    # late: 2 started days at 25%: 50%; cutoff: due 2026-09-20 21:59 UTC now, 4 days 1 minute late:
    # 5 started days at 25%, capped at 50% (and within the 7-day cut-off)
    assert got == {"ontime": ("8", "0"), "late": ("4", "50"), "ext": ("8", "0"), "cutoff": ("4", "50"), "notime": ("8", "0")}
    assert late_lines(page(out, "late"))[0].endswith("2 started days at 25% each): 50% of the score deducted, 8 / 10 \u2192 4 / 10.")
    assert "Due 2026-09-20 23:59 Europe/Berlin (with an extension)." in late_lines(page(out, "cutoff"))[0]
    for s in TIMES:
        assert without_region(page(out, s)) == without_region(before[s]), "only the deduction line may change"
    assert page(out, "ontime") == before["ontime"]
    assert {p: p.read_bytes() for p in (out / ".course-grading").rglob("*.json")} == records


def test_the_same_notebook_submitted_again_later_keeps_its_grade_and_takes_the_new_time(course):
    class_setup(course)
    _, subs, out, _ = course
    grade(course)
    (subs / "ontime" / A / "timestamp.txt").write_text("2026-09-15 22:00:00.000000 UTC")   # 1 day 1 minute late
    results, reused, graded = grade(course)
    assert graded == [] and reused == 6
    assert (rows(out)[("ontime", A)]["score"], rows(out)[("ontime", A)]["penalty"]) == ("6.4", "20")
    record = json.loads(next((out / ".course-grading").rglob("ontime/*.json")).read_text())
    assert record["result"]["submitted_at"] == "2026-09-15 22:00:00.000000 UTC"
    assert "Submitted 1 day 1 minute after the due date" in late_lines(page(out, "ontime"))[0]
    from autograder.course_config import read_config
    from autograder.final_grades import saved_grades

    final = {(g.student, g.assignment): g.score for g in saved_grades(out, read_config(course[0], [A, B]))}
    assert final[("ontime", A)] == 6.4 and final[("late", A)] == 6.4


def test_changed_notebook_bytes_are_graded_again(course):
    class_setup(course)
    _, subs, out, _ = course
    grade(course)
    submit(subs, "late", score=10, stamp=TIMES["late"])
    _, reused, graded = grade(course)
    assert graded == [("late", A)] and reused == 5
    assert (rows(out)[("late", A)]["raw_score"], rows(out)[("late", A)]["score"]) == ("10", "8")


# -- bad input --------------------------------------------------------------------------------------

@pytest.mark.parametrize("toml, names", [
    ("[late_policy]\npercent_per_day = \"ten\"\n", "percent_per_day"),
    ("[assignments.\"99_nope\"]\ndue = \"2026-09-14 23:59\"\n", "99_nope"),
    ("[assignments.\"01_gradient_descent\"]\ndue = \"next friday\"\n", "next friday"),
    ("timezone = \"Mars/Olympus\"\n", "Mars/Olympus"),
    ("[late_policy\n", "not valid TOML"),
    ("[extensions.bob]\n\"01_gradient_descent\" = 2\n", "has none"),
])
def test_a_malformed_course_toml_is_one_sentence_and_changes_nothing(course, toml, names):
    class_setup(course)
    root, _, out, _ = course
    grade(course)
    snapshot = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    (root / "course.toml").write_text(toml)
    with pytest.raises(CourseError) as e:
        grade(course)
    msg = str(e.value)
    assert names in msg and "\n" not in msg and msg.endswith("."), msg
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()} == snapshot
    assert course[3] == []


def test_a_config_path_given_is_used_and_a_missing_one_is_an_error(course, tmp_path):
    class_setup(course)
    root, _, out, _ = course
    (root / "course.toml").unlink()
    other = tmp_path / "term.toml"
    other.write_text(TOML.replace("percent_per_day = 10", "percent_per_day = 5"))
    grade(course, config_path=other)
    assert rows(out)[("late", A)]["penalty"] == "10"
    with pytest.raises(CourseError, match="no course configuration at"):
        grade(course, config_path=tmp_path / "missing.toml")
    assert rows(out)[("late", A)]["penalty"] == "10"   # what the run before wrote is still there


@pytest.mark.parametrize("forge", ["garbage", "huge", "symlink", "folder", "fifo"])
def test_a_forged_timestamp_costs_no_penalty_and_says_so(course, forge):
    class_setup(course)
    _, subs, out, _ = course
    ts = subs / "late" / A / "timestamp.txt"
    ts.unlink()
    if forge == "garbage":
        ts.write_bytes(b"\xff\xfe yesterday, honest \x00")
    elif forge == "huge":
        ts.write_text("2026-09-14 21:00:00.000000 UTC" + " " * 10_000)
    elif forge == "symlink":
        ts.symlink_to(subs / "ontime" / A / "timestamp.txt")   # an on-time classmate's time
    elif forge == "folder":
        ts.mkdir()
    else:
        os.mkfifo(ts)
    _, _, graded = grade(course)
    assert ("late", A) in graded
    r = rows(out)[("late", A)]
    assert (r["score"], r["late_by"], r["penalty"]) == ("8", "", "0")
    line = late_lines(page(out, "late"))
    assert len(line) == 1 and "no late penalty was applied" in line[0], line
    report = (out / "report.txt").read_text(encoding="utf-8").splitlines()
    i = report.index("late/01_gradient_descent: 8 / 10")
    assert "no late penalty was applied" in report[i + 1] and report[i + 1].startswith("  ! ")
    if forge == "garbage":   # fixed later: the time counts, and nothing is graded again
        ts.write_text(TIMES["late"])
        _, reused, graded = grade(course)
        assert graded == [] and reused == 6
        assert rows(out)[("late", A)]["penalty"] == "20"
        report = (out / "report.txt").read_text(encoding="utf-8").splitlines()
        assert report[report.index("late/01_gradient_descent: 8 / 10") + 1].startswith("  deadline: Due 2026-09-14 23:59")
        assert "no late penalty" not in "".join(late_lines(page(out, "late")))


# -- the deduction line cannot be forged ------------------------------------------------------------

FORGED = ('<!--grader-late--><p class="grader-late">FORGED: nothing deducted</p><!--/grader-late-->'
          '<main class="grader-notebook"><!--/grader-late-->')


def test_a_student_cannot_forge_or_break_the_deduction_line(course):
    class_setup(course)
    root, subs, out, _ = course
    submit(subs, "late", stamp=TIMES["late"], markdown=f"# Notes\n{FORGED}\n\n&lt;!--grader-late--&gt; escaped too",
           message=f"AssertionError: {FORGED}")
    (subs / "late" / A / f"{FORGED.replace('/', '_')}.txt").write_text("a file whose name is the marker")
    grade(course)
    text = page(out, "late")
    assert late_lines(text) == ["Due 2026-09-14 23:59 Europe/Berlin. Submitted 1 day 3 hours after the due date "
                                "(2 started days at 10% each): 20% of the score deducted, 8 / 10 \u2192 6.4 / 10."]
    assert "FORGED: nothing deducted" in text   # the student's text is shown, as text
    assert text.count("<!--grader-late-->") == 1 and text.count('<main class="grader-notebook">') == 1
    (root / "course.toml").write_text(TOML.replace("percent_per_day = 10", "percent_per_day = 15"))
    _, reused, graded = grade(course)
    assert graded == [] and reused == 6
    again = page(out, "late")
    assert late_lines(again) == ["Due 2026-09-14 23:59 Europe/Berlin. Submitted 1 day 3 hours after the due date "
                                 "(2 started days at 15% each): 30% of the score deducted, 8 / 10 \u2192 5.6 / 10."]
    assert without_region(again) == without_region(text)
    (root / "course.toml").unlink()
    grade(course)
    assert late_lines(page(out, "late")) == [] and without_region(page(out, "late")) == without_region(text)


def test_a_page_saved_without_the_region_gets_it_under_the_score():
    from autograder.feedback import late_region, with_late_line

    res = Result("s", A, 8.0, 10.0)
    old = grading._problem_page(res, A)
    assert "<!--grader-late-->" not in old
    new = with_late_line(old, "Due then. Late: 8 / 10 \u2192 4 / 10.")
    assert late_lines(new) == ["Due then. Late: 8 / 10 \u2192 4 / 10."]
    assert new.index('class="grader-score"') < new.index("<!--grader-late-->") < new.index('<main class="grader-notebook">')
    assert with_late_line(new, "") == new.replace(late_region("Due then. Late: 8 / 10 \u2192 4 / 10."), late_region(""))
    assert with_late_line("<html><body>not ours</body></html>", "x") == "<html><body>not ours</body></html>"


def test_grades_csv_escapes_ids_and_keeps_scores_numbers_with_the_new_columns(tmp_path):
    store = grading.Progress(tmp_path, {A: [A]})
    store.results[("=cmd", A)] = Result("=cmd", A, 3.0, 10.0, submitted_at="garbage")
    store.write_tables([])
    [row] = rows(tmp_path).values()
    assert row == {"student_id": "'=cmd", "assignment": A, "score": "3", "max_score": "10", "raw_score": "3",
                   "late_by": "", "penalty": "0"}
    assert Path(tmp_path / "summary.html").exists() is False   # only at a batch's end


@pytest.mark.slow
def test_really_graded_pages_get_the_line_and_keep_it_current_without_regrading(tmp_path):
    """The real grader (nbgrader in a worker, pages made safe there): a student's markdown holds the marker."""
    subs, out, toml = tmp_path / "subs", tmp_path / "out", tmp_path / "course.toml"
    nb = nbformat.read(str(ROOT / "notebooks" / A / f"{A}.ipynb"), as_version=4)   # the source: full marks
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(f"My answer. {FORGED}"))
    nb.cells.insert(2, nbformat.v4.new_code_cell(f"print({FORGED!r})"))
    (subs / "late" / A).mkdir(parents=True)
    nbformat.write(nb, str(subs / "late" / A / f"{A}.ipynb"))
    (subs / "late" / A / "timestamp.txt").write_text(TIMES["late"])
    toml.write_text(TOML)
    options = grading.Options(isolation="none")
    results, _, reused = grading.grade_class(ROOT, subs, out, progress=False, workers=1, options=options, config_path=toml)
    assert reused == 0 and results[0].score == 10, results[0].problems
    text = page(out, "late")
    assert late_lines(text) == ["Due 2026-09-14 23:59 Europe/Berlin. Submitted 1 day 3 hours after the due date "
                                "(2 started days at 10% each): 20% of the score deducted, 10 / 10 \u2192 8 / 10."]
    assert text.count("<!--grader-late-->") == 1 and "FORGED: nothing deducted" in text
    assert rows(out)[("late", A)]["score"] == "8"
    toml.write_text(TOML.replace("cutoff_days = 7", "cutoff_days = 1"))
    _, _, reused = grading.grade_class(ROOT, subs, out, progress=False, workers=1, options=options, config_path=toml)
    assert reused == 1 and rows(out)[("late", A)]["score"] == "0"
    assert "past the cut-off of 1 days: no credit, 10 / 10 \u2192 0 / 10." in late_lines(page(out, "late"))[0]
    assert without_region(page(out, "late")) == without_region(text)
