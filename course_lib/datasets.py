"""Data sets for the notebooks: small tabular sets that scikit-learn ships, and CIFAR-10.

Nothing here downloads anything. Two families:

* **Tabular** (NumPy arrays, no torch): :func:`load_digits_split` (8x8 digit images,
  10 classes), :func:`load_diabetes_split` (regression) and :func:`make_two_class`
  (binary labels for logistic regression). All return ``(X_train, X_test, y_train, y_test)``
  and standardize with statistics of the *training* part only.

* **CIFAR-10** through torchvision's own reader, ``torchvision.datasets.CIFAR10``.
  :func:`load_cifar10` returns the torchvision data set object; :func:`cifar10_tensors`
  returns the whole (sub)set as two tensors already on the GPU when there is one, which is
  what the notebooks' training cells want. When ``<root>/cifar-10-batches-py`` is not
  there, the loaders say so in one sentence and use a synthetic CIFAR-shaped set that the
  course writes to disk in torchvision's format (:func:`write_cifar10_files`), so the very
  same torchvision code path runs with or without the real files.

The on-disk format (the one torchvision reads), in ``<root>/cifar-10-batches-py/``:

* ``data_batch_1`` ... ``data_batch_5`` (training set) and ``test_batch``: each a pickled
  dict with ``"data"``, a ``uint8`` array of shape ``(N, 3072)`` whose row is one image
  stored as three 32x32 planes (red, then green, then blue, each row-major), and
  ``"labels"``, a list of ``N`` ints in ``0..9``;
* ``batches.meta``: a pickled dict with ``"label_names"``, the 10 class names.

The official files were pickled by Python 2, so their keys are Python-2 ``str``: read with
``pickle.load(f, encoding="bytes")`` (the recipe on the CIFAR web page) they are ``b"data"``,
``b"labels"``, ``b"label_names"``; read with ``encoding="latin1"`` (what torchvision does)
they are ``"data"``, ``"labels"``, ``"label_names"``. The course's writer produces files that
behave the same way under both readings.

Importing this module is cheap: NumPy only; scikit-learn, torch and torchvision are imported
inside the functions that need them.
"""

import io
import os
import pickle
import struct
import tempfile

import numpy as np

from course_lib import runtime

#: Per-channel mean and standard deviation of the official CIFAR-10 training images (pixel
#: values scaled to [0, 1]); :func:`cifar10_tensors` normalizes with them.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

#: The folder torchvision looks for under ``root``.
CIFAR10_FOLDER = "cifar-10-batches-py"
#: Where the synthetic stand-in is written, under the ``root`` given to :func:`load_cifar10`.
SYNTHETIC_FOLDER = "synthetic-cifar10"
#: Size of the synthetic stand-in: 5 training batches of this many images, and a test batch.
SYNTHETIC_IMAGES_PER_BATCH = 2000
SYNTHETIC_TEST_IMAGES = 2000
SYNTHETIC_SEED = 0
#: Bumped whenever the synthetic generator changes, so that old files are rewritten.
SYNTHETIC_VERSION = 1

#: Class names of the synthetic set: what each class looks like (its colour is random
#: around a class hue, its pattern has a random frequency, phase and position).
SYNTHETIC_CLASSES = (
    "horizontal stripes",
    "vertical stripes",
    "diagonal stripes",
    "anti-diagonal stripes",
    "checkerboard",
    "rings",
    "blob",
    "square frame",
    "ramp",
    "spokes",
)

_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_FILE = "test_batch"
_META_FILE = "batches.meta"
_ALL_FILES = _TRAIN_FILES + (_TEST_FILE, _META_FILE)


# ----------------------------------------------------------------------------------------
# Tabular data sets (scikit-learn's bundled files, no network)
# ----------------------------------------------------------------------------------------


def _check_split_args(test_size, seed):
    if not (isinstance(test_size, (float, int)) and 0 < test_size < 1):
        raise ValueError(f"test_size must be a fraction strictly between 0 and 1, got {test_size!r}.")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}.")


