"""One set of plotting helpers for every optimizer on every landscape.

Every notebook draws optimizer paths with the same function, so a path looks the same
in notebook 01 and in notebook 06:

* :func:`plot_paths`: the contour of a :mod:`course_lib.landscapes` surface with one or
  more paths on it (start marker ``o``, end marker ``s``, minima ``*``, saddles ``+``).
* :func:`plot_losses`: loss curves, log scale by default.
* :func:`plot_paths_and_losses`: both side by side (the figure of every explorer widget).
* :func:`plot_surface_3d`: the same surface in 3-D, to show why paths go on the contour.

Conventions:

* A *path* is an array of shape ``(T, 2)``: row ``t`` is the iterate ``w_t``, row 0 is
  the start (the convention of :mod:`course_lib.solutions.descent`). Torch tensors are accepted.
* Colours follow the **order of the labels**: the i-th label gets the i-th colour of
  matplotlib's ``tab10`` cycle (:func:`label_colors`), so passing the same dict to
  :func:`plot_paths` and :func:`plot_losses` gives matching colours. Pass ``colors=`` to
  pin a colour to a label.
* A path *diverged* when it holds ``inf``/``nan`` or wanders more than ten plot-widths away
  from the plotted window. It is drawn up to the point where it leaves the window (marked
  with an ``X``) and its legend entry ends in ``(diverged)``.
* With ``ax=None`` the helpers make a new pyplot figure (so it shows in a notebook cell);
  pass ``ax`` to draw into an existing one.
"""

import numpy as np
import matplotlib
from matplotlib import colors as mcolors

from course_lib import _backend

__all__ = [
    "PALETTE",
    "label_colors",
    "path_losses",
    "plot_paths",
    "plot_losses",
    "plot_paths_and_losses",
    "draw_paths_and_losses",
    "plot_surface_3d",
]

#: The colour cycle shared by every plot (matplotlib's tab10), in label order.
PALETTE = tuple(mcolors.to_hex(c) for c in matplotlib.colormaps["tab10"].colors)

#: Paths with at most this many points get a marker at every step (``markers="auto"``).
MARKER_STEPS = 60

#: How far (in plot widths) a point may lie outside the window before its path counts as diverged.
_FAR = 10.0


def label_colors(labels, colors=None):
    """Colour of each label: the i-th label gets ``PALETTE[i % 10]``; ``colors`` overrides.

    Args:
        labels: iterable of labels (e.g. the keys of a ``paths`` dict), in plotting order.
        colors: optional dict ``label -> any matplotlib colour`` that wins over the palette.

    Returns:
        dict ``label -> colour`` in the order of ``labels``.
    """
    colors = dict(colors or {})
    return {label: colors.get(label, PALETTE[i % len(PALETTE)]) for i, label in enumerate(labels)}


# ----------------------------------------------------------------------------- helpers
def _to_numpy(a):
    if _backend.is_tensor(a):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=float)


def _as_path(path, label):
    p = _to_numpy(path)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0:
        raise ValueError(
            f"path {label!r} must be an array of shape (T, 2) with T >= 1 (row t = the iterate w_t), "
            f"got shape {p.shape}."
        )
    return p


def _as_dict(paths, what):
    if isinstance(paths, dict):
        return paths
    if isinstance(paths, np.ndarray) or _backend.is_tensor(paths):
        return {what: paths}
    raise TypeError(f"{what}s must be a dict label -> array, got {type(paths).__name__}.")


def _grid(landscape, n):
    (x0, x1), (y0, y1) = landscape.bounds
    xs = np.linspace(x0, x1, n)
    ys = np.linspace(y0, y1, n)
    X, Y = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        Z = np.asarray(landscape.f(np.stack([X, Y], axis=-1)), dtype=float)
    return X, Y, Z


def _levels(Z, n, log):
    """``n`` contour levels over ``Z``: log-spaced above the minimum when the range is wide."""
    z = Z[np.isfinite(Z)]
    if z.size == 0:
        return None
    zmin, zmax = float(z.min()), float(z.max())
    span = zmax - zmin
    if not span > 0:
        return None
    if log:
        # "wide" = the bulk of the values sits far below the top: linear levels would all
        # crowd the steep walls and leave the interesting low region blank.
        lo = max(float(np.percentile(z - zmin, 1.0)), span * 1e-6)
        typical = float(np.median(z - zmin))
        if span / max(typical, 1e-300) > 5.0:
            return zmin + np.geomspace(lo, span, n)
    return np.linspace(zmin, zmax, n + 2)[1:-1]


