r"""Reference solutions for the *predict* exercises on convergence rates (notebook 04).

On a quadratic :math:`L(w) = \tfrac12 w^\top A w` whose curvatures (the eigenvalues of
:math:`A`) lie in :math:`[\lambda_{\min}, \lambda_{\max}]`, with condition number
:math:`\kappa = \lambda_{\max}/\lambda_{\min}`, the error of a linear method shrinks
asymptotically by a fixed factor per step, its **rate** :math:`r < 1`. A factor 10 of error
reduction (a *decade*) then takes :math:`\ln 10 / (-\ln r)` steps: a real number, not rounded.

* Plain gradient descent with its best fixed rate :math:`\eta = 2/(\lambda_{\min} + \lambda_{\max})`:
  :math:`r = (\kappa - 1)/(\kappa + 1)`.
* The heavy ball (PyTorch's convention, :math:`u_t = \beta u_{t-1} + g_t`, :math:`w_t = w_{t-1} - \eta u_t`)
  with Polyak's best pair

  .. math::

      \eta^\star = \Big(\frac{2}{\sqrt{\lambda_{\max}} + \sqrt{\lambda_{\min}}}\Big)^2, \qquad
      \beta^\star = \Big(\frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}\Big)^2 .

  Along a curvature :math:`\lambda` the iteration matrix
  :math:`M_\lambda = \begin{pmatrix} 1 + \beta - \eta\lambda & -\beta \\ 1 & 0 \end{pmatrix}` has
  :math:`\det M_\lambda = \beta`; at :math:`(\eta^\star, \beta^\star)` its eigenvalues are complex (or a
  double root at the two ends) for every :math:`\lambda` in the range, so all have modulus
  :math:`\sqrt{\beta^\star}` and :math:`r = \sqrt{\beta^\star} = (\sqrt\kappa - 1)/(\sqrt\kappa + 1)`.

With :math:`\kappa = 1` both methods reach the minimum in one step: the rate is 0 and a decade
takes 0 steps.
"""

import math


def _check_kappa(name, kappa):
    try:
        kappa = float(kappa)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: kappa must be a number, got {type(kappa).__name__}.") from None
    if not kappa >= 1 or math.isinf(kappa):
        raise ValueError(f"{name}: the condition number kappa must be a finite number >= 1, got kappa={kappa}.")
    return kappa


def _steps_per_decade(rate):
    return 0.0 if rate == 0 else math.log(10) / -math.log(rate)


def heavy_ball_optimal(lam_min, lam_max):
    r"""Polyak's best heavy-ball pair ``(lr, momentum)`` for curvatures in ``[lam_min, lam_max]``.

    .. math::

        \eta^\star = \Big(\frac{2}{\sqrt{\lambda_{\max}} + \sqrt{\lambda_{\min}}}\Big)^2, \qquad
        \beta^\star = \Big(\frac{\sqrt{\lambda_{\max}} - \sqrt{\lambda_{\min}}}{\sqrt{\lambda_{\max}} + \sqrt{\lambda_{\min}}}\Big)^2

    in PyTorch's convention (``torch.optim.SGD(lr=..., momentum=...)``). Needs ``0 < lam_min <= lam_max``.
    """
    if not 0 < lam_min <= lam_max:
        raise ValueError(f"heavy_ball_optimal: needs 0 < lam_min <= lam_max, got {lam_min} and {lam_max}.")
    s_min, s_max = math.sqrt(lam_min), math.sqrt(lam_max)
    return (2 / (s_max + s_min)) ** 2, ((s_max - s_min) / (s_max + s_min)) ** 2


def heavy_ball_steps_per_decade(kappa):
    r"""Steps per factor 10 of error reduction of the best heavy ball at condition number ``kappa``.

    .. math::

        r = \frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}, \qquad \text{steps} = \frac{\ln 10}{-\ln r}

    the asymptotic rate with Polyak's :math:`(\eta^\star, \beta^\star)` (:func:`heavy_ball_optimal`),
    on any quadratic with curvatures in :math:`[\lambda_{\min}, \lambda_{\max}]`. A float, not rounded;
    ``kappa = 1`` gives 0.0. For large :math:`\kappa` it grows like :math:`\tfrac{\ln 10}{2}\sqrt\kappa`.
    """
    kappa = _check_kappa("heavy_ball_steps_per_decade", kappa)
    root = math.sqrt(kappa)
    return _steps_per_decade((root - 1) / (root + 1))


def gd_steps_per_decade(kappa):
    r"""Steps per factor 10 of error reduction of gradient descent with its best fixed rate.

    .. math::

        r = \frac{\kappa - 1}{\kappa + 1}, \qquad \text{steps} = \frac{\ln 10}{-\ln r}

    with :math:`\eta = 2/(\lambda_{\min} + \lambda_{\max})`. A float; ``kappa = 1`` gives 0.0. For large
    :math:`\kappa` it grows like :math:`\tfrac{\ln 10}{2}\kappa`.
    """
    kappa = _check_kappa("gd_steps_per_decade", kappa)
    return _steps_per_decade((kappa - 1) / (kappa + 1))
