"""Source notebook -> release -> submission -> autograde -> grades and feedback, for every notebook.

These run nbgrader's real pipeline and execute notebooks, so they take tens of seconds.
"""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import run_course
from notebook_text import SOURCE_NOTEBOOKS, hidden_test_lines, html_text, notebook_text, public_test_lines, solution_lines

import course_lib

pytestmark = pytest.mark.slow
ASSIGNMENTS = sorted({p.parent.name for p in SOURCE_NOTEBOOKS})


def test_every_notebook_has_graded_cells_with_hidden_tests():
    assert SOURCE_NOTEBOOKS, "no source notebooks found under notebooks/"
    for path in SOURCE_NOTEBOOKS:
        nb = nbformat.read(str(path), as_version=4)
        tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert len(tests) >= 3, f"{path.name}: {len(tests)} graded cells, the spec asks for 3-6"
        for cell in tests:
            gid = cell.metadata["nbgrader"]["grade_id"]
            assert "### BEGIN HIDDEN TESTS" in cell.source, f"{path.name}: {gid} has no hidden tests"
            assert cell.metadata["nbgrader"]["points"] > 0


def test_source_notebooks_are_stored_without_outputs():
    for path in SOURCE_NOTEBOOKS:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name} has outputs"


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    proc = run_course("release", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


def test_release_layout_and_no_solutions(released):
    for src in SOURCE_NOTEBOOKS:
        rel = released / src.parent.name / src.name
        assert rel.exists(), f"missing {rel}"
        text = notebook_text(rel)
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS"):
            assert marker not in text
        leaked = [ln for ln in solution_lines(src) + hidden_test_lines(src) if ln in text]
        assert not leaked, f"{rel.name} leaks: {leaked[:3]}"
        assert "raise NotImplementedError()" in text
        # the public tests do ship, so the search above is able to find lines that are there
        assert all(ln in text for ln in public_test_lines(src))


def test_release_helper_package_has_no_reference_solutions(released):
    for a in ASSIGNMENTS:
        lib = released / a / "course_lib"
        shipped = {p.stem for p in lib.glob("*.py")}
        assert "landscapes" in shipped and "checks" in shipped
        # the release boundary is a folder: no solutions/ sub-package, and no module of its names
        assert not (lib / "solutions").exists()
        answers = {p.stem for p in (Path(course_lib.__file__).parent / "solutions").glob("*.py")} - {"__init__"}
        assert answers and not shipped & answers, shipped & answers
        # a kernel started in the assignment folder imports this copy, and the solutions are not there
        code = ("import course_lib, importlib.util as u; print(course_lib.__file__)\n"
                "try: print(u.find_spec('course_lib.solutions.optim'))\nexcept ImportError: print(None)")
        out = subprocess.run([sys.executable, "-c", code], cwd=released / a, capture_output=True, text=True).stdout.split()
        assert out[0].startswith(str(released / a)), out
        assert out[1] == "None"


@pytest.fixture(scope="module")
def graded(tmp_path_factory, released):
    subs = tmp_path_factory.mktemp("submissions")
    for src in SOURCE_NOTEBOOKS:
        a = src.parent.name
        for student, nb in (("ada_solution", src), ("bob_blank", released / a / src.name)):
            (subs / student / a).mkdir(parents=True, exist_ok=True)
            shutil.copy(nb, subs / student / a / src.name)
        (subs / "carl_broken" / a).mkdir(parents=True, exist_ok=True)
        (subs / "carl_broken" / a / src.name).write_text("{ this is not json")
    # one known mistake in notebook 01 (an equal loss counted as an improvement) must cost exactly that exercise
    nb01 = next(p for p in SOURCE_NOTEBOOKS if p.parent.name == "01_gradient_descent")
    wrong = nb01.read_text().replace("if loss < best - min_delta:", "if loss <= best - min_delta:")
    assert wrong != nb01.read_text()
    (subs / "dan_partial" / nb01.parent.name).mkdir(parents=True)
    (subs / "dan_partial" / nb01.parent.name / nb01.name).write_text(wrong)
    # a syntax error in a solution cell: the report must point at that cell, not only at the NameErrors after it
    broken = nb01.read_text().replace("def gd_step(w, grad, lr):", "def gd_step(w, grad, lr)")
    assert broken != nb01.read_text()
    (subs / "eve_syntax" / nb01.parent.name).mkdir(parents=True)
    (subs / "eve_syntax" / nb01.parent.name / nb01.name).write_text(broken)
    out = tmp_path_factory.mktemp("graded")
    proc = run_course("grade", subs, "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return out, rows, proc


def test_grades_full_marks_for_the_source_and_zero_for_the_release(graded):
    out, rows, _ = graded
    assert list(rows[0].keys()) == ["student_id", "assignment", "score", "max_score", "raw_score", "late_by", "penalty"]
    # no course.toml and no timestamp.txt: the final score is the raw score, nothing late or deducted
    assert all((r["score"], r["late_by"], r["penalty"]) == (r["raw_score"], "", "0") for r in rows), rows
    by = {(r["student_id"], r["assignment"]): r for r in rows}
    for a in ASSIGNMENTS:
        sol, blank = by[("ada_solution", a)], by[("bob_blank", a)]
        assert float(sol["max_score"]) > 0
        assert float(sol["score"]) == float(sol["max_score"]), f"{a}: the source notebook lost points"
        assert float(blank["score"]) == 0.0, f"{a}: the unmodified release scored {blank['score']}"
        assert float(by[("carl_broken", a)]["score"]) == 0.0
    partial = by[("dan_partial", "01_gradient_descent")]
    assert (float(partial["score"]), float(partial["max_score"])) == (7.0, 10.0), partial


def test_a_syntax_error_is_reported_at_its_cell(graded):
    out, rows, _ = graded
    eve = next(r for r in rows if r["student_id"] == "eve_syntax")
    assert float(eve["score"]) == 6.0, eve  # gd_step (1) and gradient_descent (3), which uses it, are lost
    assert "Your cell 'gd_step' stopped with SyntaxError" in (out / "report.txt").read_text()


def test_partial_feedback_names_the_failed_exercise_and_the_mistake(graded):
    out, _, _ = graded
    text = html_text(out / "feedback" / "dan_partial" / "01_gradient_descent" / "01_gradient_descent.html")
    assert "An equal loss is not an improvement" in text


def test_a_broken_submission_is_reported_in_one_sentence_and_the_batch_goes_on(graded):
    out, rows, proc = graded
    report = (out / "report.txt").read_text()
    assert "carl_broken" in report and "not valid notebook JSON" in report
    assert "Traceback" not in proc.stderr + proc.stdout
    for a in ASSIGNMENTS:
        page = out / "feedback" / "carl_broken" / a
        assert any("not valid notebook JSON" in html_text(p) for p in page.glob("*.html"))


def test_feedback_never_shows_hidden_tests(graded):
    out, _, _ = graded
    for src in SOURCE_NOTEBOOKS:
        a = src.parent.name
        # a hidden-test line that is also a solution line (say `for loss in losses:`) shows legitimately:
        # it is the student's own code
        hidden = [ln for ln in hidden_test_lines(src) if ln not in set(solution_lines(src))]
        assert hidden
        for student in ("ada_solution", "bob_blank"):
            page = out / "feedback" / student / a / f"{src.stem}.html"
            text = html_text(page)
            assert not [ln for ln in hidden if ln in text], f"hidden tests in {page}"
            assert "Traceback (most recent call last)" not in text
            assert public_test_lines(src)[0] in text  # the search does find test lines that are shown


def test_blank_feedback_says_what_is_missing(graded):
    out, _, _ = graded
    src = SOURCE_NOTEBOOKS[0]
    text = html_text(out / "feedback" / "bob_blank" / src.parent.name / f"{src.stem}.html")
    assert "NotImplementedError" in text


def test_course_check_on_the_source_gives_full_marks_and_no_hidden_source():
    src = SOURCE_NOTEBOOKS[0]
    proc = run_course("check", src)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    score, max_score = first.split(":")[1].split("/")
    assert float(score) == float(max_score) > 0, proc.stdout
    assert not [ln for ln in hidden_test_lines(src) if ln in proc.stdout]


def test_course_check_on_the_release_names_each_failing_exercise(released):
    src = SOURCE_NOTEBOOKS[0]
    proc = run_course("check", released / src.parent.name / src.name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split(":")[1].split("/")[0].strip() == "0"
    assert proc.stdout.count("\u2718") >= 3 and "NotImplementedError" in proc.stdout
