"""course_lib.backbones: the course's own pretrained backbone, the transfer tasks, the training
loop that keeps frozen BatchNorm layers in eval mode, and the ImageNet ResNet-18 path (with a
stand-in checkpoint: nothing is downloaded)."""

import os

import pytest
import torch
from torch import nn

from course_lib import backbones
from course_lib.models import SmallCNN


def test_tasks_have_the_promised_shapes_classes_and_no_shared_images():
    (xs, ys), (xv, yv) = backbones.source_task(n_train_per_class=20, n_val_per_class=5)
    assert xs.shape == (100, 3, 32, 32) and xv.shape == (25, 3, 32, 32)
    assert torch.bincount(ys).tolist() == [20] * 5 and torch.bincount(yv).tolist() == [5] * 5
    (xf, yf), (xt, yt) = backbones.target_task(labels_per_class=3, n_test_per_class=10)
    assert xf.shape == (15, 3, 32, 32) and torch.bincount(yf).tolist() == [3] * 5
    assert xt.shape == (50, 3, 32, 32) and torch.bincount(yt).tolist() == [10] * 5
    # the labeled images are not test images, and a different seed draws other labeled images
    assert not any(torch.equal(a, b) for a in xf for b in xt)
    (xf2, _), _ = backbones.target_task(labels_per_class=3, n_test_per_class=10, seed=1)
    assert not torch.equal(xf, xf2)
    assert abs(float(xs.mean())) < 1.0  # normalized


def test_fit_keeps_the_listed_modules_in_eval_and_trains_the_rest():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    before = model[1].running_mean.clone()
    model[1].eval()
    opt = torch.optim.SGD(model[3].parameters(), lr=0.1)
    w = model[3].weight.detach().clone()
    losses = backbones.fit(model, opt, (x, y), steps=5, batch_size=8, keep_in_eval=[model[1]])
    assert len(losses) == 5 and all(isinstance(v, float) for v in losses)
    assert torch.equal(model[1].running_mean, before) and not model[1].training and model.training
    assert not torch.equal(model[3].weight, w)
    backbones.fit(model, opt, (x, y), steps=2, batch_size=8)  # without keep_in_eval, model.train() wins
    assert not torch.equal(model[1].running_mean, before)
    acc = backbones.accuracy(model, (x, y), batch_size=7)
    assert 0.0 <= acc <= 1.0 and model.training


def test_pretrained_backbone_is_trained_cached_and_reloaded(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    monkeypatch.setattr(backbones, "_pretrain", lambda width, seed: (SmallCNN(num_classes=5, width=width), 0.5))
    first = backbones.pretrained_backbone(width=4)
    assert "Pretrained" in capsys.readouterr().out
    path = backbones.cache_path(width=4)
    assert path.startswith(str(tmp_path)) and os.path.isfile(path)
    second = backbones.pretrained_backbone(width=4)
    assert "Loaded" in capsys.readouterr().out
    assert second is not first and not second.training and second.source_accuracy == 0.5
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    with open(path, "wb") as f:  # a damaged cache file is replaced, not a crash
        f.write(b"not a checkpoint")
    backbones.pretrained_backbone(width=4, verbose=False)
    assert torch.load(path, weights_only=True)["version"] == backbones.BACKBONE_VERSION


@pytest.mark.slow
def test_the_real_pretraining_learns_the_source_task(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    model = backbones.pretrained_backbone(verbose=False)
    assert model.source_accuracy > 0.75


def test_imagenet_resnet18_loads_from_torch_cache_without_a_download(tmp_path, monkeypatch):
    from torchvision.models import ResNet18_Weights, resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert not backbones.imagenet_weights_cached()
    assert backbones.imagenet_weights_file().startswith(str(tmp_path))
    os.makedirs(os.path.dirname(backbones.imagenet_weights_file()))
    torch.manual_seed(0)
    stand_in = resnet18(weights=None)
    torch.save(stand_in.state_dict(), backbones.imagenet_weights_file())
    assert backbones.imagenet_weights_cached()
    model = resnet18(weights=ResNet18_Weights.DEFAULT)  # read from the cache file, nothing fetched
    assert torch.equal(model.fc.weight, stand_in.fc.weight)
    x = torch.randn(2, 3, 32, 32)
    for size, expected in ((None, 32), (64, 64)):
        out = backbones.imagenet_input(size)(x)
        assert out.shape == (2, 3, expected, expected)
    # CIFAR-normalized zero is the CIFAR mean; in ImageNet units that is (cifar_mean - imagenet_mean) / imagenet_std
    z = backbones.imagenet_input()(torch.zeros(1, 3, 2, 2))
    want = [(c - i) / s for c, i, s in zip((0.4914, 0.4822, 0.4465), backbones.IMAGENET_MEAN, backbones.IMAGENET_STD)]
    assert torch.allclose(z[0, :, 0, 0], torch.tensor(want), atol=1e-6)


def test_the_resnet18_file_name_is_torchvisions_own():
    # named in course_lib so that looking for the weights does not import torchvision
    from torchvision.models import ResNet18_Weights

    assert backbones.RESNET18_WEIGHTS_FILE == os.path.basename(ResNet18_Weights.DEFAULT.url)


def test_cifar10_or_synthetic_makes_images_in_memory_without_the_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    (x, y), (xt, yt), name = backbones.cifar10_or_synthetic(40, 20, device="cpu")
    assert name == "synthetic CIFAR-shaped data" and "synthetic CIFAR-shaped images" in capsys.readouterr().out
    assert x.shape == (40, 3, 32, 32) and xt.shape == (20, 3, 32, 32) and x.dtype == torch.float32
    assert set(y.tolist()) <= set(range(10)) and len(set(y.tolist())) == 10
    assert not any(tmp_path.iterdir())  # nothing written
    assert not any(torch.equal(a, b) for a in x for b in xt)
    monkeypatch.setattr(backbones, "STANDIN_TRAIN", 30)   # a GPU run asks for more than the stand-in holds
    monkeypatch.setattr(backbones, "STANDIN_TEST", 10)
    (x, _), (xt, _), _ = backbones.cifar10_or_synthetic(50_000, 10_000, device="cpu")
    assert len(x) == 30 and len(xt) == 10


def test_cifar10_or_synthetic_reads_the_cifar10_folder_when_its_files_are_there(tmp_path, monkeypatch, capsys):
    import pickle

    from course_lib import datasets

    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    datasets.write_cifar10_files(str(tmp_path), images_per_batch=20, test_images=30)
    (x, y), (xt, yt), name = backbones.cifar10_or_synthetic(50, 10, device="cpu")
    assert x.shape == (50, 3, 32, 32) and xt.shape == (10, 3, 32, 32)
    assert name == "synthetic CIFAR-shaped data"  # the course's own files say what they are
    meta = tmp_path / datasets.CIFAR10_FOLDER / "batches.meta"   # without the course's mark: CIFAR-10 for all we know
    info = pickle.loads(meta.read_bytes())
    del info["course_synthetic"]
    meta.write_bytes(pickle.dumps(info, protocol=2))
    assert backbones.cifar10_or_synthetic(50, 10, device="cpu")[2] == "CIFAR-10"
    capsys.readouterr()
