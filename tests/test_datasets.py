"""Tests of course_lib.datasets: scikit-learn splits and the CIFAR-10 path through torchvision.

The CIFAR-10 tests write their own tiny fixture in torchvision's on-disk format with plain
``pickle.dump`` (independent of the course's writer), with pixel values given by a formula,
so every value read back can be checked exactly.
"""

import os
import pickle
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision

from course_lib import datasets

LABEL_NAMES = [f"fixture class {k}" for k in range(10)]
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]


def known_pixels(first, n):
    """Images first..first+n-1 as (n, 3, 32, 32) uint8: value (37 i + 101 c + 7 h + 3 w) mod 256."""
    i = np.arange(first, first + n).reshape(-1, 1, 1, 1)
    c = np.arange(3).reshape(1, 3, 1, 1)
    h = np.arange(32).reshape(1, 1, 32, 1)
    w = np.arange(32).reshape(1, 1, 1, 32)
    return ((37 * i + 101 * c + 7 * h + 3 * w) % 256).astype(np.uint8)


def write_fixture(root, per_batch=4, n_test=3):
    """A CIFAR-10 folder in torchvision's format; returns {file: (pixels (n,3,32,32), labels)}."""
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder)
    contents = {}
    first = 0
    for name in TRAIN_FILES + ["test_batch"]:
        n = n_test if name == "test_batch" else per_batch
        pixels = known_pixels(first, n)
        labels = [(first + j) * 3 % 10 for j in range(n)]
        # one row per image: the red 32x32 plane row by row, then green, then blue
        entry = {"batch_label": name, "data": pixels.reshape(n, 3 * 32 * 32), "labels": labels}
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(entry, f, protocol=2)
        contents[name] = (pixels, labels)
        first += n
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        pickle.dump({"label_names": LABEL_NAMES, "num_vis": 3072}, f, protocol=2)
    return contents


def expected_split(contents, train):
    names = TRAIN_FILES if train else ["test_batch"]
    pixels = np.concatenate([contents[n][0] for n in names])
    labels = [label for n in names for label in contents[n][1]]
    return pixels, labels


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything opens a connection or calls torchvision's downloaders."""

    def refuse(*args, **kwargs):
        raise AssertionError("the data loader tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", refuse)
    monkeypatch.setattr(torchvision.datasets.utils, "download_url", refuse)


@pytest.fixture
def small_synthetic(monkeypatch):
    """Shrink the synthetic stand-in so that the fallback tests stay fast."""
    monkeypatch.setattr(datasets, "SYNTHETIC_IMAGES_PER_BATCH", 20)
    monkeypatch.setattr(datasets, "SYNTHETIC_TEST_IMAGES", 10)


# ------------------------------------------------------------------------- reading a fixture


@pytest.mark.parametrize("train", [True, False])
def test_load_cifar10_reads_fixture_exactly(tmp_path, capsys, no_network, train):
    contents = write_fixture(tmp_path)
    pixels, labels = expected_split(contents, train)
    ds = datasets.load_cifar10(tmp_path, train=train)
    assert isinstance(ds, torchvision.datasets.CIFAR10)
    assert ds.source == "unofficial"
    assert ds.data.dtype == np.uint8 and ds.data.shape == (len(labels), 32, 32, 3)
    np.testing.assert_array_equal(ds.data, pixels.transpose(0, 2, 3, 1))
    assert list(ds.targets) == labels
    assert ds.classes == LABEL_NAMES
    assert len(ds) == len(labels)
    # torchvision's own __getitem__ gives a PIL image with the same pixels
    image, label = ds[2]
    np.testing.assert_array_equal(np.asarray(image), pixels[2].transpose(1, 2, 0))
    assert label == labels[2]
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "not the official" in out[0] and "cifar-10-batches-py" in out[0]


