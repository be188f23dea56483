"""Grades out: Canvas's and Moodle's import layouts, and a plain CSV."""

import csv
import datetime as dt
import io

import pytest

from autograder import CourseError
from autograder.course_config import CourseConfig, LatePolicy, Student
from autograder.export import export
from autograder.final_grades import final_grade

UTC = dt.timezone.utc
DUE = dt.datetime(2026, 9, 14, 23, 59, tzinfo=UTC)
ROSTER = [Student("alice", name="Doe, Alice", canvas_id="4021", sis_user_id="S1", sis_login_id="adoe", section="A",
                  email="alice@uni.example", id_number="1001"),
          Student("bob", name="Bob B", canvas_id="4022", email="bob@uni.example", id_number="1002"),
          Student("dave", name="Dave D", canvas_id="4024", email="dave@uni.example")]
ASSIGNMENTS = ["01_gradient_descent", "02_sgd_minibatch"]


class R:
    def __init__(self, student, assignment, score, max_score, cells=()):
        self.student, self.assignment, self.score, self.max_score = student, assignment, score, max_score
        self.cells, self.problems = list(cells), []


def _grades():
    cfg = CourseConfig(late_policy=LatePolicy(percent_per_day=10), due={"01_gradient_descent": DUE})
    cells = [["01_gradient_descent", "test_gd_step", 1, 1, ""], ["01_gradient_descent", "test_should_stop", 2, 3, "x"]]
    return [final_grade(R("alice", "01_gradient_descent", 9, 10, cells), cfg, DUE - dt.timedelta(hours=1)),
            final_grade(R("bob", "01_gradient_descent", 8, 10, cells), cfg, DUE + dt.timedelta(hours=30)),   # 2 days late: -20%
            final_grade(R("bob", "02_sgd_minibatch", 10, 10), cfg, None),
            final_grade(R("zoe", "01_gradient_descent", 5, 10), cfg, None)]                                 # not in the roster


def _rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_canvas_layout_matches_its_gradebook_export():
    text, notes = export(_grades(), ROSTER, ASSIGNMENTS, "canvas", lms_columns={"01_gradient_descent": "Gradient descent (123)"})
    rows = _rows(text)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Gradient descent (123)", "02_sgd_minibatch"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "10", "10"]
    assert rows[2] == ["Doe, Alice", "4021", "S1", "adoe", "A", "9", ""]
    assert rows[3] == ["Bob B", "4022", "", "", "", "6.4", "10"]            # 8 less 20% for two started days
    assert rows[4] == ["Dave D", "4024", "", "", "", "", ""]                # no submission: empty, not 0
    assert "not in the roster, so not exported: zoe" in notes
    assert "in the roster but not graded (exported with empty cells): dave" in notes


def test_moodle_layout_has_identifier_columns_and_one_column_per_assignment():
    text, _ = export(_grades(), ROSTER, ASSIGNMENTS, "moodle")
    rows = _rows(text)
    assert rows[0] == ["Email address", "ID number", "Full name", "01_gradient_descent", "02_sgd_minibatch"]
    assert rows[1] == ["alice@uni.example", "1001", "Doe, Alice", "9", ""]
    assert rows[2] == ["bob@uni.example", "1002", "Bob B", "6.4", "10"]


def test_plain_csv_with_per_exercise_columns_and_totals():
    text, _ = export(_grades(), ROSTER, ASSIGNMENTS, "csv", per_exercise=True)
    rows = _rows(text)
    assert rows[0] == ["student_id", "name", "01_gradient_descent", "01_gradient_descent: test_gd_step",
                       "01_gradient_descent: test_should_stop", "02_sgd_minibatch", "total"]
    assert rows[1] == ["alice", "Doe, Alice", "9", "1", "2", "", "9"]
    assert rows[2] == ["bob", "Bob B", "6.4", "1", "2", "10", "16.4"]
    assert rows[-1][0] == "zoe"     # graded, not in the roster: still in the plain table


