"""Running notebooks headless as an instructor's script would, and telling a stall from a slow cell.

A run here is a plain command, ``jupyter execute`` (nbclient) or ``jupyter nbconvert
--execute``, started in the notebook's own folder with the test's environment minus
``MPLBACKEND``, ``COURSE_ROOT``, ``COURSE_DATA`` and the grading flags, and a short cell
timeout (:data:`CELL_TIMEOUT_S`). The only addition is a probe in the kernel, installed as
an IPython start-up file through ``IPYTHONDIR``, that appends one JSON line per event to
``$COURSE_HEADLESS_PROBE``:

* ``execute:start`` / ``execute:end``: a cell's ``execute_request`` arrives / its reply is sent;
* ``shutdown``: the runner asks the kernel to stop;
* ``comm``: a comm message *from the frontend* (the runner) arrived.

Why these: the stall of issue 12 was a cell whose ``execute_reply`` the kernel had sent but
the runner did not read until the cell timeout expired (nbclient then carries on as if
nothing happened, so an ordinary run passes, only slowly). The probe sees it as a gap between
one cell's ``execute:end`` and the next request (or the shutdown) as long as the timeout.
It was triggered by the runner sending comm messages to the kernel while a cell ran (nbclient
mimics an ``ipywidgets.Output`` and sends its outputs back), so any ``comm`` event is reported
too: it is the precondition of the stall, and it shows on every run, where the stall itself
shows on a few per cent of them.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat

JUPYTER = str(Path(sys.executable).with_name("jupyter"))

#: The per-cell timeout of every headless run. Every cell of the course takes a few seconds;
#: the margin is for a busy machine (a slow cell is not a stall, and fails on its own).
CELL_TIMEOUT_S = 120
#: A cell whose reply reached the runner this long after the kernel sent it stalled: the
#: runner sends the next request within milliseconds of reading a reply (at most 0.04 s
#: seen on a 2-core machine at load 10), and a stalled reply is read only at the timeout.
STALL_S = 10
#: What no headless run may see: the environment that hid the stall, and grading mode.
DROPPED_ENV = ("MPLBACKEND", "COURSE_ROOT", "COURSE_DATA", "COURSE_GRADING", "NBGRADER_VALIDATING",
               "JPY_PARENT_PID", "IPYTHONDIR")

PROBE = textwrap.dedent('''
    # Written by tests/headless.py: logs when cells start and end and what the frontend sends.
    def _course_headless_probe():
        import inspect, json, os, time
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        path = os.environ.get("COURSE_HEADLESS_PROBE")
        if kernel is None or not path:
            return

        def log(**event):
            event["t"] = time.time()
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\\n")

        def widget_name(comm_id):
            try:
                from ipywidgets.widgets.widget import _instances
                return type(_instances[comm_id]).__name__
            except Exception:
                return None

        def wrap(handlers, name, before, after=None):
            handler = handlers[name]

            async def probe(stream, ident, msg):
                before(msg)
                try:
                    result = handler(stream, ident, msg)
                    if inspect.isawaitable(result):
                        result = await result
                    return result
                finally:
                    if after is not None:
                        after(msg)

            handlers[name] = probe

        def first_line(msg):
            return (msg["content"].get("code") or "").strip().split("\\n")[0][:120]

        def comm(msg):
            content = msg["content"]
            data = content.get("data") or {}
            log(event="comm", type=msg["header"]["msg_type"], comm_id=content.get("comm_id"),
                widget=widget_name(content.get("comm_id")), method=data.get("method"),
                keys=sorted(data.get("state") or {}))

        wrap(kernel.shell_handlers, "execute_request",
             lambda msg: log(event="execute:start", code=first_line(msg)),
             lambda msg: log(event="execute:end"))
        for name in ("comm_open", "comm_msg", "comm_close"):
            if name in kernel.shell_handlers:
                wrap(kernel.shell_handlers, name, comm)
        wrap(kernel.control_handlers, "shutdown_request", lambda msg: log(event="shutdown"))

    _course_headless_probe()
    del _course_headless_probe
''')


def probe_dir(tmp):
    """An ``IPYTHONDIR`` under ``tmp`` whose start-up file installs the probe; returns its path."""
    ipython_dir = Path(tmp) / "ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-course-headless-probe.py").write_text(PROBE)
    return ipython_dir


def headless_env(ipython_dir, probe_log):
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(IPYTHONDIR=str(ipython_dir), COURSE_HEADLESS_PROBE=str(probe_log), PYTHONUNBUFFERED="1")
    return env


def command(runner, notebook, out_dir, allow_errors=False):
    """The command line of ``runner`` (``"nbclient"`` or ``"nbconvert"``) for ``notebook``."""
    out = Path(out_dir) / notebook.name
    errors = ["--allow-errors"] if allow_errors else []
    if runner == "nbclient":
        return [JUPYTER, "execute", f"--timeout={CELL_TIMEOUT_S}", *errors, f"--output={out}", notebook.name]
    if runner == "nbconvert":
        return [JUPYTER, "nbconvert", "--to", "notebook", "--execute", f"--ExecutePreprocessor.timeout={CELL_TIMEOUT_S}",
                *errors, f"--output-dir={out_dir}", notebook.name]
    raise ValueError(f"runner must be 'nbclient' or 'nbconvert', got {runner!r}")


def run(notebook, runner, work, label=None, allow_errors=False, timeout_s=900):
    """Execute ``notebook`` headless in its own folder with ``runner``; return a :class:`Report`.

    ``work`` is a scratch folder (the executed copy, the probe's files); nothing is written
    next to the notebook except what the notebook itself writes. With ``allow_errors`` a
    cell's error does not stop the run (the runner's ``--allow-errors``).
    """
    notebook = Path(notebook).resolve()
    label = label or f"{runner}:{notebook.name}"
    work = Path(work) / re.sub(r"[^\w.-]", "_", label)
    work.mkdir(parents=True, exist_ok=True)
    probe_log = work / "probe.jsonl"
    env = headless_env(probe_dir(work), probe_log)
    t0 = time.time()
    try:
        proc = subprocess.run(command(runner, notebook, work, allow_errors), cwd=notebook.parent, env=env,
                              capture_output=True, text=True, timeout=timeout_s)
        returncode, stderr = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as e:
        returncode, stderr = "timeout", (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
    executed = work / notebook.name
    nb = nbformat.read(str(executed), as_version=4) if returncode == 0 and executed.exists() else None
    events = [json.loads(line) for line in probe_log.read_text().splitlines()] if probe_log.exists() else []
    return Report(label, runner, notebook, returncode, stderr, nb, events, time.time() - t0)


class Report:
    """What one headless run did: the runner's exit, the executed notebook, the kernel's probe log."""

    def __init__(self, label, runner, notebook, returncode, stderr, nb, events, wall_s):
        self.label, self.runner, self.notebook = label, runner, notebook
        self.returncode, self.stderr, self.nb, self.events, self.wall_s = returncode, stderr, nb, events, wall_s

    def failure(self):
        """Why the run failed to finish (one paragraph), or ``None``."""
        if self.returncode == 0 and self.nb is not None:
            return None
        tail = "\n".join(self.stderr.strip().splitlines()[-25:])
        return f"{self.label}: the runner exited with {self.returncode} after {self.wall_s:.0f} s:\n{tail}"

    def stalls(self):
        """``(code, seconds)`` for each cell whose reply waited ``>= STALL_S`` before the runner went on."""
        out, end, code = [], None, None
        for e in self.events:
            if e["event"] == "execute:end":
                end = e["t"]
            elif e["event"] in ("execute:start", "shutdown"):
                if end is not None and e["t"] - end >= STALL_S:
                    out.append((code, round(e["t"] - end, 1)))
                end = None
                code = e.get("code")
        return out

    def frontend_comms(self):
        """The comm messages the runner sent to the kernel (each one a chance to stall)."""
        return [e for e in self.events if e["event"] == "comm"]

    def cells_run(self):
        return sum(e["event"] == "execute:start" for e in self.events)

    def error_outputs(self):
        """``(cell index, output)`` for each error a cell shows."""
        return [(i, o) for i, c in enumerate(self.nb.cells) if c.cell_type == "code"
                for o in c.outputs if o.output_type == "error"]

    def widget_views(self):
        """How many widgets the cells displayed."""
        return sum("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                   for c in self.nb.cells if c.cell_type == "code" for o in c.outputs)

    def output_widget_outputs(self):
        """The ``outputs`` of every ``ipywidgets.Output`` in the saved widget state (the explorers' figures)."""
        state = self.nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
        return [w["state"].get("outputs", []) for w in state.values() if w.get("model_name") == "OutputModel"]

    def problems(self, error_allowed=None):
        """Every way this run fell short of 'headless execution never stalls', as sentences.

        A cell's error output counts too, unless ``error_allowed(output)`` says it is expected.
        """
        failed = self.failure()
        if failed:
            return [failed]
        found = []
        for code, seconds in self.stalls():
            found.append(f"{self.label}: the reply of the cell starting {code!r} reached the runner {seconds} s after "
                         f"the kernel sent it (a stall: nbclient reads such a reply only when the cell's "
                         f"{CELL_TIMEOUT_S} s timeout expires).")
        comms = self.frontend_comms()
        if comms:
            what = sorted({f"{c['type']} to {c['widget'] or c['comm_id']} ({c['method']}: {', '.join(c['keys'])})" for c in comms})
            found.append(f"{self.label}: the runner sent {len(comms)} comm message(s) to the kernel while cells ran: "
                         f"{'; '.join(what)[:400]}. Each can hide a cell's reply until the timeout (nbclient#312); "
                         "an explorer must put its figure into its widget from the kernel, not display into an Output.")
        if self.cells_run() == 0:
            found.append(f"{self.label}: the probe saw no cell run (was the start-up file loaded?)")
        errors = [(i, o.get("ename"), str(o.get("evalue"))[:200]) for i, o in self.error_outputs()
                  if error_allowed is None or not error_allowed(o)]
        if errors:
            found.append(f"{self.label}: cells raised {errors}")
        return found
