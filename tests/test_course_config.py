"""course.toml and the roster: what they say, and one sentence for each way to get them wrong."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from autograder.course_config import ConfigError, read_config, read_roster

ASSIGNMENTS = ["01_gradient_descent", "02_sgd_minibatch"]

GOOD = """
course_id = "optim-2026"
roster = "roster.csv"
timezone = "America/New_York"

[late_policy]
percent_per_day = 10
max_percent = 30
cutoff_days = 7
grace_minutes = 5

[assignments."01_gradient_descent"]
due = "2026-09-14 23:59"
lms_column = "Gradient descent (123)"

[assignments."02_sgd_minibatch"]
due = 2026-09-21T23:59:00+02:00

[extensions.alice]
"01_gradient_descent" = "2026-09-16 12:00"
"02_sgd_minibatch" = 2
"""


def _write(tmp_path, text, roster="student_id,name,canvas_id\nalice,Alice A,101\nbob,Bob B,102\n"):
    (tmp_path / "course.toml").write_text(text)
    if roster is not None:
        (tmp_path / "roster.csv").write_text(roster)
    return tmp_path


def test_a_full_configuration_reads_as_written(tmp_path):
    cfg = read_config(_write(tmp_path, GOOD), ASSIGNMENTS)
    ny = ZoneInfo("America/New_York")
    assert cfg.course_id == "optim-2026"
    assert cfg.due["01_gradient_descent"] == dt.datetime(2026, 9, 14, 23, 59, tzinfo=ny)
    assert cfg.due["02_sgd_minibatch"].utcoffset() == dt.timedelta(hours=2)          # its own offset wins
    assert cfg.due_for("alice", "01_gradient_descent") == dt.datetime(2026, 9, 16, 12, 0, tzinfo=ny)
    assert cfg.due_for("alice", "02_sgd_minibatch") == cfg.due["02_sgd_minibatch"] + dt.timedelta(days=2)
    assert cfg.due_for("bob", "01_gradient_descent") == cfg.due["01_gradient_descent"]
    assert (cfg.late_policy.percent_per_day, cfg.late_policy.max_percent, cfg.late_policy.cutoff_days,
            cfg.late_policy.grace_minutes) == (10, 30, 7, 5)
    assert cfg.lms_columns == {"01_gradient_descent": "Gradient descent (123)"}
    assert [s.student_id for s in cfg.roster()] == ["alice", "bob"]
    assert cfg.roster()[0].canvas_id == "101"


def test_no_file_means_no_deadlines(tmp_path):
    cfg = read_config(tmp_path, ASSIGNMENTS)
    assert cfg.due == {} and cfg.roster() == [] and cfg.due_for("x", "01_gradient_descent") is None


@pytest.mark.parametrize("text, words", [
    ("percent_per_day = 10\n", ["no key 'percent_per_day'", "late_policy"]),
    ("[late_policy]\npercent_per_days = 10\n", ["[late_policy] has no key 'percent_per_days'"]),
    ("[late_policy]\npercent_per_day = \"ten\"\n", ["percent_per_day must be a number between 0 and 100"]),
    ("[late_policy]\npercent_per_day = 150\n", ["percent_per_day must be a number between 0 and 100"]),
    ("[late_policy]\ncutoff_days = -1\n", ["cutoff_days must be a number at least 0"]),
    ("[assignments.\"03_nope\"]\ndue = \"2026-09-14 23:59\"\n", ["03_nope", "names no assignment", "01_gradient_descent"]),
    ("[assignments.\"01_gradient_descent\"]\ndue = \"14/09/2026\"\n", ["is not a date and time", "2026-09-14 23:59"]),
    ("[assignments.\"01_gradient_descent\"]\ndue = 2026-09-14\n", ["has no time of day", "2026-09-14 23:59"]),
    ("[assignments.\"01_gradient_descent\"]\ntimezone = \"UTC\"\n", ["has no due date"]),
    ("timezone = \"Mars/Olympus\"\n", ["is not a time zone name"]),
    ("[extensions.alice]\n\"01_gradient_descent\" = 2\n", ["adds days to a due date", "has none"]),
    ("[extensions.alice]\n\"09_x\" = \"2026-09-14 23:59\"\n", ["names no assignment"]),
    ("roster = 5\n", ["roster must be the path of a CSV file"]),
    ("course_id = \"a/b\"\n", ["course_id must be a name"]),
    ("this is = not toml [\n", ["is not valid TOML"]),
])
def test_each_mistake_in_course_toml_gets_one_sentence_naming_it(tmp_path, text, words):
    with pytest.raises(ConfigError) as e:
        read_config(_write(tmp_path, text, roster=None), ASSIGNMENTS)
    msg = str(e.value)
    assert all(w in msg for w in words), msg
    assert "\n" not in msg and msg.startswith("course.toml")


@pytest.mark.parametrize("roster, words", [
    ("name,canvas_id\nAlice,1\n", ["no student_id column"]),
    ("student_id,name\nalice,A\nalice,B\n", ["lists student_id 'alice' twice (rows 2 and 3)"]),
    ("student_id,name\n,A\n", ["row 2, has no student_id"]),
    ("student_id,canvas_id\nalice,5\nbob,5\n", ["gives canvas_id '5' to two students (rows 2 and 3)"]),
    ("student_id,canvas_id\nalice,abc\n", ["canvas_id 'abc' is not a number"]),
    ("student_id,favourite_colour\nalice,red\n", ["column 'favourite_colour'"]),
    ("student_id\n../etc\n", ["cannot be a folder name"]),
    ("student_id\n", ["no students"]),
    ("", ["is empty"]),
])
def test_each_mistake_in_the_roster_gets_one_sentence(tmp_path, roster, words):
    path = tmp_path / "roster.csv"
    path.write_text(roster)
    with pytest.raises(ConfigError) as e:
        read_roster(path)
    assert all(w in str(e.value) for w in words), str(e.value)


def test_a_roster_from_excel_with_a_byte_order_mark_and_blank_rows_reads(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes("\ufeffStudent_ID,Name,Email\r\nalice,\"Doe, Alice\",a@x.org\r\n,,\r\nbob,Bob,b@x.org\r\n".encode("utf-8"))
    students = read_roster(path)
    assert [(s.student_id, s.name, s.email) for s in students] == [("alice", "Doe, Alice", "a@x.org"), ("bob", "Bob", "b@x.org")]


def test_a_missing_roster_file_is_named(tmp_path):
    cfg = read_config(_write(tmp_path, 'roster = "nowhere.csv"\n', roster=None), ASSIGNMENTS)
    with pytest.raises(ConfigError, match="could not be read"):
        cfg.roster()


def test_an_extension_for_a_student_not_on_the_roster_is_one_sentence(tmp_path):
    text = GOOD.replace("[extensions.alice]", "[extensions.alcie]")
    with pytest.raises(ConfigError) as e:
        read_config(_write(tmp_path, text), ASSIGNMENTS)
    assert "[extensions.alcie] names no student of the roster roster.csv" in str(e.value)
    (tmp_path / "roster.csv").unlink()      # no roster file yet: nothing to check the extension against
    assert ("alcie", "01_gradient_descent") in read_config(tmp_path, ASSIGNMENTS).extensions
