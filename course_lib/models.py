"""Small networks that the notebooks train on a CPU in seconds.

Both models follow torchvision's ResNet convention: the last layer, a ``torch.nn.Linear``
that maps features to class scores (logits), is the attribute ``.fc``, and everything
before it is the backbone. Here the backbone is one module, ``.features``, whose output is
a flat feature vector of size ``.num_features``:

    logits = model.fc(model.features(x))        # what model(x) computes

so code that swaps or freezes a head by name (``head_name="fc"``, notebook 10) treats
these models and ``torchvision.models.resnet18`` alike.

Initialization (all biases start at 0; BatchNorm starts as the identity, scale 1, shift 0):

* layers followed by ReLU (or GELU, leaky ReLU): He / Kaiming normal,
  ``W ~ N(0, 2 / fan_in)`` - He et al. 2015, ``torch.nn.init.kaiming_normal_`` with
  ``mode="fan_in"``; it keeps the mean square of the activations constant from layer to
  layer (for leaky ReLU with slope a: ``2 / ((1 + a^2) fan_in)``);
* layers followed by tanh or sigmoid: Glorot / Xavier normal,
  ``W ~ N(0, 2 / (fan_in + fan_out))`` - Glorot & Bengio 2010,
  ``torch.nn.init.xavier_normal_``; this is ``1 / fan_in`` when ``fan_in == fan_out``;
* the head ``.fc``: ``W ~ N(0, (0.1)^2 / fan_in)``, a standard deviation ten times smaller
  than ``1 / sqrt(fan_in)``, so the first logits are close to 0, every class gets probability about
  ``1 / num_classes``, and the initial cross-entropy is about ``ln(num_classes)``
  (2.303 for 10 classes) - the sanity check of notebook 09.

``fan_in`` is the number of inputs of one output unit: ``in_features`` for a linear
layer, ``in_channels * kernel_height * kernel_width`` for a convolution.
"""

import math

from torch import nn

_ACTIVATIONS = ("relu", "leaky_relu", "gelu", "tanh", "sigmoid")
_LEAKY_SLOPE = 0.01


def _activation(name):
    return {
        "relu": nn.ReLU,
        "leaky_relu": lambda: nn.LeakyReLU(_LEAKY_SLOPE),
        "gelu": nn.GELU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
    }[name]()


def _check_activation(activation):
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(map(repr, _ACTIVATIONS))}, got {activation!r}.")


def _init_hidden(layer, activation):
    """He normal before ReLU-like activations, Glorot normal before tanh / sigmoid; bias 0."""
    if activation in ("tanh", "sigmoid"):
        nn.init.xavier_normal_(layer.weight)
    elif activation == "leaky_relu":
        nn.init.kaiming_normal_(layer.weight, a=_LEAKY_SLOPE, mode="fan_in", nonlinearity="leaky_relu")
    else:  # relu, gelu (GELU behaves like ReLU for the scale of its output)
        nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def _init_head(layer):
    """W ~ N(0, 0.01 / fan_in), bias 0: initial logits near 0, initial loss near ln(C)."""
    nn.init.normal_(layer.weight, mean=0.0, std=0.1 / math.sqrt(layer.in_features))
    nn.init.zeros_(layer.bias)


def _check_positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")


