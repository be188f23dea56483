"""Late submissions: when a submission was made, how late it was, and what that costs.

A submission's time is its ``timestamp.txt`` (nbgrader's own file, which ``nbgrader submit``
writes and ``course collect`` keeps; format ``2026-09-14 21:03:12.402113 UTC``), read like a
notebook: a regular file, never through a link, a few hundred bytes at most. A submission
without one has no time, and no late penalty can apply to it (the report says so).

:func:`deduction` is the whole policy (:class:`autograder.course_config.LatePolicy`): a
submission ``late_by`` after its due date, beyond ``grace_minutes``, loses ``percent_per_day``
of its raw score for every day or part of a day, at most ``max_percent``; past ``cutoff_days``
it loses everything. The penalty is computed from the saved raw score each time the tables
are written, so changing the policy or an extension regrades nothing.
"""

import datetime as dt
import math
from dataclasses import dataclass

from autograder.submissions import read_regular

TIMESTAMP_FILE = "timestamp.txt"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"     # nbgrader's Exchange.timestamp_format, in UTC
MAX_TIMESTAMP_BYTES = 256
DAY = dt.timedelta(days=1)
FUTURE_SLACK = dt.timedelta(hours=1)    # a time later than now by more than this (clocks differ a little) is no submission time


@dataclass(frozen=True)
class Deduction:
    late_by: dt.timedelta     # zero when on time
    percent: float            # of the raw score
    reason: str               # one sentence ("" when nothing is deducted)

    def score(self, raw):
        return raw * (1.0 - self.percent / 100.0)


ON_TIME = Deduction(dt.timedelta(0), 0.0, "")


def format_timestamp(when):
    """``when`` (aware) as nbgrader writes ``timestamp.txt``: UTC, microseconds."""
    return when.astimezone(dt.timezone.utc).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text):
    """A ``timestamp.txt``'s time as an aware UTC datetime, or ``None`` if it is not one.

    Accepts nbgrader's format and ISO 8601; a time without a zone is UTC (nbgrader's default)."""
    from nbgrader.utils import parse_utc

    text = text.strip()
    if not text or len(text) > 64 or "\n" in text:
        return None
    try:
        naive_utc = parse_utc(text)
    except (ValueError, OverflowError, TypeError, AttributeError):
        return None
    if not isinstance(naive_utc, dt.datetime):
        return None
    return naive_utc.replace(tzinfo=dt.timezone.utc)


def read_submission_time(folder_fd_or_path, name=TIMESTAMP_FILE):
    """``(time, problem)``: the submission's time from its ``timestamp.txt`` in an open folder
    (a descriptor) or a folder path; ``(None, None)`` when there is no such file, ``(None,
    sentence)`` when there is one that is not a time, a time still to come (beyond
    :data:`FUTURE_SLACK`), or not a plain file."""
    import os

    dir_fd = folder_fd_or_path if isinstance(folder_fd_or_path, int) else None
    name = name if dir_fd is not None else os.path.join(os.fspath(folder_fd_or_path), name)
    try:
        os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return None, None
    except OSError:
        return None, "The submission's timestamp.txt could not be read, so its time is unknown and no late penalty was applied."
    data, why = read_regular(name, dir_fd=dir_fd, cap=MAX_TIMESTAMP_BYTES)
    if data is None:
        return None, f"The submission time is unknown, so no late penalty was applied: {why}"
    try:
        when = parse_timestamp(data.decode("utf-8")) if len(data) <= MAX_TIMESTAMP_BYTES else None
    except UnicodeDecodeError:
        when = None
    if when is None:
        return None, ("The submission's timestamp.txt does not hold a time (nbgrader writes e.g. "
                      "2026-09-14 21:03:12.402113 UTC), so no late penalty was applied.")
    if when > dt.datetime.now(dt.timezone.utc) + FUTURE_SLACK:
        return None, (f"The submission's timestamp.txt says {format_timestamp(when)}, which is still to come, so it "
                      "is not the time it was handed in; no late penalty was applied.")
    return when, None


def _span(delta):
    """A duration for people: "3 days 2 hours", "45 minutes"."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n]
    return " ".join(parts[:2]) or "less than a minute"


def deduction(submitted_at, due, policy):
    """What lateness costs under ``policy``: a :class:`Deduction` (``ON_TIME`` when there is no
    due date, no submission time, or the submission was in time)."""
    if due is None or submitted_at is None or submitted_at <= due:
        return ON_TIME
    late = submitted_at - due
    if late <= dt.timedelta(minutes=policy.grace_minutes):
        return Deduction(late, 0.0, "")
    if policy.cutoff_days is not None and late > policy.cutoff_days * DAY:
        return Deduction(late, 100.0, f"submitted {_span(late)} after the due date, past the cut-off of "
                                      f"{policy.cutoff_days:g} days: no credit")
    days = math.ceil((late - dt.timedelta(minutes=policy.grace_minutes)) / DAY)
    percent = min(days * policy.percent_per_day, policy.max_percent)
    if percent <= 0:
        return Deduction(late, 0.0, "")
    capped = " (the cap)" if percent == policy.max_percent and days * policy.percent_per_day > percent else ""
    return Deduction(late, percent, f"submitted {_span(late)} after the due date ({days} started day{'s' if days != 1 else ''} "
                                    f"at {policy.percent_per_day:g}% each): {percent:g}%{capped} of the score deducted")


def late_by_text(delta):
    """``late_by`` for grades.csv: hours, two decimals ("" when on time)."""
    return "" if delta <= dt.timedelta(0) else f"{delta.total_seconds() / 3600:.2f}h"
