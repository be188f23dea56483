"""Attacks on the sandbox, as a determined student would try them from a notebook cell.

Each test runs the real :class:`autograder.remote.Session` with isolation "namespaces" and checks
one thing the README's "Grading safely" section promises. They run as whoever runs pytest: in CI
and on the course machine that is root, where the sandbox must still run the student's code as a
uid that owns nothing; ``test_an_ordinary_user_gets_the_same_guarantees`` repeats the core checks
as an ordinary user where this machine lets one run the checkout's Python.
"""

import ctypes
import errno
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from autograder import cgroups, jail
from autograder.jail import SANDBOX_UID_BASE, Limits, namespaces_available
from autograder.remote import Session
from autograder.student_process import NOTEBOOK_OUTPUT_CAP, OUTPUT_CAP
from conftest import ROOT

pytestmark = pytest.mark.skipif(namespaces_available() is not None, reason=str(namespaces_available()))

AS_ROOT = os.geteuid() == 0


@pytest.fixture(scope="module", autouse=True, params=["fresh", "zygote"])
def start_mode(request):
    """Every attack runs twice: on student processes started afresh, and on student processes forked
    from a zygote, as ``course grade``'s workers start them (``COURSE_ZYGOTE=1``: this process starts
    one at its first student process)."""
    old = os.environ.get("COURSE_ZYGOTE")
    os.environ["COURSE_ZYGOTE"] = "0" if request.param == "fresh" else "1"
    yield request.param
    jail.stop_zygote()
    if old is None:
        os.environ.pop("COURSE_ZYGOTE", None)
    else:
        os.environ["COURSE_ZYGOTE"] = old


def test_the_attacks_run_on_the_kind_of_process_they_say(shared, start_mode):
    run(shared, "x = 1")
    forked = isinstance(shared.proc.proc, jail.ZygoteChild)
    assert forked == (start_mode == "zygote"), f"{start_mode}: the student process was {'forked' if forked else 'started afresh'}"


def open_session(data_dir=None, **limits):
    """A session in a job folder of its own, made (and removed) as the grader makes them."""
    limits = {"cell_s": 30, "notebook_s": 120, **limits}
    return Session("namespaces", Limits(**limits), data_dir=data_dir)


@pytest.fixture(scope="module")
def shared(start_mode):
    s = open_session(data_dir=ROOT / "data")
    yield s
    s.close()


@pytest.fixture
def fresh():
    made = []

    def make(**kw):
        made.append(open_session(**kw))
        return made[-1]
    yield make
    for s in made:
        s.close()


def run(session, code):
    out, err = session.run_cell(textwrap.dedent(code))
    assert err is None, f"{err}\n{out}"
    return out


def values(out):
    """``{key: value}`` from lines ``key=value`` printed by a cell."""
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def host_status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return fields


def student_pids(session):
    """Host pids of the sandbox's processes inside its namespaces (all but the outer one)."""
    session._process()
    return session.proc.tree_pids()[1:]


# -- who the student is ----------------------------------------------------------------------------

