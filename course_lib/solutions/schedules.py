r"""Reference solutions for notebook 07: learning-rate schedules as functions of the step.

Every schedule here is a pure function ``schedule(t, ...) -> float``: the learning rate after
``t`` updates, the one the next update uses (``t = 0``: the very first update). It equals the ``lr`` that the
matching ``torch.optim.lr_scheduler`` class puts in ``optimizer.param_groups[0]["lr"]`` after
``t`` calls to ``scheduler.step()`` (one call after each ``optimizer.step()``)::

    for t in range(n_steps):
        lr = cosine_annealing(t, lr0=0.1, T_max=n_steps)
        w = gd_step(w, grad_f(w), lr)

=========================  =====================================================================
function                   torch scheduler it matches
=========================  =====================================================================
``step_decay``             ``StepLR(step_size, gamma)``
``exponential_decay``      ``ExponentialLR(gamma)``
``inverse_time_decay``     ``LambdaLR(lambda t: 1 / (1 + decay_rate * t))``
``cosine_annealing``       ``CosineAnnealingLR(T_max, eta_min=lr_min)``
``cosine_warm_restarts``   ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min=lr_min)``
``cyclic``                 ``CyclicLR(base_lr, max_lr, step_size_up, mode=...)``
``linear_warmup``          ``LinearLR(start_factor=1/T_warm, end_factor=1, total_iters=T_warm-1)``
=========================  =====================================================================

:func:`restart_step` goes the other way: the step at which ``CosineAnnealingWarmRestarts``
restarts for the ``n``-th time, in closed form.

torch computes several of these recursively (multiplying the previous ``lr``); the closed
forms here agree with it to rounding error (relative ``1e-12`` or so over thousands of steps).
All functions return plain Python floats.
"""

import math

from course_lib._args import as_int


def _step_index(name, t):
    """``t`` as a non-negative Python int, or a clear error."""
    return as_int(name, "t", t, 0)


def _positive_int(name, key, value):
    return as_int(name, key, value, 1)


def _nonneg(name, **values):
    for key, value in values.items():
        if not value >= 0:  # also rejects NaN
            raise ValueError(f"{name}: {key} must be >= 0, got {key}={value}.")


