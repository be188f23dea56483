"""nbgrader's own pipeline, run in a private staging course directory.

The repository's ``notebooks/`` is nbgrader's source directory. Every command works on a
fresh staging copy (``source/<assignment>/`` = the source notebooks plus the student copy of
``course_lib``) with its own gradebook, so nothing in the checkout is ever written, and the
instructor's files never sit next to a student's notebook while it runs.

Steps, as nbgrader names them:

* ``generate_assignment``: solutions cut (``### BEGIN SOLUTION`` ... ``### END SOLUTION``),
  hidden tests cut (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``) and stored in the
  gradebook, outputs cleared, cells locked and checksummed.
* ``autograde``: test cells restored from the gradebook (hidden tests included), the notebook
  executed with ``COURSE_GRADING=1`` in the kernel's environment, scores saved.
* feedback: nbgrader's ``ClearHiddenTests`` cuts the hidden tests from the autograded notebook,
  :mod:`autograder.feedback` reduces every traceback to its message and writes the HTML itself
  (nbgrader's ``generate_feedback`` would start nbconvert's exporter for every notebook).

A stage is a folder of mode 700 (the source notebooks and the gradebook are in it: no other
user, the sandbox's included, may read it), made under ``$COURSE_STAGE_PARENT`` when that is set
(a grading worker's folder, which its parent removes even if the worker is killed). Inside it,
nbgrader knows each student by :func:`stage_student_id`, a checksum of the real id, so no id
(spaces, ``/``, ``..``, a newline, glob characters, trailing blanks nbgrader would strip) ever
reaches a path or a query.
"""

import contextlib
import hashlib
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde, GenerateAssignment
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ClearHiddenTests
from nbconvert.preprocessors import Preprocessor
from nbgrader.utils import capture_log
from traitlets import Bool
from traitlets.config import Config

from autograder import CourseError
from autograder.course_dir import list_assignments
from autograder.feedback import SafeCells, ShortenTracebacks
from autograder.student_lib import copy_student_lib
from course_lib.runtime import GRADING_ENV

COURSE_ID = "optim-course"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
STAGE_PARENT_ENV = "COURSE_STAGE_PARENT"   # folder for new stages (unset: the system's temporary folder)


