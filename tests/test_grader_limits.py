"""The grader's own side holds against hostile replies, hostile files and dying workers.

Student code runs in its own process; what comes back is hostile input for the grader. These
tests try to make the grader allocate what a reply describes, spend unbounded time on it,
lose a batch to one dead worker, leave staging folders behind, merge two students' records,
print a stand-in's repr, or let a submission pick the inputs of its hidden tests.
"""

import contextlib
import hashlib
import io
import json
import math
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT

from autograder import wire
from autograder.execute import STOPPED, run_test
from autograder.jail import Limits
from autograder.wire import Budget, Codec, WireError

A = "01_gradient_descent"
SOURCE = ROOT / "notebooks" / A / f"{A}.ipynb"


def grader_codec():
    return Codec(remote_ref=lambda i, info: ("ref", i, info), budget=Budget())


def linear(n_in, n_out, params=None):
    return {"~": "module", "kind": "Linear", "args": {"in_features": n_in, "out_features": n_out, "bias": True},
            "children": [], "params": params or {}, "buffers": {}, "training": True}


HUGE_MODEL = {"~": "module", "kind": "Sequential", "args": {}, "params": {}, "buffers": {}, "training": True,
              "children": [[str(i), linear(16384, 16384)] for i in range(3)]}


# -- sizes decoded from the wire ---------------------------------------------------------------

def test_a_model_described_without_weights_is_refused_before_anything_is_built():
    """A few hundred bytes describing three nn.Linear(16384, 16384) layers used to make the
    grader allocate 3 GiB of weights. Here the decode runs with 1 GB of address space to spare."""
    script = textwrap.dedent(f"""
        import json, resource, torch
        from autograder.wire import Budget, Codec, WireError
        vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + 2**30, resource.RLIM_INFINITY))
        try:
            Codec(budget=Budget()).decode(json.loads({json.dumps(json.dumps(HUGE_MODEL))}))
        except WireError as e:
            print("refused:", e)
    """)
    assert len(json.dumps(HUGE_MODEL)) < 1000
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "refused: more than 16 MB of arrays, tensors and text in one result" in proc.stdout, proc.stdout + proc.stderr


def test_model_weights_are_counted_from_their_layer_shapes_before_their_data():
    weight = {"~": "t", "data": {"~": "nd", "dtype": "<f4", "shape": [4096, 4096], "b64": ""}, "rg": True, "param": True}
    with pytest.raises(WireError, match="more than 16 MB"):
        grader_codec().decode(linear(4096, 4096, {"weight": weight, "bias": weight}))


def test_a_layer_whose_weights_were_not_all_sent_or_do_not_fit_is_refused():
    with pytest.raises(WireError, match="parameters were not all sent"):
        grader_codec().decode(linear(3, 2))
    codec = Codec()
    import torch

    good = codec.encode(torch.nn.Linear(3, 2))
    good["params"]["weight"] = codec.encode(torch.nn.Parameter(torch.zeros(50, 50)))
    with pytest.raises(WireError, match="does not fit its shape"):
        grader_codec().decode(good)


def test_an_array_shape_is_checked_against_the_budget_before_its_data_is_read():
    with pytest.raises(WireError, match="more than 16 MB"):
        grader_codec().decode({"~": "nd", "dtype": "<f8", "shape": [2**20, 2**20], "b64": ""})
    for shape in ([2**41], [-1], [True], [1.5], "12"):
        with pytest.raises(WireError, match="malformed|array"):
            grader_codec().decode({"~": "nd", "dtype": "<f8", "shape": shape, "b64": ""})


def test_more_values_than_the_limit_are_refused():
    with pytest.raises(WireError, match="more than 200,000 values"):
        grader_codec().decode([0] * (wire.MAX_ITEMS + 1))
    with pytest.raises(WireError, match="more than 200,000 values"):
        grader_codec().decode({"~": "dict", "v": [[i, i] for i in range(wire.MAX_ITEMS)]})
    # a frame of nothing but structure is refused before JSON builds a single list
    with pytest.raises(WireError, match="more than 200,000 values"):
        wire.loads(b"[" + b"[]," * 1_000_000 + b"[]]")


