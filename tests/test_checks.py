"""The checks behind every public test: each property fails with its own message."""

import re

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


# -- how messages show values ------------------------------------------------------------------
def _message(fn):
    with pytest.raises(CheckFailed) as info:
        fn()
    return str(info.value)


def test_messages_show_shapes_and_numbers_plainly_never_as_numpy_2_reprs():
    """NumPy 2 writes np.int64(4) and np.float64(0.1); a message says (4,) and [0.1, 0.2]."""
    messages = [
        _message(lambda: check_shape("f()", np.ones(3), (np.int64(4),))),
        _message(lambda: check_equal("sizes()", [np.int64(4), np.int64(2)], [4, 4, 2])),
        _message(lambda: check_equal("f()", np.float64(0.1), 0.2)),
        _message(lambda: check_equal("stop()", np.True_, False)),
        _message(lambda: check_equal("stop()", np.int64(1), True)),
        _message(lambda: check_scalar("loss()", np.ones((np.int64(2),)), 1.0)),
        _message(lambda: check_equal("f()", torch.tensor([1, 2]), [1, 3])),
        # a test cell's own sentence with a NumPy scalar formatted into it
        str(CheckFailed(f"f on shape {tuple(np.arange(1, 3))} returned {np.float32(0.5)!r}, {np.True_!r}")),
    ]
    for text in messages:
        assert "np." not in text and "int64" not in text and "float64" not in text, text
    assert "has shape (3,), expected (4,)" in messages[0]
    assert "returned [4, 2], expected [4, 4, 2]" in messages[1]
    assert "returned 0.1, expected 0.2" in messages[2]
    assert "returned True, expected False" in messages[3]
    assert "returned 1 (a NumPy integer), expected a bool" in messages[4]
    assert "array of shape (2,)" in messages[5]
    assert "returned [1, 2], expected [1, 3]" in messages[6]
    assert messages[7] == "f on shape (1, 2) returned 0.5, True"


def test_a_long_value_is_cut_short():
    text = _message(lambda: check_equal("f()", list(np.arange(1000.0)), []))
    assert len(text) < 250 and "..." in text, text


@pytest.mark.parametrize("what,verb", [
    ("the values of ewma_update over a stream", "are wrong"),
    ("losses", "are wrong"),
    ("the weights from apply_weight_decay(w, grad, 0.1)", "are wrong"),
    ("gd_step(w, grad, 0.1)", "is wrong"),
    ("ewma_weights(4, 0.8)", "is wrong"),
    ("the loss of softmax_cross_entropy", "is wrong"),
    ("dlogits of softmax_cross_entropy", "is wrong"),
])
def test_the_verb_agrees_with_its_subject(what, verb):
    text = _message(lambda: check_array(what, np.ones(2), np.zeros(2), mistakes={"you did it": np.ones(2)}))
    assert text.startswith(f"{what} {verb}: you did it"), text
    text = _message(lambda: check_array(what, np.ones(2), np.zeros(2)))
    assert text.startswith(f"{what} {'have' if verb == 'are wrong' else 'has'} wrong values"), text
    text = _message(lambda: check_shape(what, np.ones(2), (3,)))
    assert text.startswith(f"{what} {'have' if verb == 'are wrong' else 'has'} shape (2,)"), text


def test_a_value_is_something_a_call_returned_is():
    assert _message(lambda: check_equal('state["step"] after 4 values', 3, 4)).startswith('state["step"] after 4 values is 3,')
    assert _message(lambda: check_equal("the batch sizes of minibatches(X, y, 4, None)", [4, 4], [4, 4, 2])) \
        .startswith("the batch sizes of minibatches(X, y, 4, None) are [4, 4], expected [4, 4, 2]")
    assert _message(lambda: check_equal("len(minibatches(X, y, 4, None))", 2, 3)).startswith("len(minibatches(X, y, 4, None)) returned 2,")
    assert _message(lambda: check_type("losses", (1.0,), list, "a list")) == "losses are of type tuple, expected a list."


@pytest.mark.parametrize("what,name,named", [
    ("minibatches(X, y, 4, rng) (X)", None, "X"),
    ("adagrad (the argument grad)", None, "grad"),
    ("adam_moments (its argument v)", None, "v"),
    ("sgd_epoch (the caller's w)", None, "w"),
    ("heavy_ball_step, argument w_old", None, "w_old"),
    ("ewma(x, 0.75)", "x", "x"),
])
def test_in_place_advice_names_the_argument_that_changed(what, name, named):
    text = _message(lambda: check_unchanged(what, np.zeros(2), np.ones(2), name=name))
    assert f"modified its input `{named}` in place" in text and f"`{named} = {named} - ...` rather than `{named} -= ...`" in text, text
    others = {"w", "x", "X", "grad", "v"} - {named}
    assert not any(re.search(rf"`{o}\b", text) for o in others), text


def test_in_place_advice_for_a_tensor_does_not_suggest_copy():
    text = _message(lambda: check_unchanged("f(w)", torch.zeros(2), torch.ones(2), name="w"))
    assert "`w.clone()`" in text and "do not work on tensors" in text, text
    text = _message(lambda: check_unchanged("f(a, b)", np.zeros(2), np.ones(2)))
    assert "modified its input array in place" in text and "`w" not in text, text


def test_a_check_failure_survives_pickling():
    """The grader's processes send failures to each other."""
    import pickle

    e = pickle.loads(pickle.dumps(CheckFailed("f(x) is wrong: np.float64(1.5)")))
    assert isinstance(e, CheckFailed) and str(e) == "f(x) is wrong: 1.5"


def test_a_call_with_a_list_argument_is_still_a_call():
    assert _message(lambda: check_equal("should_stop([5, 4, 3], patience=2)", False, True)) \
        .startswith("should_stop([5, 4, 3], patience=2) returned False, expected True")
    assert _message(lambda: check_equal("x[0] after a step", 1, 2)).startswith("x[0] after a step is 1, expected 2")
