"""The training loop of the notebooks' demo cells: :func:`train` and :func:`evaluate`.

One loop for every demo that trains a torch model, whatever the optimizer (``torch.optim``,
or a student's update function wrapped by ``course_lib.torch_optim``) and schedule:

    history = train(model, optimizer, (x_train, y_train), epochs=3,
                    val_data=(x_val, y_val), scheduler=scheduler)
    plt.plot(history["step_loss"])

Data come either as a pair of tensors ``(X, y)`` - the fast path: they are moved to the
device once and mini-batches are cut from them there, so a whole CIFAR-10 subset lives on
the GPU and no loader process is involved - or as a ``torch.utils.data.DataLoader``.

Every step is the usual five lines (zero the gradients, forward, loss, backward, update),
then ``scheduler.step()``: schedules are stepped once per **mini-batch**, so a scheduler's
``T_max`` or ``step_size`` counts steps, not epochs (``ReduceLROnPlateau`` is the exception:
it is stepped once per epoch with the validation loss). The history records, per step, the
mini-batch loss and the learning rate that step used, and per epoch the mean training loss,
the validation loss and accuracy and the time spent training.
"""

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

HISTORY_KEYS = ("step_loss", "lr", "epoch_train_loss", "val_loss", "val_acc", "epoch_time")

_CHECK_EVERY = 10  # steps between two reads of the running loss (progress bar, divergence)


def _check_positive_int(name, value, allow_none=False):
    if allow_none and value is None:
        return
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        extra = "None or " if allow_none else ""
        raise ValueError(f"{name} must be {extra}a positive int, got {value!r}.")


def _to_tensor(a, what, labels):
    if isinstance(a, torch.Tensor):
        return a
    if isinstance(a, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(a))
        if labels and np.issubdtype(a.dtype, np.integer):
            return t.to(torch.int64)
        return t.to(torch.float32)
    raise TypeError(f"{what} must be a torch tensor or a NumPy array, got {type(a).__name__}.")


def _prepare(data, name, device):
    """``("tensors", X, y)`` on ``device`` for an ``(X, y)`` pair, ``("loader", loader)`` for a DataLoader."""
    if isinstance(data, torch.utils.data.DataLoader):
        return ("loader", data)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X = _to_tensor(data[0], f"{name}[0] (the inputs)", labels=False)
        y = _to_tensor(data[1], f"{name}[1] (the targets)", labels=True)
        if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
            raise ValueError(
                f"{name} must be a pair (X, y) with one target per row of X, got X of shape {tuple(X.shape)} and y of shape {tuple(y.shape)}."
            )
        if len(X) == 0:
            raise ValueError(f"{name} is empty: X has no rows.")
        return ("tensors", X.to(device), y.to(device))
    raise TypeError(f"{name} must be a pair (X, y) of tensors or arrays, or a torch.utils.data.DataLoader, got {type(data).__name__}.")


def _batches(prepared, batch_size, device, generator=None):
    """Yield ``(xb, yb)`` on ``device``; a tensor pair is shuffled with ``generator`` (if given)."""
    if prepared[0] == "loader":
        for batch in prepared[1]:
            xb, yb = batch[0], batch[1]
            yield xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        return
    _, X, y = prepared
    n = len(X)
    if generator is None:
        for start in range(0, n, batch_size):
            yield X[start : start + batch_size], y[start : start + batch_size]
        return
    order = torch.randperm(n, generator=generator).to(X.device)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield X[idx], y[idx]


def _steps_per_epoch(prepared, batch_size):
    if prepared[0] == "tensors":
        return math.ceil(len(prepared[1]) / batch_size)
    try:
        return len(prepared[1])
    except TypeError:  # a loader over an iterable-style data set has no length
        return None


