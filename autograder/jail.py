"""Where a student's code runs while it is graded: its own process, folder and limits.

Two kinds of isolation:

* ``"namespaces"`` (what ``course grade`` uses): the student process starts in new Linux user,
  mount, network and PID namespaces (util-linux ``unshare``). Its file system is a fresh tmpfs
  holding read-only views of the system and Python directories, its own working folder
  (``/sandbox``, the only place it can write besides a private ``/tmp``), and the course's
  ``data/`` read-only. The course checkout, the source notebooks, the reference solutions, the
  gradebook, the submissions and the output folder are simply not there. The network namespace
  has no interfaces, so there is no network. All capabilities are dropped before the student's
  code starts (``setpriv``), and the process is PID 1 of its namespace, so killing it kills
  everything it started.
* ``"none"`` (what ``course check`` uses on a learner's own notebook): a plain child process with
  the same limits, for machines without namespaces (macOS, Windows); it protects the learner
  from nothing they could not do themselves.

Limits on both: address space (memory), file size, CPU time, core dumps off; the grader adds a
wall-clock limit per cell and per notebook and kills the process when one is reached. What it
does not cover is written in the README's "Grading safely" section.
"""

import json
import os
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from autograder import CourseError, wire

HERE = Path(__file__).resolve().parent
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Limits:
    cell_s: float = 60.0          # wall clock per cell and per call of a student's function
    notebook_s: float = 300.0     # wall clock for the whole notebook
    memory_mb: int = 6144         # address space of the student process (torch alone maps ~3.5 GB)
    file_mb: int = 64             # largest file it may write
    cpu_s: int = 600              # CPU seconds, a backstop behind the wall clock


class StudentCodeError(Exception):
    """The student process died, hung or broke the protocol; ``str(e)`` is one sentence."""


def _rlimits(limits):
    mb = 1024 * 1024
    return [(resource.RLIMIT_AS, limits.memory_mb * mb), (resource.RLIMIT_FSIZE, limits.file_mb * mb),
            (resource.RLIMIT_CPU, limits.cpu_s), (resource.RLIMIT_CORE, 0)]


_JAIL_SCRIPT = r"""
set -eu
R="$1"; W="$2"; D="$3"; shift 3
mount -t tmpfs -o size=16m,mode=755 sandbox-root "$R"
# the private /tmp first: a venv under /tmp (a CI checkout) is bound inside it below, not hidden by it
mkdir -p "$R/tmp"
mount -t tmpfs -o size=256m,mode=1777 tmp "$R/tmp"
for d in $BIND_RO; do
  [ -e "$d" ] || continue
  mkdir -p "$R$d"; mount --rbind "$d" "$R$d"; mount -o remount,ro,bind "$R$d"
done
for d in $HIDE; do
  [ -d "$R$d" ] && mount -t tmpfs -o size=1k,mode=555 hidden "$R$d"
done
mkdir -p "$R/sandbox" "$R/proc" "$R/dev" "$R/data"
mount --bind "$W" "$R/sandbox"
mount -t proc proc "$R/proc"
for n in null zero random urandom; do touch "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"; done
if [ -d "$D" ]; then mount --rbind "$D" "$R/data"; mount -o remount,ro,bind "$R/data"; fi
cd "$R"; mkdir .old; pivot_root . .old; umount -l /.old; rmdir /.old
cd /sandbox
ulimit -v "$LIMIT_AS_KB"; ulimit -f "$LIMIT_FSIZE_BLOCKS"; ulimit -t "$LIMIT_CPU_S"; ulimit -c 0
exec setpriv --no-new-privs --inh-caps=-all --bounding-set=-all -- "$@"
"""

_available = None


def namespaces_available():
    """``None`` if the namespace sandbox works on this machine, else one sentence why not."""
    global _available
    if _available is None:
        unshare = shutil.which("unshare")
        if sys.platform != "linux" or not unshare or not shutil.which("setpriv"):
            _available = "this machine has no Linux namespaces tools (util-linux's unshare and setpriv)"
        else:
            probe = subprocess.run([unshare, "--user", "--map-root-user", "--mount", "--net", "--pid", "--fork",
                                    "sh", "-c", "mount -t tmpfs probe /mnt"], capture_output=True, text=True)
            _available = None if probe.returncode == 0 else (
                "this machine does not allow unprivileged user namespaces ("
                + (probe.stderr.strip().splitlines() or ["unshare failed"])[-1][:120] + ")")
        _available = _available or ""
    return _available or None


def require_isolation():
    problem = namespaces_available()
    if problem:
        raise CourseError(f"Grading needs a sandbox for student code, but {problem}: grade on a Linux machine "
                          "that allows user namespaces (most do; in Docker run with --security-opt seccomp=unconfined), "
                          "or pass --isolation none to grade without one, only for submissions you trust.")


