"""`course grade` on a class: bad submissions, parallel = sequential = Dask, stop and resume."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from conftest import ROOT, run_course
from notebook_text import html_text

pytestmark = pytest.mark.slow

A = "01_gradient_descent"
SOURCE = ROOT / "notebooks" / A / f"{A}.ipynb"


def _grades(out):
    with open(out / "grades.csv", newline="") as fh:
        return {r["student_id"]: (float(r["score"]), float(r["max_score"])) for r in csv.DictReader(fh)}


def _put(subs, student, name, text):
    (subs / student / A).mkdir(parents=True, exist_ok=True)
    path = subs / student / A / name
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    return path


@pytest.fixture(scope="module")
def bad_batch(tmp_path_factory):
    subs = tmp_path_factory.mktemp("subs")
    src = SOURCE.read_text()
    nb = nbformat.read(str(SOURCE), as_version=4)
    _put(subs, "ok", f"{A}.ipynb", src)
    _put(subs, "not_json", f"{A}.ipynb", "{ not json")
    _put(subs, "not_a_notebook", f"{A}.ipynb", json.dumps({"name": "a list of things", "items": [1, 2]}))
    _put(subs, "renamed", "final_version (2).ipynb", src)
    _put(subs, "old_nbformat", f"{A}.ipynb", nbformat.writes(nbformat.convert(nb, 3)))
    dup = json.loads(src)
    dup["cells"].insert(5, json.loads(json.dumps(dup["cells"][4])))   # the same cell, id included, twice
    assert dup["cells"][4]["id"] == dup["cells"][5]["id"]
    _put(subs, "duplicated_ids", f"{A}.ipynb", json.dumps(dup))
    missing = nbformat.read(str(SOURCE), as_version=4)
    missing.cells = [c for c in missing.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != "gd_step"]
    _put(subs, "missing_cell", f"{A}.ipynb", nbformat.writes(missing))
    _put(subs, "extra_files", f"{A}.ipynb", src)
    _put(subs, "extra_files", "scratch.ipynb", src)
    _put(subs, "extra_files", "notes.txt", "my notes")
    big = nbformat.read(str(SOURCE), as_version=4)
    first = next(c for c in big.cells if c.cell_type == "code")
    first.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (100 * 1024 * 1024))]
    _put(subs, "huge_output", f"{A}.ipynb", nbformat.writes(big))
    _put(subs, "binary", f"{A}.ipynb", bytes(range(256)) * 10)
    (subs / "stray_file.txt").write_text("not a student")
    out = tmp_path_factory.mktemp("out")
    proc = run_course("grade", subs, "--out", out, "--workers", "2", timeout=1200)
    return subs, out, proc


EXPECTED = {   # student: (score, a phrase of the one line in the report and the feedback)
    "ok": (10, None),
    "not_json": (0, "not valid notebook JSON"),
    "not_a_notebook": (0, "JSON but not a notebook"),
    "renamed": (10, "was graded as 01_gradient_descent.ipynb"),
    "old_nbformat": (10, None),
    "duplicated_ids": (10, None),
    "missing_cell": (6, "has no cell 'gd_step'"),
    "extra_files": (10, "these were ignored: scratch.ipynb, notes.txt"),
    "huge_output": (10, "MB of cell outputs; they were cleared"),
    "binary": (0, "not a text file"),
}


def test_every_bad_submission_gets_its_grade_and_one_clear_line(bad_batch):
    subs, out, proc = bad_batch
    assert proc.returncode == 0, proc.stdout + proc.stderr
    grades = _grades(out)
    report = (out / "report.txt").read_text()
    assert "stray_file.txt is a file, not a student folder" in report
    for student, (score, phrase) in EXPECTED.items():
        assert grades[student] == (score, 10), (student, grades[student])
        if phrase:
            assert phrase in report, (student, report)
            page = html_text(out / "feedback" / student / A / f"{A}.html")
            assert phrase in page, f"{student}'s feedback does not say: {phrase}"


def test_the_summary_gives_pass_rates_and_common_failures(bad_batch):
    _, out, _ = bad_batch
    summary = (out / "summary.txt").read_text()
    assert f"{A}: {len(EXPECTED)} submission(s)" in summary
    assert "test_gd_step" in summary and "passed by" in summary
    assert "problem" in summary


def test_parallel_sequential_and_dask_give_identical_grades(tmp_path):
    distributed = pytest.importorskip("distributed")
    subs = tmp_path / "subs"
    wrong = SOURCE.read_text().replace("if loss < best - min_delta:", "if loss <= best - min_delta:")
    for i, text in enumerate([SOURCE.read_text(), wrong, "{"]):
        _put(subs, f"s{i}", f"{A}.ipynb", text)
    seq = run_course("grade", subs, "--out", tmp_path / "seq", "--workers", "1")
    par = run_course("grade", subs, "--out", tmp_path / "par", "--workers", "2")
    assert seq.returncode == par.returncode == 0, seq.stderr + par.stderr
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask = run_course("grade", subs, "--out", tmp_path / "dask", "--dask", cluster.scheduler_address)
    assert dask.returncode == 0, dask.stdout + dask.stderr
    expected = {"s0": (10, 10), "s1": (7, 10), "s2": (0, 10)}
    assert _grades(tmp_path / "seq") == _grades(tmp_path / "par") == _grades(tmp_path / "dask") == expected


def test_an_unreachable_dask_scheduler_is_one_sentence(tmp_path):
    _put(tmp_path / "subs", "s0", f"{A}.ipynb", SOURCE.read_text())
    proc = run_course("grade", tmp_path / "subs", "--out", tmp_path / "out", "--dask", "tcp://127.0.0.1:9")
    assert proc.returncode == 2 and "Could not reach the Dask scheduler" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_stopped_batch_keeps_what_was_graded_and_resumes(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    for i in range(4):
        _put(subs, f"s{i}", f"{A}.ipynb", SOURCE.read_text())
    env = dict(os.environ, COURSE_ROOT=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "autograder.cli", "grade", str(subs), "--out", str(out), "--workers", "1"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    records = out / ".course-grading"
    deadline = time.time() + 600
    while time.time() < deadline and len(list(records.rglob("*.json"))) < 1:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    done = len(list(records.rglob("*.json")))
    assert 1 <= done < 4, "the batch should have been stopped part-way"
    assert proc.returncode in (2, 130) and "run the same command again" in err, err
    assert "Traceback" not in err
    again = run_course("grade", subs, "--out", out, "--workers", "1")
    assert again.returncode == 0, again.stderr
    assert f"{done} kept from an earlier run" in again.stdout
    assert _grades(out) == {f"s{i}": (10, 10) for i in range(4)}


def test_course_demo_grades_a_simulated_class(tmp_path):
    out = tmp_path / "demo"
    proc = run_course("demo", "--out", out, "--workers", "2", timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    grades = _grades(out / "grades")
    assert grades["ada_correct"] == (10, 10) and grades["ben_one_mistake"] == (7, 10)
    assert grades["cat_blank"] == grades["dan_not_a_notebook"] == grades["eve_hostile"] == (0, 10)
    assert grades["fay_renamed"] == (10, 10)
    assert "passed by" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    # a folder the demo did not make is never overwritten
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("important")
    again = run_course("demo", "--out", mine)
    assert again.returncode == 2 and "was not made by `course demo`" in again.stderr
    assert (mine / "thesis.txt").read_text() == "important"


def test_ids_that_look_alike_keep_their_own_grades_across_a_rerun(tmp_path):
    """`zoe a` and `zoe_a` used to share one record file: the re-run crashed and dropped one."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    right = SOURCE.read_text()
    uphill = right.replace("return w - lr * grad", "return w + lr * grad")
    assert uphill != right
    students = {"zoe a": (right, 10), "zoe_a": (uphill, 9), "zoe%20a": ("{", 0), "zoé": (right, 10), "Zoe_A": (uphill, 9)}
    for student, (text, _) in students.items():
        _put(subs, student, f"{A}.ipynb", text)
    first = run_course("grade", subs, "--out", out, "--workers", "2")
    assert first.returncode == 0, first.stdout + first.stderr
    expected = {s: (float(score), 10.0) for s, (_, score) in students.items()}
    assert _grades(out) == expected
    assert len(list((out / ".course-grading").rglob("*.json"))) == len(students)
    folders = sorted(p.name for p in (out / "feedback").iterdir())
    assert len(folders) == len(students) and "zoe_a" in folders
    assert all("\n" not in f and " " not in f and "/" not in f for f in folders)
    again = run_course("grade", subs, "--out", out, "--workers", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{len(students)} kept from an earlier run" in again.stdout
    assert _grades(out) == expected
    assert "Traceback" not in first.stderr + again.stderr