def _standardize(X_train, X_test):
    """Scale every column to mean 0 and std 1 using the training rows' statistics.

    A column that is constant on the training rows (several border pixels of the digits
    are always 0) is only centred: its std is replaced by 1 instead of dividing by 0.
    """
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (X_train - mean) / std, (X_test - mean) / std


def load_digits_split(test_size=0.25, seed=0, standardize=True):
    """scikit-learn's bundled 8x8 handwritten digits, split into train and test.

    1797 images of the digits 0-9, each flattened to 64 pixel intensities in 0..16. The
    split is stratified (every digit keeps its share in both parts) and reproducible
    (``seed``); with ``test_size=0.25`` it is 1347 training and 450 test rows.

    Args:
        test_size: fraction of the rows held out for testing, in (0, 1).
        seed: seed of the shuffle that makes the split.
        standardize: if True, every pixel column is shifted and scaled to mean 0, std 1
            with the *training* rows' mean and std (columns constant on the training rows
            are only centred); the test rows use the same numbers, so no test information
            leaks into training.

    Returns:
        ``(X_train, X_test, y_train, y_test)``: float64 arrays of shape ``(n_train, 64)``
        and ``(n_test, 64)``, and int64 label arrays of shape ``(n_train,)`` and
        ``(n_test,)``. ``X.reshape(-1, 8, 8)`` gives the images back.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    _check_split_args(test_size, seed)
    digits = load_digits()
    X = digits.data.astype(np.float64)
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    if standardize:
        X_train, X_test = _standardize(X_train, X_test)
    return X_train, X_test, y_train, y_test


def load_diabetes_split(test_size=0.25, seed=0, standardize=True, standardize_target=True):
    """scikit-learn's bundled diabetes regression set, split into train and test.

    442 patients, 10 measurements each (age, sex, body-mass index, blood pressure and six
    blood serum values), target: a measure of disease progression one year later (25..346).

    Args:
        test_size: fraction of the rows held out for testing, in (0, 1).
        seed: seed of the shuffle that makes the split.
        standardize: if True, every feature column gets mean 0 and std 1 using the training
            rows' statistics (the raw, unscaled features are loaded, not scikit-learn's
            pre-scaled ones, which were scaled with the test rows included).
        standardize_target: if True, the target is also shifted and scaled with the training
            targets' mean and std, so that a linear model's weights and a learning rate of
            about 0.1 are of order one; multiply by ``y_std`` and add ``y_mean`` to get
            the original units back (those two are not returned: compute them from
            ``load_diabetes_split(standardize_target=False)`` if you need them).

    Returns:
        ``(X_train, X_test, y_train, y_test)``: float64 arrays of shapes ``(n_train, 10)``,
        ``(n_test, 10)``, ``(n_train,)``, ``(n_test,)``.
    """
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    _check_split_args(test_size, seed)
    data = load_diabetes(scaled=False)
    X = np.asarray(data.data, dtype=np.float64)
    y = np.asarray(data.target, dtype=np.float64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed)
    if standardize:
        X_train, X_test = _standardize(X_train, X_test)
    if standardize_target:
        mean, std = y_train.mean(), y_train.std()
        y_train, y_test = (y_train - mean) / std, (y_test - mean) / std
    return X_train, X_test, y_train, y_test


def make_two_class(source="digits", classes=(0, 1), n_samples=400, n_features=2, class_sep=1.0, test_size=0.25, seed=0, standardize=True):
    """A two-class problem for logistic regression, with labels 0 and 1.

    Args:
        source: ``"digits"`` (two digits of :func:`load_digits_split`'s set, 64 features;
            ``classes`` picks them, the first becomes label 0, the second label 1) or
            ``"synthetic"`` (scikit-learn's ``make_classification``: ``n_samples`` points
            with ``n_features`` informative features, two Gaussian clusters per class whose
            centres are ``2 * class_sep`` apart, and 1% of the labels flipped, so the
            classes overlap a little).
        classes: the two digits to keep when ``source="digits"``.
        n_samples, n_features, class_sep: size and difficulty when ``source="synthetic"``
            (``n_features=2`` can be drawn in the plane).
        test_size, seed, standardize: as in :func:`load_digits_split`.

    Returns:
        ``(X_train, X_test, y_train, y_test)`` with float64 features and int64 labels in
        ``{0, 1}``; the split is stratified.
    """
    from sklearn.model_selection import train_test_split

    _check_split_args(test_size, seed)
    if source == "digits":
        from sklearn.datasets import load_digits

        if len(classes) != 2 or classes[0] == classes[1] or not all(c in range(10) for c in classes):
            raise ValueError(f"classes must be two different digits in 0..9, got {classes!r}.")
        digits = load_digits()
        keep = np.isin(digits.target, classes)
        X = digits.data[keep].astype(np.float64)
        y = (digits.target[keep] == classes[1]).astype(np.int64)
    elif source == "synthetic":
        from sklearn.datasets import make_classification

        if n_features < 2:
            raise ValueError(f"n_features must be at least 2 for source='synthetic', got {n_features}.")
        X, y = make_classification(
            n_samples=n_samples,
            n_features=n_features,
            n_informative=n_features,
            n_redundant=0,
            n_repeated=0,
            n_classes=2,
            class_sep=class_sep,
            random_state=seed,
        )
        X = X.astype(np.float64)
        y = y.astype(np.int64)
    else:
        raise ValueError(f"source must be 'digits' or 'synthetic', got {source!r}.")
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    if standardize:
        X_train, X_test = _standardize(X_train, X_test)
    return X_train, X_test, y_train, y_test


# ----------------------------------------------------------------------------------------
# CIFAR-10 files: writing them in torchvision's format
# ----------------------------------------------------------------------------------------


class _Python2Pickler(pickle._Pickler):
    """A protocol-2 pickler that writes every ``bytes`` object as a Python-2 ``str``.

    That is how the official CIFAR-10 files were made (by Python 2): such a string comes
    back as ``str`` under ``pickle.load(f, encoding="latin1")`` (torchvision) and as
    ``bytes`` under ``encoding="bytes"``. NumPy arrays pickle their pixel buffer as bytes,
    so it is stored the same way as in the official files. Built on the pure-Python
    pickler, the only one whose table of writers can be extended.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_python2_str(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + bytes(obj))
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + bytes(obj))
        self.memoize(obj)

    dispatch[bytes] = _save_python2_str


