"""course_lib.solutions.transfer on torchvision's ResNet-18 (random weights, nothing downloaded) and on
a small model with .features and .fc."""

import copy
import io

import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from course_lib.solutions.transfer import (
    count_trainable,
    freeze_backbone,
    is_frozen_norm,
    param_groups,
    replace_head,
    unfreeze_backbone,
)

# ResNet-18 has 11,689,512 parameters with its 1000-class head (512 * 1000 + 1000 of them);
# with a 10-class head: 11,689,512 - 513 * 1000 + 513 * 10.
RESNET18_10 = 11_689_512 - 513_000 + 5_130


class Small(nn.Module):
    def __init__(self, n_out=3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
            nn.Conv2d(4, 6, 3), nn.BatchNorm2d(6), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5),
        )
        self.fc = nn.Linear(6, n_out)

    def forward(self, x):
        return self.fc(self.features(x))


def _buffers(model):
    return {k: v.clone() for k, v in model.named_buffers()}


def _params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return resnet18(weights=None, num_classes=10)


def test_counts_resnet18(resnet):
    model = copy.deepcopy(resnet)
    assert count_trainable(model) == RESNET18_10
    freeze_backbone(model)
    assert count_trainable(model) == 512 * 10 + 10
    replace_head(model, 4)
    assert count_trainable(model) == 512 * 4 + 4
    assert model.fc.in_features == 512 and model.fc.out_features == 4
    unfreeze_backbone(model)
    assert count_trainable(model) == RESNET18_10 - 513 * 10 + 513 * 4


def test_frozen_resnet_step(resnet):
    torch.manual_seed(1)
    model = freeze_backbone(copy.deepcopy(resnet))
    model.train()  # a training loop does this every epoch: frozen BN must stay in eval
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 20 and all(not m.training and is_frozen_norm(m) for m in bns)
    assert model.training and model.fc.training and model.layer1.training
    before_p, before_b = _params(model), _buffers(model)
    opt = torch.optim.SGD(param_groups(model, lr=0.5), momentum=0.9, weight_decay=1e-2)
    x, y = torch.randn(2, 3, 16, 16), torch.tensor([0, 3])
    for _ in range(2):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    after_p, after_b = _params(model), _buffers(model)
    for k in before_p:
        if k.startswith("fc."):
            assert not torch.equal(before_p[k], after_p[k]), k
        else:
            assert torch.equal(before_p[k], after_p[k]), k
            assert model.get_parameter(k).grad is None
    for k in before_b:  # running_mean, running_var and num_batches_tracked untouched
        assert torch.equal(before_b[k], after_b[k]), k
    # in "train" mode the frozen network computes exactly what it computes in eval mode
    with torch.no_grad():
        out_train = model(x)
        out_eval = model.eval()(x)
    torch.testing.assert_close(out_train, out_eval)


def test_requires_grad_alone_does_not_freeze_bn():
    """Why freeze_backbone also pins BatchNorm: with requires_grad only, statistics move."""
    torch.manual_seed(2)
    model = Small()
    for name, p in model.named_parameters():
        if not name.startswith("fc."):
            p.requires_grad_(False)
    before = _buffers(model)
    model.train()(torch.randn(8, 3, 8, 8) + 3)
    assert not torch.equal(before["features.1.running_mean"], model.features[1].running_mean)
    # with freeze_backbone they stay
    model = freeze_backbone(Small())
    before = _buffers(model)
    model.train()(torch.randn(8, 3, 8, 8) + 3)
    for k in before:
        assert torch.equal(before[k], _buffers(model)[k]), k


def test_small_model_groups_and_step():
    torch.manual_seed(3)
    model = Small()
    groups = param_groups(model, lr=0.1)
    assert [g["name"] for g in groups] == ["backbone", "head"]
    assert groups[0]["lr"] == pytest.approx(0.01) and groups[1]["lr"] == pytest.approx(0.1)
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.features.parameters()}
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.fc.parameters()}
    groups = param_groups(model, lr=0.2, backbone_factor=0.5)
    assert [g["lr"] for g in groups] == [pytest.approx(0.1), pytest.approx(0.2)]
    # the groups work in a real optimizer and each group moves with its own lr
    opt = torch.optim.SGD(groups)
    assert [g["lr"] for g in opt.param_groups] == [pytest.approx(0.1), pytest.approx(0.2)]
    before = _params(model)
    nn.functional.cross_entropy(model.train()(torch.randn(4, 3, 8, 8)), torch.tensor([0, 1, 2, 0])).backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    opt.step()
    for k, p in model.named_parameters():
        lr = 0.2 if k.startswith("fc.") else 0.1
        torch.testing.assert_close(p.detach(), before[k] - lr * grads[k])
    # frozen: only the head's group is left
    freeze_backbone(model)
    groups = param_groups(model, lr=0.1)
    assert [g["name"] for g in groups] == ["head"]
    assert count_trainable(model) == sum(p.numel() for p in model.fc.parameters()) == 6 * 3 + 3


