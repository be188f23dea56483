r"""Reference solutions for notebooks 04-06: one update rule per optimizer, as a pure function.

Every function takes the parameter ``w`` and its gradient ``grad`` (arrays of the same, any
shape: NumPy arrays, lists, or torch tensors), returns the **new** parameter and never changes
its inputs in place. The stateful ones also take ``state``, a plain ``dict`` that starts empty
(``{}``): the function fills it on the first call, updates it on each call and returns it (the
same dict object; the arrays inside are replaced by new ones, never modified in place)::

    state = {}
    for t in range(n_steps):
        w, state = adam(w, grad_f(w), state, lr=1e-3)

Each rule reproduces ``torch.optim`` step for step: with the same hyper-parameters and the
same start, the iterates agree to rounding error. The state keys are torch's own names.

=================  ===============================================  ==========================================
function           matches                                          state keys
=================  ===============================================  ==========================================
``gd_step``        ``torch.optim.SGD(lr)`` (no momentum)            none: it takes no state
``sgd_momentum``   ``torch.optim.SGD``                              ``momentum_buffer`` (if momentum > 0)
``adagrad``        ``torch.optim.Adagrad`` (``lr_decay=0``)         ``step``, ``sum``
``rmsprop``        ``torch.optim.RMSprop`` (``centered=False``)     ``step``, ``square_avg``, ``momentum_buffer``
``adam``           ``torch.optim.Adam``                             ``step``, ``exp_avg``, ``exp_avg_sq``
``adam``           ``torch.optim.AdamW`` with ``decoupled=True``    ``step``, ``exp_avg``, ``exp_avg_sq``
=================  ===============================================  ==========================================

Conventions shared by all of them (torch's):

* ``g_t`` is the gradient at step ``t``; ``t`` counts from 1 and ``state["step"]`` holds the
  number of updates done so far (it is incremented *before* it is used).
* **L2 weight decay** (``weight_decay = lambda``, the default kind) is added to the gradient
  before anything else: ``g_t <- g_t + lambda * w_{t-1}``. Only AdamW (``adam(...,
  decoupled=True)``) decays the weights directly instead, ``w <- w * (1 - lr * lambda)``.
* ``eps`` is added **outside** the square root: ``sqrt(v) + eps``.
* The learning rate multiplies the whole step: ``w_t = w_{t-1} - lr * (...)``.

Bad inputs raise ``TypeError`` (wrong kind of object) or ``ValueError`` (wrong shape,
out-of-range hyper-parameter, incomplete state) with a sentence saying what to change.
"""

import numpy as np

from course_lib import _backend as B

# ----------------------------------------------------------------------------------------
# helpers: input checks shared by the update rules
# ----------------------------------------------------------------------------------------


def _copy(x):
    """A new array equal to ``x`` (``clone`` for a tensor)."""
    return x.clone() if B.is_tensor(x) else np.array(x, copy=True)


def _prepare(name, w, grad):
    """Turn ``w`` and ``grad`` into arrays of one kind and the same shape, or raise."""
    w, grad = B.asarray(w), B.asarray(grad)
    if B.is_tensor(w) != B.is_tensor(grad):
        kinds = ", ".join(f"{n} is a {'torch tensor' if B.is_tensor(a) else 'NumPy array'}" for n, a in (("w", w), ("grad", grad)))
        raise TypeError(f"{name}: w and grad must be of the same kind ({kinds}); convert one of them.")
    if tuple(w.shape) != tuple(grad.shape):
        raise ValueError(
            f"{name}: grad has shape {tuple(grad.shape)} but w has shape {tuple(w.shape)}; "
            "pass the gradient of the loss with respect to w, which has w's shape."
        )
    return w, grad


def _check_nonneg(name, **values):
    for key, value in values.items():
        if not value >= 0:  # also rejects NaN
            raise ValueError(f"{name}: {key} must be >= 0, got {key}={value}.")


def _check_unit(name, **values):
    """Each value must lie in [0, 1): an averaging coefficient."""
    for key, value in values.items():
        if not 0 <= value < 1:
            raise ValueError(f"{name}: {key} must be in [0, 1), got {key}={value}.")


