"""course_lib.solutions.optim against torch.optim, step for step, plus hand-computed first steps and input checks.

Each optimizer runs >= 50 steps on a noisy, ill-conditioned problem whose gradient depends on
the current iterate, so any difference in the rule changes the whole trajectory. torch runs
the same problem in float64 and is the truth.
"""

import zlib

import numpy as np
import pytest
import torch

from course_lib.solutions import optim

N_STEPS = 60
RTOL, ATOL = 1e-10, 1e-12

SHAPES = [(7,), (3, 4), (2, 3, 2)]


def make_problem(shape, seed):
    """Start point and a gradient function g_t(w) = h * (w - c) + 0.3 * sin(w) + noise_t."""
    rng = np.random.default_rng(seed)
    w0 = rng.normal(size=shape)
    h = np.exp(rng.uniform(-2.0, 2.0, size=shape))  # curvatures from 0.14 to 7.4
    c = rng.normal(size=shape)
    noise = rng.normal(scale=0.5, size=(N_STEPS,) + tuple(shape))

    def grad(w, t):
        return h * (w - c) + 0.3 * np.sin(w) + noise[t]

    return w0, grad


def run_torch(torch_cls, kwargs, w0, grad, dtype=torch.float64):
    """Iterates (after each step) and the final state of a real torch optimizer."""
    p = torch.tensor(w0, dtype=dtype, requires_grad=True)
    opt = torch_cls([p], **kwargs)
    path = []
    for t in range(N_STEPS):
        p.grad = torch.tensor(grad(p.detach().double().numpy(), t), dtype=dtype)
        opt.step()
        path.append(p.detach().clone())
    return path, opt.state[p]


def run_ours(fn, kwargs, w0, grad, as_torch=None):
    """Our iterates; with as_torch=dtype the arrays are torch tensors of that dtype."""
    w = w0 if as_torch is None else torch.tensor(w0, dtype=as_torch)
    state = {}
    path = []
    for t in range(N_STEPS):
        g_np = grad(np.asarray(w, dtype=float) if as_torch is None else w.double().numpy(), t)
        g = g_np if as_torch is None else torch.tensor(g_np, dtype=as_torch)
        w, state = fn(w, g, state, **kwargs)
        path.append(w)
    return path, state


def assert_paths_equal(ours, theirs, rtol=RTOL, atol=ATOL, what=""):
    assert len(ours) == len(theirs)
    for t, (a, b) in enumerate(zip(ours, theirs)):
        a = a.detach().double().numpy() if isinstance(a, torch.Tensor) else a
        b = b.detach().double().numpy() if isinstance(b, torch.Tensor) else b
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{what}: iterate after step {t + 1} differs")


# (our function, our kwargs, torch class, torch kwargs, state keys to compare with torch's)
SGD_CASES = [
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.01),
    dict(lr=0.02, momentum=0.9, nesterov=True),
    dict(lr=0.02, momentum=0.99, nesterov=True, weight_decay=1e-3),
    dict(lr=0.1, momentum=0.0, weight_decay=0.1),
]
ADAGRAD_CASES = [
    dict(lr=0.1),
    dict(lr=0.5, eps=1e-6, weight_decay=0.05),
    dict(lr=1.0, eps=0.1),
]
RMSPROP_CASES = [
    dict(lr=0.01),
    dict(lr=0.005, alpha=0.9, eps=1e-6, weight_decay=0.01),
    dict(lr=0.001, alpha=0.5, momentum=0.9),
    dict(lr=0.01, momentum=0.5, weight_decay=0.1, eps=1e-3),
]
ADAM_CASES = [
    dict(lr=0.01),
    dict(lr=0.05, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.01),
    dict(lr=0.001, betas=(0.0, 0.99)),
    dict(lr=0.1, betas=(0.95, 0.9999), weight_decay=0.1),
    dict(lr=0.01, weight_decay=0.01, decoupled=True),
    dict(lr=0.05, betas=(0.8, 0.95), eps=1e-4, weight_decay=0.1, decoupled=True),
    dict(lr=0.01, decoupled=True),  # AdamW without decay is Adam
]


