"""course_lib.solutions.averaging against torch.optim.swa_utils.AveragedModel and the plain mean."""

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from course_lib.solutions.averaging import average_weights, swa_average


def _net():
    return nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def test_matches_averaged_model_over_training():
    torch.manual_seed(0)
    model = _net()
    swa = AveragedModel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    avg, n = None, 0
    snapshots = []
    for step in range(12):
        x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if step % 2 == 1:  # average every other step, as SWA averages once per epoch
            swa.update_parameters(model)
            params = {k: p.detach().clone() for k, p in model.named_parameters()}
            snapshots.append(params)
            avg, n = average_weights(avg, params, n)
            assert n == int(swa.n_averaged)
            for k, p in swa.module.named_parameters():
                torch.testing.assert_close(avg[k], p.detach(), rtol=1e-6, atol=1e-7)
    # the running mean equals the plain mean of the snapshots
    for k in avg:
        torch.testing.assert_close(avg[k], torch.stack([s[k] for s in snapshots]).mean(0), rtol=1e-5, atol=1e-6)
    batch = swa_average(snapshots)
    for k in avg:
        torch.testing.assert_close(batch[k], avg[k])


@pytest.mark.parametrize("seed", range(4))
def test_numpy_running_mean_is_the_mean(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 5, size=int(rng.integers(1, 3))))
    ws = [rng.normal(size=shape) for _ in range(int(rng.integers(1, 9)))]
    avg, n = None, 0
    for k, w in enumerate(ws):
        w_before = w.copy()
        avg_before = None if avg is None else avg.copy()
        new, n = average_weights(avg, w, n)
        np.testing.assert_array_equal(w, w_before)
        if avg_before is not None:
            np.testing.assert_array_equal(avg, avg_before)  # the old average is not modified
        avg = new
        assert n == k + 1
        np.testing.assert_allclose(avg, np.mean(ws[: k + 1], axis=0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(swa_average(ws), np.mean(ws, axis=0), rtol=1e-12, atol=1e-14)


def test_first_average_is_a_copy():
    w = np.array([1.0, 2.0])
    avg, n = average_weights(None, w, 0)
    assert n == 1 and avg is not w
    np.testing.assert_array_equal(avg, w)


def test_state_dict_with_batchnorm_buffers():
    torch.manual_seed(1)
    a, b = _net(), _net()
    for m in (a, b):  # fill running stats differently
        m.train()(torch.randn(32, 5) * (2 if m is a else 0.5))
    sd = swa_average([copy.deepcopy(a.state_dict()), copy.deepcopy(b.state_dict())])
    sa, sb = a.state_dict(), b.state_dict()
    torch.testing.assert_close(sd["0.weight"], (sa["0.weight"] + sb["0.weight"]) / 2)
    torch.testing.assert_close(sd["1.running_var"], (sa["1.running_var"] + sb["1.running_var"]) / 2)
    assert sd["1.num_batches_tracked"].dtype == torch.long
    assert int(sd["1.num_batches_tracked"]) == int(sb["1.num_batches_tracked"])
    model = _net()
    model.load_state_dict(sd)  # a valid state_dict for the same architecture


def test_bad_input():
    with pytest.raises(ValueError, match="n_averaged"):
        average_weights(np.zeros(2), np.zeros(2), -1)
    with pytest.raises(ValueError, match="avg=None"):
        average_weights(None, np.zeros(2), 3)
    with pytest.raises(ValueError, match="shape"):
        average_weights(np.zeros(2), np.zeros(3), 1)
    with pytest.raises(ValueError, match="same keys"):
        average_weights({"a": np.zeros(2)}, {"b": np.zeros(2)}, 1)
    with pytest.raises(ValueError, match="at least one"):
        swa_average([])
