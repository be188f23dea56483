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

Deadlines (``course.toml``, :mod:`autograder.course_config`) never reach a job: a record keeps
the raw score and the submission's time (its ``timestamp.txt``), outside the job's key, and the
late penalty is applied each time the tables are written (:mod:`autograder.final_grades`). So a
changed policy, extension or submission time regrades nothing: the tables, ``summary.html`` and
the deduction line of each saved feedback page (:func:`autograder.feedback.with_late_line`)
are written again.
"""

import atexit
import csv
import functools
import hashlib
import html
import io
import json
import os
import re
import sys
import tempfile
import threading
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from autograder import CourseError
from autograder.course_config import read_config
from autograder.course_dir import list_assignments, notebooks_of
from autograder.deadlines import _span, format_timestamp, late_by_text, parse_timestamp, read_submission_time
from autograder.final_grades import final_grade
from autograder.jail import Limits
from autograder.submissions import Submission, collect, read_notebook_problem

GRADES_HEADER = ["student_id", "assignment", "score", "max_score", "raw_score", "late_by", "penalty"]
TABLES_EVERY_S = 2.0   # grades.csv, report.txt and summary.txt are rewritten at most this often while a batch runs
#                        (summary.html, whose plots take longer, when a batch ends)
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
    seeds: dict = field(default_factory=dict)      # notebook -> the seed of its hidden tests (from the file)
    submitted_at: str = ""                         # its timestamp.txt's time, as nbgrader writes it ("" for none)
    time_problem: str = ""                         # why its timestamp.txt gives no time ("" when it does or is absent)


WORKER_MEMORY_MB = 6144   # address space of a local grading worker; one at rest maps about 3.7 GB (torch, nbgrader)


@dataclass(frozen=True)
class Options:
    isolation: str = "namespaces"
    limits: Limits = Limits()
    worker_memory_mb: int = WORKER_MEMORY_MB


@dataclass
class Job:
    student: str
    assignment: str
    notebooks: dict        # notebook name -> bytes
    problems: list
    key: str = ""
    submitted_at: str = ""   # as in Result: carried to the record, never part of the key
    time_problem: str = ""


def _fmt(x):
    return f"{x:.2f}".rstrip("0").rstrip(".")


# -- one submission -----------------------------------------------------------------------------

def grade_submission(stage, sub):
    """Autograde one :class:`Submission` (or :class:`Job`) in ``stage``; never raises for a bad submission."""
    from autograder.pipeline import PipelineError, SubmissionError

    res = Result(sub.student, sub.assignment, max_score=stage.max_score(sub.assignment), problems=list(sub.problems))
    if not sub.notebooks:
        return res
    try:
        _grade_into(stage, sub, res)
    except SubmissionError as e:
        res.problems.append(f"{e} It scores 0.")
        res.score, res.cells, res.feedback = 0.0, [], {}
    except PipelineError as e:
        res.problems.append(f"The submission could not be graded ({e.reason}); it scores 0.")
        res.score, res.cells, res.feedback = 0.0, [], {}
    except MemoryError:
        res.problems.append("Grading this submission needed more memory than a grading worker may use; it scores 0.")
        res.score, res.cells, res.feedback = 0.0, [], {}
    except Exception as e:  # noqa: BLE001 - the grader's own failure: this result is not saved, the next run tries again
        res.problems.append(f"The grader failed on this submission ({type(e).__name__}: {str(e)[:200]}); it scores 0 "
                            "for now and is graded again on the next run (report it if this repeats).")
        res.score, res.cells, res.feedback = 0.0, [], {}
        res.transient = True
    finally:
        try:
            stage.clear(sub.student, sub.assignment)
        except OSError:
            pass
    return res


def _grade_into(stage, sub, res):
    from autograder.execute import SEEDS, STOPPED
    from autograder.feedback import cell_messages, order_of
    from autograder.pipeline import PipelineError, stage_student_id

    res.problems += stage.submit(sub.student, sub.assignment, sub.notebooks)
    stage.autograde(sub.student, sub.assignment)
    per_nb, (res.score, res.max_score) = stage.scores(sub.student, sub.assignment)
    stopped = defaultdict(list)   # why the grader stopped a test -> the tests it stopped for that
    for nb_name in notebooks_of(stage.course_root, sub.assignment):
        seed = SEEDS.pop((stage_student_id(sub.student), sub.assignment, nb_name), None)
        if seed is not None:
            res.seeds[nb_name] = seed
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
            msg = messages.get(gid, "") if score < max_score else ""
            res.cells.append([nb_name, gid, score, max_score, msg])
            if msg.startswith(STOPPED + ": "):
                stopped[msg[len(STOPPED) + 2:].rstrip(".")].append(gid)
    for why, gids in stopped.items():
        res.problems.append(f"{', '.join(gids)} scored 0 because {why}.")
    try:
        fb_dir = stage.feedback(sub.student, sub.assignment, per_nb)
        res.feedback = {p.stem: p.read_text(encoding="utf-8") for p in fb_dir.glob("*.html")}
    except PipelineError:
        res.problems.append("The feedback page could not be written; the score above stands.")


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
            else:   # a Dask worker, or `course check`: the generated stage from this machine's cache
                from autograder.pipeline import generated_stage

                made = generated_stage(course_root, [assignment], isolation=options.isolation, limits=options.limits)
                _STAGES[key] = Stage(course_root, [assignment], isolation=options.isolation, limits=options.limits,
                                     template=made)
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
        # the pages made safe here, in parallel, not one after the other in the main process;
        # the result is final now (problems included), so the pages are the ones it would write
        res.feedback = {nb: _with_problems(page, res) for nb, page in res.feedback.items() if page}
        res.pages_final = True   # an attribute, not a field: records stay as they are
        return res


def warm_up(template=None, assignments=(), memory_mb=None, isolation=None):
    """Pay the one-off imports (nbgrader, torch and its first optimizer step) once per worker.

    ``template``: a stage the main process already generated for the batch's assignments;
    the worker copies it instead of running nbgrader's generate_assignment again.
    ``memory_mb``: this worker's address-space limit (the soft ``RLIMIT_AS``): past it an
    allocation fails with a MemoryError in the grader's code (that submission's problem), not
    a machine-wide OOM kill. Student processes set their own limit (``--memory-mb``).

    Workers ignore Ctrl-C: the main process stops the batch.
    """
    import resource
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_mb:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    if isolation == "namespaces":
        from autograder import jail

        if hasattr(jail, "start_zygote"):
            jail.start_zygote()   # its imports run meanwhile, in its own process
    import autograder.pipeline  # noqa: F401 - nbgrader, its converters and preprocessors
    import torch

    torch.set_num_threads(1)  # N workers share N cores: tiny tensors are slower with threads fighting over them
    p = torch.zeros(1, requires_grad=True)
    p.grad = torch.zeros(1)
    torch.optim.SGD([p], lr=0.1).step()
    if template:
        _TEMPLATE.update(dir=_wait_for_template(Path(template)), assignments=list(assignments))


def _wait_for_template(ready, timeout_s=None):
    """The generated stage's folder: the text of ``ready`` (the main process writes it once the
    stage is made), or ``ready`` itself where that is already a stage's folder."""
    from autograder.pool import START_TIMEOUT_S

    if (ready / "source").is_dir():
        return str(ready)
    deadline = time.monotonic() + (START_TIMEOUT_S if timeout_s is None else timeout_s)
    while not ready.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the generated assignments did not appear within {START_TIMEOUT_S} s")
        time.sleep(0.05)
    return ready.read_text(encoding="utf-8").strip()