def test_unfreeze_restores_train_mode():
    model = freeze_backbone(Small())
    model.eval()
    unfreeze_backbone(model)
    assert not any(is_frozen_norm(m) for m in model.modules())
    assert count_trainable(model) == sum(p.numel() for p in Small().parameters())
    model.train()
    assert model.features[1].training and model.features[4].training
    before = model.features[1].running_mean.clone()
    model(torch.randn(4, 3, 8, 8) + 2)
    assert not torch.equal(before, model.features[1].running_mean)


def test_override_survives_copy_and_pickle():
    model = freeze_backbone(Small())
    for clone in (copy.deepcopy(model), _roundtrip(model)):
        clone.train()
        bn = clone.features[1]
        assert not bn.training and is_frozen_norm(bn)
        assert bn.train.module is bn  # bound to the copy, not to the original
        assert clone.features[8].training  # dropout still follows model.train()


def _roundtrip(model):
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


def test_dotted_head_name():
    torch.manual_seed(4)
    model = nn.Sequential()
    model.features = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.ReLU())
    model.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(7, 3))
    freeze_backbone(model, head_name="classifier.1")
    assert count_trainable(model) == 7 * 3 + 3
    replace_head(model, 2, head_name="classifier.1")
    assert isinstance(model.classifier[1], nn.Linear) and model.classifier[1].out_features == 2
    assert model(torch.randn(4, 5)).shape == (4, 2)
    groups = param_groups(model, lr=1.0, head_name="classifier.1")
    assert [g["name"] for g in groups] == ["head"]


def test_replace_head_keeps_dtype_and_bias():
    model = Small().double()
    model.fc = nn.Linear(6, 3, bias=False).double()
    replace_head(model, 5)
    assert model.fc.weight.dtype == torch.float64 and model.fc.bias is None
    assert model(torch.randn(2, 3, 8, 8, dtype=torch.float64)).shape == (2, 5)


def test_bad_input():
    with pytest.raises(ValueError, match="head_name"):
        freeze_backbone(Small(), head_name="classifier")
    with pytest.raises(TypeError, match="nn.Linear"):
        replace_head(Small(), 3, head_name="features")
    with pytest.raises(ValueError, match="num_classes"):
        replace_head(Small(), 0)
    model = Small()
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable"):
        param_groups(model, lr=0.1)
    with pytest.raises(TypeError, match="Module"):
        count_trainable([1, 2])


# count_changed: the truth is one real training step in torch, set up with the module's own freeze_backbone
# and param_groups, counting the floating-point state_dict entries that moved.

def _widths_network(widths, num_classes):
    from collections import OrderedDict

    layers = OrderedDict()
    for i in range(1, len(widths)):
        layers[f"fc{i}"] = nn.Linear(widths[i - 1], widths[i], bias=False)
        layers[f"bn{i}"] = nn.BatchNorm1d(widths[i])
        layers[f"act{i}"] = nn.Tanh()
    layers["fc"] = nn.Linear(widths[-1], num_classes)
    return nn.Sequential(layers).double()


def _moved(widths, num_classes, method, seed=0):
    torch.manual_seed(seed)
    model = _widths_network(widths, num_classes).train()
    if method == "feature extraction":
        freeze_backbone(model)
    elif method == "requires_grad only":
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("fc."))
    factor = 0.1 if method == "fine-tuning" else 1.0
    optimizer = torch.optim.SGD(param_groups(model, 0.1, backbone_factor=factor), lr=0.1)
    before = {k: t.clone() for k, t in model.state_dict().items() if t.is_floating_point()}
    x, y = torch.randn(8, widths[0], dtype=torch.float64), torch.randint(num_classes, (8,))
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    after = model.state_dict()
    return sum(int((after[k] != t).sum()) for k, t in before.items())


@pytest.mark.parametrize("widths, num_classes", [([6, 5, 4], 3), ([4, 7, 2, 5], 4), ([3], 2), ([1, 1], 2), ([9, 3, 8, 2, 6], 5)])
@pytest.mark.parametrize("method", ["from scratch", "fine-tuning", "feature extraction", "requires_grad only"])
def test_count_changed_matches_a_real_step(widths, num_classes, method):
    from course_lib.solutions.transfer import count_changed

    got = count_changed(widths, num_classes, method)
    assert type(got) is int
    assert got == _moved(widths, num_classes, method)


def test_count_changed_large_and_bad_input():
    from course_lib.solutions.transfer import count_changed

    w = [100_000, 100_000, 50_000]
    assert count_changed(w, 10, "from scratch") == 10**10 + 5 * 10**9 + 4 * 150_000 + 500_010
    assert count_changed(w, 10, "requires_grad only") == 500_010 + 2 * 150_000
    assert count_changed(w, 10, "feature extraction") == 500_010
    with pytest.raises(ValueError, match="method must be one of"):
        count_changed([3, 2], 2, "linear probe")
    with pytest.raises(ValueError, match="at least one entry"):
        count_changed([], 2, "from scratch")
    with pytest.raises(ValueError, match="num_classes"):
        count_changed([3], 1, "from scratch")
