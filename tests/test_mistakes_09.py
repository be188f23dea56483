"""Notebook 09: wrong answers students write, each of which must fail its tests (and lose the points).

Where the mistake can be recognized, the failure message must name it.
"""

from mistakes import solution_of, catalogue_tests, solution_with
from notebook_text import ROOT

NB = ROOT / "notebooks" / "09_softmax" / "09_softmax.ipynb"


def solution(grade_id):
    return solution_of(NB, grade_id)


SOFTMAX = solution("softmax") + "\n"
LOSSES = SOFTMAX + solution("cross_entropy") + "\n"
GRADIENT = LOSSES + solution("softmax_cross_entropy") + "\n"

MISTAKES = [
    # Exercise 1: softmax
    ("test_softmax", "no max shift (exp overflows at 1e4)",
     solution_with(NB, "softmax", "z - z.max(axis=-1, keepdims=True)", "z"), "overflow"),
    ("test_softmax", "one maximum for the whole array",
     solution_with(NB, "softmax", "z - z.max(axis=-1, keepdims=True)", "z - z.max()"), "each row's own maximum"),
    ("test_softmax", "max over the wrong axis (columns)",
     solution_with(NB, "softmax", "z.max(axis=-1, keepdims=True)", "z.max(axis=0, keepdims=True)"), "maximum of each column"),
    ("test_softmax", "normalizes over the wrong axis (columns)",
     solution_with(NB, "softmax", "e.sum(axis=-1, keepdims=True)", "e.sum(axis=0, keepdims=True)"), "each COLUMN sums to 1"),
    ("test_softmax", "divides by the sum of the whole array",
     solution_with(NB, "softmax", "e.sum(axis=-1, keepdims=True)", "e.sum()"), "sum of the whole array"),
    ("test_softmax", "max without keepdims (broadcasts across columns)",
     solution_with(NB, "softmax", "z.max(axis=-1, keepdims=True)", "z.max(axis=-1)"), "keepdims=True"),
    ("test_softmax", "hard-codes axis=1 (fails on a single vector)",
     solution_with(NB, "softmax", "axis=-1, keepdims=True)", "axis=1, keepdims=True)"), "has only axis 0"),
    ("test_softmax", "changes z in place", """
def softmax(z):
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z
""", "modified its input"),
    # Exercise 2: cross_entropy
    ("test_cross_entropy", "log of softmax (underflows to -inf at 1e4)", SOFTMAX + """
def cross_entropy(logits, y):
    n = logits.shape[0]
    return float(-np.mean(np.log(softmax(logits)[np.arange(n), y])))
""", "log-sum-exp"),
    ("test_cross_entropy", "sum over the rows instead of the mean",
     solution_with(NB, "cross_entropy", "np.mean(log_sum_exp", "np.sum(log_sum_exp"), "SUM over the rows"),
    ("test_cross_entropy", "mean over all N*C entries (classes too)", SOFTMAX + """
def cross_entropy(logits, y):
    onehot = np.eye(logits.shape[1])[y]
    m = logits.max(axis=1, keepdims=True)
    log_p = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    return float(-np.mean(onehot * log_p))
""", "average over the N rows only"),
    ("test_cross_entropy", "picks logits[:, y] (an N x N block)",
     solution_with(NB, "cross_entropy", "logits[np.arange(n), y]", "logits[:, y]"), "N x N block"),
    ("test_cross_entropy", "sign flipped",
     solution_with(NB, "cross_entropy", "np.mean(log_sum_exp - logits[np.arange(n), y])",
                   "np.mean(logits[np.arange(n), y] - log_sum_exp)"), "sign is flipped"),
    ("test_cross_entropy", "labels used as floats for indexing",
     solution_with(NB, "cross_entropy", "logits[np.arange(n), y]", "logits[np.arange(n), y.astype(float)]"), "integer labels"),
    ("test_cross_entropy", "returns the per-row losses, not their mean",
     solution_with(NB, "cross_entropy", "float(np.mean(log_sum_exp - logits[np.arange(n), y]))",
                   "log_sum_exp - logits[np.arange(n), y]"), "single number"),
    ("test_cross_entropy", "log-sum-exp without adding the maximum back",
     solution_with(NB, "cross_entropy", "m[:, 0] + np.log(", "np.log("), None),
    # Exercise 3: initial_loss, a prediction (the usual wrong ones)
    ("test_initial_loss", "the seeds' 10 ln(1/10): a sum over the classes",
     "def initial_loss(num_classes):\n    return float(num_classes * np.log(1 / num_classes))\n", "10 ln(1/10)"),
    ("test_initial_loss", "ln(1/C): the sign flipped",
     "def initial_loss(num_classes):\n    return float(np.log(1 / num_classes))\n", "sign is flipped"),
    ("test_initial_loss", "base-10 logarithm", "def initial_loss(num_classes):\n    return float(np.log10(num_classes))\n", "base-10"),
    ("test_initial_loss", "base-2 logarithm", "def initial_loss(num_classes):\n    return float(np.log2(num_classes))\n", "base-2"),
    ("test_initial_loss", "1/C, the probability of each class", "def initial_loss(num_classes):\n    return 1 / num_classes\n",
     "probability the model gives each class"),
    ("test_initial_loss", "C ln C, summed over the classes", "def initial_loss(num_classes):\n    return float(num_classes * np.log(num_classes))\n",
     "sum over the classes"),
    ("test_initial_loss", "ln 10 for every number of classes", "def initial_loss(num_classes):\n    return 2.302585092994046\n",
     "function of num_classes"),
    ("test_initial_loss", "ln(C - 1): one class too few", "def initial_loss(num_classes):\n    return float(np.log(num_classes - 1))\n", None),
    # Exercise 4: softmax_cross_entropy (derived)
    ("test_softmax_cross_entropy", "gradient not divided by the batch size",
     LOSSES + solution_with(NB, "softmax_cross_entropy", "dlogits / n", "dlogits"), "divide by the batch size N"),
    ("test_softmax_cross_entropy", "one-hot subtracted on whole columns (p[:, y] -= 1)",
     LOSSES + solution_with(NB, "softmax_cross_entropy", "dlogits[np.arange(n), y] -= 1", "dlogits[:, y] -= 1"), "lands on whole columns"),
    ("test_softmax_cross_entropy", "one-hot term missing",
     LOSSES + solution_with(NB, "softmax_cross_entropy", "dlogits[np.arange(n), y] -= 1", "pass"), "term -z_y of the loss is missing"),
    ("test_softmax_cross_entropy", "sign flipped (one-hot minus p)",
     LOSSES + solution_with(NB, "softmax_cross_entropy", "dlogits / n", "-dlogits / n"), "sign is flipped"),
    ("test_softmax_cross_entropy", "divides by the number of classes",
     LOSSES + solution_with(NB, "softmax_cross_entropy", "dlogits / n", "dlogits / dlogits.shape[1]"), "number of classes"),
    ("test_softmax_cross_entropy", "returns only the gradient",
     LOSSES + solution_with(NB, "softmax_cross_entropy", "return loss, dlogits / n", "return dlogits / n"), None),
    ("test_softmax_cross_entropy", "naive softmax inside (NaN at 1e4)", LOSSES + """
def softmax_cross_entropy(logits, y):
    n = logits.shape[0]
    e = np.exp(logits)
    dlogits = e / e.sum(axis=1, keepdims=True)
    dlogits[np.arange(n), y] -= 1
    return cross_entropy(logits, y), dlogits / n
""", "an exponential overflowed"),
    ("test_softmax_cross_entropy", "p - 1 on every entry (the one-hot replaced by ones)",
     LOSSES + solution_with(NB, "softmax_cross_entropy", "dlogits[np.arange(n), y] -= 1", "dlogits -= 1"), "subtracted 1 from every entry"),
    ("test_softmax_cross_entropy", "softmax of the wrong axis (columns)", LOSSES + """
def softmax_cross_entropy(logits, y):
    n = logits.shape[0]
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    p = e / e.sum(axis=0, keepdims=True)
    p[np.arange(n), y] -= 1
    return cross_entropy(logits, y), p / n
""", "wrong axis"),
    ("test_softmax_cross_entropy", "one-hot minus p, and no 1/N", LOSSES + """
def softmax_cross_entropy(logits, y):
    n, c = logits.shape
    return cross_entropy(logits, y), np.eye(c)[y] - softmax(logits)
""", None),
    # Exercise 5: linear_softmax_step
    ("test_linear_softmax_step", "bias gradient is the mean, not the sum",
     GRADIENT + solution_with(NB, "linear_softmax_step", "dlogits.sum(axis=0)", "dlogits.mean(axis=0)"), "not the mean"),
    ("test_linear_softmax_step", "returns the loss after the step", GRADIENT + """
def linear_softmax_step(W, b, X, y, lr):
    logits = X @ W + b
    loss, dlogits = softmax_cross_entropy(logits, y)
    W, b = W - lr * (X.T @ dlogits), b - lr * dlogits.sum(axis=0)
    return W, b, cross_entropy(X @ W + b, y)
""", "AFTER the step"),
    ("test_linear_softmax_step", "steps uphill",
     GRADIENT + solution_with(NB, "linear_softmax_step", "W - lr * dW, b - lr * db", "W + lr * dW, b + lr * db"), "uphill"),
    ("test_linear_softmax_step", "dW transposed (dlogits.T @ X)",
     GRADIENT + solution_with(NB, "linear_softmax_step", "X.T @ dlogits", "dlogits.T @ X"), "shape"),
    ("test_linear_softmax_step", "updates W and b in place", GRADIENT + """
def linear_softmax_step(W, b, X, y, lr):
    loss, dlogits = softmax_cross_entropy(X @ W + b, y)
    W -= lr * (X.T @ dlogits)
    b -= lr * dlogits.sum(axis=0)
    return W, b, loss
""", "modified its input"),
    ("test_linear_softmax_step", "forgets the learning rate",
     GRADIENT + solution_with(NB, "linear_softmax_step", "W - lr * dW", "W - dW"), "learning rate is missing"),
]