def test_the_student_runs_as_a_host_uid_that_owns_nothing(shared):
    run(shared, "x = 1")
    pids = student_pids(shared)
    assert len(pids) >= 2, "PID 1 and the student process"
    uids = {tuple(host_status(p)["Uid"]) for p in pids} | {tuple(host_status(p)["Gid"]) for p in pids}
    assert len(uids) == 1, uids
    uid = int(next(iter(uids))[0])
    if AS_ROOT:
        assert uid >= SANDBOX_UID_BASE, f"as root, the sandbox must not run as uid {uid}"
        assert all(os.stat(p).st_uid != uid for p in (ROOT, ROOT / "data", sys.prefix, "/etc/shadow", "/tmp"))
        tree = shared.proc.tree_pids()      # with the outer process, which is this uid too in one way
        others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in tree
                  and Path(f"/proc/{p}/status").exists() and host_status(p).get("Uid", ["-"])[0] == str(uid)]
        assert not others, f"processes outside the sandbox run as its uid {uid}: {others}"
    else:
        assert uid == os.getuid(), "an ordinary user's sandbox can only be that user"
    for p in pids:
        st = host_status(p)
        assert all(st[k] == ["0000000000000000"] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")), st
        assert st["NoNewPrivs"] == ["1"]
        assert st["Groups"] == []


def test_inside_it_has_no_capabilities_and_cannot_get_any(shared):
    out = run(shared, r"""
        import ctypes, os, subprocess
        status = dict(l.split(':\t') for l in open('/proc/self/status').read().splitlines() if ':\t' in l)
        print('caps=' + ','.join(status[k] for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')))
        print('nnp=' + status['NoNewPrivs'])
        libc = ctypes.CDLL(None, use_errno=True)
        print('userns=', libc.unshare(0x10000000), ctypes.get_errno())          # CLONE_NEWUSER
        print('mountns=', libc.unshare(0x00020000), ctypes.get_errno())         # CLONE_NEWNS
        for name, call in (('setuid', lambda: os.setuid(1)), ('chroot', lambda: os.chroot('/tmp'))):
            try:
                call(); print(name + '=allowed')
            except OSError as e:
                print(name + '=' + e.strerror)
        # set-uid programs in the bound /usr: no_new_privs makes the bit do nothing
        os.makedirs('mnt', exist_ok=True)          # in its own folder: harmless, were the sandbox broken
        p = subprocess.run(['sh', '-c', 'su -c id root; mount -t tmpfs x mnt; unshare -U true; id -u'],
                           capture_output=True, text=True)
        print('id=' + p.stdout.strip().splitlines()[-1] + ' ' + str(os.getuid()))
        print('mounted=' + str(os.path.ismount('mnt')))
    """)
    v = values(out)
    assert v["caps"] == ",".join(["0000000000000000"] * 5) and v["nnp"] == "1"
    if jail.sandbox_mode() != "root-nouserns":   # (that way is for machines that refuse user namespaces)
        assert v["userns"].split()[0] == "-1", "a new user namespace would give the student capabilities in it"
    assert v["mountns"].split()[0] == "-1"
    assert v["setuid"] != "allowed" and v["chroot"] != "allowed"
    after, before = v["id"].split()
    assert after == before and v["mounted"] == "False", "a set-uid program made the student someone else"


def test_kernel_knobs_are_read_only_or_masked(shared):
    # opened for writing, never written: were the sandbox broken, this test must not change the host
    out = run(shared, r"""
        import os
        for path in ('/proc/sys/kernel/core_pattern', '/proc/sys/kernel/hostname', '/proc/sys/vm/drop_caches',
                     '/proc/sysrq-trigger', '/proc/sys/user/max_user_namespaces', '/proc/sys/fs/file-max'):
            try:
                os.close(os.open(path, os.O_WRONLY))
                print(path + '=WRITTEN')
            except OSError as e:
                print(path + '=' + (e.strerror or ''))
        for path in ('/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/kpageflags'):
            if os.path.exists(path):
                with open(path, 'rb') as f:
                    print(path + '=' + str(len(f.read(4096))))
        print('acpi=' + str(os.listdir('/proc/acpi') if os.path.exists('/proc/acpi') else []))
        print('sys=' + str(os.path.exists('/sys/kernel')))
    """)
    v = values(out)
    for path in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname", "/proc/sys/vm/drop_caches",
                 "/proc/sys/user/max_user_namespaces", "/proc/sys/fs/file-max"):
        assert v[path] != "WRITTEN", path
    assert v.get("/proc/sysrq-trigger") != "WRITTEN"
    for path in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/kpageflags"):
        assert v.get(path, "0") == "0", f"{path} is not masked"
    assert v["acpi"] == "[]" and v["sys"] == "False"