class MLP(nn.Module):
    """A fully connected network: flatten, then ``[Linear -> (BatchNorm1d) -> activation]`` per hidden layer, then a linear head.

    Shapes: input ``(N, in_features)`` or any ``(N, ...)`` whose trailing dimensions
    multiply to ``in_features`` (images are flattened); output ``(N, num_classes)``
    logits (no softmax: pair it with ``torch.nn.functional.cross_entropy``).

    Args:
        in_features: number of input values per example (64 for 8x8 digits, 3072 for CIFAR-10).
        hidden: widths of the hidden layers; ``()`` gives a linear (softmax-regression) model.
        num_classes: number of outputs.
        batchnorm: insert ``BatchNorm1d`` between every hidden linear layer and its
            activation. Those linear layers then have no bias: BatchNorm subtracts the
            batch mean, which cancels any bias, and its own shift ``beta`` takes that role.
        activation: ``"relu"``, ``"leaky_relu"`` (slope 0.01), ``"gelu"``, ``"tanh"`` or
            ``"sigmoid"``; it also picks the initialization (module docstring).

    Attributes:
        features: ``nn.Sequential`` of the flatten and the hidden layers, output
            ``(N, num_features)`` (just the flatten when ``hidden=()``).
        fc: the head, ``nn.Linear(num_features, num_classes)``.
        num_features: width of the last hidden layer (``in_features`` when ``hidden=()``).

    Parameters: a hidden layer of width ``h`` after one of width ``p`` has ``p*h + h``
    (``p*h + 2h`` with BatchNorm: weights, and ``gamma``, ``beta`` instead of the bias);
    the head has ``p*num_classes + num_classes``.
    """

    def __init__(self, in_features, hidden=(64,), num_classes=10, batchnorm=False, activation="relu"):
        super().__init__()
        _check_positive_int("in_features", in_features)
        _check_positive_int("num_classes", num_classes)
        if not isinstance(hidden, (tuple, list)):
            raise TypeError(f"hidden must be a tuple of layer widths such as (64,) or (128, 64), got {hidden!r}.")
        hidden = tuple(hidden)
        for width in hidden:
            _check_positive_int("every hidden width", width)
        _check_activation(activation)
        layers = [nn.Flatten()]
        previous = in_features
        for width in hidden:
            linear = nn.Linear(previous, width, bias=not batchnorm)
            _init_hidden(linear, activation)
            layers.append(linear)
            if batchnorm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(_activation(activation))
            previous = width
        self.features = nn.Sequential(*layers)
        self.num_features = previous
        self.fc = nn.Linear(previous, num_classes)
        _init_head(self.fc)

    def forward(self, x):
        return self.fc(self.features(x))


def _conv_block(c_in, c_out, batchnorm):
    """Conv2d(3x3, padding 1) -> (BatchNorm2d) -> ReLU, He-initialized; no conv bias with BatchNorm."""
    conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=not batchnorm)
    _init_hidden(conv, "relu")
    layers = [conv]
    if batchnorm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU())
    return layers


class SmallCNN(nn.Module):
    """A small convolutional network for 32x32 images (any size of at least 4x4 works).

    Three blocks of ``Conv2d(3x3, padding 1) -> (BatchNorm2d) -> ReLU`` with ``width``,
    ``2*width`` and ``4*width`` channels; a 2x2 max-pool after the first two blocks halves
    height and width, a global average pool after the third turns each channel into one
    number; then the linear head:

        (N, in_channels, 32, 32) -> (N, w, 32, 32) -> pool (N, w, 16, 16)
        -> (N, 2w, 16, 16) -> pool (N, 2w, 8, 8) -> (N, 4w, 8, 8)
        -> global average (N, 4w) = features -> fc -> (N, num_classes)

    Args:
        num_classes: number of outputs (logits).
        in_channels: 3 for RGB, 1 for grey images.
        width: channels of the first block; about 95 000 parameters at the default 32,
            and a 32x32 image costs about 10 million multiply-adds forward.
        batchnorm: BatchNorm2d after every convolution (which then has no bias, as
            BatchNorm's shift replaces it).

    Attributes:
        features: ``nn.Sequential`` of the three blocks, the pools and a flatten; output
            ``(N, 4 * width)``.
        fc: the head, ``nn.Linear(4 * width, num_classes)``.
        num_features: ``4 * width``.

    Initialization: He normal for the convolutions, the small head of the module docstring.

    Parameters: a 3x3 convolution from ``c_in`` to ``c_out`` channels has
    ``9 * c_in * c_out`` weights (+ ``c_out`` biases without BatchNorm, + ``2 * c_out`` for
    ``gamma`` and ``beta`` with it).
    """

    def __init__(self, num_classes=10, in_channels=3, width=32, batchnorm=True):
        super().__init__()
        _check_positive_int("num_classes", num_classes)
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("width", width)
        self.features = nn.Sequential(
            *_conv_block(in_channels, width, batchnorm),
            nn.MaxPool2d(2),
            *_conv_block(width, 2 * width, batchnorm),
            nn.MaxPool2d(2),
            *_conv_block(2 * width, 4 * width, batchnorm),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.num_features = 4 * width
        self.fc = nn.Linear(4 * width, num_classes)
        _init_head(self.fc)

    def forward(self, x):
        return self.fc(self.features(x))
