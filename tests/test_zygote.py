"""The zygote (:class:`autograder.jail.Zygote`): a student process forked from a pre-started one
is in the same sandbox, starts in the same state as a fresh one, and nothing passes from one
submission to the next through what they share.

Each comparison runs the same probe in a fresh student process (``COURSE_ZYGOTE=0``, the path
the grader took before the zygote) and in one forked from this test process's zygote."""

import json
import os
import textwrap
from pathlib import Path

import nbformat
import pytest

from autograder import jail
from autograder.jail import Limits, ZygoteChild, namespaces_available
from autograder.remote import Session
from conftest import ROOT

pytestmark = pytest.mark.skipif(namespaces_available() is not None, reason=str(namespaces_available()))

# what a fresh student process sees of itself: printed as one JSON line
PROBE = r"""
import json as _json, os as _os, sys as _sys, random as _random, resource as _resource
import numpy as _np, torch as _torch, matplotlib as _mpl, matplotlib.style as _style, builtins as _builtins
def _status():
    keep = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Threads")
    return {k: v.strip() for k, v in (l.split(":", 1) for l in open("/proc/self/status") if ":" in l) if k in keep}
def _fds():
    out = {}
    for fd in sorted(_os.listdir("/proc/self/fd"), key=int):
        try:
            t = _os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        out[fd] = t.split(":")[0] if ":" in t else t
    return out
def _backward():
    w = _torch.nn.Parameter(_torch.ones(3))
    (w * w).sum().backward()
    _torch.optim.Adam([w], lr=0.5).step()
    return w.detach().tolist()
_limits = {n: _resource.getrlimit(getattr(_resource, n)) for n in dir(_resource) if n.startswith("RLIMIT_")}
_ = _sys.stdout.write("\n" + _json.dumps({
    "env": dict(_os.environ), "environ": open("/proc/self/environ", "rb").read().decode(),
    "cwd": _os.getcwd(), "path": _sys.path, "argv": _sys.argv, "flags": list(_sys.flags), "pid": _os.getpid(),
    "main": [getattr(_sys.modules["__main__"], "__file__", None), type(_sys.modules["__main__"]).__name__],
    "status": _status(), "fds": _fds(), "limits": {k: list(v) for k, v in _limits.items()},
    "uid_map": open("/proc/self/uid_map").read().split(), "hostname": _os.uname().nodename,
    "cgroup": open("/proc/self/cgroup").read(), "procs": sorted(int(p) for p in _os.listdir("/proc") if p.isdigit()),
    "mounts": sorted(l.split()[4] for l in open("/proc/self/mountinfo")),
    "tmp": sorted(_os.listdir("/tmp")), "shm": sorted(_os.listdir("/dev/shm")), "sandbox": sorted(_os.listdir("/sandbox")),
    "random": [_random.random(), _np.random.rand(), _torch.rand(1).item(), _torch.initial_seed()],
    "threads": [_torch.get_num_threads(), _torch.get_num_interop_threads()],
    "numpy": [_np.mean([1.0, 2.0, 6.0]), _np.mean.__module__, getattr(_np, "LEAK", None), _np.pi],
    "torch": [_torch.get_num_threads.__module__ if hasattr(_torch.get_num_threads, "__module__") else "builtin",
              getattr(_torch, "LEAK", None), _torch.ones(2).sum().item(), _backward()],
    "json_leak": getattr(_json, "LEAK", None), "evil": "evil_module" in _sys.modules,
    "print": type(_builtins.print).__name__, "mpl": [_mpl.get_configdir(), _mpl.get_cachedir(),
    _style.core.USER_LIBRARY_PATHS if hasattr(_style, "core") else None, _mpl.rcParams["lines.linewidth"],
    _mpl.get_backend()],
    "umask": _os.umask(0o22),
}, default=str) + "\n")
"""


def open_session(**limits):
    return Session("namespaces", Limits(**{"cell_s": 60, "notebook_s": 240, **limits}), data_dir=ROOT / "data")


