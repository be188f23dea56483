"""Where a student's code runs while it is graded: its own process, folder and limits.

Two kinds of isolation:

* ``"namespaces"`` (what ``course grade`` uses): the student process starts in new Linux mount,
  PID, network, IPC, UTS and cgroup namespaces, built by :mod:`autograder.jail_setup` (its
  :func:`~autograder.jail_setup.enter` is the whole set-up as one function). It runs as a host
  uid that owns nothing: when the grader is root, a uid of its own per sandbox
  (``SANDBOX_UID_BASE`` and up, unique among the sandboxes alive), inside a user namespace whose
  root it is; otherwise the grader's own uid, which is all an ordinary user can map. Its file
  system is a read-only tmpfs holding read-only views of the system and Python directories, a
  minimal ``/etc``, the course's ``data/`` and one more tmpfs, of ``Limits.disk_mb``, holding all
  it can write: its working folder ``/sandbox`` (a copy of ``job_dir/work``, made at each start),
  ``/tmp`` and ``/dev/shm``. The course checkout, the source notebooks, the reference solutions,
  the gradebook, the submissions, the output folder and the grader's job folders are simply not
  there. ``/proc`` is its own, with the kernel's knobs (``/proc/sys``, ``/proc/sysrq-trigger``,
  ...) read-only and ``/proc/kcore`` and friends masked; no network interface. The student's code
  starts with no capabilities in any namespace (empty bounding set, ``no_new_privs``), without new
  user namespaces, with only the channel's file descriptors and its own environment. PID 1 of the
  namespace is a small reaper whose end ends everything in it; the grader kills that.
* ``"none"`` (what ``course check`` uses on a learner's own notebook): a plain child process with
  the same per-process limits, for machines without namespaces (macOS, Windows); it protects the
  learner from nothing they could not do themselves.

A grading process that called :func:`start_zygote` (or any, with ``COURSE_ZYGOTE=1``; none with
``COURSE_ZYGOTE=0``) forks its student processes from a :class:`Zygote`, a student process started
once that has done the imports every one of them does (:mod:`autograder.zygote`); the child enters
the same sandbox by the same :func:`autograder.jail_setup.enter` before any student code runs.

Limits (:class:`Limits`): per process, address space, file size, CPU time, no core dumps; for the
whole process tree, a cap on processes and threads (``RLIMIT_NPROC``, which the kernel counts per
user namespace, or per uid where the sandbox has none; and a cgroup's ``pids.max`` where the
machine lets the grader make cgroups, :mod:`autograder.cgroups`) and on memory (the cgroup's
memory limit; without one, the grader adds up the memory the tree's processes hold five times a
second and stops the sandbox above the limit). The grader adds a wall-clock limit per cell and
per notebook and kills the sandbox when one is reached. What it does not cover is written in the
README's "Grading safely" section.
"""

import atexit
import itertools
import json
import os
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from autograder import CourseError, cgroups, wire

HERE = Path(__file__).resolve().parent
START_TIMEOUT_S = 60
SANDBOX_UID_BASE = 0x70000000      # 1879048192: above the ranges systemd gives containers and users
WATCH_PERIOD_S = 0.2
MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    cell_s: float = 60.0          # wall clock per cell and per call of a student's function
    notebook_s: float = 300.0     # wall clock for the whole notebook
    memory_mb: int = 6144         # address space of each student process (torch alone maps ~3.5 GB),
    #                               and the memory all of a submission's processes may hold together
    file_mb: int = 64             # largest file it may write
    cpu_s: int = 600              # CPU seconds per process, a backstop behind the wall clock
    disk_mb: int = 256            # everything it may write: /sandbox, /tmp and /dev/shm together
    processes: int = 128          # processes and threads of the whole tree


class StudentCodeError(Exception):
    """The student process died, hung or broke the protocol; ``str(e)`` is one sentence."""


def _rlimits(limits):
    """``{name: (soft, hard)}`` for each process: the CPU limit's SIGXCPU comes a second before SIGKILL."""
    return {"as": (limits.memory_mb * MB,) * 2, "fsize": (limits.file_mb * MB,) * 2,
            "cpu": (int(limits.cpu_s), int(limits.cpu_s) + 1), "core": (0, 0)}


