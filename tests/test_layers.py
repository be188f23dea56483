"""course_lib.solutions.layers against torch: F.batch_norm (running statistics included), F.softmax,
F.cross_entropy and autograd, plus a numerical-gradient check of batchnorm_backward."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.solutions.layers import (
    batchnorm_backward,
    batchnorm_backward_staged,
    batchnorm_forward,
    cross_entropy,
    diagnose_activations,
    initial_loss,
    softmax,
    softmax_cross_entropy,
)


def _torch_bn(x, gamma, beta, rm, rv, train, momentum, eps, dout):
    """Output, gradients and updated running stats from torch (the independent truth)."""
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    rmt, rvt = torch.tensor(rm), torch.tensor(rv)
    out = F.batch_norm(xt, rmt, rvt, gt, bt, training=train, momentum=momentum, eps=eps)
    (out * torch.tensor(dout)).sum().backward()
    return (out.detach().numpy(), xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy(), rmt.numpy(), rvt.numpy())


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("momentum,eps", [(0.1, 1e-5), (0.5, 1e-3), (1.0, 1e-5), (0.0, 1e-2)])
def test_batchnorm_matches_torch_over_steps(seed, momentum, eps):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 9)), int(rng.integers(1, 7))
    gamma, beta = rng.normal(size=d), rng.normal(size=d)
    state = {}
    rm, rv = np.zeros(d), np.ones(d)  # torch's fresh buffers
    for step in range(5):
        x = rng.normal(loc=3.0, scale=2.0, size=(n, d))
        dout = rng.normal(size=(n, d))
        out, cache = batchnorm_forward(x, gamma, beta, state, train=True, momentum=momentum, eps=eps)
        dx, dg, db = batchnorm_backward(dout, cache)
        t_out, t_dx, t_dg, t_db, rm, rv = _torch_bn(x, gamma, beta, rm, rv, True, momentum, eps, dout)
        np.testing.assert_allclose(out, t_out, rtol=1e-10, atol=1e-12, err_msg=f"out, step {step}")
        np.testing.assert_allclose(dx, t_dx, rtol=1e-8, atol=1e-10, err_msg=f"dx, step {step}")
        np.testing.assert_allclose(dg, t_dg, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(db, t_db, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(state["running_mean"], rm, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(state["running_var"], rv, rtol=1e-12, atol=1e-14)
    # evaluation mode with the running statistics accumulated above
    x = rng.normal(size=(n + 1, d))
    dout = rng.normal(size=(n + 1, d))
    rm_before, rv_before = state["running_mean"].copy(), state["running_var"].copy()
    out, cache = batchnorm_forward(x, gamma, beta, state, train=False, momentum=momentum, eps=eps)
    dx, dg, db = batchnorm_backward(dout, cache)
    t_out, t_dx, t_dg, t_db, rm2, rv2 = _torch_bn(x, gamma, beta, rm, rv, False, momentum, eps, dout)
    np.testing.assert_allclose(out, t_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, t_dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dg, t_dg, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, t_db, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(state["running_mean"], rm_before)
    np.testing.assert_array_equal(state["running_var"], rv_before)


def test_batchnorm_matches_nn_module():
    """Same numbers as nn.BatchNorm1d used the ordinary way (train then eval)."""
    rng = np.random.default_rng(0)
    bn = torch.nn.BatchNorm1d(4, momentum=0.2).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(rng.normal(size=4)))
        bn.bias.copy_(torch.tensor(rng.normal(size=4)))
    gamma, beta = bn.weight.detach().numpy().copy(), bn.bias.detach().numpy().copy()
    state = {}
    for _ in range(7):
        x = rng.normal(size=(10, 4)) * 5 - 2
        ours, _ = batchnorm_forward(x, gamma, beta, state, momentum=0.2)
        theirs = bn.train()(torch.tensor(x)).detach().numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    x = rng.normal(size=(3, 4))
    ours, _ = batchnorm_forward(x, gamma, beta, state, train=False, momentum=0.2)
    np.testing.assert_allclose(ours, bn.eval()(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(state["running_var"], bn.running_var.numpy(), rtol=1e-12)


def test_batchnorm_eval_with_empty_state_is_torch_fresh_buffers():
    rng = np.random.default_rng(1)
    x, gamma, beta = rng.normal(size=(1, 3)), rng.normal(size=3), rng.normal(size=3)
    out, _ = batchnorm_forward(x, gamma, beta, {}, train=False)
    np.testing.assert_allclose(out, gamma * x / np.sqrt(1 + 1e-5) + beta, rtol=1e-12)


def _numerical_grad(f, a, h=1e-6):
    g = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        old = a[idx]
        a[idx] = old + h
        fp = f()
        a[idx] = old - h
        fm = f()
        a[idx] = old
        g[idx] = (fp - fm) / (2 * h)
    return g


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_backward_numerical_gradient(train):
    rng = np.random.default_rng(3)
    n, d = 5, 3
    x, gamma, beta = rng.normal(size=(n, d)), rng.normal(size=d), rng.normal(size=d)
    dout = rng.normal(size=(n, d))
    frozen = {"running_mean": rng.normal(size=d), "running_var": rng.uniform(0.5, 2, size=d)}

    def loss():
        out, _ = batchnorm_forward(x, gamma, beta, dict(frozen), train=train)
        return float((out * dout).sum())

    _, cache = batchnorm_forward(x, gamma, beta, dict(frozen), train=train)
    dx, dg, db = batchnorm_backward(dout, cache)
    np.testing.assert_allclose(dx, _numerical_grad(loss, x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dg, _numerical_grad(loss, gamma), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(db, _numerical_grad(loss, beta), rtol=1e-5, atol=1e-7)


def test_batchnorm_torch_inputs_and_no_in_place_change():
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.normal(size=(6, 3)), dtype=torch.float32)
    gamma, beta = torch.ones(3, dtype=torch.float32), torch.zeros(3, dtype=torch.float32)
    x0 = x.clone()
    state = {}
    out, cache = batchnorm_forward(x, gamma, beta, state)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert isinstance(state["running_mean"], torch.Tensor)
    torch.testing.assert_close(x, x0)
    rm, rv = torch.zeros(3), torch.ones(3)
    expected = F.batch_norm(x, rm, rv, gamma, beta, training=True)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(state["running_mean"], rm)
    torch.testing.assert_close(state["running_var"], rv)
    dx, dg, db = batchnorm_backward(torch.ones_like(x), cache)
    assert isinstance(dx, torch.Tensor)
    # the old running arrays are replaced, never written into
    old_mean = state["running_mean"]
    old_copy = old_mean.clone()
    batchnorm_forward(x + 1, gamma, beta, state)
    torch.testing.assert_close(old_mean, old_copy)


def test_batchnorm_bad_input():
    x, g, b = np.zeros((4, 3)), np.ones(3), np.zeros(3)
    with pytest.raises(ValueError, match="more than 1 value"):
        batchnorm_forward(np.zeros((1, 3)), g, b, {}, train=True)
    with pytest.raises(ValueError, match="shape"):
        batchnorm_forward(np.zeros((4, 3, 2)), g, b, {})
    with pytest.raises(ValueError, match="gamma"):
        batchnorm_forward(x, np.ones(2), b, {})
    with pytest.raises(ValueError, match="running_var"):
        batchnorm_forward(x, g, b, {"running_mean": np.zeros(3)})
    with pytest.raises(ValueError, match="momentum"):
        batchnorm_forward(x, g, b, {}, momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        batchnorm_forward(x, g, b, {}, eps=0.0)
    with pytest.raises(TypeError, match="dict"):
        batchnorm_forward(x, g, b, None)
    _, cache = batchnorm_forward(x, g, b, {})
    with pytest.raises(ValueError, match="dout"):
        batchnorm_backward(np.zeros((3, 3)), cache)


# --------------------------------------------------------------------------------------
# softmax / cross-entropy
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(8))
def test_softmax_and_cross_entropy_match_torch(seed):
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(1, 12)), int(rng.integers(2, 9))
    z = rng.normal(scale=float(rng.choice([0.1, 3.0, 50.0])), size=(n, c))
    y = rng.integers(0, c, size=n)
    zt = torch.tensor(z, requires_grad=True)
    t_loss = F.cross_entropy(zt, torch.tensor(y))
    t_loss.backward()
    np.testing.assert_allclose(softmax(z), F.softmax(torch.tensor(z), dim=1).numpy(), rtol=1e-10, atol=1e-15)
    assert isinstance(cross_entropy(z, y), float)
    np.testing.assert_allclose(cross_entropy(z, y), t_loss.item(), rtol=1e-10, atol=1e-12)
    loss, dz = softmax_cross_entropy(z, y)
    np.testing.assert_allclose(loss, t_loss.item(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("scale", [1e3, 1e4])
def test_stable_for_huge_logits(scale):
    z = np.array([[scale, -scale, 0.0], [-scale, -scale, -scale], [scale, scale, 0.5]])
    y = np.array([1, 0, 2])
    p = softmax(z)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p, F.softmax(torch.tensor(z), dim=1).numpy(), atol=1e-12)
    zt = torch.tensor(z, requires_grad=True)
    t_loss = F.cross_entropy(zt, torch.tensor(y))
    t_loss.backward()
    loss, dz = softmax_cross_entropy(z, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dz))
    np.testing.assert_allclose(loss, t_loss.item(), rtol=1e-12)
    np.testing.assert_allclose(cross_entropy(z, y), t_loss.item(), rtol=1e-12)
    np.testing.assert_allclose(dz, zt.grad.numpy(), atol=1e-12)


def test_initial_loss_is_ln_c():
    z = np.zeros((5, 10))
    assert cross_entropy(z, np.arange(5)) == pytest.approx(np.log(10), rel=1e-12)


def test_softmax_cross_entropy_torch_inputs():
    rng = np.random.default_rng(7)
    z = torch.tensor(rng.normal(size=(4, 3)), dtype=torch.float32)
    y = torch.tensor([0, 2, 1, 2])
    z0 = z.clone()
    loss, dz = softmax_cross_entropy(z, y)
    assert isinstance(dz, torch.Tensor) and dz.dtype == torch.float32
    zt = z.clone().requires_grad_(True)
    F.cross_entropy(zt, y).backward()
    torch.testing.assert_close(dz, zt.grad)
    assert loss == pytest.approx(F.cross_entropy(z, y).item(), rel=1e-6)
    torch.testing.assert_close(softmax(z), F.softmax(z, dim=1))
    torch.testing.assert_close(z, z0)
    # a 1-D vector is one row
    np.testing.assert_allclose(softmax(np.array([1.0, 2.0])), softmax(np.array([[1.0, 2.0]]))[0])


def test_cross_entropy_bad_labels():
    z = np.zeros((3, 4))
    with pytest.raises(TypeError, match="integer"):
        cross_entropy(z, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="0..3"):
        cross_entropy(z, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="shape"):
        cross_entropy(z, np.array([0, 1]))
    with pytest.raises(ValueError, match="shape"):
        softmax_cross_entropy(np.zeros(4), np.array([0]))


def test_batchnorm_autograd_through_torch_inputs():
    """With tensors that require grad, autograd through batchnorm_forward agrees with
    batchnorm_backward, and the running statistics stay out of the graph."""
    rng = np.random.default_rng(8)
    x = torch.tensor(rng.normal(size=(5, 3)), requires_grad=True)
    gamma = torch.tensor(rng.normal(size=3), requires_grad=True)
    beta = torch.tensor(rng.normal(size=3), requires_grad=True)
    dout = torch.tensor(rng.normal(size=(5, 3)))
    state = {}
    out, cache = batchnorm_forward(x, gamma, beta, state)
    (out * dout).sum().backward()
    dx, dg, db = batchnorm_backward(dout, cache)
    torch.testing.assert_close(dx.detach(), x.grad)
    torch.testing.assert_close(dg.detach(), gamma.grad)
    torch.testing.assert_close(db.detach(), beta.grad)
    assert not state["running_mean"].requires_grad and not state["running_var"].requires_grad


def test_batchnorm_state_filled_in_eval_and_untouched_on_error():
    state = {}
    batchnorm_forward(np.zeros((2, 3)), np.ones(3), np.zeros(3), state, train=False)
    np.testing.assert_array_equal(state["running_mean"], np.zeros(3))
    np.testing.assert_array_equal(state["running_var"], np.ones(3))
    state = {}
    with pytest.raises(ValueError):
        batchnorm_forward(np.zeros((1, 3)), np.ones(3), np.zeros(3), state, train=True)
    assert state == {}


@pytest.mark.parametrize("seed", range(4))
def test_batchnorm_backward_staged_matches_autograd_at_every_node(seed):
    """Each node's gradient against torch's autograd through the same graph (retain_grad on mu, sigma^2,
    x_hat), and dx against autograd through F.batch_norm."""
    rng = np.random.default_rng(100 + seed)
    n, d = int(rng.integers(2, 12)), int(rng.integers(1, 6))
    eps = float(rng.choice([1e-5, 1e-2, 0.5]))
    x = rng.normal(loc=2.0, scale=3.0, size=(n, d))
    gamma, beta, dout = rng.normal(size=d), rng.normal(size=d), rng.normal(size=(n, d))
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    mu = xt.mean(0)
    var = ((xt - mu) ** 2).mean(0)
    x_hat = (xt - mu) / torch.sqrt(var + eps)
    for node in (mu, var, x_hat):
        node.retain_grad()
    (gt * x_hat + bt).backward(torch.tensor(dout))
    xb = torch.tensor(x, requires_grad=True)
    F.batch_norm(xb, None, None, torch.tensor(gamma), torch.tensor(beta), training=True, eps=eps).backward(torch.tensor(dout))
    before = x.copy(), dout.copy()
    got = batchnorm_backward_staged(dout, x, gamma, eps=eps)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(dout, before[1])
    want = {"dbeta": bt.grad, "dgamma": gt.grad, "dx_hat": x_hat.grad, "dvar": var.grad, "dmu": mu.grad, "dx": xb.grad}
    assert sorted(got) == sorted(want)
    for key, truth in want.items():
        np.testing.assert_allclose(got[key], truth.numpy(), rtol=1e-8, atol=1e-10, err_msg=key)
    # the compact backward gives the same dx
    _, cache = batchnorm_forward(x, gamma, beta, {}, eps=eps)
    np.testing.assert_allclose(batchnorm_backward(dout, cache)[0], got["dx"], rtol=1e-8, atol=1e-10)
    # tensors in, tensors out
    tgot = batchnorm_backward_staged(torch.tensor(dout), torch.tensor(x), torch.tensor(gamma), eps=eps)
    torch.testing.assert_close(tgot["dx"], xb.grad)


def test_batchnorm_backward_staged_bad_input():
    with pytest.raises(ValueError, match="N >= 2"):
        batchnorm_backward_staged(np.ones((1, 3)), np.ones((1, 3)), np.ones(3))
    with pytest.raises(ValueError, match="dout"):
        batchnorm_backward_staged(np.ones((2, 2)), np.ones((2, 3)), np.ones(3))


@pytest.mark.parametrize("num_classes", [1, 2, 3, 10, 57, 1000])
def test_initial_loss_matches_a_simulated_untrained_classifier(num_classes):
    """F.cross_entropy of many examples with random labels and tiny logits (small random weights)."""
    g = torch.Generator().manual_seed(num_classes)
    logits = 1e-6 * torch.randn(2000, num_classes, generator=g, dtype=torch.float64)
    simulated = F.cross_entropy(logits, torch.randint(0, num_classes, (2000,), generator=g)).item()
    got = initial_loss(num_classes)
    assert isinstance(got, float)
    assert got == pytest.approx(simulated, rel=1e-5, abs=1e-8)
    with pytest.raises(ValueError):
        initial_loss(0)


@pytest.mark.parametrize("batchnorm,factor,label", [(False, 0.1, "vanishing"), (False, 0.5, "vanishing"), (False, 3.0, "saturating"),
                                                     (False, 10.0, "saturating"), (True, 0.1, "normalized"), (True, 10.0, "normalized")])
@pytest.mark.parametrize("depth,width", [(3, 32), (8, 128)])
def test_diagnose_activations_recognizes_how_the_network_was_built(batchnorm, factor, label, depth, width):
    """The truth is the construction: a tanh MLP of course_lib.models, Glorot's init times factor, on digits."""
    from course_lib import datasets, models

    torch.manual_seed(depth)
    net = models.MLP(64, hidden=(width,) * depth, num_classes=10, batchnorm=batchnorm, activation="tanh")
    with torch.no_grad():
        for layer in net.features:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.mul_(factor)
    h, outs = torch.tensor(datasets.load_digits_split()[0][:256], dtype=torch.float32), []
    with torch.no_grad():
        for layer in net.features:
            h = layer(h)
            if isinstance(layer, torch.nn.Tanh):
                outs.append(h.numpy().copy())
    assert diagnose_activations(outs) == label
    assert diagnose_activations([torch.tensor(a) for a in outs]) == label