def warm_up_dask():
    """:func:`warm_up`'s imports and zygote for a Dask worker (its signals and memory are Dask's own)."""
    from autograder import jail

    jail.start_zygote()   # this worker's student processes fork from it, as a local worker's do
    import autograder.pipeline  # noqa: F401
    import torch

    p = torch.zeros(1, requires_grad=True)
    p.grad = torch.zeros(1)
    torch.optim.SGD([p], lr=0.1).step()


def report_lines(res, verbose=True):
    """The lines of ``report.txt`` (and of ``course check``) for one result. Ids are shown by
    :func:`autograder.shown.shown` and messages by :func:`~autograder.shown.one_line`: nothing a
    student wrote starts a line of its own or sends an escape sequence to a terminal."""
    from autograder.shown import one_line, shown

    lines = [f"{shown(res.student)}/{shown(res.assignment)}: {_fmt(res.score)} / {_fmt(res.max_score)}"]
    if verbose:
        for nb, gid, score, max_score, msg in res.cells:
            mark = "\u2714" if score >= max_score else "\u2718"
            lines.append(f"  {mark} {one_line(gid):<34} {_fmt(score):>5} / {_fmt(max_score)}" + (f"   {one_line(msg)}" if msg else ""))
    lines += [f"  ! {one_line(p)}" for p in res.problems]
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
    from autograder import jail

    if isolation == "namespaces":
        jail.require_isolation()
    jail.start_zygote()   # the student process's imports (torch...) run while this one imports nbgrader
    from autograder.pipeline import Stage, generated_stage  # nbgrader takes seconds to import: only once the input is good

    sub = Submission("you", assignment, path.parent, {name: path})
    if path.stem not in names:
        sub.problems.append(f"{path.name} was graded as {name}.ipynb of {assignment}.")
    made = generated_stage(course_root, [assignment], isolation=isolation)   # cached: generated once per source version
    with Stage(course_root, [assignment], isolation=isolation, template=made) as stage:
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
    from autograder.shown import one_line

    return "".join(f"<li>{html.escape(one_line(p))}</li>" for p in res.problems)


