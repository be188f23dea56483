"""Interactive explorers (ipywidgets 8, JupyterLab 4) that redraw a figure when a slider moves.

Three explorers, all built on :class:`Explorer`:

* :func:`optimizer_explorer`: one optimizer on one landscape, hyper-parameter sliders and
  (optionally) two sliders for the start point; shows
  :func:`course_lib.plotting.plot_paths_and_losses`.
* :func:`compare_explorer`: several optimizers on the same contour, same sliders.
* :func:`ewma_explorer`: a series and its exponentially weighted average, a β slider and
  a bias-correction checkbox.

The explorers hold no algorithm: the notebook passes the optimizer in as a ``run``
function (the student's own, or one built on ``torch.optim``)::

    def run(landscape, start, n_steps, lr):          # returns the path, shape (n_steps + 1, 2)
        ...

    optimizer_explorer(landscape, run, {"lr": (0.001, 0.12, 0.001, 0.05)})

Every explorer also exposes ``explorer.draw(**values)``, which returns the same figure for
given values without any widget (tests and graded runs call it). While a notebook is
being graded (:func:`course_lib.runtime.is_grading`), the explorers are built but never
redraw (neither when built nor when a control changes); ``draw`` still works.

How the redraw works: each change of a control renders the figure to PNG and puts it into
the ``outputs`` of an ``ipywidgets.Output`` in one assignment, so the old image stays
until the new one is ready (no flicker). The figure is a plain ``matplotlib.figure.Figure``
that pyplot never sees, so nothing accumulates while a slider is dragged and the same code
works with the inline backend, ``ipympl`` or a headless run. Sliders made from tuples redraw
when released (``continuous_update=False``); pass your own widget for continuous redraws.

Why ``outputs`` is set rather than displayed into (``with output: display(...)``): output
captured that way is routed by the *frontend* into the widget, and the frontend then sends
the widget's new ``outputs`` back to the kernel on the shell channel while the cell is still
running. nbclient (behind ``jupyter nbconvert --execute``) sends that message through a
synchronous shadow of the socket on which it is awaiting the cell's ``execute_reply``
(``jupyter_client.session.Session.send``); that send can swallow the edge-triggered
wake-up of the reply, which then waits unseen until the cell timeout expires
(nbclient#312). Setting ``outputs`` in the kernel makes no frontend send anything back.
"""

import base64
import inspect
import io
import math
import numbers

import numpy as np
import ipywidgets as widgets
from matplotlib.figure import Figure

from course_lib import _backend, runtime
from course_lib.plotting import PALETTE, draw_paths_and_losses

__all__ = [
    "Explorer",
    "ExplorerFigure",
    "make_control",
    "optimizer_explorer",
    "compare_explorer",
    "ewma_explorer",
]

#: Names the explorers pass to ``run`` themselves; a slider may not use them.
RESERVED = ("landscape", "start", "n_steps", "x0", "y0")


# ------------------------------------------------------------------------------ controls
def _decimals(step):
    """Digits after the point needed to show multiples of ``step``."""
    if step <= 0 or not math.isfinite(step):
        return 3
    return max(0, min(8, -int(math.floor(math.log10(step) + 1e-9))))


