"""The plain-data wire format between a student's process and the grader."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from autograder.wire import Codec, WireError, _decode_nd


def roundtrip(x, codec=None):
    codec = codec or Codec()
    return codec.decode(codec.encode(x))


@pytest.mark.parametrize("value", [None, True, 3, -2**70, 1.5, "text", [1, [2, "a"]], (1, (2.0, None)),
                                   {"a": 1, 2: (3,), (1, 2): [4]}])
def test_plain_values_come_back_equal_and_of_the_same_type(value):
    got = roundtrip(value)
    assert got == value and type(got) is type(value)


def test_non_finite_floats():
    got = roundtrip([math.inf, -math.inf, math.nan])
    assert got[0] == math.inf and got[1] == -math.inf and math.isnan(got[2])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int8, np.bool_, np.complex128, np.uint16])
def test_arrays_keep_dtype_shape_and_values(dtype):
    a = (np.arange(24).reshape(2, 3, 4) % 3).astype(dtype)
    got = roundtrip(a)
    assert got.dtype == a.dtype and got.shape == a.shape and np.array_equal(got, a)
    assert roundtrip(a[:, ::2]).shape == (2, 2, 4)  # non-contiguous views too


def test_numpy_scalars_tensors_and_generators():
    assert type(roundtrip(np.float32(1.5))) is np.float32
    t = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    got = roundtrip(t)
    assert torch.equal(got, t.detach()) and got.requires_grad and got.dtype == torch.float64
    p = roundtrip(nn.Parameter(torch.ones(2)))
    assert isinstance(p, nn.Parameter)
    g = np.random.default_rng(5)
    g2 = roundtrip(g)
    assert g2.random() == g.random()


def test_models_of_standard_layers_are_rebuilt_with_their_state_and_flags():
    from collections import OrderedDict

    m = nn.Sequential(OrderedDict(features=nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                                         nn.AdaptiveAvgPool2d(1), nn.Flatten()),
                                  fc=nn.Linear(4, 5)))
    m.features[1].running_mean += 1.0
    m.features.eval()
    m.features[0].weight.requires_grad_(False)
    got = roundtrip(m)
    x = torch.randn(2, 3, 6, 6)
    m.eval(), got.eval()
    assert torch.allclose(got(x), m(x))
    assert not got.features[0].weight.requires_grad and got.fc.weight.requires_grad
    assert [type(c) for c in got.modules()] == [type(c) for c in m.modules()]


def test_unknown_objects_are_refused_or_kept_as_handles():
    class Sneaky:
        def __eq__(self, other):
            return True

    with pytest.raises(WireError):
        Codec().encode(Sneaky())
    kept = {}
    enc = Codec(make_ref=lambda o: kept.setdefault(len(kept) + 1, o) and len(kept)).encode(Sneaky())
    assert enc["~"] == "ref" and enc["type"] == "Sneaky"
    # a subclass of ndarray is not an ndarray here (its __eq__ could be anything)
    with pytest.raises(WireError):
        Codec().encode(np.zeros(3).view(type("Anything", (np.ndarray,), {"__eq__": lambda s, o: True})))


@pytest.mark.parametrize("bad", [
    {"~": "nd", "dtype": "|O", "shape": [1], "b64": ""},                 # object arrays could run code
    {"~": "nd", "dtype": "<f8", "shape": [3], "b64": "AAAA"},            # data does not fit the shape
    {"~": "nd", "dtype": "<f8", "shape": [-1], "b64": ""},
    {"~": "pickle", "v": "gASV"},                                       # unknown kinds
    {"~": "gen", "state": {"bit_generator": "Evil"}},
    {"~": "module", "kind": "Evil"},
    {"~": "ref", "id": 1},                                              # handles only where expected
])
def test_malformed_or_dangerous_messages_are_refused(bad):
    with pytest.raises((WireError, ValueError, TypeError)):
        Codec().decode(bad)


def test_deep_nesting_is_refused():
    x = []
    for _ in range(200):
        x = [x]
    with pytest.raises(WireError):
        Codec().encode(x)
    with pytest.raises(WireError):
        _decode_nd({"~": "nd", "dtype": "<f8", "shape": [2], "b64": "not base64!"})


def test_zero_dimensional_arrays_and_tensors_keep_their_shape():
    """np.ascontiguousarray makes a 0-d array 1-d: a loss returned as a 0-d tensor must stay a scalar."""
    a = roundtrip(np.array(2.5))
    t = roundtrip(torch.tensor(3.0, dtype=torch.float64))
    assert a.shape == () and float(a) == 2.5
    assert t.shape == () and float(t) == 3.0
    bn = roundtrip(nn.BatchNorm1d(3))
    assert bn.num_batches_tracked.shape == ()


def test_a_grader_side_codec_checks_every_size_and_a_student_side_one_does_not():
    from autograder.wire import Budget

    big = list(range(300_000))
    assert Codec().decode(big) == big            # the student process trusts what the grader sends
    with pytest.raises(WireError):
        Codec(budget=Budget()).decode(big)      # the grader trusts nothing a student process sends


def test_a_layer_used_twice_and_tied_weights_stay_shared():
    lin = nn.Linear(3, 3)
    twice = nn.Sequential(lin, nn.ReLU(), lin)   # named_children() would skip the second use
    tied = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False))
    tied[1].weight = tied[0].weight
    for model, n_in in ((twice, 3), (tied, 4)):
        got = roundtrip(model)
        assert len(got) == len(model)
        assert (got[0] is got[-1]) == (model[0] is model[-1])
        assert got[0].weight is got[-1].weight
        x = torch.randn(2, n_in)
        assert torch.allclose(got(x), model(x))
        assert [p.shape for _, p in got.named_parameters(remove_duplicate=False)] == \
               [p.shape for _, p in model.named_parameters(remove_duplicate=False)]
