"""course_lib.solutions.data.minibatches: a shared shuffle, every row once, pairs kept, last batch kept."""

import math

import numpy as np
import pytest
import torch

from course_lib.solutions.data import minibatches


def _dataset(n, d=3):
    # row i of X starts with i, and y[i] = 10 * i + 7: a pair can be checked after any shuffle
    X = np.concatenate([np.arange(n)[:, None], np.random.default_rng(n).normal(size=(n, d - 1))], axis=1)
    y = 10 * np.arange(n) + 7
    return X, y


@pytest.mark.parametrize("n,batch_size", [(10, 3), (10, 5), (10, 1), (10, 10), (10, 64), (1, 4), (97, 32)])
@pytest.mark.parametrize("seed", [None, 0, 1])
def test_partition_pairs_and_sizes(n, batch_size, seed):
    X, y = _dataset(n)
    rng = None if seed is None else np.random.default_rng(seed)
    batches = minibatches(X, y, batch_size, rng)
    assert len(batches) == math.ceil(n / batch_size)
    sizes = [len(xb) for xb, _ in batches]
    assert all(s == batch_size for s in sizes[:-1])
    assert sizes[-1] == n - batch_size * (len(batches) - 1)  # the partial batch is kept
    ids = np.concatenate([xb[:, 0] for xb, _ in batches]).astype(int)
    assert sorted(ids.tolist()) == list(range(n))  # every row exactly once
    for xb, yb in batches:
        assert len(xb) == len(yb)
        np.testing.assert_array_equal(yb, 10 * xb[:, 0].astype(int) + 7)  # pairs stay together
        np.testing.assert_array_equal(xb, X[xb[:, 0].astype(int)])  # whole rows, untouched
    if seed is None:
        assert ids.tolist() == list(range(n))


def test_shuffle_is_the_generators_permutation_and_deterministic():
    X, y = _dataset(50)
    a = minibatches(X, y, 8, np.random.default_rng(42))
    b = minibatches(X, y, 8, np.random.default_rng(42))
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    order = np.concatenate([xb[:, 0] for xb, _ in a]).astype(int)
    np.testing.assert_array_equal(order, np.random.default_rng(42).permutation(50))
    c = minibatches(X, y, 8, np.random.default_rng(43))
    assert not np.array_equal(np.concatenate([xb[:, 0] for xb, _ in c]), order)
    # one generator, two epochs: two different orders
    rng = np.random.default_rng(0)
    e1 = np.concatenate([xb[:, 0] for xb, _ in minibatches(X, y, 8, rng)])
    e2 = np.concatenate([xb[:, 0] for xb, _ in minibatches(X, y, 8, rng)])
    assert not np.array_equal(e1, e2)


def test_torch_tensors_and_no_aliasing():
    X, y = _dataset(13)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    X0 = X.copy()
    batches = minibatches(Xt, yt, 4, np.random.default_rng(0))
    ref = minibatches(X, y, 4, np.random.default_rng(0))
    assert len(batches) == 4
    for (xb, yb), (xr, yr) in zip(batches, ref):
        assert isinstance(xb, torch.Tensor) and isinstance(yb, torch.Tensor)
        np.testing.assert_array_equal(xb.numpy(), xr)
        np.testing.assert_array_equal(yb.numpy(), yr)
    # batches are copies even without shuffling: writing into one leaves X alone
    xb, _ = minibatches(X, y, 5, None)[0]
    xb[:] = -1
    np.testing.assert_array_equal(X, X0)


def test_bad_input():
    X, y = _dataset(6)
    with pytest.raises(ValueError, match="len"):
        minibatches(X, y[:5], 2, None)
    with pytest.raises(ValueError, match="batch_size"):
        minibatches(X, y, 0, None)
    with pytest.raises(TypeError, match="batch_size"):
        minibatches(X, y, 2.5, None)
    with pytest.raises(TypeError, match="Generator"):
        minibatches(X, y, 2, "seed")


def test_a_seed_or_a_random_state_also_shuffles_reproducibly():
    X, y = _dataset(11)
    by_seed = minibatches(X, y, 4, 7)
    by_generator = minibatches(X, y, 4, np.random.default_rng(7))
    for (a, _), (b, _) in zip(by_seed, by_generator):
        np.testing.assert_array_equal(a, b)
    legacy = minibatches(X, y, 4, np.random.RandomState(3))
    order = np.concatenate([xb[:, 0] for xb, _ in legacy]).astype(int)
    np.testing.assert_array_equal(order, np.random.RandomState(3).permutation(11))


@pytest.mark.parametrize("n,d", [(1, 2), (2, 1), (5, 3), (7, 2)])
def test_minibatch_noise_is_the_average_over_every_batch(n, d):
    import itertools

    from course_lib.solutions.data import minibatch_noise

    grads = np.random.default_rng(n * 10 + d).normal(size=(n, d))
    full = grads.mean(axis=0)
    sigma2 = float(np.mean(np.sum((grads - full) ** 2, axis=1)))
    for B in range(1, n + 1):
        # the truth by exhaustive enumeration: every batch of B distinct examples is equally likely
        exact = np.mean([np.sum((grads[list(idx)].mean(axis=0) - full) ** 2)
                         for idx in itertools.combinations(range(n), B)])
        assert minibatch_noise(sigma2, B, n) == pytest.approx(exact, rel=1e-10, abs=1e-14)


def test_minibatch_noise_matches_the_batches_of_minibatches_and_rejects_bad_sizes():
    from course_lib.solutions.data import minibatch_noise

    # a Monte-Carlo check through minibatches itself: the first batch of each shuffle is a random batch
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(40, 2))
    full = grads.mean(axis=0)
    sigma2 = float(np.mean(np.sum((grads - full) ** 2, axis=1)))
    errors = [np.sum((minibatches(grads, grads, 8, rng)[0][0].mean(axis=0) - full) ** 2) for _ in range(20000)]
    assert np.mean(errors) == pytest.approx(minibatch_noise(sigma2, 8, 40), rel=0.03)
    assert minibatch_noise(2.0, np.int64(1), np.int64(9)) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="batch_size <= n"):
        minibatch_noise(1.0, 5, 4)
    with pytest.raises(TypeError, match="integer"):
        minibatch_noise(1.0, 2.5, 4)
    with pytest.raises(ValueError, match="sigma2 >= 0"):
        minibatch_noise(-1.0, 2, 4)
