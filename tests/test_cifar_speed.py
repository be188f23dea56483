"""Tests of course_lib.cifar_speed on the CPU: augmentation, normalisation, schedule, optimizer, a tiny run."""

import pytest
import torch
import torch.nn.functional as F

from course_lib import cifar_speed as cs
from course_lib.datasets import CIFAR10_MEAN, CIFAR10_STD


def test_augment_batch_is_reflect_pad_crop_then_flip():
    x = torch.randint(0, 256, (24, 3, 32, 32), dtype=torch.uint8)
    out = cs.augment_batch(x, pad=2, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # the same draws, in the same order, as augment_batch
    shifts = torch.randint(-2, 3, (24, 2), generator=g)
    flip = torch.rand(24, generator=g) < 0.5
    padded = F.pad(x.float(), (2, 2, 2, 2), mode="reflect")
    assert out.dtype == torch.uint8 and out.shape == x.shape
    for i in range(24):
        dy, dx = shifts[i].tolist()
        want = padded[i, :, 2 + dy : 34 + dy, 2 + dx : 34 + dx]
        if flip[i]:
            want = want.flip(-1)
        assert torch.equal(out[i], want.to(torch.uint8)), f"image {i}: shift {(dy, dx)}, flip {bool(flip[i])}"


def test_augment_batch_with_no_padding_only_flips():
    x = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    out = cs.augment_batch(x, pad=0)
    for i in range(16):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))


def test_normalize_batch_matches_the_cifar_statistics():
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    want = (x.float() / 255 - mean) / std
    got = cs.normalize_batch(x, channels_last=True)
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_to_device_images_takes_torchvision_layout():
    x = torch.randint(0, 256, (5, 32, 32, 3), dtype=torch.uint8)
    y = cs.to_device_images(x.numpy(), "cpu")
    assert y.shape == (5, 3, 32, 32) and torch.equal(y[2, 1], x[2, :, :, 1])
    with pytest.raises(ValueError, match="uint8"):
        cs.to_device_images(x.float(), "cpu")


def test_make_net_shapes_and_only_standard_layers():
    net = cs.make_net(widths=(8, 16, 16), stem=4)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    allowed = (torch.nn.Sequential, torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.GELU, torch.nn.MaxPool2d,
               torch.nn.AdaptiveMaxPool2d, torch.nn.Flatten, torch.nn.Linear)
    assert all(isinstance(m, allowed) for m in net.modules())
    assert net.fc.out_features == 10 and net.g3_conv2.out_channels == 16
    with pytest.raises(ValueError):
        cs.make_net(widths=(8, 16))


def test_one_cycle_goes_up_then_down():
    f = cs.one_cycle(100, start_factor=0.2, end_factor=0.05, peak_at=0.25)
    values = [f(t) for t in range(101)]
    assert values[0] == pytest.approx(0.2) and values[25] == pytest.approx(1.0) and values[100] == pytest.approx(0.05)
    assert all(a <= b for a, b in zip(values[:25], values[1:26]))
    assert all(a >= b for a, b in zip(values[25:], values[26:]))


def test_make_optimizer_decays_weights_only_and_uses_foreach_on_cpu():
    net = cs.make_net(widths=(4, 8, 8), stem=4)
    opt = cs.make_optimizer(net, lr=0.1, momentum=0.9, weight_decay=1e-3)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 1e-3 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(net.parameters()))
    assert decay["nesterov"] and decay["foreach"] and not decay.get("fused")


def test_train_fast_tiny_run_on_cpu():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (70, 3, 32, 32), dtype=torch.uint8)
    labels = torch.randint(0, 10, (70,))
    model, info = cs.train_fast(images, labels, epochs=2, batch_size=32, widths=(4, 8, 8), stem=4)
    assert info["steps"] == 4  # 70 // 32 = 2 steps per epoch, the rest dropped
    assert info["seconds"] > 0 and torch.isfinite(torch.tensor(info["final_loss"]))
    assert not model.training
    acc = cs.evaluate_fast(model, images[:40], labels[:40], batch_size=16, flip_tta=True)
    with torch.no_grad():
        x = cs.normalize_batch(images[:40], channels_last=False)
        want = ((model(x) + model(x.flip(-1))).argmax(1) == labels[:40]).float().mean().item()
    assert acc == pytest.approx(want)
    with pytest.raises(ValueError, match="batch_size"):
        cs.train_fast(images, labels, epochs=1, batch_size=100)