# what a program may need from /etc (the rest of the host's /etc is not in the sandbox)
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "nsswitch.conf", "alternatives",
        "os-release", "mime.types", "protocols", "services", "fonts", "matplotlibrc", "gai.conf", "host.conf",
        f"python{sys.version_info[0]}", f"python{sys.version_info[0]}.{sys.version_info[1]}")
_SETUP_SOURCE = None


def _identity_mapped():
    """True if this process's uid 0 is the host's (not root inside someone else's user namespace)."""
    try:
        return Path("/proc/self/uid_map").read_text().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


def _mode_candidates():
    """The ways to build the sandbox on this machine, safest first (see :mod:`autograder.jail_setup`)."""
    if os.geteuid() == 0 and _identity_mapped():
        # root never maps the sandbox to uid 0: "root" builds it as root and runs the student as
        # a uid of its own in a user namespace; "root-nouserns" the same without that user
        # namespace, where the machine refuses it; "stranger" where root may not mount
        return ["root", "root-nouserns", "stranger"]
    return ["user"]


_counter = itertools.count()


def _sandbox_uid():
    """A host uid (and gid) nobody else uses: unique among the sandboxes alive on this machine."""
    return SANDBOX_UID_BASE + ((os.getpid() & 0x3FFFFF) << 4) + (next(_counter) & 15)


