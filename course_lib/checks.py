"""Checks used by the notebooks' test cells.

Each check looks at one property at a time — type, then shape, then finiteness, then value —
and raises :class:`CheckFailed` with one sentence that says which property failed, what was
expected and, where the answer matches a known mistake, which mistake it is. The expected
values always come from an independent truth computed in the test cell (torch, a closed
form, a numerical gradient), never from the reference solutions.

    >>> check_array("gd_step(w, g, 0.1)", got, expected,
    ...             mistakes={"you added the gradient instead of subtracting it": w + 0.1 * g})
"""

import contextlib
import re

import numpy as np

from course_lib import notebook_errors


_NUMPY_REPR = re.compile(r"\bnp\.(?:u?int\d*|float\d*|complex\d*|bool_?|str_)\(([^()]*)\)")


def _plain_text(message):
    """``message`` with NumPy 2's scalar reprs written plainly: ``np.int64(4)`` -> ``4``, ``np.True_`` -> ``True``."""
    text = _NUMPY_REPR.sub(lambda m: m.group(1), str(message))
    return re.sub(r"\bnp\.(True|False)_", r"\1", text)


class CheckFailed(AssertionError):
    """A test found a wrong answer; the message says what is wrong and how to look for it.

    The message is kept free of NumPy 2's reprs (``np.float64(0.1)`` shows as ``0.1``), whoever wrote it.
    """

    def __init__(self, message=""):
        super().__init__(_plain_text(message))


def _as_numpy(x):
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


# -- how messages show values: plain Python, never NumPy 2's reprs such as np.int64(4) ----------
def plain(x):
    """``x`` as plain Python for a message: NumPy and torch scalars become ``int``/``float``/``bool``,
    small arrays and tensors become (nested) lists, tuples and lists are converted entry by entry.

    >>> plain((np.int64(4),)), plain([np.float64(0.1), 2])
    ((4,), [0.1, 2])
    """
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray) or type(x).__module__.startswith("torch") and hasattr(x, "tolist"):
        try:
            return _as_numpy(x).tolist()
        except Exception:  # noqa: BLE001 - an odd object: leave it as it is
            return x
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return tuple(plain(v) for v in x)
    if isinstance(x, list):
        return [plain(v) for v in x]
    if isinstance(x, dict):
        return {plain(k): plain(v) for k, v in x.items()}
    return x


def show(x, limit=120):
    """A short, plain repr of ``x`` for a message: ``(4,)``, ``[0.1, 0.2]``, ``True``, ``'text'``."""
    text = repr(plain(x))
    if len(text) > limit:
        shape = np.shape(x) if isinstance(x, (np.ndarray, list, tuple)) or hasattr(x, "shape") else None
        text = text[:limit - 5].rstrip(", ") + " ...]" if text[:1] == "[" else text[:limit - 4] + " ..."
        if shape:
            text += f" (shape {show_shape(shape)})"
    return text


def _kind(x):
    """What sort of value ``x`` is, in words: "an int", "a NumPy integer", "a float", "a list"."""
    if isinstance(x, np.integer):
        return "a NumPy integer"
    if isinstance(x, np.floating):
        return "a NumPy float"
    name = type(x).__name__
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def show_shape(shape):
    """A shape written with plain ints: ``(4,)``, ``(2, 3)``, ``()``."""
    return repr(tuple(int(s) for s in shape))


_PLURALS = {"values", "losses", "sizes", "weights", "keys", "entries", "gradients", "grads", "batches", "rows",
            "shapes", "labels", "probabilities", "probs", "averages", "parameters", "paths", "steps", "outputs",
            "statistics", "moments", "scores", "predictions", "targets", "rates", "means", "variances", "points"}
_HEAD_END = re.compile(r" of | from | with | after | before | for | in | on | over | at | by |\(|:")


def _head(what):
    return _HEAD_END.split(str(what), maxsplit=1)[0].strip()


def _plural(what):
    """Whether ``what`` (how a test names an answer) is a plural noun phrase: "the values of ...", "losses"."""
    words = _head(what).split()
    m = _HEAD_END.search(str(what))
    if m and m.group() == "(" and not str(what)[:m.start()].endswith(" "):
        return False  # "sizes(x)" names a function's result
    return bool(words) and words[-1].lower() in _PLURALS


def _names_a_value(what):
    """Whether ``what`` names a value ("the batch sizes of ...", 'state["step"]', "losses") rather than
    what a function returned ("gd_step(w, g, 0.1)", "should_stop on 5 losses")."""
    text = str(what).strip()
    if re.match(r"[\w.]+\(", text):
        return False
    return text.lower().startswith(("the ", "a ", "an ")) or bool(re.match(r"[\w.]+\[", text)) or _plural(what)


