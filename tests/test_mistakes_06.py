"""Notebook 06: wrong answers students write, each of which must fail its tests (and lose the points).

Where the mistake can be recognised, the failure message must name it.
"""

from mistakes import catalogue_tests, solution_with
from notebook_text import ROOT

NB = ROOT / "notebooks" / "06_adam" / "06_adam.ipynb"
# adam calls the three earlier exercises; a variant of adam is graded with the notebook's own versions of them
HELPERS = "\n".join(solution_with(NB, gid, "def ", "def ") for gid in ("adam_moments", "bias_correction", "apply_weight_decay")) + "\n"


def first_step_with(old, new):
    """The notebook's first_adam_step with one edit: a wrong prediction."""
    return solution_with(NB, "first_adam_step", old, new)


def adam_with(old, new):
    """The notebook's adam with one edit, plus the helpers it calls."""
    return HELPERS + solution_with(NB, "adam", old, new)


MISTAKES = [
    # --- adam_moments
    ("test_adam_moments", "beta2 on g instead of g**2",
     solution_with(NB, "adam_moments", "(1 - beta2) * grad * grad", "(1 - beta2) * grad"), "squared gradient"),
    ("test_adam_moments", "beta1 and beta2 swapped",
     solution_with(NB, "adam_moments", "m_new = beta1 * m + (1 - beta1) * grad", "m_new = beta2 * m + (1 - beta2) * grad"), "not beta2"),
    ("test_adam_moments", "forgets the (1 - beta1) factor",
     solution_with(NB, "adam_moments", "(1 - beta1) * grad", "grad"), "(1 - beta1)"),
    ("test_adam_moments", "updates m and v in place", """
def adam_moments(m, v, grad, betas=(0.9, 0.999)):
    beta1, beta2 = betas
    m *= beta1; m += (1 - beta1) * grad
    v *= beta2; v += (1 - beta2) * grad * grad
    return m, v
""", "modified its input"),
    ("test_adam_moments", "turns tensors into NumPy arrays", """
def adam_moments(m, v, grad, betas=(0.9, 0.999)):
    m, v, grad = np.asarray(m), np.asarray(v), np.asarray(grad)
    return betas[0] * m + (1 - betas[0]) * grad, betas[1] * v + (1 - betas[1]) * np.square(grad)
""", "torch tensor"),
    # --- bias_correction
    ("test_bias_correction", "uses t - 1",
     solution_with(NB, "bias_correction", "beta ** t", "beta ** (t - 1)"), "t - 1"),
    ("test_bias_correction", "uses t + 1 (4/10 before: adam failed too, with a message about adam's step counter)",
     solution_with(NB, "bias_correction", "beta ** t", "beta ** (t + 1)"), "t + 1"),
    ("test_bias_correction", "multiplies instead of dividing",
     solution_with(NB, "bias_correction", "x / (1 - beta ** t)", "x * (1 - beta ** t)"), "do not multiply"),
    ("test_bias_correction", "1 - beta * t",
     solution_with(NB, "bias_correction", "beta ** t", "beta * t"), "beta**t, not beta * t"),
    # --- first_adam_step (predict): the wrong predictions
    ("test_first_adam_step", "the corrected step (torch.optim.Adam's own) where the uncorrected one was asked",
     first_step_with("return -lr * (1 - beta1) * g / ((1 - beta2) ** 0.5 * np.abs(g) + eps)", "return -lr * g / (np.abs(g) + eps)"),
     "you predicted the corrected step"),
    ("test_first_adam_step", "no square root on (1 - beta2)",
     first_step_with("(1 - beta2) ** 0.5", "(1 - beta2)"), "the square root is missing"),
    ("test_first_adam_step", "beta1 and beta2 swapped",
     first_step_with("(1 - beta1) * g / ((1 - beta2) ** 0.5", "(1 - beta2) * g / ((1 - beta1) ** 0.5"), "beta1 and beta2 are swapped"),
    ("test_first_adam_step", "eps inside the square root",
     first_step_with("((1 - beta2) ** 0.5 * np.abs(g) + eps)", "((1 - beta2) * g * g + eps) ** 0.5"), "eps is inside the square root"),
    ("test_first_adam_step", "eps scaled with |g| (q_1 times the corrected step)",
     first_step_with("((1 - beta2) ** 0.5 * np.abs(g) + eps)", "((1 - beta2) ** 0.5 * (np.abs(g) + eps))"), "eps was scaled along with |g|"),
    ("test_first_adam_step", "m_1 = g (only m bias-corrected)",
     first_step_with("-lr * (1 - beta1) * g", "-lr * g"), "the factor of g in m_1 is missing"),
    ("test_first_adam_step", "v_1 = g**2 (only v bias-corrected)",
     first_step_with("(1 - beta2) ** 0.5 * np.abs(g)", "np.abs(g)"), "the factor of g**2 in v_1 is missing"),
    ("test_first_adam_step", "the change with the wrong sign",
     first_step_with("return -lr", "return lr"), "wrong sign"),
    ("test_first_adam_step", "the size of the change",
     first_step_with("return -lr * (1 - beta1) * g /", "return lr * (1 - beta1) * np.abs(g) /"), "size of the change"),
    ("test_first_adam_step", "learning rate left out",
     first_step_with("-lr * (1 - beta1)", "-(1 - beta1)"), "the learning rate is missing"),
    ("test_first_adam_step", "eps left out (0 / 0 for a zero gradient)",
     first_step_with(" * np.abs(g) + eps)", " * np.abs(g))"), "NaN or inf"),
    ("test_first_adam_step", "eps left out, written with the sign of the gradient (no 0 / 0)",
     first_step_with("return -lr * (1 - beta1) * g / ((1 - beta2) ** 0.5 * np.abs(g) + eps)",
                     "return -lr * (1 - beta1) / (1 - beta2) ** 0.5 * np.sign(g)"), "eps is missing"),
    # --- apply_weight_decay
    ("test_apply_weight_decay", "L2 decay where decoupled was asked", """
def apply_weight_decay(w, grad, lr, weight_decay, decoupled=False):
    return w, grad + weight_decay * w
""", "applied L2 instead"),
    ("test_apply_weight_decay", "decoupled decay where L2 was asked", """
def apply_weight_decay(w, grad, lr, weight_decay, decoupled=False):
    return w * (1 - lr * weight_decay), grad
""", "the weights stay as they are"),
    ("test_apply_weight_decay", "decoupled decay not multiplied by lr",
     solution_with(NB, "apply_weight_decay", "w * (1 - lr * weight_decay)", "w * (1 - weight_decay)"), "multiplied by the learning rate"),
    ("test_apply_weight_decay", "L2 term scaled by lr",
     solution_with(NB, "apply_weight_decay", "grad + weight_decay * w", "grad + lr * weight_decay * w"), "the learning rate comes later"),
    ("test_apply_weight_decay", "half the L2 gradient",
     solution_with(NB, "apply_weight_decay", "grad + weight_decay * w", "grad + weight_decay * w / 2"), "not half of it"),
    ("test_apply_weight_decay", "decays a copy made with np.array, a NumPy array even for tensors",
     solution_with(NB, "apply_weight_decay", "return w * (1 - lr * weight_decay), grad", "return np.array(w) * (1 - lr * weight_decay), grad"),
     "expected a torch tensor"),
    ("test_apply_weight_decay", "decoupled decay applied to w in place (w *= ...)", """
def apply_weight_decay(w, grad, lr, weight_decay, decoupled=False):
    if decoupled:
        w *= 1 - lr * weight_decay
        return w, grad
    return w, grad + weight_decay * w
""", "modified its input `w`"),
    # --- adam
    ("test_adam", "Adam without bias correction",
     adam_with("m_hat = bias_correction(m, beta1, t)\n    v_hat = bias_correction(v, beta2, t)",
                   "m_hat = m\n    v_hat = v"), "bias correction missing"),
    ("test_adam", "only m bias-corrected",
     adam_with("v_hat = bias_correction(v, beta2, t)", "v_hat = v"), "only m is bias-corrected"),
    ("test_adam", "t incremented after use (cs231n's trap)", HELPERS + """
def adam(w, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    beta1, beta2 = betas
    t = state.get("step", 0)
    w, grad = apply_weight_decay(w, grad, lr, weight_decay, decoupled)
    m, v = adam_moments(state.get("exp_avg", 0 * grad), state.get("exp_avg_sq", 0 * grad), grad, betas)
    m_hat, v_hat = bias_correction(m, beta1, t), bias_correction(v, beta2, t)
    state["step"], state["exp_avg"], state["exp_avg_sq"] = t + 1, m, v
    return w - lr * m_hat / (v_hat ** 0.5 + eps), state
""", "Increment state['step'] before you use it"),
    ("test_adam", "t = 2 on the first step (counter starts at 1, then incremented)",
     adam_with('state.get("step", 0) + 1', 'state.get("step", 1) + 1'), "t = 2 on the first step"),
    ("test_adam", "eps inside the sqrt",
     adam_with("(v_hat ** 0.5 + eps)", "(v_hat + eps) ** 0.5"), "outside the square root"),
    ("test_adam", "eps added before the bias correction of v",
     adam_with("m_hat / (v_hat ** 0.5 + eps)", "m_hat / ((v ** 0.5 + eps) / (1 - beta2 ** t) ** 0.5)"), None),
    ("test_adam", "square root of v_hat missing",
     adam_with("(v_hat ** 0.5 + eps)", "(v_hat + eps)"), "the square root is missing"),
    ("test_adam", "sqrt(v) divided by the whole correction 1 - beta2**t",
     adam_with("m_hat / (v_hat ** 0.5 + eps)", "m_hat / (v ** 0.5 / (1 - beta2 ** t) + eps)"), "the root of v_hat"),
    ("test_adam", "state not stored",
     adam_with('    state["step"], state["exp_avg"], state["exp_avg_sq"] = t, m, v\n', ""), "state was not updated"),
    ("test_adam", "state stored but never read back",
     adam_with('m = state.get("exp_avg", 0 * grad)\n    v = state.get("exp_avg_sq", 0 * grad)',
                   'm = 0 * grad\n    v = 0 * grad'), None),
    ("test_adam", "stores the corrected moments", HELPERS + """
def adam(w, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    beta1, beta2 = betas
    t = state.get("step", 0) + 1
    w, grad = apply_weight_decay(w, grad, lr, weight_decay, decoupled)
    m, v = adam_moments(state.get("exp_avg", 0 * grad), state.get("exp_avg_sq", 0 * grad), grad, betas)
    m, v = bias_correction(m, beta1, t), bias_correction(v, beta2, t)
    state["step"], state["exp_avg"], state["exp_avg_sq"] = t, m, v
    return w - lr * m / (v ** 0.5 + eps), state
""", "stored the corrected m_hat"),
    ("test_adam", "L2 weight decay where decoupled was asked",
     adam_with("apply_weight_decay(w, grad, lr, weight_decay, decoupled)",
                   "apply_weight_decay(w, grad, lr, weight_decay)"), "with decoupled=True you applied L2 decay"),
    ("test_adam", "decoupled decay where L2 was asked",
     adam_with("apply_weight_decay(w, grad, lr, weight_decay, decoupled)",
                   "apply_weight_decay(w, grad, lr, weight_decay, True)"), "with decoupled=False you decayed the weights directly"),
    ("test_adam", "decoupled decay not multiplied by lr",
     adam_with("apply_weight_decay(w, grad, lr, weight_decay, decoupled)",
                   "apply_weight_decay(w, grad, 1.0 if decoupled else lr, weight_decay, decoupled)"), "must be multiplied by lr"),
    ("test_adam", "decoupled decay applied after the step", HELPERS + """
def adam(w, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    beta1, beta2 = betas
    t = state.get("step", 0) + 1
    if not decoupled:
        grad = grad + weight_decay * w
    m, v = adam_moments(state.get("exp_avg", 0 * grad), state.get("exp_avg_sq", 0 * grad), grad, betas)
    state["step"], state["exp_avg"], state["exp_avg_sq"] = t, m, v
    w = w - lr * bias_correction(m, beta1, t) / (bias_correction(v, beta2, t) ** 0.5 + eps)
    return (w * (1 - lr * weight_decay) if decoupled else w), state
""", None),
    ("test_adam", "weight decay ignored",
     adam_with("    w, grad = apply_weight_decay(w, grad, lr, weight_decay, decoupled)\n", ""), "weight_decay was ignored"),
    ("test_adam", "updates w in place", HELPERS + """
def adam(w, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    beta1, beta2 = betas
    t = state.get("step", 0) + 1
    w, grad = apply_weight_decay(w, grad, lr, weight_decay, decoupled)
    m, v = adam_moments(state.get("exp_avg", 0 * grad), state.get("exp_avg_sq", 0 * grad), grad, betas)
    state["step"], state["exp_avg"], state["exp_avg_sq"] = t, m, v
    w -= lr * bias_correction(m, beta1, t) / (bias_correction(v, beta2, t) ** 0.5 + eps)
    return w, state
""", "modified its input"),
    ("test_adam", "steps uphill",
     adam_with("return w - lr * m_hat", "return w + lr * m_hat"), "stepped uphill"),
    ("test_adam", "returns only w", adam_with("eps), state", "eps)"), "a pair (w_new, state)"),
    ("test_adam", "first moment started with np.zeros_like, a NumPy array even for tensors",
     adam_with('m = state.get("exp_avg", 0 * grad)', 'm = state.get("exp_avg", np.zeros_like(grad))'), "torch tensors"),
]


test_every_mistake_loses_the_points, test_the_reference_answers_pass = catalogue_tests(NB, MISTAKES, 12)