def _model_device(model):
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def evaluate(model, data, batch_size=512, device=None, loss_fn=None):
    """Mean loss and accuracy of ``model`` on ``data``, without gradients, in eval mode.

    The model is put in ``eval()`` mode (BatchNorm uses its running statistics, dropout is
    off) and returned to the mode it was in. Mini-batch losses are weighted by their size,
    so with a mean-reduced ``loss_fn`` the result is the mean over all examples whatever
    ``batch_size`` is:

        loss = (1/N) sum_i loss(model(x_i), y_i),   acc = (1/N) #{i : prediction_i == y_i}

    Args:
        model: a ``torch.nn.Module`` giving logits of shape ``(B, C)`` (or ``(B,)`` /
            ``(B, 1)`` for one binary logit).
        data: a pair ``(X, y)`` of tensors or NumPy arrays, or a DataLoader.
        batch_size: examples per forward pass (tensor pairs only).
        device: where to compute; ``None`` means where the model's parameters are.
        loss_fn: ``loss_fn(outputs, targets)`` returning the batch **mean**;
            default ``torch.nn.functional.cross_entropy``.

    Returns:
        ``(loss, acc)`` as Python floats. The prediction is the arg-max of the logits
        (``logit > 0`` for one binary logit); ``acc`` is ``nan`` when the targets are not
        integer class labels (regression).
    """
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    _check_positive_int("batch_size", batch_size)
    device = _model_device(model) if device is None else torch.device(device)
    model.to(device)
    prepared = _prepare(data, "data", device)
    was_training = model.training
    model.eval()
    loss_sum, correct, count, classification = 0.0, 0, 0, True
    try:
        with torch.no_grad():
            for xb, yb in _batches(prepared, batch_size, device):
                out = model(xb)
                loss_sum += float(loss_fn(out, yb)) * len(yb)
                count += len(yb)
                if yb.dtype.is_floating_point or yb.dtype == torch.bool or yb.dtype.is_complex:
                    classification = False
                elif classification:
                    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
                        predicted = (out.reshape(-1) > 0).to(yb.dtype)
                    else:
                        predicted = out.argmax(dim=1)
                    correct += int((predicted == yb).sum())
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("data yielded no examples to evaluate.")
    return loss_sum / count, (correct / count if classification else float("nan"))


