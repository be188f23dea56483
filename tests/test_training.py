"""Tests of course_lib.training: the loop's bookkeeping against hand-made truths."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.training import HISTORY_KEYS, evaluate, train


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def blobs(n=120, seed=0):
    """Two well separated Gaussian clouds in 2-D, labels 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 2, generator=g) * 0.5 + (y[:, None] * 2 - 1) * torch.tensor([2.0, 2.0])
    return x, y


class Recorder(nn.Module):
    """A linear model that also records the first input column of every training batch."""

    def __init__(self, d=2, c=2):
        super().__init__()
        self.linear = nn.Linear(d, c)
        self.seen = []

    def forward(self, x):
        if self.training:
            self.seen.append(x[:, 0].detach().clone())
        return self.linear(x)


def test_loss_decreases_on_a_separable_problem():
    x, y = blobs()
    model = nn.Linear(2, 2)
    history = train(model, torch.optim.SGD(model.parameters(), lr=0.5), (x, y), epochs=5, val_data=(x, y), batch_size=16, progress=False)
    losses = history["epoch_train_loss"]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.1 * losses[0]
    assert history["val_acc"][-1] == 1.0
    assert np.mean(history["step_loss"][-5:]) < np.mean(history["step_loss"][:5])


def test_history_lengths_and_keys():
    x, y = blobs(100)
    model = nn.Linear(2, 2)
    history = train(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=3, val_data=(x[:30], y[:30]), batch_size=32, progress=False)
    assert tuple(history) == HISTORY_KEYS
    assert len(history["step_loss"]) == len(history["lr"]) == 3 * 4  # ceil(100 / 32) = 4 steps per epoch
    for key in ("epoch_train_loss", "val_loss", "val_acc", "epoch_time"):
        assert len(history[key]) == 3, key
    assert all(t >= 0 for t in history["epoch_time"])
    no_val = train(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2, batch_size=50, progress=False)
    assert no_val["val_loss"] == [] and no_val["val_acc"] == [] and len(no_val["step_loss"]) == 4


def test_every_example_once_per_epoch_and_seeded_shuffle():
    n, batch = 50, 16
    x = torch.stack([torch.arange(n, dtype=torch.float32), torch.zeros(n)], dim=1)
    y = torch.arange(n) % 2
    model = Recorder()
    train(model, torch.optim.SGD(model.parameters(), lr=0.0), (x, y), epochs=2, batch_size=batch, progress=False)
    sizes = [len(b) for b in model.seen]
    assert sizes == [16, 16, 16, 2] * 2  # the last partial batch is kept
    epoch1 = torch.cat(model.seen[:4]).long().tolist()
    epoch2 = torch.cat(model.seen[4:]).long().tolist()
    assert sorted(epoch1) == list(range(n)) and sorted(epoch2) == list(range(n))
    assert epoch1 != list(range(n)) and epoch1 != epoch2  # shuffled, differently each epoch
    again = Recorder()
    train(again, torch.optim.SGD(again.parameters(), lr=0.0), (x, y), epochs=2, batch_size=batch, progress=False)
    assert torch.cat(again.seen).tolist() == torch.cat(model.seen).tolist()
    other = Recorder()
    train(other, torch.optim.SGD(other.parameters(), lr=0.0), (x, y), epochs=1, batch_size=batch, progress=False, seed=1)
    assert torch.cat(other.seen).long().tolist() != epoch1


def test_matches_a_hand_written_loop_on_a_dataloader():
    x, y = blobs(40)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8, shuffle=False)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2))
    reference = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2))
    reference.load_state_dict(model.state_dict())
    history = train(model, torch.optim.Adam(model.parameters(), lr=0.05), loader, epochs=2, progress=False)
    opt = torch.optim.Adam(reference.parameters(), lr=0.05)
    expected = []
    for _ in range(2):
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(reference(xb), yb)
            loss.backward()
            opt.step()
            expected.append(loss.item())
    np.testing.assert_allclose(history["step_loss"], expected, rtol=1e-6)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)
    # the epoch loss is the size-weighted mean of its steps (all batches are 8 here)
    np.testing.assert_allclose(history["epoch_train_loss"], [np.mean(expected[:5]), np.mean(expected[5:])], rtol=1e-6)


def test_epoch_loss_weights_the_partial_batch():
    x, y = blobs(21)
    model = nn.Linear(2, 2)
    history = train(model, torch.optim.SGD(model.parameters(), lr=0.0), (x, y), epochs=1, batch_size=8, progress=False)
    # lr = 0: the model never changes, so the epoch mean is the full-data loss
    assert history["epoch_train_loss"][0] == pytest.approx(F.cross_entropy(model(x), y).item(), rel=1e-6)
    sizes = np.array([8, 8, 5])
    assert history["epoch_train_loss"][0] == pytest.approx(np.dot(history["step_loss"], sizes) / 21, rel=1e-6)


@pytest.mark.parametrize("max_steps, epochs, expected_epochs", [(5, 10, 2), (4, 10, 1), (3, 1, 1), (100, 2, 2)])
def test_max_steps_is_respected(max_steps, epochs, expected_epochs):
    x, y = blobs(64)
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    updates = []
    optimizer.register_step_post_hook(lambda opt, args, kwargs: updates.append(1))
    history = train(model, optimizer, (x, y), epochs=epochs, val_data=(x, y), batch_size=16, max_steps=max_steps, progress=False)
    steps = min(max_steps, epochs * 4)
    assert len(updates) == steps and len(history["step_loss"]) == steps and len(history["lr"]) == steps
    assert len(history["epoch_train_loss"]) == len(history["val_acc"]) == expected_epochs


