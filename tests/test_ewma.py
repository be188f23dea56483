"""course_lib.solutions.ewma against sums written out independently, known sequences, and torch's Adam state."""

import numpy as np
import pytest
import torch

from course_lib.solutions.ewma import ewma, ewma_weights

BETAS = [0.0, 0.5, 0.9, 0.98]


def ewma_by_sums(x, beta, corrected):
    """v_t as the explicit weighted sum over x_1..x_t (O(n^2), no recursion)."""
    out = []
    for t in range(1, len(x) + 1):
        weights = [(1 - beta) * beta ** (t - k) for k in range(1, t + 1)]
        total = sum(w * xk for w, xk in zip(weights, x[:t]))
        out.append(total / sum(weights) if corrected else total)
    return np.array(out)


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("corrected", [False, True])
def test_matches_explicit_weighted_sums(beta, corrected):
    rng = np.random.default_rng(int(beta * 100) + corrected)
    x = rng.normal(loc=3.0, size=80)
    got = ewma(x, beta, bias_correction=corrected)
    assert isinstance(got, np.ndarray) and got.shape == x.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, ewma_by_sums(list(x), beta, corrected), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("beta", [0.5, 0.9, 0.99])
def test_constant_sequence(beta):
    # x_t = c: v_t = c (1 - beta^t) without correction, exactly c with it
    c, n = 2.5, 300
    t = np.arange(1, n + 1)
    np.testing.assert_allclose(ewma(np.full(n, c), beta), c * (1 - beta**t), rtol=1e-12)
    np.testing.assert_allclose(ewma(np.full(n, c), beta, bias_correction=True), np.full(n, c), rtol=1e-12)


def test_first_values_by_hand():
    # beta = 0.9, x = [10, 20]: v1 = 1, v2 = 0.9 + 2 = 2.9; corrected: 1 / 0.1 = 10, 2.9 / 0.19
    np.testing.assert_allclose(ewma([10.0, 20.0], 0.9), [1.0, 2.9], rtol=1e-14)
    np.testing.assert_allclose(ewma([10.0, 20.0], 0.9, bias_correction=True), [10.0, 2.9 / 0.19], rtol=1e-14)


def test_beta_zero_returns_the_sequence():
    x = np.array([1.0, -2.0, 5.0])
    np.testing.assert_array_equal(ewma(x, 0.0), x)
    np.testing.assert_array_equal(ewma(x, 0.0, bias_correction=True), x)


@pytest.mark.parametrize("beta1", [0.9, 0.5])
def test_same_as_adams_first_moment(beta1):
    # torch.optim.Adam with lr=0 keeps exp_avg = the EWMA of the gradients it is fed
    rng = np.random.default_rng(1)
    x = rng.normal(size=40)
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.0, betas=(beta1, 0.999))
    history = []
    for xt in x:
        p.grad = torch.tensor([xt], dtype=torch.float64)
        opt.step()
        history.append(opt.state[p]["exp_avg"].item())
    np.testing.assert_allclose(ewma(x, beta1), history, rtol=1e-12, atol=1e-15)


def test_inputs_list_numpy_torch():
    x = [1.0, 4.0, 2.0, 8.0]
    ref = ewma(np.array(x), 0.7, bias_correction=True)
    from_list = ewma(x, 0.7, bias_correction=True)
    assert isinstance(from_list, np.ndarray)
    np.testing.assert_array_equal(from_list, ref)

    t64 = ewma(torch.tensor(x, dtype=torch.float64), 0.7, bias_correction=True)
    assert isinstance(t64, torch.Tensor) and t64.dtype == torch.float64 and t64.shape == (4,)
    np.testing.assert_allclose(t64.numpy(), ref, rtol=1e-15)

    t32 = ewma(torch.tensor(x, dtype=torch.float32), 0.7)
    assert t32.dtype == torch.float32
    np.testing.assert_allclose(t32.numpy(), ewma(np.array(x), 0.7), rtol=1e-6)

    ints = ewma(np.array([1, 2, 3]), 0.5)
    assert ints.dtype == np.float64
    np.testing.assert_allclose(ints, [0.5, 1.25, 2.125])
    assert ewma(np.array([1, 2, 3], dtype=np.float32), 0.5).dtype == np.float32
    assert ewma(torch.tensor([1, 2, 3]), 0.5).dtype == torch.get_default_dtype()


