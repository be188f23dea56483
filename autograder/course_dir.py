"""Finding the course: the folder that holds ``notebooks/<assignment>/<notebook>.ipynb``."""

import os
import re
from pathlib import Path

from autograder import CourseError

ASSIGNMENT_RE = re.compile(r"^\d\d_[a-z0-9_]+$")


def find_course_root(explicit=None):
    """The course root: ``explicit``, else ``$COURSE_ROOT``, else the checkout this package lives in, else the cwd."""
    candidates = []
    if explicit:
        candidates.append(Path(explicit))
    elif os.environ.get("COURSE_ROOT"):
        candidates.append(Path(os.environ["COURSE_ROOT"]))
    else:
        candidates += [Path(__file__).resolve().parent.parent, Path.cwd()]
    for root in candidates:
        if (root / "notebooks").is_dir():
            return root.resolve()
    where = candidates[0]
    raise CourseError(f"No course found at {where}: it has no notebooks/ folder; run `course` from the course checkout or pass --course-dir.")


def list_assignments(root):
    """Assignment ids (folders of ``notebooks/`` named like ``01_gradient_descent``), sorted."""
    nb_dir = Path(root) / "notebooks"
    return sorted(p.name for p in nb_dir.iterdir() if p.is_dir() and ASSIGNMENT_RE.match(p.name) and any(p.glob("*.ipynb")))


def notebooks_of(root, assignment):
    """Names (without ``.ipynb``) of the notebooks of one assignment."""
    return sorted(p.stem for p in (Path(root) / "notebooks" / assignment).glob("*.ipynb"))


def check_assignment(root, assignment):
    known = list_assignments(root)
    if assignment not in known:
        raise CourseError(f"There is no assignment '{assignment}'; the course has: {', '.join(known) or 'none'}.")