def stage_student_id(student):
    """The name nbgrader knows ``student`` by inside a stage: safe for paths and one-to-one."""
    return "student-" + hashlib.sha256(str(student).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _put_own_bin_on_path():
    """nbgrader runs ``alembic`` (its database migrations) from PATH; make it this environment's."""
    bin_dir = os.path.dirname(sys.executable)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bin_dir not in parts:
        os.environ["PATH"] = os.pathsep.join([bin_dir] + parts)


_put_own_bin_on_path()


def nbgrader_config(stage, isolation="namespaces", limits=None, data_dir=None, hide=()):
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades

    from autograder.execute import IsolatedExecute
    from autograder.jail import Limits

    limits = limits or Limits()
    c = Config()
    c.CourseDirectory.root = str(stage)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.db_url = f"sqlite:///{stage}/gradebook.db"
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".*"]
    c.ClearSolutions.code_stub = {"python": STUB}
    # nbgrader's autograde with its Execute step replaced: student code in a sandbox, verdicts outside it
    c.Autograde.autograde_preprocessors = [IsolatedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                           SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    c.IsolatedExecute.source_dir = str(Path(stage) / "source")
    c.IsolatedExecute.isolation = isolation
    c.IsolatedExecute.cell_timeout = limits.cell_s
    c.IsolatedExecute.notebook_timeout = limits.notebook_s
    c.IsolatedExecute.memory_mb = limits.memory_mb
    c.IsolatedExecute.data_dir = str(data_dir or "")
    c.IsolatedExecute.hide = [str(h) for h in hide]
    c.OverwriteCells.add_missing_cells = True
    c.Autograde.create_student = True
    # the feedback (:meth:`Stage.feedback`): these steps, then :func:`autograder.feedback.notebook_html`
    c.SafeCells.source_dir = str(Path(stage) / "source")   # student text shown as text, every cell capped
    c.ClearHiddenTests.enforce_metadata = True
    return c


class QuoteStudentMarkers(Preprocessor):
    """In the feedback, break up nbgrader's hidden-test delimiters where the student wrote them
    (any cell but the instructor's test cells): ``ClearHiddenTests`` would otherwise refuse the
    whole page for a comment that says ``### BEGIN HIDDEN TESTS``. Grading ran the text as it was."""

    enabled = Bool(True).tag(config=True)
    MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")

    def preprocess_cell(self, cell, resources, index):
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if not (isinstance(nbg, dict) and nbg.get("grade") and not nbg.get("solution")) and isinstance(cell.get("source"), str):
            for m in self.MARKERS:
                cell.source = cell.source.replace(m, m.replace(" HIDDEN ", " HIDDEN\u00a0"))
        return cell, resources


# the steps a notebook goes through before its feedback is written, in this order (each made once per stage)
FEEDBACK_STEPS = (QuoteStudentMarkers, ClearHiddenTests, ShortenTracebacks, SafeCells)


@contextlib.contextmanager
def _stderr_to(path):
    """Send file descriptor 2 to ``path`` meanwhile: kernels started now inherit it, so their
    start-up and shut-down noise (ipykernel and zmq print tracebacks there) stays out of the
    user's terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def _env(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run(app_cls, stage, config, what, **attrs):
    coursedir = CourseDirectory(config=config)
    for k, v in attrs.items():
        setattr(coursedir, k, v)
    app = app_cls(coursedir=coursedir, config=config)
    if hasattr(app, "force"):
        app.force = True
    result = capture_log(app)
    if not result["success"]:
        log = result.get("log", "") + result.get("error", "")
        raise PipelineError(what, log)
    return result


class SubmissionError(Exception):
    """A submission that cannot be graded at all; ``str(e)`` is one sentence for it."""


class PipelineError(Exception):
    def __init__(self, what, log):
        super().__init__(f"nbgrader could not {what}")
        self.what = what
        self.log = log

    @property
    def reason(self):
        """The most specific error line of nbgrader's log (not its generic wrap-up)."""
        lines = [ln.strip() for ln in self.log.splitlines()]
        errors = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception|Exit)\b.*:", ln) and "NbGraderException" not in ln]
        return (errors or [ln for ln in lines if ln] or ["no log"])[-1][:200]


CACHE_ENV = "COURSE_CACHE_DIR"    # folder of generated stages (unset: $XDG_CACHE_HOME/optim-course, else ~/.cache/optim-course)
CACHE_KEEP = 16                   # generated stages kept there (the oldest go first)
_STAGE_IGNORE = (".ipynb_checkpoints", "__pycache__", "course_lib")


def cache_dir():
    """The user's folder of generated stages (mode 700: they hold the solutions and hidden tests)."""
    base = os.environ.get(CACHE_ENV) or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                                                     "optim-course")
    return Path(base) / "stages"


def stage_key(course_root, assignments):
    """A checksum of everything ``generate_assignment`` makes a stage from: each assignment's source
    folder, the student ``course_lib``, this module and :mod:`autograder.student_lib` (the
    configuration and the copy) and nbgrader's version. Any change gives another key."""
    import nbgrader

    from autograder import student_lib

    h = hashlib.sha256(b"course-stage-1\0" + nbgrader.__version__.encode() + b"\0")
    for own in (Path(__file__), Path(student_lib.__file__)):
        h.update(hashlib.sha256(own.read_bytes()).digest())
    for name in student_lib.student_modules():
        h.update(name.encode() + b"\0" + hashlib.sha256((student_lib.PACKAGE_DIR / name).read_bytes()).digest())
    root = Path(course_root) / "notebooks"
    for a in sorted(assignments):
        h.update(b"assignment\0" + a.encode() + b"\0")
        for p in sorted((root / a).rglob("*")):
            rel = p.relative_to(root / a)
            if p.is_file() and not any(part in _STAGE_IGNORE for part in rel.parts):
                h.update(rel.as_posix().encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:32]


