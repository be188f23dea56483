"""Tests of course_lib.models: shapes, parameter counts counted by hand, the .features/.fc
convention, and the documented initialization."""

import copy
import math
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models import MLP, SmallCNN


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


# ------------------------------------------------------------------------------ MLP


@pytest.mark.parametrize("hidden", [(), (7,), (32, 16), (5, 6, 7)])
@pytest.mark.parametrize("batchnorm", [False, True])
def test_mlp_shapes_and_parameter_count(hidden, batchnorm):
    model = MLP(12, hidden=hidden, num_classes=4, batchnorm=batchnorm)
    out = model(torch.randn(9, 12))
    assert tuple(out.shape) == (9, 4)
    # by hand: each hidden layer p -> h has p*h weights, plus h biases or (gamma, beta)
    widths = (12,) + hidden
    expected = sum(p * h + (2 * h if batchnorm else h) for p, h in zip(widths, widths[1:]))
    expected += widths[-1] * 4 + 4  # the head
    assert n_params(model) == expected
    assert model.num_features == widths[-1]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == (len(hidden) if batchnorm else 0)


def test_mlp_hand_counts():
    assert n_params(MLP(64, (32, 16), 10)) == (64 * 32 + 32) + (32 * 16 + 16) + (16 * 10 + 10) == 2778
    assert n_params(MLP(64, (32, 16), 10, batchnorm=True)) == 64 * 32 + 64 + 32 * 16 + 32 + 170 == 2826
    assert n_params(MLP(3072, (), 10)) == 30730


def test_mlp_flattens_images_and_follows_the_fc_convention():
    model = MLP(64, hidden=(20,), num_classes=10)
    x = torch.randn(5, 1, 8, 8)
    assert isinstance(model.fc, nn.Linear) and model.fc.in_features == 20 and model.fc.out_features == 10
    features = model.features(x)
    assert tuple(features.shape) == (5, 20)
    torch.testing.assert_close(model.fc(features), model(x))
    torch.testing.assert_close(model(x), model(x.reshape(5, 64)))


