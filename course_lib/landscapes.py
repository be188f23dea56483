"""Two-parameter loss surfaces with analytic gradients, shared by every notebook.

Each notebook draws its optimizers on the same few surfaces, so that a path of plain
gradient descent in notebook 01 and a path of Adam in notebook 06 can be compared at a
glance. Every landscape has the same interface:

* ``f(w)``: the loss. ``w`` has shape ``(2,)`` (one point, returns a scalar) or
  ``(..., 2)`` (a batch of points, e.g. a grid of shape ``(H, W, 2)``, returns ``(...)``).
* ``grad(w)``: the analytic gradient, same shape as ``w``.
* ``minima``, ``saddles``: lists of the known stationary points, float arrays of shape
  ``(2,)``; ``f_min``: the lowest known value of ``f`` (``None`` when unbounded below).
* ``default_start``: the start point the notebooks use, shape ``(2,)``.
* ``bounds``: ``((xmin, xmax), (ymin, ymax))``, the window to plot.
* ``name``: the key in :data:`LANDSCAPES`.

``f`` and ``grad`` use only arithmetic and indexing, so they accept NumPy arrays *and*
torch tensors: ``landscape.f(w).backward()`` gives torch's gradient of the same surface,
which is how the notebooks drive ``torch.optim`` optimizers on it.

Convention: the first coordinate is ``x = w[..., 0]``, the second ``y = w[..., 1]``.
"""

import math

import numpy as np

from course_lib import _backend

__all__ = [
    "Landscape",
    "IllConditionedQuadratic",
    "Rosenbrock",
    "Saddle",
    "TwoWells",
    "LANDSCAPES",
    "get_landscape",
]


def _frozen_point(p):
    """A read-only float array of shape (2,), so a shared landscape cannot be edited by accident."""
    a = np.array(p, dtype=float).reshape(2)
    a.setflags(write=False)
    return a