def make_control(name, spec):
    """A widget from a slider spec.

    Args:
        name: the keyword the value is passed under (also the slider's label).
        spec: an ipywidgets value widget (used as is: e.g. ``FloatLogSlider`` for a learning
            rate, ``Checkbox``, ``Dropdown``), or a tuple ``(min, max, step, value)``: an
            ``IntSlider`` when all four are ints, else a ``FloatSlider``.

    Returns:
        The widget.
    """
    if isinstance(spec, widgets.ValueWidget):
        return spec
    if not isinstance(spec, (tuple, list)) or len(spec) != 4:
        raise TypeError(
            f"slider {name!r}: give an ipywidgets widget or a tuple (min, max, step, value), got {spec!r}."
        )
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in spec):
        raise TypeError(f"slider {name!r}: (min, max, step, value) must all be numbers, got {spec!r}.")
    lo, hi, step, value = spec
    if not (lo < hi and step > 0 and lo <= value <= hi):
        raise ValueError(
            f"slider {name!r}: need min < max, step > 0 and min <= value <= max, got "
            f"(min, max, step, value) = {tuple(spec)}."
        )
    common = dict(description=str(name), continuous_update=False, style={"description_width": "initial"},
                  layout=widgets.Layout(width="320px"))
    if all(isinstance(v, numbers.Integral) for v in spec):
        return widgets.IntSlider(min=lo, max=hi, step=step, value=value, **common)
    fmt = f".{_decimals(float(step))}f"
    return widgets.FloatSlider(min=float(lo), max=float(hi), step=float(step), value=float(value),
                               readout_format=fmt, **common)


def _make_controls(sliders):
    if sliders is None:
        return {}
    if not isinstance(sliders, dict):
        raise TypeError(f"sliders must be a dict name -> widget or (min, max, step, value), got {type(sliders).__name__}.")
    for name in sliders:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"slider names are passed as keyword arguments, so {name!r} must be a Python identifier.")
        if name in RESERVED:
            raise ValueError(
                f"slider name {name!r} is reserved (the explorer passes {', '.join(RESERVED)} itself); rename it."
            )
    return {name: make_control(name, spec) for name, spec in sliders.items()}


def _format_values(values):
    parts = []
    for k, v in values.items():
        if isinstance(v, bool):
            parts.append(f"{k}={v}")
        elif isinstance(v, numbers.Real):
            parts.append(f"{k}={v:.4g}")
        else:
            parts.append(f"{k}={v!r}")
    return ", ".join(parts)


# ------------------------------------------------------------------------------ Explorer
class ExplorerFigure(Figure):
    """A matplotlib ``Figure`` outside pyplot that shows itself as a PNG in a notebook.

    A plain ``Figure`` only renders in a notebook once pyplot has set up its inline
    backend; this one renders even in a notebook that never imported pyplot.
    """

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=getattr(self, "_png_dpi", 90))
        return buffer.getvalue()


