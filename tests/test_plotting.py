"""course_lib.plotting: figures build on every landscape, colours follow the labels,
divergent paths are clipped and labelled, and the loss panel shows f along the path."""

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_lib.landscapes import LANDSCAPES  # noqa: E402
from course_lib.plotting import (  # noqa: E402
    PALETTE,
    label_colors,
    plot_losses,
    plot_paths,
    plot_paths_and_losses,
    plot_surface_3d,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def gd_path(land, lr, n, start=None):
    """Plain gradient descent written here, as a source of realistic paths."""
    w = np.array(land.default_start if start is None else start, dtype=float)
    path = [w]
    with np.errstate(all="ignore"):
        for _ in range(n):
            w = w - lr * land.grad(w)
            path.append(w)
    return np.array(path)


def render(fig):
    """A full draw to PNG: layout and tick computation happen here, where overflows would show."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.tell() > 0


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_every_figure_builds_on_every_landscape(name):
    land = LANDSCAPES[name]
    lr = {"quadratic": 0.05, "rosenbrock": 1e-3, "saddle": 0.1, "two_wells": 0.1}[name]
    paths = {"slow": gd_path(land, lr / 10, 30), "fast": gd_path(land, lr, 80),
             "too large": gd_path(land, 5.0, 400)}
    assert not np.isfinite(paths["too large"]).all()  # gradient descent really blew up

    ax = plot_paths(land, paths)
    assert isinstance(ax, Axes)
    assert ax.get_xlim() == land.bounds[0] and ax.get_ylim() == land.bounds[1]
    assert set(lines_by_label(ax)) == {"slow", "fast", "too large (diverged)"}

    with np.errstate(all="ignore"):
        losses = {k: land.f(p) for k, p in paths.items()}
    ax = plot_losses(losses)
    assert isinstance(ax, Axes)
    assert set(lines_by_label(ax)) == {"slow", "fast", "too large (diverged)"}

    fig = plot_paths_and_losses(land, paths, filled=(name == "two_wells"))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    render(fig)  # a full draw: ticks and layout with inf/huge values in the data

    ax3 = plot_surface_3d(land, paths={"fast": paths["fast"]}, n_grid=20)
    assert ax3.name == "3d"
    render(ax3.figure)


def test_colours_follow_label_order_and_match_across_panels():
    land = LANDSCAPES["quadratic"]
    paths = {"GD": gd_path(land, 0.01, 20), "momentum": gd_path(land, 0.05, 20), "adam": gd_path(land, 0.08, 20)}
    fig = plot_paths_and_losses(land, paths)
    ax_p, ax_l = fig.axes
    path_lines = lines_by_label(ax_p)
    loss_lines = [line for line in ax_l.get_lines() if line.get_marker() in ("None", None, "")]
    for i, label in enumerate(paths):
        assert to_hex(path_lines[label].get_color()) == PALETTE[i]
        assert to_hex(loss_lines[i].get_color()) == PALETTE[i]
    # a second, separate call with the same labels gives the same colours
    ax = plot_losses({k: land.f(p) for k, p in paths.items()})
    for i, label in enumerate(paths):
        assert to_hex(lines_by_label(ax)[label].get_color()) == PALETTE[i]
    # an explicit colour wins; the others keep their places
    ax = plot_paths(land, paths, colors={"momentum": "#000000"})
    got = {k: to_hex(v.get_color()) for k, v in lines_by_label(ax).items()}
    assert got == {"GD": PALETTE[0], "momentum": "#000000", "adam": PALETTE[2]}
    assert label_colors(["a", "b"], {"b": "red"}) == {"a": PALETTE[0], "b": "red"}
    assert len(set(label_colors(range(10)).values())) == 10


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan, 1e300])
def test_divergent_path_is_clipped_and_labelled(bad):
    land = LANDSCAPES["quadratic"]
    (x0, x1), (y0, y1) = land.bounds
    # from the origin straight out through the right edge, then off to infinity
    diverging = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0], [8.0, 0.0], [bad, 0.0], [bad, bad]])
    fine = gd_path(land, 0.05, 30)
    fig = plot_paths_and_losses(land, {"fine": fine, "boom": diverging})
    ax_p, ax_l = fig.axes
    lines = lines_by_label(ax_p)
    assert set(lines) == {"fine", "boom (diverged)"}
    drawn = lines["boom (diverged)"].get_xydata()
    assert np.isfinite(drawn).all()
    assert np.all(drawn[:, 0] <= x1) and np.all(drawn[:, 0] >= x0)
    np.testing.assert_allclose(drawn[-1], [x1, 0.0])  # stops where it leaves the window
    render(fig)  # no overflow in ticks or layout
    assert ax_p.get_legend() is not None
    texts = [t.get_text() for t in ax_p.get_legend().get_texts()]
    assert "boom (diverged)" in texts and "fine" in texts


def test_path_that_leaves_the_window_and_returns_is_not_diverged():
    land = LANDSCAPES["quadratic"]
    path = np.array([[0.0, 0.0], [9.0, 0.0], [1.0, 0.5], [0.0, 0.0]])
    ax = plot_paths(land, {"overshoot": path})
    line = lines_by_label(ax)["overshoot"]
    np.testing.assert_array_equal(line.get_xydata(), path)


def test_loss_panel_is_f_along_the_path_minus_f_star():
    land = LANDSCAPES["two_wells"]
    path = gd_path(land, 0.05, 40)
    fig = plot_paths_and_losses(land, {"gd": path})
    loss_line = fig.axes[1].get_lines()[0]
    # TwoWells with p=-1, q=-0.25, r=1.5, k=2, m=0, written out here
    x, y = path[:, 0], path[:, 1]
    f = 0.25 * x**4 - 0.25 / 3 * x**3 - 1.625 / 2 * x**2 - 0.375 * x + y**2
    f_star = 0.25 * 1.5**4 - 0.25 / 3 * 1.5**3 - 1.625 / 2 * 1.5**2 - 0.375 * 1.5
    np.testing.assert_allclose(loss_line.get_ydata(), f - f_star, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(loss_line.get_xdata(), np.arange(len(path)))
    # given losses are drawn as they are
    fig = plot_paths_and_losses(land, {"gd": path}, losses={"gd": np.arange(1.0, 42.0)})
    np.testing.assert_array_equal(fig.axes[1].get_lines()[0].get_ydata(), np.arange(1.0, 42.0))


def test_loss_scales_and_divergence():
    ax = plot_losses({"a": np.geomspace(10, 1e-3, 20), "b": np.array([1.0, 10.0, 1e5, np.inf, np.inf])})
    assert ax.get_yscale() == "log"
    assert set(lines_by_label(ax)) == {"a", "b (diverged)"}
    np.testing.assert_array_equal(lines_by_label(ax)["b (diverged)"].get_ydata(), [1.0, 10.0, 1e5])
    render(ax.figure)
    # a loss that goes below zero (the saddle) cannot use a log axis
    ax = plot_losses({"saddle": np.array([2.0, 1.0, 0.0, -1.0, -40.0])})
    assert ax.get_yscale() == "symlog"
    render(ax.figure)
    ax = plot_losses({"a": np.array([3.0, 2.0, 1.0])}, logy=False, xlabel="epoch")
    assert ax.get_yscale() == "linear" and ax.get_xlabel() == "epoch"
    # a loss reaching exactly 0 still renders on a log axis
    ax = plot_losses({"exact": np.array([1.0, 0.1, 0.0, 0.0])})
    render(ax.figure)


def test_step_markers_only_on_short_paths():
    land = LANDSCAPES["quadratic"]
    ax = plot_paths(land, {"short": gd_path(land, 0.01, 20), "long": gd_path(land, 0.01, 300)})
    lines = lines_by_label(ax)
    assert lines["short"].get_marker() == "o"
    assert lines["long"].get_marker() in ("None", None, "")
    ax = plot_paths(land, {"long": gd_path(land, 0.01, 300)}, markers=True)
    assert lines_by_label(ax)["long"].get_marker() == "o"


def _level_values(ax):
    from matplotlib.contour import ContourSet

    sets = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(sets) == 1
    return np.asarray(sets[0].levels)


def test_log_levels_on_a_wide_range():
    land = LANDSCAPES["rosenbrock"]
    lv = _level_values(plot_paths(land, {}, levels=20))
    gaps = np.diff(lv)
    assert np.all(gaps > 0) and gaps[-1] / gaps[0] > 100  # geometric, not even
    lv = _level_values(plot_paths(land, {}, levels=20, log_levels=False))
    np.testing.assert_allclose(np.diff(lv), np.diff(lv)[0], rtol=1e-9)  # even


def test_inputs_accepted_and_rejected():
    torch = pytest.importorskip("torch")
    land = LANDSCAPES["saddle"]
    path = gd_path(land, 0.1, 10)
    ax = plot_paths(land, {"tensor": torch.tensor(path, requires_grad=True)})
    np.testing.assert_allclose(lines_by_label(ax)["tensor"].get_xydata(), path)
    ax = plot_paths(land, path)  # one array alone
    assert "path" in lines_by_label(ax)
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        plot_paths(land, {"bad": np.zeros((5, 3))})
    with pytest.raises(ValueError, match="1-D"):
        plot_losses({"bad": np.zeros((5, 2))})
    with pytest.raises(TypeError):
        plot_paths(land, [path])
    _, flat_ax = plt.subplots()
    with pytest.raises(ValueError, match="3-D"):
        plot_surface_3d(land, ax=flat_ax)


def test_draws_into_a_given_axes():
    land = LANDSCAPES["quadratic"]
    fig, (a, b) = plt.subplots(1, 2)
    assert plot_paths(land, {"p": gd_path(land, 0.01, 5)}, ax=a, title="mine") is a
    assert a.get_title() == "mine"
    assert plot_losses({"p": np.ones(4)}, ax=b) is b
    fig3 = plt.figure()
    ax3 = fig3.add_subplot(projection="3d")
    assert plot_surface_3d(land, ax=ax3, n_grid=10) is ax3
