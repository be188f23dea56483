"""The sandbox student code runs in while it is graded, and the calls across it."""

import os
import shutil
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from autograder.jail import Limits, StudentCodeError, namespaces_available
from autograder.remote import Session
from conftest import ROOT

needs_namespaces = pytest.mark.skipif(namespaces_available() is not None, reason=str(namespaces_available()))


@pytest.fixture
def session(tmp_path):
    s = Session("none", Limits(cell_s=5, notebook_s=60), job_dir=tmp_path)
    yield s
    s.close()


@pytest.fixture(scope="module")
def jailed(tmp_path_factory):
    if namespaces_available():
        pytest.skip(namespaces_available())
    s = Session("namespaces", Limits(cell_s=10, notebook_s=120, memory_mb=4096), data_dir=ROOT / "data",
                job_dir=tmp_path_factory.mktemp("job"))
    yield s
    s.close()


def run_ok(session, code):
    out, err = session.run_cell(code)
    assert err is None, err
    return out


def test_calls_return_plain_data_and_copy_in_place_changes_back(session):
    run_ok(session, "import numpy as np\n"
                    "def step(w, g, state, lr=0.1):\n"
                    "    state['n'] = state.get('n', 0) + 1\n"
                    "    w -= lr * g\n"
                    "    return w, state\n")
    step = session.proxies(["step"])["step"]
    w, state = np.ones(3), {}
    w2, s2 = step(w, np.ones(3), state, lr=0.5)
    assert np.allclose(w2, 0.5) and np.allclose(w, 0.5), "the in-place change was not copied back"
    assert s2 == {"n": 1} and state == {"n": 1}


def test_the_students_exceptions_keep_their_type_and_message(session):
    run_ok(session, "def f(x):\n    raise ValueError(f'bad {x}')\nclass MyError(Exception): pass\n"
                    "def g():\n    raise MyError('mine')\n")
    p = session.proxies(["f", "g", "missing"])
    with pytest.raises(ValueError, match="bad 3"):
        p["f"](3)
    with pytest.raises(Exception, match="mine") as e:
        p["g"]()
    assert type(e.value).__name__ == "MyError" and not issubclass(type(e.value), (AssertionError, ValueError))
    with pytest.raises(NameError, match="not defined"):
        p["missing"]()


def test_callables_are_called_back_in_the_grader(session):
    run_ok(session, "def apply(f, x):\n    return f(x) + f(x + 1)\n")
    seen = []
    got = session.proxies(["apply"])["apply"](lambda v: seen.append(v) or v * 10, 1.0)
    assert got == 30.0 and seen == [1.0, 2.0]


def test_objects_stay_in_the_student_process_and_never_equal_anything(session):
    run_ok(session, "class Yes:\n    def __eq__(self, o): return True\n    def __bool__(self): return True\n"
                    "    value = 3\n    def twice(self, x): return 2 * x\n"
                    "def make(): return Yes()\n")
    obj = session.proxies(["make"])["make"]()
    assert obj != 1 and not (obj == obj.value)
    assert obj.value == 3 and obj.twice(4) == 8
    with pytest.raises(TypeError):
        bool(obj)


def test_models_cross_and_their_changes_come_back(session):
    run_ok(session, "import torch\n"
                    "def freeze(model):\n"
                    "    for p in model.features.parameters(): p.requires_grad_(False)\n"
                    "    model.features.eval()\n"
                    "    model.fc = torch.nn.Linear(model.fc.in_features, 7)\n"
                    "    return [{'params': list(model.fc.parameters()), 'lr': 0.1}]\n")
    model = nn.Sequential(OrderedDict(features=nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)), fc=nn.Linear(3, 2)))
    first = model.features[0].weight
    groups = session.proxies(["freeze"])["freeze"](model)
    assert not model.features[0].weight.requires_grad and first is model.features[0].weight
    assert not model.features.training and model.fc.out_features == 7
    assert groups[0]["params"][0] is model.fc.weight, "parameters must come back as the model's own objects"


def test_float64_models_keep_their_dtype_both_ways(session):
    run_ok(session, "import torch\n"
                    "def new_head(model, n):\n"
                    "    old = model.fc\n"
                    "    model.fc = torch.nn.Linear(old.in_features, n).to(old.weight.dtype)\n"
                    "    return model\n")
    model = nn.Sequential(OrderedDict(features=nn.Linear(4, 3), fc=nn.Linear(3, 2))).double()
    got = session.proxies(["new_head"])["new_head"](model, 5)
    assert got.fc.weight.dtype == torch.float64 and got.features.weight.dtype == torch.float64
    assert model.fc.weight.dtype == torch.float64 and model.fc.out_features == 5
    assert got(torch.zeros(1, 4, dtype=torch.float64)).shape == (1, 5)


def test_a_hung_call_is_stopped_and_the_session_recovers(tmp_path):
    s = Session("none", Limits(cell_s=1.5, notebook_s=60), job_dir=tmp_path)
    try:
        run_ok(s, "x = 41\ndef spin():\n    while True: pass\n")
        with pytest.raises(StudentCodeError, match="longer than"):
            s.proxies(["spin"])["spin"]()
        out = run_ok(s, "print(x + 1)")  # a fresh process replayed the cells that ran before
        assert out.strip() == "42"
    finally:
        s.close()


def test_output_is_capped(session):
    out = run_ok(session, "print('x' * 5_000_000)")
    assert len(out) < 100_000 and "characters of output cut" in out


