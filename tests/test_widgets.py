"""course_lib.widgets: explorers call the user's function again when a control moves,
with the new values, draw functions give figures, and nothing is drawn while grading."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_lib import runtime  # noqa: E402
from course_lib.landscapes import LANDSCAPES  # noqa: E402
from course_lib.widgets import (  # noqa: E402
    Explorer,
    compare_explorer,
    ewma_explorer,
    make_control,
    optimizer_explorer,
)

FAST = dict(figsize=(4, 2), dpi=20)  # small PNGs keep the redraws quick


@pytest.fixture(autouse=True)
def not_grading(monkeypatch):
    monkeypatch.delenv(runtime.GRADING_ENV, raising=False)


class Recorder:
    """A tiny 'optimizer': a few steps of plain GD, recording every call's arguments."""

    def __init__(self):
        self.calls = []

    def __call__(self, landscape, start, n_steps, lr):
        self.calls.append({"start": np.array(start), "n_steps": n_steps, "lr": lr})
        path = [np.array(start, dtype=float)]
        for _ in range(n_steps):
            path.append(path[-1] - lr * landscape.grad(path[-1]))
        return np.array(path)


def legend_labels(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_optimizer_explorer_reruns_on_every_change():
    land = LANDSCAPES["quadratic"]
    run = Recorder()
    ex = optimizer_explorer(land, run, {"lr": (0.001, 0.12, 0.001, 0.05)}, n_steps=7, **FAST)
    assert isinstance(ex, ipywidgets.Widget) and isinstance(ex, Explorer)
    assert set(ex.controls) == {"lr", "x0", "y0"}
    assert len(run.calls) == 1  # drawn once when built
    first = run.calls[0]
    assert first["lr"] == 0.05 and first["n_steps"] == 7
    np.testing.assert_array_equal(first["start"], land.default_start)

    ex.controls["lr"].value = 0.09
    assert len(run.calls) == 2 and run.calls[-1]["lr"] == pytest.approx(0.09)

    ex.controls["x0"].value = 2.0
    ex.controls["y0"].value = -1.0
    assert len(run.calls) == 4
    np.testing.assert_allclose(run.calls[-1]["start"], [2.0, -1.0])
    assert run.calls[-1]["lr"] == pytest.approx(0.09)
    assert ex.values == pytest.approx({"lr": 0.09, "x0": 2.0, "y0": -1.0})


def test_start_sliders_stay_inside_the_bounds():
    land = LANDSCAPES["rosenbrock"]
    ex = optimizer_explorer(land, Recorder(), {"lr": (1e-4, 3e-3, 1e-4, 1e-3)}, n_steps=3, **FAST)
    (xlo, xhi), (ylo, yhi) = land.bounds
    assert (ex.controls["x0"].min, ex.controls["x0"].max) == (xlo, xhi)
    assert (ex.controls["y0"].min, ex.controls["y0"].max) == (ylo, yhi)
    assert ex.controls["x0"].value == land.default_start[0]


def test_draw_gives_a_figure_for_given_values():
    land = LANDSCAPES["two_wells"]
    run = Recorder()
    ex = optimizer_explorer(land, run, {"lr": (0.01, 0.5, 0.01, 0.1)}, n_steps=5, label="GD", **FAST)
    fig = ex.draw(lr=0.3, x0=1.0, y0=0.5)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert run.calls[-1]["lr"] == 0.3
    np.testing.assert_allclose(run.calls[-1]["start"], [1.0, 0.5])
    assert legend_labels(fig) == ["GD"]
    assert "lr=0.3" in fig.axes[0].get_title()
    assert ex.controls["lr"].value == 0.1  # draw() does not move the sliders
    with pytest.raises(TypeError, match="unknown"):
        ex.draw(learning_rate=0.3)


def test_fixed_start_without_start_sliders():
    land = LANDSCAPES["saddle"]
    run = Recorder()
    ex = optimizer_explorer(land, run, {"lr": (0.01, 0.5, 0.01, 0.1)}, n_steps=4, start=(1.0, 0.25),
                            start_sliders=False, **FAST)
    assert set(ex.controls) == {"lr"}
    ex.controls["lr"].value = 0.2
    for call in run.calls:
        np.testing.assert_array_equal(call["start"], [1.0, 0.25])


def test_the_run_can_change_its_start_array_safely():
    land = LANDSCAPES["quadratic"]
    starts = []

    def in_place(landscape, start, n_steps, lr):
        starts.append(start.copy())
        start -= 1.0  # a careless user function
        return np.stack([start, start])

    ex = optimizer_explorer(land, in_place, {"lr": (0.01, 0.5, 0.01, 0.1)}, start_sliders=False, **FAST)
    ex.controls["lr"].value = 0.2
    np.testing.assert_array_equal(starts[0], starts[1])


def test_widget_sliders_and_int_sliders():
    land = LANDSCAPES["quadratic"]
    seen = []

    def run(landscape, start, n_steps, lr, k):
        seen.append((lr, k))
        return np.tile(start, (k, 1))

    log_lr = ipywidgets.FloatLogSlider(value=1e-2, base=10, min=-4, max=0)
    ex = optimizer_explorer(land, run, {"lr": log_lr, "k": (1, 10, 1, 3)}, **FAST)
    assert ex.controls["lr"] is log_lr
    assert isinstance(ex.controls["k"], ipywidgets.IntSlider)
    log_lr.value = 0.1
    ex.controls["k"].value = 5
    assert seen == [(1e-2, 3), (0.1, 3), (0.1, 5)]


def test_compare_explorer_gives_each_run_its_own_values():
    land = LANDSCAPES["rosenbrock"]
    calls = {"gd": [], "other": []}

    def gd(landscape, start, n_steps, lr_gd):
        calls["gd"].append(lr_gd)
        return np.stack([start] * (n_steps + 1))

    def other(landscape, start, n_steps, **values):
        calls["other"].append(values)
        return np.stack([start] * (n_steps + 1))

    sliders = {"lr_gd": (0.001, 0.01, 0.001, 0.002), "beta": (0.0, 0.99, 0.01, 0.9)}
    ex = compare_explorer(land, {"GD": gd, "Other": other}, sliders, n_steps=3, **FAST)
    ex.controls["beta"].value = 0.5
    assert calls["gd"] == [0.002, 0.002]
    assert [c["beta"] for c in calls["other"]] == [0.9, 0.5]
    assert set(calls["other"][0]) == {"lr_gd", "beta"}  # **kwargs gets everything
    assert legend_labels(ex.draw()) == ["GD", "Other"]


def test_bad_specs_raise_clear_errors():
    land = LANDSCAPES["quadratic"]
    run = Recorder()
    with pytest.raises(ValueError, match="min <= value <= max"):
        optimizer_explorer(land, run, {"lr": (0.1, 0.01, 0.01, 0.05)})
    with pytest.raises(TypeError, match=r"\(min, max, step, value\)"):
        optimizer_explorer(land, run, {"lr": (0.1, 0.2)})
    with pytest.raises(ValueError, match="reserved"):
        optimizer_explorer(land, run, {"n_steps": (1, 10, 1, 5)})
    with pytest.raises(ValueError, match="accepts the slider 'eta'"):
        optimizer_explorer(land, run, {"eta": (0.01, 0.1, 0.01, 0.05)})
    with pytest.raises(TypeError, match="run"):
        optimizer_explorer(land, "gd", {"lr": (0.01, 0.1, 0.01, 0.05)})
    with pytest.raises(TypeError):
        make_control("lr", "fast")
    assert run.calls == []

    def wrong_shape(landscape, start, n_steps, lr):
        return np.zeros((n_steps, 3))

    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        optimizer_explorer(land, wrong_shape, {"lr": (0.01, 0.1, 0.01, 0.05)}, **FAST)


def test_torch_paths_are_accepted():
    torch = pytest.importorskip("torch")
    land = LANDSCAPES["quadratic"]

    def torch_gd(landscape, start, n_steps, lr):
        w = torch.tensor(start, requires_grad=True)
        path = [w.detach().clone()]
        for _ in range(n_steps):
            (g,) = torch.autograd.grad(landscape.f(w), w)
            with torch.no_grad():
                w -= lr * g
            path.append(w.detach().clone())
        return torch.stack(path)  # a tensor, not an array

    ex = optimizer_explorer(land, torch_gd, {"lr": (0.01, 0.1, 0.01, 0.05)}, n_steps=4, **FAST)
    fig = ex.draw(lr=0.04, x0=1.0, y0=1.0)
    line = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "torch_gd"][0]
    expected = [[1.0, 1.0]]
    for _ in range(4):  # GD on 0.5 (x^2 + 20 y^2) by hand
        x, y = expected[-1]
        expected.append([x - 0.04 * x, y - 0.04 * 20 * y])
    np.testing.assert_allclose(line.get_xydata(), expected, rtol=1e-12)


