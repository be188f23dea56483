"""nbgrader's exchange, for a class on JupyterHub: the release goes out, submissions come in.

* :func:`release_to_exchange` puts ``course release``'s student version where nbgrader's
  Assignment List and ``nbgrader fetch_assignment`` find it
  (``EXCHANGE/<course_id>/outbound/<assignment>/``), with nbgrader's own
  ``ExchangeReleaseAssignment`` (which also makes ``inbound/``, writable by students).
* :func:`collect_from_exchange` takes what students handed in with ``nbgrader submit``
  (``EXCHANGE/<course_id>/inbound/<student>+<assignment>+<time>+<random>/``) with nbgrader's own
  ``ExchangeCollect``, which picks each student's latest submission, and writes it as
  ``SUBMISSIONS/<student>/<assignment>/`` with its ``timestamp.txt``: the layout ``course grade``
  reads. What is not the student's work stays in the exchange: nbgrader's ``submission_secret.txt``
  and the release's own files handed back unchanged (``course_lib/``), so the grader does not
  report them as stray files.

``inbound/`` is writable by every student, so its entries are hostile input like any
submission: the copy takes regular files only (never a link, a FIFO or a device; at most
:data:`MAX_FILE_BYTES` each and :data:`MAX_FILES` per submission), an entry whose name is not
``student+assignment+time+...`` is skipped with a sentence, and an entry that claims to be one
student's but is owned by another user of this machine is not collected. A submission already
in ``SUBMISSIONS`` is replaced only by a later one of the same student, and the one it replaces
is kept in ``SUBMISSIONS/.replaced/``.
"""

import os
import pwd
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder import CourseError
from autograder.deadlines import TIMESTAMP_FILE, format_timestamp, parse_timestamp, read_submission_time
from autograder.shown import shown
from autograder.submissions import REPLACED_DIR as REPLACED, read_regular

MAX_FILE_BYTES = 128 * 1024 * 1024
MAX_FILES = 200


@dataclass
class Collected:
    written: list = field(default_factory=list)     # (student, assignment, time)
    kept: list = field(default_factory=list)        # sentences: submissions left as they were
    skipped: list = field(default_factory=list)     # sentences: inbound entries not collected
    notes: list = field(default_factory=list)       # sentences: a collected submission's time corrected


CHANGED_AFTER_S = 120   # files of a submission changed this long after its timestamp.txt's time: that time is not believed


def _nbgrader_course_dir(root, course_id, assignment):
    from nbgrader.coursedir import CourseDirectory

    cd = CourseDirectory()
    cd.root = str(root)
    cd.course_id = course_id
    cd.assignment_id = assignment
    return cd


def _check_exchange(exchange, must_exist=True):
    exchange = Path(exchange)
    if exchange.exists() and not exchange.is_dir():
        raise CourseError(f"{exchange} is not a folder; give --exchange the folder nbgrader's exchange uses "
                          "(c.Exchange.root, by default /usr/local/share/nbgrader/exchange).")
    if must_exist and not exchange.is_dir():
        raise CourseError(f"There is no exchange folder at {exchange}; give --exchange the folder of c.Exchange.root.")
    return exchange


def _is_exchange(folder):
    """Whether ``folder`` can be an exchange root: empty, or holding a course (``outbound/`` or ``inbound/``)."""
    entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
    return not entries or any(e.is_dir() and not e.is_symlink() and ((e / "outbound").is_dir() or (e / "inbound").is_dir())
                              for e in entries)


def release_to_exchange(course_root, exchange, course_id, assignments=None, force=False):
    """Release the student version of ``assignments`` (default: all) into the exchange; return
    the outbound folders written."""
    from nbgrader.exchange.default import ExchangeReleaseAssignment
    from nbgrader.exchange.abc import ExchangeError

    from autograder.release import release

    from autograder.course_dir import check_assignment, list_assignments

    exchange = _check_exchange(exchange, must_exist=False)
    if exchange.is_dir() and not _is_exchange(exchange):
        raise CourseError(f"{exchange} holds files but no nbgrader course (a folder with outbound/ or inbound/), so it is not "
                          "an exchange, and nbgrader would make it writable by everyone; give --exchange nbgrader's exchange "
                          "folder or a new one.")
    for a in assignments or list_assignments(course_root):
        check_assignment(course_root, a)
        dest = exchange / course_id / "outbound" / a
        if (dest.exists() or dest.is_symlink()) and not force:   # checked for all before any is released
            raise CourseError(f"{a} is already in the exchange ({dest}); students may have fetched it. "
                              "Add --force to replace it.")
    with tempfile.TemporaryDirectory(prefix="course-exchange-") as tmp:
        written = release(course_root, Path(tmp) / "release", assignments)
        out = []
        for folder in written:
            a = folder.name
            (folder / ".course-release").unlink(missing_ok=True)
            dest = exchange / course_id / "outbound" / a
            app = ExchangeReleaseAssignment(coursedir=_nbgrader_course_dir(tmp, course_id, a))
            app.root = str(exchange)
            app.force = force
            try:
                app.start()
            except ExchangeError as e:
                raise CourseError(f"nbgrader could not release {a} into {exchange}: {e}") from None
            out.append(dest)
        return out


