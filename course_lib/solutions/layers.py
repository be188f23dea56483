"""Reference solutions for notebooks 08 (batch normalization) and 09 (softmax classifier).

Every function is a pure function on arrays: it accepts NumPy arrays or torch tensors,
never changes its inputs in place and returns new arrays of the input's kind. The one
exception is the ``state`` dict of :func:`batchnorm_forward`, which holds the running
statistics and is filled and updated by the call (its arrays are replaced, never written
into), like the optimizer states of :mod:`course_lib.solutions.optim`.

Conventions (they are torch's, so the answers can be checked against ``F.batch_norm`` and
``F.cross_entropy``):

* A mini-batch ``x`` has shape ``(N, D)``: ``N`` examples (rows), ``D`` features (columns).
  Batch norm normalizes each column over the rows.
* Logits have shape ``(N, C)``; labels ``y`` are ``N`` integers in ``0 .. C-1``.
* Losses are **means** over the ``N`` rows, so gradients carry a factor ``1 / N``.
"""

import numbers

import numpy as np

from course_lib import _backend as B


# --------------------------------------------------------------------------------------
# small helpers that read the same for NumPy and torch
# --------------------------------------------------------------------------------------
def _like(value, ref):
    """``value`` as an array of ``ref``'s kind (and, for a tensor, its dtype and device)."""
    if B.is_tensor(ref):
        import torch

        return torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
    if B.is_tensor(value):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=ref.dtype)


def _float_array(x):
    x = B.asarray(x)
    if B.is_tensor(x):
        if not x.is_floating_point():
            x = x.double()
    elif not np.issubdtype(x.dtype, np.floating):
        x = x.astype(float)
    return x


def _sum0(x):
    return x.sum(0)


def _mean0(x):
    return x.sum(0) / x.shape[0]


def _row_max(z):
    """Max of each row of ``z``, kept as a column ``(N, 1)``."""
    if B.is_tensor(z):
        return z.amax(dim=-1, keepdim=True)
    return z.max(axis=-1, keepdims=True)


def _row_sum(z):
    if B.is_tensor(z):
        return z.sum(dim=-1, keepdim=True)
    return z.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------------------
