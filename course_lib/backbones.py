"""A backbone the course pretrains itself, the data of notebook 10's transfer experiments, and
ImageNet's ResNet-18 when its weights are on disk (with CIFAR-10, or synthetic CIFAR-shaped images
made in memory when its files are missing: :func:`cifar10_or_synthetic`).

Transfer learning needs a network trained on a *source* task. Offline, on a CPU, the course
makes its own in a few seconds: :func:`pretrained_backbone` trains a
:class:`course_lib.models.SmallCNN` on the first five classes of the course's synthetic
CIFAR-shaped images (:data:`SOURCE_CLASSES`: stripes in four directions and a checkerboard)
and caches its weights under ``<data_dir>/cache/backbones/`` (gitignored), so later calls
just load them. The *target* task (:func:`target_task`) is the other five classes
(:data:`TARGET_CLASSES`: rings, a blob, a square frame, a ramp, spokes) with only a few
labeled images per class: new classes, same kind of images, little data - the situation
where reusing a trained backbone pays.

Everything here uses torch directly; nothing imports the graded functions of notebook 10.

Images are made by :func:`course_lib.datasets.synthetic_cifar10_images` in memory (no files)
and normalized like :func:`course_lib.datasets.cifar10_tensors`:
``x = (pixels / 255 - CIFAR10_MEAN[c]) / CIFAR10_STD[c]``, shape ``(N, 3, 32, 32)``.
"""

import functools
import io
import os
import tempfile
import time

import numpy as np

from course_lib import runtime
from course_lib.datasets import (CIFAR10_FOLDER, CIFAR10_MEAN, CIFAR10_STD, cifar10_tensors, load_cifar10,
                                 synthetic_cifar10_images)

#: Classes of the synthetic set used for pretraining (labels 0..4 of the source task).
SOURCE_CLASSES = (0, 1, 2, 3, 4)
#: Classes of the target task, relabeled 0..4 (``label = class - 5``).
TARGET_CLASSES = (5, 6, 7, 8, 9)
#: Bumped whenever the pretraining recipe changes, so that an old cache file is not used.
BACKBONE_VERSION = 2
#: Channels of the first block of the course's backbone (``SmallCNN``'s ``width``): small enough
#: that notebook 10 pretrains it and runs its three transfer methods in seconds on one CPU core.
WIDTH = 8
#: Labeled source images of each class used for pretraining (and held out to measure it).
SOURCE_TRAIN_PER_CLASS, SOURCE_VAL_PER_CLASS = 200, 100
#: Seeds of the generated images: the source and the target tasks never share an image.
SOURCE_SEED, TARGET_SEED = 1010, 2020
#: Seed of the synthetic CIFAR-shaped images :func:`cifar10_or_synthetic` makes when CIFAR-10 is missing.
STANDIN_SEED = 3030
#: At most this many synthetic training and test images (as many as the course's stand-in files hold).
STANDIN_TRAIN, STANDIN_TEST = 10_000, 2_000
#: The file torch keeps ``resnet18(weights=ResNet18_Weights.DEFAULT)`` in (the basename of its URL), named
#: here so that looking for it does not import torchvision (seconds on a loaded CPU).
RESNET18_WEIGHTS_FILE = "resnet18-f37072fd.pth"
#: ImageNet's per-channel mean and std, the normalization torchvision's ImageNet weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _check_positive_int(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")


@functools.lru_cache(maxsize=8)
def _images(n_per_class, classes, seed):
    """``n_per_class`` synthetic images of each of ``classes`` (uint8 NHWC) and labels 0..k-1."""
    n_all = 10 * n_per_class + 10  # the generator balances all ten classes: draw enough of each
    images, labels = synthetic_cifar10_images(n_all, seed=seed)
    keep = np.concatenate([np.flatnonzero(labels == c)[:n_per_class] for c in classes])
    keep = np.sort(keep)  # keep the generator's shuffled order
    remap = np.full(10, -1, dtype=np.int64)
    remap[list(classes)] = np.arange(len(classes))
    return images[keep], remap[labels[keep]]