def _be(what):
    return "are" if _plural(what) else "is"


def _have(what):
    return "have" if _plural(what) else "has"


def passed(message="all checks passed"):
    """Print a short success line (tests call it at their end)."""
    print(f"\u2714 {message}")


def check_callable(fn, name):
    if not callable(fn):
        raise CheckFailed(f"{name} should be a function, but it is {type(fn).__name__}: define it in the cell above and run that cell.")


def check_type(what, got, types, expected_desc):
    """``got`` must be an instance of ``types``; ``expected_desc`` names them for the student."""
    if not isinstance(got, types):
        if _names_a_value(what):
            raise CheckFailed(f"{what} {_be(what)} of type {type(got).__name__}, expected {expected_desc}.")
        raise CheckFailed(f"{what} returned {type(got).__name__}, expected {expected_desc}.")


def check_shape(what, got, expected_shape, hint=""):
    shape = tuple(int(s) for s in np.shape(got))
    expected_shape = tuple(int(s) for s in expected_shape)
    if shape != expected_shape:
        raise CheckFailed(f"{what} {_have(what)} shape {show_shape(shape)}, expected {show_shape(expected_shape)}."
                          + (f" {hint}" if hint else ""))


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
        raise CheckFailed(f"{what} {'contain' if _plural(what) else 'contains'} NaN or inf, but every expected value is finite.")
    if np.allclose(got_np, expected_np, rtol=rtol, atol=atol):
        return
    for message, wrong in (mistakes or {}).items():
        if _matches(got_np, wrong, rtol, atol):
            raise CheckFailed(f"{what} {_be(what)} wrong: {message}.")
    err = np.abs(got_np - expected_np)
    idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
    where = f" at index {tuple(int(i) for i in idx)}" if err.ndim else ""
    raise CheckFailed(
        f"{what} {_have(what)} wrong values: the largest error is {float(err[idx]):.3g}{where} "
        f"(got {float(got_np[idx]):.6g}, expected {float(expected_np[idx]):.6g})." + (f" {hint}" if hint else "")
    )


def check_scalar(what, got, expected, *, rtol=1e-6, atol=1e-9, mistakes=None, hint=""):
    """Like :func:`check_array` for one number (a float, a 0-d array or a 1-element tensor)."""
    if got is None:
        raise CheckFailed(f"{what} returned None: did you forget the `return` statement?")
    if np.ndim(_as_numpy(got)) != 0:
        raise CheckFailed(f"{what} returned an array of shape {show_shape(np.shape(_as_numpy(got)))}, expected a single number.")
    check_array(what, got, expected, rtol=rtol, atol=atol, mistakes=mistakes, hint=hint)


def check_equal(what, got, expected, hint=""):
    """Exact comparison for booleans, integers, ``None`` and other plain values."""
    if isinstance(expected, bool) and not isinstance(got, (bool, np.bool_)):
        raise CheckFailed(f"{what} {_be(what) if _names_a_value(what) else 'returned'} {show(got)} ({_kind(got)}), "
                          "expected a bool (True or False).")
    if got != expected:
        verb = _be(what) if _names_a_value(what) else "returned"
        raise CheckFailed(f"{what} {verb} {show(got)}, expected {show(expected)}." + (f" {hint}" if hint else ""))


_ARGUMENT = re.compile(r"(?:argument|caller's|input)\s+`?([A-Za-z_]\w*)`?\)?\s*$|\(`?([A-Za-z_]\w*)`?\)\s*$")


def check_unchanged(what, before, after, name=None):
    """The function must not modify its input in place.

    Args:
        what: how to name the call, e.g. ``"gd_step(w, grad, 0.1)"``.
        before: a copy of the argument, taken before the call.
        after: the argument itself, after the call.
        name: the argument's name in the function's signature (``"w"``, ``"X"``), used in the advice.
            Without it, a trailing ``"(X)"``, ``"(the argument w)"`` or ``"(the caller's w)"`` in
            ``what`` names it; else the message says "its input".
    """
    try:
        same = np.array_equal(_as_numpy(before), _as_numpy(after))
    except Exception:  # noqa: BLE001 - not comparable at all: it was replaced by something else
        same = False
    if same:
        return
    if name is None:
        m = _ARGUMENT.search(str(what))
        name = next((g for g in m.groups() if g), None) if m else None
    tensor = type(after).__module__.startswith("torch")
    if name:
        copy = f"`{name}.clone()`; `.copy()` and `np.copy` do not work on tensors" if tensor else f"`{name}.copy()`"
        raise CheckFailed(f"{what} modified its input `{name}` in place; leave the caller's `{name}` as it was: write "
                          f"`{name} = {name} - ...` rather than `{name} -= ...` or `{name}[...] = ...`, or work on a copy ({copy}).")
    copy = "`.clone()` for a tensor" if tensor else "`.copy()`"
    raise CheckFailed(f"{what} modified its input array in place; leave the caller's arrays as they were: build new arrays "
                      f"(`x = x - ...` rather than `x -= ...` or `x[...] = ...`) or work on a copy ({copy}).")


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