def _torch_side(fn, kwargs):
    kwargs = dict(kwargs)
    if fn is optim.sgd_momentum:
        kwargs.setdefault("momentum", 0.9)  # our default; torch's is 0
        return torch.optim.SGD, kwargs, ["momentum_buffer"] if kwargs["momentum"] else []
    if fn is optim.adagrad:
        return torch.optim.Adagrad, kwargs, ["step", "sum"]
    if fn is optim.rmsprop:
        keys = ["step", "square_avg"] + (["momentum_buffer"] if kwargs.get("momentum", 0) > 0 else [])
        return torch.optim.RMSprop, kwargs, keys
    if fn is optim.adam:
        decoupled = kwargs.pop("decoupled", False)
        kwargs.setdefault("weight_decay", 0.0)  # AdamW's default would be 1e-2
        return (torch.optim.AdamW if decoupled else torch.optim.Adam), kwargs, ["step", "exp_avg", "exp_avg_sq"]
    raise AssertionError(fn)


ALL_CASES = (
    [(optim.sgd_momentum, c) for c in SGD_CASES]
    + [(optim.adagrad, c) for c in ADAGRAD_CASES]
    + [(optim.rmsprop, c) for c in RMSPROP_CASES]
    + [(optim.adam, c) for c in ADAM_CASES]
)
CASE_IDS = [f"{fn.__name__}-{i}" for i, (fn, _) in enumerate(ALL_CASES)]


