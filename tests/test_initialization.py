"""course_lib.solutions.initialization against torch: the fan convention of nn.init, the
distributions of xavier_*_ and kaiming_*_ (statistically), calculate_gain, and a simulation of the
signal's scale through a deep network for predicted_rms."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.solutions.initialization import fan_in_fan_out, init_std, init_weights, predicted_rms

SHAPES = [(3, 5), (7, 2), (16, 3, 3, 3), (8, 4, 5), (4, 2, 3, 3, 3), (1, 1)]


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match_torch(shape):
    assert fan_in_fan_out(shape) == nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert all(type(f) is int for f in fan_in_fan_out(shape))


@pytest.mark.parametrize("shape", [(5,), ()])
def test_fewer_than_two_dimensions_is_refused(shape):
    with pytest.raises(ValueError):
        fan_in_fan_out(shape)


@pytest.mark.parametrize("shape", [(300, 500), (128, 64, 3, 3)])
@pytest.mark.parametrize("scheme,distribution,a", [("xavier", "normal", 0.0), ("xavier", "uniform", 0.0),
                                                    ("he", "normal", 0.0), ("he", "uniform", 0.0), ("he", "normal", 0.3)])
def test_distributions_match_torch_nn_init(shape, scheme, distribution, a):
    w = init_weights(shape, scheme, np.random.default_rng(0), distribution, negative_slope=a)
    t = torch.empty(shape, dtype=torch.float64)
    torch.manual_seed(0)
    {("xavier", "normal"): lambda: nn.init.xavier_normal_(t),
     ("xavier", "uniform"): lambda: nn.init.xavier_uniform_(t),
     ("he", "normal"): lambda: nn.init.kaiming_normal_(t, a=a, nonlinearity="leaky_relu"),
     ("he", "uniform"): lambda: nn.init.kaiming_uniform_(t, a=a, nonlinearity="leaky_relu")}[(scheme, distribution)]()
    t = t.numpy()
    n = w.size
    # 6-sigma bands: a false failure far rarer than one in a million
    assert abs(w.mean() - t.mean()) < 6 * t.std() * math.sqrt(2 / n)
    assert abs(w.std() / t.std() - 1) < 6 * math.sqrt(2 / (2 * n)) * 1.5
    kurt = lambda v: ((v - v.mean()) ** 4).mean() / v.var() ** 2
    assert abs(kurt(w) - kurt(t)) < 0.2
    if distribution == "uniform":
        assert abs(np.abs(w).max() / np.abs(t).max() - 1) < 1e-3


def test_std_uses_calculate_gain():
    assert init_std((30, 20), "he", 0.2) == pytest.approx(nn.init.calculate_gain("leaky_relu", 0.2) / math.sqrt(20))
    assert init_std((30, 20), "he") == pytest.approx(nn.init.calculate_gain("relu") / math.sqrt(20))
    assert init_std((30, 20, 3, 3), "xavier") == pytest.approx(math.sqrt(2 / (20 * 9 + 30 * 9)))


def test_a_seeded_generator_fixes_every_entry():
    a = init_weights((4, 6), "he", np.random.default_rng(5))
    b = init_weights((4, 6), "he", np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, math.sqrt(2 / 6) * np.random.default_rng(5).standard_normal((4, 6)), rtol=1e-15)


def simulated_rms(depth, gain, activation, a, input_rms, nets=128, width=128, n=64, seed=0):
    """The rms of the last layer's output, averaged (as a mean square) over many independent networks:
    its expectation is exact at any width, and the average over 128 networks makes it close."""
    g = torch.Generator().manual_seed(seed)
    act = {"linear": lambda z: z, "relu": torch.relu, "leaky_relu": lambda z: nn.functional.leaky_relu(z, a)}[activation]
    h = torch.randn(nets, n, width, generator=g) * input_rms
    for layer in range(depth):
        w = torch.randn(nets, width, width, generator=g) * gain / math.sqrt(width)
        h = (act(h) if layer else h) @ w
    return h.pow(2).mean().sqrt().item()


@pytest.mark.parametrize("activation,a", [("linear", 0.0), ("relu", 0.0), ("leaky_relu", 0.5)])
@pytest.mark.parametrize("depth,gain", [(1, 1.0), (5, math.sqrt(2)), (8, 1.2)])
def test_predicted_rms_matches_a_simulation(activation, a, depth, gain):
    sim = simulated_rms(depth, gain, activation, a, 0.7)
    assert predicted_rms(depth, gain, activation, negative_slope=a, input_rms=0.7) == pytest.approx(sim, rel=0.06)