def probe(session):
    out, err = session.run_cell(PROBE)
    assert err is None, f"{err}\n{out}"
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def comparable(p):
    """A probe without what differs between any two student processes (the fd numbers of the
    channel, ``argv``'s copy of them, and ``/proc/self/environ``'s order)."""
    p = dict(p)
    p["fds"] = sorted(p["fds"].values())
    p["argv"] = p["argv"][:1]
    p["environ"] = sorted(p["environ"].split("\0"))
    p["uid_map"] = [p["uid_map"][0], "(its own host uid)" if int(p["uid_map"][1]) >= jail.SANDBOX_UID_BASE else p["uid_map"][1],
                    p["uid_map"][2]]
    p["random"] = p["random"][:2]   # a fresh process's torch seeds itself from the OS: compared on their own below
    return p


def zygote_session(**limits):
    s = open_session(**limits)
    s._process()
    assert isinstance(s.proc.proc, ZygoteChild), "this session's student process was not forked from the zygote"
    return s


def fresh_session(monkeypatch, **limits):
    monkeypatch.setenv("COURSE_ZYGOTE", "0")
    try:
        s = open_session(**limits)
        s._process()
    finally:
        monkeypatch.delenv("COURSE_ZYGOTE")
    assert not isinstance(s.proc.proc, ZygoteChild)
    return s


@pytest.fixture(scope="module", autouse=True)
def zygote_on():
    if not jail.zygote_enabled():
        pytest.skip("COURSE_ZYGOTE=0 turns the zygote off")
    z = jail.start_zygote()
    assert z is not None and z.wait_ready() is None, z and z.problem
    yield z


def test_a_forked_student_process_starts_as_a_fresh_one_does(monkeypatch):
    a = fresh_session(monkeypatch)
    try:
        fresh = probe(a)
    finally:
        a.close()
    b = zygote_session()
    try:
        forked = probe(b)
    finally:
        b.close()
    assert fresh["cwd"] == "/sandbox" and fresh["path"][0] == "/sandbox"
    assert forked["threads"][0] == 1
    # torch's generator: the same in every forked process (a fresh one draws its seed from the OS)
    c = zygote_session()
    try:
        again = probe(c)
    finally:
        c.close()
    assert again["random"] == forked["random"] and forked["random"][3] == 0
    fresh, forked = comparable(fresh), comparable(forked)
    assert {k: v for k, v in forked.items() if v != fresh[k]} == {}, {k: fresh[k] for k in forked if forked[k] != fresh[k]}


HOSTILE = r"""
import os, sys, json, subprocess, functools, builtins, random
import numpy as np, torch, matplotlib
np.mean = lambda *a, **k: 42.0                     # patch a module
np.LEAK = torch.LEAK = json.LEAK = "left behind"   # globals in modules
torch.set_num_threads(2)
torch.get_num_threads = lambda: 99
matplotlib.rcParams["lines.linewidth"] = 9.0
sys.modules["evil_module"] = type(sys)("evil_module")
functools.lru_cache(None)(lambda x: x)(1)          # fill a cache
import linecache; linecache.cache["/sandbox/student_process.py"] = (1, None, ["evil\n"], "/sandbox/student_process.py")
os.environ["LEAK"] = "1"
random.seed(123); np.random.seed(5); torch.manual_seed(7); _ = torch.rand(10)
for d in ("/tmp", "/dev/shm", "/sandbox"):
    open(d + "/left-behind", "w").write("x")
open("/tmp/fake.cpython-311.pyc", "wb").write(b"\0" * 16)
bg = subprocess.Popen(["sleep", "600"], start_new_session=True)
if os.fork() == 0:
    os.setsid(); import time; time.sleep(600); os._exit(0)
builtins.print = lambda *a, **k: None
os.umask(0o077)
"""


