"""Reference solutions for notebook 10: reusing a trained network (transfer learning).

Model convention (torchvision's): the classifier head is the sub-module named by
``head_name`` (``"fc"`` for ResNets; a dotted path such as ``"classifier.1"`` works too, for
MobileNet/EfficientNet-style heads). Every parameter outside the head belongs to the
**backbone**.

Three ways to use a trained backbone for a new task:

* **feature extraction**: :func:`freeze_backbone` then :func:`replace_head`; only the new
  head trains, the backbone is a fixed feature map;
* **fine-tuning**: :func:`replace_head` and train everything, the backbone with a smaller
  learning rate (:func:`param_groups`, typically 10x smaller) so that a fresh random head's
  large early gradients do not wreck the trained features;
* the two in sequence: freeze, train the head, :func:`unfreeze_backbone`, fine-tune.

These functions change the model **in place** (like ``model.train()``) and return it.
"""

import numbers

from torch import nn

try:  # BatchNorm*d, SyncBatchNorm and InstanceNorm*d share this base; it is what has running stats
    from torch.nn.modules.batchnorm import _NormBase as _NORM_WITH_STATS
except ImportError:  # pragma: no cover - older torch
    from torch.nn.modules.batchnorm import _BatchNorm as _NORM_WITH_STATS


def _head(model, head_name):
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}.")
    try:
        return model.get_submodule(head_name)
    except AttributeError:
        names = [n for n, _ in model.named_children()]
        raise ValueError(
            f"the model has no sub-module {head_name!r} to use as the head (its top-level children are "
            f"{names}); pass head_name=... naming the classifier, e.g. 'fc' or 'classifier.1'."
        ) from None


def _in_head(name, head_name):
    return name == head_name or name.startswith(head_name + ".")


def _backbone_norm_layers(model, head_name):
    return [m for name, m in model.named_modules() if isinstance(m, _NORM_WITH_STATS) and not _in_head(name, head_name)]


class _StayInEval:
    """The ``train`` method given to a frozen normalization layer: whatever ``mode``, stay in eval.

    A small class rather than a bound function so that ``copy.deepcopy`` and ``pickle`` of
    the model keep the override (and rebind it to the copy).
    """

    def __init__(self, module):
        self.module = module

    def __call__(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.module.training = False
        return self.module


def freeze_backbone(model, head_name="fc"):
    """Freeze everything but the head: no gradients, and BatchNorm statistics fixed.

    Two things freeze a layer, and feature extraction needs both:

    1. ``requires_grad = False`` on every backbone parameter: no gradient is computed for
       them and an optimizer step leaves them unchanged (the head keeps its setting);
    2. every backbone BatchNorm layer in **eval** mode: it normalizes with its stored
       running statistics and stops updating them. ``requires_grad`` alone does not do this:
       in train mode a BatchNorm layer uses the batch's statistics and overwrites its
       running mean and variance at every forward pass, so the "frozen" backbone would still
       change, and drift towards the new data set.

    Surviving ``model.train()``: a training loop calls ``model.train()`` every epoch, which
    would put these layers back in train mode. So each frozen BatchNorm layer gets its own
    ``train`` method (an instance attribute, which ``nn.Module.train`` calls for every child)
    that keeps it in eval mode; ``model.train()`` still switches every other layer (dropout,
    the head) as usual. :func:`unfreeze_backbone` removes the override.

    Args:
        model: an ``nn.Module`` whose head is ``model.<head_name>``.
        head_name: name (or dotted path) of the head sub-module.

    Returns:
        ``model`` itself, changed in place.
    """
    _head(model, head_name)
    for name, p in model.named_parameters():
        if not _in_head(name, head_name):
            p.requires_grad_(False)
    for m in _backbone_norm_layers(model, head_name):
        m.train = _StayInEval(m)
        m.training = False
    return model


def unfreeze_backbone(model, head_name="fc"):
    """Undo :func:`freeze_backbone`: every parameter trainable, BatchNorm layers follow
    ``model.train()``/``model.eval()`` again (and take the model's current mode now).

    Returns:
        ``model`` itself, changed in place.
    """
    _head(model, head_name)
    for p in model.parameters():
        p.requires_grad_(True)
    for m in _backbone_norm_layers(model, head_name):
        if is_frozen_norm(m):
            del m.train
        m.training = model.training
    return model


def is_frozen_norm(module):
    """True for a normalization layer that :func:`freeze_backbone` pinned in eval mode."""
    return isinstance(vars(module).get("train"), _StayInEval)


def replace_head(model, num_classes, head_name="fc"):
    """Put a new, trainable ``nn.Linear(in_features, num_classes)`` in place of the head.

    The new layer keeps the old one's ``in_features``, bias setting, dtype and device; its
    weights are freshly initialized (torch's default for ``nn.Linear``) and trainable even
    when the backbone is frozen.

    Args:
        model: an ``nn.Module`` whose head ``model.<head_name>`` is an ``nn.Linear``.
        num_classes: outputs of the new head, an integer ``>= 1``.
        head_name: name (or dotted path) of the head.

    Returns:
        ``model`` itself, changed in place.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"replace_head needs an integer num_classes >= 1, got {num_classes!r}.")
    old = _head(model, head_name)
    if not isinstance(old, nn.Linear):
        raise TypeError(
            f"replace_head expects model.{head_name} to be an nn.Linear, got {type(old).__name__}; "
            "pass head_name pointing at the final Linear layer (e.g. 'classifier.1')."
        )
    new = nn.Linear(old.in_features, int(num_classes), bias=old.bias is not None,
                    device=old.weight.device, dtype=old.weight.dtype)
    parent_name, _, child = head_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
    return model


def param_groups(model, lr, backbone_factor=0.1, head_name="fc"):
    """Parameter groups for a torch optimizer: the head at ``lr``, the backbone at ``lr * backbone_factor``.

    Only trainable parameters (``requires_grad``) are listed, and a group left empty is
    dropped, so the result suits a frozen backbone too. Each group carries a ``"name"``
    (``"backbone"`` or ``"head"``) that torch optimizers keep in ``optimizer.param_groups``.

    Example::

        opt = torch.optim.SGD(param_groups(model, lr=1e-2), momentum=0.9)

    Returns:
        ``[{"name": "backbone", "params": [...], "lr": lr * backbone_factor},
        {"name": "head", "params": [...], "lr": lr}]`` (empty groups left out).
    """
    if not isinstance(lr, numbers.Real) or lr < 0:
        raise ValueError(f"param_groups needs a learning rate lr >= 0, got lr={lr!r}.")
    if not isinstance(backbone_factor, numbers.Real) or backbone_factor < 0:
        raise ValueError(f"param_groups needs backbone_factor >= 0, got backbone_factor={backbone_factor!r}.")
    _head(model, head_name)
    backbone, head = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (head if _in_head(name, head_name) else backbone).append(p)
    groups = []
    if backbone:
        groups.append({"name": "backbone", "params": backbone, "lr": lr * backbone_factor})
    if head:
        groups.append({"name": "head", "params": head, "lr": lr})
    if not groups:
        raise ValueError("param_groups found no trainable parameter; call replace_head or unfreeze_backbone first.")
    return groups


def count_trainable(model):
    """Number of trainable scalars: the sum of ``p.numel()`` over parameters with ``requires_grad``.

    A parameter shared by two layers is counted once (``model.parameters()`` lists it once).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"count_trainable expected a torch.nn.Module, got {type(model).__name__}.")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)



