r"""Reference solutions for notebook 07: hyper-parameter search.

Scale-type hyper-parameters (learning rate, weight decay, ...) matter by their order of
magnitude: going from 1e-4 to 1e-3 changes as much as going from 1e-3 to 1e-2. So they are
sampled **log-uniformly**, :math:`\log x \sim U(\log a, \log b)`, which gives every decade
the same number of trials; a uniform draw on ``[1e-5, 1e-1]`` would put 90 % of them in the
top decade. Random search beats a grid when only a few of the hyper-parameters matter: ``n``
random trials try ``n`` distinct values of each one, a grid only ``n^{1/k}`` for ``k``
hyper-parameters.

All randomness comes from a ``numpy.random.Generator`` passed in, so a seed reproduces a
search exactly.
"""

import math
import numbers

import numpy as np


def _check_rng(rng, fname):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{fname} needs rng to be a numpy Generator such as np.random.default_rng(0), got {type(rng).__name__}."
        )


def _check_bounds(low, high, fname, log):
    if not (isinstance(low, numbers.Real) and isinstance(high, numbers.Real)):
        raise TypeError(f"{fname} needs numeric bounds, got low={low!r}, high={high!r}.")
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ValueError(f"{fname} needs finite bounds with low < high, got low={low!r}, high={high!r}.")
    if log and low <= 0:
        raise ValueError(
            f"{fname} on a log scale needs 0 < low < high, got low={low!r}; "
            "use a uniform scale for non-positive values."
        )


def log_uniform(rng, low, high, size=None):
    r"""Samples whose logarithm is uniform on ``[log(low), log(high))``.

    .. math::  x = \exp(u), \quad u \sim U(\ln a, \ln b), \qquad
               P(x \le t) = \frac{\ln t - \ln a}{\ln b - \ln a} \text{ for } a \le t \le b.

    Args:
        rng: a ``numpy.random.Generator``.
        low, high: the range, ``0 < low < high``.
        size: ``None`` for one Python float, or an int / tuple for an array of samples.

    Returns:
        A float (``size=None``) or a float64 array of shape ``size``, every value in
        ``[low, high]``.
    """
    _check_rng(rng, "log_uniform")
    _check_bounds(low, high, "log_uniform", log=True)
    x = np.exp(rng.uniform(math.log(low), math.log(high), size=size))
    x = np.clip(x, low, high)  # exp(log(a)) can land one ulp outside [a, b]
    return float(x) if size is None else x


