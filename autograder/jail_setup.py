"""Build the sandbox around the current process, then exec the student process inside it.

:mod:`autograder.jail` runs this file as ``python -I -S -c <its source>`` with the sandbox's
description (:func:`autograder.jail._spec`) as JSON in ``$JAIL_SPEC``; it uses the standard
library only and nothing of the host's files but those the description names. :func:`enter`
is the whole set-up as one function, so that a process that is already running (a pre-started
"zygote") can call it after a ``fork``.

What it does, in order (``mode`` says who we are: ``"root"`` the real root, ``"root-nouserns"``
the same where the machine refuses the sandbox a user namespace, ``"stranger"`` root without
the right to mount, ``"user"`` an ordinary user):

1. join the sandbox's cgroup(s); ``stranger`` becomes the sandbox's own uid; new mount, PID,
   network, IPC, UTS and cgroup namespaces (``stranger`` and ``user``: inside a new user
   namespace whose root is that uid). This process stays outside the new PID namespace and
   waits; its child is PID 1 there and does the rest.
2. the file system: a read-only tmpfs root holding read-only, no-set-uid binds of the system
   and Python directories, a minimal ``/etc``, ``/data``, ``/dev`` (null, zero, full, random,
   urandom), its own ``/proc`` with the kernel's knobs read-only and ``kcore`` and friends
   masked, and one tmpfs of ``disk_mb`` for ``/sandbox`` (a copy of the work folder), ``/tmp``
   and ``/dev/shm``; then ``pivot_root`` into it, the host's tree detached.
3. ``root``: become the sandbox's own uid in a new user namespace; then, in that user
   namespace, no new user namespaces (``user.max_user_namespaces = 0``), the rlimits, no
   capabilities at all (bounding, permitted, effective, inheritable and ambient sets empty,
   ``no_new_privs``). PID 1 then forks the student process and stays to reap what ends in the
   namespace (:func:`reap_until`); the student process keeps only the channel's file
   descriptors and ``execve``-s with its own environment only.

Any failure prints one line (``sandbox: what: why``) on stderr and exits with status 1.
"""

import ctypes
import json
import os
import resource
import signal
import stat
import sys

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x2000000, 0x4000000, 0x8000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
MS_NOSYMFOLLOW, MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME = 256, 1024, 2048, 1 << 21, 1 << 24
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 1, 4, 24, 38, 47, 4
PIVOT_ROOT_NR = {"x86_64": 155, "amd64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41, "loongarch64": 41,
                 "ppc64le": 203, "ppc64": 203, "s390x": 217, "i686": 217, "i386": 217, "armv7l": 218}