def _inside(p, bounds):
    (x0, x1), (y0, y1) = bounds
    return (p[..., 0] >= x0) & (p[..., 0] <= x1) & (p[..., 1] >= y0) & (p[..., 1] <= y1)


def _clip_path(p, bounds):
    """Split a path into what to draw. Returns ``(drawn, diverged, exit_point_or_None)``."""
    (x0, x1), (y0, y1) = bounds
    wx, wy = x1 - x0, y1 - y0
    finite = np.isfinite(p).all(axis=1)
    far_bounds = ((x0 - _FAR * wx, x1 + _FAR * wx), (y0 - _FAR * wy, y1 + _FAR * wy))
    with np.errstate(invalid="ignore"):
        far = ~_inside(p, far_bounds)
    if not np.any(~finite | far):
        return p, False, None
    with np.errstate(invalid="ignore"):
        inside = finite & _inside(p, bounds)
    k = int(np.argmin(inside)) if not inside.all() else len(p)
    drawn = p[:k]
    exit_point = None
    if 0 < k < len(p) and finite[k]:
        a, b = p[k - 1], p[k]
        with np.errstate(all="ignore"):
            d = b - a
            ts = [1.0]
            for i, (lo, hi) in enumerate(bounds):
                if b[i] > hi and d[i] != 0:
                    ts.append((hi - a[i]) / d[i])
                if b[i] < lo and d[i] != 0:
                    ts.append((lo - a[i]) / d[i])
            t = min(ts)
            q = a + t * d
        if np.isfinite(q).all():
            exit_point = q
            drawn = np.vstack([drawn, q])
    elif k > 0:
        exit_point = p[k - 1]
    return drawn, True, exit_point


def _loss_cap(c):
    """Values above this count as diverged (matplotlib's log axes overflow near 1e308)."""
    first = c[np.isfinite(c)][:1]
    scale = max(1.0, float(np.abs(first[0]))) if first.size else 1.0
    return min(1e10 * scale, 1e200)


def path_losses(landscape, path):
    """``landscape.f`` along a path of shape ``(T, 2)``: a float array of shape ``(T,)``.

    Points with ``inf``/``nan`` give ``nan``/``inf`` losses (no warnings).
    """
    p = _as_path(path, "path")
    with np.errstate(all="ignore"):
        return np.asarray(landscape.f(p), dtype=float).reshape(len(p))


def _new_axes(ax, figsize=(5.5, 4.5)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


# ------------------------------------------------------------------------- public plots
def plot_paths(landscape, paths, ax=None, levels=30, log_levels=True, title=None, show_minima=True,
               markers="auto", colors=None, filled=False, n_grid=200, equal_aspect=True, legend=True):
    """Draw ``landscape``'s contour and each path on it.

    Args:
        landscape: a :class:`course_lib.landscapes.Landscape` (its ``bounds`` set the window).
        paths: dict ``label -> array (T, 2)`` (one array alone is labelled ``"path"``).
        ax: matplotlib axes to draw into; ``None`` makes a new figure.
        levels: number of contour levels.
        log_levels: space the levels logarithmically above the minimum of the window when
            the values span a wide range (Rosenbrock), linearly otherwise.
        title: axes title (default: the landscape's name).
        show_minima: mark the known minima (``*``) and saddles (``+``).
        markers: ``"auto"`` puts a dot at every step of paths with at most
            :data:`MARKER_STEPS` points; ``True``/``False`` force it.
        colors: optional dict ``label -> colour`` overriding the palette (see :func:`label_colors`).
        filled: filled contours instead of contour lines.
        n_grid: grid points per axis for the contour.
        equal_aspect: same scale on both axes, so angles (zig-zags) look as they are.
        legend: draw a legend of the paths.

    Returns:
        The matplotlib axes.
    """
    paths = _as_dict(paths, "path")
    checked = {label: _as_path(p, label) for label, p in paths.items()}
    ax = _new_axes(ax)
    X, Y, Z = _grid(landscape, int(n_grid))
    lv = _levels(Z, int(levels), log_levels)
    if lv is not None:
        shades = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, len(lv)))
        if filled:
            ax.contourf(X, Y, Z, levels=lv, colors=shades[:-1], alpha=0.55)
        else:
            ax.contour(X, Y, Z, levels=lv, colors=shades, linewidths=0.8, alpha=0.8)

    if show_minima:
        for m in landscape.minima:
            ax.plot(m[0], m[1], marker="*", ms=13, color="k", mec="w", ls="none", zorder=4)
        for s in landscape.saddles:
            ax.plot(s[0], s[1], marker="+", ms=12, mew=2, color="k", ls="none", zorder=4)

    palette = label_colors(checked, colors)
    for label, p in checked.items():
        color = palette[label]
        drawn, diverged, exit_point = _clip_path(p, landscape.bounds)
        every = len(p) <= MARKER_STEPS if markers == "auto" else bool(markers)
        text = f"{label} (diverged)" if diverged else str(label)
        ax.plot(drawn[:, 0], drawn[:, 1], color=color, lw=1.8, marker="o" if every else None,
                ms=3, label=text, zorder=3)
        if len(drawn):
            ax.plot(drawn[0, 0], drawn[0, 1], marker="o", ms=8, color=color, mec="k", ls="none", zorder=5)
        if diverged:
            if exit_point is not None:
                ax.plot(exit_point[0], exit_point[1], marker="X", ms=10, color=color, mec="k",
                        ls="none", zorder=5)
        else:
            ax.plot(p[-1, 0], p[-1, 1], marker="s", ms=7, color=color, mec="k", ls="none", zorder=5)

    (x0, x1), (y0, y1) = landscape.bounds
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    if equal_aspect:
        ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("w[0]")
    ax.set_ylabel("w[1]")
    ax.set_title(landscape.name if title is None else title)
    if legend and checked:
        ax.legend(loc="best", fontsize="small", framealpha=0.85)
    return ax