def test_cifar10_tensors_round_trip(tmp_path, no_network):
    contents = write_fixture(tmp_path)
    pixels, labels = expected_split(contents, True)
    x, y = datasets.cifar10_tensors(tmp_path, train=True, device="cpu", normalize=False)
    assert x.dtype == torch.float32 and tuple(x.shape) == (20, 3, 32, 32) and x.device.type == "cpu"
    assert y.dtype == torch.int64 and y.tolist() == labels
    np.testing.assert_array_equal(torch.round(x * 255).to(torch.uint8).numpy(), pixels)

    x, y = datasets.cifar10_tensors(tmp_path, train=False, device=torch.device("cpu"))
    pixels, labels = expected_split(contents, False)
    mean = np.array([0.4914, 0.4822, 0.4465]).reshape(1, 3, 1, 1)
    std = np.array([0.2470, 0.2435, 0.2616]).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(x.numpy(), (pixels / 255.0 - mean) / std, rtol=0, atol=1e-5)
    assert y.tolist() == labels
    assert x.is_contiguous()
    # denormalize undoes it, channels last
    np.testing.assert_allclose(datasets.denormalize(x), pixels.transpose(0, 2, 3, 1) / 255.0, atol=1e-5)


def test_subset_is_random_reproducible_and_consistent(tmp_path):
    contents = write_fixture(tmp_path)
    pixels, labels = expected_split(contents, True)
    a = datasets.load_cifar10(tmp_path, subset=7, seed=3)
    b = datasets.load_cifar10(tmp_path, subset=7, seed=3)
    c = datasets.load_cifar10(tmp_path, subset=7, seed=4)
    assert len(a) == 7 and len(a.targets) == 7
    assert len(set(a.indices.tolist())) == 7 and list(a.indices) == sorted(a.indices)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, c.indices)
    np.testing.assert_array_equal(a.data, pixels[a.indices].transpose(0, 2, 3, 1))
    assert a.targets == [labels[i] for i in a.indices]
    # asking for more than there is keeps everything
    assert len(datasets.load_cifar10(tmp_path, subset=1000)) == 20
    x, y = datasets.cifar10_tensors(tmp_path, subset=7, seed=3, device="cpu")
    assert tuple(x.shape) == (7, 3, 32, 32) and y.tolist() == a.targets
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="subset"):
            datasets.load_cifar10(tmp_path, subset=bad)


def test_dataset_object_pickles(tmp_path):
    """DataLoader workers that spawn pickle the data set: its class must be importable."""
    write_fixture(tmp_path)
    ds = datasets.load_cifar10(tmp_path, train=False)
    again = pickle.loads(pickle.dumps(ds))
    assert type(again).__module__ == "course_lib.datasets" and type(again).__name__ == "CourseCIFAR10"
    np.testing.assert_array_equal(again.data, ds.data)


# --------------------------------------------------------------------------- the writer


def test_writer_output_is_read_by_plain_torchvision(tmp_path, monkeypatch):
    folder = datasets.write_cifar10_files(tmp_path, images_per_batch=6, test_images=5, seed=1)
    assert folder == os.path.join(tmp_path, "cifar-10-batches-py")
    # torchvision's unmodified class, with only its md5 comparison replaced by "the file exists"
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))
    train = torchvision.datasets.CIFAR10(tmp_path, train=True, download=False)
    test = torchvision.datasets.CIFAR10(tmp_path, train=False, download=False)
    images, labels = datasets.synthetic_cifar10_images(35, seed=1)
    assert train.data.shape == (30, 32, 32, 3) and test.data.shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(train.data, images[:30])
    np.testing.assert_array_equal(test.data, images[30:])
    assert train.targets == labels[:30].tolist() and test.targets == labels[30:].tolist()
    assert train.classes == list(datasets.SYNTHETIC_CLASSES)


def test_writer_uses_python2_string_keys_like_the_official_files(tmp_path):
    folder = datasets.write_cifar10_files(tmp_path, images_per_batch=3, test_images=2, seed=0)
    with open(os.path.join(folder, "data_batch_2"), "rb") as f:
        as_bytes = pickle.load(f, encoding="bytes")  # the CIFAR web page's recipe
    assert {b"data", b"labels", b"batch_label", b"filenames"} <= set(as_bytes)
    assert as_bytes[b"data"].dtype == np.uint8 and as_bytes[b"data"].shape == (3, 3072)
    assert len(as_bytes[b"labels"]) == 3 and all(isinstance(v, int) for v in as_bytes[b"labels"])
    with open(os.path.join(folder, "batches.meta"), "rb") as f:
        meta = pickle.load(f, encoding="bytes")
    assert [name.decode() for name in meta[b"label_names"]] == list(datasets.SYNTHETIC_CLASSES)
    with open(os.path.join(folder, "data_batch_2"), "rb") as f:
        as_str = pickle.load(f, encoding="latin1")  # torchvision's way
    assert {"data", "labels"} <= set(as_str)
    np.testing.assert_array_equal(as_str["data"], as_bytes[b"data"])