def train(
    model,
    optimizer,
    train_data,
    epochs=1,
    *,
    val_data=None,
    loss_fn=None,
    batch_size=128,
    scheduler=None,
    device=None,
    max_steps=None,
    progress=True,
    seed=0,
):
    """Train ``model`` with ``optimizer`` by mini-batch steps; return the history.

    One step on a mini-batch ``(x_b, y_b)``:

        optimizer.zero_grad(); loss = loss_fn(model(x_b), y_b); loss.backward()
        optimizer.step(); scheduler.step()

    Epochs: a tensor pair ``(X, y)`` is shuffled at every epoch by a permutation drawn
    from a ``torch.Generator`` seeded with ``seed`` (same seed, same batches on any
    device) and cut into ``ceil(N / batch_size)`` mini-batches, the last one smaller
    when ``batch_size`` does not divide ``N``; every example is used exactly once per
    epoch. A DataLoader is iterated as it is (its own batch size and shuffling; ``seed``
    and ``batch_size`` do not apply to it).

    Stopping: after ``epochs`` epochs, or after ``max_steps`` steps in all (the epoch in
    progress is then cut short and still recorded, validation included), or when the
    running training loss becomes ``nan`` or ``inf`` (checked every 10 steps and at each
    epoch end; one sentence is printed, the history so far is returned).

    Args:
        model: a ``torch.nn.Module``; it is moved to ``device`` and left in train mode.
        optimizer: a ``torch.optim.Optimizer`` over the model's parameters.
        train_data: ``(X, y)`` tensors or NumPy arrays (arrays become float32 inputs and
            int64 labels, or float32 targets), or a DataLoader.
        epochs: number of passes over ``train_data``.
        val_data: optional ``(X, y)`` or DataLoader, evaluated with :func:`evaluate` at
            the end of every epoch.
        loss_fn: ``loss_fn(outputs, targets)`` returning the mean over the mini-batch;
            default ``torch.nn.functional.cross_entropy`` (logits and integer labels).
        batch_size: examples per step (tensor pairs).
        scheduler: a ``torch.optim.lr_scheduler`` object stepped after every optimizer
            step; a ``ReduceLROnPlateau`` is stepped once per epoch with the validation
            loss (the epoch's training loss without ``val_data``).
        device: ``"cpu"``, ``"cuda"``, a ``torch.device``; ``None`` means where the
            model's parameters already are.
        max_steps: optional cap on the total number of steps.
        progress: show one ``tqdm.auto`` bar over all steps, its postfix the running mean
            training loss of the epoch (and the last validation accuracy); False for tests.
        seed: seed of the shuffling of tensor pairs (and only of that: dropout and other
            random layers use torch's global generator).

    Returns:
        history, a dict of lists:

        * ``"step_loss"``: mini-batch loss of every step (before that step's update);
        * ``"lr"``: learning rate of the optimizer's first parameter group used by every
          step (read before ``scheduler.step()``), so ``lr[t]`` is the schedule at step ``t``;
        * ``"epoch_train_loss"``: per epoch, the mean of the step losses weighted by
          mini-batch size - the mean loss seen while training, not the loss of the final
          weights (evaluate the training set for that);
        * ``"val_loss"``, ``"val_acc"``: per epoch, :func:`evaluate` on ``val_data``
          (empty lists without it);
        * ``"epoch_time"``: per epoch, seconds spent on training steps (validation not
          included; on a GPU the clock is read after a synchronize).
    """
    if not (hasattr(optimizer, "param_groups") and hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, such as torch.optim.SGD(model.parameters(), lr=0.1), got {type(optimizer).__name__}.")
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("max_steps", max_steps, allow_none=True)
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    device = _model_device(model) if device is None else torch.device(device)
    model.to(device)
    train_prepared = _prepare(train_data, "train_data", device)
    val_prepared = None if val_data is None else _prepare(val_data, "val_data", device)
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)

    per_epoch = _steps_per_epoch(train_prepared, batch_size)
    total = None if per_epoch is None else epochs * per_epoch
    if max_steps is not None:
        total = max_steps if total is None else min(total, max_steps)

    from tqdm.auto import tqdm

    history = {key: [] for key in HISTORY_KEYS}
    generator = torch.Generator().manual_seed(int(seed))
    step = 0
    diverged = False
    postfix = {}
    with tqdm(total=total, disable=not progress, unit="step", dynamic_ncols=True) as bar:
        for epoch in range(epochs):
            if max_steps is not None and step >= max_steps:
                break
            bar.set_description(f"epoch {epoch + 1}/{epochs}")
            model.train()
            start = time.perf_counter()
            # float64 sums are exact enough for any epoch; MPS (Apple GPUs) has no float64
            loss_sum = torch.zeros((), dtype=torch.float32 if device.type == "mps" else torch.float64, device=device)
            count = 0
            step_losses = []
            for xb, yb in _batches(train_prepared, batch_size, device, generator):
                if max_steps is not None and step >= max_steps:
                    break
                history["lr"].append(float(optimizer.param_groups[0]["lr"]))
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                optimizer.step()
                if scheduler is not None and not plateau:
                    scheduler.step()
                loss = loss.detach()
                step_losses.append(loss)
                loss_sum += loss.to(loss_sum.dtype) * len(yb)
                count += len(yb)
                step += 1
                bar.update(1)
                if step % _CHECK_EVERY == 0:
                    running = loss_sum.item() / count
                    postfix["loss"] = f"{running:.4f}"
                    bar.set_postfix(postfix, refresh=False)
                    if not math.isfinite(running):
                        diverged = True
                        break
            _synchronize(device)
            history["epoch_time"].append(time.perf_counter() - start)
            if count == 0:  # a DataLoader that yielded nothing
                raise ValueError("train_data yielded no mini-batches: check that it is not empty.")
            history["step_loss"].extend(torch.stack(step_losses).tolist())
            epoch_loss = loss_sum.item() / count
            history["epoch_train_loss"].append(epoch_loss)
            postfix["loss"] = f"{epoch_loss:.4f}"
            if val_prepared is not None:
                val_loss, val_acc = evaluate(model, val_data if val_prepared[0] == "loader" else val_prepared[1:], batch_size=max(batch_size, 512), device=device, loss_fn=loss_fn)
                history["val_loss"].append(val_loss)
                history["val_acc"].append(val_acc)
                postfix["val_acc"] = f"{val_acc:.3f}"
            bar.set_postfix(postfix)
            if plateau:
                scheduler.step(history["val_loss"][-1] if val_prepared is not None else epoch_loss)
            if diverged or not math.isfinite(epoch_loss):
                print(
                    f"Training stopped after step {step}: the running training loss is {epoch_loss}, "
                    "which usually means the learning rate is too large for this model."
                )
                break
    return history
