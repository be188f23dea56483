"""Every source and every release notebook runs headless, as an instructor's script would, without a stall.

Each source notebook runs in its own folder of the checkout (``notebooks/NN_*/``) with
``jupyter execute`` (nbclient), and each notebook of a fresh ``course release`` in its own
released folder with ``jupyter nbconvert --execute``: no ``MPLBACKEND``, no ``COURSE_ROOT``
or ``COURSE_DATA``, a 120 s cell timeout, and a probe in the kernel that reports a stalled
reply or any comm message from the runner (see ``headless.py``). Two notebooks run at a time.

* A source notebook raises no error, and one that builds explorers displays them.
* A release notebook (exercises not written) shows no error but an unwritten exercise's.
* Running the source notebooks in the checkout leaves no new untracked file there (data
  goes to the course's ``data/``, see ``course_lib.runtime.data_dir``).

Why each notebook runs once per version and not several times: a stall hit a few per cent
of explorer cells, so three runs of a notebook with two explorers would miss it most of the
time; its precondition, a comm message from the runner, shows on every run and fails it.
``test_headless.py`` runs a notebook of explorers four times. Timing is measured by
``benchmarks/notebook_times.py``, not asserted here.
"""

import subprocess
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

import headless
from notebook_text import ROOT, SOURCE_NOTEBOOKS

pytestmark = pytest.mark.slow

NAMES = [p.parent.name for p in SOURCE_NOTEBOOKS]


def _untracked():
    """Untracked files where a notebook could write: in ``notebooks/`` (a kernel's working folder is
    one of its folders) and at the top of the checkout (not new files of other engineers in, say,
    ``tests/``)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    top = set(git("ls-tree", "--name-only", "HEAD").split())
    paths = {line[3:] for line in git("status", "--porcelain", "--untracked-files=all").splitlines() if line.startswith("?? ")}
    return {p for p in paths if p.startswith("notebooks/") or "/" not in p or p.split("/")[0] not in top}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from autograder.release import release

    base = tmp_path_factory.mktemp("notebooks-run")
    release(ROOT, base / "release")
    untracked_before = _untracked()
    jobs = [(f"source-{p.parent.name}", p, "nbclient", False) for p in SOURCE_NOTEBOOKS]
    jobs += [(f"release-{p.parent.name}", base / "release" / p.parent.name / p.name, "nbconvert", True)
             for p in SOURCE_NOTEBOOKS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {label: pool.submit(headless.run, nb, runner, base / "runs", label, allow_errors)
                   for label, nb, runner, allow_errors in jobs}
        reports = {label: f.result() for label, f in futures.items()}
    return reports, _untracked() - untracked_before


def _builds_explorers(path):
    return "widgets." in "".join(c.source for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code")


def _check_explorers(report, source):
    if not _builds_explorers(source):
        return
    assert report.widget_views(), f"{report.label} builds explorers but none was displayed"
    figures = report.output_widget_outputs()
    assert figures and all(figures), f"{report.label}: an explorer's output area is empty in the saved widget state"


def _unwritten_exercise(output):
    """The one-line error of a test that calls an exercise still holding its stub."""
    return "is not written yet" in "".join(output.get("traceback", []))


@pytest.mark.parametrize("name", NAMES)
def test_source_notebook_runs_headless_in_its_folder(runs, name):
    report = runs[0][f"source-{name}"]
    problems = report.problems()
    assert not problems, "\n".join(problems)
    _check_explorers(report, report.notebook)


@pytest.mark.parametrize("name", NAMES)
def test_release_notebook_runs_headless_in_its_folder(runs, name):
    report = runs[0][f"release-{name}"]
    problems = report.problems(error_allowed=_unwritten_exercise)
    assert not problems, "\n".join(problems)
    assert any(_unwritten_exercise(o) for _, o in report.error_outputs()), \
        f"{report.label}: no test said an exercise is not written yet; was this the release?"
    _check_explorers(report, ROOT / "notebooks" / name / f"{name}.ipynb")


def test_running_the_notebooks_leaves_no_file_in_the_checkout(runs):
    new = sorted(runs[1])
    assert not new, (f"running the source notebooks in their folders left untracked files in the checkout: {new[:10]}; "
                     "data belongs in the course's data/ folder (course_lib.runtime.data_dir()).")
