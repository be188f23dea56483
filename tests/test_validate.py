"""The course's Validate (``autograder/validate.py``): nbgrader's Validator, readable results."""

import nbformat
import pytest

from autograder.validate import CourseValidator


def _cell(source, grade_id, solution=False, grade=False, points=0):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": not solution,
                                 "points": points, "schema_version": 3, "task": False}
    return cell


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import numpy as np\nfrom course_lib.checks import check_array"),
        _cell("def step(w):\n    # YOUR CODE HERE\n    raise NotImplementedError()", "step", solution=True),
        _cell("step(1.0)", "test_step", grade=True, points=2),
        _cell("def double(x):\n    return 3 * x", "double", solution=True),
        _cell("check_array('double(x)', double(np.ones(2)), 2 * np.ones(2), mistakes={'you tripled x': 3 * np.ones(2)})",
              "test_double", grade=True, points=3),
        _cell("def noisy(x):\n    import sys, warnings\n    warnings.warn('deprecated')\n    print('note', file=sys.stderr)\n    return x",
              "noisy", solution=True),
        _cell("assert noisy(4) == 4", "test_noisy", grade=True, points=1),
        _cell("def buggy(x):\n    return x[3]", "buggy", solution=True),
        _cell("buggy([1, 2])", "test_buggy", grade=True, points=1),
    ]
    path = tmp_path_factory.mktemp("validate") / "exercise.ipynb"
    nbformat.write(nb, str(path))
    return CourseValidator().validate(str(path))


def test_each_failed_test_cell_is_named_by_its_exercise_and_points(result):
    labels = [f["source"] for f in result["failed"]]
    assert labels == ["the tests of step (2 points; cell 'test_step')",
                      "the tests of double (3 points; cell 'test_double')",
                      "the tests of buggy (1 point; cell 'test_buggy')"]


def test_errors_are_one_line_each(result):
    errors = {f["source"].split()[3]: f["raw_error"] for f in result["failed"]}
    assert "`step` is not written yet" in errors["step"]
    assert errors["double"].startswith("CheckFailed: double(x) is wrong: you tripled x")
    assert errors["buggy"].startswith("IndexError: list index out of range (run that test cell")
    for text in errors.values():
        assert "Traceback" not in text and 'File "' not in text and len(text.splitlines()) <= 3, text


def test_a_warning_on_stderr_does_not_fail_a_correct_answer(result):
    # nbgrader itself counts any stderr output of a test cell as a failure (its issue #1904)
    assert not any("noisy" in f["source"] for f in result["failed"])