def _check_state(name, state, w, keys):
    """Validate ``state``; return True if it is empty (first step), False if it holds ``keys``."""
    if not isinstance(state, dict):
        raise TypeError(
            f"{name}: state must be a dict (start with an empty one, {{}}, and pass back the one "
            f"returned by the previous call), got {type(state).__name__}."
        )
    if not state:
        return True
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(
            f"{name}: state is missing {missing}; start from an empty dict {{}} and pass back the "
            f"state returned by the previous call (this one has keys {sorted(state)})."
        )
    for k in keys:
        if k == "step":
            continue
        arr = state[k]
        if tuple(np.shape(arr)) != tuple(w.shape):
            raise ValueError(
                f"{name}: state[{k!r}] has shape {tuple(np.shape(arr))} but w has shape {tuple(w.shape)}; "
                "use one state dict per parameter array."
            )
    return False


def _with_l2(grad, w, weight_decay):
    """Coupled (L2) weight decay, torch's convention: g <- g + weight_decay * w."""
    return grad + weight_decay * w if weight_decay != 0 else grad


# ----------------------------------------------------------------------------------------
# the update rules
# ----------------------------------------------------------------------------------------


def gd_step(w, grad, lr):
    r"""One step of plain gradient descent.

    .. math::  w_t = w_{t-1} - \eta \, g_t

    Matches ``torch.optim.SGD(params, lr=lr)`` (momentum 0, no weight decay).

    Args:
        w: parameter, array of any shape (NumPy array, list or torch tensor). Not modified.
        grad: gradient of the loss at ``w``, same shape and kind as ``w``.
        lr: learning rate :math:`\eta \ge 0`.

    Returns:
        The new parameter, a new array with ``w``'s shape.
    """
    w, grad = _prepare("gd_step", w, grad)
    _check_nonneg("gd_step", lr=lr)
    return w - lr * grad


