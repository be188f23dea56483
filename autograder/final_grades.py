"""A graded class's final grades: the saved raw scores, with the late policy applied now.

``course grade`` saves one record per student and assignment in ``OUT/.course-grading/``
(the raw score, each exercise's score, the submission's time). Everything that reports a
final grade — ``grades.csv``, the feedback's deduction line, ``course export``, the class
report — computes it here, from those records and the current ``course.toml``, so a changed
policy or extension takes effect by writing the tables again, without grading anything again.
"""

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from autograder.deadlines import ON_TIME, deduction, parse_timestamp


@dataclass
class FinalGrade:
    student: str
    assignment: str
    raw_score: float
    max_score: float
    score: float                       # raw_score less the late penalty
    late_by: dt.timedelta = dt.timedelta(0)
    penalty: float = 0.0               # percent of the raw score deducted
    reason: str = ""                   # one sentence when something was deducted
    submitted_at: object = None        # aware datetime, or None
    due: object = None                 # aware datetime that applied, or None
    cells: list = field(default_factory=list)     # [notebook, grade_id, score, max_score, message]
    problems: list = field(default_factory=list)


def final_grade(result, config, submitted_at=None):
    """The :class:`FinalGrade` of one result (anything with student, assignment, score,
    max_score, cells and problems) under ``config`` (a :class:`~autograder.course_config.CourseConfig`)."""
    due = config.due_for(result.student, result.assignment) if config is not None else None
    d = deduction(submitted_at, due, config.late_policy) if config is not None else ON_TIME
    return FinalGrade(result.student, result.assignment, float(result.score), float(result.max_score),
                      round(d.score(float(result.score)), 4), d.late_by, d.percent, d.reason, submitted_at, due,
                      list(result.cells), list(result.problems))


@dataclass
class _Saved:
    student: str
    assignment: str
    score: float
    max_score: float
    cells: list
    problems: list


def saved_grades(out_dir, config):
    """Every saved record of a graded folder, as final grades, sorted by (student, assignment).

    A record that can not be read is left out (it is graded again by the next ``course grade``)."""
    from autograder.grading import STATE_DIR   # where course grade keeps its records

    state = Path(out_dir) / STATE_DIR
    grades = []
    for path in sorted(state.glob("*/*.json")) if state.is_dir() else []:
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))["result"]
            saved = _Saved(str(rec["student"]), str(rec["assignment"]), float(rec["score"]), float(rec["max_score"]),
                           list(rec.get("cells", [])), list(rec.get("problems", [])))
            when = parse_timestamp(rec["submitted_at"]) if rec.get("submitted_at") else None
        except (OSError, ValueError, KeyError, TypeError):
            continue
        grades.append(final_grade(saved, config, when))
    return sorted(grades, key=lambda g: (g.student, g.assignment))
