"""Grading: one notebook for a learner (``course check``) or a whole class (``course grade``).

A class is graded as independent *jobs*, one per student and assignment (:class:`Job`: the
notebooks' bytes and the problems found while collecting them). :func:`grade_job` grades one
job in whatever process runs it — this one, a worker of a local process pool
(``--workers N``), or a Dask worker (``--dask ADDRESS``) — in a staging course directory of
its own, so workers share nothing but the results they return.

As each result arrives it is saved: the student's feedback pages, a record in
``OUT/.course-grading/`` (keyed by a checksum of the submission and of the course's source
notebooks), and fresh ``grades.csv``, ``report.txt`` and ``summary.txt``. A stopped batch loses
nothing already graded; the same command again grades only what is missing or changed.
"""

import atexit
import csv
import hashlib
import html
import io
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from autograder import CourseError
from autograder.course_dir import list_assignments, notebooks_of
from autograder.jail import Limits
from autograder.submissions import Submission, collect, read_notebook_problem

GRADES_HEADER = ["student_id", "assignment", "score", "max_score"]
STATE_DIR = ".course-grading"


@dataclass
class Result:
    student: str
    assignment: str
    score: float = 0.0
    max_score: float = 0.0
    cells: list = field(default_factory=list)      # [notebook, grade_id, score, max_score, message or ""]
    problems: list = field(default_factory=list)
    feedback: dict = field(default_factory=dict)   # notebook -> feedback HTML (text)
    seconds: float = 0.0                           # time spent grading it (in its worker)


@dataclass(frozen=True)
class Options:
    isolation: str = "namespaces"
    limits: Limits = Limits()


@dataclass
class Job:
    student: str
    assignment: str
    notebooks: dict        # notebook name -> bytes
    problems: list
    key: str = ""


def _fmt(x):
    return f"{x:.2f}".rstrip("0").rstrip(".")


# -- one submission -----------------------------------------------------------------------------

def grade_submission(stage, sub):
    """Autograde one :class:`Submission` (or :class:`Job`) in ``stage``; never raises for a bad submission."""
    from autograder.feedback import cell_messages, order_of
    from autograder.pipeline import PipelineError

    res = Result(sub.student, sub.assignment, max_score=stage.max_score(sub.assignment), problems=list(sub.problems))
    if not sub.notebooks:
        return res
    stage.submit(sub.student, sub.assignment, sub.notebooks)
    try:
        stage.autograde(sub.student, sub.assignment)
        per_nb, (res.score, res.max_score) = stage.scores(sub.student, sub.assignment)
    except PipelineError as e:
        res.problems.append(f"The submission could not be graded ({e.reason}); it scores 0.")
        res.score = 0.0
        stage.clear(sub.student, sub.assignment)
        return res
    for nb_name in notebooks_of(stage.course_root, sub.assignment):
        graded = stage.autograded_notebook(sub.student, sub.assignment, nb_name)
        if not graded.exists():
            continue
        messages = cell_messages(graded)
        for gid in missing_solution_cells(stage, sub.assignment, nb_name, graded):
            res.problems.append(f"Your notebook has no cell '{gid}' (it was deleted or its metadata lost); its exercise "
                                "cannot pass: copy the cell back from the released notebook.")
        for gid, msg in cell_messages(graded, kind="solution").items():
            if not msg.startswith("NotImplementedError"):
                res.problems.append(f"Your cell '{gid}' stopped with {msg}; fix it and rerun it, the tests that use it depend on it.")
        order = {gid: i for i, gid in enumerate(order_of(graded))}
        for gid, score, max_score in sorted(per_nb.get(nb_name, []), key=lambda r: order.get(r[0], 1e9)):
            if gid not in order:
                continue  # grade cells of the autograded kind only (manual ones have no test cell)
            res.cells.append([nb_name, gid, score, max_score, messages.get(gid, "") if score < max_score else ""])
    try:
        fb_dir = stage.feedback(sub.student, sub.assignment)
        res.feedback = {p.stem: p.read_text(encoding="utf-8") for p in fb_dir.glob("*.html")}
    except PipelineError:
        res.problems.append("The feedback page could not be written; the score above stands.")
    stage.clear(sub.student, sub.assignment)
    return res


def missing_solution_cells(stage, assignment, nb_name, graded):
    import nbformat

    def ids(path):
        nb = nbformat.read(str(path), as_version=4)
        return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
                if c.get("metadata", {}).get("nbgrader", {}).get("solution")]

    have = set(ids(graded))
    return [g for g in ids(stage.dir / "source" / assignment / f"{nb_name}.ipynb") if g not in have]


