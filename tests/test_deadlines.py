"""Late penalties and submission times."""

import datetime as dt
import os

import nbformat
import pytest

from autograder.course_config import LatePolicy
from autograder.deadlines import deduction, format_timestamp, parse_timestamp, read_submission_time
from autograder.submissions import collect

UTC = dt.timezone.utc
DUE = dt.datetime(2026, 9, 14, 23, 59, tzinfo=UTC)
POLICY = LatePolicy(percent_per_day=10, max_percent=30, cutoff_days=7, grace_minutes=5)


@pytest.mark.parametrize("late, percent", [
    (None, 0),                                   # on time (before the due date)
    (dt.timedelta(minutes=4), 0),                # inside the grace period
    (dt.timedelta(minutes=6), 10),               # a started day
    (dt.timedelta(hours=24, minutes=5), 10),     # exactly one day after the grace period
    (dt.timedelta(hours=24, minutes=6), 20),
    (dt.timedelta(days=2, hours=1), 30),
    (dt.timedelta(days=5), 30),                  # capped
    (dt.timedelta(days=7, minutes=1), 100),      # past the cut-off
])
def test_the_policy_deducts_per_started_day_with_grace_cap_and_cutoff(late, percent):
    submitted = DUE - dt.timedelta(hours=1) if late is None else DUE + late
    d = deduction(submitted, DUE, POLICY)
    assert d.percent == percent
    assert d.score(8.0) == pytest.approx(8.0 * (1 - percent / 100))
    assert bool(d.reason) == (percent > 0)
    if percent == 100:
        assert "cut-off" in d.reason and "no credit" in d.reason
    elif percent == 30 and late >= dt.timedelta(days=5):
        assert "(the cap)" in d.reason


def test_no_due_date_or_no_time_means_no_penalty():
    assert deduction(None, DUE, POLICY).percent == 0
    assert deduction(DUE + dt.timedelta(days=3), None, POLICY).percent == 0


def test_a_zero_policy_records_lateness_but_deducts_nothing():
    d = deduction(DUE + dt.timedelta(days=1), DUE, LatePolicy())
    assert d.percent == 0 and d.late_by == dt.timedelta(days=1) and d.reason == ""


def test_timestamps_read_nbgraders_format_and_iso_and_refuse_the_rest():
    when = dt.datetime(2026, 9, 14, 21, 3, 12, 402113, tzinfo=UTC)
    assert parse_timestamp(format_timestamp(when)) == when
    assert format_timestamp(when) == "2026-09-14 21:03:12.402113 UTC"
    assert parse_timestamp("2026-09-14T23:03:12.402113+02:00") == when
    for bad in ("", "yesterday", "2026-13-45 99:99", "x" * 500, "2026-09-14 21:03\n2027-01-01 00:00"):
        assert parse_timestamp(bad) is None, bad


def _submission(tmp_path, student="alice", timestamp=None):
    folder = tmp_path / "subs" / student / "01_gradient_descent"
    folder.mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, str(folder / "01_gradient_descent.ipynb"))
    if timestamp is not None:
        (folder / "timestamp.txt").write_text(timestamp)
    return folder


def test_collect_reads_the_time_and_does_not_call_timestamp_txt_an_ignored_file(tmp_path):
    _submission(tmp_path, timestamp="2026-09-14 21:03:12.402113 UTC")
    subs, _ = collect(tmp_path / "subs", {"01_gradient_descent": ["01_gradient_descent"]})
    assert subs[0].submitted_at == dt.datetime(2026, 9, 14, 21, 3, 12, 402113, tzinfo=UTC)
    assert subs[0].problems == []


def test_a_submission_without_a_time_has_none_and_no_problem(tmp_path):
    _submission(tmp_path)
    subs, _ = collect(tmp_path / "subs", {"01_gradient_descent": ["01_gradient_descent"]})
    assert subs[0].submitted_at is None and subs[0].problems == []


@pytest.mark.parametrize("make, words", [
    (lambda f: (f / "timestamp.txt").symlink_to("/etc/passwd"), "symbolic link"),
    (lambda f: os.mkfifo(f / "timestamp.txt"), "not a file"),
    (lambda f: (f / "timestamp.txt").write_text("2026-09-14 21:03:12 UTC" + " " * 1000), "does not hold a time"),
    (lambda f: (f / "timestamp.txt").write_bytes(b"\xff\xfe garbage"), "does not hold a time"),
    (lambda f: (f / "timestamp.txt").mkdir(), "folder"),
    (lambda f: (f / "timestamp.txt").write_text(format_timestamp(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=400))),
     "still to come"),
])
def test_a_hostile_timestamp_is_one_sentence_and_no_penalty(tmp_path, make, words):
    folder = _submission(tmp_path)
    make(folder)
    when, problem = read_submission_time(folder)
    assert when is None and words in problem and "no late penalty" in problem
    subs, _ = collect(tmp_path / "subs", {"01_gradient_descent": ["01_gradient_descent"]})
    assert subs[0].submitted_at is None and any(words in p for p in subs[0].problems)
    assert subs[0].notebooks   # the notebook is still graded


def test_a_time_a_few_minutes_ahead_of_this_clock_is_still_the_submission_time(tmp_path):
    folder = _submission(tmp_path)
    ahead = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(minutes=10)   # the hub's clock runs fast
    (folder / "timestamp.txt").write_text(format_timestamp(ahead))
    assert read_submission_time(folder) == (ahead, None)