def _bind_list():
    dirs = {"/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin", "/etc", sys.prefix, sys.base_prefix,
            os.path.realpath(sys.base_prefix)}
    keep = []
    for d in sorted(dirs, key=len):
        if not any(d == k or d.startswith(k.rstrip("/") + "/") for k in keep):
            keep.append(d)
    return keep


def _hide_list(extra):
    import course_lib

    hide = {str(Path(course_lib.__file__).resolve().parent)} | {str(Path(p).resolve()) for p in extra}
    bound = _bind_list()
    return sorted(h for h in hide if any(h.startswith(b.rstrip("/") + "/") for b in bound))


def prepare_workdir(job_dir):
    """``job_dir/work``: the student process's script, the wire format and the student ``course_lib``."""
    from autograder.student_lib import copy_student_lib

    work = Path(job_dir) / "work"
    work.mkdir(parents=True)
    for name in ("student_process.py", "wire.py"):
        shutil.copyfile(HERE / name, work / name)
    copy_student_lib(work)
    mpl = work / ".matplotlib"
    mpl.mkdir()
    try:
        import matplotlib

        for f in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
            shutil.copyfile(f, mpl / f.name)
    except Exception:  # noqa: BLE001 - only a speed-up
        pass
    return work


class StudentProcess:
    """One running student process and the channel to it.

    ``request(msg, on_callback)`` sends a message and returns the reply; while the student's
    code runs it may ask to call one of the grader's callables, which ``on_callback(msg)``
    answers. Every wait has a deadline; on a missed deadline, death or a malformed message the
    process is killed and :class:`StudentCodeError` says what happened in one sentence.
    """

    def __init__(self, job_dir, isolation="namespaces", limits=Limits(), data_dir=None, hide=(), deadline=None):
        self.limits = limits
        self.job_dir = Path(job_dir)
        self.work = prepare_workdir(self.job_dir) if not (self.job_dir / "work").exists() else self.job_dir / "work"
        child_r, self._w = os.pipe()
        self._r, child_w = os.pipe()
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/sandbox", "COURSE_GRADING": "1", "MPLBACKEND": "Agg",
               "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "LANG": "C.UTF-8"}
        argv_tail = ["-s", "-X", "utf8", "student_process.py", str(child_r), str(child_w)]
        if isolation == "namespaces":
            require_isolation()
            root = self.job_dir / "root"
            root.mkdir(exist_ok=True)
            env.update(MPLCONFIGDIR="/sandbox/.matplotlib", COURSE_DATA="/data", TMPDIR="/tmp",
                       BIND_RO=" ".join(_bind_list()), HIDE=" ".join(_hide_list(hide)),
                       LIMIT_AS_KB=str(limits.memory_mb * 1024), LIMIT_FSIZE_BLOCKS=str(limits.file_mb * 1024),
                       LIMIT_CPU_S=str(limits.cpu_s))
            cmd = [shutil.which("unshare"), "--user", "--map-root-user", "--mount", "--net", "--pid", "--fork",
                   "--kill-child", "sh", "-c", _JAIL_SCRIPT, "jail", str(root), str(self.work),
                   str(data_dir or "/nonexistent"), sys.executable] + argv_tail
            preexec, cwd = None, None
        elif isolation == "none":
            env.update(MPLCONFIGDIR=str(self.work / ".matplotlib"), TMPDIR=str(self.work))
            if data_dir:
                env["COURSE_DATA"] = str(data_dir)
            cmd = [sys.executable] + argv_tail
            rl = _rlimits(limits)

            def preexec():
                for what, value in rl:
                    try:
                        resource.setrlimit(what, (value, value))
                    except (ValueError, OSError):
                        pass
            cwd = self.work
        else:
            raise CourseError(f"unknown isolation {isolation!r}: use 'namespaces' or 'none'.")
        with open(self.job_dir / "student-stderr.log", "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=log, pass_fds=(child_r, child_w), start_new_session=True, preexec_fn=preexec)
        os.close(child_r)
        os.close(child_w)
        self._buf = b""
        self.notebook_deadline = deadline or time.monotonic() + limits.notebook_s
        ready = self._recv(deadline=min(time.monotonic() + START_TIMEOUT_S, self.notebook_deadline), what="start")
        if ready.get("op") != "ready":
            self.kill()
            raise StudentCodeError("the grading process did not start properly")

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
            if self.proc.poll() is not None:
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
            msg = json.loads(data.decode())
        except (ValueError, UnicodeDecodeError):
            self.kill()
            raise StudentCodeError("your code wrote over the grader's channel, so the grader stopped it") from None
        if not isinstance(msg, dict):
            self.kill()
            raise StudentCodeError("your code wrote over the grader's channel, so the grader stopped it")
        return msg

    def _died(self):
        code = self.proc.poll()
        self.kill()
        if code is not None and code < 0 and -code == signal.SIGKILL:
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
        return self.proc.poll() is None

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._r = self._w = -1

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
