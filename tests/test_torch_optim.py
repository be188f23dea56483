"""FunctionalOptimizer(course_lib.solutions.optim.X) trains a real network exactly like torch.optim.X."""

import ast
import copy
import io
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.solutions import optim
from course_lib.torch_optim import FunctionalOptimizer

N_STEPS = 30


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread is fastest, and avoids thread contention on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_model_and_data(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 3)).to(dtype)
    X = torch.randn(48, 6, dtype=dtype)
    y = torch.randint(0, 3, (48,))
    return model, X, y


def train(model, opt, X, y, n_steps=N_STEPS, scheduler=None):
    """Full-batch training; returns the lr used at each step."""
    lrs = []
    for _ in range(n_steps):
        opt.zero_grad()
        F.cross_entropy(model(X), y).backward()
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if scheduler is not None:
            scheduler.step()
    return lrs


def assert_same_parameters(model_a, model_b, rtol, atol, what):
    for (name, a), b in zip(model_a.named_parameters(), model_b.parameters()):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol, msg=lambda m: f"{what}, {name}: {m}")


# (our update, its hyper-parameters, torch class, its arguments)
CASES = [
    ("sgd", optim.sgd_momentum, dict(lr=0.1, momentum=0.9), torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    ("sgd-damp-wd", optim.sgd_momentum, dict(lr=0.1, momentum=0.8, dampening=0.2, weight_decay=1e-2),
     torch.optim.SGD, dict(lr=0.1, momentum=0.8, dampening=0.2, weight_decay=1e-2)),
    ("nesterov", optim.sgd_momentum, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
     torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("gd_step", optim.gd_step, dict(lr=0.3), torch.optim.SGD, dict(lr=0.3)),
    ("adagrad", optim.adagrad, dict(lr=0.1, weight_decay=1e-2), torch.optim.Adagrad, dict(lr=0.1, weight_decay=1e-2)),
    ("rmsprop", optim.rmsprop, dict(lr=1e-2, alpha=0.9), torch.optim.RMSprop, dict(lr=1e-2, alpha=0.9)),
    ("rmsprop-mom", optim.rmsprop, dict(lr=1e-3, momentum=0.9, weight_decay=1e-2),
     torch.optim.RMSprop, dict(lr=1e-3, momentum=0.9, weight_decay=1e-2)),
    ("adam", optim.adam, dict(lr=1e-2, betas=(0.9, 0.99)), torch.optim.Adam, dict(lr=1e-2, betas=(0.9, 0.99))),
    ("adam-l2", optim.adam, dict(lr=1e-2, weight_decay=1e-2), torch.optim.Adam, dict(lr=1e-2, weight_decay=1e-2)),
    ("adamw", optim.adam, dict(lr=1e-2, weight_decay=0.1, decoupled=True), torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.1)),
]


@pytest.mark.parametrize("name, update, hyper, torch_cls, torch_kwargs", CASES, ids=[c[0] for c in CASES])
def test_trains_like_torch_float64(name, update, hyper, torch_cls, torch_kwargs):
    model, X, y = make_model_and_data()
    twin = copy.deepcopy(model)
    train(model, FunctionalOptimizer(model.parameters(), update, **hyper), X, y)
    train(twin, torch_cls(twin.parameters(), **torch_kwargs), X, y)
    assert_same_parameters(model, twin, rtol=1e-9, atol=1e-11, what=name)


@pytest.mark.parametrize("name, update, hyper, torch_cls, torch_kwargs", CASES[::2], ids=[c[0] for c in CASES[::2]])
def test_trains_like_torch_float32(name, update, hyper, torch_cls, torch_kwargs):
    model, X, y = make_model_and_data(torch.float32, seed=1)
    twin = copy.deepcopy(model)
    train(model, FunctionalOptimizer(model.parameters(), update, **hyper), X, y)
    train(twin, torch_cls(twin.parameters(), **torch_kwargs), X, y)
    assert_same_parameters(model, twin, rtol=1e-5, atol=1e-6, what=name)


def test_with_step_lr_scheduler():
    model, X, y = make_model_and_data()
    twin = copy.deepcopy(model)
    ours = FunctionalOptimizer(model.parameters(), optim.sgd_momentum, lr=0.2, momentum=0.9)
    theirs = torch.optim.SGD(twin.parameters(), lr=0.2, momentum=0.9)
    lrs_ours = train(model, ours, X, y, scheduler=torch.optim.lr_scheduler.StepLR(ours, step_size=7, gamma=0.5))
    lrs_theirs = train(twin, theirs, X, y, scheduler=torch.optim.lr_scheduler.StepLR(theirs, step_size=7, gamma=0.5))
    assert lrs_ours == lrs_theirs and lrs_ours[7] == 0.1
    assert_same_parameters(model, twin, rtol=1e-9, atol=1e-11, what="StepLR")


def test_with_cyclic_lr_that_cycles_momentum():
    # CyclicLR writes group["momentum"] and adds its own keys to the group; only the
    # hyper-parameters sgd_momentum takes may reach it
    model, X, y = make_model_and_data()
    twin = copy.deepcopy(model)
    ours = FunctionalOptimizer(model.parameters(), optim.sgd_momentum, lr=0.1, momentum=0.9)
    theirs = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)

    def cyc(o):
        return torch.optim.lr_scheduler.CyclicLR(o, base_lr=0.01, max_lr=0.2, step_size_up=5)

    train(model, ours, X, y, scheduler=cyc(ours))
    train(twin, theirs, X, y, scheduler=cyc(theirs))
    assert_same_parameters(model, twin, rtol=1e-9, atol=1e-11, what="CyclicLR")