# -- torch tensors: exercises that a later cell wraps as a torch optimizer or layer ------------
#: What to do when a function works on NumPy arrays but not on torch tensors.
TENSOR_ADVICE = ("use operations that work on both: arithmetic (+ - * / **), `x ** 0.5` for a square root, "
                 "`1 * x` for a copy; `x.copy()`, `np.sqrt`, `np.zeros_like` and the other `np.` functions do not "
                 "work on tensors (or not on a GPU)")


def tensor_devices():
    """The devices a tensor test tries: ``["cpu"]``, and ``"cuda"`` too when torch sees a GPU."""
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def call_on_tensors(what, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` where the arguments hold torch tensors.

    An error that NumPy-only code raises on tensors (``AttributeError: 'Tensor' object has no
    attribute 'copy'``, a ``TypeError`` from mixing an array with a tensor, a ``RuntimeError``
    from a CPU array meeting a GPU tensor) becomes one :class:`CheckFailed` sentence that says
    tensors were the cause and what to write instead. ``NotImplementedError`` (an unwritten
    exercise) passes through unchanged.
    """
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except (AttributeError, TypeError, RuntimeError, ValueError) as e:
        detail = f"{type(e).__name__}: {e}"
        detail = detail if len(detail) <= 200 else detail[:197] + "..."
        raise CheckFailed(f"{what} failed on torch tensors ({detail}). It must accept NumPy arrays and torch "
                          f"tensors and return the same kind: {TENSOR_ADVICE}.") from None


def check_tensor(what, got):
    """``got``, computed from torch tensors, must be a torch tensor (tensors in, tensors out)."""
    import torch

    if not isinstance(got, torch.Tensor):
        kind = "a NumPy array" if isinstance(got, np.ndarray) else f"a {type(got).__name__}"
        raise CheckFailed(f"{what} is {kind} for torch tensor inputs, expected a torch tensor (tensors in, tensors "
                          f"out): {TENSOR_ADVICE}.")


# -- grading an exercise apart from the student's own earlier function -------------------------
@contextlib.contextmanager
def helper_replaced(composite, name, source):
    """While the ``with`` block runs, ``composite`` finds a trusted ``name`` instead of the student's.

    One mistake costs one exercise: when a later exercise calls the student's own earlier function
    (``softmax_cross_entropy`` calling ``softmax``) and the test finds that earlier function wrong,
    it runs the later one inside this block, so that it is graded on its own.

    Args:
        composite: the later exercise's function: a function of this process (a notebook kernel,
            the mistakes harness), or the grader's stand-in for a function that runs in the
            student's process.
        name: the earlier function's name, as ``composite`` calls it.
        source: code that defines a trusted function called ``name``, written in the test (torch
            or a closed form, never a reference solution); it imports what it uses.

    The name is rebound where ``composite`` looks it up (its module's globals; for a stand-in, the
    namespace of the student's cells) and restored after the block. ``composite`` sees the trusted
    function only if it calls the earlier function by its name; where the name cannot be rebound,
    the block runs unchanged.
    """
    session = getattr(composite, "_session", None)   # autograder.remote.Remote: runs in the student's process
    if session is not None:
        saved = f"_course_saved_{name}"
        _, error = session.run_cell(f"{saved} = {name}\n{source}")
        try:
            yield
        finally:
            if error is None:
                session.run_cell(f"{name} = {saved}\ndel {saved}")
        return
    namespace = getattr(composite, "__globals__", None)
    if not isinstance(namespace, dict):
        yield
        return
    trusted = {}
    exec(compile(source, f"<trusted {name}>", "exec"), trusted)
    missing = object()
    before = namespace.get(name, missing)
    namespace[name] = trusted[name]
    try:
        yield
    finally:
        if before is missing:
            namespace.pop(name, None)
        else:
            namespace[name] = before