def step_decay(t, lr0, step_size, gamma=0.1):
    r"""Multiply the rate by ``gamma`` every ``step_size`` steps (``torch``'s ``StepLR``).

    .. math::  \eta_t = \eta_0 \, \gamma^{\lfloor t / \text{step\_size} \rfloor}

    Args:
        t: step index, integer >= 0.
        lr0: initial rate :math:`\eta_0 \ge 0`.
        step_size: positive integer, the number of steps between two decays.
        gamma: decay factor :math:`\gamma \ge 0` (usually in (0, 1)).
    """
    name = "step_decay"
    t = _step_index(name, t)
    step_size = _positive_int(name, "step_size", step_size)
    _nonneg(name, lr0=lr0, gamma=gamma)
    return float(lr0 * gamma ** (t // step_size))


def exponential_decay(t, lr0, gamma):
    r"""Multiply the rate by ``gamma`` at every step (``torch``'s ``ExponentialLR``).

    .. math::  \eta_t = \eta_0 \, \gamma^t

    Args:
        t: step index, integer >= 0.
        lr0: initial rate :math:`\eta_0 \ge 0`.
        gamma: decay factor :math:`\gamma \ge 0` (usually just below 1, e.g. 0.99).
    """
    name = "exponential_decay"
    t = _step_index(name, t)
    _nonneg(name, lr0=lr0, gamma=gamma)
    return float(lr0 * gamma**t)


def inverse_time_decay(t, lr0, decay_rate):
    r"""The classic :math:`1/t` decay of stochastic approximation, shifted to start at :math:`\eta_0`.

    .. math::  \eta_t = \frac{\eta_0}{1 + k\, t}, \qquad k = \text{decay\_rate}

    With :math:`k > 0` it meets the Robbins-Monro conditions :math:`\sum_t \eta_t = \infty` and
    :math:`\sum_t \eta_t^2 < \infty`, under which SGD converges despite its gradient noise.

    torch has no class for it; ``LambdaLR(opt, lambda t: 1 / (1 + k * t))`` gives the same rates.

    Args:
        t: step index, integer >= 0.
        lr0: initial rate :math:`\eta_0 \ge 0`.
        decay_rate: :math:`k \ge 0`; the rate has halved at :math:`t = 1/k`.
    """
    name = "inverse_time_decay"
    t = _step_index(name, t)
    _nonneg(name, lr0=lr0, decay_rate=decay_rate)
    return float(lr0 / (1 + decay_rate * t))


def cosine_annealing(t, lr0, T_max, lr_min=0.0):
    r"""Half a cosine from ``lr0`` down to ``lr_min`` over ``T_max`` steps (SGDR without restarts).

    .. math::  \eta_t = \eta_{\min} + \tfrac12 (\eta_0 - \eta_{\min}) \left(1 + \cos\frac{\pi t}{T}\right), \qquad T = \text{T\_max}

    This is the closed form of ``torch``'s ``CosineAnnealingLR(T_max, eta_min=lr_min)``. Like
    torch, the formula is not clamped: after ``T_max`` the rate climbs back along the cosine
    (it reaches ``lr0`` again at ``2 * T_max``); stop the run at ``T_max`` or use
    :func:`cosine_warm_restarts` to restart.

    Args:
        t: step index, integer >= 0.
        lr0: initial (largest) rate :math:`\eta_0 \ge 0`.
        T_max: positive number of steps of the half period.
        lr_min: smallest rate :math:`\eta_{\min} \ge 0`, reached at ``t = T_max``.
    """
    name = "cosine_annealing"
    t = _step_index(name, t)
    if not T_max > 0:
        raise ValueError(f"{name}: T_max must be > 0, got T_max={T_max}.")
    _nonneg(name, lr0=lr0, lr_min=lr_min)
    return float(lr_min + (lr0 - lr_min) * (1 + math.cos(math.pi * t / T_max)) / 2)


def cosine_warm_restarts(t, lr0, T_0, T_mult=1, lr_min=0.0):
    r"""Cosine annealing restarted from ``lr0`` at the end of each cycle (SGDR, Loshchilov & Hutter 2017).

    Cycle :math:`i = 0, 1, \dots` lasts :math:`T_i = T_0 \, T_{\text{mult}}^i` steps. With
    :math:`T_{\text{cur}}` the number of steps since the last restart,

    .. math::  \eta_t = \eta_{\min} + \tfrac12 (\eta_0 - \eta_{\min}) \left(1 + \cos\frac{\pi T_{\text{cur}}}{T_i}\right)

    so the rate is ``lr0`` on the first step of every cycle and never quite reaches
    ``lr_min``. Matches ``torch``'s ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min=lr_min)``
    stepped once per update. The cycle is found with integer arithmetic (no floating-point
    logarithm), so restarts land exactly on :math:`T_0 (T_{\text{mult}}^k - 1)/(T_{\text{mult}} - 1)`.

    Args:
        t: step index, integer >= 0.
        lr0: rate at each restart, :math:`\eta_0 \ge 0`.
        T_0: positive integer, length of the first cycle.
        T_mult: integer >= 1, factor by which each cycle is longer than the previous one.
        lr_min: :math:`\eta_{\min} \ge 0`.
    """
    name = "cosine_warm_restarts"
    t = _step_index(name, t)
    T_0 = _positive_int(name, "T_0", T_0)
    T_mult = _positive_int(name, "T_mult", T_mult)
    _nonneg(name, lr0=lr0, lr_min=lr_min)
    if T_mult == 1:
        T_i, T_cur = T_0, t % T_0
    else:
        T_i, T_cur = T_0, t
        while T_cur >= T_i:  # walk through the finished cycles; only O(log t) of them
            T_cur -= T_i
            T_i *= T_mult
    return float(lr_min + (lr0 - lr_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2)


_CYCLIC_MODES = ("triangular", "triangular2")


def cyclic(t, base_lr, max_lr, step_size_up, mode="triangular"):
    r"""Cyclical learning rate (Smith, 2017): a triangle wave between ``base_lr`` and ``max_lr``.

    A cycle lasts ``2 * step_size_up`` steps: the rate climbs linearly from ``base_lr`` to
    ``max_lr`` during ``step_size_up`` steps, then back down. With :math:`T_{\text{up}}` =
    ``step_size_up``, cycle number :math:`c = \lfloor t / 2T_{\text{up}} \rfloor` (0 for the first
    cycle) and :math:`t_c = t - 2cT_{\text{up}}` the step within it,

    .. math::  \eta_t = \eta_{\min} + (\eta_{\max} - \eta_{\min}) \left(1 - \left|\frac{t_c}{T_{\text{up}}} - 1\right|\right) a_c

    with :math:`\eta_{\min}` = ``base_lr``, :math:`\eta_{\max}` = ``max_lr``, and :math:`a_c = 1` for
    ``"triangular"``, :math:`a_c = 2^{-c}` for ``"triangular2"`` (the peak halves every cycle). Matches ``torch``'s ``CyclicLR`` with
    ``step_size_down=None`` (equal to ``step_size_up``), stepped once per update.

    Args:
        t: step index, integer >= 0.
        base_lr: lowest rate, >= 0.
        max_lr: peak rate of the first cycle, >= 0.
        step_size_up: positive integer, number of steps of the rising half.
        mode: ``"triangular"`` or ``"triangular2"``.
    """
    name = "cyclic"
    t = _step_index(name, t)
    s = _positive_int(name, "step_size_up", step_size_up)
    _nonneg(name, base_lr=base_lr, max_lr=max_lr)
    if mode not in _CYCLIC_MODES:
        raise ValueError(f"{name}: mode must be one of {_CYCLIC_MODES}, got mode={mode!r}.")
    cycle, position = divmod(t, 2 * s)
    height = (s - abs(position - s)) / s  # 0 at the cycle's ends, 1 at its middle
    scale = 1.0 if mode == "triangular" else 0.5**cycle
    return float(base_lr + (max_lr - base_lr) * height * scale)


def linear_warmup(t, lr0, warmup_steps):
    r"""Linear warm-up to ``lr0`` over the first ``warmup_steps`` steps, then constant.

    .. math::  \eta_t = \eta_0 \, \min\left(1, \frac{t + 1}{T_{\text{warm}}}\right), \qquad T_{\text{warm}} = \text{warmup\_steps}

    The first update already uses :math:`\eta_0 / T_{\text{warm}}` (never 0, which would waste a step)
    and step :math:`t = T_{\text{warm}} - 1` is the first at the full rate. This is ``torch``'s
    ``LinearLR(start_factor=1/T_warm, end_factor=1.0, total_iters=T_warm-1)``; combine it with a decay
    schedule by multiplying the two, e.g. ``linear_warmup(t, 1, T_warm) * cosine_annealing(t, lr0, T)``.

    Args:
        t: step index, integer >= 0.
        lr0: the rate after warm-up, :math:`\eta_0 \ge 0`.
        warmup_steps: positive integer :math:`T_{\text{warm}}`; ``1`` means no warm-up.
    """
    name = "linear_warmup"
    t = _step_index(name, t)
    W = _positive_int(name, "warmup_steps", warmup_steps)
    _nonneg(name, lr0=lr0)
    return float(lr0 * min(1.0, (t + 1) / W))


def restart_step(n, T_0, T_mult=1):
    r"""The step at which cosine annealing with warm restarts restarts for the ``n``-th time.

    Restart :math:`n` comes after the cycles :math:`0, \dots, n-1`, of lengths
    :math:`T_0, T_0 T_{\text{mult}}, \dots, T_0 T_{\text{mult}}^{n-1}`, so it is at their sum, a geometric series:

    .. math::  t_n = T_0 \, \frac{T_{\text{mult}}^{\,n} - 1}{T_{\text{mult}} - 1} \quad (T_{\text{mult}} > 1),
               \qquad t_n = n \, T_0 \quad (T_{\text{mult}} = 1).

    :math:`t_n` counts updates as :func:`cosine_warm_restarts` does: ``cosine_warm_restarts(t_n, lr0, T_0, T_mult)``
    is ``lr0`` again, and ``torch``'s ``CosineAnnealingWarmRestarts(T_0, T_mult)`` puts ``lr0`` back in the
    optimizer after :math:`t_n` calls of ``scheduler.step()``. ``n = 0`` gives 0, the start of the run. The
    division leaves no remainder, so the result is an exact Python int for any ``n`` (a float would lose the
    last digits past :math:`2^{53}`).

    Args:
        n: integer >= 0, which restart.
        T_0: positive integer, length of the first cycle.
        T_mult: integer >= 1, factor by which each cycle is longer than the previous one.
    """
    name = "restart_step"
    n = as_int(name, "n", n, 0)
    T_0 = _positive_int(name, "T_0", T_0)
    T_mult = _positive_int(name, "T_mult", T_mult)
    if T_mult == 1:
        return n * T_0
    return T_0 * (T_mult**n - 1) // (T_mult - 1)
