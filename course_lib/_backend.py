"""One code path for NumPy arrays and torch tensors.

The reference functions are written once against the few operations below, so the same
``adam`` updates a NumPy vector in a notebook and a ``torch.nn.Parameter`` inside
:class:`course_lib.torch_optim.FunctionalOptimizer`. torch is never imported here: a
tensor is recognised by its type's module, so NumPy-only notebooks stay light.
"""

import numpy as np


def is_tensor(x):
    """True for a torch tensor (without importing torch)."""
    return type(x).__module__.startswith("torch")


def namespace(x):
    """The array module for ``x``: ``torch`` for a tensor, ``numpy`` otherwise."""
    if is_tensor(x):
        import torch

        return torch
    return np


def asarray(x):
    """``x`` unchanged if it is a tensor or an ndarray, else ``np.asarray(x, float)``."""
    if is_tensor(x) or isinstance(x, np.ndarray):
        return x
    return np.asarray(x, dtype=float)


def zeros_like(x):
    return namespace(x).zeros_like(x)


def sqrt(x):
    return namespace(x).sqrt(x)