test_every_mistake_loses_the_points, test_the_reference_answers_pass = catalogue_tests(NB, MISTAKES, 14)


# -- one mistake costs one exercise, and two mistakes cost two --------------------------------
# Exercises 3 and 4 call the student's own earlier functions. Where an earlier one is wrong, their
# tests run the later one with a correct (torch) function in its place; these variants check that
# this only ever spares a right answer: a later exercise that is wrong in itself, or not written,
# still loses its points, with the earlier exercise named in the message.
import pytest  # noqa: E402

from mistakes import grade_in_process, later_cell_output, remote_scores  # noqa: E402

NO_SHIFT = solution_with(NB, "softmax", "z - z.max(axis=-1, keepdims=True)", "z") + "\n"
FLOAT_LABELS = solution_with(NB, "cross_entropy", "logits[np.arange(n), y]", "logits[np.arange(n), y.astype(float)]") + "\n"
ONLY_GRADIENT = solution_with(NB, "softmax_cross_entropy", "return loss, dlogits / n", "return dlogits / n") + "\n"
STUB = "\ndef {name}(*args):\n    raise NotImplementedError()\n"
CALLS_ONLY = "\ndef linear_softmax_step(W, b, X, y, lr):\n    return softmax_cross_entropy(X @ W + b, y)\n"