def _python2_pickle(obj):
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def _write_atomically(path, payload):
    """Write ``payload`` to ``path`` through a temporary file and a rename.

    Several notebooks graded in parallel may write the synthetic set at the same moment;
    each file then appears complete or not at all, never half written.
    """
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def synthetic_cifar10_images(n, seed=0):
    """``n`` synthetic CIFAR-shaped images in 10 learnable classes, and their labels.

    Class ``k`` (named in :data:`SYNTHETIC_CLASSES`) is a pattern - stripes in one of four
    directions, a checkerboard, rings, a blob, a square frame, a ramp or spokes - painted in
    a colour near the class's hue on a random background colour. Every image draws its own
    frequency, phase, position, contrast and colour, then gets Gaussian pixel noise
    (std 0.12 on the [0, 1] scale). Colour alone says a little about the class, the pattern
    says the rest. It is learnable but not instantly: on 3 000 images, three epochs take
    ``SmallCNN(width=16)`` with SGD + momentum from 10% (chance) to about 70% test
    accuracy in a few seconds of one CPU core, so better and worse optimizers and learning
    rates give visibly different curves.

    Labels are balanced (``n // 10`` or one more per class) and shuffled.

    Returns:
        ``(images, labels)``: ``uint8`` array of shape ``(n, 32, 32, 3)`` (height, width,
        RGB, like ``torchvision.datasets.CIFAR10().data``) and int64 array of shape ``(n,)``.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
    # pixel coordinates in [-1, 1], shape (1, 32, 32)
    grid = ((np.arange(32) + 0.5) / 16.0 - 1.0).astype(np.float32)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    yy, xx = yy[None], xx[None]

    def per_image(low, high, size=n):
        return rng.uniform(low, high, size=(size, 1, 1)).astype(np.float32)

    freq = per_image(1.5, 3.5)  # cycles across the image
    phase = per_image(0.0, 2 * np.pi)
    centre_x, centre_y = per_image(-0.4, 0.4), per_image(-0.4, 0.4)
    blob_size, frame_size = per_image(0.15, 0.35), per_image(0.3, 0.6)

    pattern = np.empty((n, 32, 32), dtype=np.float32)  # values in [-1, 1]
    for k in range(10):
        idx = np.flatnonzero(labels == k)
        w, ph = np.pi * freq[idx], phase[idx]  # angular frequency for coordinates spanning 2 units
        dx, dy = xx - centre_x[idx], yy - centre_y[idx]
        if k == 0:  # horizontal stripes
            p = np.sin(w * yy + ph)
        elif k == 1:  # vertical stripes
            p = np.sin(w * xx + ph)
        elif k == 2:  # diagonal stripes
            p = np.sin(w * (xx + yy) / np.sqrt(2) + ph)
        elif k == 3:  # anti-diagonal stripes
            p = np.sin(w * (xx - yy) / np.sqrt(2) + ph)
        elif k == 4:  # checkerboard
            p = 0.8 * np.sign(np.sin(w * xx + ph) * np.sin(w * yy + ph))
        elif k == 5:  # rings around a random centre
            p = np.sin(2 * w * np.sqrt(dx**2 + dy**2) + ph)
        elif k == 6:  # one Gaussian blob
            p = 2 * np.exp(-(dx**2 + dy**2) / (2 * blob_size[idx] ** 2)) - 1
        elif k == 7:  # concentric square frames
            d = np.maximum(np.abs(dx), np.abs(dy)) - frame_size[idx]
            p = 2 * np.cos(4 * np.pi * d).clip(0) - 1
        elif k == 8:  # a linear ramp in a random direction
            p = np.clip(np.cos(ph) * xx + np.sin(ph) * yy, -1, 1)
        else:  # spokes around a random centre
            p = np.sin(np.round(2 * freq[idx]) * np.arctan2(dy, dx) + ph)
        pattern[idx] = p

    hue = (labels / 10.0 + rng.normal(0.0, 0.06, size=n)) % 1.0
    foreground = _hue_to_rgb(hue, saturation=rng.uniform(0.5, 1.0, size=n), value=rng.uniform(0.6, 1.0, size=n))
    background = rng.uniform(0.1, 0.9, size=(n, 3))
    contrast = rng.uniform(0.6, 1.0, size=(n, 1, 1, 1))
    mix = ((pattern + 1) / 2)[..., None] * contrast.astype(np.float32)  # (n, 32, 32, 1): 1 = foreground
    fg = foreground.astype(np.float32)[:, None, None, :]
    bg = background.astype(np.float32)[:, None, None, :]
    images = bg + (fg - bg) * mix
    images += rng.standard_normal(size=images.shape, dtype=np.float32) * np.float32(0.12)
    images *= 255
    np.rint(images, out=images)
    return np.clip(images, 0, 255).astype(np.uint8), labels


def _hue_to_rgb(hue, saturation, value):
    """HSV to RGB for arrays of shape (n,); returns (n, 3) in [0, 1]."""
    k = (np.array([5.0, 3.0, 1.0])[None, :] + hue[:, None] * 6.0) % 6.0
    ramp = np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return value[:, None] * (1 - saturation[:, None] * ramp)


def write_cifar10_files(root, images_per_batch=SYNTHETIC_IMAGES_PER_BATCH, test_images=SYNTHETIC_TEST_IMAGES, seed=SYNTHETIC_SEED):
    """Write a synthetic CIFAR-shaped data set in torchvision's on-disk CIFAR-10 format.

    Writes ``<root>/cifar-10-batches-py/`` with ``data_batch_1`` ... ``data_batch_5``
    (``images_per_batch`` images each), ``test_batch`` (``test_images`` images) and
    ``batches.meta``, in exactly the layout of the official files (see the module
    docstring), with the images of :func:`synthetic_cifar10_images`. Their class names are
    :data:`SYNTHETIC_CLASSES`, and ``batches.meta`` also holds ``"course_synthetic"``, a
    dict with the generator's version and arguments, by which the course recognises its own
    files. The output depends only on the arguments (same seed, same bytes).

    Files are written through a temporary file and a rename, so a reader never sees a half
    written file. ``torchvision.datasets.CIFAR10`` reads them, except that its md5 test
    rejects every file that is not an official one: :func:`load_cifar10` reads them with
    :class:`CourseCIFAR10` instead.

    Returns:
        The path of the ``cifar-10-batches-py`` folder.
    """
    for name, value in (("images_per_batch", images_per_batch), ("test_images", test_images)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    folder = os.path.join(os.fspath(root), CIFAR10_FOLDER)
    os.makedirs(folder, exist_ok=True)
    n_train = 5 * images_per_batch
    images, labels = synthetic_cifar10_images(n_train + test_images, seed=seed)
    # (n, 32, 32, 3) -> (n, 3, 32, 32) -> (n, 3072): the red plane, then green, then blue
    rows = np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), 3072))
    chunks = [(name, slice(i * images_per_batch, (i + 1) * images_per_batch), f"training batch {i + 1} of 5") for i, name in enumerate(_TRAIN_FILES)]
    chunks.append((_TEST_FILE, slice(n_train, n_train + test_images), "testing batch 1 of 1"))
    for name, part, batch_label in chunks:
        first = part.start
        batch = {
            b"batch_label": batch_label.encode(),
            b"labels": [int(v) for v in labels[part]],
            b"data": rows[part],
            b"filenames": [f"synthetic_{first + i:05d}.png".encode() for i in range(len(rows[part]))],
        }
        _write_atomically(os.path.join(folder, name), _python2_pickle(batch))
    meta = {
        b"num_cases_per_batch": int(images_per_batch),
        b"label_names": [name.encode() for name in SYNTHETIC_CLASSES],
        b"num_vis": 3072,
        b"course_synthetic": {
            b"version": SYNTHETIC_VERSION,
            b"images_per_batch": int(images_per_batch),
            b"test_images": int(test_images),
            b"seed": int(seed),
        },
    }
    _write_atomically(os.path.join(folder, _META_FILE), _python2_pickle(meta))
    return folder


# ----------------------------------------------------------------------------------------
# CIFAR-10: reading through torchvision
# ----------------------------------------------------------------------------------------


def _make_course_cifar10_class():
    from torchvision.datasets import CIFAR10

    class CourseCIFAR10(CIFAR10):
        """``torchvision.datasets.CIFAR10`` for files in its format that are not the official ones.

        torchvision's class accepts a folder only if every file has the md5 sum of the
        official download (``CIFAR10._check_integrity`` and the check in ``_load_meta``):
        right for the real data, but it rejects the course's synthetic stand-in and the
        test fixtures, which are written in the same format with other contents. This
        subclass replaces only those two checks - every file must exist, and the class names
        are read from ``batches.meta`` without its md5 - and inherits everything else,
        pickle reading, ``.data`` / ``.targets`` / ``.classes`` and ``__getitem__``
        included, so the real loading path runs. :func:`load_cifar10` validates each file's
        contents before it uses this class, and uses torchvision's own class whenever the
        md5 sums match.
        """

        def _check_integrity(self):
            folder = os.path.join(self.root, self.base_folder)
            return all(os.path.isfile(os.path.join(folder, name)) for name, _ in self.train_list + self.test_list)

        def _load_meta(self):
            path = os.path.join(self.root, self.base_folder, self.meta["filename"])
            with open(path, "rb") as f:
                meta = pickle.load(f, encoding="latin1")
            self.classes = list(meta[self.meta["key"]])
            self.class_to_idx = {name: i for i, name in enumerate(self.classes)}

    CourseCIFAR10.__module__ = __name__
    CourseCIFAR10.__qualname__ = "CourseCIFAR10"
    return CourseCIFAR10


def __getattr__(name):
    # CourseCIFAR10 subclasses a torchvision class: build it on first use, so that importing
    # this module does not import torch. It then lives in the module's namespace, so pickle
    # (DataLoader workers that spawn) finds it as course_lib.datasets.CourseCIFAR10.
    if name == "CourseCIFAR10":
        cls = _make_course_cifar10_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _file_problem(path, name):
    """None if ``path`` holds a well-formed CIFAR-10 file ``name``, else what is wrong."""
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
    except Exception as exc:  # truncated, not a pickle, unreadable
        return f"it cannot be unpickled ({type(exc).__name__}: {exc})"
    if not isinstance(entry, dict):
        return f"it holds a {type(entry).__name__}, not a dict"
    if name == _META_FILE:
        names = entry.get("label_names")
        if not isinstance(names, (list, tuple)) or len(names) < 1:
            return "it has no list 'label_names'"
        return None
    data = entry.get("data")
    labels = entry.get("labels", entry.get("fine_labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        return f"its 'data' should be a uint8 array of shape (N, 3072), got {got}"
    if not isinstance(labels, (list, tuple, np.ndarray)) or len(labels) != len(data):
        return f"its 'labels' should be a list of {len(data)} ints, one per image"
    labels = np.asarray(labels)
    if labels.size and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 9):
        return "its 'labels' should be ints in 0..9"
    return None


def _first_problem(folder):
    """``(file name, what is wrong)`` for the first malformed file in ``folder``, or None."""
    for name in _ALL_FILES:
        problem = _file_problem(os.path.join(folder, name), name)
        if problem:
            return name, problem
    return None


def _missing_files(folder):
    return [name for name in _ALL_FILES if not os.path.isfile(os.path.join(folder, name))]


def _synthetic_marker(folder):
    try:
        with open(os.path.join(folder, _META_FILE), "rb") as f:
            return pickle.load(f, encoding="latin1").get("course_synthetic")
    except Exception:
        return None


def _open_user_files(root, train, transform):
    """torchvision's CIFAR10 on ``root``; validated files without the official md5 sums too."""
    from torchvision.datasets import CIFAR10

    folder = os.path.join(root, CIFAR10_FOLDER)
    try:
        return CIFAR10(root, train=train, transform=transform, download=False), "official"
    except RuntimeError:
        pass  # some md5 sum differs: files of the right format with other contents, or damage
    problem = _first_problem(folder)
    if problem:
        name, what = problem
        raise RuntimeError(
            f"The CIFAR-10 file {os.path.join(folder, name)} is corrupt ({what}): "
            f"delete the folder {folder} and download the data again with torchvision.datasets.CIFAR10({root!r}, download=True)."
        )
    dataset = __getattr__("CourseCIFAR10")(root, train=train, transform=transform)
    if _synthetic_marker(folder):
        return dataset, "synthetic"
    print(f"The files under {folder} are in CIFAR-10's format but are not the official ones (their md5 sums differ), so they are read without torchvision's checksum test.")
    return dataset, "unofficial"