# per-mount flags a remount must repeat (the kernel refuses to clear them on a locked mount)
_KEPT_FLAGS = {"noexec": MS_NOEXEC, "nosymfollow": MS_NOSYMFOLLOW, "noatime": MS_NOATIME,
               "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}
# the kernel's knobs: read-only, or masked (the lists runc uses)
PROC_READ_ONLY = ("sys", "sysrq-trigger", "bus", "fs", "irq")
PROC_MASKED = ("kcore", "keys", "timer_list", "timer_stats", "sched_debug", "latency_stats", "kpagecount",
               "kpageflags", "kpagecgroup", "acpi", "asound", "scsi")

_libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    pass


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")


def mount(source, target, fstype, flags=0, data=None):
    _check(_libc.mount(None if source is None else source.encode(), target.encode(),
                       None if fstype is None else fstype.encode(), ctypes.c_ulong(flags),
                       None if data is None else data.encode()), f"mount {target}")


def unshare(flags):
    _check(_libc.unshare(flags), "unshare")


def prctl(option, arg=0):
    _check(_libc.prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)),
           f"prctl {option}")


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _unescape(field):
    """A mountinfo field with its octal escapes (``\\040`` for a space) decoded."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def read_only_tree(top):
    """The mount at ``top`` and every mount below it: read-only, no set-uid, no devices."""
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    for line in lines:
        fields = line.split()
        point, options = _unescape(fields[4]), fields[5].split(",")
        if point != top and not point.startswith(top.rstrip("/") + "/"):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
        for o in options:
            flags |= _KEPT_FLAGS.get(o, 0)
        mount(None, point, None, flags)


def bind(source, target, read_only=True):
    mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        read_only_tree(target)


def _copy_tree(src, dst, owner=None):
    """Copy the folder ``src`` into ``dst`` (which exists): files, folders and symbolic links."""
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        st = os.lstat(s)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(s), d)
        elif stat.S_ISDIR(st.st_mode):
            os.mkdir(d, 0o755)
            _copy_tree(s, d, owner)
        elif stat.S_ISREG(st.st_mode):
            with open(s, "rb") as fi, open(d, "wb") as fo:
                while True:
                    chunk = fi.read(1 << 20)
                    if not chunk:
                        break
                    fo.write(chunk)
            os.chmod(d, stat.S_IMODE(st.st_mode) & 0o755 | 0o644)
        else:
            continue
        if owner is not None:
            os.lchown(d, owner, owner)


def _copy_entry(src, dst):
    """Copy one file or symbolic link (a file's mode becomes 0644)."""
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
    elif os.path.isfile(src):
        with open(src, "rb") as fi, open(dst, "wb") as fo:
            fo.write(fi.read())
        os.chmod(dst, 0o644)


def build_root(spec):
    """Step 2: the sandbox's file system at ``spec["root"]``, then ``pivot_root`` into it."""
    R, S = spec["root"], spec["scratch"]
    own = spec["mode"] in ("root", "root-nouserns")
    uid = spec["uid"]
    mount("sandbox-root", R, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    mount("scratch", S, "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={int(spec['disk_mb'])}m,mode=755" + (f",uid={uid},gid={uid}" if own else ""))
    for name, mode in (("sandbox", 0o755), ("tmp", 0o1777), ("shm", 0o1777)):
        os.mkdir(f"{S}/{name}")
        os.chmod(f"{S}/{name}", mode)
    _copy_tree(spec["work"], f"{S}/sandbox", uid if own else None)
    if own:
        os.chown(f"{S}/sandbox", uid, uid)
    for d in spec["binds"]:
        if os.path.exists(d):
            os.makedirs(R + d, exist_ok=True)
            bind(d, R + d)
    links = spec["links"]
    for path, target in zip(links[::2], links[1::2]):
        os.makedirs(os.path.dirname(R + path), exist_ok=True)
        os.symlink(target, R + path)
    os.makedirs(f"{R}/etc", exist_ok=True)
    for path in spec["etc"]:
        inside = f"{R}/etc/{os.path.basename(path)}"
        if os.path.isdir(path) and not os.path.islink(path):
            os.mkdir(inside, 0o755)
            bind(path, inside)
        else:
            _copy_entry(path, inside)
    _write(f"{R}/etc/passwd", "student:x:0:0:student:/sandbox:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    _write(f"{R}/etc/group", "student:x:0:\nnogroup:x:65534:\n")
    _write(f"{R}/etc/hosts", "127.0.0.1 localhost sandbox\n::1 localhost\n")
    _write(f"{R}/etc/hostname", "sandbox\n")
    for h in spec["hide"]:
        if os.path.isdir(R + h):
            mount("hidden", R + h, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")
    for d in ("data", "sandbox", "tmp", "proc", "dev/shm"):
        os.makedirs(f"{R}/{d}", exist_ok=True)
    if spec["data"] and os.path.isdir(spec["data"]):
        bind(spec["data"], f"{R}/data")
    bind(f"{S}/sandbox", f"{R}/sandbox", read_only=False)
    bind(f"{S}/tmp", f"{R}/tmp", read_only=False)
    bind(f"{S}/shm", f"{R}/dev/shm", read_only=False)
    for n in ("null", "zero", "full", "random", "urandom"):
        open(f"{R}/dev/{n}", "w").close()
        mount(f"/dev/{n}", f"{R}/dev/{n}", None, MS_BIND)
    os.symlink("/proc/self/fd", f"{R}/dev/fd")
    for i, n in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{R}/dev/{n}")
    P = f"{R}/proc"
    mount("proc", P, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _check(_libc.sethostname(b"sandbox", 7), "sethostname")
    # /proc/sys read-only, except the per-user-namespace limits (step 3 lowers one of them)
    mount(f"{P}/sys", f"{P}/sys", None, MS_BIND)
    mount(f"{P}/sys/user", f"{P}/sys/user", None, MS_BIND)
    for name in PROC_READ_ONLY:
        if os.path.exists(f"{P}/{name}"):
            if name != "sys":
                mount(f"{P}/{name}", f"{P}/{name}", None, MS_BIND)
            mount(None, f"{P}/{name}", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PROC_MASKED:
        path = f"{P}/{name}"
        if os.path.isdir(path):
            mount("masked", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
        elif os.path.exists(path):
            mount(f"{R}/dev/null", path, None, MS_BIND)
    mount(None, R, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(R)
    _pivot_root_here()
    _check(_libc.umount2(b".", MNT_DETACH), "umount the host's tree")
    os.chdir("/")


def _pivot_root_here():
    """``pivot_root(".", ".")``: the current folder becomes /, the old root stacked on it."""
    if hasattr(_libc, "pivot_root"):
        _check(_libc.pivot_root(b".", b"."), "pivot_root")
        return
    nr = PIVOT_ROOT_NR.get(os.uname().machine.lower())
    if nr is not None:
        _check(_libc.syscall(nr, b".", b"."), "pivot_root")
        return
    if os.spawnvp(os.P_WAIT, "pivot_root", ["pivot_root", ".", "."]) != 0:
        raise SetupError("pivot_root: failed")


def map_to_root(uid, gid):
    """In a user namespace just made: its root is ``uid``/``gid`` of the one outside."""
    _write("/proc/self/uid_map", f"0 {uid} 1\n")
    _write("/proc/self/setgroups", "deny\n")
    _write("/proc/self/gid_map", f"0 {gid} 1\n")


def become(uid):
    """The host uid and gid ``uid``, with no supplementary groups (and, for root, no capabilities)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    prctl(PR_SET_DUMPABLE, 1)   # a change of uid made /proc/self root's; our own uid_map must be ours


def drop_bounding_set():
    """Empty the capability bounding set: no ``execve`` can give a capability again."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        if _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
            if ctypes.get_errno() != 22:  # EINVAL: a capability this kernel does not have
                raise SetupError(f"drop capability {cap}: {os.strerror(ctypes.get_errno())}")


def drop_capabilities():
    """No capabilities now or after ``execve``, and none to gain (set-uid files do nothing);
    the bounding set must be empty already (:func:`drop_bounding_set`)."""
    _libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    prctl(PR_SET_NO_NEW_PRIVS, 1)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    data = (Data * 2)()
    _check(_libc.capset(ctypes.byref(Header(0x20080522, 0)), data), "capset")


def set_limits(limits):
    """``{"as": [soft, hard], ...}``: the rlimits, for this process and all it starts."""
    for name, (soft, hard) in limits.items():
        what = getattr(resource, f"RLIMIT_{name.upper()}")
        ceiling = resource.getrlimit(what)[1]   # none may be raised past the grader's own hard limit
        if ceiling != resource.RLIM_INFINITY:
            soft, hard = min(soft, ceiling), min(hard, ceiling)
        resource.setrlimit(what, (soft, hard))


def close_fds(keep):
    keep = sorted({0, 1, 2, *keep})
    for low, high in zip(keep, keep[1:] + [1 << 20]):
        if high > low + 1:
            os.closerange(low + 1, high)


def _die_with_parent():
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def enter(spec, in_process=False):
    """Steps 1-3 in this process; returns in the outer process, with the sandbox's wait status.

    With ``in_process`` (a zygote's child, :mod:`autograder.zygote`) it also returns, with ``None``,
    in the student process, at the point where it would otherwise ``execve``: in the sandbox,
    with its descriptors closed and no capabilities, dumpable again as an ``execve`` makes it."""
    for f in spec["cgroup_procs"]:
        _write(f, str(os.getpid()))
    ns = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
    mode = spec["mode"]
    if mode == "stranger":
        become(spec["uid"])
    if mode in ("stranger", "user"):
        uid, gid = os.geteuid(), os.getegid()
        unshare(CLONE_NEWUSER | ns)
        map_to_root(uid, gid)
    else:
        unshare(ns)
    _die_with_parent()
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    r, w = os.pipe()            # PID 1 cannot end by a signal; it says here how the student ended
    pid = os.fork()
    if pid:
        close_fds([r])
        status = os.waitpid(pid, 0)[1]
        said = os.read(r, 16)
        return int(said) if said.strip().isdigit() else status
    try:
        os.close(r)
        _die_with_parent()      # (its parent is outside its PID namespace: getppid() says 0)
        build_root(spec)
        if mode in ("root", "root-nouserns"):
            if mode == "root-nouserns":
                drop_bounding_set()
            become(spec["uid"])
            _die_with_parent()      # a change of uid clears it
            if mode == "root":
                try:
                    unshare(CLONE_NEWUSER)
                    map_to_root(spec["uid"], spec["uid"])
                except (SetupError, OSError) as e:
                    raise SetupError(f"a user namespace for the sandbox's uid: {e}") from None
        if mode != "root-nouserns":
            try:
                _write("/proc/sys/user/max_user_namespaces", "0")
            except OSError as e:
                if mode != "root":   # as root, a machine that restricts user namespaces may refuse it
                    raise SetupError(f"forbid new user namespaces: {e.strerror}") from None
            drop_bounding_set()
        drop_capabilities()
        set_limits(spec["rlimits"])
        os.chdir("/sandbox")
        prctl(PR_SET_DUMPABLE, 0)   # PID 1's environment ($JAIL_SPEC names host paths) and memory are
        student = os.fork()         # not the student's to read; its execve makes it dumpable again
        if student:
            reap_until(student, w)
        close_fds(spec["keep_fds"])
        if in_process:
            prctl(PR_SET_DUMPABLE, 1)
            return None
        os.execve(spec["argv"][0], spec["argv"], spec["env"])
    except (SetupError, OSError) as e:
        os.write(2, f"sandbox: {e}\n".encode(errors="replace"))
    os._exit(1)


def reap_until(student, report):
    """PID 1's work: reap every process that ends in the namespace (orphans come to PID 1) until
    ``student`` ends; write its wait status on ``report`` and end, which ends the namespace and
    all left in it."""
    close_fds([report])
    signal.signal(signal.SIGINT, signal.SIG_DFL)   # PID 1 then ignores it, as every other signal
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(1)
        if pid == student:
            os.write(report, str(status).encode())
            os._exit(0)


def _exit_like(status):
    """Leave with the sandbox's own wait status: its exit code, or the signal that ended it."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def main():
    try:
        spec = json.loads(os.environ["JAIL_SPEC"])
        status = enter(spec)
    except (SetupError, OSError, KeyError, ValueError) as e:
        os.write(2, f"sandbox: {e}\n".encode(errors="replace"))
        os._exit(1)
    _exit_like(status)


if __name__ == "__main__":
    main()