TWO_MISTAKES = [
    # (variant, the cells it must fail, a phrase the later cell's message must hold)
    ("softmax without the shift, and dlogits not divided by N",
     NO_SHIFT + solution_with(NB, "softmax_cross_entropy", "dlogits / n", "dlogits"),
     {"test_softmax", "test_softmax_cross_entropy"}, "N times too large"),
    ("cross_entropy raises, and dlogits with the sign flipped",
     FLOAT_LABELS + solution_with(NB, "softmax_cross_entropy", "dlogits / n", "-dlogits / n"),
     {"test_cross_entropy", "test_softmax_cross_entropy"}, "sign is flipped"),
    ("softmax_cross_entropy returns only the gradient, and the step goes uphill",
     ONLY_GRADIENT + solution_with(NB, "linear_softmax_step", "W - lr * dW, b - lr * db", "W + lr * dW, b + lr * db"),
     {"test_softmax_cross_entropy", "test_linear_softmax_step"}, "(Exercise 4), which is wrong too"),
    ("softmax_cross_entropy not written, and a step that only calls it",
     STUB.format(name="softmax_cross_entropy") + CALLS_ONLY, {"test_softmax_cross_entropy", "test_linear_softmax_step"}, None),
    ("nothing written from Exercise 2 on", "".join(STUB.format(name=n) for n in ("cross_entropy", "softmax_cross_entropy", "linear_softmax_step")),
     {"test_cross_entropy", "test_softmax_cross_entropy", "test_linear_softmax_step"}, None),
]
ONE_MISTAKE_SPARED = [
    # (variant, the one cell it fails, the cell whose passing line says what it was graded with)
    (NO_SHIFT, "test_softmax", "test_softmax_cross_entropy"),
    (FLOAT_LABELS, "test_cross_entropy", "test_softmax_cross_entropy"),
    (ONLY_GRADIENT, "test_softmax_cross_entropy", "test_linear_softmax_step"),
]


@pytest.mark.parametrize("name,answer,fails,phrase", TWO_MISTAKES, ids=[m[0] for m in TWO_MISTAKES])
def test_a_later_exercise_that_is_wrong_in_itself_still_loses_its_points(name, answer, fails, phrase):
    _, _, results = grade_in_process(NB, answer)
    assert {g for g, m in results.items() if m} == fails, results
    if phrase:
        later = max(fails, key=lambda g: list(results).index(g))
        assert phrase in results[later], results[later]


@pytest.mark.parametrize("answer,own,later", ONE_MISTAKE_SPARED, ids=["softmax", "cross_entropy", "softmax_cross_entropy"])
def test_a_right_later_exercise_is_graded_with_a_correct_earlier_function_and_says_so(answer, own, later, capsys):
    _, _, results = grade_in_process(NB, answer)
    assert {g for g, m in results.items() if m} == {own}
    # the passing line of the later cell tells the student which earlier exercise to fix
    out = later_cell_output(NB, answer, later)
    assert "graded with a correct" in out and "fix it, then run this test again" in out, out


@pytest.mark.slow
def test_the_earlier_function_is_replaced_in_the_student_process_too():
    """Through the grader's boundary the later exercise runs in the student's process, where the test
    rebinds the earlier function's name: the verdicts are those of the in-process harness."""
    variants = [m[1] for m in TWO_MISTAKES] + [m[0] for m in ONE_MISTAKE_SPARED]
    expected = [m[2] for m in TWO_MISTAKES] + [{m[1]} for m in ONE_MISTAKE_SPARED]
    for (score, results), fails in zip(remote_scores(NB, variants), expected):
        assert {g for g, e in results.items() if e} == fails, results