@pytest.mark.parametrize("fn, kwargs", ALL_CASES, ids=CASE_IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_numpy_float64_matches_torch(fn, kwargs, shape):
    w0, grad = make_problem(shape, seed=zlib.crc32(f"{fn.__name__}{kwargs}{shape}".encode()))
    torch_cls, torch_kwargs, keys = _torch_side(fn, kwargs)
    theirs, their_state = run_torch(torch_cls, torch_kwargs, w0, grad)
    ours, our_state = run_ours(fn, kwargs, w0, grad)
    assert all(isinstance(w, np.ndarray) and w.dtype == np.float64 and w.shape == shape for w in ours)
    assert_paths_equal(ours, theirs, what=f"{fn.__name__}({kwargs})")
    # the state holds the same quantities as torch's, under the same names
    for key in keys:
        ref = their_state[key]
        ref = float(ref) if key == "step" else ref.numpy()
        np.testing.assert_allclose(our_state[key], ref, rtol=1e-9, atol=1e-12, err_msg=f"state[{key!r}]")


@pytest.mark.parametrize("fn, kwargs", ALL_CASES, ids=CASE_IDS)
def test_torch_float64_inputs_match_torch(fn, kwargs):
    w0, grad = make_problem((4, 3), seed=7)
    torch_cls, torch_kwargs, _ = _torch_side(fn, kwargs)
    theirs, _ = run_torch(torch_cls, torch_kwargs, w0, grad)
    ours, _ = run_ours(fn, kwargs, w0, grad, as_torch=torch.float64)
    assert all(isinstance(w, torch.Tensor) and w.dtype == torch.float64 for w in ours)
    assert_paths_equal(ours, theirs, what=f"{fn.__name__}({kwargs}) on tensors")


@pytest.mark.parametrize("fn, kwargs", ALL_CASES[::3], ids=CASE_IDS[::3])
def test_torch_float32_inputs_stay_float32_and_match(fn, kwargs):
    w0, grad = make_problem((5,), seed=11)
    torch_cls, torch_kwargs, _ = _torch_side(fn, kwargs)
    theirs, _ = run_torch(torch_cls, torch_kwargs, w0, grad, dtype=torch.float32)
    ours, _ = run_ours(fn, kwargs, w0, grad, as_torch=torch.float32)
    assert all(w.dtype == torch.float32 for w in ours)
    assert_paths_equal(ours, theirs, rtol=1e-4, atol=1e-5, what=f"{fn.__name__} float32")


@pytest.mark.parametrize("lr", [0.0, 0.1, 0.7])
def test_gd_step_matches_torch_sgd(lr):
    w0, grad = make_problem((3, 5), seed=3)
    theirs, _ = run_torch(torch.optim.SGD, dict(lr=lr), w0, grad)
    w, ours = w0, []
    for t in range(N_STEPS):
        w = optim.gd_step(w, grad(w, t), lr)
        ours.append(w)
    assert_paths_equal(ours, theirs, what="gd_step")
    # tensors and lists too
    wt = optim.gd_step(torch.tensor(w0), torch.tensor(grad(w0, 0)), lr)
    assert isinstance(wt, torch.Tensor)
    np.testing.assert_allclose(wt.numpy(), w0 - lr * grad(w0, 0), rtol=1e-15)
    np.testing.assert_allclose(optim.gd_step([1.0, 2.0], [0.5, -1.0], lr), [1 - 0.5 * lr, 2 + lr], rtol=1e-15)


# ---------------------------------------------------------------------- hand-computed steps


def test_sgd_first_buffer_is_the_raw_gradient_without_dampening():
    # momentum 0.9, dampening 0.5, lr 1, constant gradient 1 from w = 0:
    # b1 = 1 (not 0.5), w1 = -1; b2 = 0.9 * 1 + 0.5 * 1 = 1.4, w2 = -2.4
    w, state = optim.sgd_momentum(np.zeros(2), np.ones(2), {}, lr=1.0, momentum=0.9, dampening=0.5)
    np.testing.assert_allclose(w, [-1.0, -1.0])
    np.testing.assert_allclose(state["momentum_buffer"], [1.0, 1.0])
    w, state = optim.sgd_momentum(w, np.ones(2), state, lr=1.0, momentum=0.9, dampening=0.5)
    np.testing.assert_allclose(w, [-2.4, -2.4])


def test_sgd_nesterov_by_hand():
    # w0 = 1, g = w (a bowl), lr 0.1, mu 0.5:
    # t=1: g=1, b=1, d = 1 + 0.5 = 1.5, w = 0.85
    # t=2: g=0.85, b = 0.5 + 0.85 = 1.35, d = 0.85 + 0.675 = 1.525, w = 0.85 - 0.1525 = 0.6975
    w, s = np.array([1.0]), {}
    for _ in range(2):
        w, s = optim.sgd_momentum(w, w.copy(), s, lr=0.1, momentum=0.5, nesterov=True)
    np.testing.assert_allclose(w, [0.6975], rtol=1e-14)


@pytest.mark.parametrize("g", [np.array([3.0, -0.2, 1e-3]), np.array([-50.0, 7.0, 0.5])])
def test_first_steps_by_hand(g):
    w = np.array([1.0, -2.0, 0.5])
    lr, eps = 0.1, 1e-8
    # Adam, t = 1: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps) ~ lr * sign(g)
    w1, _ = optim.adam(w, g, {}, lr=lr, eps=eps)
    np.testing.assert_allclose(w1, w - lr * g / (np.abs(g) + eps), rtol=1e-12)
    # AdaGrad, t = 1: sum = g^2
    w1, _ = optim.adagrad(w, g, {}, lr=lr, eps=eps)
    np.testing.assert_allclose(w1, w - lr * g / (np.abs(g) + eps), rtol=1e-12)
    # RMSprop, t = 1: v = (1 - alpha) g^2, no bias correction
    w1, _ = optim.rmsprop(w, g, {}, lr=lr, alpha=0.9, eps=eps)
    np.testing.assert_allclose(w1, w - lr * g / (np.sqrt(0.1) * np.abs(g) + eps), rtol=1e-12)
    # AdamW, t = 1: decay the weights first, then the sign-like step
    w1, _ = optim.adam(w, g, {}, lr=lr, eps=eps, weight_decay=0.5, decoupled=True)
    np.testing.assert_allclose(w1, w * (1 - lr * 0.5) - lr * g / (np.abs(g) + eps), rtol=1e-12)
    # Adam with L2: the decay enters the gradient, so the first step is still ~ lr * sign(g + wd w)
    g_l2 = g + 0.5 * w
    w1, _ = optim.adam(w, g, {}, lr=lr, eps=eps, weight_decay=0.5)
    np.testing.assert_allclose(w1, w - lr * g_l2 / (np.abs(g_l2) + eps), rtol=1e-12)


def test_adam_step_counter_is_incremented_before_bias_correction():
    # constant gradient: m_t = (1 - b1^t) g and v_t = (1 - b2^t) g^2, so with correction every
    # step is exactly lr * g / (|g| + eps), at every t (an off-by-one would break this at t = 1)
    w, s = np.zeros(3), {}
    g = np.array([2.0, -1.0, 0.25])
    for t in range(1, 6):
        w_new, s = optim.adam(w, g, s, lr=0.01, betas=(0.8, 0.9), eps=0.0)
        np.testing.assert_allclose(w_new - w, -0.01 * np.sign(g), rtol=1e-12)
        assert s["step"] == t
        w = w_new


# ---------------------------------------------------------------------- state and purity


EXPECTED_KEYS = {
    "sgd_momentum": {"momentum_buffer"},
    "adagrad": {"step", "sum"},
    "rmsprop": {"step", "square_avg"},
    "adam": {"step", "exp_avg", "exp_avg_sq"},
}
STATEFUL = [optim.sgd_momentum, optim.adagrad, optim.rmsprop, optim.adam]


def _snapshot(a):
    """A NumPy copy of an array or tensor."""
    return a.detach().numpy().copy() if isinstance(a, torch.Tensor) else np.array(a, copy=True)


def _lr(fn):
    return {"lr": 0.1} if fn is optim.sgd_momentum else {}


@pytest.mark.parametrize("fn", STATEFUL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_state_starts_empty_is_returned_and_inputs_are_not_modified(fn, kind):
    rng = np.random.default_rng(0)
    conv = (lambda a: torch.tensor(a)) if kind == "torch" else (lambda a: a)
    w, g1, g2 = (conv(rng.normal(size=(3, 2))) for _ in range(3))
    w_copy, g1_copy, g2_copy = (_snapshot(a) for a in (w, g1, g2))

    state = {}
    w1, returned = fn(w, g1, state, weight_decay=0.1, **_lr(fn))
    assert returned is state
    assert set(state) == EXPECTED_KEYS[fn.__name__]
    assert w1 is not w
    np.testing.assert_array_equal(_snapshot(w), w_copy)
    np.testing.assert_array_equal(_snapshot(g1), g1_copy)

    # the second call must not change the arrays held in the old state in place
    held = {k: v for k, v in state.items() if k != "step"}
    held_copy = {k: _snapshot(v) for k, v in held.items()}
    w1_copy = _snapshot(w1)
    w2, state = fn(w1, g2, state, weight_decay=0.1, **_lr(fn))
    for k, v in held.items():
        np.testing.assert_array_equal(_snapshot(v), held_copy[k], err_msg=f"state[{k!r}] was modified in place")
    np.testing.assert_array_equal(_snapshot(w1), w1_copy)
    np.testing.assert_array_equal(_snapshot(g2), g2_copy)
    assert not np.allclose(_snapshot(w2), w1_copy)


def test_gd_step_does_not_modify_inputs():
    w, g = np.array([1.0, 2.0]), np.array([0.5, 0.5])
    out = optim.gd_step(w, g, 0.1)
    assert out is not w
    np.testing.assert_array_equal(w, [1.0, 2.0])
    np.testing.assert_array_equal(g, [0.5, 0.5])


def test_state_of_the_torch_run_can_be_resumed_from_a_copy():
    # the state is a plain dict: copying it and going on gives the same as not stopping
    w0, grad = make_problem((4,), seed=5)
    w, s = w0, {}
    for t in range(10):
        w, s = optim.adam(w, grad(w, t), s, lr=0.01)
    w_a, s_a = optim.adam(w, grad(w, 10), dict(s), lr=0.01)
    w_b, s_b = optim.adam(w, grad(w, 10), s, lr=0.01)
    np.testing.assert_array_equal(w_a, w_b)


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: optim.sgd_momentum(np.ones(2), np.ones(2), {}, lr=0.1, momentum=0.0, nesterov=True), "nesterov"),
        (lambda: optim.sgd_momentum(np.ones(2), np.ones(2), {}, lr=0.1, dampening=0.1, nesterov=True), "nesterov"),
        (lambda: optim.sgd_momentum(np.ones(2), np.ones(2), {}, lr=-0.1), "lr"),
        (lambda: optim.sgd_momentum(np.ones(2), np.ones(2), {}, lr=0.1, momentum=-0.5), "momentum"),
        (lambda: optim.gd_step(np.ones(2), np.ones(2), -1.0), "lr"),
        (lambda: optim.gd_step(np.ones(2), np.ones(2), float("nan")), "lr"),
        (lambda: optim.adagrad(np.ones(2), np.ones(2), {}, lr=-1e-2), "lr"),
        (lambda: optim.adagrad(np.ones(2), np.ones(2), {}, eps=-1.0), "eps"),
        (lambda: optim.rmsprop(np.ones(2), np.ones(2), {}, alpha=1.0), "alpha"),
        (lambda: optim.rmsprop(np.ones(2), np.ones(2), {}, weight_decay=-0.1), "weight_decay"),
        (lambda: optim.adam(np.ones(2), np.ones(2), {}, betas=(1.0, 0.999)), "beta1"),
        (lambda: optim.adam(np.ones(2), np.ones(2), {}, betas=(0.9, -0.1)), "beta2"),
        (lambda: optim.adam(np.ones(2), np.ones(2), {}, betas=0.9), "pair"),
        (lambda: optim.adam(np.ones(2), np.ones(2), {}, lr=-1e-3), "lr"),
        # wrong shapes
        (lambda: optim.gd_step(np.ones(3), np.ones(2), 0.1), r"shape \(2,\).*shape \(3,\)"),
        (lambda: optim.adam(np.ones((2, 2)), np.ones(4), {}), "shape"),
        # incomplete or mismatched state
        (lambda: optim.adam(np.ones(2), np.ones(2), {"step": 3}), "missing"),
        (lambda: optim.adagrad(np.ones(2), np.ones(2), {"step": 1, "sum": np.ones(3)}), r"state\['sum'\]"),
        (lambda: optim.sgd_momentum(np.ones(2), np.ones(2), {"other": 1}, lr=0.1), "missing"),
    ],
)
def test_bad_values_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("fn", STATEFUL, ids=lambda f: f.__name__)
def test_bad_types_raise_type_error(fn):
    with pytest.raises(TypeError, match="state must be a dict"):
        fn(np.ones(2), np.ones(2), None, **_lr(fn))
    with pytest.raises(TypeError, match="same kind"):
        fn(np.ones(2), torch.ones(2, dtype=torch.float64), {}, **_lr(fn))