def test_files_only_root_may_read_stay_unreadable(fresh):
    data = Path(tempfile.mkdtemp(prefix="course-data-"))
    data.chmod(0o755)
    (data / "public.txt").write_text("for everyone")
    secret = data / "secret.txt"
    secret.write_text("the answers")
    secret.chmod(0o600)
    try:
        s = fresh(data_dir=data)
        out = run(s, r"""
            for path in ('/data/public.txt', '/data/secret.txt', '/etc/shadow', '/root/.bash_history'):
                try:
                    print(path + '=' + open(path).read())
                except OSError as e:
                    print(path + '=' + type(e).__name__)
        """)
    finally:
        shutil.rmtree(data)
    v = values(out)
    assert v["/data/public.txt"] == "for everyone"
    assert v["/etc/shadow"] == "FileNotFoundError" and v["/root/.bash_history"] == "FileNotFoundError"
    if AS_ROOT:
        assert v["/data/secret.txt"] == "PermissionError", "as root, the sandbox must not read root's 0600 files"


def test_the_graders_processes_are_out_of_reach(shared):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        out = run(shared, rf"""
            import os, signal
            print('pids=' + ','.join(sorted(p for p in os.listdir('/proc') if p.isdigit())))
            for pid in ({os.getpid()}, {sleeper.pid}):
                try:
                    os.kill(pid, 0); print(f'{{pid}}=visible')
                except OSError as e:
                    print(f'{{pid}}=' + e.strerror)
        """)
        v = values(out)
        assert all(int(p) < 50 for p in v["pids"].split(",")), "the sandbox must see only its own processes"
        assert v[str(os.getpid())] == "No such process" and v[str(sleeper.pid)] == "No such process"
        # everything this uid may signal: inside, that is the student's own processes (PID 1 is spared)
        shared.run_cell("import os, signal\nif os.fork() == 0:\n    os.kill(-1, signal.SIGKILL)\n    os._exit(0)\n"
                        "os.wait()")
        assert sleeper.poll() is None, "kill -9 -1 inside the sandbox reached a process outside it"
        assert run(shared, "print(6 * 7)").strip() == "42"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_graders_sockets_are_out_of_reach(shared):
    import socket

    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(f"\0course-test-{os.getpid()}")
    abstract.listen()
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    try:
        v = values(run(shared, rf"""
            import socket
            for name, family, address in (('abstract', socket.AF_UNIX, '\0course-test-{os.getpid()}'),
                                          ('tcp', socket.AF_INET, ('127.0.0.1', {tcp.getsockname()[1]}))):
                s = socket.socket(family, socket.SOCK_STREAM)
                s.settimeout(2)
                try:
                    s.connect(address); print(name + '=connected')
                except OSError as e:
                    print(name + '=' + type(e).__name__)
                s.close()
        """))
        assert v["abstract"] != "connected" and v["tcp"] != "connected", v
    finally:
        abstract.close()
        tcp.close()


def test_no_host_path_shows_inside(shared):
    job = str(shared.job_dir)
    out = run(shared, r"""
        import os
        print('env=' + repr(sorted(os.environ)))
        print('environ=' + repr(open('/proc/self/environ', 'rb').read()))
        print('cmdline=' + repr([open(f'/proc/{p}/cmdline', 'rb').read() for p in os.listdir('/proc') if p.isdigit()]))
        fds = {}
        for fd in os.listdir('/proc/self/fd'):
            try:
                fds[fd] = os.readlink('/proc/self/fd/' + fd)
            except OSError:
                pass
        print('fds=' + repr(fds))
        print('cwd=' + os.readlink('/proc/self/cwd'))
        print('cgroup=' + repr(open('/proc/self/cgroup').read()))
        for p in os.listdir('/proc'):
            if p.isdigit() and p != str(os.getpid()):
                try:
                    print('other_environ=' + repr(open(f'/proc/{p}/environ', 'rb').read()))
                except OSError as e:
                    print('other_environ=' + type(e).__name__)
        print('mountinfo<<')
        print(open('/proc/self/mountinfo').read())
    """)
    head, _, mountinfo = out.partition("mountinfo<<")
    v = values(head)
    assert eval(v["env"]) == sorted(["PATH", "HOME", "COURSE_GRADING", "MPLBACKEND", "PYTHONHASHSEED", "LANG",
                                     "PYTHONDONTWRITEBYTECODE", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                     "MPLCONFIGDIR", "COURSE_DATA", "TMPDIR"])
    assert "OLDPWD" not in v["environ"] and "JAIL" not in v["environ"]
    assert v["cwd"] == "/sandbox"
    assert "course-sandbox" not in v["cgroup"] and all(line.endswith(":/") for line in eval(v["cgroup"]).split())
    assert v["other_environ"] == "PermissionError", "PID 1's environment (it names host paths) is readable"
    for text in (head, mountinfo):
        assert job not in text and "course-job" not in text, "the grader's job folder shows inside"
    # /dev/null, the channel's pipes and what the student opened itself (its files, sockets)
    assert all(t.startswith(("/dev/null", "pipe:", "socket:", "/sandbox/", "/tmp/")) for t in eval(v["fds"]).values()), v["fds"]
    # of the checkout, only the Python installation (a venv may live in it) and data/ are mounted
    allowed = {sys.prefix, os.path.realpath(sys.prefix), str(ROOT / "data")}
    for line in mountinfo.splitlines():
        fields = line.split()
        if str(ROOT) in line:
            assert fields[3] in allowed, line


