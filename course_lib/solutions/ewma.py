r"""Reference solutions for notebook 03: exponentially weighted moving averages (EWMA).

For a sequence :math:`x_1, \dots, x_n` and :math:`\beta \in [0, 1)`:

.. math::

    v_0 = 0, \qquad v_t = \beta v_{t-1} + (1 - \beta) x_t

Unrolled, :math:`v_t = \sum_{k=1}^{t} (1-\beta)\beta^{t-k} x_k`: the newest point has weight
:math:`1 - \beta` and each older one :math:`\beta` times less. Those weights add up to
:math:`1 - \beta^t`, not 1, so the early :math:`v_t` are pulled towards the start value 0;
**bias correction** divides by that sum, :math:`\hat v_t = v_t / (1 - \beta^t)`, which makes
the weights a proper average. Roughly the last :math:`1/(1-\beta)` points matter (their
weights hold :math:`1 - \beta^{1/(1-\beta)} \approx 1 - 1/e \approx 63\%` of the total).

This is the average that momentum (``exp_avg`` in Adam), RMSProp and Adam keep of the
gradients and of their squares; Adam's bias correction is exactly the one here.
"""

import numpy as np

from course_lib import _backend as B
from course_lib._args import as_int


def _check_beta(name, beta):
    if not 0 <= beta < 1:
        raise ValueError(f"{name}: beta must be in [0, 1), got beta={beta}.")


def ewma(x, beta, bias_correction=False):
    r"""Exponentially weighted moving average of a 1-D sequence.

    .. math::

        v_0 = 0, \qquad v_t = \beta v_{t-1} + (1 - \beta) x_t, \qquad t = 1, \dots, n

    and, with ``bias_correction=True``, :math:`\hat v_t = v_t / (1 - \beta^t)`.

    Args:
        x: the sequence :math:`x_1, \dots, x_n`, shape ``(n,)``: a list, NumPy array or torch
            tensor. Not modified. ``n = 0`` gives an empty result.
        beta: :math:`\beta \in [0, 1)`; 0 returns ``x`` itself (as floats).
        bias_correction: divide :math:`v_t` by :math:`1 - \beta^t`.

    Returns:
        :math:`[v_1, \dots, v_n]` (or the corrected values), shape ``(n,)``: a NumPy array for
        list or array input, a tensor on ``x``'s device for tensor input. The dtype is ``x``'s
        if it is floating point, else float64 (NumPy) / torch's default float dtype (torch).
    """
    name = "ewma"
    _check_beta(name, beta)
    x = B.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"ewma: x must be a 1-D sequence, got shape {tuple(x.shape)}; pass one series at a time (e.g. x.ravel()).")

    # The recursion is sequential, so it runs on Python floats (float64); fast enough for the
    # course's series (a million points take well under a second).
    if B.is_tensor(x):
        values = x.detach().double().cpu().tolist()
    else:
        values = np.asarray(x, dtype=float).tolist()
    out = []
    v = 0.0
    power = 1.0  # beta**t, updated as t grows
    for t, x_t in enumerate(values, start=1):
        v = beta * v + (1 - beta) * x_t
        power *= beta
        out.append(v / (1 - power) if bias_correction else v)

    if B.is_tensor(x):
        import torch

        dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
        return torch.tensor(out, dtype=dtype, device=x.device)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    return np.asarray(out, dtype=dtype).reshape(len(out))


def ewma_weights(t, beta, bias_correction=False):
    r"""The weight of each past point :math:`x_1, \dots, x_t` in :math:`v_t`.

    .. math::

        v_t = \sum_{k=1}^{t} w_k x_k, \qquad w_k = (1 - \beta)\,\beta^{t-k}

    and with ``bias_correction=True`` each :math:`w_k` is divided by :math:`1 - \beta^t`, so
    that the weights sum to 1.

    Args:
        t: number of points seen, integer >= 0.
        beta: :math:`\beta \in [0, 1)`.
        bias_correction: use the weights of the corrected :math:`\hat v_t`.

    Returns:
        float64 array of shape ``(t,)``: entry ``k - 1`` is the weight of :math:`x_k` (the last
        entry, the newest point, is the largest).
    """
    name = "ewma_weights"
    _check_beta(name, beta)
    t = as_int(name, "t", t, 0)
    ages = np.arange(t - 1, -1, -1, dtype=float)  # t - k for k = 1..t
    weights = (1 - beta) * float(beta) ** ages
    if bias_correction and t > 0:
        weights = weights / (1 - float(beta) ** t)
    return weights


def ewma_lag(beta):
    r"""How many steps the uncorrected average trails a straight ramp, once the start-up has faded.

    On the ramp :math:`x_t = a t` (any slope :math:`a \ne 0`) the recursion from :math:`v_0 = 0`
    gives exactly

    .. math::

        v_t = a\Big(t - \frac{\beta}{1-\beta}\,(1 - \beta^t)\Big),

    so :math:`v_t \to x_{t - L}` with the lag :math:`L = \beta/(1-\beta)` steps: the mean age
    :math:`\sum_{k \ge 0} k (1-\beta)\beta^k` of the weights. It is one step less than the
    effective window :math:`1/(1-\beta)`, and it does not depend on the slope.

    Args:
        beta: :math:`\beta \in [0, 1)`; 0 gives no lag.

    Returns:
        the lag in steps, a float (not rounded).
    """
    _check_beta("ewma_lag", beta)
    return float(beta) / (1.0 - float(beta))