def _owner_problem(path, student):
    """A sentence if ``path`` claims to be ``student``'s but another user of this machine owns it."""
    try:
        user = pwd.getpwnam(student)
    except KeyError:
        return None     # not an account here (JupyterHub with other user names): nothing to compare
    owner = os.lstat(path).st_uid
    if owner == user.pw_uid or owner == 0 and os.geteuid() == 0 and user.pw_uid == 0:
        return None
    try:
        name = pwd.getpwuid(owner).pw_name
    except KeyError:
        name = f"uid {owner}"
    return f"{shown(path.name)} claims to be {shown(student)}'s submission but belongs to {shown(name)}; it was not collected."


NBGRADER_OWN = ("submission_secret.txt",)   # what `nbgrader submit` adds (for its own feedback hashes), not the student's


def _same_file(path, data):
    """Whether the instructor's file ``path`` (the release in ``outbound/``) holds exactly ``data``."""
    try:
        st = os.lstat(path)
        return stat.S_ISREG(st.st_mode) and st.st_size == len(data) and Path(path).read_bytes() == data
    except OSError:
        return False


def _safe_copy(src, dest, release=None):
    """Copy the submission folder ``src`` to ``dest``: regular files and folders only, capped.
    Returns the latest status-change time (``st_ctime``, which no user can set back) of the
    folders and of the files it copied: when they were last written, whatever their
    ``timestamp.txt`` says.

    Left in the exchange, as not the student's work: nbgrader's own ``submission_secret.txt`` and
    every file other than a notebook that is byte for byte the release's (``release``: the
    assignment's ``outbound/`` folder), such as the ``course_lib/`` the student fetched."""
    count = 0
    changed = 0.0
    dest.mkdir(parents=True)
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = Path(dirpath).relative_to(src)
        changed = max(changed, os.lstat(dirpath).st_ctime)
        for d in list(dirnames):
            st = os.lstat(os.path.join(dirpath, d))
            if not stat.S_ISDIR(st.st_mode) or d.startswith("."):
                dirnames.remove(d)
        for f in filenames:
            path = os.path.join(dirpath, f)
            if f.startswith(".") and f != TIMESTAMP_FILE or rel == Path(".") and f in NBGRADER_OWN:
                continue
            try:
                changed = max(changed, os.lstat(path).st_ctime)
            except OSError:
                continue
            data, why = read_regular(path, cap=MAX_FILE_BYTES)
            if data is None or len(data) > MAX_FILE_BYTES:
                continue       # a link, a FIFO, a device or an oversized file: not copied (the grader names what is missing)
            if release is not None and not f.endswith(".ipynb") and f != TIMESTAMP_FILE and _same_file(release / rel / f, data):
                continue
            count += 1
            if count > MAX_FILES:
                raise CourseError(f"{shown(src.name)} holds more than {MAX_FILES} files; it was not collected.")
            (dest / rel).mkdir(parents=True, exist_ok=True)
            (dest / rel / f).write_bytes(data)
    return changed


def _checked_time(dest, changed, student, assignment, notes):
    """A student writes their own ``timestamp.txt`` (``nbgrader submit`` runs as them) and keeps
    write access to their inbound folder: an early time and files changed after the deadline
    would pass as on time. Where the files changed more than :data:`CHANGED_AFTER_S` after the
    time it gives (or it gives none), the time of that change is written as the submission's."""
    import datetime as dt

    stated, _ = read_submission_time(dest)
    last = dt.datetime.fromtimestamp(changed, dt.timezone.utc) if changed else None
    if last is None or stated is not None and (last - stated).total_seconds() <= CHANGED_AFTER_S:
        return
    (dest / TIMESTAMP_FILE).write_text(format_timestamp(last), encoding="utf-8")
    said = f"its timestamp.txt says {format_timestamp(stated)}" if stated is not None else "it has no readable timestamp.txt"
    notes.append(f"{shown(student)}/{shown(assignment)}: {said}, but its files in the exchange were last changed at "
                 f"{format_timestamp(last)}; that later time is taken as the submission time.")


