"""The fast grading engine gives exactly the grades of the plain one, on a simulated class.

Fast: `course grade` as it runs by default (one zygote per worker forks each student process,
the generated assignments taken from the cache the plain run filled, feedback pages made safe in the
workers). Plain: the same command with every start-up saving turned off (`COURSE_ZYGOTE=0`: a
fresh student process per notebook; an empty cache folder: the assignments generated anew).
The class: a student of each kind of the benchmark (correct, partial, blank, broken, hostile)
hands in every notebook of the course. Both runs must write the same grades.csv, report.txt and
summary.txt, the same record per submission (each test's score and message, the problems, the
seeds of the hidden tests) and byte-identical feedback pages. No timing is asserted.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow


def _benchmark():
    spec = importlib.util.spec_from_file_location("grading_throughput", ROOT / "benchmarks" / "grading_throughput.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _grade(subs, out, cache, **env):
    env = dict(os.environ, COURSE_ROOT=str(ROOT), PYTHONUNBUFFERED="1", COURSE_CACHE_DIR=str(cache), **env)
    env.pop("COURSE_GRADING", None)
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(subs), "--out", str(out), "--workers", "2"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _records(out):
    recs = {}
    for p in sorted((out / ".course-grading").rglob("*.json")):
        rec = json.loads(p.read_text())
        rec["result"].pop("seconds")   # the one thing allowed to differ
        recs[p.relative_to(out).as_posix()] = rec
    return recs


def _pages(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "feedback").rglob("*.html"))}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    bench = _benchmark()
    tmp = tmp_path_factory.mktemp("fast-vs-plain")
    release = tmp / "release"
    env = dict(os.environ, COURSE_ROOT=str(ROOT), COURSE_CACHE_DIR=str(tmp / "cache-release"))
    subprocess.run([sys.executable, "-m", "autograder.cli", "release", "--out", str(release)], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=900)
    subs = tmp / "subs"
    kinds = list(dict.fromkeys(bench.KINDS))
    n = bench.make_class(subs, release, len(kinds), bench.list_assignments(ROOT))
    assert n == len(kinds) * sum(len(bench.notebooks_of(ROOT, a)) for a in bench.list_assignments(ROOT))
    assert [bench.kind_of(i) for i in range(len(kinds))] == kinds
    plain = _grade(subs, tmp / "plain", tmp / "cache-plain", COURSE_ZYGOTE="0")
    fast = _grade(subs, tmp / "fast", tmp / "cache-plain")   # the generated assignments the plain run cached, reused
    return tmp, plain, fast


def test_the_fast_engine_writes_what_the_plain_one_writes(two_runs):
    tmp, *_ = two_runs
    plain, other = tmp / "plain", tmp / "fast"
    for name in ("grades.csv", "report.txt", "summary.txt"):
        assert (other / name).read_text() == (plain / name).read_text(), name
    assert _records(other) == _records(plain)
    assert _pages(other) == _pages(plain)


def test_the_class_is_a_real_mix(two_runs):
    """The comparison means something: the kinds get different grades, and the probes are refused."""
    tmp, *_ = two_runs
    rows = [ln.split(",") for ln in (tmp / "plain" / "grades.csv").read_text().splitlines()[1:]]
    by_student = {}
    for student, _a, score, max_score, *_late in rows:   # then raw_score, late_by, penalty
        by_student.setdefault(student, [0.0, 0.0])
        by_student[student][0] += float(score)
        by_student[student][1] += float(max_score)
    scores = [round(s, 2) for s, _ in by_student.values()]
    assert len(set(scores)) >= 4, by_student   # correct, partial, blank and broken all differ
    correct, _partial, blank, *_ = by_student.values()
    assert correct[0] == correct[1] and blank[0] == 0


def test_the_cached_generated_assignment_is_keyed_by_every_source_file(tmp_path, monkeypatch):
    """A stage is reused only for the very same source files: a changed byte gives another key."""
    import shutil

    from autograder import pipeline

    a = "01_gradient_descent"
    shutil.copytree(ROOT / "notebooks" / a, tmp_path / "notebooks" / a,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    key = pipeline.stage_key(tmp_path, [a])
    assert key == pipeline.stage_key(tmp_path, [a]) == pipeline.stage_key(ROOT, [a])
    (tmp_path / "notebooks" / a / ".ipynb_checkpoints").mkdir()
    (tmp_path / "notebooks" / a / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")   # ignored, as the stage ignores it
    assert pipeline.stage_key(tmp_path, [a]) == key
    nb = tmp_path / "notebooks" / a / f"{a}.ipynb"
    nb.write_bytes(nb.read_bytes().replace(b"BEGIN HIDDEN TESTS", b"BEGIN HIDDEN TESTS ", 1))
    assert pipeline.stage_key(tmp_path, [a]) != key
    assert pipeline.stage_key(ROOT, [a, "02_sgd_minibatch"]) != key
    monkeypatch.setenv(pipeline.CACHE_ENV, str(tmp_path / "cache"))
    assert pipeline.cache_dir() == tmp_path / "cache" / "stages"