def _to_tensors(images, labels, device):
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    mean = torch.tensor(CIFAR10_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, dtype=torch.float32).view(1, 3, 1, 1)
    x = ((x - mean) / std).contiguous()
    y = torch.from_numpy(labels.copy())
    device = "cpu" if device is None else device
    return x.to(device), y.to(device)


def source_task(n_train_per_class=SOURCE_TRAIN_PER_CLASS, n_val_per_class=SOURCE_VAL_PER_CLASS, device=None):
    """The pretraining task: :data:`SOURCE_CLASSES` with labels 0..4, plenty of labels.

    Returns:
        ``((x_train, y_train), (x_val, y_val))``: float32 tensors ``(N, 3, 32, 32)`` and
        int64 labels ``(N,)``, classes balanced, on ``device`` (default CPU).
    """
    _check_positive_int("n_train_per_class", n_train_per_class)
    _check_positive_int("n_val_per_class", n_val_per_class)
    images, labels = _images(n_train_per_class + n_val_per_class, SOURCE_CLASSES, SOURCE_SEED)
    x, y = _to_tensors(images, labels, device)
    train_idx, val_idx = _split_per_class(labels, n_train_per_class)
    return (x[train_idx], y[train_idx]), (x[val_idx], y[val_idx])


def target_task(labels_per_class=10, n_test_per_class=200, device=None, seed=0):
    """The new task: :data:`TARGET_CLASSES` relabeled 0..4, with few labeled images.

    Args:
        labels_per_class: labeled training images of each class (5 classes).
        n_test_per_class: held-out images of each class to measure accuracy on.
        seed: which labeled images are drawn (the test images are always the same).

    Returns:
        ``((x_few, y_few), (x_test, y_test))`` as in :func:`source_task`.
    """
    _check_positive_int("labels_per_class", labels_per_class)
    _check_positive_int("n_test_per_class", n_test_per_class)
    pool = max(200, labels_per_class)  # the labeled images are drawn from a fixed pool of 200 per class
    images, labels = _images(pool + n_test_per_class, TARGET_CLASSES, TARGET_SEED)
    x, y = _to_tensors(images, labels, device)
    pool_idx, test_idx = _split_per_class(labels, pool)
    rng = np.random.default_rng(seed)
    few = np.concatenate([rng.choice(pool_idx[labels[pool_idx] == k], size=labels_per_class, replace=False)
                          for k in range(len(TARGET_CLASSES))])
    few = np.sort(few)
    return (x[few], y[few]), (x[test_idx], y[test_idx])


def _split_per_class(labels, n_first):
    """Indices of the first ``n_first`` images of every class, and of the rest."""
    first = np.zeros(len(labels), dtype=bool)
    for k in np.unique(labels):
        first[np.flatnonzero(labels == k)[:n_first]] = True
    return np.flatnonzero(first), np.flatnonzero(~first)


def fit(model, optimizer, data, steps, batch_size=25, seed=0, keep_in_eval=(), transform=None):
    """Train for ``steps`` mini-batch steps of cross-entropy; return the list of step losses.

    Each step draws ``batch_size`` examples at random (with a generator seeded by ``seed``)
    and does the usual ``zero_grad``, forward, ``backward``, ``step``. Before every step
    the model is put in train mode with ``model.train()`` and then every module in
    ``keep_in_eval`` is put back in eval mode: that is how a frozen backbone's BatchNorm
    layers keep their running statistics while the rest trains (``model.train()`` alone
    would switch them back to train mode).

    Args:
        model: a ``torch.nn.Module`` giving logits.
        optimizer: a ``torch.optim.Optimizer`` over the parameters that should train.
        data: ``(x, y)`` tensors on the model's device.
        steps: number of optimizer steps.
        keep_in_eval: modules (e.g. BatchNorm layers) that stay in eval mode.
        transform: optional function applied to each input batch (resizing, say).
    """
    import torch
    import torch.nn.functional as F

    _check_positive_int("steps", steps)
    _check_positive_int("batch_size", batch_size)
    x, y = data
    generator = torch.Generator().manual_seed(int(seed))
    losses = []
    for _ in range(steps):
        model.train()
        for module in keep_in_eval:
            module.eval()
        idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=generator).to(x.device)
        xb = x[idx] if transform is None else transform(x[idx])
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return torch.stack(losses).tolist()


