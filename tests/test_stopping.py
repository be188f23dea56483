"""course_lib.solutions.stopping: hand-built loss curves with known answers, random curves against a
plain loop written here, and reduce_on_plateau against torch's ReduceLROnPlateau."""

import math

import numpy as np
import pytest
import torch

from course_lib.solutions.stopping import EarlyStopping, reduce_on_plateau, should_stop


def _first_stop(losses, patience, min_delta=0.0):
    """Index of the first prefix for which should_stop says True, or None."""
    for t in range(len(losses)):
        if should_stop(losses[: t + 1], patience, min_delta):
            return t
    return None


@pytest.mark.parametrize("k", [0, 1, 4])
@pytest.mark.parametrize("patience", [1, 2, 5])
def test_decrease_then_flat(k, patience):
    losses = [10.0 - i for i in range(k + 1)] + [10.0 - k] * (patience + 3)
    assert _first_stop(losses, patience) == k + patience


def test_equal_loss_is_not_an_improvement():
    assert should_stop([1.0, 1.0], patience=1)
    assert not should_stop([1.0, 0.999], patience=1)
    assert should_stop([3.0, 2.0, 2.0, 2.0], patience=2)
    assert not should_stop([3.0, 2.0, 2.0, 1.0], patience=2)


def test_min_delta():
    # every loss after the first stays above 1.0 - 0.1: none counts with min_delta = 0.1
    losses = [1.0, 0.95, 0.92, 0.91]
    assert _first_stop(losses, 3, min_delta=0.1) == 3
    assert _first_stop(losses, 3, min_delta=0.0) is None
    # a drop of exactly min_delta is not enough (strict); 0.3 drops are
    assert should_stop([1.0, 0.75], patience=1, min_delta=0.25)
    assert not should_stop([1.0, 0.7], patience=1, min_delta=0.25)
    # the margin is measured from the best, not from the previous loss
    # (0.89 is only 0.02 below 0.91 but 0.11 below the best, 1.0: an improvement)
    assert not should_stop([1.0, 0.95, 0.91, 0.89], 3, min_delta=0.1)
    assert should_stop([1.0, 0.95, 0.91, 0.905], 3, min_delta=0.1)


def test_empty_and_recovering():
    assert should_stop([], patience=1) is False
    assert not should_stop([5.0, 6.0, 7.0, 4.0], patience=3)  # improved on the last loss
    assert should_stop([5.0, 6.0, 7.0, 8.0], patience=3)
    assert should_stop([float("nan")] * 2, patience=2)  # NaN never improves


def _reference_loop(losses, patience, min_delta):
    best, wait, out = math.inf, 0, []
    for x in losses:
        if x < best - min_delta:
            best, wait = x, 0
        else:
            wait += 1
        out.append(wait >= patience)
    return out


@pytest.mark.parametrize("seed", range(20))
def test_random_curves_against_a_plain_loop(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    # a noisy decreasing curve, rounded so that ties happen
    losses = np.round(np.exp(-np.arange(n) / 20) + 0.05 * rng.normal(size=n), 2).tolist()
    patience = int(rng.integers(1, 8))
    min_delta = float(rng.choice([0.0, 0.01, 0.05]))
    expected = _reference_loop(losses, patience, min_delta)
    rule = EarlyStopping(patience, min_delta)
    for t, x in enumerate(losses):
        assert should_stop(losses[: t + 1], patience, min_delta) == expected[t]
        assert rule.step(x) == expected[t]
    # best_step: the index of the last loss that counted as an improvement
    best, best_i = math.inf, None
    for i, x in enumerate(losses):
        if x < best - min_delta:
            best, best_i = x, i
    assert rule.best == best and rule.best_step == best_i


def test_early_stopping_attributes():
    rule = EarlyStopping(patience=2)
    assert rule.best == math.inf and rule.best_step is None
    assert [rule.step(x) for x in [3.0, 1.0, 2.0, 1.0, 0.5, 0.5, 0.6]] == [False, False, False, True, False, False, True]
    assert rule.best == 0.5 and rule.best_step == 4


def test_bad_arguments():
    with pytest.raises(ValueError, match="patience"):
        should_stop([1.0], patience=0)
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(2, min_delta=-1.0)
    with pytest.raises(ValueError, match="factor"):
        reduce_on_plateau([1.0], 0.1, factor=1.0)
    with pytest.raises(ValueError, match="threshold_mode"):
        reduce_on_plateau([1.0], 0.1, threshold_mode="relative")


def _torch_plateau(losses, lr0, **kw):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", **kw)
    lrs = []
    for x in losses:
        sched.step(x)
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


SETTINGS = [
    {},
    {"patience": 0},
    {"patience": 2, "factor": 0.5},
    {"patience": 3, "factor": 0.5, "cooldown": 2},
    {"patience": 1, "factor": 0.1, "min_lr": 1e-3},
    {"patience": 2, "threshold": 0.05, "threshold_mode": "abs"},
    {"patience": 2, "threshold": 0.1, "threshold_mode": "rel", "cooldown": 1, "factor": 0.3},
    {"patience": 1, "factor": 0.5, "min_lr": 0.0999, "eps": 1e-8},
    {"patience": 1, "factor": 0.5, "min_lr": 0.1 - 5e-9},  # a reduction smaller than eps is skipped
]


@pytest.mark.parametrize("kw", SETTINGS)
@pytest.mark.parametrize("seed", range(4))
def test_reduce_on_plateau_matches_torch(kw, seed):
    rng = np.random.default_rng(seed)
    n = 80
    losses = np.round(1.0 / (1 + np.arange(n) / 10) + 0.03 * rng.normal(size=n), 2)
    if seed == 3:
        losses = losses - 2.0  # negative losses: the "rel" rule behaves oddly, but as in torch
    losses = losses.tolist()
    ours = reduce_on_plateau(losses, 0.1, **kw)
    theirs = _torch_plateau(losses, 0.1, **kw)
    assert len(ours) == n
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


def test_reduce_on_plateau_flat_run_by_hand():
    # first loss sets best; then flat: bad = 1, 2, 3 -> reduced when bad > patience = 2
    lrs = reduce_on_plateau([1.0] * 8, 1.0, factor=0.5, patience=2)
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert reduce_on_plateau([], 1.0) == []