def plot_losses(curves, ax=None, logy=True, xlabel="step", ylabel="loss", colors=None, title=None,
                legend=True):
    """Draw loss curves, one per label, in the colours of :func:`label_colors`.

    Args:
        curves: dict ``label -> 1-D array`` (one array alone is labelled ``"loss"``); point
            ``t`` is drawn at x = t.
        ax: matplotlib axes; ``None`` makes a new figure.
        logy: log-scale y axis. When some value is negative (a loss unbounded below, such as
            the saddle) the axis is symmetric-log instead, which also shows negative values.
        xlabel, ylabel, title: axis labels and title.
        colors: optional dict ``label -> colour`` overriding the palette.
        legend: draw a legend.

    A curve holding ``inf``/``nan``, or values more than 1e10 times its start (times 1 when
    the start is below 1), is drawn up to the last value before that and labelled ``(diverged)``.

    Returns:
        The matplotlib axes.
    """
    curves = _as_dict(curves, "loss")
    checked = {}
    for label, c in curves.items():
        c = _to_numpy(c)
        if c.ndim != 1:
            raise ValueError(f"loss curve {label!r} must be 1-D (one value per step), got shape {c.shape}.")
        checked[label] = c
    ax = _new_axes(ax)
    palette = label_colors(checked, colors)
    negative = False
    for label, c in checked.items():
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(c) & (np.abs(c) <= _loss_cap(c))
        k = len(c) if finite.all() else int(np.argmin(finite))
        diverged = k < len(c)
        shown = c[:k]
        negative |= bool(np.any(shown < 0))
        text = f"{label} (diverged)" if diverged else str(label)
        ax.plot(np.arange(k), shown, color=palette[label], lw=1.6, label=text)
        if diverged and k > 0:
            ax.plot(k - 1, shown[-1], marker="X", ms=9, color=palette[label], mec="k", ls="none")
    if logy:
        if negative:
            # linear within 1e-3 of the largest starting value, logarithmic beyond
            starts = [abs(float(c[np.isfinite(c)][0])) for c in checked.values() if np.isfinite(c).any()]
            linthresh = 1e-3 * max(starts) if starts and max(starts) > 0 else 1e-3
            ax.set_yscale("symlog", linthresh=linthresh)
        else:
            # exact zeros (a minimum reached to the last bit) end the curve instead of
            # squashing the axis
            ax.set_yscale("log", nonpositive="mask")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    if legend and checked:
        ax.legend(fontsize="small")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def draw_paths_and_losses(fig, landscape, paths, losses=None, colors=None, title=None, logy=True,
                          **path_kwargs):
    """Fill ``fig`` (any matplotlib ``Figure``) with the figure of :func:`plot_paths_and_losses`.

    Returns ``(ax_paths, ax_losses)``. The explorers call this on a figure that is not
    managed by pyplot, so nothing is left open between slider moves.
    """
    paths = _as_dict(paths, "path")
    ax_p, ax_l = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1.0]})
    plot_paths(landscape, paths, ax=ax_p, colors=colors, title=title, **path_kwargs)
    labels = list(paths)
    if losses is None:
        f_min = landscape.f_min
        losses = {}
        for label, p in paths.items():
            vals = path_losses(landscape, p)
            losses[label] = vals - f_min if f_min is not None else vals
        ylabel = "f(w) - f*" if f_min is not None else "f(w)"
    else:
        losses = _as_dict(losses, "loss")
        labels += [label for label in losses if label not in paths]
        ylabel = "loss"
    pinned = label_colors(labels, colors)
    plot_losses(losses, ax=ax_l, logy=logy, colors=pinned, ylabel=ylabel, legend=False,
                title="loss along the path")
    # fixed margins: tight_layout would measure every tick label, which doubles the cost
    # of each redraw of an explorer
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.9, wspace=0.28)
    return ax_p, ax_l