def _problem_page(res, nb_name):
    """The page of a notebook that has no rendered feedback (missing, refused, not graded)."""
    from autograder.feedback import page_html, summary_html

    body = f"<p>{html.escape(nb_name)}.ipynb was not graded, so there is no notebook to show: see the problems above.</p>"
    return page_html(f"{res.assignment} / {nb_name} feedback", summary_html(res, _problem_list(res)), body)


def _with_problems(page, res):
    """The feedback page :meth:`autograder.pipeline.Stage.feedback` wrote, made safe to open
    (:func:`autograder.feedback.safe_page`: its body capped and sanitized, no script can run),
    under the grader's summary: the score, each test's result and message, the problems."""
    from autograder.feedback import safe_page, summary_html

    return safe_page(page, f"{res.assignment} feedback", summary_html(res, _problem_list(res)))


GRADER_VERSION = "2"   # part of every record's key: a change to how grades are made regrades everything


def _course_version(course_root, assignment):
    """A checksum of what a grade depends on besides the submission: the assignment's source
    notebooks, the course's own package (the test helpers) and the grader's version."""
    h = hashlib.sha256(GRADER_VERSION.encode() + b"\0")
    root = Path(course_root)
    files = sorted((root / "notebooks" / assignment).glob("*.ipynb")) + sorted((root / "course_lib").rglob("*.py"))
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _job_for(sub, version):
    notebooks = {name: content if isinstance(content, bytes) else Path(content).read_bytes()
                 for name, content in sub.notebooks.items()}
    h = hashlib.sha256(version.encode())
    for name in sorted(notebooks):
        h.update(name.encode() + hashlib.sha256(notebooks[name]).digest())
    h.update(json.dumps(sub.problems).encode())
    return Job(sub.student, sub.assignment, notebooks, list(sub.problems), h.hexdigest())


def _timed_job(sub, version):
    """:func:`_job_for` with the submission's time beside the key, not in it: ``submitted_at`` as
    nbgrader writes it, and the sentence saying why its ``timestamp.txt`` gives no time, taken out
    of the problems (so a timestamp that is forged, fixed or changed regrades nothing)."""
    submitted_at, time_problem = "", ""
    if sub.submitted_at is not None:
        submitted_at = format_timestamp(sub.submitted_at)
    else:
        # the sentence collect() added for it: read again only to know which one it is (the
        # file's text is never part of the sentence, so a file changed meanwhile is no harm)
        _, problem = read_submission_time(sub.folder)
        if problem and problem in sub.problems:
            sub.problems = [p for p in sub.problems if p != problem]
            time_problem = problem
    job = _job_for(sub, version)
    job.submitted_at, job.time_problem = submitted_at, time_problem
    return job


def _due_text(config, student, assignment, due):
    zone = getattr(due.tzinfo, "key", None) or due.tzname() or ""
    extended = " (with an extension)" if (student, assignment) in config.extensions else ""
    return f"{due:%Y-%m-%d %H:%M} {zone}".rstrip() + extended