def test_nothing_a_submission_does_reaches_the_next_one():
    before = zygote_session()
    try:
        alone = probe(before)
    finally:
        before.close()
    bad = zygote_session()
    try:
        out, err = bad.run_cell(HOSTILE)
        assert err is None, err
        hurt = probe(bad)
        assert hurt["numpy"][0] == 42.0 and hurt["json_leak"] and "left-behind" in hurt["tmp"], "the attack did not run"
        after = zygote_session()   # graded while the bad one is still alive, then after it ended
        try:
            during = probe(after)
        finally:
            after.close()
    finally:
        bad.close()
    later = zygote_session()
    try:
        after_it = probe(later)
    finally:
        later.close()
    for p in (during, after_it):
        p = comparable(p)
        assert {k: v for k, v in p.items() if v != comparable(alone)[k]} == {}
    assert alone["numpy"][:3] == [3.0, alone["numpy"][1], None] and alone["tmp"] == []


def _fresh_modules_after_the_setup_cells(monkeypatch):
    """Modules a fresh student process holds once it ran every notebook's first cell and an optimizer step."""
    cells = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*/[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        cells.append(next(c.source for c in nb.cells if c.cell_type == "code"))
    s = fresh_session(monkeypatch)
    try:
        for code in cells:
            out, err = s.run_cell(code)
            assert err is None, err
        out, err = s.run_cell("w = torch.nn.Parameter(torch.zeros(3))\n"
                              "for o in (torch.optim.SGD([w], lr=0.1, momentum=0.9), torch.optim.Adam([w]), torch.optim.AdamW([w]), torch.optim.RMSprop([w])):\n"
                              "    (w * w).sum().backward(); o.step()\n"
                              "import sys\ndef loaded():\n    return sorted(sys.modules)\n")
        assert err is None, err
        return set(s.proxies(["loaded"])["loaded"]())
    finally:
        s.close()


MODULES = r"""
import sys, json, os
def where(m):
    f = getattr(m, "__file__", None)
    return f if isinstance(f, str) else None
names = sorted(sys.modules)
files = sorted({where(m) for m in list(sys.modules.values()) if where(m)})
mention = []
for name, m in list(sys.modules.items()):
    for k, v in list(getattr(m, "__dict__", {}).items()):
        vs = [v] if isinstance(v, str) else [x for x in v if isinstance(x, str)] if isinstance(v, (list, tuple)) else []
        if any("course-zygote" in x or "course-job" in x for x in vs):
            mention.append(f"{name}.{k}")
def found():
    return {"names": names, "files": files, "mention": mention}
"""


def test_a_forked_process_holds_no_module_a_fresh_one_would_not(monkeypatch):
    fresh = _fresh_modules_after_the_setup_cells(monkeypatch)
    s = zygote_session()
    try:
        out, err = s.run_cell(MODULES)
        assert err is None, err
        got = s.proxies(["found"])["found"]()
    finally:
        s.close()
    extra = set(got["names"]) - fresh
    assert extra == set(), f"modules a fresh student process would not have: {sorted(extra)[:20]}"
    assert not any(n == "course_lib" or n.startswith(("course_lib.", "autograder")) for n in got["names"])
    import sys

    allowed = tuple({sys.prefix, sys.base_prefix, os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
                     "/usr", "/sandbox"})
    outside = [f for f in got["files"] if os.path.isabs(f) and not f.startswith(allowed)]   # (torch.ops: "_ops.py")
    assert outside == [], outside
    assert got["mention"] == [], "module attributes name the grader's folders"


def test_the_zygote_never_runs_student_code_and_outlives_an_attack():
    z = jail.zygote()
    s = zygote_session()
    try:
        out, err = s.run_cell(textwrap.dedent("""
            import os, signal
            seen = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
            for p in seen:
                if p != os.getpid():
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
            print(seen)
        """))
    finally:
        s.close()
    assert jail.zygote() is z and z.alive(), "the student process reached the zygote"
    # the zygote has only its own start-up in it: its threads, children and open files
    tasks = os.listdir(f"/proc/{z.pid}/task")
    assert len(tasks) == 1
    kids = Path(f"/proc/{z.pid}/task/{tasks[0]}/children").read_text().split()
    assert kids == [], f"children of the zygote left after their sessions closed: {kids}"


def test_a_dead_zygote_is_replaced_and_grading_goes_on():
    z = jail.zygote()
    z.proc.kill()
    z.proc.wait()
    s = open_session()
    try:
        out, err = s.run_cell("print(6 * 7)")
        assert err is None and out.strip() == "42"
    finally:
        s.close()
    z2 = jail.zygote()
    assert z2 is not z and z2.alive()


def test_the_switch_turns_it_off(monkeypatch):
    s = fresh_session(monkeypatch)
    try:
        out, err = s.run_cell("print(6 * 7)")
        assert err is None and out.strip() == "42"
    finally:
        s.close()


@pytest.mark.parametrize("name", ["03_ewma"])
def test_a_notebook_is_graded_the_same_from_the_zygote(monkeypatch, name):
    from autograder.execute import run_notebook

    path = next((ROOT / "notebooks").glob(f"{name}/{name}.ipynb"))
    source = nbformat.read(str(path), as_version=4)
    results = []
    for zyg in ("0", "1"):
        monkeypatch.setenv("COURSE_ZYGOTE", zyg)
        nb = nbformat.read(str(path), as_version=4)
        s = open_session()
        try:
            run_notebook(nb, source, s, seed=1234)
            assert isinstance(s.proc.proc, ZygoteChild) == (zyg == "1")
        finally:
            s.close()
        results.append([(c.get("id"), [(o.get("output_type"), o.get("ename"), o.get("text", "")) for o in c.outputs])
                        for c in nb.cells if c.cell_type == "code"])
    assert results[0] == results[1]
    assert not any(o[0] == "error" for _, outs in results[1] for o in outs), "the source notebook fails its own tests"


HOG = r"""
import os, time
r, w = os.pipe()
kids = []
for i in range(6):
    pid = os.fork()
    if pid == 0:
        block = bytearray(900 << 20)
        for j in range(0, len(block), 4096):
            block[j] = 1
        os.write(w, b'x')
        time.sleep(30)
        os._exit(0)
    kids.append(pid)
os.close(w)
held, deadline = 0, time.time() + 40
while held < 6 and time.time() < deadline:
    if not os.read(r, 1):
        break
    held += 1
print('held=' + str(held))
"""


def test_a_forked_tree_is_held_to_the_memory_limit():
    # the smallest limit a child is forked under (the zygote's address space + 1 GB); six children
    # of 900 MB each are more than the tree may hold together
    z = jail.zygote()
    mb = -(-(z.vm_bytes or 0) // jail.MB) + jail.ZYGOTE_HEADROOM_MB if z.fits(Limits()) else None
    if mb is None:
        pytest.skip("the zygote is not used under the default limits here")
    s = open_session(memory_mb=mb)
    try:
        s._process()
        assert isinstance(s.proc.proc, ZygoteChild)
        out, err = s.run_cell(HOG)
    finally:
        s.close()
    assert "held=6" not in out and err is not None and f"{mb} MB" in err[1], (out, err)


def test_under_a_small_memory_limit_the_process_starts_afresh():
    s = open_session(memory_mb=1536)
    try:
        s._process()
        assert not isinstance(s.proc.proc, ZygoteChild)
    finally:
        s.close()


def test_a_process_that_did_not_start_one_starts_its_student_processes_afresh(monkeypatch):
    monkeypatch.setattr(jail, "_zygote_wanted", None)
    s = open_session()
    try:
        s._process()
        assert not isinstance(s.proc.proc, ZygoteChild)
    finally:
        s.close()


def test_isolation_none_forks_from_the_zygote_too(tmp_path, monkeypatch):
    runs = []
    for zyg in ("0", "1"):
        monkeypatch.setenv("COURSE_ZYGOTE", zyg)
        s = Session("none", Limits(cell_s=60, notebook_s=240), job_dir=tmp_path / zyg)
        try:
            out, err = s.run_cell("import os, sys, random, numpy as np, tempfile, matplotlib\n"
                                  "print(sys.path[0] == os.getcwd(), random.random(), np.random.rand(), tempfile.gettempdir() == os.getcwd(),"
                                  " matplotlib.get_configdir() == os.path.join(os.getcwd(), '.matplotlib'), sorted(os.environ))")
            assert err is None, err
            runs.append(out)
            assert isinstance(s.proc.proc, ZygoteChild) == (zyg == "1")
        finally:
            s.close()
    assert runs[0] == runs[1]
