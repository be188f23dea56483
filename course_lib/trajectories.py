"""Paths of torch's own optimizers on the course's 2-D landscapes.

Demo cells use these instead of a student's answer (or a reference solution), so a demo
never depends on an exercise: ``torch.optim.SGD`` with ``momentum=0`` *is* gradient descent.

    >>> from course_lib import landscapes, trajectories
    >>> bowl = landscapes.get_landscape("quadratic")
    >>> path = trajectories.torch_path(bowl, "SGD", start=(-4, 2), n_steps=50, lr=0.05)
    >>> path.shape
    (51, 2)
"""

import numpy as np

DIVERGED = 1e6  # stop a run once |w| exceeds this: the rest of the path is meaningless


def torch_path(landscape, optimizer, start, n_steps, **hyper):
    """Run a ``torch.optim`` optimizer on ``landscape`` from ``start``; return the path.

    The landscape's analytic gradient is written into ``.grad`` before each ``step()``, so the
    path is exactly the optimizer's update rule applied to that surface.

    Args:
        landscape: an object with ``grad(w)`` for ``w`` of shape (2,).
        optimizer: a ``torch.optim.Optimizer`` class or its name (``"SGD"``, ``"Adam"``, ...).
        start: the start point, shape (2,).
        n_steps: number of updates.
        **hyper: the optimizer's hyper-parameters (``lr=...``, ``momentum=...``).

    Returns:
        float64 array of shape ``(T + 1, 2)``, row 0 the start, ``T <= n_steps``: a run stops
        early (and its last row is ``inf``) once it diverges beyond ``|w| > 1e6``.
    """
    import torch

    opt_cls = getattr(torch.optim, optimizer) if isinstance(optimizer, str) else optimizer
    w = torch.tensor(np.asarray(start, dtype=float), dtype=torch.float64, requires_grad=True)
    opt = opt_cls([w], **hyper)
    path = [w.detach().numpy().copy()]
    for _ in range(n_steps):
        opt.zero_grad()
        g = np.asarray(landscape.grad(w.detach().numpy()), dtype=float)
        w.grad = torch.as_tensor(g, dtype=torch.float64)
        opt.step()
        current = w.detach().numpy().copy()
        if not np.all(np.isfinite(current)) or np.abs(current).max() > DIVERGED:
            path.append(np.full(2, np.inf))
            break
        path.append(current)
    return np.array(path)