_STAGES = {}
_STAGE_LOCK = threading.Lock()
_TEMPLATE = {}   # set in local worker processes: the stage the main process generated for the batch


def _stage_for(course_root, assignment, options):
    from autograder.pipeline import Stage

    template = _TEMPLATE.get("dir")
    key = (str(course_root), None if template else assignment, options)
    with _STAGE_LOCK:
        if key not in _STAGES:
            if template:
                _STAGES[key] = Stage(course_root, _TEMPLATE["assignments"], isolation=options.isolation,
                                     limits=options.limits, template=template)
            else:
                _STAGES[key] = Stage(course_root, [assignment], isolation=options.isolation, limits=options.limits)
            atexit.register(_STAGES[key].close)
        return _STAGES[key]


_GRADE_LOCK = threading.Lock()


def grade_job(course_root, job, options=Options()):
    """Grade one :class:`Job` in this process (any worker); returns a :class:`Result`."""
    course_root = Path(os.environ.get("COURSE_ROOT") or course_root)
    with _GRADE_LOCK:  # one at a time per process: grading redirects this process's stdout
        stage = _stage_for(course_root, job.assignment, options)
        start = time.perf_counter()
        res = grade_submission(stage, job)
        res.seconds = round(time.perf_counter() - start, 3)
        return res


