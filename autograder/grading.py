"""Grading: one notebook for a learner (``course check``) or a whole class (``course grade``)."""

import csv
import html
import io
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from autograder import CourseError
from autograder.course_dir import list_assignments, notebooks_of
from autograder.submissions import Submission, collect, read_notebook_problem

GRADES_HEADER = ["student_id", "assignment", "score", "max_score"]


@dataclass
class Result:
    student: str
    assignment: str
    score: float = 0.0
    max_score: float = 0.0
    cells: list = field(default_factory=list)      # (notebook, grade_id, score, max_score, message or "")
    problems: list = field(default_factory=list)
    feedback: dict = field(default_factory=dict)   # notebook -> path of the staged feedback HTML


def _fmt(x):
    return f"{x:.2f}".rstrip("0").rstrip(".")


def grade_submission(stage, sub):
    """Autograde one :class:`Submission` in ``stage``; never raises for a bad submission."""
    from autograder.feedback import cell_messages, order_of
    from autograder.pipeline import PipelineError
    res = Result(sub.student, sub.assignment, max_score=stage.max_score(sub.assignment), problems=list(sub.problems))
    if not sub.notebooks:
        return res
    stage.submit(sub.student, sub.assignment, sub.notebooks)
    try:
        stage.autograde(sub.student, sub.assignment)
        per_nb, (res.score, res.max_score) = stage.scores(sub.student, sub.assignment)
    except PipelineError as e:
        res.problems.append(f"The submission could not be graded ({e.reason}); it scores 0.")
        res.score = 0.0
        return res
    for nb_name in notebooks_of(stage.course_root, sub.assignment):
        graded = stage.autograded_notebook(sub.student, sub.assignment, nb_name)
        if not graded.exists():
            continue
        messages = cell_messages(graded)
        for gid, msg in cell_messages(graded, kind="solution").items():
            if not msg.startswith("NotImplementedError"):
                res.problems.append(f"Your cell '{gid}' stopped with {msg}; fix it and rerun it, the tests that use it depend on it.")
        order = {gid: i for i, gid in enumerate(order_of(graded))}
        for gid, score, max_score in sorted(per_nb.get(nb_name, []), key=lambda r: order.get(r[0], 1e9)):
            if gid not in order:
                continue  # grade cells of the autograded kind only (manual ones have no test cell)
            res.cells.append((nb_name, gid, score, max_score, messages.get(gid, "") if score < max_score else ""))
    try:
        fb_dir = stage.feedback(sub.student, sub.assignment)
        res.feedback = {p.stem: p for p in fb_dir.glob("*.html")}
    except PipelineError:
        res.problems.append("The feedback page could not be written; the score above stands.")
    return res


def report_lines(res, verbose=True):
    lines = [f"{res.student}/{res.assignment}: {_fmt(res.score)} / {_fmt(res.max_score)}"]
    if verbose:
        for nb, gid, score, max_score, msg in res.cells:
            mark = "\u2714" if score >= max_score else "\u2718"
            lines.append(f"  {mark} {gid:<34} {_fmt(score):>5} / {_fmt(max_score)}" + (f"   {msg}" if msg else ""))
    lines += [f"  ! {p}" for p in res.problems]
    return lines


# -- course check -------------------------------------------------------------------------

def check_notebook(course_root, path):
    """Grade one notebook locally, hidden tests included; return its :class:`Result`."""
    path = Path(path)
    if not path.exists():
        raise CourseError(f"{path} does not exist: give the path of a notebook, e.g. workspace/01_gradient_descent/01_gradient_descent.ipynb.")
    if path.is_dir() or path.suffix != ".ipynb":
        raise CourseError(f"{path} is not a notebook (.ipynb file): give the path of the notebook you worked in.")
    problem = read_notebook_problem(path)
    if problem:
        raise CourseError(problem)
    assignment = _assignment_for(course_root, path)
    names = notebooks_of(course_root, assignment)
    name = path.stem if path.stem in names else names[0]
    from autograder.pipeline import Stage  # nbgrader takes seconds to import: only once the input is good

    sub = Submission("you", assignment, path.parent, {name: path})
    if path.stem not in names:
        sub.problems.append(f"{path.name} was graded as {name}.ipynb of {assignment}.")
    with Stage(course_root, [assignment]) as stage:
        return grade_submission(stage, sub)


def _assignment_for(course_root, path):
    known = list_assignments(course_root)
    for a in known:
        if path.stem in notebooks_of(course_root, a):
            return a
    if path.parent.name in known:
        return path.parent.name
    raise CourseError(f"{path.name} is not a notebook of this course (its notebooks are {', '.join(n + '.ipynb' for a in known for n in notebooks_of(course_root, a))}).")


# -- course grade ---------------------------------------------------------------------------

def _write_atomic(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _problem_page(res, nb_name):
    items = "".join(f"<li>{html.escape(p)}</li>" for p in res.problems)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(res.assignment)} feedback</title></head><body>"
            f"<h1>{html.escape(res.assignment)} / {html.escape(nb_name)}</h1>"
            f"<p>Score: {_fmt(res.score)} / {_fmt(res.max_score)}</p><ul>{items}</ul></body></html>")


def grade_class(course_root, submissions_dir, out_dir, progress=True):
    """Grade every submission under ``submissions_dir``; write grades.csv, feedback and report.txt in ``out_dir``."""
    submissions_dir, out_dir = Path(submissions_dir), Path(out_dir)
    if not submissions_dir.is_dir():
        raise CourseError(f"{submissions_dir} is not a folder: give the folder that holds SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb.")
    if out_dir.resolve() == submissions_dir.resolve() or submissions_dir.resolve() in out_dir.resolve().parents:
        raise CourseError("--out must not be inside the submissions folder: pick a separate folder for grades and feedback.")
    if out_dir.exists() and not out_dir.is_dir():
        raise CourseError(f"{out_dir} exists and is not a folder: give --out a folder path.")
    expected = {a: notebooks_of(course_root, a) for a in list_assignments(course_root)}
    subs, skipped = collect(submissions_dir, expected)
    if not subs:
        raise CourseError(f"No submissions found in {submissions_dir}: expected {submissions_dir}/<student>/<assignment>/<notebook>.ipynb with assignments among {', '.join(expected)}.")
    from autograder.pipeline import Stage

    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with Stage(course_root, sorted({s.assignment for s in subs})) as stage:
        for sub in tqdm(subs, desc="grading", unit="notebook", disable=not progress, file=sys.stderr):
            res = grade_submission(stage, sub)
            results.append(res)
            fb_dest = out_dir / "feedback" / res.student / res.assignment
            fb_dest.mkdir(parents=True, exist_ok=True)
            for nb_name in expected[res.assignment]:
                if nb_name in res.feedback:
                    shutil.copyfile(res.feedback[nb_name], fb_dest / f"{nb_name}.html")
                else:
                    _write_atomic(fb_dest / f"{nb_name}.html", _problem_page(res, nb_name))
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(GRADES_HEADER)
    writer.writerows([r.student, r.assignment, _fmt(r.score), _fmt(r.max_score)] for r in results)
    _write_atomic(out_dir / "grades.csv", table.getvalue())
    report = skipped + [ln for r in results for ln in report_lines(r, verbose=False)]
    _write_atomic(out_dir / "report.txt", "\n".join(report) + "\n")
    return results, skipped