def test_its_hostname_and_ipc_are_its_own(fresh):
    a, b = fresh(), fresh()
    key = 0x5EC0DE00 + os.getpid() % 256
    create = rf"""
        import ctypes, socket
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmget.restype = ctypes.c_int
        sid = libc.shmget({key}, 1 << 20, 0o1000 | 0o666)       # IPC_CREAT
        print('made=' + str(sid >= 0))
        print('host=' + socket.gethostname())
        try:
            socket.sethostname('mine'); print('renamed=yes')
        except OSError as e:
            print('renamed=' + e.strerror)
    """
    try:
        v = values(run(a, create))
        assert v["made"] == "True" and v["host"] == "sandbox" and v["renamed"] != "yes"
        assert f"{key}" not in Path("/proc/sysvipc/shm").read_text().split(), "the segment is in the host's IPC namespace"
        v = values(run(b, rf"""
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            print('found=' + str(libc.shmget({key}, 0, 0) >= 0))
        """))
        assert v["found"] == "False", "System V shared memory is shared between two students"
    finally:    # were it the host's, remove it (IPC_RMID)
        libc = ctypes.CDLL(None, use_errno=True)
        sid = libc.shmget(key, 0, 0)
        if sid >= 0:
            libc.shmctl(sid, 0, None)


def test_the_graders_session_keyring_is_not_the_students(fresh):
    nr = {"x86_64": (248, 250), "aarch64": (217, 219)}.get(platform.machine())
    if nr is None:
        pytest.skip(f"no add_key/keyctl numbers for {platform.machine()} in this test")
    libc = ctypes.CDLL(None, use_errno=True)
    add_key, keyctl = nr
    libc.syscall(keyctl, 1, b"course-test")            # a session keyring of this test's own
    serial = libc.syscall(add_key, b"user", b"course-grader-secret", b"s3cret", 6, -3)
    if serial < 0:
        pytest.skip(f"this machine refuses keys ({os.strerror(ctypes.get_errno())})")
    s = fresh()
    v = values(run(s, rf"""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        found = libc.syscall({keyctl}, 10, -3, b'user', b'course-grader-secret', 0)    # KEYCTL_SEARCH
        print('found=' + str(found))
        buf = ctypes.create_string_buffer(64)
        print('read=' + str(libc.syscall({keyctl}, 11, {serial}, buf, 64)))              # KEYCTL_READ
        print('keys=' + repr(open('/proc/keys').read()))
    """))
    assert v["found"] == "-1", "the student can reach the grader's session keyring"
    assert v["read"] == "-1", "the student can read the grader's key by its number"
    assert v["keys"] == "''"


def test_dev_holds_only_harmless_devices_and_no_sys(shared):
    v = values(run(shared, r"""
        import os
        print('dev=' + ','.join(sorted(os.listdir('/dev'))))
        print('top=' + ','.join(sorted(os.listdir('/'))))
    """))
    assert set(v["dev"].split(",")) <= {"null", "zero", "full", "random", "urandom", "fd", "stdin", "stdout",
                                        "stderr", "shm"}
    assert "sys" not in v["top"].split(",")


# -- limits for the whole tree -------------------------------------------------------------------

