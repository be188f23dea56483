"""Running a notebook's test cells against a wrong answer, without a kernel.

A *mistake* is a wrong variant of an exercise's solution, written the way students get it
wrong. :func:`run_tests_against` executes the notebook's setup cell, the variant, and the
exercise's whole test cell (hidden tests included) in one namespace, and returns the message
of the first failure (or ``None`` if every test passed, which a mistake must never do).
"""

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402

from course_lib.checks import CheckFailed  # noqa: E402


def _cells(nb_path):
    return nbformat.read(str(nb_path), as_version=4).cells


def setup_source(nb_path):
    """The notebook's first code cell (its imports)."""
    return next(c.source for c in _cells(nb_path) if c.cell_type == "code")


def test_cell_source(nb_path, grade_id):
    for c in _cells(nb_path):
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return c.source
    raise KeyError(f"{nb_path.name} has no cell {grade_id}")


def run_tests_against(nb_path, grade_id, answer_source):
    """Message of the first failing check of ``grade_id`` when the answer is ``answer_source``."""
    ns = {"__name__": "__notebook__"}
    exec(compile(setup_source(nb_path).replace("%matplotlib inline", ""), "setup", "exec"), ns)
    exec(compile(answer_source, "answer", "exec"), ns)
    try:
        exec(compile(test_cell_source(nb_path, grade_id), grade_id, "exec"), ns)
    except CheckFailed as e:
        return str(e)
    except Exception as e:  # a crash also loses the points; report it the way feedback would
        return f"{type(e).__name__}: {e}"
    return None


def solution_with(nb_path, solution_id, old, new):
    """The notebook's own solution for ``solution_id`` with one edit: the smallest way to write a mistake."""
    for c in _cells(nb_path):
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == solution_id:
            assert old in c.source, f"{old!r} is not in the solution of {solution_id}"
            return c.source.replace(old, new)
    raise KeyError(f"{nb_path.name} has no cell {solution_id}")
