"""Notebook 04: wrong answers students write, each of which must fail its tests (and lose the points).

Where the mistake can be recognised, the failure message must name it.
"""

from mistakes import catalogue_tests, solution_with
from notebook_text import ROOT

NB = ROOT / "notebooks" / "04_momentum" / "04_momentum.ipynb"

# the start of a prediction with the right rate, for the mistakes made after it
HB = "def heavy_ball_steps_per_decade(kappa):\n    r = (kappa**0.5 - 1) / (kappa**0.5 + 1)\n"

MISTAKES = [
    # ---- Exercise 1: heavy_ball_step
    ("test_heavy_ball_step", "mixes in the (1-β) averaging convention", """
def heavy_ball_step(w, grad, buf, lr, momentum):
    buf = np.zeros_like(grad) if buf is None else buf
    buf_new = momentum * buf + (1 - momentum) * grad
    return w - lr * buf_new, buf_new
""", "(1-β) averaging form"),
    ("test_heavy_ball_step", "Sutskever's velocity returned as the buffer", """
def heavy_ball_step(w, grad, buf, lr, momentum):
    v = -lr * grad if buf is None else momentum * buf - lr * grad
    return w + v, v
""", "Sutskever"),
    ("test_heavy_ball_step", "lr applied twice (in the buffer and in the step)", """
def heavy_ball_step(w, grad, buf, lr, momentum):
    buf_new = lr * grad if buf is None else momentum * buf + lr * grad
    return w - lr * buf_new, buf_new
""", "keep the learning rate out of the buffer"),
    ("test_heavy_ball_step", "steps with the old buffer",
     solution_with(NB, "heavy_ball_step", "return w - lr * buf_new, buf_new",
                   "return w - lr * (grad if buf is None else buf), buf_new"), "OLD buffer"),
    ("test_heavy_ball_step", "old buffer not decayed",
     solution_with(NB, "heavy_ball_step", "momentum * buf + grad", "buf + grad"), "not decayed"),
    ("test_heavy_ball_step", "updates w in place", """
def heavy_ball_step(w, grad, buf, lr, momentum):
    buf_new = grad.copy() if buf is None else momentum * buf + grad
    w -= lr * buf_new
    return w, buf_new
""", "modified its input"),
    ("test_heavy_ball_step", "first buffer copied with grad.copy(), which tensors lack",
     solution_with(NB, "heavy_ball_step", "1 * grad if buf is None", "grad.copy() if buf is None"), "failed on torch tensors"),
    # ---- Exercise 2: heavy_ball_steps_per_decade, a prediction (the usual wrong answers)
    ("test_heavy_ball_steps_per_decade", "kappa instead of sqrt(kappa): plain gradient descent's rate",
     "def heavy_ball_steps_per_decade(kappa):\n    r = (kappa - 1) / (kappa + 1)\n"
     "    return 0.0 if r == 0 else np.log(10) / -np.log(r)\n", "best plain gradient descent"),
    ("test_heavy_ball_steps_per_decade", "beta* taken as the rate per step",
     HB.replace("(kappa**0.5 + 1)", "(kappa**0.5 + 1)) ** 2").replace("r = (", "r = ((") +
     "    return 0.0 if r == 0 else np.log(10) / -np.log(r)\n", "beta* itself"),
    ("test_heavy_ball_steps_per_decade", "steps per factor e",
     HB + "    return 0.0 if r == 0 else 1 / -np.log(r)\n", "per factor e"),
    ("test_heavy_ball_steps_per_decade", "log bases mixed (ln 10 over log10 of the rate)",
     HB + "    return 0.0 if r == 0 else np.log(10) / -np.log10(r)\n", "different bases"),
    ("test_heavy_ball_steps_per_decade", "decades per step (upside down)",
     HB + "    return -np.log(r) / np.log(10) if r > 0 else 0.0\n", "upside down"),
    ("test_heavy_ball_steps_per_decade", "returns the rate itself",
     HB + "    return r\n", "rate per step"),
    ("test_heavy_ball_steps_per_decade", "-ln(rate) approximated by 1 - rate",
     HB + "    return np.log(10) / (1 - r)\n", "approximated -ln(rate)"),
    ("test_heavy_ball_steps_per_decade", "the rule of thumb sqrt(kappa)",
     "def heavy_ball_steps_per_decade(kappa):\n    return kappa ** 0.5\n", "sqrt(kappa) only"),
    ("test_heavy_ball_steps_per_decade", "rounded up to whole steps",
     "import math\n" + HB + "    return 0.0 if r == 0 else math.ceil(np.log(10) / -np.log(r))\n", "rounded up"),
    ("test_heavy_ball_steps_per_decade", "rounded to whole steps",
     HB + "    return 0.0 if r == 0 else round(np.log(10) / -np.log(r))\n", "rounded to whole steps"),
    ("test_heavy_ball_steps_per_decade", "the square root of gradient descent's rate",
     "def heavy_ball_steps_per_decade(kappa):\n    r = ((kappa - 1) / (kappa + 1)) ** 0.5\n"
     "    return 0.0 if r == 0 else np.log(10) / -np.log(r)\n", None),
    ("test_heavy_ball_steps_per_decade", "the large-kappa approximation (ln 10 / 2) sqrt(kappa)",
     "def heavy_ball_steps_per_decade(kappa):\n    return np.log(10) / 2 * np.sqrt(kappa) if kappa > 1 else 0.0\n",
     "large-kappa approximation"),
    ("test_heavy_ball_steps_per_decade", "math.log(0) at kappa = 1 (a ValueError)",
     "import math\n" + HB + "    return math.log(10) / -math.log(r)\n", "return 0.0 there"),
    # ---- Exercise 3: nesterov_step
    ("test_nesterov_step", "Nesterov applied as plain momentum",
     solution_with(NB, "nesterov_step", "w - lr * (grad + momentum * buf_new)", "w - lr * buf_new"), "plain heavy ball"),
    ("test_nesterov_step", "look-ahead with the old buffer", """
def nesterov_step(w, grad, buf, lr, momentum):
    old = np.zeros_like(grad) if buf is None else buf
    buf_new = grad.copy() if buf is None else momentum * buf + grad
    return w - lr * (grad + momentum * old), buf_new
""", "OLD buffer"),
    ("test_nesterov_step", "momentum * grad instead of momentum * buffer",
     solution_with(NB, "nesterov_step", "grad + momentum * buf_new)", "grad + momentum * grad)"), "momentum * grad"),
    ("test_nesterov_step", "first buffer copied with grad.copy(), which tensors lack",
     solution_with(NB, "nesterov_step", "1 * grad if buf is None", "grad.copy() if buf is None"), "failed on torch tensors"),
    # ---- Exercise 4: sgd_momentum
    ("test_sgd_momentum", "mixes the (1-β) averaging and PyTorch conventions",
     solution_with(NB, "sgd_momentum", "(1 - dampening) * g", "(1 - momentum) * g"), "(1 - momentum) * g"),
    ("test_sgd_momentum", "averaging convention with a zero-initialized buffer", """
def sgd_momentum(w, grad, state, lr, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0):
    g = grad + weight_decay * w
    buf = momentum * state.get("momentum_buffer", np.zeros_like(w)) + (1 - momentum) * g
    state["momentum_buffer"] = buf
    return w - lr * ((g + momentum * buf) if nesterov else buf), state
""", "(1-β) averaging form"),
    ("test_sgd_momentum", "Nesterov applied as plain momentum",
     solution_with(NB, "sgd_momentum", "g + momentum * buf if nesterov else buf", "buf"), "plain momentum"),
    ("test_sgd_momentum", "buffer not stored in the state",
     solution_with(NB, "sgd_momentum", '    state["momentum_buffer"] = buf\n', ""), "momentum_buffer"),
    ("test_sgd_momentum", "buffer stored under another key", """
def sgd_momentum(w, grad, state, lr, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0):
    g = grad + weight_decay * w
    if momentum == 0:
        return w - lr * g, state
    buf = g if "velocity" not in state else momentum * state["velocity"] + (1 - dampening) * g
    state["velocity"] = buf
    return w - lr * (g + momentum * buf if nesterov else buf), state
""", "state['momentum_buffer']"),
    ("test_sgd_momentum", "buffer initialized to zero (dampening applied on the first step)",
     solution_with(NB, "sgd_momentum", "        buf = g\n", "        buf = (1 - dampening) * g\n"), "first buffer was damped"),
    ("test_sgd_momentum", "weight decay added after the momentum", """
def sgd_momentum(w, grad, state, lr, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0):
    g = grad
    if momentum == 0:
        return w - lr * (g + weight_decay * w), state
    buf = g if "momentum_buffer" not in state else momentum * state["momentum_buffer"] + (1 - dampening) * g
    state["momentum_buffer"] = buf
    d = g + momentum * buf if nesterov else buf
    return w - lr * (d + weight_decay * w), state
""", "weight decay was added after the momentum"),
    ("test_sgd_momentum", "weight decay ignored",
     solution_with(NB, "sgd_momentum", "g = grad + weight_decay * w", "g = grad"), None),
    ("test_sgd_momentum", "lr applied twice", """
def sgd_momentum(w, grad, state, lr, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0):
    g = grad + weight_decay * w
    if momentum == 0:
        return w - lr * g, state
    buf = lr * g if "momentum_buffer" not in state else momentum * state["momentum_buffer"] + lr * (1 - dampening) * g
    state["momentum_buffer"] = buf
    return w - lr * (g + momentum * buf if nesterov else buf), state
""", "learning rate is applied twice"),
    ("test_sgd_momentum", "Nesterov's direction uses the gradient without weight decay",
     solution_with(NB, "sgd_momentum", "g + momentum * buf if nesterov", "grad + momentum * buf if nesterov"), "raw gradient"),
    ("test_sgd_momentum", "dampening ignored",
     solution_with(NB, "sgd_momentum", "(1 - dampening) * g", "g"), None),
    ("test_sgd_momentum", "grad changed in place by the weight decay",
     solution_with(NB, "sgd_momentum", "g = grad + weight_decay * w          # a new array: grad is not touched",
                   "g = grad; g += weight_decay * w"), "modified its input"),
    ("test_sgd_momentum", "first buffer copied with g.copy(), which tensors lack (10/10 before, then section 7 failed)",
     solution_with(NB, "sgd_momentum", "        buf = g\n", "        buf = g.copy()\n"), "failed on torch tensors"),
    ("test_sgd_momentum", "buffer copied with np.copy, which turns a tensor into a NumPy array",
     solution_with(NB, "sgd_momentum", "        buf = g\n", "        buf = np.copy(g)\n"), "expected a torch tensor"),
    # ---- Exercise 5: momentum_to_torch, a derivation
    ("test_momentum_to_torch", "divides by (1-β) instead of multiplying",
     solution_with(NB, "momentum_to_torch", "lr * (1 - beta), beta", "lr / (1 - beta), beta"), "divided by (1 - beta)"),
    ("test_momentum_to_torch", "treats the averaging form like PyTorch's",
     solution_with(NB, "momentum_to_torch", "lr * (1 - beta), beta", "lr, beta"), "weighted mean of the gradients"),
    ("test_momentum_to_torch", "multiplies by beta instead of (1 - beta)",
     solution_with(NB, "momentum_to_torch", "lr * (1 - beta), beta", "lr * beta, beta"), "multiplied lr by beta"),
    ("test_momentum_to_torch", "changes the momentum too, to 1 - beta",
     solution_with(NB, "momentum_to_torch", "lr * (1 - beta), beta", "lr * (1 - beta), 1 - beta"), "the same beta per step"),
    ("test_momentum_to_torch", "no ValueError for an unknown convention",
     solution_with(NB, "momentum_to_torch", "raise ValueError(", "return lr, beta  # ("), "ValueError"),
    ("test_momentum_to_torch", "Sutskever's rate scaled like the averaging form",
     solution_with(NB, "momentum_to_torch", 'if convention in ("pytorch", "sutskever"):', 'if convention == "pytorch":\n        return lr, beta\n    if convention == "sutskever":\n        return lr * (1 - beta), beta\n    if False:'), "learning rate your function gives the averaging form"),
    ("test_momentum_to_torch", "Sutskever's rate negated (its velocity is -lr times the buffer)",
     solution_with(NB, "momentum_to_torch", 'if convention in ("pytorch", "sutskever"):', 'if convention == "sutskever":\n        return -lr, beta\n    if convention == "pytorch":'), "positive learning rate"),
    ("test_momentum_to_torch", "every convention scaled by (1 - beta), PyTorch's own included",
     solution_with(NB, "momentum_to_torch", 'if convention in ("pytorch", "sutskever"):', 'if convention in ("pytorch", "sutskever", "ewma"):\n        return lr * (1 - beta), beta\n    if False:'), "the 'pytorch' form keeps lr"),
    ("test_momentum_to_torch", "convention names matched loosely (case and spaces ignored)",
     solution_with(NB, "momentum_to_torch", '    if convention in ("pytorch", "sutskever"):',
                   '    convention = convention.strip().lower()\n    if convention in ("pytorch", "sutskever"):'), "matched exactly"),
]


test_every_mistake_loses_the_points, test_the_reference_answers_pass = catalogue_tests(NB, MISTAKES, 12)