def test_writer_is_deterministic(tmp_path):
    a = datasets.write_cifar10_files(tmp_path / "a", images_per_batch=4, test_images=4, seed=7)
    b = datasets.write_cifar10_files(tmp_path / "b", images_per_batch=4, test_images=4, seed=7)
    c = datasets.write_cifar10_files(tmp_path / "c", images_per_batch=4, test_images=4, seed=8)
    for name in TRAIN_FILES + ["test_batch", "batches.meta"]:
        with open(os.path.join(a, name), "rb") as fa, open(os.path.join(b, name), "rb") as fb:
            assert fa.read() == fb.read(), name
    with open(os.path.join(a, "test_batch"), "rb") as fa, open(os.path.join(c, "test_batch"), "rb") as fc:
        assert fa.read() != fc.read()
    with pytest.raises(ValueError, match="images_per_batch"):
        datasets.write_cifar10_files(tmp_path / "d", images_per_batch=0)


def test_synthetic_images_are_balanced_and_learnable():
    images, labels = datasets.synthetic_cifar10_images(1500, seed=5)
    assert images.dtype == np.uint8 and images.shape == (1500, 32, 32, 3)
    assert np.bincount(labels, minlength=10).tolist() == [150] * 10
    # a linear least-squares classifier on 8x8-pooled pixels: far above chance (0.1)
    feats = images.reshape(-1, 8, 4, 8, 4, 3).mean(axis=(2, 4)).reshape(len(images), -1) / 255.0
    feats = np.hstack([feats, np.ones((len(feats), 1))])
    W = np.linalg.lstsq(feats[:1200], np.eye(10)[labels[:1200]], rcond=None)[0]
    accuracy = np.mean(np.argmax(feats[1200:] @ W, axis=1) == labels[1200:])
    assert accuracy > 0.3, accuracy


# ------------------------------------------------------------------------- offline fallback


def test_fallback_says_one_sentence_and_uses_torchvision_files(tmp_path, capsys, no_network, small_synthetic):
    ds = datasets.load_cifar10(tmp_path, train=True)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    line = out[0]
    assert line.startswith(f"CIFAR-10 is not under {os.path.join(tmp_path, 'cifar-10-batches-py')}")
    assert "100 synthetic CIFAR-shaped images" in line and "download=True" in line
    assert line.count(". ") == 0 and line.endswith(".")
    assert isinstance(ds, torchvision.datasets.CIFAR10) and ds.source == "synthetic"
    assert ds.data.shape == (100, 32, 32, 3) and ds.classes == list(datasets.SYNTHETIC_CLASSES)
    assert not os.path.exists(os.path.join(tmp_path, "cifar-10-batches-py"))
    folder = os.path.join(tmp_path, "synthetic-cifar10", "cifar-10-batches-py")
    assert sorted(os.listdir(folder)) == sorted(TRAIN_FILES + ["test_batch", "batches.meta"])
    # the files are written once and reused; the sentence is said by every cell
    stamp = os.path.getmtime(os.path.join(folder, "data_batch_1"))
    x, y = datasets.cifar10_tensors(tmp_path, train=False, subset=6, device="cpu")
    assert tuple(x.shape) == (6, 3, 32, 32) and y.dtype == torch.int64
    assert os.path.getmtime(os.path.join(folder, "data_batch_1")) == stamp
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "6 synthetic CIFAR-shaped images" in out[0]


def test_fallback_rewrites_a_damaged_synthetic_cache(tmp_path, capsys, small_synthetic):
    datasets.load_cifar10(tmp_path)
    path = os.path.join(tmp_path, "synthetic-cifar10", "cifar-10-batches-py", "data_batch_4")
    with open(path, "wb") as f:
        f.write(b"garbage")
    ds = datasets.load_cifar10(tmp_path)
    assert len(ds) == 100


def test_missing_data_without_fallback_is_a_clear_error(tmp_path, no_network):
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_cifar10(tmp_path, fallback=False)
    message = str(info.value)
    assert os.path.join(str(tmp_path), "cifar-10-batches-py") in message and "download=True" in message
    assert message.count(". ") == 0
    write_fixture(tmp_path)
    os.remove(os.path.join(tmp_path, "cifar-10-batches-py", "data_batch_3"))
    with pytest.raises(FileNotFoundError, match="data_batch_3 missing"):
        datasets.cifar10_tensors(tmp_path, fallback=False, device="cpu")


