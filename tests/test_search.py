"""course_lib.solutions.search: ranges, the log-uniform law (KS statistic and per-decade counts, with a
check that the test rejects a plain uniform law), grids vs closed forms, determinism."""

import math

import numpy as np
import pytest

from course_lib.solutions.search import grid, log_uniform, random_search, sample


def _ks_uniform01(u):
    """Kolmogorov-Smirnov distance between the sample u and U(0, 1)."""
    u = np.sort(u)
    n = len(u)
    i = np.arange(1, n + 1)
    return max(np.max(i / n - u), np.max(u - (i - 1) / n))


@pytest.mark.parametrize("low,high", [(1e-5, 1e-1), (0.5, 2.0), (1.0, 1e6)])
def test_log_uniform_range_and_law(low, high):
    n = 20000
    x = log_uniform(np.random.default_rng(0), low, high, size=n)
    assert x.shape == (n,) and x.dtype == np.float64
    assert np.all((x >= low) & (x <= high))
    u = (np.log(x) - math.log(low)) / (math.log(high) - math.log(low))
    # 1.95 / sqrt(n) is the 0.1 % critical value of the KS distance
    assert _ks_uniform01(u) < 1.95 / math.sqrt(n)
    # the same test rejects samples that are uniform on [low, high] (it has power)
    v = np.random.default_rng(0).uniform(low, high, size=n)
    u_wrong = (np.log(v) - math.log(low)) / (math.log(high) - math.log(low))
    assert _ks_uniform01(u_wrong) > 1.95 / math.sqrt(n)


def test_each_decade_gets_the_same_share():
    n = 40000
    x = log_uniform(np.random.default_rng(1), 1e-5, 1e-1, size=n)
    counts = np.histogram(np.log10(x), bins=[-5, -4, -3, -2, -1])[0]
    sigma = math.sqrt(n * 0.25 * 0.75)
    assert np.all(np.abs(counts - n / 4) < 5 * sigma), counts


def test_log_uniform_scalar_shape_and_determinism():
    a = log_uniform(np.random.default_rng(7), 1e-3, 1.0)
    b = log_uniform(np.random.default_rng(7), 1e-3, 1.0)
    assert isinstance(a, float) and a == b and 1e-3 <= a <= 1.0
    assert log_uniform(np.random.default_rng(0), 1, 10, size=(2, 3)).shape == (2, 3)


def test_log_uniform_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="0 < low"):
        log_uniform(rng, 0.0, 1.0)
    with pytest.raises(ValueError, match="low < high"):
        log_uniform(rng, 1.0, 0.1)
    with pytest.raises(TypeError, match="Generator"):
        log_uniform(0, 1e-3, 1.0)


def test_grid():
    np.testing.assert_allclose(grid(1e-4, 1e-1, 4), [1e-4, 1e-3, 1e-2, 1e-1], rtol=1e-12)
    np.testing.assert_allclose(grid(1e-4, 1e-1, 7), np.geomspace(1e-4, 1e-1, 7), rtol=1e-12)
    np.testing.assert_allclose(grid(0.0, 1.0, 5, log=False), [0.0, 0.25, 0.5, 0.75, 1.0])
    g = grid(3e-5, 7e-2, 9)
    assert g[0] == 3e-5 and g[-1] == 7e-2  # exact end points
    np.testing.assert_allclose(np.diff(np.log(g)), np.log(7e-2 / 3e-5) / 8, rtol=1e-10)
    np.testing.assert_array_equal(grid(2.0, 5.0, 1), [2.0])
    with pytest.raises(ValueError, match="n >= 1"):
        grid(1e-3, 1.0, 0)
    with pytest.raises(ValueError, match="0 < low"):
        grid(-1.0, 1.0, 3)


SPACE = {
    "lr": ("log", 1e-4, 1e-1),
    "momentum": ("uniform", 0.8, 0.99),
    "batch_size": ("choice", [32, 64, 128]),
}


def test_random_search_ranges_types_and_order():
    calls = []

    def objective(p):
        calls.append(dict(p))
        return (math.log10(p["lr"]) + 2.5) ** 2 + p["momentum"]

    results = random_search(objective, SPACE, 300, np.random.default_rng(0))
    assert len(results) == 300 and len(calls) == 300
    for (params, score), called in zip(results, calls):
        assert params == called  # results in trial order
        assert set(params) == set(SPACE)
        assert 1e-4 <= params["lr"] <= 1e-1
        assert 0.8 <= params["momentum"] <= 0.99
        assert params["batch_size"] in (32, 64, 128) and isinstance(params["batch_size"], int)
        assert score == pytest.approx((math.log10(params["lr"]) + 2.5) ** 2 + params["momentum"])
    # every option is drawn with about the same frequency (300 trials, p = 1/3)
    counts = [sum(p["batch_size"] == b for p, _ in results) for b in (32, 64, 128)]
    assert all(abs(c - 100) < 5 * math.sqrt(300 * (1 / 3) * (2 / 3)) for c in counts), counts
    # the lr draws are log-uniform, the momentum draws uniform
    n = len(results)
    lr_u = np.array([(math.log(p["lr"]) - math.log(1e-4)) / math.log(1e3) for p, _ in results])
    mom_u = np.array([(p["momentum"] - 0.8) / 0.19 for p, _ in results])
    assert _ks_uniform01(lr_u) < 1.95 / math.sqrt(n)
    assert _ks_uniform01(mom_u) < 1.95 / math.sqrt(n)


