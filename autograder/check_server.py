"""A warm ``course check`` for a learner who checks again and again.

Most of a cold ``course check`` is start-up that is the same every time: importing nbgrader
and torch, torch's first optimizer step, the student process's imports. After a check has run
the ordinary way, ``course check`` leaves one background process behind, the *check server*,
that has paid all of that once (the grader's imports and a zygote, :mod:`autograder.zygote`) and
grades the next checks itself: the same :func:`autograder.grading.check_notebook` on the same
files, so the verdict is the same, in about a second instead of ten.

* It belongs to one user and one course version: its socket is in the user's cache folder
  (``<cache>/check/``, mode 700, next to the generated stages), named by a checksum of the
  course folder, the isolation, the Python and every file of ``autograder`` and
  ``course_lib``; a changed file means another name, so a stale server is never asked. It
  accepts a connection only from a process of its own uid, and ``course check`` takes an answer
  only from a server of its own uid (``SO_PEERCRED``, both ways); it never starts in a folder
  that is a link or another user's, and opens its lock file without following a link.
* It grades one notebook at a time, each in a new stage and a new student process, exactly as
  the command does; nothing of one check is left for the next.
* It ends by itself after :data:`IDLE_S` seconds without a check (``COURSE_CHECK_SERVER_IDLE_S``),
  and never starts where ``COURSE_CHECK_SERVER=0``. If it is gone or fails mid-way, the check
  simply runs the ordinary way.
"""

import contextlib
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from autograder import CourseError

IDLE_S = 1200                # seconds without a check after which the server ends
MAX_REPLY = 16 * 2**20       # bytes of one answer
MAX_REQUEST = 64 * 2**10     # bytes of one question
ENV = "COURSE_CHECK_SERVER"
IDLE_ENV = "COURSE_CHECK_SERVER_IDLE_S"
_PACKAGES = ("autograder", "course_lib")


def enabled():
    return sys.platform == "linux" and os.environ.get(ENV, "").strip().lower() not in ("0", "no", "off", "false")


def idle_s():
    try:
        return max(1.0, float(os.environ.get(IDLE_ENV, IDLE_S)))
    except ValueError:
        return float(IDLE_S)


def server_key(course_root, isolation):
    """A checksum of what a check's verdict depends on besides the notebook and the assignment's
    sources (those the generated stage's own key covers at every check)."""
    here = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(b"check-server-1\0")
    h.update(f"{sys.executable}\0{isolation}\0{Path(course_root).resolve()}\0".encode())
    for pkg in _PACKAGES:
        for p in sorted((here / pkg).rglob("*")):
            if p.is_file() and p.suffix in (".py", ".css") and "__pycache__" not in p.parts:
                h.update(p.relative_to(here).as_posix().encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:24]


def _course_key(course_root, isolation):
    return hashlib.sha256(f"{Path(course_root).resolve()}\0{isolation}".encode()).hexdigest()[:12]


def socket_path(course_root, isolation):
    """``<cache>/check/<course>-<version>.sock``: one name per course folder and isolation, and
    per version of the grader's files (a server of an older version is ended by a newer one)."""
    from autograder.pipeline import cache_dir

    folder = cache_dir().parent / "check"
    return folder / f"{_course_key(course_root, isolation)}-{server_key(course_root, isolation)}.sock"


def _recv_all(conn, limit):
    data = bytearray()
    while True:
        chunk = conn.recv(1 << 16)
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) > limit:
            raise ValueError("too long")


# -- the client: `course check` ---------------------------------------------------------------

def ask(course_root, notebook, isolation, timeout_s):
    """The :class:`~autograder.grading.Result` of checking ``notebook`` by this user's warm
    server, or ``None`` if there is none (or it failed: then check the ordinary way). A problem
    with the input raises :class:`CourseError` with the server's sentence, as the command would."""
    path = socket_path(course_root, isolation)
    if not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(2.0)
        conn.connect(str(path))
        if _peer_uid(conn) != os.getuid():
            return None             # not this user's server (a folder others can write): never trust its verdict
        conn.settimeout(timeout_s)
        conn.sendall(json.dumps({"notebook": str(notebook), "cwd": os.getcwd()}).encode())
        conn.shutdown(socket.SHUT_WR)
        reply = json.loads(_recv_all(conn, MAX_REPLY))
    except (OSError, ValueError):
        return None
    finally:
        conn.close()
    if not isinstance(reply, dict):
        return None
    if isinstance(reply.get("error"), str):
        raise CourseError(reply["error"])
    from autograder.grading import Result

    try:
        return Result(**reply["result"])
    except (KeyError, TypeError):
        return None