class Landscape:
    """Base class: input checking and the common attributes. Subclasses define ``_f`` and ``_grad``.

    ``_f(x, y)`` and ``_grad(x, y)`` receive the two coordinates as arrays (or tensors) of
    the batch shape ``(...)`` and return the loss ``(...)`` and the pair ``(df/dx, df/dy)``.
    """

    name = "landscape"

    def __init__(self, minima=(), saddles=(), default_start=(0.0, 0.0),
                 bounds=((-1.0, 1.0), (-1.0, 1.0))):
        self.minima = [_frozen_point(m) for m in minima]
        self.saddles = [_frozen_point(s) for s in saddles]
        self.default_start = _frozen_point(default_start)
        (x0, x1), (y0, y1) = bounds
        if not (x0 < x1 and y0 < y1):
            raise ValueError(f"bounds must be ((xmin, xmax), (ymin, ymax)) with min < max, got {bounds}.")
        self.bounds = ((float(x0), float(x1)), (float(y0), float(y1)))

    # -- the public interface ---------------------------------------------------------
    def f(self, w):
        """The loss at ``w`` (shape ``(2,)`` or ``(..., 2)``); returns shape ``()`` or ``(...)``."""
        w = self._check(w, "f")
        return self._f(w[..., 0], w[..., 1])

    def grad(self, w):
        """The analytic gradient at ``w``; returns an array (or tensor) of ``w``'s shape."""
        w = self._check(w, "grad")
        gx, gy = self._grad(w[..., 0], w[..., 1])
        xp = _backend.namespace(w)
        return xp.stack([gx, gy], -1)

    __call__ = f

    @property
    def f_min(self):
        """The lowest value of ``f`` at a listed minimum (``None`` when no minimum is listed)."""
        if not self.minima:
            return None
        return float(min(self.f(m) for m in self.minima))

    # -- helpers ------------------------------------------------------------------------
    def _check(self, w, what):
        if not _backend.is_tensor(w):
            w = np.asarray(w, dtype=float)
        if w.ndim == 0 or w.shape[-1] != 2:
            raise ValueError(
                f"{type(self).__name__}.{what} expects w of shape (2,) or (..., 2) "
                f"(the last axis holds the two parameters x, y), got shape {tuple(w.shape)}."
            )
        return w

    def _f(self, x, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _grad(self, x, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


class IllConditionedQuadratic(Landscape):
    r"""A convex bowl with very different curvatures along its two axes.

    .. math::  f(w) = \tfrac12 w^\top A w, \qquad A = R_\theta \,\mathrm{diag}(a, b)\, R_\theta^\top

    where :math:`R_\theta` rotates by ``angle`` radians (``angle=0``: the axes of the bowl
    are the coordinate axes, :math:`f = \tfrac12 (a x^2 + b y^2)`). The gradient is
    :math:`A w`, the Hessian is :math:`A` everywhere, the only minimum is ``(0, 0)``.
    The condition number :math:`\kappa = \max(a, b) / \min(a, b)` sets how slowly plain
    gradient descent converges: it needs :math:`\eta < 2/\max(a, b)` to be stable, and then
    the flat direction contracts only by :math:`1 - \eta \min(a, b)` per step.

    Args:
        a, b: the two curvatures (eigenvalues of :math:`A`), both ``> 0``.
        angle: rotation of the bowl's axes, in radians.
    """

    name = "quadratic"

    def __init__(self, a=1.0, b=20.0, angle=0.0):
        a, b, angle = float(a), float(b), float(angle)
        if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
            raise ValueError(
                f"IllConditionedQuadratic needs positive, finite curvatures a and b, got a={a}, b={b}."
            )
        self.a, self.b, self.angle = a, b, angle
        c, s = math.cos(angle), math.sin(angle)
        rot = np.array([[c, -s], [s, c]])
        hessian = rot @ np.diag([a, b]) @ rot.T
        hessian = 0.5 * (hessian + hessian.T)  # exactly symmetric
        hessian.setflags(write=False)
        self.hessian = hessian
        self._h = (float(hessian[0, 0]), float(hessian[0, 1]), float(hessian[1, 1]))
        start = rot @ np.array([-4.0, 1.5])
        if angle == 0.0:
            bounds = ((-5.0, 5.0), (-3.0, 3.0))
        else:
            bounds = ((-5.0, 5.0), (-5.0, 5.0))
        super().__init__(minima=[(0.0, 0.0)], saddles=(), default_start=start, bounds=bounds)

    @classmethod
    def from_condition_number(cls, kappa, smallest=1.0, angle=0.0):
        """The bowl with curvatures ``smallest`` (along x before rotation) and ``kappa * smallest``."""
        kappa = float(kappa)
        if not kappa >= 1.0:
            raise ValueError(f"a condition number is >= 1, got kappa={kappa}.")
        return cls(a=smallest, b=kappa * smallest, angle=angle)

    @property
    def condition_number(self):
        """:math:`\\kappa = \\lambda_{max} / \\lambda_{min}` of the Hessian."""
        return max(self.a, self.b) / min(self.a, self.b)

    def _f(self, x, y):
        h00, h01, h11 = self._h
        return 0.5 * (h00 * x * x + 2.0 * h01 * x * y + h11 * y * y)

    def _grad(self, x, y):
        h00, h01, h11 = self._h
        return h00 * x + h01 * y, h01 * x + h11 * y

    def __repr__(self):
        return f"IllConditionedQuadratic(a={self.a}, b={self.b}, angle={self.angle})"


class Rosenbrock(Landscape):
    r"""Rosenbrock's banana-shaped valley.

    .. math::  f(x, y) = (a - x)^2 + b\,(y - x^2)^2

    .. math::  \partial_x f = -2(a - x) - 4 b x (y - x^2), \qquad \partial_y f = 2 b (y - x^2)

    The only minimum is :math:`(a, a^2)` with :math:`f = 0`. The valley floor
    :math:`y = x^2` is easy to find and slow to follow: the curvature across it is about
    :math:`2b(1 + 4x^2)`, along it about 2, so the problem is badly conditioned and curved.
    """

    name = "rosenbrock"

    def __init__(self, a=1.0, b=100.0):
        a, b = float(a), float(b)
        if not (b > 0 and math.isfinite(a) and math.isfinite(b)):
            raise ValueError(f"Rosenbrock needs a finite a and a positive finite b, got a={a}, b={b}.")
        self.a, self.b = a, b
        s = max(1.0, abs(a))
        super().__init__(
            minima=[(a, a * a)], saddles=(), default_start=(-1.2 * s, 1.0 * s * s),
            bounds=((-2.0 * s, 2.0 * s), (-1.0 * s, 3.0 * s * s)),
        )

    def _f(self, x, y):
        r = y - x * x
        return (self.a - x) ** 2 + self.b * r * r

    def _grad(self, x, y):
        r = y - x * x
        return -2.0 * (self.a - x) - 4.0 * self.b * x * r, 2.0 * self.b * r

    def __repr__(self):
        return f"Rosenbrock(a={self.a}, b={self.b})"


class Saddle(Landscape):
    r"""A saddle point at the origin: up along x, down along y.

    .. math::  f(x, y) = a x^2 - b y^2, \qquad \nabla f = (2 a x, -2 b y)

    The x-axis (:math:`y = 0`) is the *stable manifold* of the saddle: a gradient step
    never creates a y-component, so gradient descent started there (the default start
    ``(-1.5, 0)``) walks straight into ``(0, 0)`` and stalls, although the loss has no
    minimum at all. Any perturbation in y grows by the factor :math:`1 + 2 b \eta` per
    step and escapes. :attr:`f_min` is ``None`` (unbounded below).
    """

    name = "saddle"

    def __init__(self, a=1.0, b=1.0):
        a, b = float(a), float(b)
        if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
            raise ValueError(f"Saddle needs positive, finite a and b, got a={a}, b={b}.")
        self.a, self.b = a, b
        super().__init__(minima=(), saddles=[(0.0, 0.0)], default_start=(-1.5, 0.0),
                         bounds=((-2.0, 2.0), (-2.0, 2.0)))

    def _f(self, x, y):
        return self.a * x * x - self.b * y * y

    def _grad(self, x, y):
        return 2.0 * self.a * x, -2.0 * self.b * y

    def __repr__(self):
        return f"Saddle(a={self.a}, b={self.b})"


class TwoWells(Landscape):
    r"""Two minima, one shallow and one deep: where you start decides where you end.

    A tilted quartic double well in x plus a quadratic valley in y. The x-part is built
    from the three stationary points ``p < q < r`` so that they are known exactly:

    .. math::  g(x) = (x - p)(x - q)(x - r) = x^3 - e_1 x^2 + e_2 x - e_3,
    .. math::  F(x) = \int g = \tfrac14 x^4 - \tfrac13 e_1 x^3 + \tfrac12 e_2 x^2 - e_3 x
    .. math::  f(x, y) = F(x) + \tfrac{k}{2} (y - m x)^2

    with :math:`e_1 = p + q + r`, :math:`e_2 = pq + pr + qr`, :math:`e_3 = pqr`.
    Gradient: :math:`\partial_x f = g(x) - k m (y - m x)`, :math:`\partial_y f = k (y - m x)`.
    Minima at :math:`(p, mp)` and :math:`(r, mr)`, a saddle at :math:`(q, mq)` between them.
    With the defaults the left well (x = -1) is the shallow one and the right well
    (x = 1.5) the deep one; ``minima`` lists them in that order (shallow, deep).

    Args:
        p, q, r: the x-coordinates of the left minimum, the saddle and the right minimum.
        k: curvature across the valley (> 0).
        m: slope of the valley floor ``y = m x`` (0: the valley lies along the x-axis).
    """

    name = "two_wells"

    def __init__(self, p=-1.0, q=-0.25, r=1.5, k=2.0, m=0.0):
        p, q, r, k, m = (float(v) for v in (p, q, r, k, m))
        if not (p < q < r):
            raise ValueError(f"TwoWells needs p < q < r (minimum, saddle, minimum), got p={p}, q={q}, r={r}.")
        if not k > 0:
            raise ValueError(f"TwoWells needs a positive curvature k across the valley, got k={k}.")
        self.p, self.q, self.r, self.k, self.m = p, q, r, k, m
        self._e = (p + q + r, p * q + p * r + q * r, p * q * r)
        span = r - p
        xlo, xhi = p - 0.4 * span, r + 0.4 * span
        ylo = min(m * xlo, m * xhi) - 0.6 * span
        yhi = max(m * xlo, m * xhi) + 0.6 * span
        start = (p - 0.32 * span, m * (p - 0.32 * span) + 0.48 * span)
        super().__init__(minima=[(p, m * p), (r, m * r)], saddles=[(q, m * q)],
                         default_start=start, bounds=((xlo, xhi), (ylo, yhi)))

    def _f(self, x, y):
        e1, e2, e3 = self._e
        d = y - self.m * x
        return 0.25 * x ** 4 - e1 / 3.0 * x ** 3 + 0.5 * e2 * x * x - e3 * x + 0.5 * self.k * d * d

    def _grad(self, x, y):
        e1, e2, e3 = self._e
        d = y - self.m * x
        g = x ** 3 - e1 * x * x + e2 * x - e3
        return g - self.k * self.m * d, self.k * d

    def __repr__(self):
        return f"TwoWells(p={self.p}, q={self.q}, r={self.r}, k={self.k}, m={self.m})"


#: The shared landscapes, by name. Notebooks use these instances so every plot matches.
LANDSCAPES = {
    "quadratic": IllConditionedQuadratic(),
    "rosenbrock": Rosenbrock(),
    "saddle": Saddle(),
    "two_wells": TwoWells(),
}


def get_landscape(name):
    """The shared landscape called ``name`` (one of :data:`LANDSCAPES`' keys)."""
    try:
        return LANDSCAPES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown landscape {name!r}; choose one of {', '.join(sorted(LANDSCAPES))}."
        ) from None