TRANSFER_METHODS = ("from scratch", "fine-tuning", "feature extraction", "requires_grad only")


def count_changed(widths, num_classes, method):
    r"""How many numbers of a network one training step changes, by the way it is trained.

    The network: for each pair of consecutive ``widths`` :math:`(d_{i-1}, d_i)`, :math:`i = 1, \dots, L`, a
    block ``Linear(d_{i-1}, d_i, bias=False)``, ``BatchNorm1d(d_i)``, ``Tanh()``; then the head
    ``fc = Linear(d_L, C)`` with a bias. The *numbers* are the entries of the floating-point tensors of its
    ``state_dict()``: parameters, and BatchNorm's running mean and variance (not the integer
    ``num_batches_tracked``). One step: ``model.train()``, the method's set-up, forward, backward of a
    cross-entropy loss, one ``torch.optim.SGD`` step over the parameters the method trains.

    With :math:`W = \sum_i d_{i-1} d_i`, :math:`S = \sum_{i \ge 1} d_i` and :math:`H = d_L C + C`:

    * ``"from scratch"`` and ``"fine-tuning"`` (every parameter trains; fine-tuning only at a smaller
      backbone rate): :math:`W + 2S + 2S + H`, the weights, :math:`\gamma, \beta`, the running statistics
      and the head;
    * ``"feature extraction"`` (:func:`freeze_backbone`: no gradient and BatchNorm in eval mode): :math:`H`;
    * ``"requires_grad only"`` (frozen parameters, BatchNorm left in training mode): :math:`H + 2S`, since
      a BatchNorm layer in training mode overwrites its running statistics at every forward pass.

    Exact Python ints for any sizes (nothing is built).
    """
    from course_lib._args import as_int

    name = "count_changed"
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
        raise TypeError(f"{name}: widths must be a list of positive ints, got {widths!r}.")
    widths = [as_int(name, "each width", w, 1) for w in widths]
    if not widths:
        raise ValueError(f"{name}: widths needs at least one entry (the input features of the head).")
    num_classes = as_int(name, "num_classes", num_classes, 2)
    if method not in TRANSFER_METHODS:
        raise ValueError(f"{name}: method must be one of {TRANSFER_METHODS}, got {method!r}.")
    weights = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    features = sum(widths[1:])
    head = widths[-1] * num_classes + num_classes
    if method == "feature extraction":
        return head
    if method == "requires_grad only":
        return head + 2 * features
    return weights + 4 * features + head
