"""Activation functions and their derivatives (notebook 11), matching torch and its autograd.

``kind`` is one of ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"leaky_relu"``, ``"elu"``; ``alpha`` is the
slope of leaky ReLU for x < 0 (torch's ``negative_slope``, default 0.01) or ELU's saturation value
(torch's ``alpha``, default 1.0). Arrays of any shape, elementwise.

* sigmoid  σ(x) = 1 / (1 + e^{-x}),             σ'(x) = σ(x) (1 - σ(x))
* tanh     tanh(x),                            tanh'(x) = 1 - tanh(x)^2
* relu     max(0, x),                          1 for x > 0, else 0 (torch's choice at x = 0)
* leaky    x for x > 0, else α x,               1 for x > 0, else α (α at x = 0, as torch)
* elu      x for x > 0, else α (e^x - 1),        1 for x > 0, else α e^x (α at x = 0, as torch)
"""

import numpy as np

KINDS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu")
_DEFAULT_ALPHA = {"leaky_relu": 0.01, "elu": 1.0}


def _alpha(kind, alpha):
    if kind not in KINDS:
        raise ValueError(f"unknown activation kind {kind!r}; use one of {', '.join(KINDS)}.")
    return _DEFAULT_ALPHA.get(kind) if alpha is None else alpha


def _sigmoid(x):
    e = np.exp(-np.abs(x))                     # never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def activate(x, kind, alpha=None):
    """The activation ``kind`` applied elementwise to ``x`` (torch.sigmoid, torch.tanh, F.relu,
    F.leaky_relu, F.elu); finite for any finite x."""
    alpha = _alpha(kind, alpha)
    x = np.asarray(x, dtype=float)
    if kind == "sigmoid":
        return _sigmoid(x)
    if kind == "tanh":
        return np.tanh(x)
    if kind == "relu":
        return np.maximum(x, 0.0)
    if kind == "leaky_relu":
        return np.where(x > 0, x, alpha * x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def activation_grad(x, kind, alpha=None):
    """d activate(x, kind, alpha) / dx elementwise, equal to torch's autograd, also at x = 0."""
    alpha = _alpha(kind, alpha)
    x = np.asarray(x, dtype=float)
    if kind == "sigmoid":
        s = _sigmoid(x)
        return s * (1.0 - s)
    if kind == "tanh":
        return 1.0 - np.tanh(x) ** 2
    if kind == "relu":
        return (x > 0).astype(float)
    if kind == "leaky_relu":
        return np.where(x > 0, 1.0, alpha)
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))
