"""Weight initialization (notebook 11): torch's fan conventions, Xavier/Glorot and He, and the
signal's scale through depth.

torch stores a ``Linear`` weight as ``(out_features, in_features)`` and a convolution's as
``(out_channels, in_channels, *kernel)``, so with ``r = prod(shape[2:])`` (the receptive field):
fan_in = shape[1] · r and fan_out = shape[0] · r (``torch.nn.init._calculate_fan_in_and_fan_out``).
"""

import math

import numpy as np


def fan_in_fan_out(shape):
    """``(fan_in, fan_out)`` of a weight of ``shape`` in torch's convention, as Python ints;
    ValueError for fewer than two dimensions (torch too)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"a weight needs at least 2 dimensions to have a fan-in and a fan-out; got shape {shape}.")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def init_std(shape, scheme, negative_slope=0.0):
    """The standard deviation of ``scheme``: Xavier/Glorot √(2 / (fan_in + fan_out))
    (``xavier_normal_``, gain 1), He √(2 / ((1 + a²) fan_in)) (``kaiming_normal_(a=negative_slope,
    mode="fan_in", nonlinearity="leaky_relu")``; a = 0 is ReLU's √(2 / fan_in))."""
    fan_in, fan_out = fan_in_fan_out(shape)
    if scheme == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "he":
        return math.sqrt(2.0 / ((1.0 + negative_slope ** 2) * fan_in))
    raise ValueError(f"unknown scheme {scheme!r}; use 'xavier' or 'he'.")


def init_weights(shape, scheme, rng, distribution="normal", negative_slope=0.0):
    """A weight of ``shape`` drawn from ``rng`` (a NumPy Generator) with ``scheme``'s variance.

    ``"normal"``: zero-mean Gaussian, one call ``rng.normal(0.0, std, size=shape)``;
    ``"uniform"``: symmetric uniform on (-b, b) with b = √3 · std (same variance), one call
    ``rng.uniform(-b, b, size=shape)``. Equal in distribution to torch's ``xavier_normal_`` /
    ``xavier_uniform_`` / ``kaiming_normal_`` / ``kaiming_uniform_`` (fan_in mode, leaky_relu with
    ``a=negative_slope``). Never uniform on (0, 1): a weight distribution must be centred at 0.
    """
    std = init_std(shape, scheme, negative_slope)
    if distribution == "normal":
        return rng.normal(0.0, std, size=tuple(shape))
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
        return rng.uniform(-bound, bound, size=tuple(shape))
    raise ValueError(f"unknown distribution {distribution!r}; use 'normal' or 'uniform'.")


def predicted_rms(depth, gain, activation, negative_slope=0.01, input_rms=1.0):
    """The root mean square of the output of the last of ``depth`` linear layers, in the wide limit.

    Each layer's weights are zero-mean with variance gain² / fan_in, biases 0, the activation
    between layers (none after the last). The first layer sees the input: q₁ = gain² · input_rms²;
    each later one sees φ(z) of a zero-mean symmetric z, whose mean square is c · q with c = 1
    (linear), 1/2 (ReLU), (1 + a²)/2 (leaky ReLU, slope a): q_l = gain² · c · q_{l-1}. So
    rms = input_rms · gain^depth · c^((depth - 1) / 2).
    """
    c = {"linear": 1.0, "relu": 0.5, "leaky_relu": (1.0 + negative_slope ** 2) / 2.0}[activation]
    return float(input_rms * gain ** depth * c ** ((depth - 1) / 2.0))