def grid(low, high, n, log=True):
    r"""``n`` grid values from ``low`` to ``high``, both included.

    ``log=True``: equally spaced exponents, :math:`x_k = a (b/a)^{k/(n-1)}` (``np.geomspace``);
    ``log=False``: equally spaced values (``np.linspace``). ``n = 1`` gives ``[low]``.

    Returns:
        float64 array of shape ``(n,)``.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"grid needs an integer n >= 1, got n={n!r}.")
    _check_bounds(low, high, "grid", log=log)
    if log:
        values = np.exp(np.linspace(math.log(low), math.log(high), n))
        values[0] = low
        if n > 1:
            values[-1] = high
        return values
    return np.linspace(float(low), float(high), n)


def _check_space(space):
    if not isinstance(space, dict) or not space:
        raise ValueError(
            "random_search needs space to be a non-empty dict mapping each name to a spec "
            "such as ('log', 1e-4, 1e-1)."
        )
    for name, spec in space.items():
        kind = spec[0] if isinstance(spec, (tuple, list)) and spec else None
        if kind in ("log", "uniform") and len(spec) == 3:
            _check_bounds(spec[1], spec[2], f"random_search (space[{name!r}])", log=kind == "log")
        elif kind == "choice" and len(spec) == 2 and isinstance(spec[1], (list, tuple)) and len(spec[1]) > 0:
            pass
        else:
            raise ValueError(
                f"random_search: space[{name!r}] = {spec!r} is not a valid spec; use ('log', low, high), "
                "('uniform', low, high) or ('choice', [option, ...])."
            )


def sample(space, rng):
    """One draw of every hyper-parameter of ``space`` (see :func:`random_search`), as a dict."""
    _check_rng(rng, "sample")
    _check_space(space)
    return _sample(space, rng)


def _sample(space, rng):
    params = {}
    for name, spec in space.items():  # insertion order: the same seed gives the same draws
        kind = spec[0]
        if kind == "log":
            params[name] = log_uniform(rng, spec[1], spec[2])
        elif kind == "uniform":
            params[name] = float(rng.uniform(spec[1], spec[2]))
        else:
            options = spec[1]
            params[name] = options[int(rng.integers(len(options)))]
    return params


def random_search(objective, space, n_trials, rng):
    """Evaluate ``objective`` at ``n_trials`` independent random points of ``space``.

    ``space`` maps each hyper-parameter name to how to draw it:

    * ``("log", low, high)``: :func:`log_uniform` (learning rates, weight decay);
    * ``("uniform", low, high)``: uniform on ``[low, high)`` (momentum, dropout);
    * ``("choice", [a, b, ...])``: one option, each with the same probability (kept as is,
      so ``("choice", [32, 64, 128])`` gives ints).

    Each trial draws the names in the order of ``space``, then calls
    ``objective(params)`` with ``params = {name: value}``.

    Args:
        objective: ``params -> score`` (a number, e.g. a validation loss).
        space: the dict described above.
        n_trials: number of trials, ``>= 0``.
        rng: a ``numpy.random.Generator``.

    Returns:
        A list of ``(params, score)`` in trial order; the best (lowest) is
        ``min(results, key=lambda r: r[1])``.
    """
    if not callable(objective):
        raise TypeError("random_search needs objective to be a function params -> score.")
    if isinstance(n_trials, bool) or not isinstance(n_trials, numbers.Integral) or n_trials < 0:
        raise ValueError(f"random_search needs an integer n_trials >= 0, got n_trials={n_trials!r}.")
    _check_rng(rng, "random_search")
    _check_space(space)
    results = []
    for _ in range(n_trials):
        params = _sample(space, rng)
        results.append((params, objective(dict(params))))
    return results


LR_DIAGNOSES = ("too high", "too low", "good")


def diagnose_lr(losses):
    r"""What a loss history says about the learning rate: ``"too high"``, ``"too low"`` or ``"good"``.

    ``losses`` are :math:`L_0, \dots, L_T`: the training loss before the first step and after every step
    (at least 3 of them). With :math:`m = \lfloor T/2 \rfloor` the middle of the run:

    * ``"too high"``: some :math:`L_t` is not finite (the run overflowed), or :math:`L_T \ge L_0` (no
      progress at all: a rate above the stable limit :math:`2/\lambda_{\max}` makes the loss grow);
    * ``"good"``: the loss went down and levelled off: the second half brought less than a tenth of the
      total decrease, :math:`L_m - L_T < 0.1\,(L_0 - L_T)`;
    * ``"too low"``: the loss went down but is still falling steadily:
      :math:`L_m - L_T \ge 0.1\,(L_0 - L_T)`.

    The rule looks only at the shape of the curve, never at the size of the losses, so a run that
    levels off at a high noise floor is ``"good"`` and one whose losses are all tiny can be ``"too low"``.
    ``nan`` compares as False with everything, hence the explicit test of finiteness.
    """
    L = np.asarray(losses, dtype=float)
    if L.ndim != 1 or len(L) < 3:
        raise ValueError(f"diagnose_lr needs a 1-D history of at least 3 losses, got shape {L.shape}.")
    if not np.all(np.isfinite(L)) or L[-1] >= L[0]:
        return "too high"
    middle = L[(len(L) - 1) // 2]
    return "good" if middle - L[-1] < 0.1 * (L[0] - L[-1]) else "too low"