# batch normalization
# --------------------------------------------------------------------------------------
def batchnorm_forward(x, gamma, beta, state, train=True, momentum=0.1, eps=1e-5):
    r"""Batch normalization of a mini-batch, with torch's running statistics.

    Training mode normalizes each feature ``j`` with the statistics of the batch:

    .. math::

        \mu_j = \frac1N \sum_i x_{ij}, \qquad
        \sigma_j^2 = \frac1N \sum_i (x_{ij} - \mu_j)^2 \quad \text{(biased)},

        \hat x_{ij} = \frac{x_{ij} - \mu_j}{\sqrt{\sigma_j^2 + \epsilon}}, \qquad
        out_{ij} = \gamma_j \hat x_{ij} + \beta_j ,

    and updates the running statistics kept in ``state``:

    .. math::

        \mu_{\text{run}} \leftarrow (1 - \rho)\, \mu_{\text{run}} + \rho\, \mu,

        \sigma^2_{\text{run}} \leftarrow (1 - \rho)\, \sigma^2_{\text{run}} + \rho\, \frac{N}{N-1} \sigma^2
        \quad \text{(unbiased)}.

    Evaluation mode (``train=False``) uses ``running_mean`` and ``running_var`` in place of
    ``mu`` and ``sigma^2`` and leaves them unchanged.

    Convention: this is exactly ``torch.nn.functional.batch_norm`` (and ``nn.BatchNorm1d``):
    normalization by the *biased* batch variance, running variance fed with the *unbiased*
    one, ``momentum`` :math:`\rho` as the weight of the **new** batch (Keras' ``momentum`` is :math:`1 - \rho`),
    and fresh running statistics of mean 0 and variance 1. ``gamma`` and ``beta`` are
    learned parameters (trained by gradient descent like any weight), not hyper-parameters.

    Args:
        x: ``(N, D)`` float array or tensor.
        gamma: ``(D,)`` scale.
        beta: ``(D,)`` shift.
        state: a ``dict``; empty at first (running mean 0, running variance 1). After the
            call it holds ``"running_mean"`` and ``"running_var"`` (``(D,)`` each); in
            training they are replaced by their updated values.
        train: batch statistics (True) or running statistics (False).
        momentum: weight :math:`\rho` of the current batch in the running averages, ``0 <= momentum <= 1``.
        eps: added to the variance before the square root, ``> 0``.

    Returns:
        ``(out, cache)``: ``out`` has ``x``'s shape and kind; ``cache`` is the dict
        ``{"x_hat": x_hat, "inv_std": 1 / sqrt(var + eps), "gamma": gamma, "train": train}`` that
        :func:`batchnorm_backward` reads (``var`` is the variance used to normalize).

    Raises:
        ValueError: wrong shapes, ``N = 1`` in training (the variance of one value is 0;
            torch refuses it too), invalid ``momentum``/``eps``, or a half-filled ``state``.
    """
    if not isinstance(state, dict):
        raise TypeError(
            f"batchnorm_forward needs state to be a dict (start with {{}}), got {type(state).__name__}."
        )
    if not isinstance(momentum, numbers.Real) or not 0.0 <= momentum <= 1.0:
        raise ValueError(
            f"batchnorm_forward needs a number 0 <= momentum <= 1 (torch's cumulative momentum=None "
            f"is not supported), got momentum={momentum!r}."
        )
    if not isinstance(eps, numbers.Real) or not eps > 0.0:
        raise ValueError(f"batchnorm_forward needs eps > 0, got eps={eps}.")
    x = _float_array(x)
    if x.ndim != 2:
        raise ValueError(
            f"batchnorm_forward expects x of shape (N, D), got shape {tuple(x.shape)}; "
            "reshape the batch to 2-D first."
        )
    n, d = x.shape
    gamma = _like(gamma, x)
    beta = _like(beta, x)
    for name, p in (("gamma", gamma), ("beta", beta)):
        if tuple(p.shape) != (d,):
            raise ValueError(
                f"batchnorm_forward expects {name} of shape ({d},) to match x's {d} features, "
                f"got shape {tuple(p.shape)}."
            )
    keys = ("running_mean", "running_var")
    present = [k for k in keys if k in state]
    if len(present) == 1:
        missing = [k for k in keys if k not in state][0]
        raise ValueError(
            f"batchnorm_forward found state[{present[0]!r}] but not state[{missing!r}]; "
            "pass an empty dict to start afresh or the dict returned by an earlier call."
        )
    if present:
        running_mean = _like(state["running_mean"], x)
        running_var = _like(state["running_var"], x)
    else:  # torch's fresh buffers
        running_mean, running_var = _like(np.zeros(d), x), _like(np.ones(d), x)
    for k, v in (("running_mean", running_mean), ("running_var", running_var)):
        if tuple(v.shape) != (d,):
            raise ValueError(
                f"batchnorm_forward: state[{k!r}] has shape {tuple(v.shape)} but x has {d} features; "
                "use one state dict per batch-norm layer."
            )

    if train:
        if n < 2:
            raise ValueError(
                f"batchnorm_forward expected more than 1 value per feature in training, got x of "
                f"shape {tuple(x.shape)}; use a batch of at least 2 rows or train=False."
            )
        mu = _mean0(x)
        centered = x - mu
        var = _mean0(centered * centered)  # biased: used to normalize
        # the running statistics are buffers, not part of the graph (as in torch)
        mu_s, var_s = (mu.detach(), var.detach()) if B.is_tensor(x) else (mu, var)
        state["running_mean"] = (1 - momentum) * running_mean + momentum * mu_s
        state["running_var"] = (1 - momentum) * running_var + momentum * var_s * (n / (n - 1))
    else:
        centered = x - running_mean
        var = running_var
        state.setdefault("running_mean", running_mean)
        state.setdefault("running_var", running_var)
    inv_std = 1.0 / B.sqrt(var + eps)
    x_hat = centered * inv_std
    out = gamma * x_hat + beta
    cache = {"x_hat": x_hat, "inv_std": inv_std, "gamma": gamma, "train": bool(train)}
    return out, cache