def accuracy(model, data, batch_size=500, transform=None):
    """Fraction of ``data = (x, y)`` that ``model`` (in eval mode, no gradients) classifies right.

    The model's mode is restored afterwards.
    """
    import torch

    x, y = data
    was_training = model.training
    model.eval()
    correct = 0
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                xb = x[start:start + batch_size]
                xb = xb if transform is None else transform(xb)
                correct += int((model(xb).argmax(dim=1) == y[start:start + batch_size]).sum())
    finally:
        model.train(was_training)
    return correct / len(x)


def cache_path(width=WIDTH):
    """Where :func:`pretrained_backbone` keeps its weights: ``<data_dir>/cache/backbones/...``."""
    return os.path.join(runtime.data_dir(), "cache", "backbones", f"smallcnn-synthetic-source-w{width}-v{BACKBONE_VERSION}.pt")


def _pretrain(width, seed):
    import torch

    from course_lib.models import SmallCNN

    train, val = source_task()
    torch.manual_seed(seed)
    model = SmallCNN(num_classes=len(SOURCE_CLASSES), width=width)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    fit(model, optimizer, train, steps=120, batch_size=48, seed=seed)
    return model, accuracy(model, val)


def _save(path, payload):
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getvalue())
        os.replace(tmp, path)  # several kernels may pretrain at once: the file appears whole or not at all
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def pretrained_backbone(width=WIDTH, cache=True, verbose=True, seed=0):
    """The course's pretrained network: a ``SmallCNN`` trained on the source task.

    ``SmallCNN(num_classes=5, width=width)`` (BatchNorm after every convolution; with the
    default ``width=8``, 6 253 parameters) trained for 120 steps of SGD with momentum (batch 48,
    lr 0.1) on 1 000 images of :data:`SOURCE_CLASSES`; it reaches about 90% accuracy on
    held-out source images (92% with the default seed). Its ``.features`` is the backbone,
    its ``.fc`` the source task's 5-class head.

    The first call trains it (about two seconds on one CPU core) and saves the weights to
    :func:`cache_path`; later calls load that file (when it cannot be written, the model is
    just not cached). Each call returns a new model object, in eval mode, on the CPU.

    Args:
        width: channels of the first block (``SmallCNN``'s ``width``).
        cache: read and write the cache file.
        verbose: print one sentence saying whether the weights were loaded or trained.

    Returns:
        The model, with ``.source_accuracy`` (held-out accuracy on the source task).
    """
    import torch

    from course_lib.models import SmallCNN

    _check_positive_int("width", width)
    path = cache_path(width)
    model = SmallCNN(num_classes=len(SOURCE_CLASSES), width=width)
    if cache and os.path.exists(path):
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(saved["state_dict"])
            model.source_accuracy = float(saved["source_accuracy"])
            if verbose:
                print(f"Loaded the course's pretrained backbone from {path} "
                      f"(source-task accuracy {model.source_accuracy:.0%}).")
            return model.eval()
        except Exception:  # a damaged or outdated file: train again and overwrite it
            model = SmallCNN(num_classes=len(SOURCE_CLASSES), width=width)
    start = time.perf_counter()
    trained, acc = _pretrain(width, seed)
    model.load_state_dict(trained.state_dict())
    model.source_accuracy = acc
    where = ""
    if cache:
        try:
            _save(path, {"state_dict": model.state_dict(), "source_accuracy": acc, "version": BACKBONE_VERSION})
            where = f"; cached in {path}"
        except OSError:
            where = "; the data folder is not writable, so it is not cached"
    if verbose:
        print(f"Pretrained the course's backbone on the source task in {time.perf_counter() - start:.1f} s "
              f"(source-task accuracy {acc:.0%}){where}.")
    return model.eval()


