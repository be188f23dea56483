"""Running a submitted notebook for grading: student code in its sandbox, tests in the grader.

:func:`run_notebook` walks the notebook's code cells in order. A cell the student writes or
may edit runs in the student process (:class:`autograder.remote.Session`); a test cell runs
here, from the instructor's source notebook (never from the student's copy, so edited or
deleted tests, changed points and forged test cells change nothing), in a fresh namespace made
by the source's first code cell, in which each function the exercises define is a
:class:`~autograder.remote.Remote` stand-in. A test passes when its code finishes here without
an exception: that verdict is made where no student code ever ran.

:class:`IsolatedExecute` is the same thing as an nbgrader preprocessor, used in place of
nbgrader's ``Execute`` in its ``autograde`` step; the rest of nbgrader's pipeline (restoring
cells from the gradebook, saving scores, feedback) is unchanged.

Two more things are decided here, from the file alone, before any of the student's code runs:

* :func:`sanitize_submission` makes the notebook well-formed and gives every cell that claims
  to be a graded cell the source's own nbgrader metadata (so forged points, ids of the wrong
  type or a forged grade flag change nothing, and nbgrader never trips over them);
* :func:`submission_seed` derives the seed of the hidden tests' random inputs
  (:func:`course_lib.checks.hidden_rng`) and of the global generators from the code the
  student wrote: the same file always gets the same inputs and the same grade, other code gets
  other inputs, and nothing the student's code does while it runs can change it.

A test cell may use at most :data:`GRADER_CELL_CPU_S` seconds of the grader's own CPU (decoding
what the student's functions return and the test's computation on it); past that it fails
with one sentence.
"""

import ast
import contextlib
import copy
import ctypes
import hashlib
import random
import re
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Integer, List, Unicode

from autograder.jail import Limits, StudentCodeError
from autograder.remote import Session
from autograder.student_process import CappedText

STOPPED = "GraderStoppedYourCode"
GRADER_CELL_CPU_S = 60.0   # CPU seconds of the grader's own work per test cell (the course's tests use < 4)
SEEDS = {}                 # (student, assignment, notebook) -> the seed its tests ran with, for the caller to pick up


def _nbgrader(cell):
    meta = cell.get("metadata", {})
    nbg = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return nbg if isinstance(nbg, dict) else {}


def is_test_cell(cell):
    meta = _nbgrader(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def strip_magics(code):
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())


def test_sources(source_nb):
    """``{grade_id: source}`` of the source notebook's test cells, hidden tests included."""
    return {_nbgrader(c)["grade_id"]: c.source for c in source_nb.cells if is_test_cell(c)}


def setup_source(source_nb):
    return strip_magics(next((c.source for c in source_nb.cells if c.cell_type == "code"), ""))


def exercise_names(source_nb):
    """Top-level names the source's solution cells define: what tests may call."""
    names = []
    for c in source_nb.cells:
        if c.cell_type != "code" or not _nbgrader(c).get("solution"):
            continue
        try:
            tree = ast.parse(strip_magics(c.source))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.append(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names += [t.id for t in targets if isinstance(t, ast.Name)]
    return list(dict.fromkeys(names))


def _outputs(text, error):
    outs = []
    if text:
        outs.append(nbformat.v4.new_output("stream", name="stdout", text=text))
    if error:
        ename, evalue = error
        outs.append(nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]))
    return outs


def _reset_seeds(seed=0):
    """Seed Python's, NumPy's and torch's global generators (the grader's, before each test cell)."""
    seed = int(seed) % 2**63
    random.seed(seed)
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def set_hidden_seed(seed):
    """Give the grader's own ``course_lib.checks`` (the copy the test cells use here) this seed."""
    from course_lib import checks

    checks.set_hidden_seed(seed)


def submission_seed(nb, source_nb, name=""):
    """The seed of a submission's hidden tests: from the code the student wrote, nothing else.

    ``int.from_bytes(sha256(b"course-hidden-seed\0" + name + b"\0" + cell_0 + b"\0" + cell_1 ...)[:8]) % 2**63``
    over the sources of every code cell that is not one of the source's test cells (the solution
    cells and any cell the student added or kept), in notebook order. Test cells, outputs,
    markdown and metadata do not count, so re-running a notebook changes nothing.
    """
    tests = test_sources(source_nb)
    h = hashlib.sha256(b"course-hidden-seed\0" + str(name).encode() + b"\0")
    for cell in nb.cells:
        if cell.get("cell_type") != "code" or (is_test_cell(cell) and _nbgrader(cell).get("grade_id") in tests):
            continue
        source = cell.get("source", "")
        h.update((source if isinstance(source, str) else "").encode("utf-8", "surrogatepass") + b"\0")
    return int.from_bytes(h.digest()[:8], "big") % 2**63


