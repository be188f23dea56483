"""Notebook 12: wrong answers students write, each of which must fail its tests (and lose the points).

Where the mistake can be recognized, the failure message must name it.
"""

from mistakes import catalogue_tests, solution_with
from notebook_text import ROOT

NB = ROOT / "notebooks" / "12_regularization" / "12_regularization.ipynb"


def edit(grade_id, old, new):
    return solution_with(NB, grade_id, old, new)


MISTAKES = [
    # Exercise 1: dropout_forward
    ("test_dropout_forward", "no scaling in training (classic dropout's training half)",
     edit("dropout_forward", "keep / (1.0 - p)", "keep * 1.0"), "you did not scale"),
    ("test_dropout_forward", "kept entries multiplied by 1 - p",
     edit("dropout_forward", "keep / (1.0 - p)", "keep * (1.0 - p)"), "not multiplied by it"),
    ("test_dropout_forward", "divided by p",
     edit("dropout_forward", "keep / (1.0 - p)", "keep / p"), "not by p"),
    ("test_dropout_forward", "p used as the keep probability",
     edit("dropout_forward", "keep = rng.random(x.shape) >= p", "keep = rng.random(x.shape) < p"), "probability to DROP"),
    ("test_dropout_forward", "scales at test time too (inverted and classic at once)",
     edit("dropout_forward", "return np.array(x, dtype=float), np.ones_like(x, dtype=float)",
          "return x * (1 - p), np.ones_like(x, dtype=float)"), "evaluation mode is the identity"),
    ("test_dropout_forward", "drops at test time too",
     edit("dropout_forward", "    if not train:\n        return np.array(x, dtype=float), np.ones_like(x, dtype=float)\n", ""), "In evaluation mode"),
    ("test_dropout_forward", "a new generator instead of the rng given",
     edit("dropout_forward", "keep = rng.random(x.shape) >= p", "keep = np.random.default_rng().random(x.shape) >= p"), None),
    ("test_dropout_forward", "p = 1 divides by zero",
     edit("dropout_forward", "mask = np.zeros(x.shape) if p == 1 else keep / (1.0 - p)", "mask = keep / (1.0 - p)"), None),
    ("test_dropout_forward", "x changed in place", """
def dropout_forward(x, p, train, rng):
    if not train:
        return np.array(x, dtype=float), np.ones_like(x, dtype=float)
    keep = rng.random(x.shape) >= p
    mask = np.zeros(x.shape) if p == 1 else keep / (1.0 - p)
    x *= mask
    return x, mask
""", "in place"),
    # Exercise 2: dropout_backward
    ("test_dropout_backward", "mask not applied", edit("dropout_backward", "return dout * mask", "return dout"), "multiply dout by the mask"),
    ("test_dropout_backward", "mask applied without its scale",
     edit("dropout_backward", "return dout * mask", "return dout * (mask != 0)"), "scaled by 1 / (1 - p) too"),
    ("test_dropout_backward", "a new mask drawn in backward",
     edit("dropout_backward", "return dout * mask", "return dout * (np.random.default_rng().random(dout.shape) >= 0.5) * 2.0"), None),
    ("test_dropout_backward", "dout changed in place", edit("dropout_backward", "return dout * mask", "dout *= mask\n    return dout"), "in place"),
    # Exercise 3: l2_penalty
    ("test_l2_penalty", "penalty without the 1/2", edit("l2_penalty", "0.5 * lam * float((w * w).sum())", "lam * float((w * w).sum())"),
     "the 1/2 is missing"),
    ("test_l2_penalty", "gradient 2 lam w", edit("l2_penalty", ", lam * w", ", 2 * lam * w"), "the 2 cancels the 1/2"),
    ("test_l2_penalty", "gradient with the wrong sign", edit("l2_penalty", ", lam * w", ", -lam * w"), "points away from 0"),
    ("test_l2_penalty", "the norm instead of its square",
     edit("l2_penalty", "0.5 * lam * float((w * w).sum())", "0.5 * lam * float(np.sqrt((w * w).sum()))"), "without squaring"),
    # Exercise 4: random_crop_flip
    ("test_random_crop_flip", "flips upside down", edit("random_crop_flip", "crop[:, :, ::-1]", "crop[:, ::-1, :]"), "not upside down"),
    ("test_random_crop_flip", "offsets read as (left, top)", edit("random_crop_flip", "top, left = offsets[i]", "left, top = offsets[i]"), "(top, left)"),
    ("test_random_crop_flip", "pads with the edge values",
     edit("random_crop_flip", "(pad, pad), (pad, pad)))", "(pad, pad), (pad, pad)), mode=\"edge\")"), "not with the edge values"),
    ("test_random_crop_flip", "pads the batch and channel axes too (a crop that pads the wrong axes)",
     edit("random_crop_flip", "np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))", "np.pad(images, pad)").replace(
         "out = np.empty(images.shape)", "out = np.zeros(padded.shape[:2] + (h, w))"), "pad only the height and width axes"),
    ("test_random_crop_flip", "flips drawn before the offsets", """
def random_crop_flip(images, pad, rng):
    n, _, h, w = images.shape
    flips = rng.random(n) < 0.5
    offsets = rng.integers(0, 2 * pad + 1, size=(n, 2))
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty(images.shape)
    for i in range(n):
        top, left = offsets[i]
        crop = padded[i, :, top:top + h, left:left + w]
        out[i] = crop[:, :, ::-1] if flips[i] else crop
    return out
""", None),
    ("test_random_crop_flip", "always flips", edit("random_crop_flip", "if flips[i] else crop", "if True else crop"), "you flipped every image"),
    ("test_random_crop_flip", "flips where the draw is at least 0.5", edit("random_crop_flip", "flips = rng.random(n) < 0.5", "flips = rng.random(n) >= 0.5"), None),
    ("test_random_crop_flip", "offsets up to 2 pad - 1 only", edit("random_crop_flip", "rng.integers(0, 2 * pad + 1", "rng.integers(0, 2 * pad"), None),
    # Exercise 5: ensemble_probs
    ("test_ensemble_probs", "softmax of the mean logits", """
def ensemble_probs(logits_list):
    z = np.asarray(logits_list, dtype=float).mean(axis=0)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
""", "not their logits"),
    ("test_ensemble_probs", "the mean logits", """
def ensemble_probs(logits_list):
    return np.asarray(logits_list, dtype=float).mean(axis=0)
""", "you returned the mean logits"),
    ("test_ensemble_probs", "softmax over the members", edit("ensemble_probs", "z.max(axis=-1, keepdims=True)", "z.max(axis=0, keepdims=True)").replace(
        "e.sum(axis=-1, keepdims=True)", "e.sum(axis=0, keepdims=True)"), "not over the members"),
    ("test_ensemble_probs", "no max shift (overflow at 1000)", edit("ensemble_probs", "np.exp(z - z.max(axis=-1, keepdims=True))", "np.exp(z)"), "NaN or inf"),
    # Exercise 6: ensemble_error_variance (predict)
    ("test_ensemble_error_variance", "independent errors assumed (sigma2 / m)",
     edit("ensemble_error_variance", "rho * sigma2 + (1.0 - rho) * sigma2 / m", "sigma2 / m"), "assumes independent models"),
    ("test_ensemble_error_variance", "only the correlated part",
     edit("ensemble_error_variance", "rho * sigma2 + (1.0 - rho) * sigma2 / m", "rho * sigma2"), "you dropped the (1 - rho) sigma2 / m term"),
    ("test_ensemble_error_variance", "(rho + 1/m) sigma2",
     edit("ensemble_error_variance", "rho * sigma2 + (1.0 - rho) * sigma2 / m", "(rho + 1.0 / m) * sigma2"), "it is that part that is divided by m"),
    ("test_ensemble_error_variance", "a standard deviation returned",
     edit("ensemble_error_variance", "float(rho * sigma2 + (1.0 - rho) * sigma2 / m)", "float((rho * sigma2 + (1.0 - rho) * sigma2 / m) ** 0.5)"),
     "you returned a standard deviation"),
    ("test_ensemble_error_variance", "divided by m squared",
     edit("ensemble_error_variance", "(1.0 - rho) * sigma2 / m", "(1.0 - rho) * sigma2 / m ** 2"), "not by m**2"),
    ("test_ensemble_error_variance", "pairs counted once (m (m - 1) / 2 covariances)",
     edit("ensemble_error_variance", "rho * sigma2 + (1.0 - rho) * sigma2 / m", "sigma2 / m + (m - 1) / (2 * m) * rho * sigma2"), None),
]


test_every_mistake_loses_the_points, test_the_reference_answers_pass = catalogue_tests(NB, MISTAKES, 15)