def _open_synthetic(root, train, transform):
    """The course's synthetic set under ``<root>/synthetic-cifar10``, written if needed."""
    syn_root = os.path.join(root, SYNTHETIC_FOLDER)
    folder = os.path.join(syn_root, CIFAR10_FOLDER)
    wanted = {
        "version": SYNTHETIC_VERSION,
        "images_per_batch": SYNTHETIC_IMAGES_PER_BATCH,
        "test_images": SYNTHETIC_TEST_IMAGES,
        "seed": SYNTHETIC_SEED,
    }
    if _missing_files(folder) or _synthetic_marker(folder) != wanted or _first_problem(folder):
        try:
            write_cifar10_files(syn_root, SYNTHETIC_IMAGES_PER_BATCH, SYNTHETIC_TEST_IMAGES, SYNTHETIC_SEED)
        except OSError:
            # root is not writable (a read-only share, say): keep the set in the temp folder
            syn_root = os.path.join(tempfile.gettempdir(), "course-" + SYNTHETIC_FOLDER)
            folder = os.path.join(syn_root, CIFAR10_FOLDER)
            if _missing_files(folder) or _synthetic_marker(folder) != wanted or _first_problem(folder):
                write_cifar10_files(syn_root, SYNTHETIC_IMAGES_PER_BATCH, SYNTHETIC_TEST_IMAGES, SYNTHETIC_SEED)
    return __getattr__("CourseCIFAR10")(syn_root, train=train, transform=transform)