def ewma_by_hand(x, beta, bias_correction=False):
    v, out = 0.0, []
    for t, xt in enumerate(x):
        v = beta * v + (1 - beta) * xt
        out.append(v / (1 - beta ** (t + 1)) if bias_correction else v)
    return np.array(out)


def test_ewma_explorer_slider_and_toggle():
    x = np.sin(np.linspace(0, 6, 40)) + 3.0
    calls = []

    def ewma_fn(x, beta, bias_correction=False):
        calls.append((beta, bias_correction))
        return ewma_by_hand(x, beta, bias_correction)

    ex = ewma_explorer(x, ewma_fn, **FAST)
    assert set(ex.controls) == {"beta", "bias_correction"}
    assert calls == [(0.9, False)]
    ex.controls["beta"].value = 0.5
    assert calls[-1] == (0.5, False)
    ex.controls["bias_correction"].value = True
    assert (0.5, True) in calls[-2:] and len(calls) == 4  # corrected + uncorrected for contrast

    fig = ex.draw(beta=0.8, bias_correction=True)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    np.testing.assert_allclose(lines["average, bias-corrected"].get_ydata(), ewma_by_hand(x, 0.8, True))
    np.testing.assert_allclose(lines["average, no correction"].get_ydata(), ewma_by_hand(x, 0.8, False))
    np.testing.assert_array_equal(lines["data"].get_ydata(), x)
    assert "5" in fig.axes[0].get_title()  # effective window 1 / (1 - 0.8) = 5


