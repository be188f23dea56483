"""The grader's side of a student process: run cells there, call the student's functions from here.

A :class:`Session` owns one student process (:mod:`autograder.jail`). Test cells run in the
grader's own process; the names the exercises define are :class:`Remote` stand-ins, so
``adam(w, g, state)`` in a test sends ``w``, ``g`` and ``state`` as plain data, runs the
student's ``adam`` in the student process and brings back plain data. In-place changes the
student's function makes to arrays, tensors, lists, dicts, random generators and models are
copied back onto the test's own objects, so tests like "the input was not modified" work.

If the student process dies or runs over a time limit, the call raises :class:`StudentCodeError`
in the test (that test fails with the reason) and the next request starts a fresh process that
replays the cells run so far, except the one that caused the problem.
"""

import builtins
import re
import shutil
import time

from autograder import wire
from autograder.jail import Limits, StudentCodeError, StudentProcess, new_job_dir

MAX_RESTARTS = 3


def _exception(ename, evalue):
    """An exception of the student's exception's name, carrying only its message."""
    ename = ename if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,79}", str(ename)) else "Error"
    cls = getattr(builtins, ename, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)) or ename in ("SystemExit", "KeyboardInterrupt"):
        cls = type(ename, (Exception,), {"__module__": "student"})
    try:
        return cls(evalue)
    except Exception:  # noqa: BLE001 - builtins with other constructors (UnicodeError family)
        return type(ename, (Exception,), {"__module__": "student"})(evalue)


