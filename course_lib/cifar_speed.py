"""The course's fast CIFAR-10 reference training: everything on the GPU, nothing waiting on Python.

``benchmarks/cifar10_gpu.py`` times this run against the ``airbench94`` baseline. It is a
plain-PyTorch recipe that a learner can read in one sitting; what makes it fast:

* **data on the GPU as uint8** (4x less memory than floats); each mini-batch is cut,
  augmented and normalised there, so no loader process and no host-to-device copy per step;
* **augmentation in one gather**: a random translation of up to ``pad`` pixels (with the
  image reflected at its border, as ``F.pad(..., mode="reflect")`` + a random crop would give)
  and a random horizontal flip are folded into one index computation, see
  :func:`augment_batch`;
* **channels_last** memory format for the model and the inputs (what cuDNN's tensor-core
  convolutions want) and ``torch.backends.cudnn.benchmark``;
* **bf16 autocast** (``torch.autocast("cuda", dtype=torch.bfloat16)``): convolutions run in
  bfloat16 on tensor cores, weights and optimizer state stay in float32; bf16 has float32's
  exponent range, so no loss scaling is needed;
* a **fused optimizer**: ``torch.optim.SGD(..., fused=True)`` updates all parameters in a
  few kernels (``foreach=True`` where fused is not available, e.g. on CPU);
* **no synchronisation in the loop**: no ``.item()``, no printing; the learning rate schedule
  is a Python ``LambdaLR`` that never reads the GPU;
* fixed batch shapes (the last incomplete batch of an epoch is dropped), which suits
  ``cudnn.benchmark`` and the optional ``torch.compile`` (off by default: it costs tens of
  seconds of compilation, more than a whole training run).

The network (:func:`make_net`) has the same shape of computation as airbench94's (three
groups of two 3x3 convolutions with max-pooling, BatchNorm and GELU, widths 64/256/256, a
global max-pool and a linear head), built from standard ``torch.nn`` layers only; the course's
run has none of airbench's extra tricks (whitening first layer, lookahead averaging,
test-time augmentation, decoupled hyper-parameters).
"""

import functools
import math
import time
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.datasets import CIFAR10_MEAN, CIFAR10_STD

#: Hyper-parameters of the reference run (learning rate etc. for the MEAN loss of a batch).
HYP = {
    "epochs": 10,
    "batch_size": 1024,
    "lr": 0.4,  # peak of the one-cycle schedule
    "start_factor": 0.2,  # lr at step 0 = start_factor * lr
    "end_factor": 0.05,  # lr at the last step = end_factor * lr
    "peak_at": 0.25,  # fraction of the steps spent warming up
    "momentum": 0.9,  # Nesterov
    "weight_decay": 5e-4,  # on convolution and linear weights only
    "label_smoothing": 0.2,
    "pad": 2,  # random translation of up to 2 pixels
    "stem": 32,
    "widths": (64, 256, 256),
}


def make_net(widths=HYP["widths"], stem=HYP["stem"], num_classes=10):
    """The reference network, an ``nn.Sequential`` of standard layers (named, for printing).

    ``(N, 3, 32, 32) -> stem conv (N, stem, 32, 32) -> group 1 (N, w1, 16, 16)
    -> group 2 (N, w2, 8, 8) -> group 3 (N, w3, 4, 4) -> max over space (N, w3) -> logits``

    A group is ``conv 3x3 -> max-pool 2 -> BatchNorm -> GELU -> conv 3x3 -> BatchNorm -> GELU``.
    Convolutions have no bias (BatchNorm's shift replaces it). Initialisation: PyTorch's
    defaults for the convolutions, the head's weights ``N(0, 0.01 / fan_in)`` so that the first
    logits are near 0.
    """
    widths = tuple(int(w) for w in widths)
    if len(widths) != 3 or min(widths) < 1 or int(stem) < 1:
        raise ValueError(f"widths must be three positive ints and stem a positive int, got widths={widths!r}, stem={stem!r}.")
    layers = [
        ("stem_conv", nn.Conv2d(3, stem, 3, padding=1, bias=False)),
        ("stem_norm", nn.BatchNorm2d(stem)),
        ("stem_act", nn.GELU()),
    ]
    c_in = stem
    for g, c_out in enumerate(widths, start=1):
        layers += [
            (f"g{g}_conv1", nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)),
            (f"g{g}_pool", nn.MaxPool2d(2)),
            (f"g{g}_norm1", nn.BatchNorm2d(c_out)),
            (f"g{g}_act1", nn.GELU()),
            (f"g{g}_conv2", nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)),
            (f"g{g}_norm2", nn.BatchNorm2d(c_out)),
            (f"g{g}_act2", nn.GELU()),
        ]
        c_in = c_out
    head = nn.Linear(c_in, num_classes, bias=False)
    nn.init.normal_(head.weight, std=0.1 / math.sqrt(c_in))
    layers += [("pool", nn.AdaptiveMaxPool2d(1)), ("flatten", nn.Flatten()), ("fc", head)]
    return nn.Sequential(OrderedDict(layers))