def generated_stage(course_root, assignments, isolation="namespaces", limits=None):
    """The folder of a stage generated for ``assignments`` (``source/``, ``release/``,
    ``gradebook.db``), from the user's cache (:func:`cache_dir`) when one was made from the very
    same files (:func:`stage_key`), else generated now and kept there. Never written once made:
    each :class:`Stage` works on its own copy (``template=``), with its own gradebook."""
    folder = cache_dir()
    final = folder / stage_key(course_root, assignments)
    if (final / "complete").exists():
        with contextlib.suppress(OSError):
            os.utime(final)
        return final
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(folder.parent, 0o700)
        os.chmod(folder, 0o700)
    stage = Stage(course_root, assignments, isolation=isolation, limits=limits, parent=folder)
    try:
        (stage.dir / "complete").write_text("")
        os.replace(stage.dir, final)    # atomic; another process that made it first wins
    except OSError:
        stage.close()
        if not (final / "complete").exists():
            raise
    _trim_cache(folder)
    return final


def _trim_cache(folder):
    try:
        done = sorted((p for p in folder.iterdir() if (p / "complete").exists()), key=lambda p: p.stat().st_mtime)
    except OSError:
        return
    for p in done[:-CACHE_KEEP]:
        shutil.rmtree(p, ignore_errors=True)


