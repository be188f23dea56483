"""Reference solution for notebook 02: cutting a data set into mini-batches.

One epoch of mini-batch SGD visits every example once, in a fresh random order each
epoch. :func:`minibatches` draws that order from a NumPy random ``Generator``, so the same
seed gives the same batches, on NumPy arrays and torch tensors alike.
"""

import numbers

import numpy as np

from course_lib import _backend as B


def _take(a, idx):
    """Rows ``idx`` of ``a`` as a new array (fancy indexing copies; slicing would not)."""
    if B.is_tensor(a):
        import torch

        return a[torch.as_tensor(idx, dtype=torch.long, device=a.device)]
    return a[idx]


def minibatches(X, y, batch_size, rng=None):
    r"""Split ``(X, y)`` into mini-batches after one shuffle shared by ``X`` and ``y``.

    With a permutation :math:`\pi` of :math:`0, \dots, N-1` drawn once from ``rng``, batch
    ``k`` holds the rows :math:`\pi(kB), \dots, \pi(\min((k+1)B, N) - 1)` of ``X`` **and**
    of ``y``, so every pair ``(X[i], y[i])`` stays together, every row appears in exactly
    one batch, and the last batch is smaller when ``B`` does not divide ``N`` (it is kept,
    not dropped: ``ceil(N / B)`` batches in all, like ``torch.utils.data.DataLoader`` with
    ``drop_last=False``).

    Args:
        X: ``(N, ...)`` NumPy array or torch tensor (a list is converted to an array).
        y: ``(N, ...)`` array or tensor of targets, same ``N``.
        batch_size: ``B``, an integer ``>= 1``.
        rng: a ``numpy.random.Generator`` (e.g. ``np.random.default_rng(0)``) whose
            ``permutation(N)`` gives the order; a legacy ``RandomState`` works too, an int is
            taken as the seed of ``default_rng``, and ``None`` keeps the original order.

    Returns:
        A list of ``(X_batch, y_batch)`` pairs, each a new array of its input's kind.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(f"minibatches needs an integer batch_size, got {batch_size!r}.")
    if batch_size < 1:
        raise ValueError(f"minibatches needs batch_size >= 1, got batch_size={batch_size}.")
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        rng = np.random.default_rng(int(rng))
    if rng is not None and not isinstance(rng, (np.random.Generator, np.random.RandomState)):
        raise TypeError(
            f"minibatches needs rng to be a numpy Generator such as np.random.default_rng(0), a seed, or None, "
            f"got {type(rng).__name__}."
        )
    X = X if B.is_tensor(X) or isinstance(X, np.ndarray) else np.asarray(X)
    y = y if B.is_tensor(y) or isinstance(y, np.ndarray) else np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError("minibatches needs X and y with one row per example, got a scalar.")
    n = len(X)
    if len(y) != n:
        raise ValueError(
            f"minibatches needs as many targets as examples, got len(X)={n} and len(y)={len(y)}."
        )
    order = np.arange(n) if rng is None else rng.permutation(n)
    return [
        (_take(X, order[start : start + batch_size]), _take(y, order[start : start + batch_size]))
        for start in range(0, n, batch_size)
    ]


def minibatch_noise(sigma2, batch_size, n):
    r"""Expected squared error of the gradient of one mini-batch of distinct examples.

    With per-example gradients :math:`\nabla\ell_i`, the full gradient :math:`\nabla L` (their
    mean) and their variance :math:`\sigma^2 = \frac1N \sum_i \lVert \nabla\ell_i - \nabla L \rVert^2`,
    a batch :math:`\mathcal B` of :math:`B` **distinct** examples drawn uniformly at random (without
    replacement, as one batch of :func:`minibatches` is) has

    .. math::

        \mathbb E\,\lVert g_{\mathcal B} - \nabla L \rVert^2 = \frac{\sigma^2}{B}\cdot\frac{N - B}{N - 1},
        \qquad g_{\mathcal B} = \frac1B \sum_{i \in \mathcal B} \nabla\ell_i .

    The deviations :math:`d_i = \nabla\ell_i - \nabla L` sum to zero, so two distinct members of a
    batch have :math:`\mathbb E\, d_i^\top d_j = -\sigma^2/(N-1)`: this negative correlation is the
    finite-population correction :math:`(N-B)/(N-1)`. Drawn with replacement the answer would be
    :math:`\sigma^2/B`. A batch of all :math:`N` examples is exact (0), ``N = 1`` included.

    Args:
        sigma2: :math:`\sigma^2 \ge 0`.
        batch_size: :math:`B`, an integer with ``1 <= B <= n``.
        n: :math:`N`, the number of examples, an integer ``>= 1``.

    Returns:
        The expected squared error, a Python float.
    """
    for name, value in (("batch_size", batch_size), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"minibatch_noise needs an integer {name}, got {value!r}.")
    if not 1 <= batch_size <= n:
        raise ValueError(f"minibatch_noise needs 1 <= batch_size <= n, got batch_size={batch_size}, n={n}.")
    if not isinstance(sigma2, numbers.Real) or not sigma2 >= 0:
        raise ValueError(f"minibatch_noise needs a variance sigma2 >= 0, got sigma2={sigma2!r}.")
    if batch_size == n:
        return 0.0
    return float(sigma2) / int(batch_size) * (int(n) - int(batch_size)) / (int(n) - 1)