@pytest.mark.parametrize("fallback", [True, False])
def test_truncated_file_is_named(tmp_path, fallback):
    write_fixture(tmp_path)
    path = os.path.join(tmp_path, "cifar-10-batches-py", "data_batch_2")
    with open(path, "rb") as f:
        payload = f.read()
    with open(path, "wb") as f:
        f.write(payload[: len(payload) // 2])
    with pytest.raises(RuntimeError) as info:
        datasets.load_cifar10(tmp_path, train=False, fallback=fallback)
    assert path in str(info.value) and "corrupt" in str(info.value)


def test_file_with_wrong_shape_is_named(tmp_path):
    write_fixture(tmp_path)
    path = os.path.join(tmp_path, "cifar-10-batches-py", "test_batch")
    with open(path, "wb") as f:
        pickle.dump({"data": np.zeros((3, 100), np.uint8), "labels": [0, 1, 2]}, f, protocol=2)
    with pytest.raises(RuntimeError, match=r"test_batch is corrupt .*\(N, 3072\)"):
        datasets.load_cifar10(tmp_path)


def test_importing_the_module_does_not_import_torch():
    code = "import sys, course_lib.datasets; sys.exit('torch' in sys.modules or 'sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(os.path.dirname(__file__))).returncode == 0


# ------------------------------------------------------------------------- tabular sets


def test_digits_split_shapes_and_standardization():
    X_train, X_test, y_train, y_test = datasets.load_digits_split()
    assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)
    assert y_train.shape == (1347,) and y_test.shape == (450,) and y_train.dtype == np.int64
    assert set(y_train) == set(range(10)) and set(y_test) == set(range(10))
    varying = X_train.std(axis=0) > 0
    np.testing.assert_allclose(X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X_train.std(axis=0)[varying], 1, rtol=1e-12)
    assert np.all(np.isfinite(X_test))
    raw = datasets.load_digits_split(standardize=False)
    assert raw[0].min() == 0 and raw[0].max() == 16 and np.all(raw[0] == np.round(raw[0]))
    # the same split with and without standardization, and the same split for the same seed
    np.testing.assert_array_equal(raw[2], y_train)
    std = raw[0].std(axis=0)
    np.testing.assert_allclose(X_test, (raw[1] - raw[0].mean(axis=0)) / np.where(std > 0, std, 1))
    other = datasets.load_digits_split(test_size=0.5, seed=1)
    assert other[0].shape == (898, 64) and other[1].shape == (899, 64)


def test_diabetes_split():
    X_train, X_test, y_train, y_test = datasets.load_diabetes_split()
    assert X_train.shape == (331, 10) and X_test.shape == (111, 10)
    assert y_train.shape == (331,) and y_test.shape == (111,)
    np.testing.assert_allclose([y_train.mean(), y_train.std()], [0, 1], atol=1e-12)
    raw = datasets.load_diabetes_split(standardize=False, standardize_target=False)
    assert 25 <= raw[2].min() and raw[2].max() <= 346
    np.testing.assert_allclose(y_test, (raw[3] - raw[2].mean()) / raw[2].std())


def test_make_two_class():
    from sklearn.datasets import load_digits

    target = load_digits().target
    X_train, X_test, y_train, y_test = datasets.make_two_class("digits", classes=(3, 8))
    assert X_train.shape[1] == 64 and len(X_train) + len(X_test) == np.sum((target == 3) | (target == 8))
    assert set(y_train) == {0, 1} and y_train.dtype == np.int64
    assert np.sum(y_train) + np.sum(y_test) == np.sum(target == 8)
    X_train, X_test, y_train, y_test = datasets.make_two_class("synthetic", n_samples=200, n_features=3)
    assert X_train.shape == (150, 3) and X_test.shape == (50, 3) and set(y_test) == {0, 1}
    with pytest.raises(ValueError, match="classes"):
        datasets.make_two_class("digits", classes=(3, 3))
    with pytest.raises(ValueError, match="source"):
        datasets.make_two_class("mnist")
    with pytest.raises(ValueError, match="test_size"):
        datasets.load_digits_split(test_size=1.5)