def batchnorm_backward(dout, cache):
    r"""Gradients of :func:`batchnorm_forward` with respect to ``x``, ``gamma`` and ``beta``.

    With :math:`\hat x` the normalized input, :math:`\delta` = ``dout`` and ``inv_std`` =
    :math:`1/\sqrt{\sigma^2 + \epsilon}` (:math:`\sigma^2_{\text{run}}` in evaluation):

    .. math::

        \frac{\partial L}{\partial \beta_j} = \sum_i \delta_{ij}, \qquad
        \frac{\partial L}{\partial \gamma_j} = \sum_i \delta_{ij}\, \hat x_{ij}.

    In training, ``mu`` and ``sigma^2`` depend on every row, so each ``dx`` row gets two
    correction terms (derived by the chain rule through the mean and the variance):

    .. math::

        dx_{ij} = \frac{\gamma_j\, \mathrm{inv\_std}_j}{N} \Big( N\, \delta_{ij} - \sum_k \delta_{kj}
                  - \hat x_{ij} \sum_k \delta_{kj} \hat x_{kj} \Big).

    In evaluation the running statistics are constants, so
    :math:`dx_{ij} = \gamma_j\, \mathrm{inv\_std}_j \, \delta_{ij}`.

    Args:
        dout: ``(N, D)`` upstream gradient :math:`\delta = \partial L / \partial out`.
        cache: the dict returned by :func:`batchnorm_forward`: ``{"x_hat": (N, D), "inv_std": (D,),
            "gamma": (D,), "train": bool}`` (notebook 08's contract: a test can build it without
            running the forward).

    Returns:
        ``(dx, dgamma, dbeta)`` with shapes ``(N, D)``, ``(D,)``, ``(D,)``.
    """
    if not isinstance(cache, dict) or not {"x_hat", "inv_std", "gamma", "train"} <= set(cache):
        raise ValueError("batchnorm_backward needs the cache returned by batchnorm_forward as its second argument.")
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    dout = _like(dout, x_hat)
    if tuple(dout.shape) != tuple(x_hat.shape):
        raise ValueError(
            f"batchnorm_backward expects dout of shape {tuple(x_hat.shape)} (the forward output's), "
            f"got {tuple(dout.shape)}."
        )
    dbeta = _sum0(dout)
    dgamma = _sum0(dout * x_hat)
    if cache["train"]:
        n = x_hat.shape[0]
        dx = (gamma * inv_std / n) * (n * dout - dbeta - x_hat * dgamma)
    else:
        dx = gamma * inv_std * dout
    return dx, dgamma, dbeta


def batchnorm_backward_staged(dout, x, gamma, eps=1e-5):
    r"""Training-mode gradients of batch normalization at every node of its graph (notebook 08, Exercise 4).

    The forward graph, per feature ``j``: :math:`\mu_j = \frac1N \sum_i x_{ij}`,
    :math:`\sigma_j^2 = \frac1N \sum_i (x_{ij} - \mu_j)^2`, :math:`\hat x_{ij} = (x_{ij} - \mu_j)\, s_j` with
    :math:`s_j = 1/\sqrt{\sigma_j^2 + \epsilon}`, and :math:`o_{ij} = \gamma_j \hat x_{ij} + \beta_j`. Walking it
    backwards from :math:`\delta` = ``dout``:

    .. math::

        \frac{\partial L}{\partial \beta_j} = \sum_i \delta_{ij}, \quad
        \frac{\partial L}{\partial \gamma_j} = \sum_i \delta_{ij} \hat x_{ij}, \quad
        \frac{\partial L}{\partial \hat x_{ij}} = \gamma_j \delta_{ij}, \quad
        \frac{\partial L}{\partial \sigma_j^2} = -\tfrac12 s_j^3 \sum_i \frac{\partial L}{\partial \hat x_{ij}} (x_{ij} - \mu_j),

        \frac{\partial L}{\partial \mu_j} = -s_j \sum_i \frac{\partial L}{\partial \hat x_{ij}}
            - \frac{\partial L}{\partial \sigma_j^2}\, \frac2N \sum_i (x_{ij} - \mu_j), \quad
        \frac{\partial L}{\partial x_{ij}} = s_j \frac{\partial L}{\partial \hat x_{ij}}
            + \frac{\partial L}{\partial \sigma_j^2} \frac{2 (x_{ij} - \mu_j)}{N} + \frac1N \frac{\partial L}{\partial \mu_j}.

    Convention: the gradient at a node is the derivative of ``L`` with respect to that node's value, the
    nodes before it held fixed and those after it recomputed (torch's ``.grad`` of an inner tensor after
    ``retain_grad()``): ``dvar`` counts the edge sigma^2 -> x_hat only, ``dmu`` both edges out of mu.
    ``dx`` equals :func:`batchnorm_backward` in training mode, and autograd through ``F.batch_norm``.

    Args:
        dout: ``(N, D)`` upstream gradient.
        x: ``(N, D)`` input of the forward pass, ``N >= 2``.
        gamma: ``(D,)`` scale.
        eps: added to the variance before the square root, ``> 0``.

    Returns:
        A dict ``{"dbeta", "dgamma", "dx_hat", "dvar", "dmu", "dx"}`` of arrays of shapes ``(D,)``, ``(D,)``,
        ``(N, D)``, ``(D,)``, ``(D,)``, ``(N, D)``, of ``x``'s kind.
    """
    x = _float_array(x)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"batchnorm_backward_staged expects x of shape (N, D) with N >= 2, got shape {tuple(x.shape)}.")
    dout = _like(dout, x)
    gamma = _like(gamma, x)
    if tuple(dout.shape) != tuple(x.shape):
        raise ValueError(f"batchnorm_backward_staged expects dout of x's shape {tuple(x.shape)}, got {tuple(dout.shape)}.")
    if tuple(gamma.shape) != (x.shape[1],):
        raise ValueError(f"batchnorm_backward_staged expects gamma of shape ({x.shape[1]},), got {tuple(gamma.shape)}.")
    n = x.shape[0]
    mu = _mean0(x)
    centered = x - mu
    var = _mean0(centered * centered)
    inv_std = 1.0 / B.sqrt(var + eps)
    x_hat = centered * inv_std
    dx_hat = dout * gamma
    dvar = -0.5 * inv_std ** 3 * _sum0(dx_hat * centered)
    dmu = -inv_std * _sum0(dx_hat) - dvar * 2.0 * _sum0(centered) / n
    dx = dx_hat * inv_std + dvar * 2.0 * centered / n + dmu / n
    return {"dbeta": _sum0(dout), "dgamma": _sum0(dout * x_hat), "dx_hat": dx_hat, "dvar": dvar, "dmu": dmu, "dx": dx}


