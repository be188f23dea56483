"""Regularization (notebook 12): inverted dropout, the L2 penalty, data augmentation, ensembles.

* Inverted dropout (what torch's ``F.dropout`` / ``nn.Dropout`` do): in training, keep each entry with
  probability 1 - p and divide the kept ones by 1 - p, so E[out] = x and evaluation is the identity.
  The classic (non-inverted) form keeps the entries unscaled during training and multiplies by the
  keep probability 1 - p at test time instead; doing both scales twice.
* The L2 penalty (λ/2)‖w‖² has gradient λw: SGD on loss + penalty is ``torch.optim.SGD(weight_decay=λ)``,
  which for plain SGD equals decoupled decay; for Adam the two differ (notebook 06).
"""

import numpy as np


def dropout_forward(x, p, train, rng):
    """``(out, mask)``. Training: ``keep = rng.random(x.shape) >= p`` (one draw per entry), ``mask =
    keep / (1 - p)`` and ``out = x * mask``; p = 1 drops everything (out = 0, as torch). Evaluation (or
    p = 0): ``out = x`` (a copy) and ``mask`` all ones, no draw."""
    x = np.asarray(x, dtype=float)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, got {p}")
    if not train or p == 0.0:
        return x.copy(), np.ones_like(x)
    if p == 1.0:
        rng.random(x.shape)
        return np.zeros_like(x), np.zeros_like(x)
    mask = (rng.random(x.shape) >= p) / (1.0 - p)
    return x * mask, mask


def dropout_backward(dout, mask):
    """dL/dx = dout * mask: the same mask as the forward pass (out is linear in x for a fixed mask)."""
    return np.asarray(dout, dtype=float) * mask


def l2_penalty(w, lam):
    """``(penalty, grad)`` = ((λ/2) Σ w², λ w): the gradient torch.optim.SGD's ``weight_decay=λ`` adds."""
    w = np.asarray(w, dtype=float)
    return 0.5 * lam * float((w * w).sum()), lam * w


def random_crop_flip(images, pad, rng):
    """A batch ``(N, C, H, W)`` with each image zero-padded by ``pad`` on H and W only, cropped back to
    (H, W) at a random offset, and flipped left-right with probability 1/2: torchvision's
    ``v2.RandomCrop((H, W), padding=pad)`` then ``v2.RandomHorizontalFlip()``. Draws, in this order:
    ``offsets = rng.integers(0, 2 * pad + 1, size=(N, 2))`` (top, left) and ``flips = rng.random(N) < 0.5``."""
    images = np.asarray(images, dtype=float)
    n, _, h, w = images.shape
    offsets = rng.integers(0, 2 * pad + 1, size=(n, 2))
    flips = rng.random(n) < 0.5
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty_like(images)
    for i, ((top, left), flip) in enumerate(zip(offsets, flips)):
        crop = padded[i, :, top:top + h, left:left + w]
        out[i] = crop[:, :, ::-1] if flip else crop
    return out


def ensemble_probs(logits_list):
    """The mean of the members' softmax probabilities, shape (N, C) — not the softmax of the mean logits."""
    z = np.asarray(logits_list, dtype=float)                 # (M, N, C)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    return p.mean(axis=0)


def ensemble_error_variance(sigma2, rho, m):
    """Variance of the mean of ``m`` errors, each of variance ``sigma2`` with pairwise correlation ``rho``:
    ρσ² + (1 - ρ)σ²/m. Only the uncorrelated part averages away."""
    return float(rho * sigma2 + (1.0 - rho) * sigma2 / m)