_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def sanitize_submission(nb, source_nb):
    """Make a submitted notebook safe for nbgrader and for grading, in place; returns problem sentences.

    * cells that are not cells (not a dict, an unknown ``cell_type``) are left out, a source that
      is not text is emptied, and every cell gets a well-formed, unique id;
    * a cell whose nbgrader ``grade_id`` is one of the source's gets exactly the source's nbgrader
      metadata (points, grade and solution flags, lock) and cell type: the points come from the
      source, whatever the file says;
    * nbgrader metadata with an unknown grade id, of the wrong type, or repeating a grade id
      already seen (a pasted or forged cell) is removed: the cell is the student's own code,
      worth nothing;
    * outputs and the notebook's metadata are not kept (grading runs the code again).
    """
    known, kinds = {}, {}
    for c in source_nb.cells:
        gid = _nbgrader(c).get("grade_id")
        if isinstance(gid, str) and gid not in known:
            known[gid], kinds[gid] = copy.deepcopy(c.metadata["nbgrader"]), c.cell_type
    problems, cells, seen, ids = [], [], set(), set()
    malformed = emptied = 0
    for i, cell in enumerate(nb.get("cells", []) if isinstance(nb.get("cells"), list) else []):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            malformed += 1
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            source, emptied = "", emptied + 1
        cell["source"] = source
        meta = cell.get("metadata")
        if not isinstance(meta, dict):
            meta = cell["metadata"] = nbformat.NotebookNode()
        if "nbgrader" in meta:
            nbg = meta["nbgrader"]
            gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
            if isinstance(gid, str) and gid in known and gid not in seen:
                seen.add(gid)
                meta["nbgrader"] = nbformat.from_dict(copy.deepcopy(known[gid]))
                cell["cell_type"] = kinds[gid]
            else:
                del meta["nbgrader"]
        cid = cell.get("id")
        if not isinstance(cid, str) or not _CELL_ID.match(cid) or cid in ids:
            cid = uuid.uuid4().hex[:12]
        ids.add(cid)
        cell["id"] = cid
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
            cell.pop("attachments", None)
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        cells.append(cell)
    nb["cells"] = cells
    nb["metadata"] = copy.deepcopy(source_nb.metadata)
    if malformed:
        problems.append(f"{malformed} cell(s) of the notebook were not notebook cells (malformed JSON) and were left out.")
    if emptied:
        problems.append(f"{emptied} cell(s) had a source that is not text; they were graded as empty cells.")
    return problems


def strip_forged_cells(nb, source_nb):
    """The nbgrader-metadata part of :func:`sanitize_submission` (kept for callers of the old name)."""
    return sanitize_submission(nb, source_nb)


class GraderTimeLimit(BaseException):
    """A test cell used its share of the grader's CPU. A BaseException, so that no test's
    ``except Exception`` (or ``except ValueError``) can take it for the student's answer."""


def _raise_in(thread_id, exc):
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


