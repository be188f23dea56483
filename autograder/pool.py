"""Local grading workers: a pool in which a dead worker costs only the job it was running.

``concurrent.futures.ProcessPoolExecutor`` breaks as a whole when one worker dies: every job
in flight or queued fails with it. :class:`WorkerPool` keeps one pipe per worker, so it knows
which job each one runs. When a worker dies (killed for memory, a signal, a crash in a
library) or runs past its job's time limit, the pool starts a new worker in its place and
queues that one job again; a job that loses its worker twice gets its own one-sentence
problem (:func:`crash_problem`), and the rest of the batch goes on.

Everything a worker writes lives in its own folder of mode 700 under the batch folder
(:class:`BatchDir`): its nbgrader stages (the source notebooks and the gradebook) and a
ledger of the student processes and job folders it started. The parent removes a worker's
folder, stops the student processes it left and removes their job folders as soon as the
worker is gone, however it ended, SIGKILL included; the batch folder goes when the batch ends.
"""

import ctypes
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from multiprocessing.connection import wait
from pathlib import Path

from autograder.cgroups import pid_alive

LEDGER = "ledger"
BATCH_PREFIX = "course-grade-"
PR_SET_CHILD_SUBREAPER = 36
START_TIMEOUT_S = 600   # a new worker's imports and set-up (seconds on an idle machine)


class BatchDir:
    """A private temporary folder (mode 700) for one batch; :meth:`remove` deletes it.

    It holds an ``owner`` file with the main process's pid; a folder whose owner is gone (a
    batch whose main process was killed) is removed by the next batch of the same user."""

    def __init__(self, parent=None):
        _remove_stale(parent)
        self.path = Path(tempfile.mkdtemp(prefix=BATCH_PREFIX, dir=parent))
        os.chmod(self.path, 0o700)
        (self.path / "owner").write_text(str(os.getpid()))

    def new_folder(self, name):
        folder = self.path / name
        folder.mkdir(mode=0o700)
        os.chmod(folder, 0o700)
        return folder

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


def _remove_stale(parent=None):
    root = Path(parent or tempfile.gettempdir())
    try:
        candidates = [p for p in root.iterdir() if p.name.startswith(BATCH_PREFIX)]
    except OSError:
        return
    for p in candidates:
        try:
            if p.is_symlink() or not p.is_dir() or p.stat().st_uid != os.getuid():
                continue
            pid = int((p / "owner").read_text().strip())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and not pid_alive(pid):
            shutil.rmtree(p, ignore_errors=True)


def _set_subreaper(on):
    """Make this process the reaper of its orphaned descendants (Linux), so that a student
    process whose worker was killed becomes our child, which we can verify before we stop it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _parent_of(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def clean_up_after(folder):
    """Stop the student processes a gone worker left and remove their job folders and ``folder``."""
    folder = Path(folder)
    pids, dirs = [], []
    try:
        for line in (folder / LEDGER).read_text(encoding="utf-8").splitlines():
            kind, _, value = line.partition(" ")
            if kind == "pid" and value.isdigit():
                pids.append(int(value))
            elif kind == "dir" and value:
                dirs.append(value)
    except OSError:
        pass
    for pid in pids:
        if _parent_of(pid) != os.getpid():  # not an orphan handed to us: already gone, or someone else's pid now
            continue
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                break
            time.sleep(0.05)
    for d in dirs:
        p = Path(d)
        if p.is_absolute() and len(p.parts) > 2 and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)


def _ledger_writer(folder):
    path = Path(folder) / LEDGER

    def write(kind, value):
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{kind} {value}\n")
    return write


def _worker_main(conn, folder, init, init_args):
    """A worker: set up, then run ``(function, args)`` jobs from ``conn`` until it gets ``None``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the whole group: the parent stops the batch
    from autograder import remote

    os.environ["COURSE_STAGE_PARENT"] = folder   # autograder.pipeline.STAGE_PARENT_ENV: its stages go here
    remote.WATCH = _ledger_writer(folder)
    if init is not None:
        init(*init_args)
    conn.send(("ready", None))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        if msg is None:
            break
        fn, args = msg
        try:
            reply = ("ok", fn(*args))
        except BaseException as e:  # noqa: BLE001 - reported to the parent, which decides
            reply = ("error", f"{type(e).__name__}: {str(e)[:300]}")
        try:
            conn.send(reply)
        except (EOFError, OSError):
            break


class _Worker:
    def __init__(self, ctx, folder, init, init_args):
        self.folder = folder
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, str(folder), init, init_args), daemon=True,
                                name=f"grading-{folder.name}")
        self.proc.start()
        child.close()
        self.job = None
        self.started = None
        self.ready = False          # set when it says so, after its set-up: only then does it get jobs
        self.born = time.monotonic()

    def give(self, index, message):
        self.job, self.started = index, time.monotonic()
        self.conn.send(message)

    def kill(self):
        if self.proc.is_alive():
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.join(10)
        self.conn.close()