def _take_subset(dataset, subset, seed):
    n = len(dataset.data)
    if subset is None or subset >= n:
        dataset.indices = np.arange(n)
        return dataset
    indices = np.sort(np.random.default_rng(seed).choice(n, size=subset, replace=False))
    dataset.data = dataset.data[indices]
    dataset.targets = [dataset.targets[i] for i in indices]
    dataset.indices = indices
    return dataset


def load_cifar10(root=None, train=True, subset=None, seed=0, fallback=True, transform=None):
    """CIFAR-10 as a ``torchvision.datasets.CIFAR10`` object, read from ``<root>/cifar-10-batches-py``.

    Never downloads. Which files are read:

    1. ``<root>/cifar-10-batches-py`` holds the official files (their md5 sums match):
       ``torchvision.datasets.CIFAR10(root, train, download=False)`` itself reads them.
    2. It holds a complete set in the same format whose md5 sums differ (a test fixture, a
       re-packed copy): every file is unpickled and checked (``data`` uint8 of shape
       ``(N, 3072)``, one label in 0..9 per image, ``label_names`` in ``batches.meta``),
       one sentence says these are not the official files, and :class:`CourseCIFAR10`
       (torchvision's class minus the md5 test) reads them. A file that fails the check
       raises ``RuntimeError`` with one sentence naming it - also when ``fallback=True``,
       because a damaged download is something to fix, not to hide.
    3. Files are missing and ``fallback=True``: one sentence says so, and the course's
       synthetic stand-in (:func:`synthetic_cifar10_images`, 10 000 training and 2 000 test
       images written by :func:`write_cifar10_files` under ``<root>/synthetic-cifar10/``
       the first time, reused after) is read the same way. With ``fallback=False``:
       ``FileNotFoundError``.

    To get the real data once you have a network:
    ``torchvision.datasets.CIFAR10("data", download=True)``.

    Args:
        root: folder that holds (or will hold) ``cifar-10-batches-py``; ``None`` means
            :func:`course_lib.runtime.data_dir` (the course's ``data/`` folder).
        train: the 50 000 training images if True, the 10 000 test images if False.
        subset: if an int, keep only this many images, drawn at random without replacement
            (``seed``) and kept in file order; ``None`` or a number at least the set's size
            keeps them all.
        seed: seed of the subset draw.
        fallback: use the synthetic stand-in when the files are missing.
        transform: passed to torchvision (e.g. ``torchvision.transforms.ToTensor()``);
            without it, indexing gives PIL images, as in torchvision.

    Returns:
        The torchvision data set. Beyond torchvision's ``.data`` (uint8 array of shape
        ``(N, 32, 32, 3)``: height, width, RGB), ``.targets`` (list of ``N`` ints) and
        ``.classes`` (the 10 names), it carries ``.source`` (``"official"``,
        ``"unofficial"`` or ``"synthetic"``) and ``.indices`` (positions of the kept
        images in the full split). For training on tensors use :func:`cifar10_tensors`.
    """
    if subset is not None and (not isinstance(subset, (int, np.integer)) or isinstance(subset, bool) or subset < 1):
        raise ValueError(f"subset must be None or a positive int, got {subset!r}.")
    root = os.fspath(runtime.data_dir() if root is None else root)
    folder = os.path.join(root, CIFAR10_FOLDER)
    missing = _missing_files(folder)
    if not missing:
        dataset, source = _open_user_files(root, train, transform)
        dataset.source = source
        return _take_subset(dataset, subset, seed)
    if os.path.isdir(folder):
        where = f"CIFAR-10 under {folder} is incomplete ({', '.join(missing)} missing)"
    else:
        where = f"CIFAR-10 is not under {folder}"
    if not fallback:
        raise FileNotFoundError(
            f"{where}: put the official files there or fetch them with torchvision.datasets.CIFAR10({root!r}, download=True), "
            "or pass fallback=True to use the course's synthetic stand-in."
        )
    dataset = _open_synthetic(root, train, transform)
    dataset.source = "synthetic"
    dataset = _take_subset(dataset, subset, seed)
    print(
        f"{where}, so this cell uses {len(dataset.data)} synthetic CIFAR-shaped images; "
        f"with a network, torchvision.datasets.CIFAR10({root!r}, download=True) fetches the real set."
    )
    return dataset


