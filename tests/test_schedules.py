"""course_lib.solutions.schedules against torch.optim.lr_scheduler over long runs, plus known values."""

import math

import pytest
import torch

from course_lib.solutions import schedules as S

LR_RTOL = 1e-10


def torch_lrs(make_scheduler, lr0, n_steps, momentum=0.9):
    """The lr torch uses for updates 0 .. n_steps-1 (read before each optimizer.step())."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr0, momentum=momentum)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(n_steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()  # no gradient: the parameter is skipped, the lr still advances below
        sched.step()
    return lrs


def assert_same_schedule(ours, theirs, what, rtol=LR_RTOL, atol=0.0):
    assert len(ours) == len(theirs)
    for t, (a, b) in enumerate(zip(ours, theirs)):
        assert type(a) is float, f"{what}: t={t} returned {type(a).__name__}, expected a Python float"
        assert math.isclose(a, b, rel_tol=rtol, abs_tol=atol), f"{what}: t={t}: ours {a!r} vs torch {b!r}"


@pytest.mark.parametrize("lr0, step_size, gamma", [(0.1, 30, 0.1), (1.0, 7, 0.5), (0.05, 1, 0.97), (0.3, 100, 0.2)])
def test_step_decay_matches_steplr(lr0, step_size, gamma):
    n = 400
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=step_size, gamma=gamma), lr0, n)
    ours = [S.step_decay(t, lr0, step_size, gamma) for t in range(n)]
    assert_same_schedule(ours, theirs, f"step_decay({lr0}, {step_size}, {gamma})")


@pytest.mark.parametrize("lr0, gamma", [(0.1, 0.99), (1.0, 0.9), (0.3, 0.999), (0.01, 1.0)])
def test_exponential_decay_matches_exponentiallr(lr0, gamma):
    n = 500
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=gamma), lr0, n)
    ours = [S.exponential_decay(t, lr0, gamma) for t in range(n)]
    assert_same_schedule(ours, theirs, f"exponential_decay({lr0}, {gamma})")


@pytest.mark.parametrize("lr0, k", [(0.1, 0.01), (1.0, 0.5), (0.2, 0.0), (0.05, 3.0)])
def test_inverse_time_decay_matches_lambdalr(lr0, k):
    n = 300
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1.0 / (1.0 + k * t)), lr0, n)
    ours = [S.inverse_time_decay(t, lr0, k) for t in range(n)]
    assert_same_schedule(ours, theirs, f"inverse_time_decay({lr0}, {k})")


@pytest.mark.parametrize("lr0, T_max, lr_min", [(0.1, 100, 0.0), (1.0, 37, 0.01), (0.05, 10, 1e-3), (0.5, 1, 0.1)])
def test_cosine_annealing_matches_cosineannealinglr_beyond_t_max(lr0, T_max, lr_min):
    n = max(400, 3 * T_max)  # well past T_max: the rate climbs back as in torch
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=T_max, eta_min=lr_min), lr0, n)
    ours = [S.cosine_annealing(t, lr0, T_max, lr_min) for t in range(n)]
    # torch multiplies the previous lr by a ratio of cosines; the tiny atol covers lr ~ 0 at T_max
    assert_same_schedule(ours, theirs, f"cosine_annealing({lr0}, {T_max}, {lr_min})", atol=1e-13 * lr0)


@pytest.mark.parametrize("T_mult", [1, 2, 3])
@pytest.mark.parametrize("lr0, T_0, lr_min", [(0.1, 10, 0.0), (1.0, 7, 0.05), (0.3, 1, 0.0)])
def test_cosine_warm_restarts_matches_torch(lr0, T_0, T_mult, lr_min):
    n = 600
    theirs = torch_lrs(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=T_0, T_mult=T_mult, eta_min=lr_min), lr0, n
    )
    ours = [S.cosine_warm_restarts(t, lr0, T_0, T_mult, lr_min) for t in range(n)]
    assert_same_schedule(ours, theirs, f"cosine_warm_restarts({lr0}, {T_0}, {T_mult}, {lr_min})")


@pytest.mark.parametrize(
    "base_lr, max_lr, step_size_up, mode",
    [(0.001, 0.1, 20, "triangular"), (0.01, 0.5, 7, "triangular2"), (0.0, 1.0, 1, "triangular"), (0.1, 0.2, 50, "triangular2")],
)
@pytest.mark.parametrize("cycle_momentum", [False, True])
def test_cyclic_matches_cycliclr(base_lr, max_lr, step_size_up, mode, cycle_momentum):
    n = 500
    theirs = torch_lrs(
        lambda o: torch.optim.lr_scheduler.CyclicLR(
            o, base_lr=base_lr, max_lr=max_lr, step_size_up=step_size_up, mode=mode, cycle_momentum=cycle_momentum
        ),
        0.123,  # CyclicLR overwrites the optimizer's lr with base_lr
        n,
    )
    ours = [S.cyclic(t, base_lr, max_lr, step_size_up, mode) for t in range(n)]
    assert_same_schedule(ours, theirs, f"cyclic({base_lr}, {max_lr}, {step_size_up}, {mode})", atol=1e-15)


@pytest.mark.parametrize("lr0, W", [(0.1, 1), (0.1, 2), (1.0, 5), (0.3, 100), (0.01, 7)])
def test_linear_warmup_matches_linearlr(lr0, W):
    n = 300
    theirs = torch_lrs(
        lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=1.0 / W, end_factor=1.0, total_iters=W - 1), lr0, n
    )
    ours = [S.linear_warmup(t, lr0, W) for t in range(n)]
    assert_same_schedule(ours, theirs, f"linear_warmup({lr0}, {W})")


# ---------------------------------------------------------------------- known values


def test_known_values():
    assert S.step_decay(29, 0.1, 30) == pytest.approx(0.1)
    assert S.step_decay(30, 0.1, 30) == pytest.approx(0.01)
    assert S.step_decay(65, 2.0, 30, gamma=0.5) == pytest.approx(0.5)
    assert S.exponential_decay(0, 0.5, 0.9) == 0.5
    assert S.exponential_decay(2, 0.5, 0.9) == pytest.approx(0.405)
    assert S.inverse_time_decay(10, 1.0, 0.1) == pytest.approx(0.5)
    # cosine: lr0 at 0, the midpoint at T_max/2, lr_min at T_max, lr0 again at 2 T_max
    assert S.cosine_annealing(0, 0.1, 50, 0.02) == pytest.approx(0.1)
    assert S.cosine_annealing(25, 0.1, 50, 0.02) == pytest.approx(0.06)
    assert S.cosine_annealing(50, 0.1, 50, 0.02) == pytest.approx(0.02)
    assert S.cosine_annealing(100, 0.1, 50, 0.02) == pytest.approx(0.1)
    # warm restarts, T_0 = 10, T_mult = 2: cycles [0, 10), [10, 30), [30, 70), [70, 150)
    for restart in (0, 10, 30, 70, 150):
        assert S.cosine_warm_restarts(restart, 0.1, 10, 2) == pytest.approx(0.1), restart
    assert S.cosine_warm_restarts(20, 0.1, 10, 2) == pytest.approx(0.05)  # middle of the 20-step cycle
    assert S.cosine_warm_restarts(50, 0.1, 10, 2, lr_min=0.02) == pytest.approx(0.06)  # middle of [30, 70)
    # cyclic: s = 10, base 0.1, max 1.1
    assert S.cyclic(0, 0.1, 1.1, 10) == pytest.approx(0.1)
    assert S.cyclic(5, 0.1, 1.1, 10) == pytest.approx(0.6)
    assert S.cyclic(10, 0.1, 1.1, 10) == pytest.approx(1.1)
    assert S.cyclic(15, 0.1, 1.1, 10) == pytest.approx(0.6)
    assert S.cyclic(20, 0.1, 1.1, 10) == pytest.approx(0.1)
    assert S.cyclic(30, 0.1, 1.1, 10, "triangular2") == pytest.approx(0.6)  # second peak: half height
    assert S.cyclic(50, 0.1, 1.1, 10, "triangular2") == pytest.approx(0.35)  # third peak: a quarter
    # warm-up: lr0 / W first, lr0 from step W - 1 on
    assert S.linear_warmup(0, 0.8, 4) == pytest.approx(0.2)
    assert S.linear_warmup(1, 0.8, 4) == pytest.approx(0.4)
    assert S.linear_warmup(3, 0.8, 4) == pytest.approx(0.8)
    assert S.linear_warmup(1000, 0.8, 4) == pytest.approx(0.8)


def test_warm_restarts_far_away_uses_exact_integer_cycles():
    # T_0 = 1, T_mult = 2: restarts at 2^k - 1; check a restart step far beyond what a float
    # logarithm would place exactly, and the step just before it (the end of a cycle)
    t = 2**60 - 1
    assert S.cosine_warm_restarts(t, 0.1, 1, 2) == 0.1
    T_i = 2**59  # length of the cycle that ends at t - 1
    assert S.cosine_warm_restarts(t - 1, 0.1, 1, 2) == pytest.approx(0.05 * (1 + math.cos(math.pi * (T_i - 1) / T_i)))
    for T_mult in (1, 2, 3):
        lr = S.cosine_warm_restarts(10**15 + 3, 1.0, 7, T_mult, lr_min=0.1)
        assert 0.1 <= lr <= 1.0


def test_all_schedules_accept_numpy_integers_and_return_floats():
    import numpy as np

    t = np.int64(5)
    for value in (
        S.step_decay(t, 0.1, 2),
        S.exponential_decay(t, 0.1, 0.9),
        S.inverse_time_decay(t, 0.1, 0.5),
        S.cosine_annealing(t, 0.1, 10),
        S.cosine_warm_restarts(t, 0.1, 3, 2),
        S.cyclic(t, 0.1, 0.2, 3),
        S.linear_warmup(t, 0.1, 10),
    ):
        assert type(value) is float


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: S.step_decay(-1, 0.1, 10), ValueError, "t must be >= 0"),
        (lambda: S.step_decay(1.5, 0.1, 10), TypeError, "integer"),
        (lambda: S.step_decay(3, 0.1, 0), ValueError, "step_size"),
        (lambda: S.step_decay(3, -0.1, 10), ValueError, "lr0"),
        (lambda: S.exponential_decay(3, 0.1, -0.5), ValueError, "gamma"),
        (lambda: S.inverse_time_decay(3, 0.1, -1.0), ValueError, "decay_rate"),
        (lambda: S.cosine_annealing(3, 0.1, 0), ValueError, "T_max"),
        (lambda: S.cosine_annealing(3, 0.1, 10, lr_min=-1.0), ValueError, "lr_min"),
        (lambda: S.cosine_warm_restarts(3, 0.1, 0), ValueError, "T_0"),
        (lambda: S.cosine_warm_restarts(3, 0.1, 10, T_mult=0), ValueError, "T_mult"),
        (lambda: S.cosine_warm_restarts(3, 0.1, 10, T_mult=1.5), TypeError, "T_mult"),
        (lambda: S.cyclic(3, 0.1, 1.0, 10, mode="exp_range"), ValueError, "mode"),
        (lambda: S.cyclic(3, 0.1, 1.0, 0), ValueError, "step_size_up"),
        (lambda: S.linear_warmup(3, 0.1, 0), ValueError, "warmup_steps"),
        (lambda: S.linear_warmup(3, 0.1, 2.5), TypeError, "warmup_steps"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _restarts_of_torch(T_0, T_mult, count):
    """Steps at which torch's CosineAnnealingWarmRestarts puts the rate back at lr0: [0, restart 1, ..., restart count].

    Inside a cycle the rate is below lr0 (the cosine of an angle strictly between 0 and pi is below 1), and on
    the first step of a cycle it is lr0 exactly; with T_0 = 1 there is no jump to see, every step is a restart."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=T_0, T_mult=T_mult)
    found, t = [0], 0
    while len(found) <= count:
        opt.step()
        sched.step()
        t += 1
        if opt.param_groups[0]["lr"] == 1.0:
            found.append(t)
    return found