def exit_reason(exitcode):
    """Words for how a worker process ended."""
    if exitcode is None:
        return "it stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            return "it was killed by SIGKILL, usually for using more memory than the machine allows"
        return f"it was stopped by {name}"
    return f"it exited with status {exitcode}"


def crash_problem(why):
    return (f"Grading this submission cost the grader its worker process twice ({why}); it scores 0, "
            "and the rest of the batch was graded as usual.")


class WorkerPool:
    """``workers`` processes of the ``spawn`` kind, each running ``init(*init_args)`` once.

    :meth:`run` yields ``(index, ("ok", result) | ("error", text) | ("crash", sentence))`` for
    every job, as each finishes. ``timeout(job)`` gives a job's wall-clock limit in seconds.
    """

    def __init__(self, workers, batch, init=None, init_args=(), max_losses=2):
        self.n, self.batch, self.init, self.init_args = workers, batch, init, tuple(init_args)
        self.max_losses = max_losses
        self.ctx = multiprocessing.get_context("spawn")
        self._count = 0
        self._started = []  # workers started early by :meth:`start`
        self._reaper = False
        self.lost = 0       # workers that died or were stopped while the batch ran (for tests and the curious)

    def start(self, n_jobs):
        """Start the workers now (their imports and set-up run meanwhile); :meth:`run` uses them."""
        if not self._started:
            self._reaper = _set_subreaper(True)   # before they start anything: what they leave comes to us
            self._started = [self._spawn() for _ in range(min(self.n, n_jobs))]

    def stop(self):
        """Stop workers started by :meth:`start` that :meth:`run` never took over."""
        started, self._started = self._started, []
        for w in started:
            self._retire(w)
        if started and self._reaper:
            _set_subreaper(False)
        self._reaper = False

    def _spawn(self):
        self._count += 1
        return _Worker(self.ctx, self.batch.new_folder(f"worker-{self._count}"), self.init, self.init_args)

    def _retire(self, w):
        w.kill()
        clean_up_after(w.folder)

    def run(self, jobs, fn, fixed_args=(), timeout=None):
        queue = deque(range(len(jobs)))
        losses = {}
        reaper = _set_subreaper(True)
        pool, self._started, self._reaper = self._started, [], False
        for w in pool:   # started early: their start-up time counts from now, as for the others
            w.born = time.monotonic()
        try:
            pool += [self._spawn() for _ in range(min(self.n, len(jobs)) - len(pool))]
            while queue or any(w.job is not None for w in pool):
                for w in pool:
                    if w.ready and w.job is None and queue and w.proc.is_alive():
                        i = queue.popleft()
                        try:
                            w.give(i, (fn, (*fixed_args, jobs[i])))
                        except (OSError, EOFError):   # it is dying: the check below sees it
                            w.job = None
                            queue.appendleft(i)
                listening = [w for w in pool if w.job is not None or not w.ready]
                ready = set(wait([w.conn for w in listening] + [w.proc.sentinel for w in pool], timeout=1.0))
                survivors = []
                for w in pool:
                    if w in listening and w.conn in ready:
                        try:
                            reply = w.conn.recv()
                        except (EOFError, OSError):
                            reply = None
                        if reply is not None and not w.ready:
                            w.ready = reply == ("ready", None)
                        elif reply is not None:
                            i, w.job = w.job, None
                            yield i, reply
                    if w.proc.sentinel in ready or not w.proc.is_alive():
                        w.proc.join(5)
                        why = exit_reason(w.proc.exitcode)
                    elif w.job is not None and timeout is not None and time.monotonic() - w.started > timeout(jobs[w.job]):
                        why = f"it ran longer than {timeout(jobs[w.job]):.0f} s"
                    elif not w.ready and time.monotonic() - w.born > START_TIMEOUT_S:
                        why = f"it did not start within {START_TIMEOUT_S} s"
                    else:
                        survivors.append(w)
                        continue
                    i = w.job
                    self._retire(w)
                    self.lost += 1
                    if i is not None:
                        losses[i] = losses.get(i, 0) + 1
                        if losses[i] >= self.max_losses:
                            yield i, ("crash", crash_problem(why))
                        else:
                            queue.appendleft(i)
                    if queue:
                        survivors.append(self._spawn())
                pool = survivors
                if queue and not pool:
                    pool = [self._spawn()]
        finally:
            for w in pool:
                if w.job is None and w.proc.is_alive():
                    try:
                        w.conn.send(None)
                    except (OSError, EOFError):
                        pass
            for w in pool:
                if w.job is None:
                    w.proc.join(30)
                self._retire(w)
            if reaper:
                _set_subreaper(False)
