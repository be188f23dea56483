"""course_lib.solutions.regularization against torch (F.dropout, autograd, torch.optim.SGD's weight_decay,
torchvision's v2.RandomCrop / RandomHorizontalFlip semantics) and simulations."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from course_lib.solutions.regularization import (dropout_backward, dropout_forward, ensemble_error_variance, ensemble_probs,
                                                 l2_penalty, random_crop_flip)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_match_f_dropout(p):
    x = np.full((400, 500), 2.0)
    out, mask = dropout_forward(x, p, True, np.random.default_rng(0))
    t = F.dropout(torch.tensor(x), p, training=True).numpy()
    n = x.size
    band = 6 * math.sqrt(p * (1 - p) / n)                   # 6 standard errors of a fraction: far below 1e-6 false failures
    assert abs((out == 0).mean() - p) < band and abs((t == 0).mean() - p) < band
    assert np.allclose(np.unique(out[out != 0]), np.unique(t[t != 0]))      # survivors scaled by exactly 1 / (1 - p)


def test_dropout_eval_is_identity_and_p_one_drops_all():
    x = np.arange(6.0).reshape(2, 3)
    out, _ = dropout_forward(x, 0.7, False, np.random.default_rng(0))
    np.testing.assert_array_equal(out, F.dropout(torch.tensor(x), 0.7, training=False).numpy())
    out, _ = dropout_forward(x, 1.0, True, np.random.default_rng(0))
    np.testing.assert_array_equal(out, F.dropout(torch.tensor(x), 1.0, training=True).numpy())


def test_dropout_backward_reuses_the_mask_as_autograd_does():
    rng = np.random.default_rng(3)
    x, dout = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    out, mask = dropout_forward(x, 0.4, True, np.random.default_rng(1))
    keep = np.random.default_rng(1).random(x.shape) >= 0.4
    t = torch.tensor(x, requires_grad=True)
    (t * torch.tensor(keep / 0.6)).mul(torch.tensor(dout)).sum().backward()
    np.testing.assert_allclose(out, x * keep / 0.6)
    np.testing.assert_allclose(dropout_backward(dout, mask), t.grad.numpy())


def test_l2_penalty_matches_autograd_and_sgd_weight_decay():
    w0, g = np.array([1.0, -2.0, 0.5]), np.array([0.1, 0.2, -0.3])
    pen, grad = l2_penalty(w0, 0.3)
    t = torch.tensor(w0, requires_grad=True)
    (0.15 * (t ** 2).sum()).backward()
    assert pen == pytest.approx(0.15 * (w0 ** 2).sum())
    np.testing.assert_allclose(grad, t.grad.numpy())
    p = torch.tensor(w0, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1, weight_decay=0.3)
    p.grad = torch.tensor(g)
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), w0 - 0.1 * (g + grad))


def test_random_crop_flip_matches_torchvision_functional():
    images = np.random.default_rng(0).normal(size=(6, 3, 5, 7))
    pad = 2
    out = random_crop_flip(images, pad, np.random.default_rng(4))
    r = np.random.default_rng(4)
    offsets, flips = r.integers(0, 2 * pad + 1, size=(6, 2)), r.random(6) < 0.5
    for i in range(6):
        t = TF.pad(torch.tensor(images[i]), [pad, pad, pad, pad], fill=0)
        t = TF.crop(t, int(offsets[i, 0]), int(offsets[i, 1]), 5, 7)
        if flips[i]:
            t = TF.horizontal_flip(t)
        np.testing.assert_array_equal(out[i], t.numpy())


def test_ensemble_probs_is_the_mean_of_softmaxes():
    z = np.random.default_rng(0).normal(size=(4, 3, 5)) * 3
    np.testing.assert_allclose(ensemble_probs(z), torch.softmax(torch.tensor(z), -1).mean(0).numpy())


@pytest.mark.parametrize("rho,m", [(0.0, 5), (0.3, 10), (0.9, 3)])
def test_ensemble_error_variance_matches_a_simulation(rho, m):
    rng = np.random.default_rng(0)
    cov = 2.0 * (rho * np.ones((m, m)) + (1 - rho) * np.eye(m))
    errors = rng.multivariate_normal(np.zeros(m), cov, size=200_000)
    assert ensemble_error_variance(2.0, rho, m) == pytest.approx(errors.mean(1).var(), rel=0.02)