def _record(path):
    """nbgrader's record of an inbound entry, plus ``ok``: a folder (not a link) whose name
    holds a time, owned by the student it names where that student is a user here."""
    import datetime as dt

    name = os.path.basename(path)
    parts = name.rsplit("+", 3)
    when = parse_timestamp(parts[2]) if len(parts) >= 3 else None
    ok = (when is not None and parts[0] not in ("", ".", "..") and not parts[0].startswith(".")
          and os.path.isdir(path) and not os.path.islink(path)
          and _owner_problem(Path(path), parts[0]) is None)
    return {"username": parts[0], "filename": name, "ok": ok,
            "timestamp": when.replace(tzinfo=None) if when else dt.datetime.min}


def _collector(exchange, root, course_id, assignment, notes=None):
    """nbgrader's ``ExchangeCollect`` for one assignment, made safe for hostile entries: each
    student's latest *valid* entry is the one taken, an invalid one is never copied, the copy is
    :func:`_safe_copy`, and its time is checked against its files' (:func:`_checked_time`;
    ``notes`` gets a sentence for each time corrected)."""
    from nbgrader.exchange.default import ExchangeCollect

    notes = [] if notes is None else notes

    class Collect(ExchangeCollect):
        def _path_to_record(self, path):
            return _record(path)

        def _sort_by_timestamp(self, records):
            return sorted(records, key=lambda r: (r["ok"], r["timestamp"]), reverse=True)

        def do_copy(self, src, dest, log=None):
            record = _record(src)
            if record["ok"]:
                changed = _safe_copy(Path(src), Path(dest), release=Path(exchange) / course_id / "outbound" / assignment)
                _checked_time(Path(dest), changed, record["username"], assignment, notes)

    app = Collect(coursedir=_nbgrader_course_dir(root, course_id, assignment))
    app.root = str(exchange)
    app.update = True
    app.check_owner = False    # checked in _record, and refused rather than warned about
    return app


def collect_from_exchange(exchange, course_id, out_dir, assignments):
    """Collect each student's latest submission of each of ``assignments`` into ``out_dir``."""
    from nbgrader.exchange.abc import ExchangeError

    from autograder.pipeline import _put_own_bin_on_path

    _put_own_bin_on_path()     # ExchangeCollect opens nbgrader's gradebook, which runs `alembic` from PATH

    exchange = _check_exchange(exchange)
    inbound = exchange / course_id / "inbound"
    if not inbound.is_dir():
        raise CourseError(f"{exchange} has no inbound folder for the course '{course_id}' ({inbound}); check --exchange "
                          "and --course-id, and release an assignment there first with `course release --exchange`.")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CourseError(f"{out_dir} exists and is not a folder: give --out a folder for the submissions.")
    result = Collected()
    for entry in sorted(inbound.iterdir()):
        parts = entry.name.rsplit("+", 3)
        if len(parts) < 3 or parse_timestamp(parts[2]) is None:
            result.skipped.append(f"{shown(entry.name)} is not a submission nbgrader made (student+assignment+time+...); "
                                  "it was not collected.")
        elif parts[1] not in assignments:
            continue
        elif entry.is_symlink() or not entry.is_dir():
            result.skipped.append(f"{shown(entry.name)} is not a folder; it was not collected.")
        elif problem := _owner_problem(entry, parts[0]):
            result.skipped.append(problem)
    out_dir.mkdir(parents=True, exist_ok=True)
    for a in assignments:
        with tempfile.TemporaryDirectory(prefix="course-collect-") as tmp:
            app = _collector(exchange, tmp, course_id, a, result.notes)
            try:
                app.start()
            except (ExchangeError, RuntimeError) as e:
                raise CourseError(f"nbgrader could not collect {a} from {exchange}: {e}") from None
            submitted = Path(tmp) / "submitted"
            if not submitted.is_dir():
                continue
            for student_dir in sorted(submitted.iterdir()):
                if (student_dir / a).is_dir():
                    _place(student_dir / a, out_dir, student_dir.name, a, result)
    return result


def _time_of(folder):
    return read_submission_time(folder)[0]


def _place(src, out_dir, student, assignment, result):
    """Move one collected submission into ``out_dir``, keeping any earlier one it replaces."""
    when = _time_of(src)
    dest = out_dir / student / assignment
    if dest.exists() or dest.is_symlink():
        old = _time_of(dest) if dest.is_dir() and not dest.is_symlink() else None
        if old is not None and when is not None and old >= when:
            result.kept.append(f"{shown(student)}/{shown(assignment)}: the submission already collected "
                               f"({format_timestamp(old)}) is the latest; it was kept.")
            return
        keep = out_dir / REPLACED / student / assignment / (format_timestamp(old).replace(" ", "_") if old else "unknown-time")
        n = 1
        while keep.exists():
            keep = keep.with_name(keep.name.split("~")[0] + f"~{n}")
            n += 1
        keep.parent.mkdir(parents=True, exist_ok=True)
        dest.rename(keep)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dest))
    result.written.append((student, assignment, when))