def to_device_images(images, device):
    """uint8 images ``(N, 32, 32, 3)`` (torchvision's ``.data``, NumPy or torch) -> uint8 ``(N, 3, 32, 32)`` on ``device``."""
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 of shape (N, H, W, 3), got {images.dtype} of shape {tuple(images.shape)}.")
    return images.to(device).permute(0, 3, 1, 2).contiguous()


def _reflect(index, size):
    """Indices outside ``0..size-1`` mirrored back inside, as reflect padding does (without repeating the edge)."""
    index = index.abs()
    return torch.where(index > size - 1, 2 * (size - 1) - index, index)


def augment_batch(images, pad=HYP["pad"], generator=None):
    """Random translation by up to ``pad`` pixels and random horizontal flip, in one gather.

    Equal, image by image, to: reflect-pad by ``pad`` on every side, cut the 32x32 window whose
    top-left corner is ``(pad + dy, pad + dx)`` with ``dy, dx`` uniform in ``-pad..pad``, then
    flip left-right with probability 1/2. Works on any dtype (uint8 here) and device.

    Args:
        images: ``(B, C, H, W)`` tensor.
        generator: a ``torch.Generator`` on ``images.device`` (``None``: the global one).

    Returns:
        A new ``(B, C, H, W)`` tensor.
    """
    b, c, h, w = images.shape
    dev = images.device
    shifts = torch.randint(-pad, pad + 1, (b, 2), device=dev, generator=generator)
    flip = torch.rand(b, device=dev, generator=generator) < 0.5
    ar_h = torch.arange(h, device=dev)
    ar_w = torch.arange(w, device=dev)
    rows = _reflect(shifts[:, :1] + ar_h, h)  # (B, H)
    cols_plain = shifts[:, 1:] + ar_w  # (B, W)
    cols = torch.where(flip[:, None], cols_plain.flip(1), cols_plain)
    cols = _reflect(cols, w)
    bi = torch.arange(b, device=dev).view(b, 1, 1, 1)
    ci = torch.arange(c, device=dev).view(1, c, 1, 1)
    return images[bi, ci, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]


