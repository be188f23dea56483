"""Notebook 05: wrong answers students write, each of which must fail its tests (and lose the points).

Where the mistake can be recognised, the failure message must name it.
"""

from mistakes import catalogue_tests, solution_with
from notebook_text import ROOT

NB = ROOT / "notebooks" / "05_rmsprop" / "05_rmsprop.ipynb"

# rmsprop's two test cells test one function with a flag (momentum): a mistake in the part they share
# (momentum=0) fails the second cell too, which then says to fix the first part first.
SHARED = {"also_fails": {"test_rmsprop_momentum"}}


def CGS(old, new):
    """The notebook's constant_gradient_step with one edit: a wrong prediction."""
    return solution_with(NB, "constant_gradient_step", old, new)


MISTAKES = [
    # --- effective_lr
    ("test_effective_lr", "eps inside the square root",
     solution_with(NB, "effective_lr", "np.sqrt(accumulator) + eps", "np.sqrt(accumulator + eps)"), "eps is inside the square root"),
    ("test_effective_lr", "square root missing",
     solution_with(NB, "effective_lr", "(np.sqrt(accumulator) + eps)", "(accumulator + eps)"), "square root is missing"),
    ("test_effective_lr", "learning rate missing",
     solution_with(NB, "effective_lr", "return lr /", "return 1.0 /"), "learning rate is missing"),
    ("test_effective_lr", "eps left out",
     solution_with(NB, "effective_lr", "(np.sqrt(accumulator) + eps)", "np.sqrt(accumulator)"), "NaN or inf"),
    ("test_effective_lr", "overwrites the accumulator in place", """
def effective_lr(accumulator, lr, eps):
    np.sqrt(accumulator, out=accumulator)
    accumulator += eps
    return lr / accumulator
""", "modified its input"),
    # --- adagrad
    ("test_adagrad", "eps inside the square root",
     solution_with(NB, "adagrad", "s ** 0.5 + eps", "(s + eps) ** 0.5"), "eps is inside the square root"),
    ("test_adagrad", "square root missing",
     solution_with(NB, "adagrad", "(s ** 0.5 + eps)", "(s + eps)"), "square root is missing"),
    ("test_adagrad", "AdaGrad that forgets (uses the last g**2 only)",
     solution_with(NB, "adagrad", 'state.get("sum", 0.0) + g * g', "g * g"), "only the last squared gradient"),
    ("test_adagrad", "state not stored",
     solution_with(NB, "adagrad", 'state["sum"] = s', "pass"), "'sum' in state"),
    ("test_adagrad", "weight decay after the accumulator",
     solution_with(NB, "adagrad", 'state.get("sum", 0.0) + g * g', 'state.get("sum", 0.0) + grad * grad'),
     "before it is squared and accumulated"),
    ("test_adagrad", "weight decay missing",
     solution_with(NB, "adagrad", "g = grad + weight_decay * w", "g = grad"), "weight decay is missing"),
    ("test_adagrad", "decoupled (AdamW-style) weight decay",
     solution_with(NB, "adagrad", "g = grad + weight_decay * w", "g = grad; w = w * (1 - lr * weight_decay)"), "AdamW style"),
    ("test_adagrad", "accumulator starts at 0.1 (Keras)",
     solution_with(NB, "adagrad", 'state.get("sum", 0.0)', 'state.get("sum", 0.1)'), "starts at 0.1"),
    ("test_adagrad", "step counter not incremented",
     solution_with(NB, "adagrad", 'state.get("step", 0) + 1', "1"), "Add 1 to state['step']"),
    ("test_adagrad", "Keras's default eps=1e-7",
     solution_with(NB, "adagrad", "eps=1e-10", "eps=1e-7"), "eps defaults to 1e-7"),
    ("test_adagrad", "updates w in place", """
def adagrad(w, grad, state, lr=1e-2, eps=1e-10, weight_decay=0.0):
    g = grad + weight_decay * w
    s = state.get("sum", 0.0) + g * g
    state["sum"], state["step"] = s, state.get("step", 0) + 1
    w -= lr * g / (np.sqrt(s) + eps)
    return w, state
""", "modified its input"),
    ("test_adagrad", "weight decay added to grad in place (grad += weight_decay * w)",
     solution_with(NB, "adagrad", "g = grad + weight_decay * w", "grad += weight_decay * w; g = grad"), "modified its input `grad`"),
    ("test_adagrad", "accumulator started with np.zeros_like, a NumPy array even for tensors",
     solution_with(NB, "adagrad", 'state.get("sum", 0.0)', 'state.get("sum", np.zeros_like(w))'), "torch tensor"),
    # --- rmsprop, momentum = 0
    ("test_rmsprop", "eps inside the square root (TensorFlow/Keras placement)",
     solution_with(NB, "rmsprop", "v ** 0.5 + eps", "(v + eps) ** 0.5"), "eps is inside the square root", SHARED),
    ("test_rmsprop", "decay on the wrong term (alpha on g**2)",
     solution_with(NB, "rmsprop", 'alpha * state.get("square_avg", 0.0) + (1 - alpha) * g * g',
                   '(1 - alpha) * state.get("square_avg", 0.0) + alpha * g * g'), "swapped", SHARED),
    ("test_rmsprop", "average started at g**2 instead of 0",
     solution_with(NB, "rmsprop", 'state.get("square_avg", 0.0)', 'state.get("square_avg", g * g)'), "first average is g**2", SHARED),
    ("test_rmsprop", "bias-corrected (Adam-style) average", """
def rmsprop(w, grad, state, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0):
    g = grad + weight_decay * w
    v = alpha * state.get("square_avg", 0.0) + (1 - alpha) * g * g
    state["square_avg"], state["step"] = v, state.get("step", 0) + 1
    v_hat = v / (1 - alpha ** state["step"])
    return w - lr * g / (np.sqrt(v_hat) + eps), state
""", "no bias correction", SHARED),
    ("test_rmsprop", "average that forgets everything (no v_(t-1))",
     solution_with(NB, "rmsprop", 'alpha * state.get("square_avg", 0.0) + ', ""), "not carried over", SHARED),
    ("test_rmsprop", "state not stored",
     solution_with(NB, "rmsprop", 'state["square_avg"] = v', "pass"), "'square_avg' in state", SHARED),
    ("test_rmsprop", "sum instead of average (AdaGrad's accumulator)",
     solution_with(NB, "rmsprop", 'alpha * state.get("square_avg", 0.0)', 'state.get("square_avg", 0.0)'), "added the squares up", SHARED),
    ("test_rmsprop", "square root missing",
     solution_with(NB, "rmsprop", "(v ** 0.5 + eps)", "(v + eps)"), "square root is missing", SHARED),
    ("test_rmsprop", "weight decay after the accumulator",
     solution_with(NB, "rmsprop", "(1 - alpha) * g * g", "(1 - alpha) * grad * grad"), "before it is squared and averaged", SHARED),
    ("test_rmsprop", "decoupled (AdamW-style) weight decay",
     solution_with(NB, "rmsprop", "g = grad + weight_decay * w", "g = grad; w = w * (1 - lr * weight_decay)"), "AdamW style", SHARED),
    ("test_rmsprop", "Keras's default alpha (rho=0.9)",
     solution_with(NB, "rmsprop", "alpha=0.99", "alpha=0.9"), "alpha defaults to 0.9"),
    ("test_rmsprop", "step counter not incremented",
     solution_with(NB, "rmsprop", 'state.get("step", 0) + 1', "1"), "Add 1 to state['step']"),
    ("test_rmsprop", "weight decay added to grad in place (grad += weight_decay * w; hidden 0/3 before)",
     solution_with(NB, "rmsprop", "g = grad + weight_decay * w", "grad += weight_decay * w; g = grad"), "modified its input `grad`"),
    ("test_rmsprop", "average started with np.zeros_like, a NumPy array even for tensors",
     solution_with(NB, "rmsprop", 'alpha * state.get("square_avg", 0.0)', 'alpha * state.get("square_avg", np.zeros_like(w))'), "torch tensor", SHARED),
    # --- rmsprop, momentum > 0
    ("test_rmsprop_momentum", "learning rate inside the buffer (TensorFlow convention)",
     solution_with(NB, "rmsprop", "+ d           # u_0 = 0", "+ lr * d      # u_0 = 0").replace("return w - lr * d, state", "return w - (d if momentum > 0 else lr * d), state"),
     "lr times torch's"),
    ("test_rmsprop_momentum", "buffer of raw gradients, divided afterwards", """
def rmsprop(w, grad, state, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0):
    g = grad + weight_decay * w
    v = alpha * state.get("square_avg", 0.0) + (1 - alpha) * g * g
    state["square_avg"], state["step"] = v, state.get("step", 0) + 1
    if momentum > 0:
        g = momentum * state.get("momentum_buffer", 0.0) + g
        state["momentum_buffer"] = g
    return w - lr * g / (np.sqrt(v) + eps), state
""", "not the raw gradient"),
    ("test_rmsprop_momentum", "dampening (1 - momentum) in the buffer",
     solution_with(NB, "rmsprop", 'momentum * state.get("momentum_buffer", 0.0) + d', 'momentum * state.get("momentum_buffer", 0.0) + (1 - momentum) * d'),
     "(1 - momentum) factor"),
    ("test_rmsprop_momentum", "momentum ignored",
     solution_with(NB, "rmsprop", "if momentum > 0:", "if False:"), "'momentum_buffer' in state"),
    ("test_rmsprop_momentum", "buffer not carried over",
     solution_with(NB, "rmsprop", 'state.get("momentum_buffer", 0.0)', "0.0"), "not carried over"),
    # --- constant_gradient_step (predict): the wrong predictions
    ("test_constant_gradient_step", "AdaGrad: t for sqrt(t)",
     CGS("root = t ** 0.5", "root = t"), "you divided by t |g|"),
    ("test_constant_gradient_step", "AdaGrad: the sum never grows (every step the first)",
     CGS("root = t ** 0.5", "root = 1.0"), "every step is the size of the first"),
    ("test_constant_gradient_step", "AdaGrad: sqrt(t + 1)",
     CGS("root = t ** 0.5", "root = (t + 1) ** 0.5"), "one too many"),
    ("test_constant_gradient_step", "AdaGrad: sqrt(t - 1)",
     CGS("root = t ** 0.5", "root = max(t - 1, 1) ** 0.5"), "one too few"),
    ("test_constant_gradient_step", "eps multiplied by the root's factor",
     CGS("(root * np.abs(g) + eps)", "(root * (np.abs(g) + eps))"), "eps was multiplied by the same factor as |g|"),
    ("test_constant_gradient_step", "eps inside the square root",
     CGS("(root * np.abs(g) + eps)", "np.sqrt(root ** 2 * g * g + eps)"), "eps is inside the square root"),
    ("test_constant_gradient_step", "the change with the wrong sign",
     CGS("return -lr * g", "return lr * g"), "wrong sign"),
    ("test_constant_gradient_step", "the size of the change instead of the change",
     CGS("return -lr * g / (root * np.abs(g) + eps)", "return lr * np.abs(g) / (root * np.abs(g) + eps)"), "size of the change"),
    ("test_constant_gradient_step", "the effective step size instead of the change",
     CGS("return -lr * g / (root * np.abs(g) + eps)", "return lr / (root * np.abs(g) + eps)"), "effective step size"),
    ("test_constant_gradient_step", "RMSProp: the settled step (the zero start forgotten)",
     CGS("root = (1 - alpha ** t) ** 0.5", "root = 1.0"), "once the average has settled"),
    ("test_constant_gradient_step", "RMSProp: alpha**t for 1 - alpha**t",
     CGS("root = (1 - alpha ** t) ** 0.5", "root = (alpha ** t) ** 0.5"), "you used alpha**t"),
    ("test_constant_gradient_step", "RMSProp: (1 - alpha)**t",
     CGS("root = (1 - alpha ** t) ** 0.5", "root = ((1 - alpha) ** t) ** 0.5"), "you used (1 - alpha)**t"),
    ("test_constant_gradient_step", "RMSProp: the first step's factor at every t",
     CGS("root = (1 - alpha ** t) ** 0.5", "root = (1 - alpha) ** 0.5"), "the first step's size at every t"),
    ("test_constant_gradient_step", "RMSProp: weights alpha**k without the factor (1 - alpha)",
     CGS("root = (1 - alpha ** t) ** 0.5", "root = ((1 - alpha ** t) / (1 - alpha)) ** 0.5"), "the factor (1 - alpha) is missing"),
    ("test_constant_gradient_step", "RMSProp: square root missing",
     CGS("root = (1 - alpha ** t) ** 0.5", "root = 1 - alpha ** t"), "square root is missing"),
    ("test_constant_gradient_step", "RMSProp: t - 1 terms",
     CGS("root = (1 - alpha ** t) ** 0.5", "root = (1 - alpha ** max(t - 1, 1)) ** 0.5"), "one too few"),
    ("test_constant_gradient_step", "RMSProp: t + 1 terms",
     CGS("root = (1 - alpha ** t) ** 0.5", "root = (1 - alpha ** (t + 1)) ** 0.5"), "one too many"),
    ("test_constant_gradient_step", "method ignored: AdaGrad's answer for both",
     CGS('if method == "adagrad":', "if True:"), "that is AdaGrad's change"),
    ("test_constant_gradient_step", "Keras's default alpha=0.9",
     CGS("alpha=0.99", "alpha=0.9"), "alpha defaults to 0.9"),
]


test_every_mistake_loses_the_points, test_the_reference_answers_pass = catalogue_tests(NB, MISTAKES, 12)