def test_param_groups_with_their_own_hyper_parameters_and_a_frozen_layer():
    model, X, y = make_model_and_data()
    twin = copy.deepcopy(model)
    for m in (model, twin):
        m[2].bias.requires_grad_(False)  # never gets a gradient: must be left alone

    def groups(m):
        return [
            {"params": m[0].parameters(), "lr": 1e-3, "betas": (0.8, 0.9)},
            {"params": m[2].parameters(), "weight_decay": 0.1},
        ]

    ours = FunctionalOptimizer(groups(model), optim.adam, lr=1e-2, decoupled=True)
    theirs = torch.optim.AdamW(groups(twin), lr=1e-2, weight_decay=0.0)
    bias_before = model[2].bias.detach().clone()
    train(model, ours, X, y)
    train(twin, theirs, X, y)
    assert_same_parameters(model, twin, rtol=1e-9, atol=1e-11, what="param groups")
    assert torch.equal(model[2].bias, bias_before)
    assert model[2].bias not in ours.state or not ours.state[model[2].bias]


def test_named_parameters_and_closure():
    model, X, y = make_model_and_data()
    opt = FunctionalOptimizer(model.named_parameters(), optim.adam, lr=1e-2)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        return loss

    first = opt.step(closure).item()
    for _ in range(20):
        last = opt.step(closure).item()
    assert last < first


def test_state_dict_round_trip_resumes_exactly():
    model, X, y = make_model_and_data()
    reference = copy.deepcopy(model)
    ref_opt = FunctionalOptimizer(reference.parameters(), optim.adam, lr=1e-2, weight_decay=1e-3)
    train(reference, ref_opt, X, y, n_steps=20)

    opt = FunctionalOptimizer(model.parameters(), optim.adam, lr=1e-2, weight_decay=1e-3)
    train(model, opt, X, y, n_steps=10)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)

    resumed, _, _ = make_model_and_data(seed=123)  # different weights, overwritten below
    resumed.load_state_dict(saved["model"])
    new_opt = FunctionalOptimizer(resumed.parameters(), optim.adam, lr=0.5)  # lr comes from the state dict
    new_opt.load_state_dict(saved["opt"])
    assert new_opt.param_groups[0]["lr"] == 1e-2
    assert new_opt.state[next(resumed.parameters())]["step"] == 10
    train(resumed, new_opt, X, y, n_steps=10)
    assert_same_parameters(resumed, reference, rtol=0, atol=0, what="resumed run")