def deduction_line(grade, config, time_problem=""):
    """The one sentence on deadlines for a :class:`~autograder.final_grades.FinalGrade`, shown
    under the score on its feedback pages and in ``report.txt``; ``""`` when there is nothing to
    say (no due date, or in time). ``time_problem``: why the submission has no time, if it has none.

    E.g. "Due 2026-10-01 23:59 Europe/Berlin. Submitted 1 day 3 hours after the due date (2 started
    days at 10% each): 20% of the score deducted, 8 / 10 → 6.4 / 10."
    """
    if time_problem:
        return time_problem
    if config is None or grade.due is None:
        return ""
    due = f"Due {_due_text(config, grade.student, grade.assignment, grade.due)}"
    if grade.submitted_at is None:
        return f"{due}; this submission has no recorded time (no timestamp.txt beside it), so no late penalty was applied."
    if grade.late_by.total_seconds() <= 0:
        return ""
    if not grade.reason:
        return f"{due}. Submitted {_span(grade.late_by)} after it; the late policy deducts nothing for that."
    mx = _fmt(grade.max_score)
    return (f"{due}. {grade.reason[:1].upper()}{grade.reason[1:]}, {_fmt(grade.raw_score)} / {mx} \u2192 "
            f"{_fmt(grade.score)} / {mx}.")


_PLAIN_NAME = re.compile(r"[a-z0-9_-][a-z0-9_.-]{0,63}")


def record_name(name):
    """The file or folder name for a student id or assignment in ``--out``: one per id, never shared.

    A plain id (lower-case letters, digits, ``_``, ``-`` and ``.``, not starting with ``.``, at
    most 64 characters) is its own name. Any other id gets a readable part, ``~`` and 16 hex
    digits of the SHA-256 of the exact id: ``Zoe A`` -> ``zoe_a~<checksum>``, ``zoe%20a`` ->
    ``zoe_20a~<checksum>``. A plain name has no ``~``, so the two kinds never meet; names are all
    lower case, so a case-insensitive disk cannot merge two of them either; none is ``.``, ``..``
    or holds a ``/``.
    """
    name = str(name)
    if _PLAIN_NAME.fullmatch(name):
        return name
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()   # zoé -> zoe
    readable = re.sub(r"[^a-z0-9_.-]+", "_", ascii_name.lower()).strip("._-")[:40] or "id"
    return f"{readable}~{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


def feedback_dir(out_dir, student, assignment):
    """``OUT/feedback/<student>/<assignment>/``, both parts by :func:`record_name`."""
    return Path(out_dir) / "feedback" / record_name(student) / record_name(assignment)