MEMORY_HOG = r"""
    import os, time
    r, w = os.pipe()
    kids = []
    for i in range(3):
        pid = os.fork()
        if pid == 0:
            block = bytearray(1 << 30)
            for j in range(0, len(block), 4096):
                block[j] = 1
            os.write(w, b'x')
            time.sleep(30)
            os._exit(0)
        kids.append(pid)
    os.close(w)
    held, deadline = 0, time.time() + 20
    while held < 3 and time.time() < deadline:
        if not os.read(r, 1):
            break
        held += 1
    print('held=' + str(held))
    for pid in kids:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
"""


def _memory_attack(session):
    out, err = session.run_cell(textwrap.dedent(MEMORY_HOG))
    assert "held=3" not in out, "three children held 1 GB each under --memory-mb 1536"
    return out, err


def test_memory_is_capped_for_the_whole_tree(fresh):
    s = fresh(memory_mb=1536)
    out, err = _memory_attack(s)
    if s.proc is not None and s.proc.cgroup is not None and s.proc.cgroup.memory_dir is not None:
        assert err is not None and "1536 MB" in err[1], (out, err)


def test_memory_is_capped_for_the_whole_tree_without_cgroups(fresh, monkeypatch):
    monkeypatch.setattr(cgroups, "tree_cgroup", lambda *a, **k: None)
    s = fresh(memory_mb=1536)
    out, err = _memory_attack(s)
    assert err is not None and "more memory than the 1536 MB allowed" in err[1], (out, err)


def test_an_honest_fork_under_the_memory_cap_is_left_alone(fresh):
    s = fresh(memory_mb=1536)
    out = run(s, r"""
        import os
        block = bytearray(300 << 20)
        for j in range(0, len(block), 4096):
            block[j] = 1
        kids = [os.fork() for _ in range(1)]
        if kids[0] == 0:
            os._exit(sum(block[::1 << 20]) % 7)
        print('status=' + str(os.waitpid(kids[0], 0)[1]))
    """)
    assert "status=" in out


def test_processes_are_capped_for_the_whole_tree(fresh):
    s = fresh()
    v = values(run(s, r"""
        import os, time
        kids, error = [], None
        for i in range(300):
            try:
                pid = os.fork()
            except OSError as e:
                error = e.errno
                break
            if pid == 0:
                time.sleep(20)
                os._exit(0)
            kids.append(pid)
        print('forked=' + str(len(kids)))
        print('errno=' + str(error))
        for pid in kids:
            os.kill(pid, 9)
        for pid in kids:
            os.waitpid(pid, 0)
        import threading
        started = 0
        try:
            for i in range(300):
                t = threading.Thread(target=time.sleep, args=(5,), daemon=True)
                t.start()
                started += 1
        except RuntimeError:
            pass
        print('threads=' + str(started))
    """))
    cap = Limits().processes
    assert int(v["forked"]) < cap and v["errno"] == str(errno.EAGAIN), v
    assert int(v["threads"]) < cap, v


def test_a_fork_bomb_stays_inside_its_cap_and_is_cleaned_up(fresh):
    s = fresh()
    # a bomb of 2**9 processes at most (each forks nine times, its children go on), so that a broken
    # sandbox cannot take this machine's PID table with it
    out, err = s.run_cell(textwrap.dedent(r"""
        import os, time
        end = time.time() + 3
        seen = 0
        if os.fork() == 0:
            for i in range(9):
                try:
                    os.fork()
                except OSError:
                    pass
            time.sleep(max(0, end - time.time()))
            os._exit(0)
        while time.time() < end + 1:
            seen = max(seen, sum(p.isdigit() for p in os.listdir('/proc')))
            time.sleep(0.05)
        print('most=' + str(seen))
    """))
    assert err is None, err
    assert int(values(out)["most"]) <= Limits().processes + 2
    # they all end: each has exited at `end` and the reaper collects them (forked from a zygote, each
    # process maps the zygote's memory, and 128 of them take seconds to tear down on a loaded machine)
    for _ in range(60):
        time.sleep(0.5)
        left = values(run(s, "import os\nprint('now=' + str(sum(p.isdigit() for p in os.listdir('/proc'))))"))
        if int(left["now"]) <= 3:
            break
    assert int(left["now"]) <= 3, "the bomb's processes (or their zombies) are still there 30 s after they exited"


