"""A pre-started student process: it imports once what every submission's process needs, then
forks one sandboxed student process per submission (see :class:`autograder.jail.Zygote`).

The grader copies this file, as ``student_process.py``, into a folder of its own with
``jail_setup.py`` and a copy of matplotlib's font list, and starts it there as
``python -s -X utf8 student_process.py CTL READY`` with exactly the environment a student
process gets in the sandbox (so its ``/proc/self/cmdline`` and ``/proc/self/environ``, which a
forked child keeps, read like a fresh student process's). Standard library only besides what it
preloads; nothing of the grader (``autograder``), of ``course_lib`` or of the instructor's files.

What it preloads (:data:`PRELOAD`) is what every course notebook's first cell and its first
optimizer step import anyway: NumPy, torch (one thread; the modules its first ``step`` imports
lazily), matplotlib with pyplot (Agg), ipywidgets and IPython's shell, each from the read-only
system and Python folders the sandbox shows at the same paths. The student ``course_lib`` is
imported by the child from ``/sandbox``, as in a fresh process.

It never runs student code and never reads anything of a submission: a fork request carries
only file descriptors (the channel's two pipes, the job's stderr log, a pipe with the sandbox's
description, which only the child reads, and a pipe on which this process writes the child's
wait status when it reaps it). Before each fork it checks that it has a single thread.

The child (``O``) closes every other descriptor, moves the channel to the numbers named on the
command line, starts a new session, reads the sandbox's description and enters it exactly as
``python -c jail_setup`` does (:func:`jail_setup.enter`: cgroup, namespaces, file system, uid,
no capabilities, rlimits, descriptors); in the student process it then restores what a fresh
process would have (``sys.path[0] == "/sandbox"``, the environment, torch's generator at its
import-time state, matplotlib's folders), and runs ``/sandbox/student_process.py`` as
``__main__`` in this module's emptied namespace.
"""

import os
import select
import signal
import socket
import sys

CTL, READY = int(sys.argv[1]), int(sys.argv[2])
HERE = os.getcwd()
PARENT = os.getppid()
SANDBOX = "/sandbox"
PRELOAD = ("numpy", "torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.optim.lr_scheduler",
           "matplotlib", "matplotlib.pyplot", "matplotlib.figure", "matplotlib.ticker", "ipywidgets",
           "IPython.core.interactiveshell")


def _preload():
    """Import :data:`PRELOAD` and take torch's first optimizer steps (no random numbers drawn)."""
    import importlib

    sandbox_mpl = os.environ.get("MPLCONFIGDIR")
    os.environ["MPLCONFIGDIR"] = os.path.join(HERE, ".matplotlib")  # /sandbox is not on the host
    try:
        for name in PRELOAD:
            importlib.import_module(name)
    finally:
        if sandbox_mpl is None:
            del os.environ["MPLCONFIGDIR"]
        else:
            os.environ["MPLCONFIGDIR"] = sandbox_mpl
    import torch

    state = torch.get_rng_state()
    w = torch.nn.Parameter(torch.zeros(2, 3))
    for opt in (torch.optim.SGD([w], lr=0.1, momentum=0.9), torch.optim.Adam([w], lr=0.1),
                torch.optim.AdamW([w], lr=0.1), torch.optim.RMSprop([w], lr=0.1)):
        opt.zero_grad()
        torch.nn.functional.mse_loss(w @ torch.ones(3, 1), torch.ones(2, 1)).backward()
        opt.step()
    if not torch.equal(state, torch.get_rng_state()):
        raise RuntimeError("the warm-up drew from torch's generator")
    del w, opt
    import gc

    gc.collect()
    return state


def _threads():
    return len(os.listdir("/proc/self/task"))


def _load_setup():
    ns = {"__name__": "jail_setup"}
    with open(os.path.join(HERE, "jail_setup.py")) as f:
        exec(compile(f.read(), os.path.join(HERE, "jail_setup.py"), "exec"), ns)
    return ns