def _error_output(error):
    """``error`` as an nbformat ``error`` output, with the lines IPython would show for it.

    Returns ``None`` outside IPython. The lines are those a failing cell would show: the
    shell's custom handler for the exceptions it has one for (so
    :mod:`course_lib.notebook_errors`'s one line for an exercise not written yet), else
    IPython's traceback. They are caught at IPython's ``_showtraceback`` hook (or taken from
    the handler's return value) instead of being published to the cell.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None:
        return None
    shown, own = [], vars(shell).get("_showtraceback")
    shell._showtraceback = lambda etype, evalue, stb: shown.append(stb)
    etype, tb = type(error), error.__traceback__
    try:
        if shell.custom_exceptions and issubclass(etype, shell.custom_exceptions):
            lines = shell.CustomTB(etype, error, tb)
            if not shown and lines:
                shown.append(lines)
        else:
            shell.showtraceback((etype, error, tb), tb_offset=0)
    finally:
        if own is None:
            del shell._showtraceback  # the class's own method again
        else:
            shell._showtraceback = own
    lines = shown[-1] if shown else [f"{type(error).__name__}: {error}"]
    return {"output_type": "error", "ename": type(error).__name__, "evalue": str(error), "traceback": list(lines)}


class Explorer(widgets.VBox):
    """Controls above an output area that shows ``draw_fn``'s figure for their current values.

    Args:
        controls: dict ``name -> ipywidgets value widget``.
        draw_fn: ``draw_fn(fig, **values)`` fills the empty ``matplotlib.figure.Figure``
            ``fig`` for the given values (one keyword per control).
        figsize: size of the figure in inches.
        dpi: resolution of the PNG shown in the notebook.

    Attributes:
        controls: the dict of widgets; set ``explorer.controls["lr"].value = 0.1`` to move one.
        output: the ``ipywidgets.Output`` that shows the figure.
        values: dict of the controls' current values.
    """

    def __init__(self, controls, draw_fn, figsize=(11.0, 4.3), dpi=90):
        output = widgets.Output()
        row = widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
        super().__init__(children=[row, output])
        self.controls = dict(controls)
        self.output = output
        self.figsize = figsize
        self.dpi = dpi
        self._draw_fn = draw_fn
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        if not runtime.is_grading():
            self.update()

    @property
    def values(self):
        return {name: control.value for name, control in self.controls.items()}

    def draw(self, **values):
        """The figure for the current control values, with ``values`` overriding some of them.

        Returns a ``matplotlib.figure.Figure`` that pyplot does not manage: no need to close
        it, and it shows as a PNG when it is the last expression of a notebook cell (or with
        ``IPython.display.display(fig)``).
        """
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise TypeError(
                f"draw() got unknown value(s) {unknown}; this explorer's controls are {sorted(self.controls)}."
            )
        fig = ExplorerFigure(figsize=self.figsize)
        fig._png_dpi = self.dpi
        self._draw_fn(fig, **{**self.values, **values})
        return fig

    def update(self):
        """Redraw the figure in the output area for the current values.

        The PNG replaces ``self.output.outputs`` in one assignment (see the module docstring
        for why nothing is displayed *into* the Output widget). Inside IPython an exception
        (say, from the user's ``run``) shows as its traceback in place of the figure, as
        IPython would show it in a cell; outside IPython it propagates.
        """
        try:
            fig = self.draw()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=self.dpi)
        except Exception as error:
            shown = _error_output(error)
            if shown is None:
                raise
            self.output.outputs = (shown,)
            return
        self.output.outputs = ({
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"), "text/plain": repr(fig)},
            "metadata": {},
        },)

    def _on_change(self, change):
        if runtime.is_grading():
            return
        self.update()


# ---------------------------------------------------------------------- optimizer paths
def _accepted_names(fn):
    """Keyword names ``fn`` accepts, or ``None`` when it takes ``**kwargs`` (or cannot be inspected)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}


def _call_run(label, run, accepted, landscape, start, n_steps, values):
    kwargs = values if accepted is None else {k: v for k, v in values.items() if k in accepted}
    path = run(landscape, start.copy(), n_steps, **kwargs)
    if _backend.is_tensor(path):
        path = path.detach().cpu().numpy()
    path = np.asarray(path, dtype=float)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) == 0:
        raise ValueError(
            f"run {label!r} must return the path as an array of shape (T, 2) (row t = w_t, row 0 = the start), "
            f"got shape {path.shape}."
        )
    return path


def _check_callable(label, run):
    if not callable(run):
        raise TypeError(f"run {label!r} must be a function run(landscape, start, n_steps, **slider_values), got {run!r}.")


def _start_controls(landscape, start):
    start = np.array(landscape.default_start if start is None else start, dtype=float)
    if start.shape != (2,):
        raise ValueError(f"start must be a point of shape (2,), got shape {start.shape}.")
    controls = {}
    for name, value, (lo, hi) in zip(("x0", "y0"), start, landscape.bounds):
        step = (hi - lo) / 200.0
        controls[name] = widgets.FloatSlider(
            min=lo, max=hi, step=step, value=float(np.clip(value, lo, hi)), description=name,
            readout_format=f".{_decimals(step)}f", continuous_update=False,
            style={"description_width": "initial"}, layout=widgets.Layout(width="320px"))
    return start, controls