def sgd_momentum(w, grad, state, lr, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0):
    r"""Stochastic gradient descent with (heavy-ball or Nesterov) momentum, PyTorch's convention.

    With :math:`\mu` = ``momentum``, :math:`\tau` = ``dampening``, :math:`\lambda` =
    ``weight_decay``:

    .. math::

        g_t &\leftarrow g_t + \lambda w_{t-1}                       \\
        b_1 &= g_1 \quad\text{(first step: the raw gradient, no dampening)} \\
        b_t &= \mu b_{t-1} + (1 - \tau) g_t \qquad (t > 1)         \\
        d_t &= g_t + \mu b_t \ \text{if nesterov, else } d_t = b_t  \\
        w_t &= w_{t-1} - \eta d_t

    This is the convention of ``torch.optim.SGD``: the buffer accumulates raw gradients
    and the learning rate multiplies it afterwards. Two other conventions are common in the
    literature: Sutskever et al. (2013), :math:`v_t = \mu v_{t-1} - \eta g_t,\ w_t = w_{t-1}
    + v_t`, which gives the same iterates as here while :math:`\eta` is constant (:math:`v_t =
    -\eta b_t`); and the averaging form :math:`v_t = \beta v_{t-1} + (1-\beta) g_t` (here
    ``momentum = dampening = beta``, except that torch's first buffer is the raw gradient),
    whose steps are :math:`1-\beta` times smaller for the same :math:`\eta`.

    ``momentum=0`` gives plain SGD (with optional weight decay) and stores nothing in ``state``.

    Args:
        w: parameter, array of any shape (NumPy array, list or torch tensor). Not modified.
        grad: gradient at ``w``, same shape and kind.
        state: dict, ``{}`` on the first call. Key: ``"momentum_buffer"`` (:math:`b_t`, shape
            of ``w``), present once a step with ``momentum > 0`` has been taken.
        lr: learning rate :math:`\eta \ge 0`.
        momentum: :math:`\mu \ge 0`.
        dampening: :math:`\tau \in [0, 1]`.
        nesterov: use Nesterov's look-ahead step (needs ``momentum > 0`` and ``dampening == 0``).
        weight_decay: L2 coefficient :math:`\lambda \ge 0` added to the gradient.

    Returns:
        ``(w_new, state)``: the new parameter (new array) and the updated state dict.
    """
    name = "sgd_momentum"
    w, grad = _prepare(name, w, grad)
    _check_nonneg(name, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if not 0 <= dampening <= 1:
        raise ValueError(f"{name}: dampening must be in [0, 1], got dampening={dampening}.")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(
            f"{name}: nesterov=True needs momentum > 0 and dampening == 0 (as torch.optim.SGD), "
            f"got momentum={momentum}, dampening={dampening}."
        )
    first = _check_state(name, state, w, ["momentum_buffer"] if momentum != 0 else [])

    g = _with_l2(grad, w, weight_decay)
    if momentum == 0:
        return w - lr * g, state
    if first or "momentum_buffer" not in state:
        buf = _copy(g)  # torch: the first buffer is the (decayed) gradient itself
    else:
        buf = momentum * state["momentum_buffer"] + (1 - dampening) * g
    state["momentum_buffer"] = buf
    direction = g + momentum * buf if nesterov else buf
    return w - lr * direction, state


def adagrad(w, grad, state, lr=1e-2, eps=1e-10, weight_decay=0.0):
    r"""AdaGrad (Duchi, Hazan & Singer, 2011): each coordinate's step shrinks with its gradient history.

    .. math::

        g_t &\leftarrow g_t + \lambda w_{t-1}                 \\
        s_t &= s_{t-1} + g_t^2, \qquad s_0 = 0                \\
        w_t &= w_{t-1} - \eta \, \frac{g_t}{\sqrt{s_t} + \epsilon}

    (squares, roots and the division are element-wise). Matches ``torch.optim.Adagrad``
    with its defaults ``lr_decay=0`` and ``initial_accumulator_value=0``.

    Args:
        w: parameter, array of any shape (NumPy array, list or torch tensor). Not modified.
        grad: gradient at ``w``, same shape and kind.
        state: dict, ``{}`` on the first call. Keys: ``"step"`` (int, updates done) and
            ``"sum"`` (:math:`s_t`, shape of ``w``).
        lr: learning rate :math:`\eta \ge 0`.
        eps: :math:`\epsilon \ge 0`, added outside the square root.
        weight_decay: L2 coefficient :math:`\lambda \ge 0`.

    Returns:
        ``(w_new, state)``.
    """
    name = "adagrad"
    w, grad = _prepare(name, w, grad)
    _check_nonneg(name, lr=lr, eps=eps, weight_decay=weight_decay)
    first = _check_state(name, state, w, ["step", "sum"])
    g = _with_l2(grad, w, weight_decay)
    s = g * g if first else state["sum"] + g * g
    state["step"] = 1 if first else int(state["step"]) + 1
    state["sum"] = s
    return w - lr * g / (B.sqrt(s) + eps), state


def rmsprop(w, grad, state, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0):
    r"""RMSProp (Hinton, 2012): divide by a running root-mean-square of recent gradients.

    .. math::

        g_t &\leftarrow g_t + \lambda w_{t-1}                             \\
        v_t &= \alpha v_{t-1} + (1 - \alpha) g_t^2, \qquad v_0 = 0         \\
        \text{if } \mu = 0:\quad w_t &= w_{t-1} - \eta \, \frac{g_t}{\sqrt{v_t} + \epsilon} \\
        \text{if } \mu > 0:\quad b_t &= \mu b_{t-1} + \frac{g_t}{\sqrt{v_t} + \epsilon},\ b_0 = 0;
            \quad w_t = w_{t-1} - \eta b_t

    Unlike AdaGrad's sum, the average forgets old gradients (weight :math:`\alpha^k` after
    :math:`k` steps), so the steps do not shrink forever. No bias correction (as torch).
    Matches ``torch.optim.RMSprop`` with ``centered=False``.

    Args:
        w: parameter, array of any shape (NumPy array, list or torch tensor). Not modified.
        grad: gradient at ``w``, same shape and kind.
        state: dict, ``{}`` on the first call. Keys: ``"step"`` (int), ``"square_avg"``
            (:math:`v_t`) and, when ``momentum > 0``, ``"momentum_buffer"`` (:math:`b_t`).
        lr: learning rate :math:`\eta \ge 0`.
        alpha: smoothing constant :math:`\alpha \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`, added outside the square root.
        weight_decay: L2 coefficient :math:`\lambda \ge 0`.
        momentum: :math:`\mu \ge 0`.

    Returns:
        ``(w_new, state)``.
    """
    name = "rmsprop"
    w, grad = _prepare(name, w, grad)
    _check_nonneg(name, lr=lr, eps=eps, weight_decay=weight_decay, momentum=momentum)
    _check_unit(name, alpha=alpha)
    first = _check_state(name, state, w, ["step", "square_avg"])
    g = _with_l2(grad, w, weight_decay)
    v = (1 - alpha) * (g * g) if first else alpha * state["square_avg"] + (1 - alpha) * (g * g)
    state["step"] = 1 if first else int(state["step"]) + 1
    state["square_avg"] = v
    scaled = g / (B.sqrt(v) + eps)
    if momentum > 0:
        old = state.get("momentum_buffer")
        if old is not None and tuple(np.shape(old)) != tuple(w.shape):
            raise ValueError(f"{name}: state['momentum_buffer'] has shape {tuple(np.shape(old))} but w has shape {tuple(w.shape)}.")
        buf = scaled if old is None else momentum * old + scaled  # b_0 = 0
        state["momentum_buffer"] = buf
        return w - lr * buf, state
    return w - lr * scaled, state


def adam(w, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    r"""Adam (Kingma & Ba, 2015) and, with ``decoupled=True``, AdamW (Loshchilov & Hutter, 2019).

    With :math:`(\beta_1, \beta_2)` = ``betas`` and :math:`\lambda` = ``weight_decay``; the step
    counter is incremented first, so the first update uses :math:`t = 1`:

    .. math::

        t &\leftarrow t + 1                                                          \\
        \text{Adam (L2):}\quad g_t &\leftarrow g_t + \lambda w_{t-1}                 \\
        \text{AdamW (decoupled):}\quad w_{t-1} &\leftarrow w_{t-1} (1 - \eta\lambda)  \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad m_0 = 0                   \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \qquad v_0 = 0                 \\
        \hat m_t &= m_t / (1 - \beta_1^t), \qquad \hat v_t = v_t / (1 - \beta_2^t)   \\
        w_t &= w_{t-1} - \eta \, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    :math:`\epsilon` is added after the square root of the *bias-corrected* :math:`\hat v_t`,
    as torch does. ``decoupled=False`` matches ``torch.optim.Adam(lr, betas, eps,
    weight_decay)``; ``decoupled=True`` matches ``torch.optim.AdamW`` with the same arguments
    (note AdamW's own default ``weight_decay`` is ``1e-2``, here it is 0).

    Args:
        w: parameter, array of any shape (NumPy array, list or torch tensor). Not modified.
        grad: gradient at ``w``, same shape and kind.
        state: dict, ``{}`` on the first call. Keys: ``"step"`` (int :math:`t`), ``"exp_avg"``
            (:math:`m_t`) and ``"exp_avg_sq"`` (:math:`v_t`), both of ``w``'s shape.
        lr: learning rate :math:`\eta \ge 0`.
        betas: ``(beta1, beta2)``, each in [0, 1).
        eps: :math:`\epsilon \ge 0`.
        weight_decay: :math:`\lambda \ge 0`.
        decoupled: ``False``: L2 decay added to the gradient (Adam); ``True``: decay applied to
            the weights before the update (AdamW).

    Returns:
        ``(w_new, state)``.
    """
    name = "adam"
    w, grad = _prepare(name, w, grad)
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}.") from None
    _check_unit(name, beta1=beta1, beta2=beta2)
    _check_nonneg(name, lr=lr, eps=eps, weight_decay=weight_decay)
    first = _check_state(name, state, w, ["step", "exp_avg", "exp_avg_sq"])

    t = 1 if first else int(state["step"]) + 1
    g = grad
    if weight_decay != 0:
        if decoupled:
            w = w * (1 - lr * weight_decay)
        else:
            g = grad + weight_decay * w
    if first:
        m = (1 - beta1) * g
        v = (1 - beta2) * (g * g)
    else:
        m = beta1 * state["exp_avg"] + (1 - beta1) * g
        v = beta2 * state["exp_avg_sq"] + (1 - beta2) * (g * g)
    state["step"], state["exp_avg"], state["exp_avg_sq"] = t, m, v

    bias1 = 1 - beta1**t
    bias2 = 1 - beta2**t
    denom = B.sqrt(v) / bias2**0.5 + eps
    return w - (lr / bias1) * m / denom, state


# ----------------------------------------------------------------------------------------
# predictions worked out on paper (notebooks 05 and 06): closed forms, checked against torch.optim
# ----------------------------------------------------------------------------------------


def _check_steps(name, t):
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1:
        raise ValueError(f"{name}: t must be an int >= 1 (update t = 1 is the first one), got t={t!r}.")


def constant_gradient_step(method, g, t, lr, eps, alpha=0.99):
    r"""The change :math:`w_t - w_{t-1}` that update ``t`` of AdaGrad or RMSProp makes under a constant gradient.

    One weight (or an array of them) sees the same gradient :math:`g` at every step, from an empty
    state, with no weight decay and no momentum. The accumulator after :math:`t` updates is

    .. math::

        \text{AdaGrad:}\quad s_t = t\, g^2, \qquad
        \text{RMSProp:}\quad v_t = (1 - \beta_2^t)\, g^2

    (RMSProp's weights :math:`(1-\beta_2)\beta_2^{k}` of a zero-started average add up to
    :math:`1 - \beta_2^t`), so, with :math:`\epsilon` outside the root as torch adds it,

    .. math::

        w_t - w_{t-1} = -\frac{\eta\, g}{\sqrt{t}\,|g| + \epsilon} \ \text{(AdaGrad)}, \qquad
        w_t - w_{t-1} = -\frac{\eta\, g}{\sqrt{1 - \beta_2^t}\,|g| + \epsilon} \ \text{(RMSProp)}.

    AdaGrad's steps shrink like :math:`1/\sqrt t`; RMSProp's first step is :math:`1/\sqrt{1-\beta_2}`
    times :math:`\eta` (ten times for :math:`\beta_2 = 0.99`) and falls to :math:`\eta` as
    :math:`\beta_2^t \to 0`.

    Args:
        method: ``"adagrad"`` (``torch.optim.Adagrad(lr, eps)``) or ``"rmsprop"``
            (``torch.optim.RMSprop(lr, alpha, eps)``).
        g: the constant gradient, a number or an array of any shape (one per weight).
        t: the update, an int >= 1 (1 is the first).
        lr: :math:`\eta \ge 0`.
        eps: :math:`\epsilon \ge 0`.
        alpha: RMSProp's :math:`\beta_2 \in [0, 1)` (AdaGrad ignores it).

    Returns:
        A NumPy array of ``g``'s shape (0-d for a number): negative where ``g > 0``.
    """
    name = "constant_gradient_step"
    if method not in ("adagrad", "rmsprop"):
        raise ValueError(f"{name}: method must be 'adagrad' or 'rmsprop', got {method!r}.")
    _check_steps(name, t)
    _check_nonneg(name, lr=lr, eps=eps)
    g = np.asarray(g, dtype=float)
    if method == "adagrad":
        factor = float(t) ** 0.5
    else:
        _check_unit(name, alpha=alpha)
        factor = (1.0 - alpha ** int(t)) ** 0.5
    return -lr * g / (factor * np.abs(g) + eps)


def first_adam_step(grad, lr, beta1, beta2, eps):
    r"""The change :math:`w_1 - w_0` of Adam's first update *without* bias correction.

    From an empty state, :math:`m_1 = (1-\beta_1)\, g_1` and :math:`v_1 = (1-\beta_2)\, g_1^2`; without
    the hats the step is :math:`\eta\, m_1 / (\sqrt{v_1} + \epsilon)`, so

    .. math::

        w_1 - w_0 = -\frac{\eta\, (1 - \beta_1)\, g_1}{\sqrt{1 - \beta_2}\, |g_1| + \epsilon},

    about :math:`(1-\beta_1)/\sqrt{1-\beta_2} \approx 3.2` times the corrected first step
    :math:`-\eta\, g_1 / (|g_1| + \epsilon) \approx -\eta \operatorname{sign}(g_1)` for the defaults.

    Args:
        grad: the first gradient :math:`g_1`, a number or an array of any shape.
        lr: :math:`\eta \ge 0`.
        beta1, beta2: Adam's coefficients, each in [0, 1).
        eps: :math:`\epsilon \ge 0`, added outside the square root (torch's place).

    Returns:
        A NumPy array of ``grad``'s shape (0-d for a number): negative where ``grad > 0``.
    """
    name = "first_adam_step"
    _check_unit(name, beta1=beta1, beta2=beta2)
    _check_nonneg(name, lr=lr, eps=eps)
    g = np.asarray(grad, dtype=float)
    return -lr * (1 - beta1) * g / ((1 - beta2) ** 0.5 * np.abs(g) + eps)