class Progress:
    """What is saved as the batch goes: records, feedback pages and the tables.

    ``config``: the course's :class:`~autograder.course_config.CourseConfig` (``None``: no
    deadlines), applied to the saved raw scores each time the tables or a page's deduction line
    are written."""

    def __init__(self, out_dir, expected, config=None):
        self.out, self.expected, self.config = Path(out_dir), expected, config
        self.state = self.out / STATE_DIR
        self.results = {}

    def _record_path(self, student, assignment):
        return self.state / record_name(student) / f"{record_name(assignment)}.json"

    def load(self, job):
        """The saved result of ``job`` if its record is there, is this job's (same id, same
        checksum) and its feedback pages exist; else ``None`` (grade it again)."""
        path = self._record_path(job.student, job.assignment)
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
            if rec.get("key") != job.key or not isinstance(rec.get("result"), dict):
                return None
            res = Result(**{k: v for k, v in rec["result"].items() if k != "feedback"})
        except (OSError, ValueError, TypeError, AttributeError):
            return None   # missing, damaged or from another version: grade it again
        if (res.student, res.assignment) != (job.student, job.assignment):
            return None
        fb = feedback_dir(self.out, res.student, res.assignment)
        if not all((fb / f"{n}.html").exists() for n in self.expected[res.assignment]):
            return None
        return res

    def final(self, res):
        """The :class:`~autograder.final_grades.FinalGrade` of ``res`` under the current configuration."""
        return final_grade(res, self.config, parse_timestamp(res.submitted_at) if res.submitted_at else None)

    def late_line(self, res):
        return deduction_line(self.final(res), self.config, res.time_problem)

    def save(self, res, key):
        from autograder.feedback import with_late_line

        fb_dest = feedback_dir(self.out, res.student, res.assignment)
        final = getattr(res, "pages_final", False)   # made safe already, in the worker (see :func:`grade_job`)
        line = self.late_line(res)
        for nb_name in self.expected[res.assignment]:
            page = res.feedback.get(nb_name)
            if page:
                page = page if final else _with_problems(page, res)
            _write_atomic(fb_dest / f"{nb_name}.html", with_late_line(page or _problem_page(res, nb_name), line))
        self._save_record(res, key)
        self.results[(res.student, res.assignment)] = res

    def _save_record(self, res, key):
        record = {"key": key, "result": {k: v for k, v in asdict(res).items() if k != "feedback"}}
        _write_atomic(self._record_path(res.student, res.assignment), json.dumps(record))

    def retime(self, res, job):
        """A kept result given the submission's time as it is now (the same notebooks submitted
        again later, a timestamp.txt fixed): its record is written again, nothing is graded."""
        if (res.submitted_at, res.time_problem) != (job.submitted_at, job.time_problem):
            res.submitted_at, res.time_problem = job.submitted_at, job.time_problem
            self._save_record(res, job.key)

    def refresh_pages(self, res):
        """Write the current deduction line into a kept result's pages where they show another
        (the policy, an extension or the time changed); only that region changes."""
        from autograder.feedback import late_region, with_late_line

        line = self.late_line(res)
        region = late_region(line).encode("utf-8")
        for nb_name in self.expected[res.assignment]:
            path = feedback_dir(self.out, res.student, res.assignment) / f"{nb_name}.html"
            try:
                if _page_region(path) == region:
                    continue
                page = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue   # load() saw it; a page that can not be read now keeps what it says
            updated = with_late_line(page, line)
            if updated != page:
                _write_atomic(path, updated)

    def write_tables(self, skipped, html=False):
        """``grades.csv``, ``report.txt`` and ``summary.txt`` from the results so far, the late
        policy applied now; ``html``: ``summary.html`` too (its plots take a while: at a batch's end).

        ``grades.csv``'s columns: ``student_id``, ``assignment``, ``score`` (the final score, after
        any late penalty), ``max_score``, ``raw_score`` (before it), ``late_by`` (hours after the due
        date, e.g. ``26.50h``; empty when in time or without a due date or time) and ``penalty`` (the
        percent of the raw score deducted, as in ``course export`` and ``summary.html``: ``0`` when
        none; ``100`` past the cut-off)."""
        from autograder.shown import csv_cell, one_line

        results = [self.results[k] for k in sorted(self.results)]
        grades = [self.final(r) for r in results]
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(GRADES_HEADER)
        # ids as text cells no spreadsheet runs as a formula; the scores stay numbers
        writer.writerows([csv_cell(r.student), csv_cell(r.assignment), _fmt(g.score), _fmt(r.max_score), _fmt(r.score),
                          late_by_text(g.late_by), _fmt(g.penalty)] for r, g in zip(results, grades))
        _write_atomic(self.out / "grades.csv", table.getvalue())
        report = [one_line(s) for s in skipped]
        for r, g in zip(results, grades):
            lines = report_lines(r, verbose=False)
            line = deduction_line(g, self.config, r.time_problem)
            if line:
                lines.insert(1, f"  ! {one_line(line)}" if r.time_problem else f"  deadline: {one_line(line)}")
            report += lines
        _write_atomic(self.out / "report.txt", "\n".join(report) + "\n")
        _write_atomic(self.out / "summary.txt", class_summary(results, grades) + "\n")
        if html:
            from autograder.class_report import summary_html

            _write_atomic(self.out / "summary.html", summary_html(grades, [one_line(s) for s in skipped]))


def _page_region(path, limit=1 << 20):
    """The deduction region of a saved page as bytes, looked for in its grader part (the first
    ``limit`` bytes at most); ``None`` when it is not there."""
    from autograder.feedback import LATE_END, LATE_START, NOTEBOOK_START

    with open(path, "rb") as fh:
        head = fh.read(limit)
    end = head.find(NOTEBOOK_START.encode())
    head = head[:end] if end >= 0 else b""
    start = head.find(LATE_START.encode())
    stop = head.find(LATE_END.encode(), start) if start >= 0 else -1
    return head[start:stop + len(LATE_END)] if stop >= 0 else None


