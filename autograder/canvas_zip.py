"""Submissions from Canvas: the zip of an assignment's "Download Submissions".

Canvas names each file of that zip ``<name>_<user id>_<attachment id>_<file name>``, with
``LATE_`` before the user id when Canvas counted it late (``doejane_LATE_4021_88213_01_gradient_descent.ipynb``).
``<name>`` is the student's sortable name, lower-cased, letters and digits only; ``<user id>`` is
Canvas's numeric user id, which the roster's ``canvas_id`` column maps to the course's student
id. A student who uploaded a file again gets it renamed by Canvas with ``-1``, ``-2``, … before
the extension (``01_gradient_descent-1.ipynb``): the number is dropped to find the notebook,
and of several uploads of one notebook the one with the highest attachment id (Canvas's latest)
is kept.

A zip entry stores the time its file was written (local time, no zone); it is taken as the
submission time, read in the course's time zone (``timezone`` in ``course.toml``), and written
to the submission's ``timestamp.txt`` so deadlines apply (an entry whose stored date is no
date gives no time, and no ``timestamp.txt``). Canvas's own LATE mark is reported beside it.

The zip is hostile input: entries are read into memory only (never extracted by their own
path), at most :data:`MAX_ENTRIES` entries and :data:`MAX_TOTAL_BYTES` uncompressed, a link or
folder entry is skipped, and a file that is not named like a Canvas download is reported and
skipped, and a student whose file can not be unpacked (a damaged entry) is skipped with a
sentence before anything of theirs is written. Nothing already in ``SUBMISSIONS`` is
overwritten: a student's earlier folder is moved to ``SUBMISSIONS/.replaced/`` (one that holds
exactly what the zip has, the same download collected again, is kept as it is).
"""

import datetime as dt
import re
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from autograder import CourseError
from autograder.deadlines import TIMESTAMP_FILE, format_timestamp
from autograder.shown import shown
from autograder.submissions import REPLACED_DIR as REPLACED

CANVAS_NAME = re.compile(r"^(?P<name>[a-z0-9]*?)_(?P<late>LATE_)?(?P<user>\d+)_(?P<attachment>\d+)_(?P<file>.+)$")
RESUBMITTED = re.compile(r"^(?P<stem>.+?)-(?P<n>\d+)$")
MAX_ENTRIES = 20_000
MAX_TOTAL_BYTES = 4 * 1024 ** 3
MAX_ENTRY_BYTES = 128 * 1024 * 1024


@dataclass
class Imported:
    written: list = field(default_factory=list)    # (student, assignment, time, canvas said late)
    skipped: list = field(default_factory=list)    # sentences
    kept: list = field(default_factory=list)       # sentences: submissions already there, byte for byte


def _same_as_there(dest, contents, stamp):
    """Whether the folder ``dest`` holds exactly these notebooks and this ``timestamp.txt``
    (the same download collected again), nothing more and nothing less."""
    want = {f"{nb}.ipynb": data for nb, data in contents.items()}
    if stamp is not None:
        want[TIMESTAMP_FILE] = stamp.encode()
    try:
        if dest.is_symlink() or not dest.is_dir():
            return False
        there = {p.name: p for p in dest.iterdir()}
        return set(there) == set(want) and all(
            p.is_file() and not p.is_symlink() and p.stat().st_size == len(want[n]) and p.read_bytes() == want[n]
            for n, p in there.items())
    except OSError:
        return False


def _notebook_name(file_name, notebooks):
    """The course notebook a Canvas file name is (``None`` if none): ``01_x.ipynb`` or ``01_x-2.ipynb``."""
    if not file_name.endswith(".ipynb"):
        return None
    stem = file_name[: -len(".ipynb")]
    if stem in notebooks:
        return stem
    m = RESUBMITTED.match(stem)
    return m.group("stem") if m and m.group("stem") in notebooks else None


def _open_zip(path):
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"There is no file at {path}; give --canvas the zip that Canvas's \"Download Submissions\" saved.")
    try:
        zf = zipfile.ZipFile(path)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as e:
        raise CourseError(f"{path.name} is not a zip file ({e}); give --canvas the zip that Canvas's "
                          "\"Download Submissions\" saved.") from None
    if len(infos) > MAX_ENTRIES:
        raise CourseError(f"{path.name} holds {len(infos)} entries, more than the {MAX_ENTRIES} a class's download has.")
    if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
        raise CourseError(f"{path.name} would unpack to more than {MAX_TOTAL_BYTES // 1024 ** 3} GB; it is not a Canvas download.")
    return zf, infos