def diagnose_activations(activations):
    """Which network produced these tanh activations at initialization (notebook 08, Exercise 6)?

    ``activations`` is a list of ``L >= 3`` arrays, the outputs of every hidden tanh layer (first to
    last) of an MLP on one batch. Returns one of three labels:

    * ``"saturating"``: more than 10 % of the last layer's values have ``|a| > 0.99`` (a plain network
      with too large initial weights: the tanh units sit at +-1, where their derivative is ~0);
    * ``"vanishing"``: the last layer's standard deviation is under half the first layer's (a plain
      network with too small initial weights: the signal, and the gradient, fade with depth);
    * ``"normalized"``: otherwise (BN before every tanh: every layer has about the spread of tanh of a
      standard normal, about 0.63, under 1 % saturated, whatever the weights' scale).
    """
    if len(activations) < 2:
        raise ValueError(f"diagnose_activations needs the activations of at least 2 layers, got {len(activations)}.")
    first, last = (a.detach().cpu().numpy() if B.is_tensor(a) else np.asarray(a, dtype=float)
                   for a in (activations[0], activations[-1]))
    if np.mean(np.abs(last) > 0.99) > 0.1:
        return "saturating"
    if np.std(last) < 0.5 * np.std(first):
        return "vanishing"
    return "normalized"


# --------------------------------------------------------------------------------------
# softmax and cross-entropy
# --------------------------------------------------------------------------------------
def softmax(z):
    r"""Softmax of each row of ``z``.

    .. math::  p_{ic} = \frac{e^{z_{ic} - z_{i,\max}}}{\sum_k e^{z_{ik} - z_{i,\max}}}, \qquad z_{i,\max} = \max_k z_{ik}

    Subtracting the row maximum ``z_{i,max}`` changes nothing mathematically (it cancels) but keeps
    every exponent ``<= 0``, so nothing overflows even for logits of size ``1e4``.

    Args:
        z: ``(N, C)`` logits (a 1-D ``(C,)`` vector is treated as one row).

    Returns:
        Probabilities of ``z``'s shape and kind; each row sums to 1.
    """
    z = _float_array(z)
    if z.ndim not in (1, 2):
        raise ValueError(f"softmax expects logits of shape (N, C) or (C,), got shape {tuple(z.shape)}.")
    e = B.namespace(z).exp(z - _row_max(z))
    return e / _row_sum(e)


