"""Reference solutions for notebook 01: the gradient, numerically, and plain gradient descent.

Conventions used across the course:

* A parameter vector ``w`` is an array of any shape; a loss ``f(w)`` returns a float and a
  gradient function ``grad(w)`` returns an array of ``w``'s shape.
* A *path* is the array of iterates, **including the start**: ``path[0] = w0`` and
  ``path[t] = w_t``, so ``n_steps`` updates give ``n_steps + 1`` rows.
"""

import numpy as np

from course_lib.solutions.optim import gd_step


def numerical_gradient(f, w, h=1e-5):
    r"""Central-difference estimate of the gradient of ``f`` at ``w``.

    .. math::  \frac{\partial f}{\partial w_i} \approx \frac{f(w + h e_i) - f(w - h e_i)}{2h}

    The error is :math:`O(h^2)` for smooth ``f`` (a one-sided difference is only :math:`O(h)`).

    Args:
        f: callable taking an array shaped like ``w`` and returning a scalar.
        w: array of any shape (converted to float64). It is not modified.
        h: the step of the difference.

    Returns:
        float64 array with the shape of ``w``.
    """
    if h <= 0:
        raise ValueError(f"numerical_gradient needs a positive step h, got h={h}.")
    w = np.array(w, dtype=float)  # a private copy: the caller's array is never touched
    grad = np.zeros_like(w)
    flat_w, flat_g = w.reshape(-1), grad.reshape(-1)
    for i in range(flat_w.size):
        old = flat_w[i]
        flat_w[i] = old + h
        f_plus = float(f(w))
        flat_w[i] = old - h
        f_minus = float(f(w))
        flat_w[i] = old
        flat_g[i] = (f_plus - f_minus) / (2 * h)
    return grad


def gradient_descent(grad, w0, lr, n_steps):
    r"""Run ``n_steps`` of plain gradient descent and return the whole path.

    .. math::  w_{t+1} = w_t - \eta \, \nabla f(w_t), \qquad t = 0, \dots, n\_steps - 1

    Args:
        grad: callable, ``grad(w)`` returns the gradient at ``w`` (same shape).
        w0: the start, array of any shape. It is not modified.
        lr: the learning rate :math:`\eta \ge 0`.
        n_steps: number of updates (``>= 0``).

    Returns:
        float64 array of shape ``(n_steps + 1, *w0.shape)``; row 0 is ``w0``.
    """
    if n_steps < 0:
        raise ValueError(f"gradient_descent needs n_steps >= 0, got {n_steps}.")
    w = np.array(w0, dtype=float)
    path = np.empty((n_steps + 1,) + w.shape)
    path[0] = w
    for t in range(n_steps):
        w = gd_step(w, np.asarray(grad(w), dtype=float), lr)
        path[t + 1] = w
    return path


def max_stable_lr(H):
    r"""The supremum of the constant learning rates with which gradient descent converges on a quadratic.

    On :math:`L(w) = \tfrac12 w^\top H w` with a symmetric positive-definite Hessian :math:`H`
    (eigenvalues :math:`\lambda_1, \dots, \lambda_D > 0`, eigenvectors :math:`q_i`), one update
    :math:`w \leftarrow w - \eta H w` multiplies the coefficient of :math:`w` along :math:`q_i` by
    :math:`1 - \eta\lambda_i`. The run converges from every start iff :math:`|1 - \eta\lambda_i| < 1`
    for every :math:`i`, i.e.

    .. math::  0 < \eta < \eta_{\mathrm{crit}} = \frac{2}{\lambda_{\max}} .

    The bound is strict: at :math:`\eta = \eta_{\mathrm{crit}}` the steepest coefficient is multiplied by
    :math:`-1` every step and never shrinks. (The best constant rate, at which the flattest and
    the steepest axis shrink equally fast, is :math:`2 / (\lambda_{\min} + \lambda_{\max})`.)

    Args:
        H: symmetric positive-definite array of shape ``(D, D)``, ``D >= 1``, not necessarily
            diagonal (its diagonal entries are its curvatures only when it is). Not modified.

    Returns:
        :math:`\eta_{\mathrm{crit}}` as a Python float.
    """
    H = np.asarray(H, dtype=float)
    if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] == 0:
        raise ValueError(f"max_stable_lr needs a square Hessian of shape (D, D) with D >= 1, got shape {H.shape}.")
    if not np.allclose(H, H.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(H).max()))):
        raise ValueError("max_stable_lr needs a symmetric Hessian: H and H.T differ.")
    curvatures = np.linalg.eigvalsh(H)
    if not curvatures[0] > 0:
        raise ValueError(f"max_stable_lr needs a positive-definite Hessian; its smallest eigenvalue is {curvatures[0]:.3g}, "
                         "and along that direction no learning rate converges.")
    return 2.0 / float(curvatures[-1])