def start(course_root, isolation):
    """Start this user's server for ``course_root`` in the background (it detaches: its own
    session, no terminal, no inherited descriptors); it does nothing where one already runs."""
    if not enabled():
        return
    path = socket_path(course_root, isolation)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
    if not (_own_dir(path.parent.parent) and _own_dir(path.parent)):
        return                      # a link, or a folder of another user's: no server there
    with contextlib.suppress(OSError):
        subprocess.Popen([sys.executable, "-m", "autograder.check_server", str(Path(course_root).resolve()), isolation, str(path)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True, cwd="/")


# -- the server ---------------------------------------------------------------------------------

def _own_dir(folder):
    """Whether ``folder`` is a folder of this user's (not a link to one); it is made mode 700."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if os.fstat(fd).st_uid != os.getuid():
            return False
        os.fchmod(fd, 0o700)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _peer_uid(conn):
    pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid


def _answer(course_root, isolation, request):
    from dataclasses import asdict

    from autograder.grading import check_notebook

    os.chdir(request["cwd"])    # the learner's folder: a relative path and its messages read as they gave them
    try:
        res = check_notebook(course_root, request["notebook"], isolation=isolation)
    except CourseError as e:
        return {"error": str(e)}
    finally:
        os.chdir("/")
    return {"result": {k: v for k, v in asdict(res).items() if k != "feedback"}}


def serve(course_root, isolation, path):
    """Run the server on the socket ``path`` until it has been idle for :func:`idle_s` seconds."""
    import fcntl

    path = Path(path)
    if not _own_dir(path.parent):
        return 0                    # a link, or another user's folder: they could swap the socket or the lock
    try:                            # never through a link: the lock is ours, in our folder
        lock = os.open(str(path) + ".lock", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0                    # another one is starting or running
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
        return 0                    # one is running (it holds no lock only while it ends)
    except OSError:
        pass
    finally:
        probe.close()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    for older in path.parent.glob(path.name.split("-")[0] + "-*.sock"):
        if older != path:           # an older version's server for this course: it sees its socket gone and ends
            with contextlib.suppress(OSError):
                older.unlink()
    old_umask = os.umask(0o177)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_umask)
    ino = path.stat().st_ino
    listener.listen(8)              # a check that comes while this one warms up waits for it
    from autograder import jail
    from autograder.grading import warm_up_dask

    jail.start_zygote()
    warm_up_dask()              # nbgrader, torch and its first step: once
    listener.settimeout(5.0)
    last = time.monotonic()
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                try:
                    mine = path.stat().st_ino == ino
                except OSError:
                    mine = False
                if not mine or time.monotonic() - last > idle_s():
                    return 0
                continue
            last = time.monotonic()
            with conn:
                try:
                    if _peer_uid(conn) != os.getuid():
                        continue
                    conn.settimeout(10)
                    request = json.loads(_recv_all(conn, MAX_REQUEST))
                    conn.settimeout(None)
                    if not (isinstance(request, dict) and isinstance(request.get("notebook"), str)
                            and isinstance(request.get("cwd"), str)):
                        continue
                    try:
                        reply = _answer(course_root, isolation, request)
                    except Exception:  # noqa: BLE001 - the client then checks the ordinary way
                        continue
                    conn.sendall(json.dumps(reply).encode())
                except (OSError, ValueError):
                    continue
            last = time.monotonic()
    finally:
        with contextlib.suppress(OSError):
            if path.stat().st_ino == ino:
                path.unlink()
        with contextlib.suppress(OSError):
            os.unlink(str(path) + ".lock")
        jail.stop_zygote()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    course_root, isolation, path = argv
    os.environ["COURSE_ROOT"] = course_root
    import warnings

    from autograder.cli import _quiet_nbgrader

    warnings.simplefilter("ignore")
    _quiet_nbgrader()       # as the command does: nbgrader's own log lines are not the learner's business
    return serve(Path(course_root), isolation, path)


if __name__ == "__main__":
    sys.exit(main())