class Remote:
    """A function or object that lives in the student process."""

    __slots__ = ("_session", "_target", "_info")

    def __init__(self, session, target, info):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_info", info)

    def __call__(self, *args, **kwargs):
        return self._session.call(self._target, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__") or "ref" not in self._target:
            raise AttributeError(name)
        return self._session.getattr(self._target["ref"], name)

    def __setattr__(self, name, value):
        raise AttributeError("objects made by the student's code are read-only here")

    def __bool__(self):
        raise TypeError(f"{self!r} is an object, not True or False")

    def __repr__(self):
        if "name" in self._target:
            return f"<your {self._target['name']}>"
        return f"<{self._info.get('type', 'object')} made by your code>"


class Session:
    def __init__(self, isolation="namespaces", limits=Limits(), data_dir=None, hide=(), job_dir=None):
        self.isolation, self.limits, self.data_dir, self.hide = isolation, limits, data_dir, tuple(hide)
        self._own_dir = job_dir is None
        self.job_dir = job_dir or new_job_dir()
        self.proc = None
        self.cells = []            # cells run so far: replayed after a restart
        self.restarts = 0
        self.last_problem = None
        self.callbacks = {}
        self.deadline = time.monotonic() + limits.notebook_s

    # -- process -------------------------------------------------------------------------------
    def _start(self):
        return StudentProcess(self.job_dir, self.isolation, self.limits, self.data_dir, self.hide, deadline=self.deadline)

    def _process(self):
        if self.proc is not None and self.proc.alive:
            return self.proc
        if self.proc is not None:
            self.restarts += 1
            if self.restarts > MAX_RESTARTS:
                raise StudentCodeError(f"{self.last_problem}; the grader gave up restarting it")
        self.proc = self._start()
        for code in list(self.cells):
            try:
                self.proc.request({"op": "cell", "code": code})
            except StudentCodeError:  # it passed the first time; leave it out and go on
                self.cells.remove(code)
                self.proc = self._start()
        return self.proc

    def _request(self, msg, on_callback=None):
        proc = self._process()
        try:
            return proc.request(msg, on_callback)
        except StudentCodeError as e:
            self.last_problem = str(e)
            raise

    def close(self):
        if self.proc is not None:
            self.proc.close()
        if self._own_dir:
            shutil.rmtree(self.job_dir, ignore_errors=True)

    # -- cells ---------------------------------------------------------------------------------
    def run_cell(self, code):
        """``(output text, (ename, evalue) or None)`` of one of the student's notebook cells."""
        try:
            reply = self._request({"op": "cell", "code": code})
        except StudentCodeError as e:
            return "", ("GraderStoppedYourCode", str(e))
        self.cells.append(code)
        error = reply.get("error")
        err = (str(error[0])[:80], str(error[1])[:1000]) if isinstance(error, list) and len(error) == 2 else None
        return str(reply.get("output", ""))[:100_000], err

    def defined(self, names):
        try:
            reply = self._request({"op": "names", "names": list(names)})
        except StudentCodeError:
            return {}
        value = reply.get("value")
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    def proxies(self, names):
        return {n: Remote(self, {"name": n}, {"type": "function"}) for n in names}

    # -- calls -----------------------------------------------------------------------------------
    def _codec(self, params_of=None):
        return wire.Codec(remote_ref=lambda i, info: Remote(self, {"ref": i}, info),
                          make_callback=self._lend, resolve_param=params_of)

    def _lend(self, fn):
        i = len(self.callbacks) + 1
        self.callbacks[i] = fn
        return i

    def _encode(self, codec, x):
        if isinstance(x, Remote) and "ref" in x._target:
            return {"~": "own", "id": x._target["ref"]}
        if isinstance(x, (list, tuple)) and any(isinstance(v, Remote) for v in x):
            enc = [self._encode(codec, v) for v in x]
            return enc if isinstance(x, list) else {"~": "tuple", "v": enc}
        return codec.encode(x)

    def _on_callback(self, msg):
        codec = self._codec()
        fn = self.callbacks.get(msg.get("callback"))
        try:
            if fn is None:
                raise ValueError("unknown callable")
            args = [codec.decode(a) for a in msg.get("args", [])]
            kwargs = {str(k): codec.decode(v) for k, v in msg.get("kwargs", [])}
            return {"op": "cb_result", "value": self._encode(codec, fn(*args, **kwargs))}
        except StudentCodeError:
            raise
        except Exception as e:  # noqa: BLE001 - the test's function failed on what the student passed it
            return {"op": "cb_error", "error": f"{type(e).__name__}: {e}"[:500]}

    def call(self, target, args, kwargs):
        codec = self._codec()
        msg = {"op": "call", "target": target, "args": [self._encode(codec, a) for a in args],
               "kwargs": [[k, self._encode(codec, v)] for k, v in kwargs.items()]}
        reply = self._request(msg, self._on_callback)
        if reply.get("op") == "raised":
            error = reply.get("error") or ["Error", ""]
            raise _exception(str(error[0]), str(error[1]))
        originals = dict(enumerate(args))
        originals.update(kwargs)

        def params_of(key, name):
            model = originals.get(key if not isinstance(key, int) else int(key))
            try:
                return dict(model.named_parameters())[name]
            except (AttributeError, KeyError):
                raise wire.WireError("a parameter of a model that was not passed in") from None

        try:
            for key, enc in reply.get("sync", []):
                if key in originals:
                    apply_in_place(originals[key], codec.decode(enc))
            return self._codec(params_of).decode(reply.get("value"))
        except wire.WireError as e:
            raise ValueError(f"your function returned something the grader cannot read ({e})") from None

    def getattr(self, ref, name):
        reply = self._request({"op": "getattr", "ref": ref, "name": name}, self._on_callback)
        if reply.get("op") == "raised":
            error = reply.get("error") or ["Error", ""]
            raise _exception(str(error[0]), str(error[1]))
        return self._codec().decode(reply.get("value"))


# -- copying in-place changes back -------------------------------------------------------------

def apply_in_place(orig, new):
    import sys

    np = sys.modules.get("numpy")
    torch = sys.modules.get("torch")
    if np is not None and isinstance(orig, np.ndarray):
        if isinstance(new, np.ndarray) and new.shape == orig.shape and orig.flags.writeable:
            np.copyto(orig, new, casting="unsafe")
    elif np is not None and isinstance(orig, np.random.Generator):
        if isinstance(new, np.random.Generator) and type(new.bit_generator) is type(orig.bit_generator):
            orig.bit_generator.state = new.bit_generator.state
    elif torch is not None and isinstance(orig, torch.nn.Module):
        if isinstance(new, torch.nn.Module):
            _sync_module(orig, new)
    elif torch is not None and isinstance(orig, torch.Tensor):
        if isinstance(new, torch.Tensor) and new.shape == orig.shape:
            with torch.no_grad():
                orig.copy_(new)
            if orig.is_leaf and orig.requires_grad != new.requires_grad and (orig.is_floating_point() or not new.requires_grad):
                orig.requires_grad_(new.requires_grad)
    elif isinstance(orig, dict) and isinstance(new, dict):
        orig.clear()
        orig.update(new)
    elif isinstance(orig, list) and isinstance(new, list):
        orig[:] = new


def _sync_module(orig, new):
    import torch

    with torch.no_grad():
        for name, p in list(orig._parameters.items()):
            q = new._parameters.get(name, None) if name in new._parameters else None
            if q is None or p is None or q.shape != p.shape or q.dtype != p.dtype:
                orig._parameters[name] = new._parameters.get(name)
            else:
                p.copy_(q)
                p.requires_grad_(q.requires_grad)
        for name in new._parameters:
            if name not in orig._parameters:
                orig._parameters[name] = new._parameters[name]
        for name in list(orig._buffers):
            if name in new._buffers and new._buffers[name] is not None and orig._buffers[name] is not None \
                    and new._buffers[name].shape == orig._buffers[name].shape \
                    and new._buffers[name].dtype == orig._buffers[name].dtype:
                orig._buffers[name].copy_(new._buffers[name])
            else:
                orig._buffers[name] = new._buffers.get(name)
    names = list(new._modules)
    for name in names:
        a, b = orig._modules.get(name), new._modules[name]
        if a is not None and b is not None and type(a) is type(b) and _same_shape(a, b):
            _sync_module(a, b)
        else:
            orig._modules[name] = b
    for name in list(orig._modules):
        if name not in new._modules:
            del orig._modules[name]
    orig.training = new.training


def _same_shape(a, b):
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    return pa.keys() == pb.keys() and all(pa[k].shape == pb[k].shape for k in pa)
