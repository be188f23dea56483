r"""Reference solutions for notebook 07: weight averaging (Stochastic Weight Averaging, SWA).

SWA (Izmailov et al., 2018) runs SGD as usual and, from some point on (typically once per
epoch, with a constant or cyclical learning rate), keeps the running mean of the
**weights** it visits:

.. math::  \bar w_n = \frac1n \sum_{k=1}^{n} w_k,
           \qquad \bar w_{n+1} = \bar w_n + \frac{w_{n+1} - \bar w_n}{n + 1}.

The averaged network is one network, evaluated once; averaging the *predictions* of the
saved snapshots instead is an ensemble (snapshot ensembles, FGE), which costs one forward
pass per snapshot.

Why BatchNorm statistics must be recomputed afterwards
------------------------------------------------------
A BatchNorm layer's ``running_mean`` and ``running_var`` are not learned: they estimate the
mean and variance of the layer's *input*, and that input depends on the weights of every
layer before it. The averaged weights :math:`\bar w` were never the weights of the network
that produced any of the recorded statistics, and the average of the snapshots' statistics
is not the statistics of :math:`\bar w`'s activations (a mean of variances is not the
variance under the mean weights). So after averaging, run the training data once through
the averaged network in train mode with no gradient step, which refills the running
statistics for the new weights: ``torch.optim.swa_utils.update_bn(loader, swa_model)``.
Skipping it typically costs a lot of accuracy; a network without BatchNorm needs nothing.
"""

import numbers

import numpy as np

from course_lib import _backend as B


def _copy(x):
    if B.is_tensor(x):
        return x.detach().clone()
    return np.array(x, dtype=float) if not isinstance(x, np.ndarray) else x.copy()


def _is_float(x):
    if B.is_tensor(x):
        return x.is_floating_point() or x.is_complex()
    return np.issubdtype(np.asarray(x).dtype, np.inexact)


def _update(avg, w, n):
    if n == 0:
        return _copy(w)
    if tuple(np.shape(avg)) != tuple(np.shape(w)):
        raise ValueError(
            f"average_weights: the average has shape {tuple(np.shape(avg))} "
            f"but w has shape {tuple(np.shape(w))}; average weights of the same model."
        )
    if B.is_tensor(w):
        w = w.detach()
    if not _is_float(w):  # integer buffers such as BatchNorm's num_batches_tracked: keep the latest
        return _copy(w)
    return avg + (w - avg) / (n + 1)


def average_weights(avg, w, n_averaged):
    r"""One step of the running mean of weights: fold ``w`` into the average of ``n`` earlier ones.

    .. math::  \bar w \leftarrow \bar w + \frac{w - \bar w}{n + 1}, \qquad n \leftarrow n + 1

    which equals :math:`(n \bar w + w) / (n + 1)` without summing ``n`` weight vectors. With
    ``n_averaged = 0`` the average is a copy of ``w`` (``avg`` may then be ``None``). This is
    the default update of ``torch.optim.swa_utils.AveragedModel``.

    Args:
        avg: the current average: an array, a tensor, or a dict of them such as a
            ``state_dict()`` (then ``w`` is a dict with the same keys). Not modified.
        w: the new weights, same kind and shapes as ``avg``. Not modified.
        n_averaged: how many weights ``avg`` already averages, an integer ``>= 0``.

    Returns:
        ``(new_avg, n_averaged + 1)``. Integer entries of a dict (e.g. BatchNorm's
        ``num_batches_tracked``) cannot be averaged and take ``w``'s value.
    """
    if isinstance(n_averaged, bool) or not isinstance(n_averaged, numbers.Integral) or n_averaged < 0:
        raise ValueError(f"average_weights needs an integer n_averaged >= 0, got {n_averaged!r}.")
    if n_averaged > 0 and avg is None:
        raise ValueError(
            f"average_weights got avg=None with n_averaged={n_averaged}; "
            "pass the average returned by the previous call."
        )
    if isinstance(w, dict):
        if n_averaged > 0:
            if not isinstance(avg, dict) or set(avg) != set(w):
                raise ValueError(
                    "average_weights needs avg and w to be dicts with the same keys (state_dicts of the same model)."
                )
        return {k: _update(None if n_averaged == 0 else avg[k], v, n_averaged) for k, v in w.items()}, n_averaged + 1
    return _update(avg, B.asarray(w), n_averaged), n_averaged + 1


def swa_average(model_states):
    r"""Average a list of weights or ``state_dict``\ s: :math:`\bar w = \frac1n \sum_k w_k`.

    Computed with :func:`average_weights` (the running mean, as ``AveragedModel`` does), so
    folding the same snapshots one by one gives the same numbers.

    If the dicts hold BatchNorm buffers, their ``running_mean``/``running_var`` are averaged
    too, but those averages are **not** valid statistics for the averaged weights (see the
    module docstring): load the result into the model and call
    ``torch.optim.swa_utils.update_bn(train_loader, model)`` before evaluating it.

    Args:
        model_states: a non-empty list of arrays, tensors or dicts (e.g.
            ``[copy.deepcopy(model.state_dict()), ...]``), all alike.

    Returns:
        The average, of the kind of the inputs.
    """
    model_states = list(model_states)
    if not model_states:
        raise ValueError("swa_average needs at least one set of weights to average.")
    avg, n = None, 0
    for w in model_states:
        avg, n = average_weights(avg, w, n)
    return avg