def _bind_list():
    dirs = {"/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin", sys.prefix, sys.base_prefix,
            os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    keep = []
    for d in sorted(dirs, key=len):
        if not any(d == k or d.startswith(k.rstrip("/") + "/") for k in keep):
            keep.append(d)
    binds, links = [], []
    for d in keep:
        target = os.readlink(d) if os.path.islink(d) else None
        if target is not None and not target.startswith("/"):
            links += [d, target]            # /bin -> usr/bin on a merged-/usr system
        elif os.path.exists(d):
            binds.append(d)
    return binds, links


def _hide_list(extra):
    import course_lib

    hide = {str(Path(course_lib.__file__).resolve().parent)} | {str(Path(p).resolve()) for p in extra}
    bound, _ = _bind_list()
    return sorted(h for h in hide if any(h.startswith(b.rstrip("/") + "/") for b in bound))


def _spec(job_dir, work, mode, argv, limits, data_dir=None, hide=(), cgroup=None, keep_fds=(), env=None):
    """What :func:`autograder.jail_setup.enter` builds (plain data: it crosses as JSON)."""
    binds, links = _bind_list()
    return {
        "mode": mode, "uid": _sandbox_uid() if mode != "user" else None,
        "root": str(job_dir / "root"), "scratch": str(job_dir / "scratch"), "work": str(work),
        "disk_mb": int(limits.disk_mb), "data": str(data_dir or ""), "binds": binds, "links": links,
        "etc": [f"/etc/{n}" for n in _ETC if os.path.lexists(f"/etc/{n}")], "hide": _hide_list(hide),
        "cgroup_procs": cgroup.procs_files if cgroup else [],
        "rlimits": {**_rlimits(limits), "nproc": (int(limits.processes),) * 2},
        "keep_fds": list(keep_fds), "argv": [str(a) for a in argv], "env": dict(env or {}),
    }


def _prepare_job(job_dir, mode):
    job_dir = Path(job_dir)
    for name in ("root", "scratch"):
        (job_dir / name).mkdir(mode=0o755, exist_ok=True)
    if mode == "stranger":          # it builds the sandbox as that uid: let it through the job folder
        os.chmod(job_dir, 0o711)
    return job_dir


def _spawn(job_dir, work, mode, argv, limits, data_dir=None, hide=(), cgroup=None, pass_fds=(), env=None, stderr=None):
    """Start ``argv`` in a new sandbox built from ``work``; the :class:`subprocess.Popen`."""
    global _SETUP_SOURCE
    job_dir = _prepare_job(job_dir, mode)
    if _SETUP_SOURCE is None:
        _SETUP_SOURCE = (HERE / "jail_setup.py").read_text()
    spec = _spec(job_dir, work, mode, argv, limits, data_dir, hide, cgroup, pass_fds, env)
    return subprocess.Popen([sys.executable, "-I", "-S", "-c", _SETUP_SOURCE],
                            env={"JAIL_SPEC": json.dumps(spec), "LANG": "C.UTF-8"},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                            pass_fds=pass_fds, start_new_session=True)


_available = None
_mode = None


def _probe(mode):
    """``None`` if a sandbox of ``mode`` starts Python here, else the last line it printed."""
    job = Path(tempfile.mkdtemp(prefix="course-probe-"))
    try:
        (job / "work").mkdir()
        with open(job / "stderr.log", "wb") as log:
            proc = _spawn(job, job / "work", mode, [sys.executable, "-s", "-c", "import sys"], Limits(), stderr=log)
            try:
                code = proc.wait(timeout=START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return "the sandbox did not start within a minute"
        if code == 0:
            return None
        lines = (job / "stderr.log").read_text(errors="replace").strip().splitlines()
        return (lines or [f"exit code {code}"])[-1][:160]
    finally:
        shutil.rmtree(job, ignore_errors=True)


def namespaces_available():
    """``None`` if the namespace sandbox works on this machine, else one sentence why not."""
    global _available, _mode
    if _available is None:
        if sys.platform != "linux":
            _available = "this machine is not Linux, whose namespaces the sandbox is made of"
        else:
            problems = []
            for mode in _mode_candidates():
                problem = _probe(mode)
                if problem is None:
                    _mode = mode
                    break
                problems.append(problem)
            if _mode is None:
                why = ("running as root, the sandbox could not run student code as an unprivileged uid of its own ("
                       if os.geteuid() == 0 else "this machine does not allow unprivileged user namespaces (")
                _available = why + "; ".join(dict.fromkeys(problems)) + ")"
        _available = _available or ""
    return _available or None


def sandbox_mode():
    """How this machine builds the sandbox (``"root"``, ``"root-nouserns"``, ``"stranger"``,
    ``"user"``), or None where it cannot."""
    return None if namespaces_available() else _mode


def require_isolation():
    problem = namespaces_available()
    if problem:
        raise CourseError(f"Grading needs a sandbox for student code, but {problem}: grade on a Linux machine "
                          "that allows user namespaces (most do; in Docker run with --security-opt seccomp=unconfined), "
                          "or pass --isolation none to grade without one, only for submissions you trust.")


def prepare_workdir(job_dir):
    """``job_dir/work``: the student process's script, the wire format and the student ``course_lib``.

    Under the namespace sandbox it is copied into the sandbox's own tmpfs at each start, so
    nothing the student's code writes reaches it (or the host's disk)."""
    from autograder.student_lib import copy_student_lib

    work = Path(job_dir) / "work"
    work.mkdir(parents=True)
    for name in ("student_process.py", "wire.py"):
        shutil.copyfile(HERE / name, work / name)
    copy_student_lib(work)
    _copy_font_cache(work / ".matplotlib")
    for d, dirs, files in os.walk(work):       # readable by a sandbox uid that is not ours
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    return work


def student_env(isolation="namespaces", work=None, data_dir=None):
    """The whole environment of a student process (nothing of the grader's own)."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/sandbox", "COURSE_GRADING": "1",
           "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8"}
    if isolation == "namespaces":
        env.update(MPLCONFIGDIR="/sandbox/.matplotlib", COURSE_DATA="/data", TMPDIR="/tmp")
    else:
        env.update(MPLCONFIGDIR=str(Path(work) / ".matplotlib"), TMPDIR=str(work))
        if data_dir:
            env["COURSE_DATA"] = str(data_dir)
    return env


# -- the zygote: start-up paid once per grading process -------------------------------------------
ZYGOTE_START_TIMEOUT_S = 180
ZYGOTE_HEADROOM_MB = 1024      # address space a forked child must have beyond the zygote's (see Zygote.fits)


def zygote_setting():
    """``COURSE_ZYGOTE``: ``0`` never (every student process starts afresh), ``1`` always (a process
    starts its zygote at its first student process), unset: where this process started one
    (:func:`start_zygote`: a grading worker, ``course check``)."""
    value = os.environ.get("COURSE_ZYGOTE", "").strip().lower()
    if value in ("0", "no", "off", "false"):
        return "off"
    return "always" if value in ("1", "yes", "on", "true", "always") else "auto"


def zygote_enabled():
    return zygote_setting() != "off"


class ZygoteChild:
    """A sandbox's outer process forked by the zygote: what :class:`StudentProcess` uses of a
    :class:`subprocess.Popen` (``pid``, ``poll``, ``wait``, ``returncode``). Its wait status comes
    on a pipe from the zygote, which reaps it; if the zygote is gone, it counts as killed."""

    def __init__(self, pid, status_fd):
        self.pid, self._fd, self.returncode = pid, status_fd, None
        self._lock = threading.Lock()       # the memory watch polls it from its own thread

    def _take(self, timeout):
        if self.returncode is not None:
            return self.returncode
        try:
            ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout)) if self._fd >= 0 else ([], [], [])
        except (OSError, ValueError):    # another thread took the status meanwhile
            ready = []
        with self._lock:
            if self.returncode is not None or not ready or self._fd < 0:
                return self.returncode
            data = b""
            while True:
                chunk = os.read(self._fd, 64)
                if not chunk:
                    break
                data += chunk
            os.close(self._fd)
            self._fd = -1
            try:
                status = int(data)
            except ValueError:           # the zygote died before it could say: the whole tree died with it
                self.returncode = -signal.SIGKILL
            else:
                self.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            return self.returncode

    def poll(self):
        return self._take(0)

    def wait(self, timeout=None):
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 0.5 if end is None else end - time.monotonic()
            code = self._take(min(left, 0.5))
            if code is not None:
                return code
            if end is not None and time.monotonic() >= end:
                raise subprocess.TimeoutExpired("sandbox", timeout)

    def __del__(self):
        if getattr(self, "_fd", -1) >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass


class Zygote:
    """A pre-started student process of this grading process (:mod:`autograder.zygote`).

    It has imported what every student process imports (NumPy, torch and its first optimizer
    step, matplotlib, ipywidgets, IPython), never runs student code, and forks one sandboxed
    student process per request: :meth:`spawn` returns a :class:`ZygoteChild` in place of the
    :class:`subprocess.Popen` of :func:`_spawn`. The sandbox is built by the same
    :func:`autograder.jail_setup.enter`, in the forked child. One per process (:func:`zygote`);
    it ends when this process closes its socket or ends.
    """

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="course-zygote-"))
        self.lock = threading.Lock()
        self.problem = None
        self.pid = self.vm_bytes = None
        self.started, self._said, self.failed_start = time.monotonic(), b"", False
        shutil.copyfile(HERE / "zygote.py", self.dir / "student_process.py")
        shutil.copyfile(HERE / "jail_setup.py", self.dir / "jail_setup.py")
        _copy_font_cache(self.dir / ".matplotlib")
        for d, dirs, files in os.walk(self.dir):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._ready_r, ready_w = os.pipe()
        try:
            with open(self.dir / "zygote-stderr.log", "wb") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-s", "-X", "utf8", "student_process.py", str(theirs.fileno()), str(ready_w)],
                    cwd=self.dir, env=student_env("namespaces"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=log, pass_fds=(theirs.fileno(), ready_w), start_new_session=True)
        finally:
            theirs.close()
            os.close(ready_w)
        self.pid = self.proc.pid
        from autograder import remote   # a grading worker's parent removes both if the worker is killed

        remote._watch("dir", str(self.dir))
        remote._watch("pid", self.pid)

    def wait_ready(self, timeout=ZYGOTE_START_TIMEOUT_S):
        """``None`` once it is ready, else one sentence why not: not yet, within ``timeout`` (it
        goes on starting), or it failed or took more than :data:`ZYGOTE_START_TIMEOUT_S` (stopped)."""
        with self.lock:
            if self._ready_r >= 0:
                end = min(time.monotonic() + max(0.0, timeout), self.started + ZYGOTE_START_TIMEOUT_S)
                while True:
                    ready, _, _ = select.select([self._ready_r], [], [], max(0.0, end - time.monotonic()))
                    if not ready:
                        if time.monotonic() < self.started + ZYGOTE_START_TIMEOUT_S:
                            return "it is still starting"
                        self._said = self._said or b"it did not start within %d s" % ZYGOTE_START_TIMEOUT_S
                        break
                    chunk = os.read(self._ready_r, 4096)
                    if not chunk:
                        break
                    self._said += chunk
                    if self._said.startswith(b"ready"):
                        break
                os.close(self._ready_r)
                self._ready_r = -1
                if not self._said.startswith(b"ready"):
                    self.problem = self._said.decode(errors="replace").strip() or "it did not start"
                    self.failed_start = True
                    self.stop()
            return self.problem

    def alive(self):
        return self.problem is None and self.proc.poll() is None

    def fits(self, limits):
        """True if a child forked from it keeps room of its own under ``limits.memory_mb``: its
        address space starts with the zygote's (torch's mappings, 3.4 GB, which a fresh process
        that imports torch has as well). Under a smaller limit, where no notebook could import
        torch anyway, a fresh process keeps the limit's meaning and the grader starts one."""
        if self.vm_bytes is None:
            try:
                line = next(l for l in Path(f"/proc/{self.pid}/status").read_text().splitlines() if l.startswith("VmSize:"))
                self.vm_bytes = int(line.split()[1]) * 1024
            except (OSError, StopIteration, ValueError):
                return False
        return limits.memory_mb * MB >= self.vm_bytes + ZYGOTE_HEADROOM_MB * MB

    def spawn(self, spec, chan_fds, stderr):
        """Fork a sandbox built from ``spec`` whose student process has ``chan_fds`` (read, write)."""
        problem = self.wait_ready()
        if problem:
            raise OSError(f"the zygote did not start: {problem}")
        spec_r, spec_w = os.pipe()
        status_r, status_w = os.pipe()
        try:
            with self.lock:
                socket.send_fds(self.sock, [b"fork"], [spec_r, chan_fds[0], chan_fds[1], status_w, stderr.fileno()])
                self.sock.settimeout(START_TIMEOUT_S)
                reply = self.sock.recv(256)
        except BaseException:
            os.close(status_r)
            raise
        finally:
            os.close(spec_r)
            os.close(status_w)
        if not reply.startswith(b"pid "):
            os.close(spec_w)
            os.close(status_r)
            if not reply:
                self.problem = "it ended"
            raise OSError(f"the zygote did not fork: {reply.decode(errors='replace') or 'it ended'}")
        child = ZygoteChild(int(reply.split()[1]), status_r)
        try:
            with os.fdopen(spec_w, "wb") as f:
                f.write(json.dumps(spec).encode())
        except OSError:
            pass                     # the child died first: its status says how
        return child

    def stop(self):
        try:
            self.sock.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


_zygote = None
_zygote_pid = None
_zygote_wanted = None      # the pid of a process that called start_zygote()
_zygote_lock = threading.Lock()


def zygote(start=True):
    """This process's :class:`Zygote` (started at the first call, again if it died; another after a
    ``fork`` of this process), or ``None`` where it is turned off; ``start=False``: only a live one."""
    global _zygote, _zygote_pid
    if not zygote_enabled() or sys.platform != "linux":
        return None
    with _zygote_lock:
        if _zygote is not None and _zygote_pid == os.getpid() and _zygote.alive():
            return _zygote
        if not start or (_zygote is not None and _zygote_pid == os.getpid() and _zygote.failed_start):
            return None     # (one that could not start here is not tried again in this process)
            return None
        if _zygote is not None and _zygote_pid == os.getpid():
            _zygote.stop()
        _zygote, _zygote_pid = Zygote(), os.getpid()
        return _zygote


def start_zygote():
    """Start this process's zygote now, in the background (a grading worker calls it when it
    starts, so the imports overlap its other start-up), and use it for this process's student
    processes from then on; returns it, or ``None`` (turned off, or it cannot start here)."""
    global _zygote_wanted
    if not zygote_enabled():
        return None
    _zygote_wanted = os.getpid()
    try:
        return zygote()
    except OSError:
        return None


def _zygote_for(limits, deadline):
    """The zygote a new student process forks from, or ``None`` (then it starts afresh): this
    process's, where it started one or ``COURSE_ZYGOTE=1``; once it is ready, waiting for it at
    most half of the time the notebook has left; where ``limits`` leave a child room."""
    setting = zygote_setting()
    if setting == "off" or (setting == "auto" and _zygote_wanted != os.getpid()):
        return None
    try:
        z = zygote()
    except OSError:
        return None
    if z is None or z.wait_ready(max(0.0, (deadline - time.monotonic()) / 2)) is not None:
        return None
    return z if z.fits(limits) else None


def stop_zygote():
    global _zygote, _zygote_wanted
    if _zygote is not None and _zygote_pid == os.getpid():
        _zygote.stop()
    _zygote = _zygote_wanted = None


atexit.register(stop_zygote)


def _copy_font_cache(folder):
    folder.mkdir(exist_ok=True)
    try:
        import matplotlib

        for f in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
            shutil.copyfile(f, folder / f.name)
    except Exception:  # noqa: BLE001 - only a speed-up
        pass


def _children(pid):
    """Pids of the children of every thread of ``pid``."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except OSError:
            pass
    return found


def _tree(pid):
    seen, todo = [], [pid]
    while todo and len(seen) < 100_000:
        p = todo.pop()
        if p not in seen:
            seen.append(p)
            todo += _children(p)
    return seen


def _held_bytes(pids):
    """Memory the processes hold: their resident anonymous and shared-memory pages."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith(("RssAnon:", "RssShmem:")):
                total += int(line.split()[1]) * 1024
    return total


class StudentProcess:
    """One running student process and the channel to it.

    ``request(msg, on_callback)`` sends a message and returns the reply; while the student's
    code runs it may ask to call one of the grader's callables, which ``on_callback(msg)``
    answers. Every wait has a deadline; on a missed deadline, death, a limit or a malformed
    message the process is killed and :class:`StudentCodeError` says what happened in one sentence.
    """

    def __init__(self, job_dir, isolation="namespaces", limits=Limits(), data_dir=None, hide=(), deadline=None):
        self.limits = limits
        self.job_dir = Path(job_dir)
        self.work = prepare_workdir(self.job_dir) if not (self.job_dir / "work").exists() else self.job_dir / "work"
        self.cgroup, self._init, self._why = None, None, None
        self._stop = threading.Event()
        self._r = self._w = -1
        child_r, self._w = os.pipe()
        self._r, child_w = os.pipe()
        env = student_env(isolation, self.work, data_dir)
        argv_tail = ["-s", "-X", "utf8", "student_process.py", str(child_r), str(child_w)]
        self.zygote = None
        try:
            with open(self.job_dir / "student-stderr.log", "ab") as log:
                if isolation == "namespaces":
                    require_isolation()
                    self.cgroup = cgroups.tree_cgroup((limits.memory_mb + limits.disk_mb) * MB, limits.processes + 1)
                    z = _zygote_for(limits, deadline or time.monotonic() + limits.notebook_s)
                    if z is not None:
                        _prepare_job(self.job_dir, _mode)
                        spec = _spec(self.job_dir, self.work, _mode, [], limits, data_dir, hide, self.cgroup, (), env)
                        try:
                            self.proc, self.zygote = z.spawn(spec, (child_r, child_w), log), z
                        except OSError:         # it died meanwhile: this one starts afresh, the next restarts it
                            z = None
                    if self.zygote is None:
                        self.proc = _spawn(self.job_dir, self.work, _mode, [sys.executable] + argv_tail, limits, data_dir,
                                           hide, self.cgroup, (child_r, child_w), env, log)
                elif isolation == "none" and (z := _zygote_for(limits, deadline or time.monotonic() + limits.notebook_s)):
                    spec = {"mode": "none", "work": str(self.work), "rlimits": _rlimits(limits), "env": env}
                    try:
                        self.proc, self.zygote = z.spawn(spec, (child_r, child_w), log), z
                    except OSError:
                        pass
                if isolation == "none" and self.zygote is None:
                    rl = [(getattr(resource, f"RLIMIT_{k.upper()}"), v) for k, v in _rlimits(limits).items()]

                    def preexec():
                        for what, value in rl:
                            try:
                                resource.setrlimit(what, value)
                            except (ValueError, OSError):
                                pass
                    self.proc = subprocess.Popen([sys.executable] + argv_tail, cwd=self.work, env=env,
                                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                                 pass_fds=(child_r, child_w), start_new_session=True, preexec_fn=preexec)
                elif isolation not in ("namespaces", "none"):
                    raise CourseError(f"unknown isolation {isolation!r}: use 'namespaces' or 'none'.")
        except BaseException:
            for fd in (child_r, child_w, self._r, self._w):
                os.close(fd)
            if self.cgroup is not None:
                self.cgroup.remove()
            raise
        os.close(child_r)
        os.close(child_w)
        self.isolation = isolation
        self._buf = b""
        self.notebook_deadline = deadline or time.monotonic() + limits.notebook_s
        if isolation == "namespaces" and not (self.cgroup and self.cgroup.memory_dir and self.cgroup.version == "2"):
            # the kernel stops the whole tree itself only under a cgroup v2 with memory.oom.group
            threading.Thread(target=self._watch, daemon=True, name="sandbox-memory-watch").start()
        ready = self._recv(deadline=min(time.monotonic() + START_TIMEOUT_S, self.notebook_deadline), what="start")
        if ready.get("op") != "ready":
            self.kill()
            raise StudentCodeError("the grading process did not start properly")
        self._init_pid()

    # -- the tree ---------------------------------------------------------------------------------
    def _init_pid(self):
        """The host pid of the sandbox's PID 1 (the student process), as a pidfd where possible."""
        if self._init is None and self.isolation == "namespaces" and self.proc.poll() is None:
            kids = _children(self.proc.pid)
            if kids:
                try:
                    self._init = ("fd", os.pidfd_open(kids[0]))
                except (AttributeError, OSError):
                    self._init = ("pid", kids[0])
        return self._init

    def tree_pids(self):
        """Host pids of every process of this sandbox (the first one stays outside its namespaces)."""
        if self.proc.poll() is not None:
            return []
        return _tree(self.proc.pid) if self.isolation == "namespaces" else [self.proc.pid]

    def _over_limit(self):
        if self.cgroup is not None and self.cgroup.memory_dir is not None:
            return self.cgroup.oom_kills() > 0
        return _held_bytes(_tree(self.proc.pid)) > self.limits.memory_mb * MB

    def _memory_text(self):
        return f"it used more memory than the {self.limits.memory_mb} MB allowed (all its processes together)"

    def _watch(self):
        while not self._stop.wait(WATCH_PERIOD_S):
            if self.proc.poll() is not None:
                return
            try:
                over = self._over_limit()
            except Exception:  # noqa: BLE001 - a process vanishing under us
                continue
            if over:
                self._why = self._memory_text()
                self._kill_tree()
                return

    def _kill_tree(self):
        init = self._init_pid()
        if init is not None:
            kind, value = init
            try:
                if kind == "fd":
                    signal.pidfd_send_signal(value, signal.SIGKILL)
                elif _children(self.proc.pid)[:1] == [value]:
                    os.kill(value, signal.SIGKILL)
            except (OSError, IndexError):
                pass
        if self.cgroup is not None:
            self.cgroup.kill()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    # -- low level -----------------------------------------------------------------------------
    def _send(self, msg):
        data = json.dumps(msg, allow_nan=False, separators=(",", ":")).encode()
        try:
            os.write(self._w, struct.pack(">Q", len(data)))
            view = memoryview(data)
            while view:
                n = os.write(self._w, view[: 1 << 20])
                view = view[n:]
        except (BrokenPipeError, OSError):
            raise self._died() from None

    def _read_some(self, deadline, what):
        left = deadline - time.monotonic()
        if left <= 0:
            self.kill()
            raise StudentCodeError(f"your code ran longer than the {self._limit_text(what)} limit, so the grader stopped it")
        ready, _, _ = select.select([self._r], [], [], min(left, 1.0))
        if not ready:
            if self.proc.poll() is not None or self._why:
                raise self._died()
            return b""
        chunk = os.read(self._r, 1 << 20)
        if not chunk:
            raise self._died()
        return chunk

    def _limit_text(self, what):
        if what == "notebook":
            return f"{self.limits.notebook_s:g} s per notebook"
        if what == "start":
            return f"{START_TIMEOUT_S} s start-up"
        return f"{self.limits.cell_s:g} s per cell"

    def _recv(self, deadline, what="cell"):
        while len(self._buf) < 8:
            self._buf += self._read_some(deadline, what)
        (n,) = struct.unpack(">Q", self._buf[:8])
        if n > wire.MAX_MESSAGE_BYTES:
            self.kill()
            raise StudentCodeError(f"your code sent back more than {wire.MAX_MESSAGE_BYTES // 2**20} MB, so the grader stopped it")
        while len(self._buf) < 8 + n:
            self._buf += self._read_some(deadline, what)
        data, self._buf = self._buf[8:8 + n], self._buf[8 + n:]
        try:
            msg = wire.loads(data)   # refuses a frame with more structure than a reply may have, before parsing
        except wire.WireError as e:
            self.kill()
            if "bytes that are not a message" in str(e):
                raise StudentCodeError("your code wrote over the grader's channel, so the grader stopped it") from None
            raise StudentCodeError(f"your code sent back {e}, so the grader stopped it") from None
        if not isinstance(msg, dict):
            self.kill()
            raise StudentCodeError("your code wrote over the grader's channel, so the grader stopped it")
        return msg

    def _died(self):
        if self._why is None and self.cgroup is not None and self.cgroup.oom_kills() > 0:
            self._why = self._memory_text()
        try:    # the channel closes a moment before the sandbox's outer process reports how it ended
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        if self._why:
            why = self._why
        elif code is not None and code < 0 and -code == signal.SIGKILL:
            why = "it was killed (memory over the limit, or it killed itself)"
        elif code is not None and code < 0 and -code == signal.SIGXCPU:
            why = "it used more CPU time than allowed"
        elif code is not None and code < 0 and -code == signal.SIGXFSZ:
            why = f"it wrote a file larger than {self.limits.file_mb} MB"
        elif code == 0 or code is None:
            why = "it exited"
        else:
            why = f"it stopped with exit code {code}"
        return StudentCodeError(f"the process running your code ended: {why}")

    # -- requests --------------------------------------------------------------------------------
    def request(self, msg, on_callback=None, timeout=None):
        deadline = min(time.monotonic() + (timeout or self.limits.cell_s), self.notebook_deadline)
        what = "notebook" if deadline == self.notebook_deadline else "cell"
        self._send(msg)
        while True:
            reply = self._recv(deadline, what)
            if "callback" in reply:
                if on_callback is None:
                    self.kill()
                    raise StudentCodeError("your code asked the grader for something it did not offer")
                self._send(on_callback(reply))
                continue
            return reply

    @property
    def alive(self):
        return self.proc.poll() is None and not self._why

    def kill(self):
        self._stop.set()
        if self.proc.poll() is None:
            self._kill_tree()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self._init is not None and self._init[0] == "fd":
            try:
                os.close(self._init[1])
            except OSError:
                pass
            self._init = ("gone", None)
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._r = self._w = -1
        if self.cgroup is not None:
            self.cgroup.remove(kill=True)

    def close(self):
        if self.proc.poll() is None:
            try:
                self._send({"op": "exit"})
                self.proc.wait(timeout=2)
            except (StudentCodeError, subprocess.TimeoutExpired):
                pass
        self.kill()


def new_job_dir():
    return Path(tempfile.mkdtemp(prefix="course-job-"))