def _paths_explorer(landscape, runs, sliders, n_steps, start, start_sliders, colors, figsize, dpi,
                    path_kwargs):
    n_steps = int(n_steps)
    if n_steps < 0:
        raise ValueError(f"n_steps must be >= 0, got {n_steps}.")
    for label, run in runs.items():
        _check_callable(label, run)
    controls = _make_controls(sliders)
    accepted = {label: _accepted_names(run) for label, run in runs.items()}
    for name in controls:
        if all(acc is not None and name not in acc for acc in accepted.values()):
            raise ValueError(
                f"no run function accepts the slider {name!r}: add a parameter {name} (or **kwargs) to run."
            )
    fixed_start, start_ctrls = _start_controls(landscape, start)
    if start_sliders:
        controls.update(start_ctrls)

    def draw_fn(fig, **values):
        if start_sliders:
            point = np.array([values.pop("x0"), values.pop("y0")], dtype=float)
        else:
            point = fixed_start.copy()
        paths = {label: _call_run(label, run, accepted[label], landscape, point, n_steps, values)
                 for label, run in runs.items()}
        summary = _format_values(values)
        title = f"{landscape.name}: {summary}" if summary else landscape.name
        draw_paths_and_losses(fig, landscape, paths, colors=colors, title=title, **path_kwargs)

    return Explorer(controls, draw_fn, figsize=figsize, dpi=dpi)


def optimizer_explorer(landscape, run, sliders, n_steps=50, start=None, start_sliders=True, label=None,
                       colors=None, figsize=(11.0, 4.3), dpi=90, **path_kwargs):
    """One optimizer's path and loss on ``landscape``, redrawn when a slider moves.

    Args:
        landscape: a :class:`course_lib.landscapes.Landscape`.
        run: ``run(landscape, start, n_steps, **slider_values) -> path`` of shape ``(T, 2)``
            (normally ``T = n_steps + 1``, row 0 = ``start``). ``start`` is a fresh float
            array of shape ``(2,)``. Only the slider values that ``run`` names as parameters
            are passed, unless it takes ``**kwargs``.
        sliders: dict ``name -> widget`` or ``name -> (min, max, step, value)`` (see
            :func:`make_control`), e.g. ``{"lr": (0.001, 0.12, 0.001, 0.05)}``.
        n_steps: the number of steps passed to ``run``.
        start: the start point; ``None`` uses ``landscape.default_start``.
        start_sliders: add sliders ``x0`` and ``y0`` for the start, within ``landscape.bounds``.
        label: the legend label of the path (default: ``run``'s name, or ``"path"``).
        colors: optional dict ``label -> colour``.
        figsize, dpi: size and resolution of the figure.
        **path_kwargs: passed to :func:`course_lib.plotting.plot_paths` (``levels``, ``markers``, ...).

    Returns:
        An :class:`Explorer` (an ``ipywidgets.VBox``); ``explorer.draw(lr=0.1)`` returns the figure.
    """
    if label is None:
        name = getattr(run, "__name__", "")
        label = name if name.isidentifier() and not name.startswith("_") else "path"  # matplotlib hides "_..." labels
    return _paths_explorer(landscape, {label: run}, sliders, n_steps, start, start_sliders, colors, figsize,
                           dpi, path_kwargs)


def compare_explorer(landscape, runs, sliders=None, n_steps=50, start=None, start_sliders=True, colors=None,
                     figsize=(11.0, 4.3), dpi=90, **path_kwargs):
    """Several optimizers from the same start on one contour, with shared sliders.

    Args:
        landscape: a :class:`course_lib.landscapes.Landscape`.
        runs: dict ``label -> run``, each ``run(landscape, start, n_steps, **values) -> (T, 2)``.
            Each run gets only the slider values it names as parameters (all of them if it
            takes ``**kwargs``), so ``{"lr_gd": ..., "lr_adam": ...}`` can drive two runs
            ``def gd(landscape, start, n_steps, lr_gd)`` and ``def adam(..., lr_adam)``.
            Every slider must be accepted by at least one run.
        sliders, n_steps, start, start_sliders, colors, figsize, dpi, **path_kwargs: as in
            :func:`optimizer_explorer`.

    Returns:
        An :class:`Explorer`; colours follow the order of ``runs``.
    """
    if not isinstance(runs, dict) or not runs:
        raise TypeError("runs must be a non-empty dict label -> run(landscape, start, n_steps, **values).")
    return _paths_explorer(landscape, dict(runs), sliders, n_steps, start, start_sliders, colors, figsize,
                           dpi, path_kwargs)