def test_the_work_folder_and_tmp_share_one_capped_tmpfs(fresh):
    s = fresh()
    v = values(run(s, r"""
        import os
        written = 0
        chunk = b'x' * (8 << 20)
        for i in range(45):                      # 360 MB in 8 MB files, half in each folder
            folder = '/sandbox' if i % 2 else '/tmp'
            try:
                with open(f'{folder}/blob{i}', 'wb') as f:
                    f.write(chunk)
                written += len(chunk)
            except OSError as e:
                print('error=' + e.strerror)
                break
        print('written_mb=' + str(written >> 20))
    """))
    assert v["error"] == "No space left on device" and int(v["written_mb"]) <= Limits().disk_mb
    used = sum(f.stat().st_size for f in s.job_dir.rglob("*") if f.is_file())
    assert used < 20 << 20, "what the student wrote landed on the host's disk"


def test_the_file_size_cap_is_64_mb(shared):
    v = values(run(shared, r"""
        import os, subprocess
        for mb in (60, 70):
            try:
                with open('/tmp/big', 'wb') as f:
                    f.write(b'x' * (mb << 20))
                print(f'{mb}=ok')
            except OSError as e:
                print(f'{mb}=' + e.strerror)
            os.remove('/tmp/big')
        p = subprocess.run(['dd', 'if=/dev/zero', 'of=/tmp/big', 'bs=1M', 'count=70'], capture_output=True)
        print('dd=' + str(p.returncode))
        os.remove('/tmp/big')
    """))
    assert v["60"] == "ok" and v["70"] == "File too large", v
    assert v["dd"] == str(-signal.SIGXFSZ), "a program that does not ignore SIGXFSZ is stopped by it"


def test_output_is_capped_per_notebook_too(fresh):
    s = fresh()
    total = 0
    for i in range(15):
        out = run(s, f"print('{i}' * {OUTPUT_CAP + 500})")
        total += len(out)
    assert "characters of output cut" in out and "a notebook may print" in out
    assert total < NOTEBOOK_OUTPUT_CAP + 15 * 200


def test_cpu_time_is_capped_per_process(fresh):
    s = fresh(cpu_s=3)
    out, err = s.run_cell("while True:\n    pass\n")
    assert err is not None and "CPU time" in err[1], err


def test_core_dumps_are_off(shared):
    v = values(run(shared, "import resource\nprint('core=' + str(resource.getrlimit(resource.RLIMIT_CORE)))"))
    assert v["core"] == "(0, 0)"


def test_a_student_that_leaves_its_group_and_parent_is_still_stopped(fresh):
    s = fresh()
    run(s, r"""
        import ctypes, os, time
        libc = ctypes.CDLL(None)
        libc.prctl(1, 0, 0, 0, 0)                 # PR_SET_PDEATHSIG: none
        if os.fork() == 0:
            os.setsid()
            libc.prctl(1, 0, 0, 0, 0)
            time.sleep(600)
            os._exit(0)
    """)
    pids = student_pids(s)
    assert len(pids) >= 3
    s.close()
    time.sleep(0.5)
    assert not [p for p in pids if Path(f"/proc/{p}").exists() and host_status(p).get("State", ["Z"])[0] != "Z"]


def test_a_bare_sandbox_runs_a_program():
    # the jail's own set-up and teardown (not IPython starting), printed for the record only
    job = jail.new_job_dir()
    try:
        (job / "work").mkdir()
        start = time.monotonic()
        proc = jail._spawn(job, job / "work", jail.sandbox_mode(), ["/bin/true"], Limits())
        assert proc.wait(timeout=60) == 0
        print(f"sandbox set-up and teardown: {time.monotonic() - start:.3f} s")
    finally:
        shutil.rmtree(job)