@pytest.mark.parametrize("T_0, T_mult, count", [(10, 2, 6), (7, 1, 8), (1, 2, 8), (4, 3, 5), (3, 5, 4), (1, 1, 5)])
def test_restart_step_matches_the_jumps_of_torch(T_0, T_mult, count):
    truth = _restarts_of_torch(T_0, T_mult, count)
    ours = [S.restart_step(n, T_0, T_mult) for n in range(count + 1)]
    assert ours == truth
    assert all(type(t) is int for t in ours)
    for n in range(1, count + 1):  # and the rate there is lr0 again
        assert S.cosine_warm_restarts(ours[n], 0.3, T_0, T_mult) == pytest.approx(0.3, rel=1e-12)


def test_restart_step_is_exact_far_into_a_run():
    # the sum of the cycle lengths, added up one cycle at a time with Python's exact integers
    for T_0, T_mult, n in [(5, 3, 70), (500, 6, 60), (3, 2, 200), (9, 1, 10**6)]:
        total, length = 0, T_0
        for _ in range(n if T_mult > 1 else 0):
            total, length = total + length, length * T_mult
        expected = total if T_mult > 1 else n * T_0
        assert S.restart_step(n, T_0, T_mult) == expected
        assert type(S.restart_step(n, T_0, T_mult)) is int
    assert S.restart_step(0, 17, 4) == 0


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: S.restart_step(-1, 10, 2), ValueError, "n must be >= 0"),
        (lambda: S.restart_step(2, 0, 2), ValueError, "T_0"),
        (lambda: S.restart_step(2, 10, 0), ValueError, "T_mult"),
        (lambda: S.restart_step(2.0, 10, 2), TypeError, "n must be an integer"),
    ],
)
def test_restart_step_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