def test_ids_that_look_like_formulas_are_not_run_by_a_spreadsheet():
    roster = [Student("=cmd|'/c calc'!A1", name="@SUM(1)", canvas_id="1", email="e@x")]
    grades = [final_grade(R("=cmd|'/c calc'!A1", "01_gradient_descent", 1, 1), None)]
    for fmt in ("canvas", "moodle", "csv"):
        text, _ = export(grades, roster, ASSIGNMENTS, fmt)
        for row in _rows(text):
            assert not any(cell[:1] in ("=", "@", "+") for cell in row), (fmt, row)


def test_what_an_lms_export_needs_is_named():
    with pytest.raises(CourseError, match="needs the roster"):
        export(_grades(), [], ASSIGNMENTS, "canvas")
    with pytest.raises(CourseError, match="no canvas_id for dave"):
        export(_grades(), ROSTER[:2] + [Student("dave")], ASSIGNMENTS, "canvas")
    with pytest.raises(CourseError, match="identifier Moodle knows"):
        export(_grades(), [Student("alice"), Student("bob")], ASSIGNMENTS, "moodle")
    with pytest.raises(CourseError, match="--format must be one of"):
        export(_grades(), ROSTER, ASSIGNMENTS, "blackboard")


def test_saved_records_of_course_grade_read_back_as_final_grades(tmp_path):
    import json
    from dataclasses import asdict

    from autograder.final_grades import saved_grades
    from autograder.grading import STATE_DIR, Result, record_name

    cfg = CourseConfig(late_policy=LatePolicy(percent_per_day=10), due={"01_gradient_descent": DUE})
    for student, score, when in (("alice", 9, "2026-09-14 20:00:00.000000 UTC"), ("bob", 8, "2026-09-15 12:00:00.000000 UTC")):
        res = Result(student, "01_gradient_descent", score, 10, cells=[["01_gradient_descent", "test_gd_step", 1, 1, ""]])
        record = {"key": "k", "result": {**{k: v for k, v in asdict(res).items() if k != "feedback"}, "submitted_at": when}}
        path = tmp_path / STATE_DIR / record_name(student) / f"{record_name('01_gradient_descent')}.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(record))
    (tmp_path / STATE_DIR / "broken").mkdir()
    (tmp_path / STATE_DIR / "broken" / "x.json").write_text("{ not json")
    grades = saved_grades(tmp_path, cfg)
    assert [(g.student, g.raw_score, g.penalty, g.score) for g in grades] == [("alice", 9, 0, 9), ("bob", 8, 10, 7.2)]


def test_lms_column_heads_the_lms_files_and_the_plain_csv_keeps_the_assignment_id():
    lms = {"01_gradient_descent": "Gradient descent (123)"}
    assert _rows(export(_grades(), ROSTER, ASSIGNMENTS, "moodle", lms_columns=lms)[0])[0][3] == "Gradient descent (123)"
    header = _rows(export(_grades(), ROSTER, ASSIGNMENTS, "csv", lms_columns=lms)[0])[0]
    assert header == ["student_id", "name", "01_gradient_descent", "02_sgd_minibatch", "total"]


def test_a_moodle_row_without_one_of_the_identifiers_is_named():
    _, notes = export(_grades(), ROSTER, ASSIGNMENTS, "moodle")
    assert "in the roster without ID number, so Moodle matches this row only by another identifier: dave" not in notes  # not graded
    roster = ROSTER[:1] + [Student("bob", name="Bob B", canvas_id="4022", email="bob@uni.example")]
    _, notes = export(_grades(), roster, ASSIGNMENTS, "moodle")
    assert "in the roster without ID number, so Moodle matches this row only by another identifier: bob" in notes
    assert not any("alice" in n for n in notes)


def test_the_export_file_is_written_whole_and_the_instructor_s_alone(tmp_path):
    from autograder.export import write_export

    out = tmp_path / "grades-canvas.csv"
    out.write_text("old")
    write_export(out, "Student,ID\n")
    assert out.read_text() == "Student,ID\n" and out.stat().st_mode & 0o077 == 0
    assert [p.name for p in tmp_path.iterdir()] == ["grades-canvas.csv"]      # no temporary file left