# -- every way of building it ------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["root", "root-nouserns", "stranger"])
def test_each_way_to_build_it_as_root_gives_the_same_guarantees(mode, monkeypatch):
    if not AS_ROOT:
        pytest.skip("these are the ways root builds the sandbox")
    problem = jail._probe(mode)
    if problem:
        pytest.skip(f"this machine cannot build the sandbox as {mode!r}: {problem}")
    monkeypatch.setattr(jail, "_mode", mode)
    s = open_session()
    try:
        v = values(run(s, r"""
            import os
            status = dict(l.split(':\t') for l in open('/proc/self/status').read().splitlines() if ':\t' in l)
            print('caps=' + status['CapEff'] + status['CapPrm'] + status['CapBnd'])
            print('nnp=' + status['NoNewPrivs'])
            try:
                open('/proc/sys/kernel/core_pattern', 'w'); print('core=writable')
            except OSError:
                print('core=no')
        """))
        pids = student_pids(s)
        assert v["caps"] == "0" * 48 and v["nnp"] == "1" and v["core"] == "no"
        assert all(int(host_status(p)["Uid"][0]) >= SANDBOX_UID_BASE for p in pids)
    finally:
        s.close()


AS_NOBODY = r"""
import os, sys
sys.path[:0] = [{root!r}, {tests!r}]
from autograder.jail import Limits, namespaces_available
from autograder.remote import Session
assert os.getuid() == 65534
print('problem=' + str(namespaces_available()))
s = Session('namespaces', Limits(cell_s=30, notebook_s=120))
out, err = s.run_cell('''
import os
status = dict(l.split(':\\t') for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)
print('caps=' + status['CapEff'] + status['CapPrm'] + status['CapBnd'])
print('map=' + ' '.join(open('/proc/self/uid_map').read().split()))
try:
    open('/proc/sys/kernel/core_pattern', 'w'); print('core=writable')
except OSError:
    print('core=no')
print('procs=' + str(sum(p.isdigit() for p in os.listdir('/proc'))))
''')
print(out, err)
s.close()
"""


def _as_nobody(argv):
    """``argv`` run as user nobody; where this checkout's Python sits below a folder only root may
    enter (``/root`` with pyenv), in a private mount namespace that makes only that way through."""
    blocked = []
    for target in {sys.base_prefix, sys.prefix, os.path.realpath(sys.base_prefix), str(ROOT)}:
        for a in reversed(Path(target).parents):
            if a != Path("/") and not a.stat().st_mode & 0o001 and a not in blocked:
                blocked.append(a)
    setpriv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    if not blocked:
        return setpriv + argv
    lines = ["set -eu", "keep=$(mktemp -d)"]
    for i, b in enumerate(sorted(blocked, key=lambda a: len(a.parts))):
        lines += [f"mkdir $keep/{i}", f"mount --bind '{b}' $keep/{i}", f"mount -t tmpfs -o mode=755 open '{b}'"]
        for child in {Path(t).relative_to(b).parts[0] for t in (sys.base_prefix, sys.prefix, str(ROOT))
                      if Path(t).is_relative_to(b)}:
            lines += [f"mkdir '{b}/{child}'", f"mount --rbind $keep/{i}/'{child}' '{b}/{child}'"]
    lines.append('exec "$@"')
    return ["unshare", "--mount", "sh", "-c", "\n".join(lines), "sh"] + setpriv + argv


def test_an_ordinary_user_gets_the_same_guarantees(tmp_path):
    if not AS_ROOT:
        pytest.skip("run as an ordinary user already: the other tests are this one")
    home = Path(tempfile.mkdtemp(prefix="course-nobody-"))
    home.chmod(0o777)
    try:
        script = AS_NOBODY.format(root=str(ROOT), tests=str(ROOT / "tests"))
        done = subprocess.run(_as_nobody([sys.executable, "-c", script]), capture_output=True, text=True,
                              timeout=120, cwd="/", env={"HOME": str(home), "TMPDIR": str(home),
                                                         "PATH": os.environ.get("PATH", "")})
    finally:
        shutil.rmtree(home, ignore_errors=True)
    v = values(done.stdout)
    assert v.get("problem") == "None", done.stdout + done.stderr
    assert v["caps"] == "0" * 48 and v["map"] == "0 65534 1" and v["core"] == "no" and int(v["procs"]) <= 3