def test_input_not_modified_and_empty_input():
    x = np.array([3.0, 1.0, 4.0])
    ewma(x, 0.9, bias_correction=True)
    np.testing.assert_array_equal(x, [3.0, 1.0, 4.0])
    assert ewma(np.array([]), 0.9).shape == (0,)
    assert ewma([], 0.9, bias_correction=True).shape == (0,)


# ---------------------------------------------------------------------- weights


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("t", [1, 2, 10, 57])
def test_weights_closed_form(beta, t):
    expected = np.array([(1 - beta) * beta ** (t - k) for k in range(1, t + 1)])
    got = ewma_weights(t, beta)
    assert got.shape == (t,)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-300)
    # uncorrected weights sum to 1 - beta^t; corrected ones to exactly 1
    assert got.sum() == pytest.approx(1 - beta**t, rel=1e-12)
    corrected = ewma_weights(t, beta, bias_correction=True)
    assert corrected.sum() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(corrected, expected / expected.sum(), rtol=1e-12)


@pytest.mark.parametrize("corrected", [False, True])
def test_weights_reproduce_the_average(corrected):
    rng = np.random.default_rng(3)
    x = rng.normal(size=25)
    v = ewma(x, 0.8, bias_correction=corrected)
    for t in (1, 5, 25):
        assert ewma_weights(t, 0.8, bias_correction=corrected) @ x[:t] == pytest.approx(v[t - 1], rel=1e-12)


def test_weights_newest_is_largest_and_empty_for_t0():
    w = ewma_weights(6, 0.9)
    assert w[-1] == pytest.approx(0.1) and np.all(np.diff(w) > 0)
    assert ewma_weights(0, 0.9).shape == (0,)
    assert ewma_weights(0, 0.9, bias_correction=True).shape == (0,)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: ewma([1.0, 2.0], 1.0), ValueError, "beta"),
        (lambda: ewma([1.0, 2.0], -0.1), ValueError, "beta"),
        (lambda: ewma(np.ones((3, 2)), 0.9), ValueError, "1-D"),
        (lambda: ewma(5.0, 0.9), ValueError, "1-D"),
        (lambda: ewma_weights(-1, 0.9), ValueError, "t must be >= 0"),
        (lambda: ewma_weights(2.5, 0.9), TypeError, "integer"),
        (lambda: ewma_weights(3, 1.5), ValueError, "beta"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------- lag on a ramp


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.6, 0.9, 0.97])
@pytest.mark.parametrize("slope", [1.0, -2.5])
def test_lag_measured_on_a_ramp(beta, slope):
    # Truth by simulation: run the recursion on a long ramp and see how far behind the ramp it ends.
    from course_lib.solutions.ewma import ewma_lag

    n = 5000
    ramp = slope * np.arange(1, n + 1, dtype=float)
    v = 0.0
    for x_t in ramp:
        v = beta * v + (1 - beta) * x_t
    measured = (ramp[-1] - v) / slope
    assert isinstance(ewma_lag(beta), float)
    assert ewma_lag(beta) == pytest.approx(measured, rel=1e-9, abs=1e-12)


def test_lag_is_the_mean_age_of_the_weights():
    from course_lib.solutions.ewma import ewma_lag

    w = ewma_weights(4000, 0.95)[::-1]          # newest first: age 0, 1, 2, ...
    assert ewma_lag(0.95) == pytest.approx(np.sum(np.arange(4000) * w), rel=1e-9)
    assert ewma_lag(0.9) == pytest.approx(9.0, rel=1e-14)


def test_lag_bad_beta():
    from course_lib.solutions.ewma import ewma_lag

    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="beta"):
            ewma_lag(bad)
