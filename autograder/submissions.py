"""Reading submissions: ``SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb`` (and the
``timestamp.txt`` beside them that nbgrader's exchange writes: :mod:`autograder.deadlines`).

Students write this tree, so nothing in it is trusted, whoever runs the grader:

* It is walked with ``os.scandir`` on open folder descriptors and never through a link: a
  student or assignment folder that is a symbolic link is refused, and so is a notebook that is
  one (a link to the instructor's source notebook, to ``/etc/passwd`` or to ``/dev/zero`` is
  never opened).
* A notebook is opened only if ``lstat`` says it is a regular file, with ``O_NOFOLLOW |
  O_NONBLOCK | O_NOCTTY``, and read only if ``fstat`` on the open file says the same (a folder
  named ``*.ipynb``, a FIFO, a socket or a device node is never read from, so nothing blocks).
* At most :data:`MAX_READ_BYTES` + 1 bytes are read; a notebook over :data:`MAX_NOTEBOOK_BYTES`
  has its outputs cleared before grading (grading runs the code again), one over
  :data:`MAX_READ_BYTES` scores 0.
* JSON nested deeper than :data:`MAX_JSON_DEPTH` is refused by a linear scan before any parser
  could recurse; a string with a lone surrogate escape (not Unicode) is refused too.
* Every notebook is read once: the bytes checked are the bytes graded.

A hard link is a regular file and is read like any other: it holds what a copy would. A hard
link to the instructor's source notebook can only be made by someone who can already read that
file on the same file system (Linux's ``fs.protected_hardlinks``, on by default, also wants them
to own it or be able to write it), so keep the course checkout off the file system students
write submissions to, or unreadable to them; a copy of the source would score the same.

Every problem becomes one sentence for the report and the student's feedback, with names shown
by :func:`autograder.shown.shown` (no newline or escape sequence of a file name reaches a
report); a bad file costs at most its own submission's grade and never stops the batch.
"""

import errno
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from autograder.shown import shown

MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024     # above this, outputs are cleared before grading
MAX_READ_BYTES = 128 * 1024 * 1024        # above this, the notebook is not graded (at most this + 1 byte is read)
MAX_JSON_DEPTH = 100                      # a notebook is about 8 levels deep; widget state a few more
MAX_ENTRIES = 10_000                      # entries of a student's or assignment folder looked at
IGNORED_SHOWN = 5                         # ignored files named in the problem sentence
REPLACED_DIR = ".replaced"                # where `course collect` keeps a submission a later one replaced (hidden: never graded)

_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Submission:
    student: str
    assignment: str
    folder: Path
    notebooks: dict = field(default_factory=dict)   # notebook name -> its bytes (or the path of the file to grade)
    problems: list = field(default_factory=list)     # one sentence each
    submitted_at: object = None                      # aware datetime from its timestamp.txt, or None


def kind_of(mode):
    """What a file of this ``st_mode`` is, in words (for a sentence)."""
    return ("a symbolic link" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode)
            else "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
            else "a regular file" if stat.S_ISREG(mode) else "not a regular file")


def _why(e):
    return e.strerror or type(e).__name__


# -- one notebook ---------------------------------------------------------------------------

