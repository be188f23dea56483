"""The stall of issue 12, in a small notebook: every kind of explorer, executed headless four times.

Before the fix each explorer displayed its figure *into* an ``ipywidgets.Output``; nbclient
then sent the widget's outputs back to the kernel on the shell channel during the cell, and
that send could hide the cell's ``execute_reply`` from nbclient until the cell timeout
expired (a few per cent of explorer cells, more on a busy machine). See ``headless.py``
for how a run is watched. The stall itself is rare per run, its precondition is not: every
run below checks that the runner sent the kernel no comm message at all, so this test fails
on every run of the old explorers, and also checks that no cell stalled.

The notebooks themselves (source and release) run headless in ``test_notebooks_run.py``.
"""

import base64
from concurrent.futures import ThreadPoolExecutor

import matplotlib

matplotlib.use("Agg")

import IPython  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

import headless  # noqa: E402
from course_lib import landscapes, notebook_errors, widgets  # noqa: E402
from course_lib.checks import CheckFailed  # noqa: E402

RUNS = ("nbclient", "nbclient", "nbclient", "nbconvert")

SETUP = """\
import numpy as np
import ipywidgets
from IPython.display import display
from course_lib import checks, landscapes, widgets   # checks: the one-line errors, as in every notebook

bowl = landscapes.get_landscape("quadratic")
wells = landscapes.get_landscape("two_wells")

def run_gd(landscape, start, n_steps, lr):
    path = [np.array(start, dtype=float)]
    for _ in range(n_steps):
        path.append(path[-1] - lr * landscape.grad(path[-1]))
    return np.array(path)

def run_momentum(landscape, start, n_steps, lr, momentum):
    w, v, path = np.array(start, dtype=float), np.zeros(2), [np.array(start, dtype=float)]
    for _ in range(n_steps):
        v = momentum * v + landscape.grad(w)
        w = w - lr * v
        path.append(w.copy())
    return np.array(path)

def broken(landscape, start, n_steps, lr):
    raise NotImplementedError()

def ewma(x, beta, bias_correction=False):
    v, out = 0.0, []
    for t, xt in enumerate(x):
        v = beta * v + (1 - beta) * xt
        out.append(v / (1 - beta ** (t + 1)) if bias_correction else v)
    return np.array(out)
"""

EXPLORERS = [
    'display(widgets.optimizer_explorer(bowl, run_gd, {"lr": (0.001, 0.12, 0.001, 0.05)}, n_steps=40))',
    'display(widgets.optimizer_explorer(wells, run_gd, {"lr": (0.001, 0.1, 0.001, 0.02)}, n_steps=150))',
    'display(widgets.compare_explorer(bowl, {"gd": run_gd, "momentum": run_momentum},\n'
    '                                 {"lr": (0.001, 0.1, 0.001, 0.03), "momentum": (0.0, 0.99, 0.01, 0.8)}, n_steps=60))',
    'display(widgets.ewma_explorer(np.random.default_rng(0).normal(size=120).cumsum(), ewma))',
    'ex = widgets.optimizer_explorer(bowl, run_gd, {"lr": ipywidgets.FloatLogSlider(value=0.05, min=-3, max=-1)}, n_steps=30)\n'
    'display(ex)\nex.controls["lr"].value = 0.09   # a redraw from a control change, inside the cell',
    'def draw(fig, scale):\n    ax = fig.subplots()\n    ax.plot(np.linspace(0, 1, 50) ** scale)\n'
    'display(widgets.Explorer({"scale": widgets.make_control("scale", (0.5, 3.0, 0.1, 1.0))}, draw))',
    'display(widgets.optimizer_explorer(bowl, broken, {"lr": (0.001, 0.1, 0.001, 0.05)}))   # shows its error in place',
]
#: Explorers per run: each kind twice, so a run has many chances to stall.
REPEATS = 2


