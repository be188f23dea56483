"""Reading submissions: ``SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb``.

Every problem becomes one sentence for the instructor's report and the student's feedback;
a bad file never stops the rest of the batch.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024     # above this, outputs are cleared before grading
HARD_MAX_BYTES = 1024 * 1024 * 1024       # above this, the file is not read at all


@dataclass
class Submission:
    student: str
    assignment: str
    folder: Path
    notebooks: dict = field(default_factory=dict)   # notebook name -> path of the file to grade
    problems: list = field(default_factory=list)     # one sentence each


def read_notebook_problem(path):
    """``None`` if ``path`` is a notebook nbgrader can grade, else one sentence saying why not."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        return f"{path.name} could not be read ({e.strerror})."
    if size > HARD_MAX_BYTES:
        return f"{path.name} is {size / 2**20:.0f} MB, over the {HARD_MAX_BYTES // 2**20} MB limit: clear its outputs (Edit > Clear Outputs of All Cells), save and submit again."
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        return f"{path.name} is not a text file, so it is not a notebook: submit the .ipynb file saved by JupyterLab."
    except json.JSONDecodeError as e:
        return f"{path.name} is not valid notebook JSON (line {e.lineno}: {e.msg}): open it in JupyterLab, save it again and resubmit."
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        return f"{path.name} is JSON but not a notebook (it has no cells): submit the .ipynb file saved by JupyterLab."
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as e:  # nbformat raises several types for malformed notebooks
        return f"{path.name} is not a notebook nbformat can read ({type(e).__name__}): open it in JupyterLab, save it again and resubmit."
    if not any(c.get("cell_type") == "code" for c in nb.cells):
        return f"{path.name} has no code cells, so none of the graded cells are in it: start again from the released notebook."
    return None


def collect(submissions_dir, expected):
    """Find every submission under ``submissions_dir``.

    Args:
        expected: ``{assignment: [notebook names]}`` of the course.

    Returns:
        ``(submissions, skipped)``: the gradable :class:`Submission` objects (each may carry
        problems, e.g. a renamed notebook) and sentences about folders that are not submissions.
    """
    root = Path(submissions_dir)
    subs, skipped = [], []
    for student_dir in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if not student_dir.is_dir():
            skipped.append(f"{student_dir.name} is a file, not a student folder; it was skipped.")
            continue
        found_any = False
        for a_dir in sorted(p for p in student_dir.iterdir() if not p.name.startswith(".")):
            if not a_dir.is_dir():
                continue
            if a_dir.name not in expected:
                skipped.append(f"{student_dir.name}/{a_dir.name} is not an assignment of this course ({', '.join(expected)}); it was skipped.")
                continue
            found_any = True
            subs.append(_match(student_dir.name, a_dir, expected[a_dir.name]))
        if not found_any:
            skipped.append(f"{student_dir.name} has no assignment folders (expected e.g. {student_dir.name}/{next(iter(expected), 'ASSIGNMENT')}/).")
    return subs, skipped


def _match(student, a_dir, names):
    sub = Submission(student, a_dir.name, a_dir)
    files = {p.stem: p for p in a_dir.glob("*.ipynb")}
    missing = [n for n in names if n not in files]
    extra = [s for s in files if s not in names]
    if len(missing) == 1 and len(extra) == 1:
        files[missing[0]] = files.pop(extra[0])
        sub.problems.append(f"{extra[0]}.ipynb was graded as {missing[0]}.ipynb (the notebook was renamed).")
        missing, extra = [], []
    others = sorted(p.name for p in a_dir.iterdir() if p.suffix != ".ipynb" and not p.name.startswith("."))
    ignored = [f"{e}.ipynb" for e in extra] + others
    if ignored:
        shown = ", ".join(ignored[:5]) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
        sub.problems.append(f"Only the assignment's notebooks are graded; these were ignored: {shown}.")
    for name in names:
        if name not in files:
            sub.problems.append(f"{name}.ipynb is missing from the submission, so it scores 0.")
            continue
        problem = read_notebook_problem(files[name])
        if problem:
            sub.problems.append(problem + " It scores 0.")
        elif files[name].stat().st_size > MAX_NOTEBOOK_BYTES:
            sub.notebooks[name] = _without_outputs(files[name])
            sub.problems.append(f"{files[name].name} has {files[name].stat().st_size / 2**20:.0f} MB of cell outputs; they were "
                                "cleared before grading (grading runs your code again), so nothing was lost.")
        else:
            sub.notebooks[name] = files[name]
    return sub


def _without_outputs(path):
    """The notebook's bytes with every code cell's outputs cleared."""
    nb = nbformat.reads(Path(path).read_text(encoding="utf-8"), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(nb).encode("utf-8")