def test_a_students_own_functions_work():
    def my_momentum(w, grad, state, lr, momentum=0.9):  # returns a new state dict each time
        buf = grad.clone() if "momentum_buffer" not in state else momentum * state["momentum_buffer"] + grad
        return w - lr * buf, {"momentum_buffer": buf}

    def my_step(w, grad, lr):  # stateless: no `state` parameter
        return w - lr * grad

    for update, torch_kwargs in ((my_momentum, dict(momentum=0.9)), (my_step, {})):
        model, X, y = make_model_and_data()
        twin = copy.deepcopy(model)
        train(model, FunctionalOptimizer(model.parameters(), update, lr=0.05), X, y)
        train(twin, torch.optim.SGD(twin.parameters(), lr=0.05, **torch_kwargs), X, y)
        assert_same_parameters(model, twin, rtol=1e-9, atol=1e-11, what=update.__name__)


# ---------------------------------------------------------------------- clear errors


def _one_step(update, **hyper):
    model, X, y = make_model_and_data()
    opt = FunctionalOptimizer(model.parameters(), update, **hyper)
    F.cross_entropy(model(X), y).backward()
    opt.step()


def test_update_returning_the_wrong_shape_names_the_parameter():
    def summed(w, grad, state, lr):
        return (w - lr * grad).sum(), state

    with pytest.raises(TypeError, match=r"summed.*shape \(\).*parameter 0 of param group 0.*\(10, 6\)"):
        _one_step(summed, lr=0.1)


def test_update_returning_a_number_or_only_w():
    def scalar(w, grad, lr):
        return 0.5

    with pytest.raises(TypeError, match=r"scalar.*returned float 0.5 for parameter 0"):
        _one_step(scalar, lr=0.1)

    def forgot_state(w, grad, state, lr):
        return w - lr * grad

    with pytest.raises(TypeError, match=r"must return a pair \(w_new, state\)"):
        _one_step(forgot_state, lr=0.1)

    def tuple_from_stateless(w, grad, lr):
        return w - lr * grad, {}

    with pytest.raises(TypeError, match="should return only the new w"):
        _one_step(tuple_from_stateless, lr=0.1)

    def bad_state(w, grad, state, lr):
        return w - lr * grad, None

    with pytest.raises(TypeError, match="state must be a dict"):
        _one_step(bad_state, lr=0.1)


def test_construction_errors():
    model, _, _ = make_model_and_data()
    with pytest.raises(TypeError, match=r"no parameter\(s\) \['beta'\]"):
        FunctionalOptimizer(model.parameters(), optim.adam, lr=1e-3, beta=(0.9, 0.999))
    with pytest.raises(TypeError, match="must be a function"):
        FunctionalOptimizer(model.parameters(), "adam", lr=1e-3)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        FunctionalOptimizer(model.parameters(), optim.adam, lr=-1.0)
    opt = FunctionalOptimizer(model[0].parameters(), optim.sgd_momentum, lr=0.1)
    with pytest.raises(TypeError, match=r"no parameter\(s\) \['betas'\]"):
        opt.add_param_group({"params": model[2].parameters(), "betas": (0.9, 0.99)})


def test_support_module_does_not_import_solutions():
    # torch_optim ships to students; the reference solutions (course_lib.solutions.optim, ...) do not
    import course_lib
    import course_lib.torch_optim as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
    leaked = {m for m in imported if m == "course_lib.solutions" or m.startswith("course_lib.solutions.")}
    assert not leaked, f"course_lib/torch_optim.py imports solution modules {leaked}"
