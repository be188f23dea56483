"""Notebook 01: wrong answers students write, each of which must fail its tests (and lose the points).

Where the mistake can be recognised, the failure message must name it.
"""

from mistakes import catalogue_tests, solution_with
from notebook_text import ROOT

NB = ROOT / "notebooks" / "01_gradient_descent" / "01_gradient_descent.ipynb"

MISTAKES = [
    ("test_numerical_gradient", "one-sided difference", """
def numerical_gradient(f, w, h=1e-5):
    w = np.array(w, dtype=float); g = np.zeros_like(w); fw = f(w)
    for i in range(w.size):
        old = w.flat[i]; w.flat[i] = old + h; g.flat[i] = (f(w) - fw) / h; w.flat[i] = old
    return g
""", "one-sided difference"),
    ("test_numerical_gradient", "divides by h, not 2h", """
def numerical_gradient(f, w, h=1e-5):
    w = np.array(w, dtype=float); g = np.zeros_like(w)
    for i in range(w.size):
        old = w.flat[i]; w.flat[i] = old + h; fp = f(w); w.flat[i] = old - h; fm = f(w); w.flat[i] = old
        g.flat[i] = (fp - fm) / h
    return g
""", "twice the true gradient"),
    ("test_numerical_gradient", "perturbs the caller's array and never restores it", """
def numerical_gradient(f, w, h=1e-5):
    g = np.zeros_like(w)
    for i in range(w.size):
        w.flat[i] += h; fp = f(w); w.flat[i] -= 2 * h; fm = f(w)
        g.flat[i] = (fp - fm) / (2 * h)
    return g
""", "modified its input"),
    ("test_numerical_gradient", "works on a copy but never puts the perturbed entries back", """
def numerical_gradient(f, w, h=1e-5):
    w = np.array(w, dtype=float); g = np.zeros_like(w)
    for i in range(w.size):
        w.flat[i] += h; fp = f(w); w.flat[i] -= 2 * h; fm = f(w)
        g.flat[i] = (fp - fm) / (2 * h)
    return g
""", "were not put back"),
    ("test_numerical_gradient", "leaves each entry at w_i + h", """
def numerical_gradient(f, w, h=1e-5):
    w = np.array(w, dtype=float); g = np.zeros_like(w)
    for i in range(w.size):
        old = w.flat[i]; w.flat[i] = old - h; fm = f(w); w.flat[i] = old + h; fp = f(w)
        g.flat[i] = (fp - fm) / (2 * h)
    return g
""", "were not put back"),
    ("test_numerical_gradient", "ignores h", """
def numerical_gradient(f, w, h=1e-5):
    h = 1e-5
    w = np.array(w, dtype=float); g = np.zeros_like(w)
    for i in range(w.size):
        old = w.flat[i]; w.flat[i] = old + h; fp = f(w); w.flat[i] = old - h; fm = f(w); w.flat[i] = old
        g.flat[i] = (fp - fm) / (2 * h)
    return g
""", "ignored the argument h"),
    ("test_numerical_gradient", "only works for vectors", """
def numerical_gradient(f, w, h=1e-5):
    w = np.array(w, dtype=float); g = np.zeros(len(w))
    for i in range(len(w)):
        e = np.zeros(len(w)); e[i] = h
        g[i] = (f(w + e) - f(w - e)) / (2 * h)
    return g
""", None),
    ("test_gd_step", "steps uphill", "def gd_step(w, grad, lr):\n    return w + lr * grad\n", "stepped uphill"),
    ("test_gd_step", "forgets the learning rate", "def gd_step(w, grad, lr):\n    return w - grad\n", "learning rate is missing"),
    ("test_gd_step", "updates in place", "def gd_step(w, grad, lr):\n    w -= lr * grad\n    return w\n", "modified its input"),
    ("test_gradient_descent", "leaves out the start", """
def gd_step(w, grad, lr):
    return w - lr * grad
def gradient_descent(grad, w0, lr, n_steps):
    w, path = np.array(w0, dtype=float), []
    for _ in range(n_steps):
        w = gd_step(w, grad(w), lr); path.append(w)
    return np.array(path)
""", "shape"),
    ("test_gradient_descent", "appends the same array object every step", """
def gd_step(w, grad, lr):
    return w - lr * grad
def gradient_descent(grad, w0, lr, n_steps):
    w = np.array(w0, dtype=float); path = [w]
    for _ in range(n_steps):
        w -= lr * grad(w); path.append(w)
    return np.array(path)
""", "appended the same array object"),
    ("test_gradient_descent", "returns only the last point", """
def gd_step(w, grad, lr):
    return w - lr * grad
def gradient_descent(grad, w0, lr, n_steps):
    w = np.array(w0, dtype=float)
    for _ in range(n_steps):
        w = gd_step(w, grad(w), lr)
    return w
""", "shape"),
    ("test_gradient_descent", "changes the caller's w0", """
def gradient_descent(grad, w0, lr, n_steps):
    path = [w0.copy()]
    for _ in range(n_steps):
        w0 -= lr * grad(w0); path.append(w0.copy())
    return np.array(path)
""", "modified its input `w0`"),
    ("test_gradient_descent", "a wrong path on top of a wrong gd_step (uphill)", """
def gd_step(w, grad, lr):
    return w + lr * grad
def gradient_descent(grad, w0, lr, n_steps):
    w, path = np.array(w0, dtype=float), []
    for _ in range(n_steps):
        w = gd_step(w, grad(w), lr); path.append(w)
    return np.array(path)
""", "is wrong too: fix it first", {"also_fails": {"test_gd_step"}}),
    ("test_gradient_descent", "one step too many", """
def gd_step(w, grad, lr):
    return w - lr * grad
def gradient_descent(grad, w0, lr, n_steps):
    w = np.array(w0, dtype=float); path = [w]
    for _ in range(n_steps + 1):
        w = gd_step(w, grad(w), lr); path.append(w)
    return np.array(path)
""", "shape"),
    # -- max_stable_lr (predict) ---------------------------------------------------------
    ("test_max_stable_lr", "1 / lambda_max: the rate that solves the steepest axis in one step",
     "def max_stable_lr(H):\n    return 1.0 / np.linalg.eigvalsh(H).max()\n", "in a single step"),
    ("test_max_stable_lr", "2 / lambda_min: bounded by the flattest axis",
     "def max_stable_lr(H):\n    return 2.0 / np.linalg.eigvalsh(H).min()\n", "flattest curvature"),
    ("test_max_stable_lr", "2 / (lambda_min + lambda_max): the best rate, not the largest stable one", """
def max_stable_lr(H):
    lam = np.linalg.eigvalsh(H)
    return 2.0 / (lam.min() + lam.max())
""", "best constant rate"),
    ("test_max_stable_lr", "reads the curvatures off the diagonal of H",
     "def max_stable_lr(H):\n    return 2.0 / np.max(np.diag(H))\n", "diagonal of H"),
    ("test_max_stable_lr", "sums the curvatures (2 / trace H)",
     "def max_stable_lr(H):\n    return 2.0 / np.trace(H)\n", "trace of H"),
    ("test_max_stable_lr", "the mean curvature",
     "def max_stable_lr(H):\n    return 2.0 / np.linalg.eigvalsh(H).mean()\n", "mean curvature"),
    ("test_max_stable_lr", "lambda_max estimated by the Frobenius norm",
     "def max_stable_lr(H):\n    return 2.0 / np.linalg.norm(H)\n", "Frobenius norm"),
    ("test_max_stable_lr", "returns the curvature itself",
     "def max_stable_lr(H):\n    return float(np.linalg.eigvalsh(H).max())\n", "returned a curvature"),
    ("test_max_stable_lr", "2 / kappa: the condition number in place of the largest curvature", """
def max_stable_lr(H):
    lam = np.linalg.eigvalsh(H)
    return 2.0 * lam.min() / lam.max()
""", "condition number"),
    ("test_max_stable_lr", "returns one bound per axis (an array)",
     "def max_stable_lr(H):\n    return 2.0 / np.linalg.eigvalsh(H)\n", "expected a single number"),
    ("test_max_stable_lr", "a safety margin below the boundary (1.9 / lambda_max)",
     "def max_stable_lr(H):\n    return 1.9 / np.linalg.eigvalsh(H).max()\n", None),
    ("test_max_stable_lr", "the largest entry of H in absolute value",
     "def max_stable_lr(H):\n    return 2.0 / np.abs(H).max()\n", None),
    ("test_should_stop", "counts an equal loss as an improvement",
     solution_with(NB, "should_stop", "loss < best - min_delta", "loss <= best - min_delta"), "equal loss is not an improvement"),
    ("test_should_stop", "ignores min_delta",
     solution_with(NB, "should_stop", "loss < best - min_delta", "loss < best"), "min_delta"),
    ("test_should_stop", "compares with the previous loss, not the best", """
def should_stop(losses, patience, min_delta=0.0):
    prev, wait = np.inf, 0
    for loss in losses:
        wait = 0 if loss < prev - min_delta else wait + 1
        prev = loss
    return wait >= patience
""", None),
    ("test_should_stop", "stops one step late (wait > patience)",
     solution_with(NB, "should_stop", "wait >= patience", "wait > patience"), None),
]


test_every_mistake_loses_the_points, test_the_reference_answers_pass = catalogue_tests(NB, MISTAKES, 10)
