"""Notebook 02: wrong answers students write, each of which must fail its tests (and lose the points).

Where the mistake can be recognised, the failure message must name it.
"""

from mistakes import catalogue_tests, solution_with
from notebook_text import ROOT

NB = ROOT / "notebooks" / "02_sgd_minibatch" / "02_sgd_minibatch.ipynb"

# sgd_epoch calls the student's minibatches: its variants run with the notebook's own one.
MINIBATCHES = solution_with(NB, "minibatches", "def minibatches", "def minibatches") + "\n"

MISTAKES = [
    # -- minibatches ---------------------------------------------------------------------
    ("test_minibatches", "drops the last partial batch",
     solution_with(NB, "minibatches", "range(0, n, batch_size)", "range(0, n - batch_size + 1, batch_size)"),
     "dropped the last partial batch"),
    ("test_minibatches", "shuffles X and y separately", """
def minibatches(X, y, batch_size, rng):
    if rng is None:
        Xs, ys = X, y
    else:
        if isinstance(rng, (int, np.integer)):
            rng = np.random.default_rng(rng)
        Xs, ys = X[rng.permutation(len(X))], y[rng.permutation(len(y))]
    return [(Xs[i:i + batch_size], ys[i:i + batch_size]) for i in range(0, len(X), batch_size)]
""", "shuffled together"),
    ("test_minibatches", "ignores batch_size (always 32)", """
def minibatches(X, y, batch_size, rng):
    order = np.arange(len(X)) if rng is None else np.random.default_rng(rng).permutation(len(X)) if isinstance(rng, int) else rng.permutation(len(X))
    return [(X[order[i:i + 32]], y[order[i:i + 32]]) for i in range(0, len(X), 32)]
""", "use the batch_size you are given"),
    ("test_minibatches", "draws the order from the global np.random, not from rng",
     solution_with(NB, "minibatches", "order = rng.permutation(n)", "order = np.random.permutation(n)"),
     "order = rng.permutation(N)"),
    ("test_minibatches", "shuffles even when rng is None", """
def minibatches(X, y, batch_size, rng):
    rng = np.random.default_rng(rng)
    order = rng.permutation(len(X))
    return [(X[order[i:i + batch_size]], y[order[i:i + batch_size]]) for i in range(0, len(X), batch_size)]
""", "rng=None keep the original order"),
    ("test_minibatches", "`if not rng:` takes the seed 0 for no shuffle", """
def minibatches(X, y, batch_size, rng):
    if not rng:
        order = np.arange(len(X))
    else:
        if isinstance(rng, (int, np.integer)):
            rng = np.random.default_rng(rng)
        order = rng.permutation(len(X))
    return [(X[order[i:i + batch_size]], y[order[i:i + batch_size]]) for i in range(0, len(X), batch_size)]
""", "0 is a seed like any other"),
    ("test_minibatches", "treats an integer rng as a generator",
     solution_with(NB, "minibatches", "if isinstance(rng, (int, np.integer)):", "if False:"),
     "AttributeError"),
    ("test_minibatches", "shuffles the caller's arrays in place", """
def minibatches(X, y, batch_size, rng):
    if rng is not None:
        if isinstance(rng, (int, np.integer)):
            rng = np.random.default_rng(rng)
        order = rng.permutation(len(X))
        X[:] = X[order]
        y[:] = y[order]
    return [(X[i:i + batch_size].copy(), y[i:i + batch_size].copy()) for i in range(0, len(X), batch_size)]
""", "modified its input"),
    ("test_minibatches", "returns a generator", """
def minibatches(X, y, batch_size, rng):
    if isinstance(rng, (int, np.integer)):
        rng = np.random.default_rng(rng)
    order = np.arange(len(X)) if rng is None else rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        yield X[order[start:start + batch_size]], y[order[start:start + batch_size]]
""", "expected a list"),
    ("test_minibatches", "slices one row short",
     solution_with(NB, "minibatches", "order[start:start + batch_size]", "order[start:start + batch_size - 1]"),
     "batch sizes"),
    # -- linear_mse_loss_and_grad --------------------------------------------------------
    ("test_linear_mse_loss_and_grad", "sums instead of averaging (off by N)", """
def linear_mse_loss_and_grad(w, b, X, y):
    r = X @ w + b - y
    return 0.5 * float(r @ r), X.T @ r, float(np.sum(r))
""", "N times too large"),
    ("test_linear_mse_loss_and_grad", "loss without the 1/2",
     solution_with(NB, "linear_mse_loss_and_grad", "loss = float(r @ r) / (2 * n)", "loss = float(r @ r) / n"),
     "factor 1/2"),
    ("test_linear_mse_loss_and_grad", "gradient with a stray factor 2",
     solution_with(NB, "linear_mse_loss_and_grad", "dw = X.T @ r / n", "dw = 2 * X.T @ r / n"),
     "twice the gradient"),
    ("test_linear_mse_loss_and_grad", "gradient sign (residual y - Xw - b)",
     solution_with(NB, "linear_mse_loss_and_grad", "r = X @ w + b - y", "r = y - X @ w - b"),
     "wrong sign"),
    ("test_linear_mse_loss_and_grad", "bias gradient missing",
     solution_with(NB, "linear_mse_loss_and_grad", "db = float(np.sum(r)) / n", "db = 0.0"),
     "db is 0"),
    ("test_linear_mse_loss_and_grad", "bias left out of the residual",
     solution_with(NB, "linear_mse_loss_and_grad", "r = X @ w + b - y", "r = X @ w - y"),
     "left the bias out"),
    ("test_linear_mse_loss_and_grad", "dw only divided by N for the loss, not the gradient",
     solution_with(NB, "linear_mse_loss_and_grad", "dw = X.T @ r / n", "dw = X.T @ r"),
     "its gradient is a mean too"),
    ("test_linear_mse_loss_and_grad", "X @ r instead of X.T @ r", """
def linear_mse_loss_and_grad(w, b, X, y):
    r = X @ w + b - y
    return float(r @ r) / (2 * len(y)), X @ r / len(y), float(np.mean(r))
""", "where its transpose belongs"),
    ("test_linear_mse_loss_and_grad", "divides the gradient by the number of features D, not N",
     solution_with(NB, "linear_mse_loss_and_grad", "dw = X.T @ r / n", "dw = X.T @ r / X.shape[1]"),
     "number of features D"),
    ("test_linear_mse_loss_and_grad", "gradient of the bias with the stray factor 2",
     solution_with(NB, "linear_mse_loss_and_grad", "db = float(np.sum(r)) / n", "db = 2 * float(np.sum(r)) / n"),
     "twice the gradient"),
    ("test_linear_mse_loss_and_grad", "gradient of F.mse_loss (no 1/2 in the loss, factor 2 in both gradients)", """
def linear_mse_loss_and_grad(w, b, X, y):
    r = X @ w + b - y
    return float(np.mean(r ** 2)), 2 * X.T @ r / len(y), 2 * float(np.mean(r))
""", "twice the gradient"),
    ("test_linear_mse_loss_and_grad", "loops over the features with the wrong index (the first column for all)", """
def linear_mse_loss_and_grad(w, b, X, y):
    r = X @ w + b - y
    dw = np.array([np.mean(X[:, 0] * r) for j in range(X.shape[1])])
    return float(r @ r) / (2 * len(y)), dw, float(np.mean(r))
""", None),
    ("test_linear_mse_loss_and_grad", "only the last example's gradient (no mean over the rows)", """
def linear_mse_loss_and_grad(w, b, X, y):
    r = X @ w + b - y
    return float(r @ r) / (2 * len(y)), X[-1] * r[-1], float(r[-1])
""", None),
    # -- minibatch_noise (predict) -------------------------------------------------------
    ("test_minibatch_noise", "sigma^2 / B: the noise of a batch drawn with replacement (no finite-population correction)",
     "def minibatch_noise(sigma2, batch_size, n):\n    return sigma2 / batch_size\n", "drawn with replacement"),
    ("test_minibatch_noise", "the correction with N instead of N - 1", """
def minibatch_noise(sigma2, batch_size, n):
    return sigma2 / batch_size * (n - batch_size) / n
""", "close but not right"),
    ("test_minibatch_noise", "falls like 1/sqrt(B) (the standard deviation's rate)", """
def minibatch_noise(sigma2, batch_size, n):
    if batch_size == n:
        return 0.0
    return sigma2 / np.sqrt(batch_size)
""", "not like 1/sqrt(B)"),
    ("test_minibatch_noise", "the correction without the division by B", """
def minibatch_noise(sigma2, batch_size, n):
    if batch_size == n:
        return 0.0
    return sigma2 * (n - batch_size) / (n - 1)
""", "left out the division by B"),
    ("test_minibatch_noise", "the right formula, but 0/0 for a data set of one example", """
def minibatch_noise(sigma2, batch_size, n):
    return sigma2 / batch_size * (n - batch_size) / (n - 1)
""", "ZeroDivisionError"),
    ("test_minibatch_noise", "the standard deviation instead of the variance", """
def minibatch_noise(sigma2, batch_size, n):
    if batch_size == n:
        return 0.0
    return float(np.sqrt(sigma2 / batch_size * (n - batch_size) / (n - 1)))
""", None),
    ("test_minibatch_noise", "B - 1 in place of B in the correction", """
def minibatch_noise(sigma2, batch_size, n):
    if batch_size == n:
        return 0.0
    return sigma2 / batch_size * (n - batch_size + 1) / n
""", None),
    # -- sgd_epoch -----------------------------------------------------------------------
    ("test_sgd_epoch", "does not shuffle (ignores rng)",
     MINIBATCHES + solution_with(NB, "sgd_epoch", "minibatches(X, y, batch_size, rng)", "minibatches(X, y, batch_size, None)"),
     "not shuffled"),
    ("test_sgd_epoch", "reuses the first batch for every step", MINIBATCHES + """
def sgd_epoch(w, b, X, y, loss_and_grad, lr, batch_size, rng=None):
    batches = minibatches(X, y, batch_size, rng)
    losses = []
    for _ in batches:
        loss, dw, db = loss_and_grad(w, b, *batches[0])
        w = w - lr * dw
        b = b - lr * db
        losses.append(float(loss))
    return w, b, losses
""", "first batch's gradient"),
    ("test_sgd_epoch", "does not update / return the new b", MINIBATCHES + """
def sgd_epoch(w, b, X, y, loss_and_grad, lr, batch_size, rng=None):
    losses = []
    for X_batch, y_batch in minibatches(X, y, batch_size, rng):
        loss, dw, db = loss_and_grad(w, b, X_batch, y_batch)
        w = w - lr * dw
        losses.append(float(loss))
    return w, b, losses
""", "b was not updated"),
    ("test_sgd_epoch", "updates the caller's w in place",
     MINIBATCHES + solution_with(NB, "sgd_epoch", "w = w - lr * dw", "w -= lr * dw"),
     "modified its input"),
    ("test_sgd_epoch", "records the loss after the update", MINIBATCHES + """
def sgd_epoch(w, b, X, y, loss_and_grad, lr, batch_size, rng=None):
    losses = []
    for X_batch, y_batch in minibatches(X, y, batch_size, rng):
        _, dw, db = loss_and_grad(w, b, X_batch, y_batch)
        w = w - lr * dw
        b = b - lr * db
        losses.append(float(loss_and_grad(w, b, X_batch, y_batch)[0]))
    return w, b, losses
""", "measured after each update"),
    ("test_sgd_epoch", "uses linear_mse_loss_and_grad instead of the loss it is given",
     MINIBATCHES + solution_with(NB, "linear_mse_loss_and_grad", "def linear", "def linear") + "\n"
     + solution_with(NB, "sgd_epoch", "loss, dw, db = loss_and_grad(w, b, X_batch, y_batch)",
                     "loss, dw, db = linear_mse_loss_and_grad(w, b, X_batch, y_batch)"),
     "loss_and_grad you are given"),
    ("test_sgd_epoch", "full-batch gradient on every step",
     MINIBATCHES + solution_with(NB, "sgd_epoch", "loss_and_grad(w, b, X_batch, y_batch)", "loss_and_grad(w, b, X, y)"),
     None),
    ("test_sgd_epoch", "steps uphill",
     MINIBATCHES + solution_with(NB, "sgd_epoch", "w = w - lr * dw", "w = w + lr * dw"),
     "stepped uphill"),
    ("test_sgd_epoch", "forgets the learning rate for w",
     MINIBATCHES + solution_with(NB, "sgd_epoch", "w = w - lr * dw", "w = w - dw"),
     "learning rate is missing"),
    ("test_sgd_epoch", "shuffles every epoch the same way (works on a copy of rng)", MINIBATCHES + """
import copy
def sgd_epoch(w, b, X, y, loss_and_grad, lr, batch_size, rng=None):
    losses = []
    for X_batch, y_batch in minibatches(X, y, batch_size, copy.deepcopy(rng)):
        loss, dw, db = loss_and_grad(w, b, X_batch, y_batch)
        w = w - lr * dw
        b = b - lr * db
        losses.append(float(loss))
    return w, b, losses
""", "every epoch went through the batches in the same order"),
    ("test_sgd_epoch", "a wrong epoch on top of a wrong minibatches (drops the last batch)",
     solution_with(NB, "minibatches", "range(0, n, batch_size)", "range(0, n - batch_size + 1, batch_size)") + "\n"
     + solution_with(NB, "sgd_epoch", "w = w - lr * dw", "w = w + lr * dw"),
     "is wrong too: fix it first", {"also_fails": {"test_minibatches"}}),
    ("test_sgd_epoch", "drops the last partial batch", MINIBATCHES + """
def sgd_epoch(w, b, X, y, loss_and_grad, lr, batch_size, rng=None):
    losses = []
    for X_batch, y_batch in minibatches(X, y, batch_size, rng):
        if len(X_batch) < batch_size:
            break
        loss, dw, db = loss_and_grad(w, b, X_batch, y_batch)
        w = w - lr * dw
        b = b - lr * db
        losses.append(float(loss))
    return w, b, losses
""", "dropped the last partial batch"),
]


test_every_mistake_loses_the_points, test_the_reference_answers_pass = catalogue_tests(NB, MISTAKES, 12)