def plot_paths_and_losses(landscape, paths, losses=None, figsize=(11.0, 4.3), colors=None, title=None,
                          logy=True, **path_kwargs):
    """The contour with the paths (left) and their loss curves (right), same colours.

    Args:
        landscape: a :class:`course_lib.landscapes.Landscape`.
        paths: dict ``label -> array (T, 2)``.
        losses: dict ``label -> 1-D array``; ``None`` computes ``landscape.f`` along each path,
            shifted by ``landscape.f_min`` when that is known (the y axis is then
            ``f(w) - f*``, which goes to 0 at the best minimum and reads well on a log scale).
        figsize: the figure size in inches.
        colors, title: as in :func:`plot_paths`.
        logy: log-scale the loss axis.
        **path_kwargs: passed on to :func:`plot_paths` (``levels``, ``log_levels``, ``markers``, ...).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=figsize)
    draw_paths_and_losses(fig, landscape, paths, losses=losses, colors=colors, title=title, logy=logy,
                          **path_kwargs)
    return fig


def plot_surface_3d(landscape, ax=None, paths=None, n_grid=60, cmap="viridis", elev=35.0, azim=-60.0,
                    colors=None, figsize=(6.5, 5.0)):
    """The landscape as a 3-D surface ``z = f(x, y)``, optionally with paths lifted onto it.

    Made for the demo of why the notebooks draw paths on the contour: on the surface, parts
    of a path hide behind hills and the perspective distorts step lengths.

    Args:
        landscape: a :class:`course_lib.landscapes.Landscape`.
        ax: a 3-D axes (``fig.add_subplot(projection="3d")``); ``None`` makes a new figure.
        paths: optional dict ``label -> array (T, 2)``, drawn at height ``f(w_t)``.
        n_grid: grid points per axis.
        cmap, elev, azim: colour map and viewing angles.
        colors: optional dict ``label -> colour``.
        figsize: size of a new figure.

    Returns:
        The 3-D axes.
    """
    if ax is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize)
        ax = fig.add_subplot(projection="3d")
    elif getattr(ax, "name", "") != "3d":
        raise ValueError("plot_surface_3d needs a 3-D axes: create it with fig.add_subplot(projection='3d').")
    X, Y, Z = _grid(landscape, int(n_grid))
    Zm = np.where(np.isfinite(Z), Z, np.nan)
    ax.plot_surface(X, Y, Zm, cmap=cmap, linewidth=0, antialiased=True, alpha=0.85, rcount=n_grid,
                    ccount=n_grid)
    if paths is not None:
        paths = _as_dict(paths, "path")
        checked = {label: _as_path(p, label) for label, p in paths.items()}
        palette = label_colors(checked, colors)
        for label, p in checked.items():
            drawn, diverged, _ = _clip_path(p, landscape.bounds)
            if len(drawn) == 0:
                continue
            z = path_losses(landscape, drawn)
            text = f"{label} (diverged)" if diverged else str(label)
            ax.plot(drawn[:, 0], drawn[:, 1], z, color=palette[label], lw=2, marker="o", ms=2, label=text)
        if checked:
            ax.legend(fontsize="small")
    ax.view_init(elev=elev, azim=azim)
    ax.set_xlabel("w[0]")
    ax.set_ylabel("w[1]")
    ax.set_zlabel("f(w)")
    ax.set_title(landscape.name)
    return ax
