"""Checks used by the notebooks' test cells.

Each check looks at one property at a time — type, then shape, then finiteness, then value —
and raises :class:`CheckFailed` with one sentence that says which property failed, what was
expected and, where the answer matches a known mistake, which mistake it is. The expected
values always come from an independent truth computed in the test cell (torch, a closed
form, a numerical gradient), never from the reference solutions.

    >>> check_array("gd_step(w, g, 0.1)", got, expected,
    ...             mistakes={"you added the gradient instead of subtracting it": w + 0.1 * g})
"""

import numpy as np

from course_lib import notebook_errors


class CheckFailed(AssertionError):
    """A test found a wrong answer; the message says what is wrong and how to look for it."""


def _as_numpy(x):
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def passed(message="all checks passed"):
    """Print a short success line (tests call it at their end)."""
    print(f"\u2714 {message}")


def check_callable(fn, name):
    if not callable(fn):
        raise CheckFailed(f"{name} should be a function, but it is {type(fn).__name__}: define it in the cell above and run that cell.")


def check_type(what, got, types, expected_desc):
    """``got`` must be an instance of ``types``; ``expected_desc`` names them for the student."""
    if not isinstance(got, types):
        raise CheckFailed(f"{what} returned {type(got).__name__}, expected {expected_desc}.")


def check_shape(what, got, expected_shape, hint=""):
    shape = tuple(np.shape(got))
    expected_shape = tuple(expected_shape)
    if shape != expected_shape:
        raise CheckFailed(f"{what} has shape {shape}, expected {expected_shape}." + (f" {hint}" if hint else ""))


def _matches(got, candidate, rtol, atol):
    candidate = _as_numpy(candidate)
    return got.shape == candidate.shape and np.allclose(got, candidate, rtol=rtol, atol=atol, equal_nan=False)


def check_array(what, got, expected, *, rtol=1e-6, atol=1e-9, mistakes=None, hint=""):
    """Compare an array answer with the expected one: type, shape, finiteness, then values.

    Args:
        what: how to name the answer in the message, e.g. ``"gradient_descent(grad, w0, 0.1, 5)"``.
        got: the student's answer (NumPy array, torch tensor, or a Python number/list).
        expected: the truth.
        mistakes: optional ``{message: wrong_answer}``; if ``got`` equals a wrong answer, the
            message names that mistake instead of printing numbers.
        hint: a sentence appended to a value mismatch.
    """
    if got is None:
        raise CheckFailed(f"{what} returned None: did you forget the `return` statement?")
    try:
        got_np = _as_numpy(got).astype(float)
    except (TypeError, ValueError):
        raise CheckFailed(f"{what} returned {type(got).__name__}, expected an array of numbers.") from None
    expected_np = _as_numpy(expected).astype(float)
    check_shape(what, got_np, expected_np.shape)
    if not np.all(np.isfinite(got_np)) and np.all(np.isfinite(expected_np)):
        raise CheckFailed(f"{what} contains NaN or inf, but every expected value is finite.")
    if np.allclose(got_np, expected_np, rtol=rtol, atol=atol):
        return
    for message, wrong in (mistakes or {}).items():
        if _matches(got_np, wrong, rtol, atol):
            raise CheckFailed(f"{what} is wrong: {message}.")
    err = np.abs(got_np - expected_np)
    idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
    where = f" at index {tuple(int(i) for i in idx)}" if err.ndim else ""
    raise CheckFailed(
        f"{what} has wrong values: the largest error is {float(err[idx]):.3g}{where} "
        f"(got {float(got_np[idx]):.6g}, expected {float(expected_np[idx]):.6g})." + (f" {hint}" if hint else "")
    )


def check_scalar(what, got, expected, *, rtol=1e-6, atol=1e-9, mistakes=None, hint=""):
    """Like :func:`check_array` for one number (a float, a 0-d array or a 1-element tensor)."""
    if got is None:
        raise CheckFailed(f"{what} returned None: did you forget the `return` statement?")
    if np.ndim(_as_numpy(got)) != 0:
        raise CheckFailed(f"{what} returned an array of shape {tuple(np.shape(_as_numpy(got)))}, expected a single number.")
    check_array(what, got, expected, rtol=rtol, atol=atol, mistakes=mistakes, hint=hint)


def check_equal(what, got, expected, hint=""):
    """Exact comparison for booleans, integers, ``None`` and other plain values."""
    if isinstance(expected, bool) and not isinstance(got, (bool, np.bool_)):
        raise CheckFailed(f"{what} returned {type(got).__name__} {got!r}, expected a bool (True or False).")
    if got != expected:
        raise CheckFailed(f"{what} returned {got!r}, expected {expected!r}." + (f" {hint}" if hint else ""))


def check_unchanged(what, before, after):
    """The function must not modify its input in place."""
    if not np.array_equal(_as_numpy(before), _as_numpy(after)):
        raise CheckFailed(f"{what} modified its input array in place; work on a copy (e.g. `w = w.copy()` or `w = w - ...`).")


# In a notebook, a failed check shows as its one sentence, not a stack of frames in this module.
notebook_errors.install((CheckFailed,))


# -- random inputs of the hidden tests --------------------------------------------------------
#: The seed the grader derives from each submission (see :func:`set_hidden_seed`); 0 elsewhere
#: (a notebook run in its own kernel, the mistakes catalogue).
_hidden_seed = 0


def set_hidden_seed(seed):
    """Make :func:`hidden_rng` draw from ``seed`` (the grader calls it once per submission).

    The grader derives the seed from the submission itself, so grading the same file twice gives
    the same inputs and the same grade, while the inputs shown in one student's feedback say
    nothing about the inputs another submission (or a resubmission with other code) gets.
    """
    global _hidden_seed
    _hidden_seed = int(seed) % 2**63


def hidden_rng(salt):
    """A NumPy generator for one hidden test: ``salt`` tells the tests of a cell apart, and the
    submission's seed (:func:`set_hidden_seed`) makes the draws differ from one submission to the next."""
    return np.random.default_rng([int(salt), _hidden_seed])