def test_nesting_deeper_than_the_limit_is_refused():
    deep = 0
    for _ in range(wire.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(WireError, match="nested more than 64 levels"):
        grader_codec().decode(deep)
    with pytest.raises(WireError, match="nested more than 64 levels"):
        wire.loads(b"[" * 100_000 + b"]" * 100_000)


def test_a_string_longer_than_the_limit_is_refused():
    with pytest.raises(WireError, match="a string of more than"):
        grader_codec().decode("x" * (wire.MAX_STRING_CHARS + 1))


def test_a_frame_longer_than_the_limit_is_refused_from_its_header():
    """The length is checked before a byte of the body is read: here there is no body at all."""
    head = (wire.MAX_MESSAGE_BYTES + 1).to_bytes(8, "big")
    with pytest.raises(WireError, match="over the 8 MB limit"):
        wire.recv(io.BytesIO(head + b"{}"))
    assert wire.MAX_MESSAGE_BYTES <= 8 * 2**20


@pytest.mark.parametrize("layer", [
    {"kind": "AdaptiveAvgPool2d", "args": {"output_size": 100_000}},           # a 10^10-pixel output
    {"kind": "Conv2d", "args": {"in_channels": 1, "out_channels": 1, "kernel_size": 1, "padding": 10**6, "bias": True}},
    {"kind": "MaxPool2d", "args": {"kernel_size": [1, 1, 1, 1, 1]}},
])
def test_layer_settings_over_the_limits_are_refused(layer):
    x = {"~": "module", "children": [], "params": {}, "buffers": {}, "training": True, **layer}
    with pytest.raises(WireError):
        grader_codec().decode(x)


@pytest.mark.parametrize("forged", [
    {"~": "np", "dtype": "<f8", "v": [1, 2]},
    {"~": "np", "dtype": "|O", "v": 1},
    {"~": "ref", "id": "1; import os"},
    {"~": "ref", "id": -1},
    {"~": "gen", "state": {"bit_generator": "PCG64", "state": "garbage"}},
    {"~": "gen", "state": {"bit_generator": "MT19937", "state": {"key": {"~arr": ["x"], "dtype": "<u4"}, "pos": 0}}},
    {"~": "dict", "v": [[[1], 2]]},
    {"~": "dict", "v": [[1]]},
    {"~": "module", "kind": "Linear", "args": {"in_features": -1, "out_features": 2, "bias": True}},
    {"~": "module", "kind": "Linear", "args": {"in_features": "3", "out_features": 2, "bias": True}},
    {"~": "module", "kind": "Sequential", "args": {}, "children": [["a.b", linear(1, 1)]]},
    {"~": "module", "kind": "Sequential", "args": {}, "children": [["a", 5]]},
    {"~": "module", "kind": "Dropout", "args": {"p": {"~": "float", "v": "nan"}}},
    {"~": "t", "data": {"~": "nd", "dtype": "<f8", "shape": [2], "b64": "AAAA"}},
    {"~": "tuple", "v": 5},
    {"~": 7},
])
def test_a_malformed_value_is_a_wire_error_never_another_exception(forged):
    with pytest.raises(WireError):
        grader_codec().decode(forged)


# -- the same, through a student process that forges its replies --------------------------------

FORGER = """
import sys
_wire = sys.modules["wire"]          # the student process's own copy of the wire format
if not hasattr(_wire, "real_send"):
    _wire.real_send = _wire.send
FORGED = []          # the next "value" reply carries this instead of the real one
RAW = []             # or these bytes, as the whole frame
def _forging_send(fd, msg):
    if RAW and isinstance(msg, dict) and msg.get("op") == "value":
        data = RAW.pop()
        fd.write(len(data).to_bytes(8, "big") + data)
        fd.flush()
        return
    if FORGED and isinstance(msg, dict) and msg.get("op") == "value":
        msg = dict(msg, value=FORGED.pop())
    _wire.real_send(fd, msg)
_wire.send = _forging_send
class Foo:
    pass
def answer(x=None):
    return x
def make_foo():
    return Foo()
def make_function():
    return lambda: 1
def many(n, v):
    return [v] * n
"""


def _forging_session():
    from autograder.remote import Session

    s = Session("none", Limits(cell_s=60, notebook_s=3600))
    out, err = s.run_cell(FORGER)
    assert err is None, err
    return s


@pytest.fixture(scope="module")
def session():
    s = _forging_session()
    yield s
    s.close()


@pytest.fixture
def fresh_session():
    """For a test whose reply gets the student process killed (a session restarts it at most 3 times)."""
    s = _forging_session()
    yield s
    s.close()


def _run(session, code, forged=None, names=("answer", "make_foo", "make_function", "many")):
    _, err = session.run_cell((f"FORGED[:] = [{forged}]" if forged is not None else "FORGED[:] = []") + "; RAW[:] = []")
    assert err is None, err
    import numpy as np

    from course_lib.checks import check_array, check_equal, check_type

    base = {"np": np, "check_array": check_array, "check_type": check_type, "check_equal": check_equal}
    with contextlib.redirect_stdout(io.StringIO()):
        return run_test(code, base, session.proxies(names), "test_x", session=session)[1]


def test_a_forged_reply_describing_huge_layers_fails_only_that_test_in_one_sentence(session):
    err = _run(session, "m = answer(1)", forged=repr(HUGE_MODEL).replace("True", "True"))
    assert err is not None and err[0] == STOPPED
    assert err[1] == ("your function returned more than 16 MB of arrays, tensors and text in one result, "
                      "so the grader did not read it")
    assert _run(session, "assert answer(2) == 2") is None   # the next call is answered as usual


def test_a_refused_reply_is_not_an_exception_a_test_expects(session):
    code = "try:\n    answer(1)\nexcept (ValueError, TypeError):\n    pass\nelse:\n    raise AssertionError('should raise')"
    err = _run(session, code, forged=repr([0] * (wire.MAX_ITEMS + 10)))
    assert err is not None and err[0] == STOPPED and "200,000 values" in err[1]


def test_a_reply_over_the_frame_limit_stops_that_call_and_the_next_one_works(fresh_session):
    err = _run(fresh_session, "answer(1)", forged="'x' * (9 * 2**20)")
    assert err is not None and err[0] == STOPPED and "more than 8 MB" in err[1], err
    assert _run(fresh_session, "assert answer(3) == 3") is None   # a fresh process, the cells replayed


def test_a_reply_nested_past_the_json_parser_stops_that_call_in_one_sentence(fresh_session):
    session = fresh_session
    _, err = session.run_cell("RAW[:] = [b'{\"op\":\"value\",\"value\":' + b'[' * 100_000 + b']' * 100_000 + b'}']")
    assert err is None, err
    with contextlib.redirect_stdout(io.StringIO()):
        err = run_test("answer(1)", {}, session.proxies(["answer"]), "test_x", session=session)[1]
    assert err is not None and err[0] == STOPPED and "nested more than 64 levels" in err[1], err
    assert _run(session, "assert answer(4) == 4") is None


def test_ten_million_floats_never_reach_the_test(fresh_session):
    session = fresh_session
    err = _run(session, "assert np.allclose(many(10**7, 0.0), 0)")
    assert err is not None and err[0] == STOPPED and "more than 8 MB" in err[1], err
    err = _run(session, "assert np.allclose(many(300_000, 0.5), 0.5)")
    assert err is not None and err[0] == STOPPED and "200,000 values" in err[1], err


def test_objects_that_stay_in_the_student_process_are_named_in_words(session):
    err = _run(session, "check_type('make_foo()', make_foo(), int, 'an int')")
    assert err[1] == "make_foo() returned an object of type Foo that stays in your process, expected an int."
    err = _run(session, "check_equal('make_foo()', make_foo(), 3)")
    assert err[1] == "make_foo() returned an object of type Foo that stays in your process, expected 3."
    err = _run(session, "check_array('make_function()', make_function(), np.zeros(2))")
    assert "a function that stays in your process" in err[1]
    err = _run(session, "if make_foo(): pass")
    assert err == ("TypeError", "an object of type Foo that stays in your process is not True or False")
    for e in (err, _run(session, "make_foo() + 1"), _run(session, "print(repr(make_foo())); assert False, f'{make_foo()}'")):
        assert "Remote" not in str(e) and "<" not in str(e) and "0x" not in str(e), e


# -- the grader's own time and memory per test cell ------------------------------------------

def test_a_test_that_runs_too_long_on_the_graders_cpu_stops_with_one_sentence():
    out, err = run_test("while True:\n    pass", {}, {}, "test_loop", cpu_s=0.5)
    assert err == (STOPPED, "checking what your code returned took more than 0.5 s of the grader's time, "
                            "so the grader stopped this test")


def test_a_test_cannot_swallow_the_time_limit_and_none_lands_later():
    code = "while True:\n    try:\n        while True:\n            pass\n    except Exception:\n        pass"
    _, err = run_test(code, {}, {}, "test_swallow", cpu_s=0.5)
    assert err is not None and err[0] == STOPPED
    end = time.process_time() + 1.5      # a late exception would land in this loop
    while time.process_time() < end:
        pass


def test_waiting_costs_no_grader_time():
    _, err = run_test("import time\ntime.sleep(1.5)", {}, {}, "test_wait", cpu_s=0.5)
    assert err is None


def test_running_out_of_memory_in_a_test_is_one_sentence():
    _, err = run_test("x = bytearray(2**62)", {}, {}, "test_memory")
    assert err[0] == STOPPED and "more memory than the grader allows" in err[1]


def test_a_worker_has_its_own_memory_limit_and_the_student_keeps_its_own():
    script = textwrap.dedent("""
        import resource
        from autograder.grading import warm_up
        from autograder.jail import Limits
        from autograder.remote import Session
        warm_up(memory_mb=5000)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        print("worker", soft // 2**20)
        try:
            bytearray(6 * 2**30)
            print("allocated")
        except MemoryError:
            print("MemoryError")
        s = Session("none", Limits(memory_mb=6144))
        out, err = s.run_cell("import resource; print('student', resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20)")
        s.close()
        print(out.strip(), err)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.split("\n")
    assert "worker 5000" in lines and "MemoryError" in lines and "student 6144 None" in lines, proc.stdout


# -- a dying worker costs only its own job -------------------------------------------------

@pytest.mark.slow
def test_a_worker_that_dies_costs_only_its_own_job(tmp_path):
    from autograder.pool import BatchDir, WorkerPool
    from dying_workers import fake_grade

    batch = BatchDir()
    try:
        pool = WorkerPool(2, batch)
        jobs = ["a", "killer", "b", "flaky", "c", "sleeper", "d"]
        results = {jobs[i]: r for i, r in pool.run(jobs, fake_grade, (str(tmp_path),), timeout=lambda job: 30)}
        assert sorted(results) == sorted(jobs)
        for job in ("a", "b", "c", "d", "flaky"):
            assert results[job] == ("ok", f"graded {job}"), results[job]
        assert results["killer"][0] == "crash" and "killed by SIGKILL" in results["killer"][1]
        assert results["sleeper"][0] == "crash" and "ran longer than 30 s" in results["sleeper"][1]
        assert pool.lost == 5   # killer twice, flaky once, sleeper twice: and no other worker
        assert sorted(p.name for p in batch.path.iterdir()) == ["owner"]   # every worker's folder removed
    finally:
        batch.remove()


@pytest.mark.slow
def test_a_killed_worker_costs_one_grade_and_leaves_nothing_behind(tmp_path, monkeypatch):
    from autograder import grading
    from dying_workers import grade_or_die

    subs, out, log = tmp_path / "subs", tmp_path / "out", tmp_path / "left.jsonl"
    released = nbformat.read(str(SOURCE), as_version=4)
    for student in ("honest", "killer", "other"):
        (subs / student / A).mkdir(parents=True)
        nbformat.write(released, str(subs / student / A / f"{A}.ipynb"))
    monkeypatch.setenv("GRADER_TEST_LOG", str(log))
    monkeypatch.setattr(grading, "grade_job", grade_or_die)
    results, _, _ = grading.grade_class(ROOT, subs, out, progress=False, workers=2, options=grading.Options(isolation="none"))
    by = {r.student: r for r in results}
    assert (by["honest"].score, by["other"].score) == (10, 10), (by["honest"].problems, by["other"].problems)
    assert by["killer"].score == 0 and any("cost the grader its worker process twice" in p for p in by["killer"].problems)
    assert not getattr(by["killer"], "transient", False)   # saved: the next run does not try again
    left = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(left) == 2   # it was tried twice
    for entry in left:
        assert not Path(entry["stage"]).exists(), "a killed worker's staging folder (sources, gradebook) was left"
        assert not Path(entry["stage"]).parent.exists()
        assert not Path(entry["job_dir"]).exists(), "a killed worker's student job folder was left"
        assert not Path(f"/proc/{entry['pid']}").exists(), "a killed worker's student process is still running"


# -- staging folders ------------------------------------------------------------------------

def test_staging_and_batch_folders_are_private_to_the_grader(tmp_path):
    from autograder.pipeline import Stage
    from autograder.pool import BatchDir

    batch = BatchDir()
    try:
        folder = batch.new_folder("worker-x")
        with Stage(ROOT, [A], isolation="none", parent=folder) as stage:
            for d in (batch.path, folder, stage.dir):
                st = d.stat()
                assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid(), (d, oct(st.st_mode))
            assert (stage.dir / "gradebook.db").exists() and (stage.dir / "source" / A).is_dir()
        assert not stage.dir.exists()
    finally:
        batch.remove()
    assert not batch.path.exists()


def test_a_batch_folder_whose_owner_died_is_removed_by_the_next_batch(tmp_path):
    from autograder.pool import BatchDir

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / "course-grade-stale"
    live = tmp_path / "course-grade-live"
    for d, pid in ((stale, dead.pid), (live, os.getpid())):
        d.mkdir()
        (d / "owner").write_text(str(pid))
        (d / "gradebook.db").write_text("grades")
    batch = BatchDir(parent=tmp_path)
    batch.remove()
    assert not stale.exists() and live.exists()


# -- record names -----------------------------------------------------------------------------

TRICKY_IDS = ["zoe a", "zoe_a", "zoe%20a", "Zoe_A", "ZOE A", "zoe a ", " zoe a", "zoe/a", "zoe/../a", "..", ".",
              ".zoe", "zoe\na", "zoe\ta", "zoé", "zoe\u0301", "ZOÉ", "", " ", "~", "zoe_a~0123456789abcdef",
              "a" * 64, "a" * 65, "a" * 300, "[zoe]*", "zoe\x00a", "\ud800"]


def test_record_names_are_one_to_one_and_safe():
    from autograder.grading import record_name

    names = [record_name(s) for s in TRICKY_IDS]
    assert len(set(names)) == len(TRICKY_IDS)
    assert len({n.lower() for n in names}) == len(TRICKY_IDS)   # a case-insensitive disk merges none
    for student, name in zip(TRICKY_IDS, names):
        assert name not in ("", ".", "..") and not name.startswith(".")
        assert all(c.isascii() and (c.isalnum() or c in "_.-~") for c in name), name
        assert len(name) <= 64 + 17
    assert record_name("zoe_a") == "zoe_a" and record_name("s0") == "s0" and record_name("honest_full") == "honest_full"
    assert record_name("zoe a").startswith("zoe_a~") and record_name("zoé").startswith("zoe~")


def test_every_id_keeps_its_own_record_and_feedback(tmp_path):
    from autograder.grading import Progress, Result, feedback_dir

    expected = {A: [A]}
    store = Progress(tmp_path, expected)
    for i, student in enumerate(TRICKY_IDS):
        store.save(Result(student, A, score=float(i), max_score=100.0, feedback={A: f"<html><body><p>page of student {i}.</p></body></html>"}),
                   key=f"k{i}")
    records = list((tmp_path / ".course-grading").rglob("*.json"))
    assert len(records) == len(TRICKY_IDS)
    assert all(tmp_path in p.parents for p in tmp_path.rglob("*"))
    again = Progress(tmp_path, expected)
    from autograder.grading import Job

    for i, student in enumerate(TRICKY_IDS):
        res = again.load(Job(student, A, {}, [], key=f"k{i}"))
        assert res is not None and res.student == student and res.score == i
        page = (feedback_dir(tmp_path, student, A) / f"{A}.html").read_text()
        assert f"page of student {i}." in page
        assert again.load(Job(student, A, {}, [], key="other")) is None


def test_a_damaged_record_is_graded_again_not_a_crash(tmp_path):
    from autograder.grading import Job, Progress, Result

    store = Progress(tmp_path, {A: [A]})
    store.save(Result("s", A, feedback={A: "x"}), key="k")
    record = next((tmp_path / ".course-grading").rglob("*.json"))
    for damaged in ('{"key": "k", "result": {"student": "s", "assignment": "' + A + '", "bogus": 1}}',
                    '{"key": "k", "result": [1, 2]}', '[]', '{"key": "k"}', "not json"):
        record.write_text(damaged)
        assert store.load(Job("s", A, {}, [], key="k")) is None


# -- forged metadata and the seed of the hidden tests (graded in one stage) -------------------

def _source_json():
    return json.loads(SOURCE.read_text())


def _cell(nb, grade_id):
    return next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def _variants():
    v = {}
    nb = _source_json()
    _cell(nb, "gd_step")["metadata"]["nbgrader"].update(grade=True, points=1000)
    v["forged_1000_points"] = nb
    for kind, gid in (("list", ["test_gd_step"]), ("dict", {"id": "test_gd_step"})):
        nb = _source_json()
        _cell(nb, "test_gd_step")["metadata"]["nbgrader"]["grade_id"] = gid
        v[f"unhashable_{kind}"] = nb
    nb = _source_json()
    for gid, points in (("test_numerical_gradient", "3"), ("test_gd_step", -5), ("test_gradient_descent", math.nan),
                        ("test_should_stop", 1e300)):
        _cell(nb, gid)["metadata"]["nbgrader"]["points"] = points
    v["forged_points"] = nb
    nb = _source_json()
    _cell(nb, "should_stop")["metadata"]["nbgrader"] = "not a dict"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    code[1]["source"] = {"not": "text"}   # a cell the setup does not need
    del code[2]["id"]
    code[3]["id"] = code[0]["id"]
    v["malformed_cells"] = nb
    nb = _source_json()
    _cell(nb, "gd_step")["source"] += "\n# ### BEGIN HIDDEN TESTS (a student's comment)\n"
    v["student_hidden_marker"] = nb
    for tag in ("A", "B"):   # the same wrong answer: it names the learning rate the hidden tests chose
        nb = _source_json()
        _cell(nb, "gd_step")["source"] = (f"def gd_step(w, grad, lr):  # version {tag}\n"
                                          "    if lr != 0.1:\n        raise ValueError(f'lr={lr!r}')\n"
                                          "    return w - lr * grad\n")
        v[f"names_lr_{tag}"] = nb
    nb = json.loads(json.dumps(v["names_lr_A"]))
    attack = ("import course_lib.checks as c\nc.set_hidden_seed(0)\nc._hidden_seed = 0\n"
              "c.hidden_rng = lambda salt: __import__('numpy').random.default_rng(0)\n")
    nb["cells"].insert(2, nbformat.v4.new_code_cell(attack))
    v["sets_its_own_seed"] = nb
    return v


@pytest.fixture(scope="module")
def graded():
    from autograder.grading import Job, grade_submission
    from autograder.pipeline import Stage

    variants = _variants()
    out = {}
    with Stage(ROOT, [A], isolation="none") as stage:
        for name, nb in variants.items():
            out[name] = grade_submission(stage, Job(name, A, {A: json.dumps(nb).encode()}, []))
        out["names_lr_A_again"] = grade_submission(stage, Job("again", A, {A: json.dumps(variants["names_lr_A"]).encode()}, []))
    return variants, out


def _no_traceback(res):
    text = " ".join(res.problems) + " ".join(c[4] for c in res.cells)
    assert "traceback" not in text.lower() and "run the same command again" not in text, text
    assert not getattr(res, "transient", False)


@pytest.mark.slow
def test_a_forged_1000_point_solution_cell_changes_nothing(graded):
    _, out = graded
    res = out["forged_1000_points"]
    assert (res.score, res.max_score) == (10, 10), res.problems
    _no_traceback(res)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["list", "dict"])
def test_an_unhashable_grade_id_is_forged_metadata(graded, kind):
    res = graded[1][f"unhashable_{kind}"]
    assert (res.score, res.max_score) == (10, 10), res.problems
    _no_traceback(res)


@pytest.mark.slow
def test_forged_points_change_nothing(graded):
    res = graded[1]["forged_points"]
    assert (res.score, res.max_score) == (10, 10), res.problems
    source = nbformat.read(str(ROOT / "notebooks" / A / f"{A}.ipynb"), as_version=4)
    points = [c.metadata["nbgrader"]["points"] for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert [c[3] for c in res.cells] == points and sum(points) == 10
    _no_traceback(res)


@pytest.mark.slow
def test_malformed_cells_are_graded_with_one_sentence(graded):
    res = graded[1]["malformed_cells"]
    assert res.max_score == 10
    assert any("had a source that is not text" in p for p in res.problems), res.problems
    _no_traceback(res)


@pytest.mark.slow
def test_a_students_hidden_test_marker_does_not_cost_the_feedback(graded):
    res = graded[1]["student_hidden_marker"]
    assert (res.score, res.max_score) == (10, 10) and not res.problems, res.problems
    assert "BEGIN HIDDEN" in res.feedback[A]


def _hidden_lr(res):
    msg = next(c[4] for c in res.cells if c[1] == "test_gd_step")
    assert msg.startswith("ValueError: lr="), msg   # the public tests passed; a hidden one chose another lr
    return msg


@pytest.mark.slow
def test_the_same_file_gets_the_same_inputs_and_grade(graded):
    _, out = graded
    first, again = out["names_lr_A"], out["names_lr_A_again"]
    assert first.cells == again.cells and first.score == again.score and first.seeds == again.seeds
    _hidden_lr(first)


@pytest.mark.slow
def test_other_code_gets_other_hidden_inputs(graded):
    _, out = graded
    a, b = out["names_lr_A"], out["names_lr_B"]   # they differ in one comment
    assert a.seeds[A] != b.seeds[A]
    assert _hidden_lr(a) != _hidden_lr(b)
    assert a.score == b.score


def documented_seed(nb, name):
    """The seed as the grader documents it, computed here from the file's own cells."""
    source = nbformat.read(str(SOURCE), as_version=4)
    tests = {c.metadata["nbgrader"]["grade_id"] for c in source.cells
             if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}
    h = hashlib.sha256(b"course-hidden-seed\0" + name.encode() + b"\0")
    for c in nb["cells"]:
        meta = c.get("metadata", {}).get("nbgrader", {})
        if c["cell_type"] != "code" or (meta.get("grade") and not meta.get("solution") and meta.get("grade_id") in tests):
            continue
        h.update((c["source"] if isinstance(c["source"], str) else "".join(c["source"])).encode() + b"\0")
    return int.from_bytes(h.digest()[:8], "big") % 2**63


@pytest.mark.slow
def test_a_submission_cannot_choose_its_seed(graded):
    variants, out = graded
    res = out["sets_its_own_seed"]
    assert res.seeds[A] == documented_seed(variants["sets_its_own_seed"], A) != 0
    for name in ("names_lr_A", "names_lr_B"):
        assert out[name].seeds[A] == documented_seed(variants[name], A)
    _hidden_lr(res)


def test_the_grader_process_keeps_the_seed_it_derived_whatever_the_student_code_does():
    """In-process: the student's code resets the seed in its own process; the grader's copy of
    ``course_lib.checks`` still has the one derived from the file when the tests run."""
    from autograder.execute import run_notebook, submission_seed
    from autograder.remote import Session
    from course_lib import checks

    source = nbformat.read(str(SOURCE), as_version=4)
    nb = nbformat.read(str(SOURCE), as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell("import course_lib.checks as c\nc.set_hidden_seed(0)"))
    expected = submission_seed(nb, source)
    seen = []
    real = checks.hidden_rng

    def spy(salt):
        seen.append(checks._hidden_seed)
        return real(salt)

    session = Session("none", Limits(cell_s=60, notebook_s=600))
    try:
        checks.hidden_rng = spy
        with contextlib.redirect_stdout(io.StringIO()):
            run_notebook(nb, source, session)
    finally:
        checks.hidden_rng = real
        session.close()
        checks.set_hidden_seed(0)
    assert seen and set(seen) == {expected} and expected != 0
