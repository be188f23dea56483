"""A cgroup around one student process tree: memory and process caps for all of it together.

:func:`tree_cgroup` makes a fresh cgroup for one sandbox where this machine lets the grader
(cgroup v2 with the ``memory`` and ``pids`` controllers available to a child of the grader's
cgroup or of its parent; or cgroup v1 hierarchies it can write, as root usually can). The
sandbox's first process writes its own pid into :attr:`TreeCgroup.procs_files` before it
starts anything, so every process of the tree is counted. Where no cgroup can be made the
function returns ``None`` and the caller falls back to what holds without one (see
:mod:`autograder.jail`).

The cgroups are named ``course-sandbox-<grader pid>-<n>``; one left behind by a grader that
died is emptied and removed when the next sandbox is made beside it.
"""

import itertools
import os
import signal
import time
from pathlib import Path

PREFIX = "course-sandbox-"
_counter = itertools.count()


def _mounts():
    """``{"2": (mount point, mount root)}`` for cgroup2 and ``{"memory"|"pids": (...)}`` for v1."""
    found = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point = fields[3], fields[4]
        if tail[0] == "cgroup2":
            found.setdefault("2", (point, root))
        elif tail[0] == "cgroup":
            for opt in tail[2].split(","):
                if opt in ("memory", "pids"):
                    found.setdefault(opt, (point, root))
    return found


def _own_paths():
    """``{"2": path}`` and ``{"memory"|"pids": path}``: this process's cgroups."""
    own = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return own
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            own["2"] = path
        for c in controllers.split(","):
            if c in ("memory", "pids"):
                own[c] = path
    return own


def _inside(mount, own_path):
    """The directory of ``own_path`` under the hierarchy mounted at ``mount``, or None."""
    point, root = mount
    if root != "/" and not (own_path == root or own_path.startswith(root.rstrip("/") + "/")):
        return None
    rel = own_path[len(root):] if root != "/" else own_path
    d = Path(point) / rel.lstrip("/")
    return d if d.is_dir() else None


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def pid_alive(pid):
    """Whether a process ``pid`` exists (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(parent):
    """Empty and remove the cgroups that graders which no longer run left in ``parent``."""
    try:
        names = [p.name for p in parent.iterdir() if p.name.startswith(PREFIX)]
    except OSError:
        return
    for name in names:
        try:
            pid = int(name[len(PREFIX):].split("-")[0])
        except ValueError:
            continue
        if pid != os.getpid() and not pid_alive(pid):
            TreeCgroup([parent / name], "2" if (parent / name / "cgroup.kill").exists() else "1").remove(kill=True)


def _make(parent, name, settings):
    """``parent/name`` with ``settings`` written, or None (and nothing left behind)."""
    _sweep(parent)
    d = parent / name
    try:
        d.mkdir()
    except OSError:
        return None
    try:
        for file, value, required in settings:
            try:
                _write(d / file, value)
            except OSError:
                if required:
                    raise
    except OSError:
        try:
            d.rmdir()
        except OSError:
            pass
        return None
    return d


def _may_move(d):
    return os.access(d / "cgroup.procs", os.W_OK)


def _usable(d):
    """``d`` if a process may be moved into it, else None (and ``d`` removed)."""
    if d is None or _may_move(d):
        return d
    TreeCgroup([d], "1").remove(wait_s=0)
    return None


class TreeCgroup:
    """The cgroup(s) of one sandbox: one directory under v2, one per controller under v1."""

    def __init__(self, dirs, version, memory_dir=None, pids_dir=None):
        self.dirs, self.version = list(dirs), version
        self.memory_dir, self.pids_dir = memory_dir, pids_dir

    @property
    def procs_files(self):
        return [str(d / "cgroup.procs") for d in self.dirs]

    def oom_kills(self):
        """How many times the kernel killed a process of the tree for going over the memory cap."""
        if self.memory_dir is None:
            return 0
        text = _read(self.memory_dir / ("memory.events" if self.version == "2" else "memory.oom_control"))
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value or 0)
        return 0

    def pids(self):
        found = set()
        for d in self.dirs:
            for line in _read(d / "cgroup.procs").split():
                found.add(int(line))
        return found

    def kill(self):
        """SIGKILL every process in the cgroup."""
        for d in self.dirs:
            if (d / "cgroup.kill").exists():
                try:
                    _write(d / "cgroup.kill", "1")
                    continue
                except OSError:
                    pass
        for _ in range(3):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def remove(self, kill=False, wait_s=2.0):
        """Remove the directories (they must be empty: ``kill=True`` empties them first)."""
        deadline = time.monotonic() + wait_s
        for d in self.dirs:
            while True:
                if kill:
                    self.kill()
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)


def tree_cgroup(memory_bytes, max_tasks):
    """A new :class:`TreeCgroup` capping the tree at ``memory_bytes`` and ``max_tasks``, or None."""
    name = f"{PREFIX}{os.getpid()}-{next(_counter)}"
    mounts, own = _mounts(), _own_paths()
    v2 = mounts.get("2") and own.get("2") is not None and _inside(mounts["2"], own["2"])
    if v2 and {"memory", "pids"} <= set(_read(Path(mounts["2"][0]) / "cgroup.controllers").split()):
        settings = [("memory.max", str(memory_bytes), True), ("memory.swap.max", "0", False),
                    ("memory.oom.group", "1", False), ("pids.max", str(max_tasks), True)]
        # a child of our own cgroup if it is the hierarchy's root, else a sibling (a cgroup with
        # processes in it cannot hand controllers to children)
        parents = [v2] if own["2"] == "/" else [v2.parent]
        for parent in parents:
            enabled = set(_read(parent / "cgroup.subtree_control").split())
            if not {"memory", "pids"} <= enabled:
                try:
                    _write(parent / "cgroup.subtree_control", "+memory +pids")
                except OSError:
                    continue
            d = _make(parent, name, settings)
            # moving a process there needs write access to it and to the common ancestor's procs
            if d is not None and _may_move(d) and _may_move(parent):
                return TreeCgroup([d], "2", memory_dir=d, pids_dir=d)
            if d is not None:
                TreeCgroup([d], "2").remove(wait_s=0)
    dirs, memory_dir, pids_dir = [], None, None
    if "memory" in mounts and "memory" in own:
        parent = _inside(mounts["memory"], own["memory"])
        if parent is not None:
            memory_dir = _usable(_make(parent, name, [("memory.limit_in_bytes", str(memory_bytes), True),
                                                      ("memory.memsw.limit_in_bytes", str(memory_bytes), False)]))
    if "pids" in mounts and "pids" in own:
        parent = _inside(mounts["pids"], own["pids"])
        if parent is not None:
            pids_dir = _usable(_make(parent, name, [("pids.max", str(max_tasks), True)]))
    dirs = [d for d in (memory_dir, pids_dir) if d is not None]
    return TreeCgroup(dirs, "1", memory_dir=memory_dir, pids_dir=pids_dir) if dirs else None