# ----------------------------------------------------------------------------------- EWMA
def ewma_explorer(x, ewma_fn, beta=(0.5, 0.99, 0.01, 0.9), bias_toggle=True, title=None,
                  figsize=(9.0, 4.0), dpi=90):
    """A series and its exponentially weighted moving average, with a β slider.

    Args:
        x: the series, a 1-D array (point ``t`` drawn at x = t).
        ewma_fn: ``ewma_fn(x, beta, bias_correction=...) -> 1-D array`` of ``x``'s length,
            the average ``v_t = beta * v_{t-1} + (1 - beta) * x_t`` (with ``v_{-1} = 0``),
            divided by ``1 - beta^(t+1)`` when bias-corrected. With ``bias_toggle=False``
            it is called as ``ewma_fn(x, beta)``.
        beta: the β slider: a widget or ``(min, max, step, value)``.
        bias_toggle: add the checkbox ``bias_correction``. When it is ticked the plot shows
            the corrected average and, dashed, the uncorrected one (two calls of ``ewma_fn``).
        title: figure title (default: β and the effective window ``1 / (1 - β)``).
        figsize, dpi: size and resolution of the figure.

    Returns:
        An :class:`Explorer`; ``explorer.draw(beta=0.98, bias_correction=True)`` returns the figure.
    """
    series = x.detach().cpu().numpy() if _backend.is_tensor(x) else np.asarray(x, dtype=float)
    if series.ndim != 1 or len(series) == 0:
        raise ValueError(f"ewma_explorer needs a non-empty 1-D series x, got shape {series.shape}.")
    if not callable(ewma_fn):
        raise TypeError(f"ewma_fn must be a function ewma_fn(x, beta, bias_correction=False), got {ewma_fn!r}.")
    controls = {"beta": make_control("beta", beta)}
    if isinstance(beta, (tuple, list)):
        controls["beta"].description = "β"
    if bias_toggle:
        controls["bias_correction"] = widgets.Checkbox(value=False, description="bias correction", indent=False)
    t = np.arange(len(series))

    def average(b, corrected):
        v = ewma_fn(series.copy(), b, bias_correction=corrected) if bias_toggle else ewma_fn(series.copy(), b)
        if _backend.is_tensor(v):
            v = v.detach().cpu().numpy()
        v = np.asarray(v, dtype=float)
        if v.shape != series.shape:
            raise ValueError(f"ewma_fn must return one value per point, shape {series.shape}, got shape {v.shape}.")
        return v

    def draw_fn(fig, beta, bias_correction=False):
        b = float(beta)
        ax = fig.subplots()
        ax.plot(t, series, ".", color="0.55", ms=4, label="data")
        if bias_toggle and bias_correction:
            ax.plot(t, average(b, False), "--", color=PALETTE[1], lw=1.4, alpha=0.8, label="average, no correction")
            ax.plot(t, average(b, True), color=PALETTE[0], lw=2.0, label="average, bias-corrected")
        else:
            ax.plot(t, average(b, False), color=PALETTE[0], lw=2.0, label="average")
        window = "inf" if b >= 1.0 else f"{1.0 / (1.0 - b):.3g}"
        ax.set_title(title if title is not None else f"β = {b:.3g}: effective window 1/(1-β) ≈ {window} points")
        ax.set_xlabel("t")
        ax.legend(fontsize="small", loc="best")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()

    return Explorer(controls, draw_fn, figsize=figsize, dpi=dpi)
