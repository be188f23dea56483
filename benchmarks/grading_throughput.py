"""Grading throughput: `course grade` against plain sequential `nbgrader autograde` and `jupyter nbconvert --execute`.

    .venv/bin/python benchmarks/grading_throughput.py --students 100 --workers 2   # the issue's figure (about 20 min on 2 idle cores)
    .venv/bin/python benchmarks/grading_throughput.py --students 10 --workers 2    # a short run
    .venv/bin/python benchmarks/grading_throughput.py --skip-nbgrader --skip-nbconvert --skip-check
    .venv/bin/python benchmarks/grading_throughput.py --students 100 --assignments 01_gradient_descent

A simulated class: each student hands in every notebook of the course, the students cycling
through a mix of kinds: correct (the source), partial (the source with its last exercise back to
the release's stub), blank (the release), broken (the source with its first exercise raising) and
hostile (the source plus a cell that probes the sandbox: reads the instructor's files, opens a
socket, writes outside its folder). All graders get the very same files and `COURSE_GRADING=1`:

* `course grade SUBMISSIONS --out OUT --workers N` on the whole class (sandbox on, as an
  instructor runs it);
* on a sample of the same files (`--sample` students, every kind among them), one after the other:
  plain nbgrader 0.9 driven the usual way (`nbgrader generate_assignment`, the submissions under
  `submitted/`, `nbgrader autograde ASSIGNMENT`), and `jupyter nbconvert --execute` of each file
  once in a fresh kernel (no grading at all);
* the time to run each notebook's student and test cells once in a warm Python process (torch
  already imported, no sandbox, no nbgrader), and the per-notebook overhead: `course grade`'s time
  for that notebook in its worker divided by it;
* `course check` on one notebook, end to end as a learner runs it: cold (an empty cache of
  generated assignments, as after a change of the course) and warm (run again), with its verdict
  compared to `course grade`'s on the same file.

Timings depend on the machine and its load (printed); they are never asserted in the test suite.
"""

import argparse
import contextlib
import csv
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


KINDS = ["correct", "partial", "blank", "broken", "hostile", "correct", "partial", "broken", "correct", "blank"]

HOSTILE = """# a student probing the grader
import os, socket
for probe in ("open(os.path.expanduser('~/.ssh/id_rsa')).read()", "open('/etc/shadow').read()",
              "socket.create_connection(('127.0.0.1', 22), timeout=1)", "open('/tmp/owned-by-student', 'w').write('x')",
              "os.listdir('/work') + os.listdir('/root')"):
    try:
        eval(probe)
        print('allowed:', probe)
    except Exception as e:
        print('refused:', probe, type(e).__name__)
"""


def kind_of(i):
    return KINDS[i % len(KINDS)]


def _solution_cells(nb):
    return [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution")]


def make_class(subs, release, n_students, assignments):
    made = 0
    for i in range(n_students):
        kind = kind_of(i)
        for a in assignments:
            for name in notebooks_of(ROOT, a):
                src = (ROOT / "notebooks" / a / f"{name}.ipynb").read_text()
                rel = (release / a / f"{name}.ipynb").read_text()
                if kind == "blank":
                    text = rel
                elif kind == "broken":
                    nb = json.loads(src)
                    cell = _solution_cells(nb)[0]   # the first solution cell raises: that exercise (and any that uses it) fails
                    cell["source"] = "".join(cell["source"]).replace("### BEGIN SOLUTION", "### BEGIN SOLUTION\n    raise ValueError('broken on purpose')", 1)
                    text = json.dumps(nb)
                elif kind == "partial":
                    nb, stub = json.loads(src), {c.get("id"): c for c in _solution_cells(json.loads(rel))}
                    last = _solution_cells(nb)[-1]   # the last exercise left as released
                    if last.get("id") in stub:
                        last["source"] = stub[last["id"]]["source"]
                    text = json.dumps(nb)
                elif kind == "hostile":
                    nb = json.loads(src)
                    first = next(k for k, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
                    nb["cells"].insert(first + 1, {"cell_type": "code", "metadata": {}, "source": HOSTILE, "outputs": [],
                                                   "execution_count": None, "id": f"probe{i}"})
                    text = json.dumps(nb)
                else:
                    text = src
                dest = subs / f"student{i:03d}" / a
                dest.mkdir(parents=True, exist_ok=True)
                (dest / f"{name}.ipynb").write_text(text)
                made += 1
    return made


def sample_students(n_students, k):
    """``k`` students whose kinds cover the mix (the first of each kind, then the next ones)."""
    first = {}
    for i in range(n_students):
        first.setdefault(kind_of(i), i)
    picked = list(first.values())[:k]
    picked += [i for i in range(n_students) if i not in picked][: max(0, k - len(picked))]
    return sorted(picked)


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
    per = {}
    for p in (out / ".course-grading").rglob("*.json"):
        r = json.loads(p.read_text())["result"]
        per[(r["student"], r["assignment"])] = r.get("seconds", 0.0)
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


def time_nbconvert(subs, release, work, env):
    """Each file once, one after the other, in a fresh kernel, next to the student ``course_lib``."""
    start = time.perf_counter()
    for path in sorted(subs.rglob("*.ipynb")):
        a = path.parent.name
        folder = work / "nbconvert" / path.parent.parent.name / a
        if not folder.exists():
            shutil.copytree(release / a, folder)
        shutil.copyfile(path, folder / path.name)
        run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
             "--ExecutePreprocessor.timeout=300", "--output", path.stem + ".out", str(folder / path.name)], cwd=folder, env=env)
    return time.perf_counter() - start


