"""``course export``: a graded class's final grades as a file a gradebook imports.

* ``canvas``: Canvas's gradebook CSV, the layout of its own "Export" (``Student``, ``ID``,
  ``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per assignment, and a
  ``Points Possible`` row), so Gradebook ▸ Import takes it as it is. Students are matched by
  Canvas's user id (the roster's ``canvas_id``); an assignment's column is headed by its id, or by
  ``lms_column`` in ``course.toml`` (write ``"Gradient descent (12345)"`` as Canvas's export heads
  it to fill an existing assignment; any other header makes Canvas offer a new one).
* ``moodle``: a CSV for Moodle's Grades ▸ Import ▸ CSV file: one identifier column per
  identifier the roster has (``Email address``, ``ID number``, ``Username``), the full name,
  then one column per assignment; on import, map the identifier to the same user field and each
  column to its grade item.
* ``csv``: ``student_id``, ``name``, one column per assignment (headed by its id: ``lms_column``
  is for the LMS files) and the total.

``--per-exercise`` adds one column per exercise (``<assignment>: <exercise>``), raw points.
Scores are final (after any late penalty), with a point as the decimal mark. A roster student
without a grade gets an empty cell (not 0: no submission is not a grade), and each of them,
and each graded student missing from the roster, is named on one line.
"""

import csv
import io
from pathlib import Path

from autograder import CourseError
from autograder.shown import csv_cell as _csv_cell, shown

FORMATS = ("canvas", "moodle", "csv")


def csv_cell(value):
    """A text cell, escaped so no spreadsheet runs it as a formula ("" stays empty)."""
    return _csv_cell(value) if value else ""


def _fmt(x):
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _columns(grades, assignments, lms_columns, per_exercise):
    """``[(header, points possible, getter)]`` for the assignments (and exercises) graded."""
    cols = []
    graded = {g.assignment for g in grades}
    for a in [a for a in assignments if a in graded]:
        mx = max(g.max_score for g in grades if g.assignment == a)
        cols.append((lms_columns.get(a, a), mx, (lambda a: lambda by: by.get(a) and _fmt(by[a].score))(a)))
        if per_exercise:
            ids = list(dict.fromkeys(c[1] for g in grades if g.assignment == a for c in g.cells))
            for gid in ids:
                pts = max(c[3] for g in grades if g.assignment == a for c in g.cells if c[1] == gid)
                cols.append((f"{a}: {gid}", pts, (lambda a, gid: lambda by: by.get(a) and next(
                    (_fmt(c[2]) for c in by[a].cells if c[1] == gid), ""))(a, gid)))
    return cols


def export(grades, roster, assignments, fmt, lms_columns=None, per_exercise=False):
    """``(text, notes)``: the file's text and one line per unmatched student."""
    if fmt not in FORMATS:
        raise CourseError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}.")
    lms_columns = lms_columns or {}
    by_student = {}
    for g in grades:
        by_student.setdefault(g.student, {})[g.assignment] = g
    cols = _columns(grades, assignments, lms_columns if fmt != "csv" else {}, per_exercise)   # lms_column heads LMS files only
    notes = []
    if fmt in ("canvas", "moodle") and not roster:
        raise CourseError(f"A {fmt} export needs the roster (roster = \"roster.csv\" in course.toml), to match students "
                          f"to {'Canvas user ids' if fmt == 'canvas' else 'Moodle users'}.")
    listed = {s.student_id for s in roster}
    for sid in sorted(set(by_student) - listed) if roster else []:
        notes.append(f"not in the roster, so not exported: {shown(sid)}" if fmt != "csv"
                     else f"not in the roster, exported by student id only: {shown(sid)}")
    for s in roster:
        if s.student_id not in by_student:
            notes.append(f"in the roster but not graded (exported with empty cells): {shown(s.student_id)}")

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    if fmt == "canvas":
        missing = [s.student_id for s in roster if not s.canvas_id]
        if missing:
            raise CourseError(f"The roster has no canvas_id for {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
                              + "; Canvas matches students by that id: fill in the roster's canvas_id column.")
        w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section"] + [c[0] for c in cols])
        w.writerow(["    Points Possible", "", "", "", ""] + [_fmt(c[1]) for c in cols])
        for s in roster:
            by = by_student.get(s.student_id, {})
            w.writerow([csv_cell(s.name or s.student_id), s.canvas_id, csv_cell(s.sis_user_id), csv_cell(s.sis_login_id),
                        csv_cell(s.section)] + [c[2](by) or "" for c in cols])
    elif fmt == "moodle":
        ids = [(h, f) for h, f in (("Email address", "email"), ("ID number", "id_number"), ("Username", "username"))
               if any(getattr(s, f) for s in roster)]
        if not ids:
            raise CourseError("A Moodle export needs an identifier Moodle knows: add an email, id_number or username "
                              "column to the roster.")
        for s in roster:
            lacking = [h for h, f in ids if not getattr(s, f)]
            if lacking and s.student_id in by_student:
                notes.append(f"in the roster without {' or '.join(lacking)}, so Moodle matches this row only by "
                             f"another identifier: {shown(s.student_id)}")
        w.writerow([h for h, _ in ids] + ["Full name"] + [c[0] for c in cols])
        for s in roster:
            by = by_student.get(s.student_id, {})
            w.writerow([csv_cell(getattr(s, f)) for _, f in ids] + [csv_cell(s.name)] + [c[2](by) or "" for c in cols])
    else:
        w.writerow(["student_id", "name"] + [c[0] for c in cols] + ["total"])
        names = {s.student_id: s.name for s in roster}
        people = [s.student_id for s in roster] + sorted(set(by_student) - listed) if roster else sorted(by_student)
        for sid in people:
            by = by_student.get(sid, {})
            total = sum(g.score for g in by.values())
            w.writerow([csv_cell(sid), csv_cell(names.get(sid, ""))] + [c[2](by) or "" for c in cols]
                       + [_fmt(total) if by else ""])
    return out.getvalue(), notes


def write_export(path, text):
    """Write ``text`` to ``path`` without touching anything else; refuses a folder. The file is
    the instructor's alone (mode 0600, as ``grades.csv``): it holds grades and e-mail addresses."""
    import os
    import tempfile

    path = Path(path)
    if path.is_dir():
        raise CourseError(f"{path} is a folder; give --out a file name such as grades-canvas.csv.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
