"""Notebook 04: wrong answers students write, each of which must fail its tests (and lose the points).

Where the mistake can be recognised, the failure message must name it.
"""

from mistakes import catalogue_tests, solution_with
from notebook_text import ROOT

NB = ROOT / "notebooks" / "04_momentum" / "04_momentum.ipynb"

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
    # ---- Exercise 2: nesterov_step
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
    # ---- Exercise 3: sgd_momentum
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
    # ---- Exercise 4: momentum_to_torch
    ("test_momentum_to_torch", "divides by (1-β) instead of multiplying",
     solution_with(NB, "momentum_to_torch", "lr * (1 - beta), beta", "lr / (1 - beta), beta"), "divided by (1 - beta)"),
    ("test_momentum_to_torch", "treats the averaging form like PyTorch's",
     solution_with(NB, "momentum_to_torch", "lr * (1 - beta), beta", "lr, beta"), "factor (1 - beta)"),
    ("test_momentum_to_torch", "no ValueError for an unknown convention",
     solution_with(NB, "momentum_to_torch", "raise ValueError(", "return lr, beta  # ("), "ValueError"),
    ("test_momentum_to_torch", "Sutskever's rate scaled like the averaging form",
     solution_with(NB, "momentum_to_torch", 'if convention in ("pytorch", "sutskever"):', 'if convention == "pytorch":\n        return lr, beta\n    if convention == "sutskever":\n        return lr * (1 - beta), beta\n    if False:'), None),
    ("test_momentum_to_torch", "convention names matched loosely (case and spaces ignored)",
     solution_with(NB, "momentum_to_torch", '    if convention in ("pytorch", "sutskever"):',
                   '    convention = convention.strip().lower()\n    if convention in ("pytorch", "sutskever"):'), "matched exactly"),
]


test_every_mistake_loses_the_points, test_the_reference_answers_pass = catalogue_tests(NB, MISTAKES, 10)