def test_random_search_determinism():
    def f(p):
        return p["lr"] * p["momentum"]

    a = random_search(f, SPACE, 20, np.random.default_rng(123))
    b = random_search(f, SPACE, 20, np.random.default_rng(123))
    c = random_search(f, SPACE, 20, np.random.default_rng(124))
    assert a == b
    assert a != c
    # sample() draws one trial exactly as random_search does
    assert sample(SPACE, np.random.default_rng(123)) == a[0][0]
    assert random_search(f, SPACE, 0, np.random.default_rng(0)) == []


def test_random_search_bad_space():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="valid spec"):
        random_search(lambda p: 0.0, {"lr": ("loguniform", 1e-4, 1e-1)}, 3, rng)
    with pytest.raises(ValueError, match="valid spec"):
        random_search(lambda p: 0.0, {"bs": ("choice", [])}, 3, rng)
    with pytest.raises(ValueError, match="0 < low"):
        random_search(lambda p: 0.0, {"lr": ("log", 0.0, 1.0)}, 3, rng)
    with pytest.raises(ValueError, match="n_trials"):
        random_search(lambda p: 0.0, SPACE, -1, rng)


# diagnose_lr: the truth is the rate each run was trained at, relative to the stable limit 2 / lambda_max
# of its loss (notebook 01), not the rule itself: histories come from real torch.optim.SGD runs.

def _sgd_run(factor, seed, model="linear", steps=60, n=128, d=4, width=8, scale=3.0, noise=0.5, batch_size=None):
    import torch

    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen)
    y = X @ (scale * torch.randn(d, 1, generator=gen)) + noise * torch.randn(n, 1, generator=gen)
    shapes = [(d, 1), (1,)] if model == "linear" else [(d, width), (width,), (width, 1), (1,)]
    params = [(0.5 * torch.randn(s, generator=gen)).requires_grad_() for s in shapes]

    def loss(ps, rows=slice(None)):
        h = X[rows]
        for k in range(0, len(ps) - 2, 2):
            h = torch.tanh(h @ ps[k] + ps[k + 1])
        return ((h @ ps[-2] + ps[-1] - y[rows]) ** 2).mean()

    sizes = [p.numel() for p in params]
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    hess = torch.autograd.functional.hessian(lambda v: loss([u.reshape(s) for u, s in zip(v.split(sizes), shapes)]), flat)
    opt = torch.optim.SGD(params, lr=factor / float(torch.linalg.eigvalsh(hess.double()).max()))
    order = torch.Generator().manual_seed(seed + 1)
    losses = []
    for _ in range(steps):
        with torch.no_grad():
            losses.append(float(loss(params)))
        opt.zero_grad()
        loss(params, torch.randint(n, (batch_size,), generator=order) if batch_size else slice(None)).backward()
        opt.step()
    with torch.no_grad():
        losses.append(float(loss(params)))
    return losses


@pytest.mark.parametrize(
    "factor, seed, kwargs, label",
    [
        (0.005, 1, {}, "too low"),
        (0.01, 2, dict(steps=80, scale=0.05, noise=0.01), "too low"),    # tiny losses, most of them gone, still falling
        (0.003, 11, dict(model="mlp"), "too low"),
        (0.5, 3, {}, "good"),
        (0.4, 4, dict(noise=10.0), "good"),                               # levels off at a high noise floor
        (0.5, 12, dict(batch_size=32), "good"),
        (0.4, 13, dict(model="mlp", steps=80), "good"),
        (2.5, 5, {}, "too high"),                                         # grows, finite
        (60.0, 6, {}, "too high"),                                        # overflows to inf, then nan
        (50.0, 14, dict(model="mlp"), "too high"),
    ],
)
def test_diagnose_lr_on_real_runs(factor, seed, kwargs, label):
    from course_lib.solutions.search import diagnose_lr

    losses = _sgd_run(factor, seed, **kwargs)
    assert diagnose_lr(losses) == label
    assert diagnose_lr(np.array(losses)) == label


def test_diagnose_lr_made_up_histories_and_bad_input():
    from course_lib.solutions.search import LR_DIAGNOSES, diagnose_lr

    assert diagnose_lr([2.0, 2.0, 2.0, 2.0]) == "too high"            # no progress
    assert diagnose_lr([5.0, float("nan"), 1.0, 0.9, 0.89]) == "too high"
    assert diagnose_lr([1.0, 0.2, 0.19]) == "good"                    # 0.01 of a 0.81 decrease in the second half
    assert diagnose_lr([1.0, 0.5, 0.4]) == "too low"                  # 0.1 of 0.6
    assert set(LR_DIAGNOSES) == {"too high", "too low", "good"}
    with pytest.raises(ValueError, match="at least 3"):
        diagnose_lr([1.0, 0.5])
