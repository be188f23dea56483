"""The checks behind every public test: each property fails with its own message."""

import numpy as np
import pytest
import torch

from course_lib.checks import (CheckFailed, check_array, check_callable, check_equal, check_scalar, check_shape,
                               check_type, check_unchanged)


def test_a_correct_answer_passes_as_numpy_torch_or_list():
    expected = np.array([1.0, 2.0])
    check_array("f()", np.array([1.0, 2.0]), expected)
    check_array("f()", torch.tensor([1.0, 2.0]), expected)
    check_array("f()", [1.0, 2.0], expected)
    check_scalar("g()", 3.0, 3.0)


@pytest.mark.parametrize("got,pattern", [
    (None, "returned None: did you forget the `return`"),
    ("text", "expected an array of numbers"),
    (np.ones(3), r"has shape \(3,\), expected \(2,\)"),
    (np.array([np.nan, 2.0]), "contains NaN or inf"),
    (np.array([1.0, 2.5]), r"largest error is 0.5 at index \(1,\) \(got 2.5, expected 2\)"),
])
def test_each_property_has_its_own_message(got, pattern):
    with pytest.raises(CheckFailed, match=pattern):
        check_array("f()", got, np.array([1.0, 2.0]))


def test_a_known_mistake_is_named():
    w, g = np.array([1.0]), np.array([2.0])
    with pytest.raises(CheckFailed, match="you stepped uphill"):
        check_array("step", w + g, w - g, mistakes={"you stepped uphill": w + g})


def test_scalar_equal_unchanged_callable():
    with pytest.raises(CheckFailed, match="expected a single number"):
        check_scalar("loss()", np.ones(2), 1.0)
    with pytest.raises(CheckFailed, match="expected a bool"):
        check_equal("stop()", 1, True)
    with pytest.raises(CheckFailed, match="returned False, expected True"):
        check_equal("stop()", False, True)
    with pytest.raises(CheckFailed, match="modified its input array in place"):
        check_unchanged("f", np.zeros(2), np.ones(2))
    with pytest.raises(CheckFailed, match="should be a function"):
        check_callable(3, "f")
    with pytest.raises(CheckFailed, match="expected \\(2, 2\\)"):
        check_shape("f()", np.ones(3), (2, 2))
    with pytest.raises(CheckFailed, match="adam\\(...\\) returned list, expected a tuple \\(w, state\\)"):
        check_type("adam(...)", [1, {}], tuple, "a tuple (w, state)")
    check_type("adam(...)", (1, {}), tuple, "a tuple (w, state)")
    assert issubclass(CheckFailed, AssertionError)