# ---------------------------------------------------------------------- predictions (05, 06)


def _torch_last_change(cls, g, n_steps, **kwargs):
    """w_t - w_(t-1) of a real torch optimizer fed the gradient ``g`` at each of ``n_steps`` steps."""
    p = torch.zeros(np.shape(g), dtype=torch.float64, requires_grad=True)
    opt = cls([p], **kwargs)
    for _ in range(n_steps):
        before = p.detach().clone()
        p.grad = torch.tensor(np.asarray(g, dtype=float))
        opt.step()
    return (p.detach() - before).numpy()


@pytest.mark.parametrize("seed", range(6))
def test_constant_gradient_step_matches_torch(seed):
    rng = np.random.default_rng(1300 + seed)
    g = rng.normal(size=(3, 2)) * rng.uniform(0.01, 10.0)
    g[0, 0] = 0.0
    t = int(rng.integers(1, 200))
    lr, eps, alpha = float(rng.uniform(1e-3, 1.0)), float(rng.choice([1e-10, 1e-6, 0.3])), float(rng.uniform(0.0, 0.999))
    np.testing.assert_allclose(optim.constant_gradient_step("adagrad", g, t, lr, eps),
                               _torch_last_change(torch.optim.Adagrad, g, t, lr=lr, eps=eps), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(optim.constant_gradient_step("rmsprop", g, t, lr, eps, alpha=alpha),
                               _torch_last_change(torch.optim.RMSprop, g, t, lr=lr, alpha=alpha, eps=eps), rtol=1e-9, atol=1e-15)


def test_constant_gradient_step_on_a_number_and_for_large_t():
    assert np.shape(optim.constant_gradient_step("rmsprop", 2.0, 1, 0.01, 1e-8)) == ()
    # AdaGrad's t-th step is 1/sqrt(t) of its first (eps = 0); RMSProp's tends to lr against the sign of g
    first = optim.constant_gradient_step("adagrad", 3.0, 1, 0.1, 0.0)
    assert np.isclose(optim.constant_gradient_step("adagrad", 3.0, 10**8, 0.1, 0.0), first / 1e4, rtol=1e-12)
    assert np.isclose(optim.constant_gradient_step("rmsprop", -3.0, 10**9, 0.1, 0.0), 0.1, rtol=1e-12)
    assert np.isclose(optim.constant_gradient_step("rmsprop", -3.0, 1, 0.1, 0.0, alpha=0.99), 1.0, rtol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_first_adam_step_is_torch_adam_without_bias_correction(seed):
    # Adam without the hats is torch's Adam with a schedule: step t's lr times (1 - b1**t) / sqrt(1 - b2**t), and eps
    # scaled so that it stays outside the root of the *raw* v: eps_corrected = eps / sqrt(1 - b2) on step 1.
    rng = np.random.default_rng(1400 + seed)
    g = rng.normal(size=5) * rng.uniform(0.01, 10.0)
    g[1] = 0.0
    lr, b1, b2 = float(rng.uniform(1e-3, 1.0)), float(rng.uniform(0.0, 0.99)), float(rng.uniform(0.5, 0.9999))
    eps = float(rng.choice([1e-8, 1e-3, 0.5]))
    q = (1 - b1) / (1 - b2) ** 0.5
    truth = _torch_last_change(torch.optim.Adam, g, 1, lr=lr * q, betas=(b1, b2), eps=eps / (1 - b2) ** 0.5)
    np.testing.assert_allclose(optim.first_adam_step(g, lr, b1, b2, eps), truth, rtol=1e-9, atol=1e-15)
    # with the hats it would be torch.optim.Adam's own first step
    corrected = _torch_last_change(torch.optim.Adam, g, 1, lr=lr, betas=(b1, b2), eps=eps)
    assert np.all(np.sign(optim.first_adam_step(g, lr, b1, b2, eps)) == np.sign(corrected))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: optim.constant_gradient_step("adam", 1.0, 3, 0.1, 1e-8), "method"),
        (lambda: optim.constant_gradient_step("adagrad", 1.0, 0, 0.1, 1e-8), "t must be"),
        (lambda: optim.constant_gradient_step("adagrad", 1.0, 2.5, 0.1, 1e-8), "t must be"),
        (lambda: optim.constant_gradient_step("rmsprop", 1.0, 3, 0.1, 1e-8, alpha=1.0), "alpha"),
        (lambda: optim.constant_gradient_step("rmsprop", 1.0, 3, -0.1, 1e-8), "lr"),
        (lambda: optim.first_adam_step(1.0, 0.1, 1.0, 0.999, 1e-8), "beta1"),
        (lambda: optim.first_adam_step(1.0, 0.1, 0.9, 0.999, -1.0), "eps"),
    ],
)
def test_predictions_reject_bad_values(call, match):
    with pytest.raises(ValueError, match=match):
        call()