def warm_exec(files, release):
    """In this process (warm: torch imported, one throwaway run): seconds to run each file's student
    and test cells once (the instructor's test cells, hidden tests included; demo cells skipped, as
    the grader does), without a sandbox or nbgrader. Prints ``{file: seconds}`` as JSON."""
    import contextlib
    import io
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import nbformat
    import torch  # noqa: F401

    from autograder.execute import demo_cell_ids, is_test_cell, strip_magics, test_sources

    def once(path):
        a = Path(path).parent.name
        source = nbformat.read(str(ROOT / "notebooks" / a / Path(path).name), as_version=4)
        nb = nbformat.read(str(path), as_version=4)
        tests, demos = test_sources(source), demo_cell_ids(source)
        cwd = os.getcwd()
        os.chdir(release / a)
        sys.path.insert(0, str(release / a))
        ns = {"__name__": "__main__"}
        start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for cell in nb.cells:
                    if cell.cell_type != "code" or (cell.get("id") in demos and not cell.get("metadata", {}).get("nbgrader")):
                        continue
                    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                    code = tests[gid] if is_test_cell(cell) and gid in tests else cell.source
                    try:
                        exec(compile(strip_magics(code), "<cell>", "exec"), ns)
                    except BaseException:  # noqa: BLE001 - a failing cell is part of the run
                        pass
        finally:
            os.chdir(cwd)
            sys.path.remove(str(release / a))
        return time.perf_counter() - start

    os.environ["COURSE_GRADING"] = "1"
    once(files[0])
    print(json.dumps({f: once(f) for f in files}))


def time_check(path, env, cache, server=False):
    """`course check PATH` end to end (a new Python process); (seconds, its first line).
    ``server``: with the check server on (the command's default); else without it."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "check", str(path)], cwd=ROOT,
                          env=dict(env, COURSE_CACHE_DIR=str(cache), COURSE_CHECK_SERVER="1" if server else "0"),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"course check failed: {(proc.stderr or proc.stdout).strip()[-800:]}")
    return time.perf_counter() - start, proc.stdout.splitlines()[0]


def check_server_socket(cache):
    env = dict(os.environ, COURSE_CACHE_DIR=str(cache))
    proc = subprocess.run([sys.executable, "-c", "from autograder import check_server; print(check_server.socket_path("
                           f"{str(ROOT)!r}, 'none'))"], cwd=ROOT, env=env, capture_output=True, text=True)
    return Path(proc.stdout.strip())


def wait_for_server(sock, timeout=300):
    """Until the check server's socket takes connections (it answers once it has warmed up)."""
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if sock.exists():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(sock))
                s.close()
                return True
            except OSError:
                pass
        time.sleep(0.5)
    return False