def cifar10_tensors(root=None, train=True, subset=None, device=None, *, seed=0, fallback=True, normalize=True):
    """CIFAR-10 (or its synthetic stand-in) as two tensors on ``device``, ready to train on.

    Reads the files with :func:`load_cifar10` (same ``root``, ``train``, ``subset``,
    ``seed``, ``fallback``; same messages and errors), moves the uint8 pixels to ``device``
    (4x less to copy than floats) and converts them there:

        x = (pixels / 255 - mean[c]) / std[c]

    with :data:`CIFAR10_MEAN` and :data:`CIFAR10_STD` (``normalize=True``, the per-channel
    statistics of the official training set, also used for the test split and the
    synthetic set) or just ``pixels / 255`` (``normalize=False``).

    Args:
        device: where the tensors go; ``None`` means ``course_lib.runtime.device()``
            (``"cuda"`` when torch sees a GPU, else ``"cpu"``).

    Returns:
        ``(x, y)``: float32 tensor of shape ``(N, 3, 32, 32)`` and int64 tensor of shape
        ``(N,)``, both on ``device``.
    """
    import torch

    from course_lib.runtime import device as default_device

    dataset = load_cifar10(root, train=train, subset=subset, seed=seed, fallback=fallback)
    device = default_device() if device is None else device
    pixels = torch.from_numpy(np.ascontiguousarray(dataset.data)).to(device)
    x = pixels.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    if normalize:
        mean = torch.tensor(CIFAR10_MEAN, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        std = torch.tensor(CIFAR10_STD, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        x = (x - mean) / std
    y = torch.as_tensor(np.asarray(dataset.targets, dtype=np.int64), device=device)
    return x.contiguous(), y


def denormalize(x):
    """Undo :func:`cifar10_tensors`'s normalization, for showing images.

    Args:
        x: tensor of shape ``(N, 3, 32, 32)`` or ``(3, 32, 32)``, normalized with
            :data:`CIFAR10_MEAN` / :data:`CIFAR10_STD`.

    Returns:
        NumPy float array of shape ``(N, 32, 32, 3)`` (or ``(32, 32, 3)``) in [0, 1],
        channels last, as ``matplotlib.pyplot.imshow`` wants.
    """
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.shape[-3] != 3:
        raise ValueError(f"x should have 3 channels in dimension -3 (shape (N, 3, H, W)), got shape {x.shape}.")
    mean = np.asarray(CIFAR10_MEAN).reshape(3, 1, 1)
    std = np.asarray(CIFAR10_STD).reshape(3, 1, 1)
    return np.clip(np.moveaxis(x * std + mean, -3, -1), 0.0, 1.0)