def _serve(setup):
    """The zygote's loop. Returns only in a forked child, with its descriptors ``(spec, log)``."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *a: None)
    ctl = socket.socket(fileno=CTL)
    children = {}
    while True:
        try:
            ready, _, _ = select.select([ctl, wake_r], [], [], 1.0)
        except InterruptedError:
            ready = []
        if wake_r in ready:
            os.read(wake_r, 4096)
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            fd = children.pop(pid, None)
            if fd is not None:
                try:
                    os.write(fd, str(status).encode())
                except OSError:
                    pass
                os.close(fd)
        if os.getppid() != PARENT:
            os._exit(0)                         # the grader is gone: so are the children (their death signal)
        if ctl not in ready:
            continue
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 64, 8)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        if msg != b"fork" or len(fds) != 5:
            for fd in fds:
                os.close(fd)
            ctl.send(b"error: not a fork request")
            continue
        if _threads() != 1:
            for fd in fds:
                os.close(fd)
            ctl.send(b"error: the zygote has more than one thread")
            continue
        spec_fd, chan_r, chan_w, status_w, log = fds
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            ctl.detach()
            _place({spec_fd: 5, chan_r: CTL, chan_w: READY, log: 2})
            return setup
        for fd in (spec_fd, chan_r, chan_w, log):
            os.close(fd)
        children[pid] = status_w
        ctl.send(b"pid %d" % pid)


def _place(moves):
    """Descriptors ``{now: wanted}``; /dev/null on 0 and 1; every other descriptor closed."""
    import fcntl

    high = {fcntl.fcntl(fd, fcntl.F_DUPFD, 64): want for fd, want in moves.items()}
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    for fd, want in high.items():
        os.dup2(fd, want)
    keep = sorted({0, 1, 2, *moves.values()})
    for low, up in zip(keep, keep[1:] + [1 << 20]):
        if up > low + 1:
            os.closerange(low + 1, up)


def _become_student(setup, torch_state):
    """In the forked child: enter the sandbox; returns only in the student process."""
    import json

    os.setsid()
    data = bytearray()
    while True:
        chunk = os.read(5, 1 << 16)
        if not chunk:
            break
        data += chunk
    os.close(5)
    try:
        spec = json.loads(bytes(data))
        data[:] = b"\0" * len(data)
        spec["keep_fds"] = [CTL, READY]
        if spec["mode"] == "none":       # isolation "none": a plain process with the per-process limits
            setup["_die_with_parent"]()
            setup["set_limits"](spec["rlimits"])
            os.chdir(spec["work"])
            status, home = None, spec["work"]
        else:
            status, home = setup["enter"](spec, in_process=True), SANDBOX
    except (setup["SetupError"], OSError, KeyError, ValueError) as e:
        os.write(2, f"sandbox: {e}\n".encode(errors="replace"))
        os._exit(1)
    if status is not None:               # the outer process: leave as the sandbox left
        setup["_exit_like"](status)
    env = spec["env"]
    del spec
    os.environ.clear()
    os.environ.update(env)
    _as_fresh(torch_state, home)
    return home


def _as_fresh(torch_state, home):
    """What a fresh ``python -s student_process.py`` in ``home`` (/sandbox) has that the zygote had otherwise."""
    import importlib

    sys.path_importer_cache.pop(sys.path[0], None)
    sys.path[0] = home
    sys.argv[:] = ["student_process.py", str(CTL), str(READY)]
    importlib.invalidate_caches()
    torch = sys.modules["torch"]
    torch.set_rng_state(torch_state)
    mpl = sys.modules["matplotlib"]
    for fn in (mpl.get_configdir, mpl.get_cachedir):   # memoized while the zygote imported matplotlib
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
            if name == "called":
                cell.cell_contents = False
    style = sys.modules.get("matplotlib.style.core") or sys.modules.get("matplotlib.style")
    if style is not None and hasattr(style, "USER_LIBRARY_PATHS"):
        style.USER_LIBRARY_PATHS[:] = [os.path.join(mpl.get_configdir(), "stylelib")]
    mp = sys.modules.get("multiprocessing.process")
    if mp is not None:
        mp.ORIGINAL_DIR = home              # the working folder at its import
    tmp = sys.modules.get("tempfile")
    if tmp is not None:
        tmp.tempdir = None                  # $TMPDIR, read again
    for name in [m for m in sys.modules if m not in _PRELOADED]:
        del sys.modules[name]               # what only this launcher imported


def _main_namespace(home):
    """This module's namespace, emptied and made ``home/student_process.py``'s; and its code."""
    import builtins
    import importlib.machinery

    path = os.path.join(home, "student_process.py")
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    g = globals()
    g.clear()
    g.update(__name__="__main__", __doc__=None, __package__=None, __spec__=None, __builtins__=builtins,
             __file__=path, __cached__=None, __loader__=importlib.machinery.SourceFileLoader("__main__", path))
    return code, g


try:
    _TORCH_STATE = _preload()
    _PRELOADED = set(sys.modules)
    _SETUP = _load_setup()
except BaseException as _e:  # noqa: BLE001
    os.write(READY, f"error: {type(_e).__name__}: {_e}"[:500].encode(errors="replace"))
    os._exit(1)
if _threads() != 1:
    os.write(READY, b"error: the zygote has more than one thread after its imports")
    os._exit(1)
os.write(READY, b"ready %d" % os.getpid())
os.close(READY)
_HOME = _become_student(_serve(_SETUP), _TORCH_STATE)
del _PRELOADED, _SETUP, _TORCH_STATE
exec(*_main_namespace(_HOME))