def _notebook(folder):
    cells = [nbformat.v4.new_code_cell(SETUP)]
    for _ in range(REPEATS):
        cells += [nbformat.v4.new_code_cell(src) for src in EXPLORERS]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir()
    path = folder / "explorers.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    base = tmp_path_factory.mktemp("headless")
    notebook = _notebook(base / "explorers")
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [pool.submit(headless.run, notebook, runner, base / "runs", f"{runner}-{i}") for i, runner in enumerate(RUNS)]
        return [job.result() for job in jobs]


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(RUNS)), ids=[f"{r}-{i}" for i, r in enumerate(RUNS)])
def test_explorers_never_stall_headless(reports, i):
    report = reports[i]
    problems = report.problems()
    assert not problems, "\n".join(problems)
    n = REPEATS * len(EXPLORERS)
    assert report.cells_run() == n + 1
    assert report.widget_views() == n, f"{report.label}: {n} explorers built, {report.widget_views()} displayed"
    # each explorer's figure is in the saved widget state, so the executed notebook shows it too
    figures = report.output_widget_outputs()
    assert len(figures) == n
    drawn = [o for outs in figures for o in outs if "image/png" in o.get("data", {})]
    failed = [o for outs in figures for o in outs if o.get("output_type") == "error"]
    assert len(drawn) == n - REPEATS and len(failed) == REPEATS, figures
    for o in failed:  # the error shows as IPython shows it in a cell: one line for an unwritten exercise
        assert o["ename"] == "NotImplementedError" and "is not written yet" in "".join(o["traceback"]), o


# ------------------------------------------------------------- the explorer's side, without a kernel
def _png(output):
    assert output["output_type"] == "display_data", output
    png = base64.b64decode(output["data"]["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return png


def _gd(landscape, start, n_steps, lr):
    path = [np.array(start, dtype=float)]
    for _ in range(n_steps):
        path.append(path[-1] - lr * landscape.grad(path[-1]))
    return np.array(path)


def test_an_explorer_sets_its_figure_instead_of_capturing_output(monkeypatch):
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    ex = widgets.optimizer_explorer(landscapes.get_landscape("quadratic"), _gd, {"lr": (0.001, 0.12, 0.001, 0.05)},
                                    n_steps=5, figsize=(3, 2), dpi=30)
    assert len(ex.output.outputs) == 1
    first = _png(ex.output.outputs[0])
    ex.controls["lr"].value = 0.11
    assert len(ex.output.outputs) == 1 and _png(ex.output.outputs[0]) != first  # replaced, not appended
    assert ex.output.msg_id == ""  # never capturing: nothing for a frontend to route and send back


def _private_shell(monkeypatch):
    # a shell of its own (see test_notebook_errors), returned by get_ipython() for this test only
    shell = InteractiveShell()
    assert notebook_errors.install((CheckFailed,), shell)
    published = []
    shell._showtraceback = lambda etype, value, stb: published.append(stb)
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    return shell, published


def test_inside_ipython_an_error_shows_in_place_of_the_figure(monkeypatch):
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    shell, published = _private_shell(monkeypatch)
    hook = shell._showtraceback

    def stub(landscape, start, n_steps, lr):
        raise NotImplementedError()

    def wrong_shape(landscape, start, n_steps, lr):
        return np.zeros(3)

    bowl = landscapes.get_landscape("quadratic")
    ex = widgets.optimizer_explorer(bowl, stub, {"lr": (0.001, 0.12, 0.001, 0.05)}, figsize=(3, 2), dpi=30)
    (shown,) = ex.output.outputs
    assert shown["output_type"] == "error" and shown["ename"] == "NotImplementedError"
    assert len(shown["traceback"]) == 1 and "`stub` is not written yet" in shown["traceback"][0]  # as in a cell
    ex = widgets.optimizer_explorer(bowl, wrong_shape, {"lr": (0.001, 0.12, 0.001, 0.05)}, figsize=(3, 2), dpi=30)
    (shown,) = ex.output.outputs
    assert shown["ename"] == "ValueError" and "(T, 2)" in shown["evalue"]
    assert "wrong_shape" in "".join(shown["traceback"])  # a bug in one's own code keeps its traceback
    assert published == [] and shell._showtraceback is hook  # nothing went to the cell; the hook is back
