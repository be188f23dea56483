"""Reference solutions for notebook 02: losses and gradients of linear models, and one epoch
of mini-batch SGD.

Model and shapes: ``X`` is ``(N, D)``, the weights ``w`` are ``(D,)``, the bias ``b`` is a
scalar, the prediction (or the logit) is ``z = X w + b`` of shape ``(N,)`` and the targets
``y`` are ``(N,)``. Losses are **means** over the ``N`` examples, so a mini-batch gradient
is an unbiased estimate of the full-batch gradient whatever the batch size.

Every ``*_loss_and_grad`` function has the interface ``(w, b, X, y) -> (loss, dw, db)``
that :func:`sgd_epoch` expects: ``loss`` a Python float, ``dw`` an array like ``w``, ``db``
a Python float. They accept NumPy arrays and torch tensors and change none of their inputs.
"""

import numbers

import numpy as np

from course_lib import _backend as B
from course_lib.solutions.data import minibatches


def _check(w, b, X, y, fname):
    w, X, y = B.asarray(w), B.asarray(X), B.asarray(y)
    if B.is_tensor(w) != B.is_tensor(X) or B.is_tensor(X) != B.is_tensor(y):
        raise TypeError(f"{fname} needs w, X and y all NumPy arrays or all torch tensors, not a mix.")
    if X.ndim != 2:
        raise ValueError(f"{fname} expects X of shape (N, D), got shape {tuple(X.shape)}.")
    n, d = X.shape
    if tuple(w.shape) != (d,):
        raise ValueError(f"{fname} expects w of shape ({d},) for X with {d} columns, got shape {tuple(w.shape)}.")
    if tuple(y.shape) != (n,):
        raise ValueError(f"{fname} expects y of shape ({n},), one target per row of X, got shape {tuple(y.shape)}.")
    if n == 0:
        raise ValueError(f"{fname} needs at least one example: the mean over zero rows is undefined.")
    if B.is_tensor(X):
        y = y.to(X.dtype)
    else:
        y = y.astype(np.result_type(X.dtype, w.dtype, float))
    return w, float(b), X, y


def linear_mse_loss_and_grad(w, b, X, y):
    r"""Half mean squared error of a linear model, and its gradient.

    .. math::

        r = X w + b - y, \qquad
        L = \frac{1}{2N} \sum_i r_i^2, \qquad
        \frac{\partial L}{\partial w} = \frac1N X^\top r, \qquad
        \frac{\partial L}{\partial b} = \frac1N \sum_i r_i .

    Convention: the factor :math:`\tfrac12` cancels the 2 of the derivative, so the gradient
    has no stray factor 2. ``torch.nn.functional.mse_loss(X @ w + b, y)`` has **no**
    :math:`\tfrac12`: it is ``2 L`` and its gradient is twice ours.

    Returns:
        ``(loss, dw, db)``: float, array shaped like ``w``, float.
    """
    w, b, X, y = _check(w, b, X, y, "linear_mse_loss_and_grad")
    n = X.shape[0]
    r = X @ w + b - y
    loss = float((r * r).sum()) / (2 * n)
    dw = (X.T @ r) / n
    db = float(r.sum()) / n
    return loss, dw, db


def logistic_loss_and_grad(w, b, X, y):
    r"""Mean binary cross-entropy of logistic regression, and its gradient.

    With the logit :math:`z = X w + b`, :math:`\sigma(z) = 1 / (1 + e^{-z})` and labels
    :math:`y_i \in \{0, 1\}`:

    .. math::

        L = \frac1N \sum_i -y_i \log\sigma(z_i) - (1 - y_i) \log(1 - \sigma(z_i))
          = \frac1N \sum_i \max(z_i, 0) - y_i z_i + \log(1 + e^{-|z_i|}),

        \frac{\partial L}{\partial w} = \frac1N X^\top (\sigma(z) - y), \qquad
        \frac{\partial L}{\partial b} = \frac1N \sum_i (\sigma(z_i) - y_i).

    The second form of ``L`` never takes ``exp`` of a positive number nor ``log(0)``, so the
    loss stays finite and exact for any ``|z|`` (``log(sigmoid(z))`` underflows to ``-inf``
    near ``z = -750``). This is ``torch.nn.functional.binary_cross_entropy_with_logits``.

    Returns:
        ``(loss, dw, db)``: float, array shaped like ``w``, float.
    """
    w, b, X, y = _check(w, b, X, y, "logistic_loss_and_grad")
    bad = (y != 0) & (y != 1)
    if bool(bad.any()):
        raise ValueError("logistic_loss_and_grad expects labels y in {0, 1}; map your classes to 0 and 1 first.")
    xp = B.namespace(X)
    n = X.shape[0]
    z = X @ w + b
    e = xp.exp(-xp.abs(z))  # in (0, 1]: never overflows
    loss_i = xp.where(z > 0, z, 0 * z) - y * z + xp.log1p(e)
    sigma = xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    g = sigma - y
    loss = float(loss_i.sum()) / n
    return loss, (X.T @ g) / n, float(g.sum()) / n


def sgd_epoch(w, b, X, y, loss_and_grad, lr, batch_size, rng=None):
    r"""One pass of mini-batch SGD over ``(X, y)``.

    The data are cut by :func:`course_lib.solutions.data.minibatches` (one shuffle from ``rng``, last
    partial batch kept); for each batch :math:`\mathcal B_k` in turn:

    .. math::

        L_k, g_w, g_b = \text{loss\_and\_grad}(w, b, X_{\mathcal B_k}, y_{\mathcal B_k}),
        \qquad w \leftarrow w - \eta\, g_w, \qquad b \leftarrow b - \eta\, g_b .

    Args:
        w, b: the start (``w`` is not modified; new arrays are returned).
        X, y: the whole training set.
        loss_and_grad: ``(w, b, X_batch, y_batch) -> (loss, dw, db)``, e.g.
            :func:`linear_mse_loss_and_grad`.
        lr: the learning rate :math:`\eta \ge 0`.
        batch_size: examples per batch (``N`` gives full-batch gradient descent, 1 gives
            "pure" SGD).
        rng: ``numpy.random.Generator`` for the shuffle, or ``None`` for the original order.

    Returns:
        ``(w, b, losses)``: the weights after the epoch and the list of the batch losses,
        each measured **before** that batch's update (one per batch).
    """
    if not isinstance(lr, numbers.Real) or lr < 0:
        raise ValueError(f"sgd_epoch needs a learning rate lr >= 0, got lr={lr!r}.")
    if not callable(loss_and_grad):
        raise TypeError("sgd_epoch needs loss_and_grad to be a function (w, b, X, y) -> (loss, dw, db).")
    w = B.asarray(w)
    w = w.clone() if B.is_tensor(w) else w.copy()
    b = float(b)
    losses = []
    for X_batch, y_batch in minibatches(X, y, batch_size, rng):
        loss, dw, db = loss_and_grad(w, b, X_batch, y_batch)
        w = w - lr * dw
        b = b - lr * float(db)
        losses.append(float(loss))
    return w, b, losses