@pytest.mark.parametrize("activation, module", [("relu", nn.ReLU), ("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid), ("gelu", nn.GELU), ("leaky_relu", nn.LeakyReLU)])
def test_mlp_activation_is_used(activation, module):
    model = MLP(10, hidden=(8, 8), activation=activation)
    assert sum(isinstance(m, module) for m in model.modules()) == 2


def test_mlp_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        MLP(10, activation="softplus")
    with pytest.raises(TypeError, match="hidden"):
        MLP(10, hidden=64)
    with pytest.raises(ValueError, match="in_features"):
        MLP(0)
    with pytest.raises(ValueError, match="hidden width"):
        MLP(10, hidden=(8, 0))


# ------------------------------------------------------------------------------ SmallCNN


def test_small_cnn_hand_counts():
    # conv 3x3 weights 9*c_in*c_out; with BatchNorm 2*c_out (gamma, beta), without it c_out biases
    with_bn = (9 * 3 * 32 + 2 * 32) + (9 * 32 * 64 + 2 * 64) + (9 * 64 * 128 + 2 * 128) + (128 * 10 + 10)
    without = (9 * 3 * 32 + 32) + (9 * 32 * 64 + 64) + (9 * 64 * 128 + 128) + (128 * 10 + 10)
    assert with_bn == 94762 and without == 94538
    assert n_params(SmallCNN()) == with_bn
    assert n_params(SmallCNN(batchnorm=False)) == without
    w = 8
    assert n_params(SmallCNN(num_classes=5, in_channels=1, width=w)) == (9 * 1 * w + 2 * w) + (9 * w * 2 * w + 4 * w) + (9 * 2 * w * 4 * w + 8 * w) + (4 * w * 5 + 5)


@pytest.mark.parametrize("width, size", [(8, 32), (4, 8), (6, 20)])
def test_small_cnn_shapes_and_fc_convention(width, size):
    model = SmallCNN(num_classes=7, in_channels=3, width=width)
    x = torch.randn(4, 3, size, size)
    assert tuple(model(x).shape) == (4, 7)
    features = model.features(x)
    assert tuple(features.shape) == (4, 4 * width) == (4, model.num_features)
    assert isinstance(model.fc, nn.Linear) and model.fc.in_features == 4 * width
    torch.testing.assert_close(model.fc(features), model(x))
    grey = SmallCNN(num_classes=10, in_channels=1, width=width)
    assert tuple(grey(torch.randn(2, 1, size, size)).shape) == (2, 10)


def test_head_can_be_replaced_and_backbone_frozen_by_name():
    """What notebook 10 does to ResNet-18 through head_name='fc' works here too."""
    model = SmallCNN(width=4)
    setattr(model, "fc", nn.Linear(model.fc.in_features, 3))
    for p in model.features.parameters():
        p.requires_grad_(False)
    out = model(torch.randn(2, 3, 32, 32))
    assert tuple(out.shape) == (2, 3)
    out.sum().backward()
    assert all(p.grad is None for p in model.features.parameters())
    assert model.fc.weight.grad is not None


def test_batchnorm_flag_and_no_conv_bias():
    convs = [m for m in SmallCNN(batchnorm=True).modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 and all(c.bias is None for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in SmallCNN(batchnorm=True).modules()) == 3
    assert not any(isinstance(m, nn.BatchNorm2d) for m in SmallCNN(batchnorm=False).modules())
    with pytest.raises(ValueError, match="width"):
        SmallCNN(width=0)


def test_models_pickle_and_copy():
    for model in (MLP(6, (4,)), SmallCNN(width=4)):
        x = torch.randn(2, 3, 8, 8) if isinstance(model, SmallCNN) else torch.randn(2, 6)
        model.eval()
        for other in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
            torch.testing.assert_close(other(x), model(x))


# ------------------------------------------------------------------------------ initialization


def test_he_and_glorot_initialization_scales():
    relu = MLP(1000, hidden=(1500,), num_classes=10)
    weight = relu.features[1].weight
    assert abs(weight.std().item() / math.sqrt(2 / 1000) - 1) < 0.01
    assert abs(weight.mean().item()) < 1e-3
    assert torch.all(relu.features[1].bias == 0)
    tanh = MLP(1000, hidden=(1500,), num_classes=10, activation="tanh")
    assert abs(tanh.features[1].weight.std().item() / math.sqrt(2 / (1000 + 1500)) - 1) < 0.01
    head = relu.fc.weight
    assert abs(head.std().item() / (0.1 / math.sqrt(1500)) - 1) < 0.05 and torch.all(relu.fc.bias == 0)
    conv = [m for m in SmallCNN(width=64).modules() if isinstance(m, nn.Conv2d)][-1]
    fan_in = conv.in_channels * 3 * 3
    assert abs(conv.weight.std().item() / math.sqrt(2 / fan_in) - 1) < 0.01


def test_he_init_keeps_the_activation_scale_through_depth():
    """With He init, the mean square of ReLU outputs neither explodes nor vanishes with depth."""
    model = MLP(256, hidden=(256,) * 10, num_classes=10)
    h = torch.randn(2000, 256)
    squares = []
    with torch.no_grad():
        for layer in model.features:
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                squares.append(h.pow(2).mean().item())
    # layer-to-layer E[h^2] is preserved (it is 1 = E[x^2] in expectation at every layer)
    assert all(0.5 < s < 2.0 for s in squares), squares


@pytest.mark.parametrize("make", [lambda: MLP(3072, (128,)), lambda: MLP(3072, ()), lambda: SmallCNN(width=8)])
def test_initial_loss_is_about_ln_num_classes(make):
    model = make()
    x = torch.randn(256, 3, 32, 32)
    y = torch.randint(0, 10, (256,))
    with torch.no_grad():
        loss = F.cross_entropy(model(x), y).item()
    assert abs(loss - math.log(10)) < 0.05, loss