def imagenet_weights_file():
    """Path where torch keeps ResNet-18's ImageNet weights once downloaded (it may not exist)."""
    import torch

    return os.path.join(torch.hub.get_dir(), "checkpoints", RESNET18_WEIGHTS_FILE)


def cifar10_or_synthetic(n_train, n_test, device=None):
    """``n_train`` training and ``n_test`` test images of CIFAR-10, or of synthetic CIFAR-shaped images.

    With the CIFAR-10 files in the course's data folder this is
    :func:`course_lib.datasets.cifar10_tensors` (``subset=n_train``, ``subset=n_test``). Without
    them, one sentence says so and the images are made in memory by
    :func:`course_lib.datasets.synthetic_cifar10_images` (at most :data:`STANDIN_TRAIN` and
    :data:`STANDIN_TEST`; seed :data:`STANDIN_SEED`), normalized the same way: nothing is written
    to disk, and torchvision is not imported. A damaged CIFAR-10 folder raises, as there.

    Returns:
        ``((x_train, y_train), (x_test, y_test), name)``: tensors as in :func:`source_task` (ten
        classes, labels 0..9) on ``device`` (default: :func:`course_lib.runtime.device`), and
        ``"CIFAR-10"`` or ``"synthetic CIFAR-shaped data"`` (also for the course's synthetic files in
        CIFAR-10's folder) for titles and messages.
    """
    _check_positive_int("n_train", n_train)
    _check_positive_int("n_test", n_test)
    device = runtime.device() if device is None else device
    try:
        train = cifar10_tensors(train=True, subset=n_train, device=device, fallback=False)
        test = cifar10_tensors(train=False, subset=n_test, device=device, fallback=False)
        synthetic = load_cifar10(train=False, subset=1, fallback=False).source == "synthetic"
        return train, test, "synthetic CIFAR-shaped data" if synthetic else "CIFAR-10"
    except FileNotFoundError:
        pass
    n_train, n_test = min(n_train, STANDIN_TRAIN), min(n_test, STANDIN_TEST)
    root = runtime.data_dir()
    print(f"CIFAR-10 is not under {os.path.join(root, CIFAR10_FOLDER)}, so this cell uses {n_train} + {n_test} synthetic "
          f"CIFAR-shaped images; with a network, torchvision.datasets.CIFAR10({root!r}, download=True) fetches the real set.")
    images, labels = synthetic_cifar10_images(n_train + n_test, seed=STANDIN_SEED)
    x, y = _to_tensors(images, labels, device)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:]), "synthetic CIFAR-shaped data"


def imagenet_weights_cached():
    """True when torchvision can build ``resnet18(weights=ResNet18_Weights.DEFAULT)`` without a download."""
    return os.path.isfile(imagenet_weights_file())


def imagenet_input(size=None):
    """A function turning CIFAR-normalized batches into what ImageNet weights expect.

    It undoes :func:`course_lib.datasets.cifar10_tensors`'s normalization, applies
    ImageNet's (:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`) and, if ``size`` is given,
    resizes the images to ``size x size`` (bilinear). Use it as ``fit(..., transform=...)``.
    """
    import torch
    import torch.nn.functional as F

    def transform(x):
        c_mean = torch.tensor(CIFAR10_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        c_std = torch.tensor(CIFAR10_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        i_mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        i_std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        x = ((x * c_std + c_mean) - i_mean) / i_std
        if size is not None and x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return x

    return transform
