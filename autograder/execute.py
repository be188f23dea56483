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
"""

import ast
import contextlib
import random
import sys
import warnings
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Integer, List, Unicode

from autograder.jail import Limits, StudentCodeError
from autograder.remote import Session
from autograder.student_process import CappedText

STOPPED = "GraderStoppedYourCode"


def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


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


def _reset_seeds():
    random.seed(0)
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(0)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(0)


def strip_forged_cells(nb, source_nb):
    """Drop nbgrader metadata that nbgrader would trip over or that a student should not have:
    cells whose grade id the source does not have (a forged or pasted test cell) and every
    repeat of a grade id after its first cell (a duplicated cell). nbgrader then treats those
    cells as ordinary ones, worth nothing. Returns how many cells were changed."""
    known = {_nbgrader(c).get("grade_id") for c in source_nb.cells if _nbgrader(c)}
    seen, dropped = set(), 0
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        if "nbgrader" not in meta:
            continue
        gid = meta["nbgrader"].get("grade_id") if isinstance(meta["nbgrader"], dict) else None
        if gid not in known or gid in seen:
            del meta["nbgrader"]
            dropped += 1
        else:
            seen.add(gid)
    return dropped


def run_test(code, base_ns, proxies, label):
    """Run one test cell here; ``(output text, (ename, evalue) or None)``."""
    ns = dict(base_ns)
    ns.update(proxies)
    out = CappedText()
    _reset_seeds()
    error = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exec(compile(code, f"<{label}>", "exec"), ns)
        except StudentCodeError as e:
            error = (STOPPED, str(e))
        except Exception as e:  # noqa: BLE001 - a failing test is the normal case
            error = (type(e).__name__, str(e)[:1000])
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


def run_notebook(nb, source_nb, session, run_demos=False):
    """Execute ``nb`` (a submission whose test cells nbgrader has restored) and fill in its outputs.

    The instructor's demo cells (recognised by their cell id) are skipped unless ``run_demos``:
    they draw plots and train small models but define nothing the tests use, and they are most
    of a notebook's run time. The setup cell, the solution cells and any cell the student added
    run in order.
    """
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
            text, error = run_test(tests[gid], base, proxies, gid)
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
        session = Session(self.isolation, limits, self.data_dir or None, self.hide)
        try:
            run_notebook(nb, source_nb, session)
        finally:
            session.close()
        return nb, resources