def _check_logits_labels(logits, y, fname):
    logits = _float_array(logits)
    if logits.ndim != 2:
        raise ValueError(f"{fname} expects logits of shape (N, C), got shape {tuple(logits.shape)}.")
    n, c = logits.shape
    if B.is_tensor(y):
        y_np = y.detach().cpu().numpy()
    else:
        y_np = np.asarray(y)
    if y_np.dtype == bool or not np.issubdtype(y_np.dtype, np.integer):
        raise TypeError(
            f"{fname} expects y to hold integer class labels (dtype int), got dtype {y_np.dtype}; "
            "convert with y.astype(int) if the values are whole numbers."
        )
    if y_np.shape != (n,):
        raise ValueError(f"{fname} expects y of shape ({n},), one label per row of logits, got shape {y_np.shape}.")
    if n == 0:
        raise ValueError(f"{fname} needs at least one row: the mean over zero rows is undefined.")
    if y_np.min() < 0 or y_np.max() >= c:
        raise ValueError(
            f"{fname} expects labels in 0..{c - 1} for {c} classes, "
            f"got values from {y_np.min()} to {y_np.max()}."
        )
    if B.is_tensor(logits):
        import torch

        y_idx = torch.as_tensor(y_np, dtype=torch.long, device=logits.device)
    else:
        y_idx = y_np.astype(np.int64)
    return logits, y_idx


def _mean_nll(logits, y_idx):
    """Mean of ``logsumexp(z_i) - z_{i, y_i}``, computed stably."""
    xp = B.namespace(logits)
    m = _row_max(logits)
    shifted = logits - m
    log_z = xp.log(_row_sum(xp.exp(shifted)))[:, 0]  # logsumexp minus m
    rows = xp.arange(logits.shape[0])
    if B.is_tensor(logits):
        rows = rows.to(logits.device)
    nll = log_z - shifted[rows, y_idx]
    return float(nll.sum() / logits.shape[0])


def cross_entropy(logits, y):
    r"""Mean cross-entropy of a softmax classifier: ``F.cross_entropy(logits, y)``.

    .. math::  L = \frac1N \sum_i -\log p_{i, y_i}
                 = \frac1N \sum_i \Big( \log \sum_c e^{z_{ic}} - z_{i, y_i} \Big)

    Computed with the log-sum-exp form (row maximum subtracted), never through ``log(softmax)``,
    so it stays finite for logits of size ``1e4``. With ``C`` balanced classes and all logits
    equal the loss is :math:`\ln C` (``2.303`` for ``C = 10``), the sanity check for an
    untrained classifier.

    Args:
        logits: ``(N, C)`` float array or tensor.
        y: ``(N,)`` integer labels in ``0 .. C-1``.

    Returns:
        The loss as a Python ``float``.
    """
    logits, y_idx = _check_logits_labels(logits, y, "cross_entropy")
    return _mean_nll(logits, y_idx)


def initial_loss(num_classes):
    r"""The mean cross-entropy of an untrained classifier on ``num_classes`` balanced classes (notebook 09, Exercise 3).

    With small random weights all logits of a row are (nearly) equal, so softmax gives every class
    :math:`p = 1/C` and every example's loss is :math:`-\ln(1/C) = \ln C` (``2.303`` for ``C = 10``): the
    mean over the examples is the same number. (Not ":math:`10 \ln(1/10)`", a sum over the classes that
    would be negative, which a cross-entropy never is.)

    Args:
        num_classes: the number of classes ``C >= 1``.

    Returns:
        :math:`\ln C` as a Python ``float``.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"initial_loss expects a whole number of classes >= 1, got {num_classes!r}.")
    return float(np.log(num_classes))


def softmax_cross_entropy(logits, y):
    r"""Cross-entropy loss and its gradient with respect to the logits.

    .. math::  \frac{\partial L}{\partial z_{ic}} = \frac{p_{ic} - [c = y_i]}{N}

    where ``p = softmax(z)`` and ``[c = y_i]`` is the one-hot encoding of the labels; the
    ``1 / N`` comes from the mean over rows (torch's ``reduction="mean"``).

    Args:
        logits: ``(N, C)`` float array or tensor.
        y: ``(N,)`` integer labels in ``0 .. C-1``.

    Returns:
        ``(loss, dlogits)``: the loss as a Python ``float`` and an array of ``logits``' shape
        and kind.
    """
    logits, y_idx = _check_logits_labels(logits, y, "softmax_cross_entropy")
    loss = _mean_nll(logits, y_idx)
    n = logits.shape[0]
    probs = softmax(logits)
    onehot = B.zeros_like(probs)
    rows = B.namespace(logits).arange(n)
    if B.is_tensor(logits):
        rows = rows.to(logits.device)
    onehot[rows, y_idx] = 1.0
    return loss, (probs - onehot) / n