def test_ewma_explorer_without_toggle_and_bad_input():
    calls = []

    def plain(x, beta):
        calls.append(beta)
        return ewma_by_hand(x, beta)

    ex = ewma_explorer(np.arange(10.0), plain, beta=(0.1, 0.9, 0.1, 0.5), bias_toggle=False, **FAST)
    assert set(ex.controls) == {"beta"} and calls == [0.5]
    ex.controls["beta"].value = 0.7
    assert calls[-1] == pytest.approx(0.7)
    with pytest.raises(ValueError, match="1-D"):
        ewma_explorer(np.zeros((3, 3)), plain)
    with pytest.raises(ValueError, match="one value per point"):
        ewma_explorer(np.arange(5.0), lambda x, beta, bias_correction=False: x[:-1], **FAST)


def test_grading_builds_but_does_not_draw(monkeypatch):
    monkeypatch.setenv(runtime.GRADING_ENV, "1")
    land = LANDSCAPES["quadratic"]
    run = Recorder()
    ex = optimizer_explorer(land, run, {"lr": (0.001, 0.12, 0.001, 0.05)}, **FAST)
    ex.controls["lr"].value = 0.07
    assert run.calls == []
    assert isinstance(ex, ipywidgets.Widget)
    calls = []
    ew = ewma_explorer(np.ones(5), lambda x, beta, bias_correction=False: calls.append(beta) or x, **FAST)
    assert calls == [] and isinstance(ew, ipywidgets.Widget)
    # the plain draw function still works for a graded check
    assert isinstance(ex.draw(lr=0.07), Figure) and run.calls[-1]["lr"] == 0.07