@contextlib.contextmanager
def grader_cpu_limit(seconds):
    """Raise :class:`GraderTimeLimit` in this thread once it has used ``seconds`` of CPU here.

    CPU time, not wall time: waiting for the student process (which has its own limits) costs
    nothing. The exception is raised between two Python instructions (a long NumPy call first
    finishes; the sizes it works on are bounded by :mod:`autograder.wire`)."""
    tid = threading.get_ident()
    try:
        clock = time.pthread_getcpuclockid(tid)
        start = time.clock_gettime(clock)
    except (AttributeError, OSError):  # no per-thread CPU clock here (not Linux): no limit
        yield
        return
    lock, armed, stop = threading.Lock(), [True], threading.Event()

    def watch():
        wait = 0.05
        while not stop.wait(wait):
            try:
                used = time.clock_gettime(clock) - start
            except OSError:
                return
            if used > seconds:
                with lock:
                    if not armed[0]:
                        return
                    _raise_in(tid, GraderTimeLimit)
                wait = 0.5  # again, in case the test swallowed it with a bare except

    watcher = threading.Thread(target=watch, name="grader-cpu-limit", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        for _ in range(1000):  # disarm, then drop an exception already on its way; it may land meanwhile
            try:
                with lock:
                    armed[0] = False
                _raise_in(tid, None)
                break
            except GraderTimeLimit:
                continue
        stop.set()


def run_test(code, base_ns, proxies, label, seed=0, session=None, cpu_s=None):
    """Run one test cell here; ``(output text, (ename, evalue) or None)``.

    ``seed`` seeds the hidden tests' generator and the global ones first (see
    :func:`submission_seed`); ``session``, if given, is reset when the grader had to interrupt
    the test, since the channel to the student process may then be mid-message.
    """
    ns = dict(base_ns)
    ns.update(proxies)
    out = CappedText()
    set_hidden_seed(seed)
    _reset_seeds(seed)
    cpu_s = GRADER_CELL_CPU_S if cpu_s is None else cpu_s
    error = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with grader_cpu_limit(cpu_s):
                    exec(compile(code, f"<{label}>", "exec"), ns)
            except StudentCodeError as e:
                error = (STOPPED, str(e))
            except MemoryError:
                error = (STOPPED, "checking what your code returned needed more memory than the grader allows, "
                                  "so the grader stopped this test")
            except Exception as e:  # noqa: BLE001 - a failing test is the normal case
                error = (type(e).__name__, str(e)[:1000])
    except GraderTimeLimit:
        error = (STOPPED, f"checking what your code returned took more than {cpu_s:g} s of the grader's time, "
                          "so the grader stopped this test")
        if session is not None:
            session.reset()
    return out.text(), error


def trusted_namespace(source_nb):
    ns = {"__name__": "__grader__"}
    with contextlib.redirect_stdout(CappedText()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(setup_source(source_nb), "<setup cell>", "exec"), ns)
    return ns


def demo_cell_ids(source_nb):
    """Ids of the instructor's demo cells: code cells after the first that are neither solutions nor tests."""
    code = [c for c in source_nb.cells if c.cell_type == "code"]
    return {c.get("id") for c in code[1:] if not _nbgrader(c).get("solution") and not is_test_cell(c)} - {None}


def run_notebook(nb, source_nb, session, run_demos=False, seed=None):
    """Execute ``nb`` (a submission whose test cells nbgrader has restored) and fill in its outputs.

    The instructor's demo cells (recognised by their cell id) are skipped unless ``run_demos``:
    they draw plots and train small models but define nothing the tests use, and they are most
    of a notebook's run time. The setup cell, the solution cells and any cell the student added
    run in order. Every test cell runs with ``seed`` (default: :func:`submission_seed` of ``nb``),
    computed here before any of the student's code runs.
    """
    seed = submission_seed(nb, source_nb) if seed is None else seed
    tests = test_sources(source_nb)
    demos = set() if run_demos else demo_cell_ids(source_nb)
    names = exercise_names(source_nb)
    base = trusted_namespace(source_nb)
    proxies = session.proxies(names)
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        gid = _nbgrader(cell).get("grade_id")
        if cell.get("id") in demos and not _nbgrader(cell):
            cell.outputs, cell.execution_count = [], None
            continue
        count += 1
        if is_test_cell(cell) and gid in tests:
            cell.source = tests[gid]
            text, error = run_test(tests[gid], base, proxies, gid, seed=seed, session=session)
        else:
            if is_test_cell(cell):  # a test cell the instructor never wrote: it is the student's own code
                cell.metadata.pop("nbgrader", None)
            text, error = session.run_cell(cell.source)
        cell.outputs = _outputs(text, error)
        cell.execution_count = count
    return nb


class IsolatedExecute(NbGraderPreprocessor):
    """nbgrader's ``Execute`` step, with student code in a sandbox and the verdicts made outside it."""

    source_dir = Unicode("", help="the staging course's source/ folder (the instructor's notebooks)").tag(config=True)
    isolation = Unicode("namespaces", help="'namespaces' or 'none'").tag(config=True)
    cell_timeout = Float(Limits.cell_s).tag(config=True)
    notebook_timeout = Float(Limits.notebook_s).tag(config=True)
    memory_mb = Integer(Limits.memory_mb).tag(config=True)
    data_dir = Unicode("").tag(config=True)
    hide = List(Unicode()).tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        source = Path(self.source_dir) / info["assignment"] / f"{info['notebook']}.ipynb"
        source_nb = nbformat.read(str(source), as_version=4)
        limits = Limits(cell_s=self.cell_timeout, notebook_s=self.notebook_timeout, memory_mb=self.memory_mb)
        seed = submission_seed(nb, source_nb, info["notebook"])   # before any student code runs
        SEEDS[(info.get("student"), info["assignment"], info["notebook"])] = seed
        session = Session(self.isolation, limits, self.data_dir or None, self.hide)
        try:
            run_notebook(nb, source_nb, session, seed=seed)
        finally:
            session.close()
        return nb, resources
