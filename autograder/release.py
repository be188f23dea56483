"""``course release``: the student version of every assignment, in nbgrader's release layout.

``OUT/<assignment>/<notebook>.ipynb`` plus ``OUT/<assignment>/course_lib/`` (support modules
only). Each assignment folder carries a marker file; a folder without it is not ours and is
never overwritten.
"""

import json
import shutil
import tempfile
from pathlib import Path

from autograder import CourseError
from autograder.course_dir import check_assignment, list_assignments

MARKER = ".course-release"


def release(course_root, out_dir, assignments=None):
    """Write the student release to ``out_dir``; return the assignment folders written."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CourseError(f"{out_dir} exists and is not a folder: give --out a folder path.")
    if assignments:
        for a in assignments:
            check_assignment(course_root, a)
    else:
        assignments = list_assignments(course_root)
    for a in assignments:
        dest = out_dir / a
        if dest.exists() and not (dest / MARKER).exists():
            raise CourseError(f"{dest} already exists and was not written by `course release`; move it away or choose another --out.")
    from autograder.pipeline import Stage  # nbgrader takes seconds to import: only once the input is good

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with Stage(course_root, assignments) as stage:
        for a in assignments:
            tmp = Path(tempfile.mkdtemp(prefix=f".{a}.", dir=out_dir))
            try:
                shutil.copytree(stage.release_dir(a), tmp / a)
                (tmp / a / MARKER).write_text(json.dumps({"assignment": a}) + "\n")
                dest = out_dir / a
                if dest.exists():
                    shutil.rmtree(dest)
                (tmp / a).rename(dest)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            written.append(out_dir / a)
    return written
