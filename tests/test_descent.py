"""Notebook 01's reference solutions, against closed forms and torch.optim.SGD."""

import numpy as np
import pytest
import torch

from course_lib.solutions.descent import gradient_descent, numerical_gradient
from course_lib.trajectories import torch_path
from course_lib.landscapes import get_landscape


@pytest.mark.parametrize("shape", [(1,), (5,), (3, 4), (2, 2, 2)])
def test_numerical_gradient_matches_the_analytic_gradient_of_a_quadratic(shape):
    rng = np.random.default_rng(sum(shape))
    n = int(np.prod(shape))
    M = rng.normal(size=(n, n))
    A = M @ M.T + np.eye(n)
    b = rng.normal(size=n)
    w = rng.normal(size=shape)
    before = w.copy()
    g = numerical_gradient(lambda v: 0.5 * v.ravel() @ A @ v.ravel() + b @ v.ravel(), w)
    np.testing.assert_allclose(g, (A @ w.ravel() + b).reshape(shape), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(w, before)


def test_numerical_gradient_is_a_central_difference():
    w = np.array([0.3, -1.2, 2.0])
    for h in (0.1, 0.01):  # central difference of w**3 is exactly 3 w**2 + h**2
        np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v**3), w, h=h), 3 * w**2 + h**2, rtol=1e-10)
    with pytest.raises(ValueError, match="positive step"):
        numerical_gradient(np.sum, w, h=0)


@pytest.mark.parametrize("lr,n", [(0.01, 0), (0.05, 7), (0.3, 20)])
def test_gradient_descent_matches_torch_sgd(lr, n):
    rng = np.random.default_rng(n)
    A = np.diag([1.0, 3.0, 0.5])
    w0 = rng.normal(size=3)
    path = gradient_descent(lambda w: A @ w, w0, lr, n)
    p = torch.tensor(w0.copy(), requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    truth = [w0.copy()]
    for _ in range(n):
        p.grad = torch.tensor(A @ p.detach().numpy())
        opt.step()
        truth.append(p.detach().numpy().copy())
    assert path.shape == (n + 1, 3)
    np.testing.assert_allclose(path, np.array(truth), rtol=1e-12, atol=1e-14)


def test_torch_path_follows_the_closed_form_on_the_bowl_and_stops_on_divergence():
    bowl = get_landscape("quadratic")
    lr = 0.01
    path = torch_path(bowl, "SGD", start=(1.0, 1.0), n_steps=10, lr=lr)
    expected = np.array([(1 - lr * np.array([bowl.a, bowl.b])) ** t for t in range(11)])
    np.testing.assert_allclose(path, expected, rtol=1e-12)
    diverged = torch_path(bowl, torch.optim.SGD, start=(1.0, 1.0), n_steps=500, lr=0.2)
    assert len(diverged) < 501 and np.all(np.isinf(diverged[-1]))


def _sgd_converges(H, lr, steps=5000):
    """Whether torch.optim.SGD on 0.5 w^T H w (gradient H w) shrinks |w| a hundredfold within `steps` steps."""
    Ht = torch.tensor(H)
    w = torch.tensor(np.random.default_rng(0).normal(size=len(H)), requires_grad=True)
    start = w.detach().norm().item()
    opt = torch.optim.SGD([w], lr=lr)
    for _ in range(steps):
        w.grad = Ht @ w.detach()
        opt.step()
        norm = w.detach().norm().item()
        if norm < 1e-2 * start:
            return True
        if not norm < 1e6 * start:
            return False
    return False


@pytest.mark.parametrize("d,seed", [(1, 0), (2, 1), (3, 2), (5, 3)])
def test_max_stable_lr_is_the_boundary_that_torch_sgd_finds(d, seed):
    from course_lib.solutions.descent import max_stable_lr

    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    H = Q @ np.diag(rng.uniform(0.2, 5.0, size=d)) @ Q.T
    H = (H + H.T) / 2
    before = H.copy()
    # the truth by simulation: bisect on the learning rate between one that converges and one that diverges
    lo, hi = 0.05, 10.0
    assert _sgd_converges(H, lo) and not _sgd_converges(H, hi)
    for _ in range(14):     # in log space: the bracket ends within a factor 1.0004
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if _sgd_converges(H, mid) else (lo, mid)
    assert max_stable_lr(H) == pytest.approx(np.sqrt(lo * hi), rel=2e-3)
    np.testing.assert_array_equal(H, before)
    # the bound itself is excluded: at exactly 2 / lambda_max the steepest coefficient keeps its size
    assert not _sgd_converges(H, max_stable_lr(H))


def test_max_stable_lr_rejects_what_is_not_a_positive_definite_hessian():
    from course_lib.solutions.descent import max_stable_lr

    assert max_stable_lr(np.diag([0.5, 4.0, 1.0])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="square"):
        max_stable_lr(np.ones(3))
    with pytest.raises(ValueError, match="symmetric"):
        max_stable_lr(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="positive-definite"):
        max_stable_lr(np.diag([1.0, -1.0]))
