"""Time every source notebook top to bottom, and the grading of one notebook.

    .venv/bin/python benchmarks/notebook_times.py            # all notebooks
    .venv/bin/python benchmarks/notebook_times.py 01_gradient_descent

Prints, per notebook: the time to execute it in a fresh kernel (as a learner would, widgets
included) and the time of `course check` on it (release + autograde with hidden tests +
feedback, as the instructor's grader does it). The course's target is 30 s for the first and
"well under a minute" on a 2-core CPU.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def run_notebook(path):
    nb = nbformat.read(str(path), as_version=4)
    os.environ["COURSE_ROOT"] = str(ROOT)  # kernels find the course's data/ as under `course lab`
    env_before = os.environ.pop("COURSE_GRADING", None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": tmp}}).execute()
            elapsed = time.perf_counter() - start
    finally:
        if env_before is not None:
            os.environ["COURSE_GRADING"] = env_before
    errors = sum(o.output_type == "error" for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    return elapsed, errors


def grade_notebook(path):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "check", str(path)], capture_output=True, text=True,
                          env=dict(os.environ, COURSE_ROOT=str(ROOT)))
    elapsed = time.perf_counter() - start
    first = proc.stdout.splitlines()[0] if proc.stdout else proc.stderr.strip()
    return elapsed, first


def main(argv):
    wanted = set(argv)
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*/*.ipynb"))
    paths = [p for p in paths if not wanted or p.parent.name in wanted]
    print(f"{'notebook':<28} {'run (s)':>8} {'errors':>7} {'course check (s)':>17}  score")
    for path in paths:
        run_s, errors = run_notebook(path)
        grade_s, score = grade_notebook(path)
        print(f"{path.parent.name:<28} {run_s:>8.1f} {errors:>7} {grade_s:>17.1f}  {score.split(': ', 1)[-1]}")


if __name__ == "__main__":
    main(sys.argv[1:])