@pytest.mark.parametrize(
    "make, closed_form",
    [
        (lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9), lambda t: 0.2 * 0.9**t),
        (lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5), lambda t: 0.2 * 0.5 ** (t // 3)),
        (lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=11), lambda t: 0.1 * (1 + math.cos(math.pi * t / 11))),
    ],
)
def test_recorded_lr_is_the_schedule_per_step(make, closed_form):
    x, y = blobs(40)
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    scheduler = make(optimizer)
    history = train(model, optimizer, (x, y), epochs=3, batch_size=10, scheduler=scheduler, progress=False)
    assert len(history["lr"]) == 12
    np.testing.assert_allclose(history["lr"], [closed_form(t) for t in range(12)], rtol=1e-9, atol=1e-12)
    # after 12 steps the optimizer holds the schedule's value at t = 12
    assert optimizer.param_groups[0]["lr"] == pytest.approx(closed_form(12), rel=1e-9, abs=1e-12)


def test_reduce_on_plateau_steps_once_per_epoch_with_the_validation_loss():
    x, y = blobs(20)
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0)
    # a loss that never changes: every epoch after the first is a plateau
    flat = lambda out, target: 0.0 * out.sum() + 1.0  # noqa: E731
    history = train(model, optimizer, (x, y), epochs=4, val_data=(x, y), loss_fn=flat, batch_size=10, scheduler=scheduler, progress=False)
    assert history["lr"] == [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert history["val_loss"] == [1.0] * 4


@pytest.mark.parametrize("batch_size", [7, 50, 1000])
def test_evaluate_matches_a_manual_computation(batch_size):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(50, 5, generator=g)
    y = torch.randint(0, 4, (50,), generator=g)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))
    model.train()
    train(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1, batch_size=10, progress=False)
    loss, acc = evaluate(model, (x, y), batch_size=batch_size)
    assert model.training  # the mode is restored
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert acc == pytest.approx((logits.argmax(1) == y).float().mean().item())
    # NumPy arrays and a DataLoader give the same answer
    assert evaluate(model, (x.numpy(), y.numpy()), batch_size=batch_size) == pytest.approx((loss, acc), rel=1e-5)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch_size)
    assert evaluate(model, loader) == pytest.approx((loss, acc), rel=1e-5)


def test_evaluate_binary_logit_and_regression():
    x = torch.tensor([[1.0], [-2.0], [3.0], [-0.5]])
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.fill_(0.0)
    y = torch.tensor([1, 0, 0, 0])
    bce = lambda out, target: F.binary_cross_entropy_with_logits(out.squeeze(1), target.float())  # noqa: E731
    loss, acc = evaluate(model, (x, y), loss_fn=bce)
    assert acc == 0.75
    expected = np.mean([math.log1p(math.exp(-1.0)), math.log1p(math.exp(-2.0)), math.log1p(math.exp(3.0)), math.log1p(math.exp(-0.5))])
    assert loss == pytest.approx(expected, rel=1e-6)
    mse = lambda out, target: F.mse_loss(out.squeeze(1), target)  # noqa: E731
    loss, acc = evaluate(model, (x, torch.zeros(4)), loss_fn=mse, batch_size=3)
    assert loss == pytest.approx((1 + 4 + 9 + 0.25) / 4) and math.isnan(acc)


def test_numpy_inputs_and_regression_training():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0))
    history = train(model, torch.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=20, loss_fn=F.mse_loss, batch_size=16, progress=False)
    assert history["epoch_train_loss"][-1] < 1e-3 * history["epoch_train_loss"][0]


def test_divergence_stops_training_with_one_sentence(capsys):
    x, y = blobs(200)
    model = nn.Linear(2, 2)
    exploding = lambda out, target: F.cross_entropy(out, target) * float("inf")  # noqa: E731
    history = train(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=5, loss_fn=exploding, batch_size=4, progress=False)
    assert len(history["step_loss"]) == 10  # stopped at the first check, after 10 steps
    assert len(history["epoch_train_loss"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "Training stopped after step 10" in out[0] and "learning rate" in out[0]


def test_progress_bar_runs(capsys):
    x, y = blobs(30)
    model = nn.Linear(2, 2)
    history = train(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2, val_data=(x, y), batch_size=2, progress=True)
    assert len(history["step_loss"]) == 30
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "loss=" in err


def test_bad_arguments_are_explained():
    x, y = blobs(10)
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="one target per row"):
        train(model, opt, (x, y[:5]), progress=False)
    with pytest.raises(ValueError, match="epochs"):
        train(model, opt, (x, y), epochs=0, progress=False)
    with pytest.raises(ValueError, match="max_steps"):
        train(model, opt, (x, y), max_steps=0, progress=False)
    with pytest.raises(TypeError, match="train_data"):
        train(model, opt, x, progress=False)
    with pytest.raises(TypeError, match="optimizer"):
        train(model, "sgd", (x, y), progress=False)
    with pytest.raises(TypeError, match="tensor or a NumPy array"):
        train(model, opt, ([[0.0, 1.0]], [0]), progress=False)