def _entry_time(info, zone):
    """A zip entry's stored time, read in ``zone``; ``None`` when the entry holds no real date
    (a zip made by hand can hold month 0 or hour 25)."""
    try:
        return dt.datetime(*info.date_time, tzinfo=zone)
    except (ValueError, TypeError, OverflowError):
        return None


def import_canvas_zip(zip_path, out_dir, assignment, notebooks, roster, timezone="UTC"):
    """Write the zip's submissions of ``assignment`` as ``out_dir/<student>/<assignment>/``.

    Args:
        notebooks: the assignment's notebook names; roster: the course's students (with ``canvas_id``).
    """
    by_canvas = {s.canvas_id: s.student_id for s in roster if s.canvas_id}
    if not by_canvas:
        raise CourseError("The roster has no canvas_id column (or it is empty): add each student's Canvas user id "
                          "(the ID column of a Canvas gradebook export) so the zip's files can be matched to students.")
    zone = ZoneInfo(timezone)
    zf, infos = _open_zip(zip_path)
    result = Imported()
    chosen = {}          # student -> notebook -> (attachment id, info, late)
    canvas_like = 0
    with zf:
        for info in infos:
            base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
            mode = info.external_attr >> 16
            if info.is_dir() or not base:
                continue
            m = CANVAS_NAME.match(base)
            if not m:
                result.skipped.append(f"{shown(info.filename)} is not named like a Canvas download "
                                      "(name_userid_attachmentid_file); it was skipped.")
                continue
            canvas_like += 1
            if stat.S_ISLNK(mode):
                result.skipped.append(f"{shown(base)} is a link, not a file; it was skipped.")
                continue
            student = by_canvas.get(m.group("user"))
            if student is None:
                result.skipped.append(f"{shown(base)}: Canvas user {m.group('user')} is not in the roster's canvas_id column; "
                                      "it was skipped.")
                continue
            nb = _notebook_name(m.group("file"), notebooks)
            if nb is None:
                result.skipped.append(f"{shown(base)}: {shown(m.group('file'))} is not a notebook of {assignment} "
                                      f"({', '.join(n + '.ipynb' for n in notebooks)}); it was skipped.")
                continue
            if info.file_size > MAX_ENTRY_BYTES:
                result.skipped.append(f"{shown(base)} is over {MAX_ENTRY_BYTES // 2**20} MB; it was skipped.")
                continue
            att = int(m.group("attachment"))
            have = chosen.setdefault(student, {}).get(nb)
            if have is None or att > have[0]:
                chosen[student][nb] = (att, info, bool(m.group("late")))
        if not canvas_like:      # an empty zip is no Canvas download either
            raise CourseError(f"{Path(zip_path).name} holds no file named like a Canvas download "
                              "(name_userid_attachmentid_file.ipynb); give --canvas the zip of \"Download Submissions\".")
        out_dir = Path(out_dir)
        for student in sorted(chosen):
            files = chosen[student]
            times = [t for t in (_entry_time(info, zone) for _, info, _ in files.values()) if t is not None]
            when = max(times) if times else None
            late = any(l for _, _, l in files.values())
            contents, damaged = {}, None
            for nb, (_, info, _) in files.items():
                try:
                    with zf.open(info) as f:
                        contents[nb] = f.read(MAX_ENTRY_BYTES + 1)
                except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as e:
                    damaged = f"{shown(info.filename)} could not be read from the zip ({e}); {student}'s submission was skipped."
                    break
            if damaged:       # read whole before anything is written: a damaged zip leaves SUBMISSIONS as it was
                result.skipped.append(damaged)
                continue
            dest = out_dir / student / assignment
            if _same_as_there(dest, contents, format_timestamp(when) if when is not None else None):
                result.kept.append(f"{student}/{assignment}: the same submission is already there; it was kept.")
                continue
            tmp = out_dir / student / f".{assignment}.importing"
            tmp.mkdir(parents=True, exist_ok=True)
            try:
                for nb, data in contents.items():
                    (tmp / f"{nb}.ipynb").write_bytes(data)
                if when is not None:
                    (tmp / TIMESTAMP_FILE).write_text(format_timestamp(when))
                if dest.exists() or dest.is_symlink():
                    keep = out_dir / REPLACED / student / assignment / dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
                    keep.parent.mkdir(parents=True, exist_ok=True)
                    dest.rename(keep)
                tmp.rename(dest)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
            result.written.append((student, assignment, when, late))
    return result