def class_summary(results, grades=None):
    """Per assignment: mean score; per exercise: pass rate and the most common failure messages
    (each one line, escaped by :func:`_short`); with ``grades`` (the results' final grades, in
    the same order), the late submissions and what they cost."""
    from autograder.shown import one_line

    lines = []
    by_a = defaultdict(list)
    finals = defaultdict(list)
    for i, r in enumerate(results):
        by_a[r.assignment].append(r)
        if grades is not None:
            finals[r.assignment].append(grades[i])
    for a in sorted(by_a):
        rs = by_a[a]
        mx = max(r.max_score for r in rs) or 1.0
        mean = sum(r.score for r in rs) / len(rs)
        full = sum(1 for r in rs if r.score >= r.max_score > 0)
        lines.append(f"{one_line(a)}: {len(rs)} submission(s), mean {_fmt(mean)} / {_fmt(mx)}, {full} with full marks, "
                     f"{sum(1 for r in rs if r.problems)} with problems")
        gs = finals[a]
        late = [g for g in gs if g.late_by.total_seconds() > 0]
        untimed = sum(1 for g in gs if g.due is not None and g.submitted_at is None)
        if late or untimed:
            lines.append(f"  late: {len(late)} submission(s) after the due date, {sum(1 for g in late if g.penalty > 0)} "
                         f"with points deducted ({_fmt(sum(g.raw_score - g.score for g in late))} in all); mean final score "
                         f"{_fmt(sum(g.score for g in gs) / len(gs))} / {_fmt(mx)}"
                         + (f"; {untimed} without a submission time (no penalty applied)" if untimed else ""))
        cells = defaultdict(list)
        gids = list(dict.fromkeys(c[1] for rr in rs for c in rr.cells))   # once, not once per result
        for r in rs:
            graded = {c[1]: c for c in r.cells}
            for gid in gids:
                cells[gid].append(graded.get(gid))
        for gid, entries in cells.items():
            passed = sum(1 for c in entries if c is not None and c[2] >= c[3])
            lines.append(f"  {one_line(gid):<34} passed by {passed}/{len(entries)} ({100 * passed / len(entries):.0f}%)")
            common = Counter(_short(c[4]) for c in entries if c is not None and c[4]).most_common(3)
            for msg, n in common:
                lines.append(f"      {n:>4} x  {msg}")
        problems = Counter(_short(p) for r in rs for p in r.problems).most_common(3)
        for msg, n in problems:
            lines.append(f"  problem {n:>4} x  {msg}")
    return "\n".join(lines) if lines else "no submissions graded"


def _short(msg, n=140):
    """``msg`` on one line (blanks collapsed, other odd characters escaped), at most ``n`` characters."""
    from autograder.shown import one_line

    msg = one_line(re.sub(r"\s+", " ", str(msg)).strip())
    return msg if len(msg) <= n else msg[: n - 1] + "\u2026"


