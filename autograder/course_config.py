"""The instructor's term: ``course.toml`` at the course root, and the roster it names.

An example (every key is optional; without the file there are no deadlines and no roster)::

    course_id = "optim-dl-2026"        # nbgrader's course id in the exchange (default "course")
    roster = "roster.csv"              # relative to course.toml
    timezone = "Europe/Berlin"         # for due dates written without an offset (default UTC)

    [late_policy]
    percent_per_day = 10               # of the raw score, per started day late
    max_percent = 50                   # the most the lateness alone can cost
    cutoff_days = 7                    # later than this: no credit (omit for none)
    grace_minutes = 5                  # this late counts as on time

    [assignments."01_gradient_descent"]
    due = "2026-09-14 23:59"           # or a TOML date-time, with or without an offset
    lms_column = "Gradient descent (12345)"   # its column in a Canvas/Moodle export (default: the id)

    [extensions.alice]                 # per student, per assignment
    "01_gradient_descent" = "2026-09-16 23:59"   # a new due date ...
    "02_sgd_minibatch" = 2                       # ... or a number of days added

The roster is a CSV file with a header row: ``student_id`` (required, the folder names under
``SUBMISSIONS/``), and any of ``name``, ``email``, ``canvas_id`` (Canvas's numeric user id),
``sis_user_id``, ``sis_login_id``, ``section``, ``username`` (Moodle's), ``id_number``
(Moodle's "ID number").

Every problem with either file is one :class:`ConfigError` sentence that names the file, the
key or row, and what to write instead; an extension for a student the roster does not list is
one of them.
"""

import csv
import datetime as dt
import io
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from autograder import CourseError

CONFIG_NAME = "course.toml"
TOP_KEYS = {"course_id", "roster", "timezone", "late_policy", "assignments", "extensions"}
POLICY_KEYS = {"percent_per_day", "max_percent", "cutoff_days", "grace_minutes"}
ASSIGNMENT_KEYS = {"due", "timezone", "lms_column"}
ROSTER_COLUMNS = ("student_id", "name", "email", "canvas_id", "sis_user_id", "sis_login_id", "section",
                  "username", "id_number")
MAX_ROSTER_BYTES = 16 * 1024 * 1024


class ConfigError(CourseError):
    """``course.toml`` or the roster is wrong; the message says where and what to write."""


@dataclass(frozen=True)
class LatePolicy:
    """How lateness costs points: ``percent_per_day`` of the raw score for every started day
    after the due date (after ``grace_minutes``), at most ``max_percent``; past
    ``cutoff_days`` days, no credit at all."""

    percent_per_day: float = 0.0
    max_percent: float = 100.0
    cutoff_days: float | None = None
    grace_minutes: float = 0.0


@dataclass(frozen=True)
class Student:
    student_id: str
    name: str = ""
    email: str = ""
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    username: str = ""
    id_number: str = ""


@dataclass(frozen=True)
class CourseConfig:
    path: Path | None = None
    timezone: str = "UTC"
    late_policy: LatePolicy = LatePolicy()
    due: dict = field(default_factory=dict)          # assignment -> aware datetime
    extensions: dict = field(default_factory=dict)   # (student, assignment) -> aware datetime (the new due date)
    roster_path: Path | None = None
    course_id: str = "course"                        # nbgrader's course id in the exchange
    lms_columns: dict = field(default_factory=dict)  # assignment -> its column header in an LMS export

    def due_for(self, student, assignment):
        """The due date that holds for this student (an extension's, else the assignment's), or ``None``."""
        return self.extensions.get((student, assignment), self.due.get(assignment))

    def roster(self):
        """The roster's students in file order (``[]`` when the configuration names none)."""
        return read_roster(self.roster_path) if self.roster_path else []


def _where(path):
    return path.name if path else CONFIG_NAME


def _zone(name, path, key):
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{_where(path)}: {key} must be a time zone name in quotes, e.g. {key} = \"Europe/Berlin\".")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{_where(path)}: {key} = \"{name}\" is not a time zone name; write one such as \"UTC\", "
                          "\"Europe/Berlin\" or \"America/New_York\".") from None


