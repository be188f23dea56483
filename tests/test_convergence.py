"""course_lib.solutions.convergence against rates measured on torch.optim.SGD runs and the iteration matrix."""

import math

import numpy as np
import pytest
import torch

from course_lib.solutions.convergence import gd_steps_per_decade, heavy_ball_optimal, heavy_ball_steps_per_decade


def measured_steps_per_decade(lam_min, lam_max, lr, momentum, n=4000):
    """Run torch.optim.SGD on 0.5 (lam_min w1^2 + lam_max w2^2) and measure the decay per step of the
    error over the second half of the run. The state (w and the buffer) is rescaled now and then, which a
    linear recursion allows, so that nothing underflows."""
    lams = torch.tensor([lam_min, lam_max], dtype=torch.float64)
    p = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum)
    log_scale, marks = 0.0, {}
    for t in range(1, n + 1):
        p.grad = lams * p.detach()
        opt.step()
        if t % 50 == 0:
            buf = opt.state[p].get("momentum_buffer")
            size = float(torch.sqrt(p.detach().square().sum() + (0 if buf is None else buf.square().sum())))
            with torch.no_grad():
                p /= size
                if buf is not None:
                    buf /= size
            log_scale += math.log(size)
            marks[t] = log_scale
    log_rate = (marks[n] - marks[n // 2]) / (n - n // 2)
    return math.log(10) / -log_rate


@pytest.mark.parametrize("kappa", [2.0, 10.0, 100.0])
def test_heavy_ball_matches_a_run_with_the_optimal_pair(kappa):
    lam_min, lam_max = 0.5, 0.5 * kappa
    lr, momentum = heavy_ball_optimal(lam_min, lam_max)
    got = heavy_ball_steps_per_decade(kappa)
    assert isinstance(got, float)
    # the double roots at both ends add a factor t to the error, i.e. ln 2 / 2000 per step to the measured log rate
    assert got == pytest.approx(measured_steps_per_decade(lam_min, lam_max, lr, momentum), rel=3e-3)


@pytest.mark.parametrize("kappa", [2.0, 10.0, 100.0])
def test_gd_matches_a_run_with_the_best_learning_rate(kappa):
    lam_min, lam_max = 2.0, 2.0 * kappa
    measured = measured_steps_per_decade(lam_min, lam_max, 2 / (lam_min + lam_max), 0.0, n=2000)
    assert gd_steps_per_decade(kappa) == pytest.approx(measured, rel=1e-6)


@pytest.mark.parametrize("kappa", [1.5, 7.0, 1e4])
def test_the_optimal_pair_is_the_fastest_and_its_rate_is_the_spectral_radius(kappa):
    # the largest |eigenvalue| of M_lambda over many curvatures in [1, kappa], at the optimum and nearby
    def rate(lr, beta):
        worst = 0.0
        for lam in np.linspace(1.0, kappa, 201):
            M = np.array([[1 + beta - lr * lam, -beta], [1.0, 0.0]])
            worst = max(worst, np.abs(np.linalg.eigvals(M)).max())
        return worst

    lr, beta = heavy_ball_optimal(1.0, kappa)
    best = rate(lr, beta)
    # (eigvals of the double roots at the two ends are only good to about sqrt(machine epsilon))
    assert math.log(10) / -math.log(best) == pytest.approx(heavy_ball_steps_per_decade(kappa), rel=1e-5)
    for dlr, dbeta in [(1.02, 1.0), (0.98, 1.0), (1.0, 1.02), (1.0, 0.98)]:
        assert rate(lr * dlr, min(beta * dbeta, 0.999)) > best - 1e-12


def test_edge_cases_and_growth():
    assert heavy_ball_steps_per_decade(1) == 0.0 and gd_steps_per_decade(1.0) == 0.0
    assert heavy_ball_optimal(3.0, 3.0) == pytest.approx((1 / 3, 0.0))
    # for large kappa: (ln 10 / 2) sqrt(kappa) against (ln 10 / 2) kappa
    assert heavy_ball_steps_per_decade(1e8) == pytest.approx(math.log(10) / 2 * 1e4, rel=1e-6)
    assert gd_steps_per_decade(1e8) == pytest.approx(math.log(10) / 2 * 1e8, rel=1e-6)
    assert heavy_ball_steps_per_decade(100) == pytest.approx(math.log(10) / math.log(11 / 9), rel=1e-12)


@pytest.mark.parametrize("bad, error", [(0.5, ValueError), (-3.0, ValueError), (float("nan"), ValueError),
                                        (float("inf"), ValueError), ("ten", TypeError)])
def test_bad_kappa(bad, error):
    with pytest.raises(error, match="kappa"):
        heavy_ball_steps_per_decade(bad)
    with pytest.raises(error, match="kappa"):
        gd_steps_per_decade(bad)