def grade_class(course_root, submissions_dir, out_dir, progress=True, workers=None, dask_address=None, options=Options(),
                config_path=None):
    """Grade every submission under ``submissions_dir``; write grades.csv, feedback, report.txt,
    summary.txt and summary.html in ``out_dir``.

    ``config_path``: the course configuration (default ``COURSE_ROOT/course.toml`` if there is
    one; without it there are no deadlines). It is read first: a malformed one is a
    :class:`~autograder.course_config.ConfigError` before anything is graded or written.

    Returns ``(results, skipped, reused)``: the results (raw scores) in student order, the
    sentences about folders that are not submissions, and how many results came from an earlier run.
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
    config = read_config(course_root, list(expected), path=config_path)
    subs, skipped = collect(submissions_dir, expected)
    if not subs:
        raise CourseError(f"No submissions found in {submissions_dir}: expected {submissions_dir}/<student>/<assignment>/<notebook>.ipynb with assignments among {', '.join(expected)}.")
    if options.isolation == "namespaces":
        from autograder.jail import require_isolation

        require_isolation()
    versions = {a: _course_version(course_root, a) for a in {s.assignment for s in subs}}
    jobs = [_timed_job(s, versions[s.assignment]) for s in subs]
    store = Progress(out_dir, expected, config)
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = []
    for job in jobs:
        res = store.load(job)
        if res is None:
            todo.append(job)
        else:   # graded before: only its time and the deduction line on its pages may be new
            store.retime(res, job)
            store.refresh_pages(res)
            store.results[(res.student, res.assignment)] = res
    reused = len(jobs) - len(todo)
    store.write_tables(skipped)
    bar = tqdm(total=len(jobs), initial=reused, desc="grading", unit="notebook", disable=not progress, file=sys.stderr)
    written = time.monotonic()
    try:
        for job, res in _run_jobs(course_root, todo, workers, dask_address, options):
            res.submitted_at, res.time_problem = job.submitted_at, job.time_problem
            if getattr(res, "transient", False):
                store.results[(res.student, res.assignment)] = res   # in the tables, not saved: the next run regrades it
            else:
                store.save(res, job.key)
            # the tables at most every TABLES_EVERY_S (and at the end): each record is saved at once,
            # so a stopped batch still loses nothing, and a rerun writes the tables from the records
            if time.monotonic() - written >= TABLES_EVERY_S:
                store.write_tables(skipped)
                written = time.monotonic()
            bar.update(1)
    finally:
        bar.close()
        store.write_tables(skipped, html=True)
    results = [store.results[(j.student, j.assignment)] for j in jobs]
    return results, skipped, reused


def job_timeout(job, options):
    """Wall-clock seconds a local worker may spend on one job before the parent stops it: far
    above what the student's limits and the grader's own per-cell limit allow together."""
    return 600 + max(1, len(job.notebooks)) * (2 * options.limits.notebook_s + 900)


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
    from autograder.pipeline import generated_stage
    from autograder.pool import BatchDir, WorkerPool

    grade = grade_job   # looked up now, so that a test can put its own in
    batch = BatchDir()
    pool = None
    try:
        assignments = sorted({j.assignment for j in jobs})
        # the workers start first (imports, torch's first step: seconds each) and wait for the
        # generated stage, which this process makes meanwhile, or takes from the user's cache
        ready = batch.path / "template"
        pool = WorkerPool(workers, batch, init=warm_up, init_args=(str(ready), assignments, options.worker_memory_mb, options.isolation))
        pool.start(len(jobs))
        template = generated_stage(course_root, assignments, isolation=options.isolation, limits=options.limits)
        tmp = batch.path / ".template"
        tmp.write_text(str(template), encoding="utf-8")
        os.replace(tmp, ready)
        fn = functools.partial(grade, options=options)
        for i, (status, value) in pool.run(jobs, fn, (str(course_root),), timeout=lambda job: job_timeout(job, options)):
            yield jobs[i], _result_of(jobs[i], status, value)
    finally:
        if pool is not None:
            pool.stop()
        batch.remove()


def _result_of(job, status, value):
    """The :class:`Result` for what a worker sent back: its result, or one sentence."""
    if status == "ok":
        return value
    res = Result(job.student, job.assignment, problems=list(job.problems))
    if status == "crash":   # it cost its worker twice: that is this submission's result
        res.problems.append(value)
        return res
    res.problems.append(f"The grader failed on this submission ({value}); it scores 0 for now and is graded "
                        "again on the next run (report it if this repeats).")
    res.transient = True
    return res


def _result_or_problem(fut, job):
    try:
        return fut.result()
    except Exception as e:  # noqa: BLE001 - a worker that died must not stop the batch
        if type(e).__name__ == "KilledWorker":   # Dask already tried it on several workers
            from autograder.pool import crash_problem

            return _result_of(job, "crash", crash_problem("Dask lost each worker that ran it"))
        return _result_of(job, "error", f"{type(e).__name__}: {str(e)[:200]}")


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
        try:   # each worker's one-off imports now, on all of them at once, not in its first job
            client.run(warm_up_dask)
        except Exception:  # noqa: BLE001 - only a saving: the jobs pay the imports instead
            pass
        futures = {client.submit(grade_job, str(course_root), job, options, pure=False, key=f"grade-{job.key[:16]}-{i}"): job
                   for i, job in enumerate(jobs)}
        for fut in as_completed(futures):
            yield futures[fut], _result_or_problem(fut, futures[fut])
    finally:
        client.close()