@needs_namespaces
def test_the_sandbox_hides_the_course_and_the_network(jailed):
    out = run_ok(jailed, f"""
import os, socket, importlib.util
print('course', os.path.exists({str(ROOT)!r} + '/notebooks'), os.path.exists({str(ROOT)!r} + '/course_lib/solutions/optim.py'))
try: print('optim', importlib.util.find_spec('course_lib.solutions.optim'))
except ImportError: print('optim', None)
try:
    socket.create_connection(('1.1.1.1', 80), timeout=2); print('net yes')
except OSError:
    print('net no')
for path in ('/etc/owned', '/usr/owned', '/data/owned'):
    try:
        open(path, 'w'); print('wrote', path)
    except OSError:
        pass
open('/sandbox/mine.txt', 'w').write('ok'); print('own folder ok')
print('uid', os.getuid(), 'pid', os.getpid())
""")
    assert "course False False" in out and "optim None" in out and "net no" in out
    assert "wrote" not in out and "own folder ok" in out


@needs_namespaces
def test_the_sandbox_caps_memory(jailed):
    out = run_ok(jailed, "try:\n    b = bytearray(8 * 1024**3)\n    print('got 8 GB')\nexcept MemoryError:\n    print('capped')\n")
    assert "capped" in out


def test_global_random_state_is_the_same_in_every_student_process(tmp_path):
    # a submission that draws from np.random or random instead of its rng gets the same grade every time
    draws = []
    for i in range(2):
        s = Session("none", Limits(cell_s=5, notebook_s=60), job_dir=tmp_path / str(i))
        try:
            draws.append(run_ok(s, "import random, numpy as np\nprint(np.random.permutation(10).tolist(), random.random())"))
        finally:
            s.close()
    assert draws[0] == draws[1] and draws[0].strip()


# -- the cgroup around a sandbox, on a stand-in cgroup file system ----------------------------------

def _fake_cgroupfs(monkeypatch, mounts, own):
    from autograder import cgroups

    monkeypatch.setattr(cgroups, "_mounts", lambda: mounts)
    monkeypatch.setattr(cgroups, "_own_paths", lambda: own)
    monkeypatch.setattr(cgroups, "_may_move", lambda d: True)   # a real cgroup.procs exists; here, say yes
    return cgroups


def test_a_cgroup_v2_limit_is_made_beside_the_graders_cgroup(tmp_path, monkeypatch):
    root = tmp_path / "unified"
    (root / "grader.service").mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "cgroup.subtree_control").write_text("memory pids\n")
    stale = root / "course-sandbox-4194999-3"        # left by a grader whose pid no longer exists
    stale.mkdir()
    cgroups = _fake_cgroupfs(monkeypatch, {"2": (str(root), "/")}, {"2": "/grader.service"})
    cg = cgroups.tree_cgroup(3 << 30, 129)
    assert cg is not None and cg.version == "2" and not stale.exists()
    d = cg.dirs[0]
    assert d.parent == root and d.name.startswith(f"course-sandbox-{os.getpid()}-")
    assert (d / "memory.max").read_text() == str(3 << 30) and (d / "pids.max").read_text() == "129"
    assert (d / "memory.oom.group").read_text() == "1" and (d / "memory.swap.max").read_text() == "0"
    assert cg.procs_files == [str(d / "cgroup.procs")] and cg.memory_dir == d
    assert cg.oom_kills() == 0
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    assert cg.oom_kills() == 1
    for f in d.iterdir():
        f.unlink()
    cg.remove()
    assert not d.exists()


def test_a_cgroup_v1_limit_is_made_inside_the_graders_own(tmp_path, monkeypatch):
    mem, pids = tmp_path / "memory", tmp_path / "pids"
    (mem / "grader").mkdir(parents=True)          # the hierarchy is mounted from its /job
    pids.mkdir()
    cgroups = _fake_cgroupfs(monkeypatch, {"memory": (str(mem), "/job"), "pids": (str(pids), "/")},
                             {"memory": "/job/grader", "pids": "/", "2": "/"})
    cg = cgroups.tree_cgroup(1 << 30, 65)
    assert cg is not None and cg.version == "1"
    assert cg.memory_dir.parent == mem / "grader" and cg.pids_dir.parent == pids
    assert (cg.memory_dir / "memory.limit_in_bytes").read_text() == str(1 << 30)
    assert (cg.pids_dir / "pids.max").read_text() == "65"
    assert sorted(cg.procs_files) == sorted(str(d / "cgroup.procs") for d in (cg.memory_dir, cg.pids_dir))
    (cg.memory_dir / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert cg.oom_kills() == 2


def test_no_cgroup_where_the_machine_offers_none(tmp_path, monkeypatch):
    cgroups = _fake_cgroupfs(monkeypatch, {}, {"2": "/"})
    assert cgroups.tree_cgroup(1 << 30, 65) is None
    # one the grader could make but not move a process into (no delegation): none, nothing left behind
    root = tmp_path / "unified"
    (root / "me").mkdir(parents=True)
    (root / "cgroup.controllers").write_text("memory pids\n")
    (root / "cgroup.subtree_control").write_text("memory pids\n")
    cgroups = _fake_cgroupfs(monkeypatch, {"2": (str(root), "/")}, {"2": "/me"})
    monkeypatch.setattr(cgroups, "_may_move", lambda d: False)
    monkeypatch.setattr(cgroups.TreeCgroup, "remove", lambda self, **kw: [shutil.rmtree(d) for d in self.dirs])
    assert cgroups.tree_cgroup(1 << 30, 65) is None
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["me"]