def _load():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=100)
    p.add_argument("--workers", type=int, default=None, help="course grade's workers (default: its own default, the CPU count)")
    p.add_argument("--sample", type=int, default=5, help="students whose files the sequential baselines run (default 5: one of each kind)")
    p.add_argument("--skip-nbgrader", action="store_true")
    p.add_argument("--skip-nbconvert", action="store_true")
    p.add_argument("--skip-check", action="store_true")
    p.add_argument("--assignments", nargs="+", default=None, metavar="ID", help="grade only these assignments (default: all)")
    p.add_argument("--warm-exec", nargs="+", default=None, help=argparse.SUPPRESS)   # internal: see warm_exec
    p.add_argument("--release", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.warm_exec:
        return warm_exec(args.warm_exec, Path(args.release))
    everything = list_assignments(ROOT)
    assignments = args.assignments or everything
    unknown = sorted(set(assignments) - set(everything))
    if unknown:
        sys.exit(f"unknown assignment(s) {', '.join(unknown)}; the course has {', '.join(everything)}")
    env = dict(os.environ, COURSE_ROOT=str(ROOT), COURSE_GRADING="1", MPLBACKEND="Agg", PYTHONWARNINGS="ignore",
               PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))  # nbgrader runs alembic
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        tmp = Path(tmp)
        env["COURSE_CACHE_DIR"] = str(tmp / "cache")   # nothing generated before: the batch pays its own stage
        release = tmp / "release"
        run([sys.executable, "-m", "autograder.cli", "release", "--out", str(release)], cwd=ROOT, env=env)
        n = make_class(tmp / "subs", release, args.students, assignments)
        per_student = n // args.students
        mix = ", ".join(f"{k} {sum(1 for i in range(args.students) if kind_of(i) == k)}" for k in dict.fromkeys(KINDS))
        print(f"simulated class: {args.students} students x {per_student} notebooks = {n} notebooks ({mix}); "
              f"{os.cpu_count()} CPU cores, load {_load():.1f} at the start")
        course_s, per = time_course(tmp / "subs", tmp / "out", args.workers, env)
        rate = 60 * n / course_s
        print(f"course grade (--workers {args.workers or os.cpu_count()}, sandboxed): {course_s:7.1f} s  {rate:6.1f} notebooks/min"
              f"  (load {_load():.1f} at the end)")
        if per:
            print(f"  one notebook inside the batch: median {statistics.median(per.values()):.2f} s, "
                  f"max {max(per.values()):.1f} s (time in a worker, {len(per)} notebooks)")
        print(f"  a class of 100 students x {per_student} notebooks at this rate: {100 * per_student / rate:.1f} min")
        picked = sample_students(args.students, min(args.sample, args.students))
        sample = tmp / "sample"
        for i in picked:
            shutil.copytree(tmp / "subs" / f"student{i:03d}", sample / f"student{i:03d}")
        m = len(list(sample.rglob("*.ipynb")))
        print(f"sample for the sequential baselines: {len(picked)} students ({', '.join(kind_of(i) for i in picked)}) = {m} notebooks")
        if not args.skip_nbgrader:
            nbg_s = time_nbgrader(sample, tmp, env, assignments)
            nbg_rate = 60 * m / nbg_s
            print(f"nbgrader autograde (sequential):      {nbg_s:7.1f} s  {nbg_rate:6.1f} notebooks/min   course grade is {rate / nbg_rate:.1f}x faster")
        if not args.skip_nbconvert:
            nbc_s = time_nbconvert(sample, release, tmp, env)
            nbc_rate = 60 * m / nbc_s
            print(f"nbconvert --execute, fresh kernel (sequential): {nbc_s:7.1f} s  {nbc_rate:6.1f} notebooks/min   course grade is {rate / nbc_rate:.1f}x faster")
        files = sorted(str(f) for f in sample.rglob("*.ipynb"))
        proc = subprocess.run([sys.executable, __file__, "--warm-exec", *files, "--release", str(release)], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        if proc.returncode == 0:
            warm = json.loads(proc.stdout.strip().splitlines()[-1])
            ratios = {f: per[(Path(f).parent.parent.name, Path(f).parent.name)] / max(w, 1e-3)
                      for f, w in warm.items() if (Path(f).parent.parent.name, Path(f).parent.name) in per}
            if ratios:
                print(f"overhead per notebook (its grading time / running its student and test cells once in a warm process): "
                      f"median {statistics.median(ratios.values()):.1f}x, max {max(ratios.values()):.1f}x over {len(ratios)} notebooks; "
                      f"warm run median {statistics.median(warm.values()):.2f} s")
                by_a = {}
                for f, r in ratios.items():
                    by_a.setdefault(Path(f).parent.name, []).append(r)
                print("  by notebook: " + ", ".join(f"{a} {statistics.median(v):.1f}x" for a, v in sorted(by_a.items())))
                right = [r for f, r in ratios.items() if kind_of(int(Path(f).parent.parent.name[len("student"):])) == "correct"]
                if right:   # a blank notebook runs in milliseconds once: its ratio says little
                    print(f"  correct notebooks only: median {statistics.median(right):.1f}x over {len(right)}")
        else:
            print(f"warm run failed: {proc.stderr.strip()[-400:]}")
        if not args.skip_check:
            i = picked[min(1, len(picked) - 1)]
            a = assignments[0]
            target = sample / f"student{i:03d}" / a / f"{notebooks_of(ROOT, a)[0]}.ipynb"
            cache = tmp / "check-cache"
            cold, line = time_check(target, env, cache)              # nothing cached, no server
            warm_s, line2 = time_check(target, env, cache)           # the generated assignment cached, no server
            _, line3 = time_check(target, env, cache, server=True)   # leaves the check server behind
            sock = check_server_socket(cache)
            if wait_for_server(sock):
                time_check(target, env, cache, server=True)          # waits for the server's warm-up
                served, line4 = time_check(target, env, cache, server=True)
            else:
                served, line4 = float("nan"), line
            with contextlib.suppress(OSError):
                sock.unlink()     # the server sees its socket gone and ends within seconds
            with open(tmp / "out" / "grades.csv", newline="") as fh:
                graded = next(r for r in csv.DictReader(fh) if r["student_id"] == f"student{i:03d}" and r["assignment"] == a)
            same = (line.split(": ", 1)[-1].replace(" ", "") == f"{graded['score']}/{graded['max_score']}"
                    and line == line2 == line3 == line4)
            print(f"course check {a} ({kind_of(i)} student, --isolation none): cold {cold:.1f} s (no cached generated "
                  f"assignment, new process, no check server), warm {warm_s:.1f} s (cached, no server), "
                  f"with the warm check server {served:.1f} s; verdict {line.split(': ', 1)[-1]}, course grade's "
                  f"{graded['score']} / {graded['max_score']}: {'same' if same else 'DIFFERENT'}")
        print(f"load at the end: {_load():.1f}")


if __name__ == "__main__":
    main()
