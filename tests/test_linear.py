"""course_lib.solutions.linear against torch autograd and F.binary_cross_entropy_with_logits."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.solutions.linear import linear_mse_loss_and_grad, logistic_loss_and_grad, sgd_epoch


def _problem(seed, logistic=False, scale=1.0):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(1, 40)), int(rng.integers(1, 6))
    X = rng.normal(size=(n, d)) * scale
    w = rng.normal(size=d)
    b = float(rng.normal())
    y = rng.integers(0, 2, size=n).astype(float) if logistic else rng.normal(size=n)
    return w, b, X, y


def _torch_truth(w, b, X, y, loss_fn):
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    loss = loss_fn(torch.tensor(X) @ wt + bt, torch.tensor(y))
    loss.backward()
    return loss.item(), wt.grad.numpy(), bt.grad.item()


def _half_mse(z, y):
    return 0.5 * F.mse_loss(z, y)


@pytest.mark.parametrize("seed", range(10))
def test_linear_mse_matches_autograd(seed):
    w, b, X, y = _problem(seed)
    loss, dw, db = linear_mse_loss_and_grad(w, b, X, y)
    t_loss, t_dw, t_db = _torch_truth(w, b, X, y, _half_mse)
    assert isinstance(loss, float) and isinstance(db, float)
    np.testing.assert_allclose(loss, t_loss, rtol=1e-12)
    np.testing.assert_allclose(dw, t_dw, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, t_db, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("scale", [1.0, 1e3])
def test_logistic_matches_bce_with_logits(seed, scale):
    w, b, X, y = _problem(seed, logistic=True, scale=scale)
    loss, dw, db = logistic_loss_and_grad(w, b, X, y)
    t_loss, t_dw, t_db = _torch_truth(w, b, X, y, F.binary_cross_entropy_with_logits)
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, t_loss, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dw, t_dw, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(db, t_db, rtol=1e-9, atol=1e-12)


def test_logistic_huge_logits_closed_form():
    X = np.array([[1.0], [1.0], [-1.0], [-1.0]])
    y = np.array([1.0, 0.0, 1.0, 0.0])
    loss, dw, db = logistic_loss_and_grad(np.array([1e4]), 0.0, X, y)
    # z = +1e4, +1e4, -1e4, -1e4: two right with loss ~0, two wrong with loss 1e4 each
    assert loss == pytest.approx(2e4 / 4, rel=1e-12)
    # sigma - y = 0, 1, -1, 0  ->  dw = (0 + 1 + 1 + 0)/4, db = 0
    np.testing.assert_allclose(dw, [0.5], rtol=1e-12)
    assert db == pytest.approx(0.0, abs=1e-12)


def test_torch_inputs_and_no_in_place_change():
    w, b, X, y = _problem(3)
    wt, Xt, yt = torch.tensor(w), torch.tensor(X), torch.tensor(y)
    w0 = wt.clone()
    loss, dw, db = linear_mse_loss_and_grad(wt, b, Xt, yt)
    assert isinstance(dw, torch.Tensor)
    ref = linear_mse_loss_and_grad(w, b, X, y)
    np.testing.assert_allclose(dw.numpy(), ref[1], rtol=1e-12)
    torch.testing.assert_close(wt, w0)
    _, _, Xl, yl = _problem(3, logistic=True)
    loss, dw, db = logistic_loss_and_grad(wt, b, torch.tensor(Xl), torch.tensor(yl))
    t_loss, t_dw, t_db = _torch_truth(w, b, Xl, yl, F.binary_cross_entropy_with_logits)
    np.testing.assert_allclose(dw.numpy(), t_dw, rtol=1e-10)


def test_bad_input():
    w, b, X, y = _problem(0)
    with pytest.raises(ValueError, match="w of shape"):
        linear_mse_loss_and_grad(np.zeros(len(w) + 1), b, X, y)
    with pytest.raises(ValueError, match="y of shape"):
        linear_mse_loss_and_grad(w, b, X, y[:-1] if len(y) > 1 else np.zeros(2))
    with pytest.raises(ValueError, match=r"\{0, 1\}"):
        logistic_loss_and_grad(w, b, X, np.full(len(y), 2.0))
    with pytest.raises(ValueError, match="lr"):
        sgd_epoch(w, b, X, y, linear_mse_loss_and_grad, -0.1, 4, None)


@pytest.mark.parametrize("batch_size", [1, 7, 32, 100])
@pytest.mark.parametrize("logistic", [False, True])
def test_sgd_epoch_matches_torch_sgd(batch_size, logistic):
    """Same batches (same permutation) through torch.optim.SGD with autograd gradients."""
    rng = np.random.default_rng(batch_size)
    n, d = 45, 4
    X = rng.normal(size=(n, d))
    y = rng.integers(0, 2, size=n).astype(float) if logistic else X @ rng.normal(size=d) + rng.normal(size=n)
    w0, b0, lr = rng.normal(size=d), 0.3, 0.2
    fn = logistic_loss_and_grad if logistic else linear_mse_loss_and_grad
    w, b, losses = sgd_epoch(w0, b0, X, y, fn, lr, batch_size, np.random.default_rng(5))
    assert len(losses) == -(-n // batch_size)

    wt = torch.tensor(w0, requires_grad=True)
    bt = torch.tensor(b0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([wt, bt], lr=lr)
    loss_fn = F.binary_cross_entropy_with_logits if logistic else _half_mse
    perm = np.random.default_rng(5).permutation(n)
    t_losses = []
    for start in range(0, n, batch_size):
        idx = perm[start : start + batch_size]
        opt.zero_grad()
        loss = loss_fn(torch.tensor(X[idx]) @ wt + bt, torch.tensor(y[idx]))
        loss.backward()
        opt.step()
        t_losses.append(loss.item())
    np.testing.assert_allclose(losses, t_losses, rtol=1e-10)
    np.testing.assert_allclose(w, wt.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert b == pytest.approx(bt.item(), rel=1e-10, abs=1e-12)


def test_sgd_epoch_does_not_modify_w():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(10, 2)), rng.normal(size=10)
    w0 = np.array([1.0, -1.0])
    w, b, losses = sgd_epoch(w0, 0.0, X, y, linear_mse_loss_and_grad, 0.1, 3, None)
    np.testing.assert_array_equal(w0, [1.0, -1.0])
    assert not np.array_equal(w, w0)
    # full batch, no shuffle: one plain gradient-descent step
    w_gd, b_gd, losses = sgd_epoch(w0, 0.0, X, y, linear_mse_loss_and_grad, 0.1, 10, None)
    np.testing.assert_allclose(w_gd, w0 - 0.1 * (X.T @ (X @ w0 - y)) / 10, rtol=1e-12)
    assert b_gd == pytest.approx(-0.1 * np.mean(X @ w0 - y), rel=1e-12)
    assert len(losses) == 1
