"""Reference solutions for notebooks 01 and 07: stopping with patience, and reducing the
learning rate on a plateau.

Both rules watch a sequence of losses (lower is better) and count how many values in a row
failed to improve on the best one so far. They differ in what counts as an improvement and
in what happens when the count runs out:

* **Early stopping** (:func:`should_stop`, :class:`EarlyStopping`): an improvement must beat
  the best loss by more than an absolute ``min_delta``; after ``patience`` losses without one,
  training stops (and one usually restores the weights saved at ``best_step``).
* **Reduce on plateau** (:func:`reduce_on_plateau`): torch's ``ReduceLROnPlateau`` rule; after
  more than ``patience`` losses without improvement the learning rate is multiplied by
  ``factor`` and training goes on.
"""

import math
import numbers


def _check_count(value, name, fname, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{fname} needs an integer {name} >= {minimum}, got {name}={value!r}.")


def _check_min_delta(min_delta, fname):
    if not isinstance(min_delta, numbers.Real) or not min_delta >= 0:
        raise ValueError(f"{fname} needs min_delta >= 0 (an absolute margin), got min_delta={min_delta!r}.")


class EarlyStopping:
    r"""Incremental early stopping: feed one loss per epoch to :meth:`step`.

    The rule, with ``best`` starting at :math:`+\infty` and ``wait`` at 0, for each loss:

    .. code-block:: text

        if loss < best - min_delta:   # strictly better by more than min_delta
            best, wait = loss, 0
        else:                         # equal, worse, or better by too little (or NaN)
            wait += 1
        stop = wait >= patience

    An equal loss is **not** an improvement, so a flat curve stops after ``patience`` steps.

    Args:
        patience: how many losses in a row without improvement to tolerate, ``>= 1``.
        min_delta: the margin an improvement must exceed, ``>= 0``.

    Attributes:
        best: the best loss so far (``inf`` before any step).
        best_step: its index in the sequence fed so far (0-based; ``None`` before any improvement).
        wait: losses since the last improvement.
        n_steps: losses seen.
    """

    def __init__(self, patience, min_delta=0.0):
        _check_count(patience, "patience", "EarlyStopping", 1)
        _check_min_delta(min_delta, "EarlyStopping")
        self.patience = patience
        self.min_delta = min_delta
        self.best = math.inf
        self.best_step = None
        self.wait = 0
        self.n_steps = 0

    def step(self, loss):
        """Record one loss; return True when training should stop."""
        loss = float(loss)
        if loss < self.best - self.min_delta:
            self.best, self.best_step, self.wait = loss, self.n_steps, 0
        else:
            self.wait += 1
        self.n_steps += 1
        return self.wait >= self.patience

    def __repr__(self):
        return (f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, best={self.best}, "
                f"best_step={self.best_step}, wait={self.wait})")


def should_stop(losses, patience, min_delta=0.0):
    """True when the rule of :class:`EarlyStopping` says stop after the last of ``losses``.

    ``losses`` is the whole history so far (a list or 1-D array); the rule is replayed from
    the start: ``best = inf``, ``wait = 0``, and each loss either improves (``loss < best -
    min_delta``: ``best = loss``, ``wait = 0``) or not (``wait += 1``). The answer is
    ``wait >= patience`` at the end; an empty history gives ``False``.

    Example: with ``l_0 > l_1 > ... > l_k`` followed by copies of ``l_k``, the first history
    that gives ``True`` ends at index ``k + patience``.
    """
    _check_count(patience, "patience", "should_stop", 1)
    _check_min_delta(min_delta, "should_stop")
    rule = EarlyStopping(patience, min_delta)
    stop = False
    for loss in losses:
        stop = rule.step(loss)
    return stop


def reduce_on_plateau(losses, lr0, factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                      cooldown=0, min_lr=0.0, eps=1e-8):
    r"""Learning rate after each loss under ``torch.optim.lr_scheduler.ReduceLROnPlateau(mode="min")``.

    State: ``best = inf``, ``bad = 0`` (losses without improvement), ``cool = 0``, ``lr = lr0``.
    For each loss :math:`L_t`:

    .. code-block:: text

        better = L_t < best * (1 - threshold)      # threshold_mode "rel"
                 L_t < best - threshold            # threshold_mode "abs"
        if better: best, bad = L_t, 0  else: bad += 1
        if cool > 0: cool -= 1; bad = 0            # bad epochs during cool-down are ignored
        if bad > patience:                         # note: MORE than patience
            new = max(lr * factor, min_lr)
            if lr - new > eps: lr = new            # tiny reductions are skipped
            cool, bad = cooldown, 0
        lrs.append(lr)

    So a flat run of losses first lowers the rate at the ``patience + 1``-th loss without
    improvement (compare :func:`should_stop`, which stops after ``patience`` of them).

    Args:
        losses: the monitored values, one per call to ``scheduler.step(loss)``.
        lr0: the starting learning rate.
        factor: multiplier of a reduction, ``0 <= factor < 1``.
        patience, threshold, threshold_mode, cooldown, min_lr, eps: as in torch.

    Returns:
        List of floats, ``lrs[t]`` = the learning rate after the ``t``-th loss (what the
        optimizer uses for the next epoch).
    """
    if not isinstance(factor, numbers.Real) or not 0 <= factor < 1:
        raise ValueError(f"reduce_on_plateau needs 0 <= factor < 1, got factor={factor!r}.")
    _check_count(patience, "patience", "reduce_on_plateau", 0)
    _check_count(cooldown, "cooldown", "reduce_on_plateau", 0)
    if threshold_mode not in ("rel", "abs"):
        raise ValueError(f'reduce_on_plateau needs threshold_mode "rel" or "abs", got {threshold_mode!r}.')
    if not isinstance(lr0, numbers.Real) or lr0 < 0:
        raise ValueError(f"reduce_on_plateau needs a learning rate lr0 >= 0, got lr0={lr0!r}.")
    lr = float(lr0)
    best, bad, cool = math.inf, 0, 0
    lrs = []
    for loss in losses:
        loss = float(loss)
        better = loss < best * (1.0 - threshold) if threshold_mode == "rel" else loss < best - threshold
        if better:
            best, bad = loss, 0
        else:
            bad += 1
        if cool > 0:
            cool -= 1
            bad = 0
        if bad > patience:
            new_lr = max(lr * factor, min_lr)
            if lr - new_lr > eps:
                lr = new_lr
            cool, bad = cooldown, 0
        lrs.append(lr)
    return lrs