class Stage:
    """A private nbgrader course directory for one command; delete it with :meth:`close`."""

    def __init__(self, course_root, assignments=None, isolation="namespaces", limits=None, hide=(), template=None, parent=None):
        self.course_root = Path(course_root)
        self._feedback_steps = None   # made by the first :meth:`feedback`
        self.dir = Path(tempfile.mkdtemp(prefix="course-stage-", dir=parent or os.environ.get(STAGE_PARENT_ENV) or None))
        os.chmod(self.dir, 0o700)   # mkdtemp's mode already; said here because it matters
        from course_lib.runtime import data_dir

        # the sandbox must not see the checkout, this stage (source notebooks, gradebook) or `hide`
        cache = cache_dir()   # generated stages: the solutions and hidden tests
        hide = [self.course_root, self.dir, *([cache] if cache.exists() else []), *hide]
        self.config = nbgrader_config(self.dir, isolation, limits, data_dir(), hide)
        self.assignments = list(assignments) if assignments is not None else list_assignments(self.course_root)
        if template is not None:  # a copy of a stage made for the same assignments: no need to generate again
            for part in ("source", "release", "gradebook.db"):
                src = Path(template) / part
                (shutil.copytree if src.is_dir() else shutil.copyfile)(src, self.dir / part)
            return
        for a in self.assignments:
            src = self.course_root / "notebooks" / a
            dest = self.dir / "source" / a
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*_STAGE_IGNORE))
            copy_student_lib(dest)
            _run(GenerateAssignment, self.dir, self.config, f"generate the student version of {a}", assignment_id=a)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- release -------------------------------------------------------------------------
    def release_dir(self, assignment):
        return self.dir / "release" / assignment

    # -- grading -------------------------------------------------------------------------
    def submit(self, student, assignment, notebooks):
        """Place a submission: ``notebooks`` maps notebook name -> its bytes (or the path of the file).

        Each notebook is made well-formed first (:func:`autograder.execute.sanitize_submission`);
        returns the sentences about what had to be changed. A file that is not a notebook raises
        :class:`SubmissionError` with one sentence."""
        dest = self.dir / "submitted" / stage_student_id(student) / assignment
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        import nbformat

        from autograder.execute import sanitize_submission

        problems = []
        for name, content in notebooks.items():
            raw = content if isinstance(content, bytes) else Path(content).read_bytes()
            try:
                nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
                if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
                    raise ValueError("no list of cells")
            except Exception:  # noqa: BLE001 - nbformat raises many kinds for a file that is not a notebook
                raise SubmissionError(f"{name}.ipynb could not be read as a notebook; open it in JupyterLab, "
                                      "save it and submit it again.") from None
            source_nb = nbformat.read(str(self.dir / "source" / assignment / f"{name}.ipynb"), as_version=4)
            problems += [f"{name}.ipynb: {p}" for p in sanitize_submission(nb, source_nb)]
            nbformat.write(nb, str(dest / f"{name}.ipynb"))
        return problems

    def clear(self, student, assignment):
        """Remove a graded submission's files (the gradebook keeps only scores)."""
        for kind in ("submitted", "autograded", "feedback"):
            shutil.rmtree(self.dir / kind / stage_student_id(student) / assignment, ignore_errors=True)

    def autograde(self, student, assignment):
        sid = stage_student_id(student)
        # MPLBACKEND=Agg: figures are drawn but not rendered into the notebook (faster, smaller feedback)
        with _env(**{GRADING_ENV: "1", "MPLBACKEND": "Agg"}), _stderr_to(self.dir / "kernels.log"):
            _run(Autograde, self.dir, self.config, f"autograde {assignment}", assignment_id=assignment, student_id=sid)

    def feedback(self, student, assignment, scores=None):
        """Write ``feedback/<sid>/<assignment>/<notebook>.html`` for each autograded notebook and
        return that folder: the notebook after :data:`FEEDBACK_STEPS` (hidden tests cut, tracebacks
        reduced, student text as text, all capped), as :func:`autograder.feedback.notebook_html` writes
        it, each graded cell with its score. ``scores``: the first part of :meth:`scores` (read from
        the gradebook when not given). Raises :class:`PipelineError` when a notebook cannot be shown
        (say a hidden-test region in a cell that is not a test cell)."""
        import nbformat

        from autograder.feedback import notebook_html

        sid = stage_student_id(student)
        graded, dest = self.dir / "autograded" / sid / assignment, self.dir / "feedback" / sid / assignment
        scores = self.scores(student, assignment)[0] if scores is None else scores
        if self._feedback_steps is None:   # made once per stage, used for every notebook
            self._feedback_steps = [step(config=self.config) for step in FEEDBACK_STEPS]
        safe_cells = next(s for s in self._feedback_steps if isinstance(s, SafeCells))
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for path in sorted(graded.glob("*.ipynb")):
            resources = {"nbgrader": {"assignment": assignment, "notebook": path.stem}}
            try:
                nb = nbformat.read(str(path), as_version=4)
                for step in self._feedback_steps:
                    nb, resources = step.preprocess(nb, resources)
                body = notebook_html(nb, safe_cells.known_text, {g: (s, m) for g, s, m in scores.get(path.stem, [])})
            except MemoryError:
                raise
            except Exception as e:  # noqa: BLE001 - as nbgrader's converter: any failure is this notebook's
                raise PipelineError(f"write feedback on {assignment}", f"{type(e).__name__}: {e}") from None
            (dest / f"{path.stem}.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{body}\n</body></html>\n", encoding="utf-8")
        return dest

    def autograded_notebook(self, student, assignment, notebook):
        return self.dir / "autograded" / stage_student_id(student) / assignment / f"{notebook}.ipynb"

    def scores(self, student, assignment):
        """``{notebook: [(grade_id, score, max_score), ...]}`` and the assignment's (score, max_score)."""
        per_nb = {}
        with Gradebook(self.config.CourseDirectory.db_url, COURSE_ID) as gb:
            try:
                sub = gb.find_submission(assignment, stage_student_id(student))
            except MissingEntry:
                raise CourseError(f"No grade was recorded for this submission of {assignment}.") from None
            for nb in sub.notebooks:
                per_nb[nb.name] = [(g.name, float(g.score), float(g.max_score)) for g in nb.grades]
            return per_nb, (float(sub.score), float(sub.max_score))

    def max_score(self, assignment):
        with Gradebook(self.config.CourseDirectory.db_url, COURSE_ID) as gb:
            return float(gb.find_assignment(assignment).max_score)

