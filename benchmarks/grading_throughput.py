"""Grading throughput: `course grade` against plain sequential `nbgrader autograde`, same submissions.

    .venv/bin/python benchmarks/grading_throughput.py                 # 12 students x every notebook
    .venv/bin/python benchmarks/grading_throughput.py --students 30 --workers 2
    .venv/bin/python benchmarks/grading_throughput.py --skip-nbgrader  # only the course's grader
    .venv/bin/python benchmarks/grading_throughput.py --students 100 --assignments 01_gradient_descent

A simulated class: each student hands in every notebook of the course, cycling through a correct
notebook (the source), the blank release and the source with one exercise broken. Both graders
get the very same files and `COURSE_GRADING=1`:

* `course grade SUBMISSIONS --out OUT --workers N` (sandbox on, as an instructor runs it);
* plain nbgrader 0.9 driven the usual way: a course directory made with `nbgrader
  generate_assignment`, the submissions under `submitted/`, then `nbgrader autograde ASSIGNMENT`
  for each assignment, one after the other (nbgrader grades one submission at a time).

It prints wall time and notebooks per minute for each, the speed-up, the median time one
notebook took inside `course grade`, and what that means for a class of 100 students.
Timings depend on the machine; they are never asserted in the test suite.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.course_dir import list_assignments, notebooks_of  # noqa: E402


def make_class(subs, release, n_students, assignments):
    kinds = ["correct", "blank", "broken"]
    made = 0
    for i in range(n_students):
        kind = kinds[i % len(kinds)]
        for a in assignments:
            for name in notebooks_of(ROOT, a):
                src = (ROOT / "notebooks" / a / f"{name}.ipynb").read_text()
                if kind == "blank":
                    text = (release / a / f"{name}.ipynb").read_text()
                elif kind == "broken":
                    nb = json.loads(src)
                    for cell in nb["cells"]:   # the first solution cell raises: that exercise (and any that uses it) fails
                        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                            cell["source"] = "".join(cell["source"]).replace("### BEGIN SOLUTION", "### BEGIN SOLUTION\n    raise ValueError('broken on purpose')", 1)
                            break
                    text = json.dumps(nb)
                else:
                    text = src
                dest = subs / f"student{i:03d}" / a
                dest.mkdir(parents=True, exist_ok=True)
                (dest / f"{name}.ipynb").write_text(text)
                made += 1
    return made


def run(cmd, cwd=None, env=None):
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd[:4]))} failed: {(proc.stderr or proc.stdout).strip()[-800:]}")
    return time.perf_counter() - start


def time_course(subs, out, workers, env):
    cmd = [sys.executable, "-m", "autograder.cli", "grade", str(subs), "--out", str(out)]
    if workers:
        cmd += ["--workers", str(workers)]
    elapsed = run(cmd, cwd=ROOT, env=env)
    per = [json.loads(p.read_text())["result"].get("seconds", 0.0) for p in (out / ".course-grading").rglob("*.json")]
    return elapsed, per


def time_nbgrader(subs, work, env, assignments):
    nbgrader = [sys.executable, "-m", "nbgrader"]
    course = work / "nbgrader-course"
    shutil.copytree(ROOT / "notebooks", course / "source", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'bench'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{course}/gradebook.db'\n"
        "c.Autograde.create_student = True\n"
        "c.Execute.timeout = 300\n")
    for a in assignments:
        run(nbgrader + ["generate_assignment", a, "--force"], cwd=course, env=env)
    shutil.copytree(subs, course / "submitted")
    start = time.perf_counter()
    for a in assignments:
        run(nbgrader + ["autograde", a, "--force"], cwd=course, env=env)
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=12)
    p.add_argument("--workers", type=int, default=None, help="course grade's workers (default: its own default, the CPU count)")
    p.add_argument("--skip-nbgrader", action="store_true")
    p.add_argument("--assignments", nargs="+", default=None, metavar="ID", help="grade only these assignments (default: all)")
    args = p.parse_args()
    everything = list_assignments(ROOT)
    assignments = args.assignments or everything
    unknown = sorted(set(assignments) - set(everything))
    if unknown:
        sys.exit(f"unknown assignment(s) {', '.join(unknown)}; the course has {', '.join(everything)}")
    env = dict(os.environ, COURSE_ROOT=str(ROOT), COURSE_GRADING="1", MPLBACKEND="Agg", PYTHONWARNINGS="ignore",
               PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))  # nbgrader runs alembic
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        tmp = Path(tmp)
        run([sys.executable, "-m", "autograder.cli", "release", "--out", str(tmp / "release")], cwd=ROOT, env=env)
        n = make_class(tmp / "subs", tmp / "release", args.students, assignments)
        print(f"simulated class: {args.students} students x {n // args.students} notebooks = {n} notebooks; "
              f"{os.cpu_count()} CPU cores")
        course_s, per = time_course(tmp / "subs", tmp / "out", args.workers, env)
        rate = 60 * n / course_s
        print(f"course grade (--workers {args.workers or os.cpu_count()}, sandboxed): {course_s:7.1f} s  {rate:6.1f} notebooks/min")
        if per:
            print(f"  one notebook inside the batch: median {statistics.median(per):.1f} s, "
                  f"max {max(per):.1f} s (time in a worker, {len(per)} notebooks)")
        if not args.skip_nbgrader:
            nbg_s = time_nbgrader(tmp / "subs", tmp, env, assignments)
            nbg_rate = 60 * n / nbg_s
            print(f"nbgrader autograde (sequential):      {nbg_s:7.1f} s  {nbg_rate:6.1f} notebooks/min")
            print(f"speed-up: {rate / nbg_rate:.2f}x")
        per_class = 100 * (n // args.students) / rate
        print(f"a class of 100 students x {n // args.students} notebooks at this rate: {per_class:.1f} min")


if __name__ == "__main__":
    main()