def _read_capped(fd, cap):
    chunks, size = [], 0
    while size <= cap:
        chunk = os.read(fd, min(1 << 20, cap + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_regular(name, dir_fd=None, cap=MAX_READ_BYTES, follow=False):
    """The bytes of the regular file ``name`` (in the folder open as ``dir_fd``), or one sentence.

    Returns ``(data, None)`` or ``(None, sentence)``. Nothing but a regular file is opened
    (``follow=False``: not a link either), and at most ``cap + 1`` bytes are read: ``len(data)
    > cap`` says the file is over the cap.
    """
    shown_name = shown(os.path.basename(name) if dir_fd is None else name)
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=follow)
    except OSError as e:
        return None, f"{shown_name} could not be read ({_why(e)})."
    if stat.S_ISLNK(st.st_mode):
        return None, (f"{shown_name} is a symbolic link, not a file; links in a submission are not followed: "
                      "submit the notebook file itself.")
    if stat.S_ISDIR(st.st_mode):
        return None, f"{shown_name} is a folder, not a notebook file: submit the .ipynb file saved by JupyterLab."
    if not stat.S_ISREG(st.st_mode):
        return None, f"{shown_name} is {kind_of(st.st_mode)}, not a file: submit the .ipynb file saved by JupyterLab."
    try:
        fd = os.open(name, _OPEN_FILE & ~os.O_NOFOLLOW if follow else _OPEN_FILE, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return None, f"{shown_name} is a symbolic link, not a file; links in a submission are not followed: submit the notebook file itself."
        return None, f"{shown_name} could not be read ({_why(e)})."
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            return None, f"{shown_name} changed while it was being read; submit it again."
        return _read_capped(fd, cap), None
    except OSError as e:
        return None, f"{shown_name} could not be read ({_why(e)})."
    finally:
        os.close(fd)


_DEPTH_STEP = np.zeros(256, np.int8)
_DEPTH_STEP[[ord("["), ord("{")]] = 1
_DEPTH_STEP[[ord("]"), ord("}")]] = -1


def json_depth(data, chunk=1 << 22):
    """How deeply the arrays and objects of the JSON text ``data`` (bytes) nest, in linear time
    and without recursion: brackets inside strings do not count.

    Escaped backslashes, then escaped quotes, are removed first (JSON has no other use for a
    backslash), so every remaining quote opens or closes a string; a bracket counts when an
    even number of quotes precede it.
    """
    a = np.frombuffer(data.replace(b"\\\\", b"").replace(b'\\"', b""), np.uint8)
    deepest = level = quotes = 0
    for i in range(0, len(a), chunk):
        part = a[i:i + chunk]
        q = np.cumsum(part == ord('"'), dtype=np.int64) + quotes
        levels = np.cumsum(np.where(q % 2 == 0, _DEPTH_STEP[part], 0), dtype=np.int64) + level
        deepest, level, quotes = max(deepest, int(levels.max())), int(levels[-1]), int(q[-1])
    return deepest


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse_notebook(data, name):
    """``(notebook, None)`` if the bytes ``data`` are a notebook nbgrader can grade, else ``(None, sentence)``."""
    name = shown(name)
    if len(data) > MAX_READ_BYTES:
        return None, (f"{name} is over the {MAX_READ_BYTES // 2**20} MB limit: clear its outputs "
                      "(Edit > Clear Outputs of All Cells), save and submit again.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, f"{name} is not a text file, so it is not a notebook: submit the .ipynb file saved by JupyterLab."
    if json_depth(data) > MAX_JSON_DEPTH:
        return None, (f"{name} is JSON nested more than {MAX_JSON_DEPTH} levels deep, which no notebook is: "
                      "submit the .ipynb file saved by JupyterLab.")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"{name} is not valid notebook JSON (line {e.lineno}: {e.msg}): open it in JupyterLab, save it again and resubmit."
    except (ValueError, RecursionError):  # an integer of more digits than Python converts (4300)
        return None, f"{name} is not valid notebook JSON (it holds a number too long to read): open it in JupyterLab, save it again and resubmit."
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        return None, f"{name} is JSON but not a notebook (it has no cells): submit the .ipynb file saved by JupyterLab."
    try:
        nb = nbformat.reads(text, as_version=4)
        if _SURROGATE_ESCAPE.search(text):
            nbformat.writes(nb).encode("utf-8")  # a lone surrogate escape (\ud800) is not Unicode: no file can hold it
    except UnicodeEncodeError:
        return None, f"{name} holds text that is not Unicode (a lone surrogate escape such as \\ud800): open it in JupyterLab, save it again and resubmit."
    except Exception as e:  # noqa: BLE001 - nbformat raises several types for malformed notebooks
        return None, f"{name} is not a notebook nbformat can read ({type(e).__name__}): open it in JupyterLab, save it again and resubmit."
    if not any(c.get("cell_type") == "code" for c in nb.cells):
        return None, f"{name} has no code cells, so none of the graded cells are in it: start again from the released notebook."
    return nb, None


def read_notebook_problem(path):
    """``None`` if ``path`` is a notebook nbgrader can grade, else one sentence saying why not.

    For ``course check``: the learner's own path, links followed, but still only a regular file
    is opened and at most :data:`MAX_READ_BYTES` + 1 bytes are read.
    """
    data, problem = read_regular(str(path), follow=True)
    if problem:
        return problem
    return parse_notebook(data, Path(path).name)[1]


def _notebook_bytes(data, nb, name):
    """The bytes to grade and a sentence if they are not the file's own (outputs cleared)."""
    if len(data) <= MAX_NOTEBOOK_BYTES:
        return data, None
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(nb).encode("utf-8"), (
        f"{shown(name)} has {len(data) / 2**20:.0f} MB of cell outputs; they were cleared before grading "
        "(grading runs your code again), so nothing was lost.")


# -- the tree -------------------------------------------------------------------------------

def _entries(dir_fd, limit=MAX_ENTRIES):
    """``(names, more)``: up to ``limit`` non-hidden entry names of the folder open as ``dir_fd``, sorted,
    and how many more there were."""
    names, more = [], 0
    with os.scandir(dir_fd) as it:
        for entry in it:
            if entry.name.startswith("."):
                continue
            if len(names) < limit:
                names.append(entry.name)
            else:
                more += 1
    return sorted(names), more


def _open_dir(name, dir_fd):
    """``(fd, None)`` for the folder ``name`` in ``dir_fd``, never through a link; else ``(None, why)``,
    ``why`` the end of a sentence that starts with the name."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            return None, f"is {'a file' if stat.S_ISREG(st.st_mode) else kind_of(st.st_mode)}, not a folder"
        return os.open(name, _OPEN_DIR, dir_fd=dir_fd), None
    except OSError as e:
        return None, "is a symbolic link, not a folder" if e.errno == errno.ELOOP else f"could not be read ({_why(e)})"


def collect(submissions_dir, expected):
    """Find every submission under ``submissions_dir`` and read its notebooks.

    Args:
        expected: ``{assignment: [notebook names]}`` of the course.

    Returns:
        ``(submissions, skipped)``: the :class:`Submission` objects, each with its notebooks'
        bytes and its problems (a renamed notebook, a link, a file that is not a notebook...),
        and sentences about entries that are not submissions. Raises ``OSError`` only if
        ``submissions_dir`` itself can not be read.
    """
    root = Path(submissions_dir)
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the instructor's own path: a link is fine
    subs, skipped = [], []
    try:
        students, _ = _entries(root_fd, limit=10**9)
        for student in students:
            s_fd, why = _open_dir(student, root_fd)
            if s_fd is None:
                if "symbolic link" in why:
                    why += "; links are not followed: copy the folder itself into the submissions folder"
                skipped.append(f"{shown(student)} {why.replace('a folder', 'a student folder')}; it was skipped.")
                continue
            try:
                before = len(subs)
                _collect_student(student, s_fd, root / student, expected, subs, skipped)
                if len(subs) == before:
                    skipped.append(f"{shown(student)} has no assignment folders (expected e.g. "
                                   f"{shown(student)}/{next(iter(expected), 'ASSIGNMENT')}/).")
            finally:
                os.close(s_fd)
    finally:
        os.close(root_fd)
    return subs, skipped


def _collect_student(student, s_fd, s_path, expected, subs, skipped):
    try:
        names, more = _entries(s_fd)
    except OSError as e:
        skipped.append(f"{shown(student)} could not be read ({_why(e)}); it was skipped.")
        return
    for a_name in names:
        is_dir = _is_dir_entry(a_name, s_fd)
        if a_name not in expected:
            if is_dir:
                skipped.append(f"{shown(student)}/{shown(a_name)} is not an assignment of this course "
                               f"({', '.join(expected)}); it was skipped.")
            continue
        a_fd, why = _open_dir(a_name, s_fd)
        if a_fd is None:
            sub = Submission(student, a_name, s_path / a_name)
            how = "links are not followed: submit the folder itself" if "symbolic link" in why else "submit the assignment's folder"
            sub.problems.append(f"{shown(a_name)} {why}; {how}. It scores 0.")
            subs.append(sub)
            continue
        try:
            subs.append(_match(student, a_name, a_fd, s_path / a_name, expected[a_name]))
        finally:
            os.close(a_fd)
    if more:
        skipped.append(f"{shown(student)} holds {more} more entries than the {MAX_ENTRIES} looked at; they were skipped.")


def _exists(name, dir_fd):
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return True
    except OSError:
        return False


def _is_dir_entry(name, dir_fd):
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _match(student, assignment, a_fd, a_path, names):
    sub = Submission(student, assignment, a_path)
    try:
        entries, more = _entries(a_fd)
    except OSError as e:
        sub.problems.append(f"{shown(assignment)} could not be read ({_why(e)}). It scores 0.")
        return sub
    files = {e[: -len(".ipynb")]: e for e in entries if e.endswith(".ipynb")}   # notebook name -> file name
    for name in names:  # past MAX_ENTRIES, an expected notebook may not be among the entries listed
        if name not in files and _exists(f"{name}.ipynb", a_fd):
            files[name] = f"{name}.ipynb"
    missing = [n for n in names if n not in files]
    extra = [s for s in files if s not in names]
    if len(missing) == 1 and len(extra) == 1:
        files[missing[0]] = files.pop(extra[0])
        sub.problems.append(f"{shown(extra[0] + '.ipynb')} was graded as {missing[0]}.ipynb (the notebook was renamed).")
        missing, extra = [], []
    from autograder.deadlines import TIMESTAMP_FILE, read_submission_time

    if TIMESTAMP_FILE in entries:   # nbgrader's record of when it was submitted (course collect keeps it)
        sub.submitted_at, problem = read_submission_time(a_fd)
        if problem:
            sub.problems.append(problem)
    ignored = [shown(f"{e}.ipynb") for e in extra] + [shown(e) for e in entries if not e.endswith(".ipynb") and e != TIMESTAMP_FILE]
    if ignored or more:
        count = len(ignored) + more
        shown_list = ", ".join(ignored[:IGNORED_SHOWN]) + (f" and {count - IGNORED_SHOWN} more" if count > IGNORED_SHOWN else "")
        sub.problems.append(f"Only the assignment's notebooks are graded; these were ignored: {shown_list}.")
    for name in names:
        if name not in files:
            sub.problems.append(f"{name}.ipynb is missing from the submission, so it scores 0.")
            continue
        data, problem = read_regular(files[name], dir_fd=a_fd)
        nb = None
        if data is not None:
            nb, problem = parse_notebook(data, files[name])
        if problem:
            sub.problems.append(problem + " It scores 0.")
            continue
        sub.notebooks[name], note = _notebook_bytes(data, nb, files[name])
        if note:
            sub.problems.append(note)
    return sub