def parse_due(value, zone, path, key):
    """A due date from ``course.toml``: a TOML date-time or a string such as ``"2026-09-14 23:59"``;
    without an offset it is read in ``zone``. Returns an aware datetime."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ConfigError(f"{_where(path)}: {key} = \"{value}\" is not a date and time; write it as "
                              f"\"2026-09-14 23:59\" (in the course's time zone) or \"2026-09-14T23:59:00+02:00\".") from None
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        raise ConfigError(f"{_where(path)}: {key} = {value} has no time of day; write \"{value} 23:59\" for the end of that day.")
    if not isinstance(value, dt.datetime):
        raise ConfigError(f"{_where(path)}: {key} must be a date and time such as \"2026-09-14 23:59\".")
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def _number(table, key, path, section, low=0.0, high=None, example=""):
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low \
            or (high is not None and value > high):
        rng = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigError(f"{_where(path)}: [{section}] {key} must be a number {rng}, e.g. {key} = {example}.")
    return float(value)


def _unknown(keys, allowed, path, where):
    extra = sorted(set(keys) - set(allowed))
    if extra:
        raise ConfigError(f"{_where(path)}: {where} has no key '{extra[0]}'; the keys it takes are "
                          f"{', '.join(sorted(allowed))}.")


def read_config(course_root, assignments, path=None):
    """The course's configuration: ``path``, else ``COURSE_ROOT/course.toml``; an empty
    configuration when that file does not exist (and ``path`` was not given)."""
    explicit = path is not None
    path = Path(path) if explicit else Path(course_root) / CONFIG_NAME
    if not path.exists():
        if explicit:
            raise ConfigError(f"There is no course configuration at {path}; write one (see the README's \"A semester\") "
                              "or leave out --config.")
        return CourseConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name} is not UTF-8 text; save it as UTF-8.") from None
    except OSError as e:
        raise ConfigError(f"{path} could not be read ({e.strerror}); check that it is a readable file.") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path.name} is not valid TOML ({e}); fix that line.") from None
    cfg = config_from(data, path, assignments)
    _check_extensions(cfg)
    return cfg


def _check_extensions(cfg):
    """Refuse an extension for a student the roster does not list (a misspelt id would leave the
    student's own submission late without a word). Without a roster, or before its file
    exists, there is nothing to check against."""
    if not cfg.extensions or cfg.roster_path is None or not cfg.roster_path.is_file():
        return
    listed = {s.student_id for s in cfg.roster()}
    for student, _ in cfg.extensions:
        if student not in listed:
            raise ConfigError(f"{_where(cfg.path)}: [extensions.{student}] names no student of the roster "
                              f"{cfg.roster_path.name}; write the student_id as the roster has it, or add the student to it.")


def config_from(data, path, assignments):
    _unknown(data, TOP_KEYS, path, "the file")
    zone_name = data.get("timezone", "UTC")
    zone = _zone(zone_name, path, "timezone")

    policy = data.get("late_policy", {})
    if not isinstance(policy, dict):
        raise ConfigError(f"{_where(path)}: late_policy must be a table: write [late_policy] on a line of its own, then its keys.")
    _unknown(policy, POLICY_KEYS, path, "[late_policy]")
    kw = {}
    if "percent_per_day" in policy:
        kw["percent_per_day"] = _number(policy, "percent_per_day", path, "late_policy", 0, 100, "10")
    if "max_percent" in policy:
        kw["max_percent"] = _number(policy, "max_percent", path, "late_policy", 0, 100, "50")
    if "cutoff_days" in policy:
        kw["cutoff_days"] = _number(policy, "cutoff_days", path, "late_policy", 0, None, "7")
    if "grace_minutes" in policy:
        kw["grace_minutes"] = _number(policy, "grace_minutes", path, "late_policy", 0, None, "5")
    late_policy = LatePolicy(**kw)

    course_id = data.get("course_id", "course")
    if not isinstance(course_id, str) or not course_id or "/" in course_id or "+" in course_id or course_id.startswith("."):
        raise ConfigError(f"{_where(path)}: course_id must be a name in quotes without '/' or '+', e.g. course_id = \"optim-dl-2026\".")
    known = set(assignments)
    due, lms_columns = {}, {}
    table = data.get("assignments", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{_where(path)}: assignments must be tables, one per assignment: [assignments.\"01_gradient_descent\"].")
    for a, entry in table.items():
        if a not in known:
            raise ConfigError(f"{_where(path)}: [assignments.\"{a}\"] names no assignment of this course; "
                              f"the course has {', '.join(sorted(known)) or 'none'}.")
        if not isinstance(entry, dict):
            raise ConfigError(f"{_where(path)}: assignments.\"{a}\" must be a table with a due date: "
                              f"[assignments.\"{a}\"] then due = \"2026-09-14 23:59\".")
        _unknown(entry, ASSIGNMENT_KEYS, path, f"[assignments.\"{a}\"]")
        if "due" not in entry and set(entry) - {"lms_column"}:
            raise ConfigError(f"{_where(path)}: [assignments.\"{a}\"] has no due date; add due = \"2026-09-14 23:59\".")
        if "lms_column" in entry:
            if not isinstance(entry["lms_column"], str) or not entry["lms_column"].strip():
                raise ConfigError(f"{_where(path)}: [assignments.\"{a}\"] lms_column must be a column header in quotes, "
                                  "e.g. lms_column = \"Gradient descent (12345)\".")
            lms_columns[a] = entry["lms_column"].strip()
        a_zone = _zone(entry["timezone"], path, f"[assignments.\"{a}\"] timezone") if "timezone" in entry else zone
        if "due" in entry:
            due[a] = parse_due(entry["due"], a_zone, path, f"[assignments.\"{a}\"] due")

    extensions = {}
    table = data.get("extensions", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{_where(path)}: extensions must be tables, one per student: [extensions.alice].")
    for student, entry in table.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{_where(path)}: extensions.{student} must be a table: [extensions.{student}] then "
                              "\"01_gradient_descent\" = \"2026-09-16 23:59\" or = 2 (days).")
        for a, value in entry.items():
            key = f"[extensions.{student}] \"{a}\""
            if a not in known:
                raise ConfigError(f"{_where(path)}: {key} names no assignment of this course; the course has "
                                  f"{', '.join(sorted(known)) or 'none'}.")
            if isinstance(value, bool):
                raise ConfigError(f"{_where(path)}: {key} must be a new due date or a number of days, not {value}.")
            if isinstance(value, (int, float)):
                if a not in due:
                    raise ConfigError(f"{_where(path)}: {key} adds days to a due date, but [assignments.\"{a}\"] has "
                                      "none; give the assignment a due date or the extension a date.")
                if not math.isfinite(value) or value < 0:
                    raise ConfigError(f"{_where(path)}: {key} = {value}: an extension adds zero or more days.")
                extensions[(student, a)] = due[a] + dt.timedelta(days=float(value))
            else:
                extensions[(student, a)] = parse_due(value, due[a].tzinfo if a in due else zone, path, key)

    roster = data.get("roster")
    roster_path = None
    if roster is not None:
        if not isinstance(roster, str) or not roster.strip():
            raise ConfigError(f"{_where(path)}: roster must be the path of a CSV file in quotes, e.g. roster = \"roster.csv\".")
        roster_path = (path.parent / roster).resolve()
    return CourseConfig(path=path, timezone=zone_name, late_policy=late_policy, due=due, extensions=extensions,
                        roster_path=roster_path, course_id=course_id, lms_columns=lms_columns)


def read_roster(path):
    """The roster's students, checked: a ``student_id`` column, no empty, duplicate or
    ill-formed ids, no id of another system (Canvas, SIS) given to two students."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_ROSTER_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"The roster {path} could not be read ({e.strerror or e}); check the roster path in course.toml.") from None
    if len(data) > MAX_ROSTER_BYTES:
        raise ConfigError(f"The roster {path.name} is over {MAX_ROSTER_BYTES // 2**20} MB; a roster is one short row per student.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"The roster {path.name} is not UTF-8 text; export it from your spreadsheet as \"CSV UTF-8\".") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ConfigError(f"The roster {path.name} is empty; its first row names the columns, starting with student_id.")
    header = [h.strip().lower() for h in rows[0]]
    if "student_id" not in header:
        raise ConfigError(f"The roster {path.name} has no student_id column; its header row must name it "
                          f"(columns it may have: {', '.join(ROSTER_COLUMNS)}).")
    unknown = [h for h in header if h and h not in ROSTER_COLUMNS]
    if unknown:
        raise ConfigError(f"The roster {path.name} has a column '{unknown[0]}' that the course does not know; "
                          f"rename it to one of {', '.join(ROSTER_COLUMNS)} or remove it.")
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise ConfigError(f"The roster {path.name} has the column '{dup}' twice; keep one.")
    students, seen = [], {}
    other_ids = {c: {} for c in ("canvas_id", "sis_user_id", "sis_login_id", "email", "username", "id_number")}
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise ConfigError(f"The roster {path.name}, row {n}, has {len(row)} cells for {len(header)} columns; "
                              "quote a cell that contains a comma.")
        values = {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header) if h}
        sid = values["student_id"]
        if not sid:
            raise ConfigError(f"The roster {path.name}, row {n}, has no student_id; fill it in or remove the row.")
        if sid in (".", "..") or "/" in sid or "\\" in sid or any(ord(ch) < 32 for ch in sid):
            raise ConfigError(f"The roster {path.name}, row {n}: student_id {sid!r} cannot be a folder name; "
                              "use the id the submissions folder uses.")
        if sid in seen:
            raise ConfigError(f"The roster {path.name} lists student_id {sid!r} twice (rows {seen[sid]} and {n}); keep one row.")
        seen[sid] = n
        for column, taken in other_ids.items():
            v = values.get(column, "")
            if v:
                if v in taken:
                    raise ConfigError(f"The roster {path.name} gives {column} {v!r} to two students (rows {taken[v]} and {n}); "
                                      "each must have its own.")
                taken[v] = n
        if values.get("canvas_id") and not values["canvas_id"].isdigit():
            raise ConfigError(f"The roster {path.name}, row {n}: canvas_id {values['canvas_id']!r} is not a number; "
                              "Canvas's user ids are numbers (the ID column of a Canvas gradebook export).")
        students.append(Student(**values))
    if not students:
        raise ConfigError(f"The roster {path.name} has a header but no students; add one row per student.")
    return students
