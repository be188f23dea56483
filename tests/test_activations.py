"""course_lib.solutions.activations against torch's activations and autograd (also at the kinks)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.solutions.activations import KINDS, activate, activation_grad

TORCH = {
    "sigmoid": lambda t, a: torch.sigmoid(t),
    "tanh": lambda t, a: torch.tanh(t),
    "relu": lambda t, a: F.relu(t),
    "leaky_relu": lambda t, a: F.leaky_relu(t, 0.01 if a is None else a),
    "elu": lambda t, a: F.elu(t, 1.0 if a is None else a),
}


def _torch(x, kind, alpha):
    t = torch.tensor(x, requires_grad=True)
    y = TORCH[kind](t, alpha)
    y.sum().backward()
    return y.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("alpha", [None, 0.3, 2.0])
def test_values_and_derivatives_match_torch(kind, alpha):
    rng = np.random.default_rng(hash((kind, alpha)) % 2**32)
    x = np.concatenate([rng.normal(scale=3.0, size=(40,)), [0.0, -0.0, 1e-12, -1e-12, 30.0, -30.0]]).reshape(2, 23)
    y_t, g_t = _torch(x, kind, alpha)
    np.testing.assert_allclose(activate(x, kind, alpha), y_t, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(activation_grad(x, kind, alpha), g_t, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
def test_finite_at_large_inputs(kind):
    x = np.array([-1000.0, -700.0, 700.0, 1000.0])
    y_t, g_t = _torch(x, kind, None)
    with np.errstate(over="raise", invalid="raise"):  # underflow to 0 is right
        np.testing.assert_allclose(activate(x, kind), y_t, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(activation_grad(x, kind), g_t, rtol=1e-12, atol=1e-300)


def test_an_unknown_kind_is_refused_in_one_sentence():
    with pytest.raises(ValueError, match="unknown activation kind"):
        activate(np.zeros(2), "softplus")
    with pytest.raises(ValueError, match="unknown activation kind"):
        activation_grad(np.zeros(2), "swish")