@functools.lru_cache(maxsize=None)
def _pixel_stats(device):
    """CIFAR-10's mean and std in pixel units, as (1, 3, 1, 1) tensors on ``device``, made once:
    building them every step would copy from the host and make the CPU wait for the GPU."""
    mean = torch.tensor(CIFAR10_MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(CIFAR10_STD, device=device).view(1, 3, 1, 1) * 255
    return mean, std


def normalize_batch(images, channels_last=True):
    """uint8 ``(B, 3, H, W)`` -> float32 ``(pixels / 255 - mean) / std`` with CIFAR-10's statistics."""
    mean, std = _pixel_stats(images.device)
    x = (images.float() - mean) / std
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def make_optimizer(model, lr=HYP["lr"], momentum=HYP["momentum"], weight_decay=HYP["weight_decay"]):
    """Nesterov SGD; weight decay on weights of 2+ dimensions only (not on BatchNorm's scale and shift).

    Fused (``fused=True``) when every parameter is on a CUDA device, ``foreach=True`` otherwise.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    on_cuda = all(p.is_cuda for p in params)
    kind = {"fused": True} if on_cuda else {"foreach": True}
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True, **kind)


def one_cycle(total_steps, start_factor=HYP["start_factor"], end_factor=HYP["end_factor"], peak_at=HYP["peak_at"]):
    """The factor of the peak learning rate at step ``t``: linear up from ``start_factor`` to 1, then down to ``end_factor``.

    Returns a function of the step (for ``torch.optim.lr_scheduler.LambdaLR``).
    """
    peak = max(1, int(round(peak_at * total_steps)))
    last = max(peak + 1, total_steps)

    def factor(t):
        if t <= peak:
            return start_factor + (1.0 - start_factor) * t / peak
        return 1.0 + (end_factor - 1.0) * min(1.0, (t - peak) / (last - peak))

    return factor


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def train_fast(
    images,
    labels,
    epochs=HYP["epochs"],
    batch_size=HYP["batch_size"],
    *,
    device=None,
    lr=HYP["lr"],
    momentum=HYP["momentum"],
    weight_decay=HYP["weight_decay"],
    label_smoothing=HYP["label_smoothing"],
    pad=HYP["pad"],
    widths=HYP["widths"],
    stem=HYP["stem"],
    compile=False,
    seed=0,
):
    """Train :func:`make_net` on uint8 images kept on ``device``; returns ``(model, info)``.

    Args:
        images: uint8 ``(N, 3, 32, 32)`` tensor, already on ``device`` (see :func:`to_device_images`).
        labels: int64 ``(N,)`` tensor on ``device``.
        epochs: passes over the data; each has ``N // batch_size`` steps (the remainder of a
            shuffled epoch is dropped, so every batch has the same shape).
        device: ``None``: the device of ``images``. On CUDA: channels_last, bf16 autocast,
            fused SGD, cudnn.benchmark. On CPU: float32, foreach SGD (for smoke tests).
        compile: wrap the model in ``torch.compile`` (off by default).

    Returns:
        ``model`` (in eval mode) and ``info``, a dict with ``steps``, ``seconds`` (wall time of
        model construction + training, GPU synchronised at both ends), ``final_loss`` (the mean
        loss of the last 10 steps) and ``device``.
    """
    device = torch.device(images.device if device is None else device)
    n = len(images)
    if len(labels) != n:
        raise ValueError(f"images and labels must have the same length, got {n} and {len(labels)}.")
    if n < batch_size:
        raise ValueError(f"batch_size ({batch_size}) is larger than the data set ({n} images).")
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.backends.cudnn.benchmark = True
    _sync(device)
    start = time.perf_counter()

    torch.manual_seed(seed)
    model = make_net(widths, stem).to(device)
    if on_cuda:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if compile else model
    optimizer = make_optimizer(model, lr, momentum, weight_decay)
    steps_per_epoch = n // batch_size
    total = steps_per_epoch * int(epochs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, one_cycle(total))
    generator = torch.Generator(device=device).manual_seed(seed)

    losses = []
    model.train()
    for _ in range(int(epochs)):
        order = torch.randperm(n, device=device, generator=generator)
        for i in range(steps_per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            x = normalize_batch(augment_batch(images[idx], pad, generator), channels_last=on_cuda)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_cuda):
                loss = F.cross_entropy(step_model(x), labels[idx], label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.detach())
    _sync(device)
    seconds = time.perf_counter() - start
    model.eval()
    final_loss = torch.stack(losses[-10:]).float().mean().item() if losses else float("nan")
    return model, {"steps": total, "seconds": seconds, "final_loss": final_loss, "device": str(device)}


@torch.no_grad()
def evaluate_fast(model, images, labels, batch_size=2000, flip_tta=False):
    """Test accuracy (a float in [0, 1]) of ``model`` on uint8 ``(N, 3, 32, 32)`` images on its device.

    ``flip_tta=True`` averages the logits of each image and its mirror image.
    """
    model.eval()
    on_cuda = images.device.type == "cuda"
    correct = 0
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=on_cuda):
        for start in range(0, len(images), batch_size):
            x = normalize_batch(images[start : start + batch_size], channels_last=on_cuda)
            logits = model(x).float()
            if flip_tta:
                logits = logits + model(x.flip(-1)).float()
            correct += (logits.argmax(1) == labels[start : start + batch_size]).sum()
    return float(correct) / len(images)