def warm_up(template=None, assignments=()):
    """Pay the one-off imports (nbgrader, torch and its first optimizer step) once per worker.

    ``template``: a stage the main process already generated for the batch's assignments;
    the worker copies it instead of running nbgrader's generate_assignment again.

    Workers ignore Ctrl-C: the main process stops the batch, and a worker killed mid-job
    would only turn a good result into a lost one.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if template:
        _TEMPLATE.update(dir=template, assignments=list(assignments))
    import nbgrader.converters  # noqa: F401
    import torch

    torch.set_num_threads(1)  # N workers share N cores: tiny tensors are slower with threads fighting over them
    p = torch.zeros(1, requires_grad=True)
    p.grad = torch.zeros(1)
    torch.optim.SGD([p], lr=0.1).step()


def report_lines(res, verbose=True):
    lines = [f"{res.student}/{res.assignment}: {_fmt(res.score)} / {_fmt(res.max_score)}"]
    if verbose:
        for nb, gid, score, max_score, msg in res.cells:
            mark = "\u2714" if score >= max_score else "\u2718"
            lines.append(f"  {mark} {gid:<34} {_fmt(score):>5} / {_fmt(max_score)}" + (f"   {msg}" if msg else ""))
    lines += [f"  ! {p}" for p in res.problems]
    return lines


# -- course check -------------------------------------------------------------------------

def check_notebook(course_root, path, isolation="none"):
    """Grade one notebook locally, hidden tests included; return its :class:`Result`."""
    path = Path(path)
    if not path.exists():
        raise CourseError(f"{path} does not exist: give the path of a notebook, e.g. workspace/01_gradient_descent/01_gradient_descent.ipynb.")
    if path.is_dir() or path.suffix != ".ipynb":
        raise CourseError(f"{path} is not a notebook (.ipynb file): give the path of the notebook you worked in.")
    problem = read_notebook_problem(path)
    if problem:
        raise CourseError(problem)
    assignment = _assignment_for(course_root, path)
    names = notebooks_of(course_root, assignment)
    name = path.stem if path.stem in names else names[0]
    from autograder.pipeline import Stage  # nbgrader takes seconds to import: only once the input is good

    sub = Submission("you", assignment, path.parent, {name: path})
    if path.stem not in names:
        sub.problems.append(f"{path.name} was graded as {name}.ipynb of {assignment}.")
    if isolation == "namespaces":
        from autograder.jail import require_isolation

        require_isolation()
    with Stage(course_root, [assignment], isolation=isolation) as stage:
        return grade_submission(stage, sub)


def _assignment_for(course_root, path):
    known = list_assignments(course_root)
    for a in known:
        if path.stem in notebooks_of(course_root, a):
            return a
    if path.parent.name in known:
        return path.parent.name
    raise CourseError(f"{path.name} is not a notebook of this course (its notebooks are {', '.join(n + '.ipynb' for a in known for n in notebooks_of(course_root, a))}).")


# -- course grade ---------------------------------------------------------------------------

def _write_atomic(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _problem_list(res):
    return "".join(f"<li>{html.escape(p)}</li>" for p in res.problems)


def _problem_page(res, nb_name):
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(res.assignment)} feedback</title></head><body>"
            f"<h1>{html.escape(res.assignment)} / {html.escape(nb_name)}</h1>"
            f"<p>Score: {_fmt(res.score)} / {_fmt(res.max_score)}</p><ul>{_problem_list(res)}</ul></body></html>")


def _with_problems(page, res):
    """nbgrader's feedback page with the submission's problems at the top."""
    if not res.problems:
        return page
    box = (f"<div style='border:2px solid #c62828;padding:8px 12px;margin:12px;font-family:sans-serif'>"
           f"<b>Problems with this submission</b><ul>{_problem_list(res)}</ul></div>")
    m = re.search(r"<body[^>]*>", page)
    return page[: m.end()] + box + page[m.end():] if m else box + page


def _course_version(course_root, assignment):
    h = hashlib.sha256()
    for p in sorted((Path(course_root) / "notebooks" / assignment).glob("*.ipynb")):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def _job_for(sub, version):
    notebooks = {name: content if isinstance(content, bytes) else Path(content).read_bytes()
                 for name, content in sub.notebooks.items()}
    h = hashlib.sha256(version.encode())
    for name in sorted(notebooks):
        h.update(name.encode() + hashlib.sha256(notebooks[name]).digest())
    h.update(json.dumps(sub.problems).encode())
    return Job(sub.student, sub.assignment, notebooks, list(sub.problems), h.hexdigest())


def _safe_part(name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:100] or "_"


class Progress:
    """What is saved as the batch goes: records, feedback pages and the tables."""

    def __init__(self, out_dir, expected):
        self.out, self.expected = Path(out_dir), expected
        self.state = self.out / STATE_DIR
        self.results = {}

    def _record_path(self, student, assignment):
        return self.state / _safe_part(student) / f"{_safe_part(assignment)}.json"

    def load(self, job):
        path = self._record_path(job.student, job.assignment)
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if rec.get("key") != job.key:
            return None
        res = Result(**{k: v for k, v in rec["result"].items() if k != "feedback"})
        fb = self.out / "feedback" / res.student / res.assignment
        if not all((fb / f"{n}.html").exists() for n in self.expected[res.assignment]):
            return None
        return res

    def save(self, res, key):
        fb_dest = self.out / "feedback" / res.student / res.assignment
        for nb_name in self.expected[res.assignment]:
            page = res.feedback.get(nb_name)
            _write_atomic(fb_dest / f"{nb_name}.html", _with_problems(page, res) if page else _problem_page(res, nb_name))
        record = {"key": key, "result": {k: v for k, v in asdict(res).items() if k != "feedback"}}
        _write_atomic(self._record_path(res.student, res.assignment), json.dumps(record))
        self.results[(res.student, res.assignment)] = res

    def write_tables(self, skipped):
        results = [self.results[k] for k in sorted(self.results)]
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(GRADES_HEADER)
        writer.writerows([r.student, r.assignment, _fmt(r.score), _fmt(r.max_score)] for r in results)
        _write_atomic(self.out / "grades.csv", table.getvalue())
        report = skipped + [ln for r in results for ln in report_lines(r, verbose=False)]
        _write_atomic(self.out / "report.txt", "\n".join(report) + "\n")
        _write_atomic(self.out / "summary.txt", class_summary(results) + "\n")


def class_summary(results):
    """Per assignment: mean score; per exercise: pass rate and the most common failure messages."""
    lines = []
    by_a = defaultdict(list)
    for r in results:
        by_a[r.assignment].append(r)
    for a in sorted(by_a):
        rs = by_a[a]
        mx = max(r.max_score for r in rs) or 1.0
        mean = sum(r.score for r in rs) / len(rs)
        full = sum(1 for r in rs if r.score >= r.max_score > 0)
        lines.append(f"{a}: {len(rs)} submission(s), mean {_fmt(mean)} / {_fmt(mx)}, {full} with full marks, "
                     f"{sum(1 for r in rs if r.problems)} with problems")
        cells = defaultdict(list)
        for r in rs:
            graded = {c[1]: c for c in r.cells}
            for gid in dict.fromkeys(c[1] for rr in rs for c in rr.cells):
                cells[gid].append(graded.get(gid))
        for gid, entries in cells.items():
            passed = sum(1 for c in entries if c is not None and c[2] >= c[3])
            lines.append(f"  {gid:<34} passed by {passed}/{len(entries)} ({100 * passed / len(entries):.0f}%)")
            common = Counter(_short(c[4]) for c in entries if c is not None and c[4]).most_common(3)
            for msg, n in common:
                lines.append(f"      {n:>4} x  {msg}")
        problems = Counter(_short(p) for r in rs for p in r.problems).most_common(3)
        for msg, n in problems:
            lines.append(f"  problem {n:>4} x  {msg}")
    return "\n".join(lines) if lines else "no submissions graded"


def _short(msg, n=140):
    msg = re.sub(r"\s+", " ", str(msg)).strip()
    return msg if len(msg) <= n else msg[: n - 1] + "\u2026"


def grade_class(course_root, submissions_dir, out_dir, progress=True, workers=None, dask_address=None, options=Options()):
    """Grade every submission under ``submissions_dir``; write grades.csv, feedback, report.txt and summary.txt in ``out_dir``.

    Returns ``(results, skipped, reused)``: the results in student order, the sentences about
    folders that are not submissions, and how many results came from an earlier run.
    """
    submissions_dir, out_dir = Path(submissions_dir), Path(out_dir)
    if not submissions_dir.is_dir():
        raise CourseError(f"{submissions_dir} is not a folder: give the folder that holds SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb.")
    if out_dir.resolve() == submissions_dir.resolve() or submissions_dir.resolve() in out_dir.resolve().parents:
        raise CourseError("--out must not be inside the submissions folder: pick a separate folder for grades and feedback.")
    if out_dir.exists() and not out_dir.is_dir():
        raise CourseError(f"{out_dir} exists and is not a folder: give --out a folder path.")
    if workers is not None and workers < 1:
        raise CourseError("--workers must be 1 or more.")
    expected = {a: notebooks_of(course_root, a) for a in list_assignments(course_root)}
    subs, skipped = collect(submissions_dir, expected)
    if not subs:
        raise CourseError(f"No submissions found in {submissions_dir}: expected {submissions_dir}/<student>/<assignment>/<notebook>.ipynb with assignments among {', '.join(expected)}.")
    if options.isolation == "namespaces":
        from autograder.jail import require_isolation

        require_isolation()
    versions = {a: _course_version(course_root, a) for a in {s.assignment for s in subs}}
    jobs = [_job_for(s, versions[s.assignment]) for s in subs]
    store = Progress(out_dir, expected)
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = []
    for job in jobs:
        res = store.load(job)
        if res is None:
            todo.append(job)
        else:
            store.results[(res.student, res.assignment)] = res
    reused = len(jobs) - len(todo)
    store.write_tables(skipped)
    bar = tqdm(total=len(jobs), initial=reused, desc="grading", unit="notebook", disable=not progress, file=sys.stderr)
    try:
        for job, res in _run_jobs(course_root, todo, workers, dask_address, options):
            if getattr(res, "transient", False):
                store.results[(res.student, res.assignment)] = res   # in the tables, not saved: the next run regrades it
            else:
                store.save(res, job.key)
            store.write_tables(skipped)
            bar.update(1)
    finally:
        bar.close()
        store.write_tables(skipped)
    results = [store.results[(j.student, j.assignment)] for j in jobs]
    return results, skipped, reused


def _run_jobs(course_root, jobs, workers, dask_address, options):
    """Yield ``(job, result)`` as each job finishes, wherever it runs."""
    if not jobs:
        return
    if dask_address:
        yield from _run_on_dask(course_root, jobs, dask_address, options)
        return
    # always worker processes, even one: they ignore Ctrl-C, so stopping a batch never turns the
    # submission being graded into a false result (nbgrader's own code swallows KeyboardInterrupt)
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from autograder.pipeline import Stage

    assignments = sorted({j.assignment for j in jobs})
    template = Stage(course_root, assignments, isolation=options.isolation, limits=options.limits)
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=warm_up,
                               initargs=(str(template.dir), assignments))
    try:
        pending = {pool.submit(grade_job, str(course_root), job, options): job for job in jobs}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                job = pending.pop(fut)
                yield job, _result_or_problem(fut, job)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        template.close()


def _result_or_problem(fut, job):
    try:
        return fut.result()
    except Exception as e:  # noqa: BLE001 - a worker that died must not stop the batch
        res = Result(job.student, job.assignment, problems=list(job.problems))
        res.problems.append(f"The grader's worker failed on this submission ({type(e).__name__}: {str(e)[:200]}); "
                            "it scores 0 for now: run the same command again to regrade it.")
        res.transient = True
        return res


def _run_on_dask(course_root, jobs, address, options):
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise CourseError("--dask needs the 'distributed' package: pip install 'dask[distributed]'.") from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as e:
        raise CourseError(f"Could not reach the Dask scheduler at {address} ({e}): start one with `dask scheduler` and give its address.") from None
    try:
        futures = {client.submit(grade_job, str(course_root), job, options, pure=False, key=f"grade-{job.key[:16]}-{i}"): job
                   for i, job in enumerate(jobs)}
        for fut in as_completed(futures):
            yield futures[fut], _result_or_problem(fut, futures[fut])
    finally:
        client.close()
