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

Every reply is hostile input here: each gets a fresh :class:`wire.Budget`, and a reply over it,
or one that is not what the protocol says, raises :class:`ResultRefused` (a
:class:`StudentCodeError`, so no test's ``except ValueError`` can take it for an answer) with one
sentence. What the student's function returned that stays in its process is named in words
("an object of type Foo that stays in your process"), never by a Python ``repr``.
"""

import builtins
import re
import shutil
import time

from autograder import wire
from autograder.jail import Limits, StudentCodeError, StudentProcess, new_job_dir

MAX_RESTARTS = 3

#: Called as ``WATCH("dir", path)`` for each student job folder and ``WATCH("pid", pid)`` for each
#: student process this process starts (``None``: nobody listens). A local grading worker
#: writes them down, so that if it is killed its parent can stop and remove what it left.
WATCH = None


class ResultRefused(StudentCodeError):
    """A reply from the student process that the grader will not read (too big, malformed)."""


def _watch(kind, value):
    if WATCH is not None:
        try:
            WATCH(kind, value)
        except Exception:  # noqa: BLE001 - bookkeeping must never fail a grade
            pass


_FUNCTION_TYPES = {"function", "method", "builtin_function_or_method", "partial", "cython_function_or_method"}
_CLASSES = {}


def describe(info):
    """Words for an object that stays in the student's process, as it appears in a message."""
    kind = str(info.get("type", "object"))
    if kind in _FUNCTION_TYPES:
        return "a function that stays in your process"
    return f"an object of type {kind} that stays in your process"


def _remote_class(description):
    """A :class:`Remote` subclass named by ``description``: messages built from ``type(x).__name__``
    (``check_type``'s "returned ...", Python's own TypeErrors) then read as words."""
    cls = _CLASSES.get(description)
    if cls is None:
        if len(_CLASSES) > 500:
            description = "an object that stays in your process"
            cls = _CLASSES.get(description)
        if cls is None:
            cls = type(description, (Remote,), {"__slots__": (), "__module__": "your process"})
            cls.__qualname__ = description
            _CLASSES[description] = cls
    return cls


def remote(session, target, info):
    """The stand-in for ``target`` (``{"name": n}`` an exercise function, ``{"ref": i}`` an object)."""
    if "name" in target:
        description = f"your function {target['name']}"
    else:
        description = describe(info)
    return _remote_class(description)(session, target, info)


MAX_CELL_BYTES = wire.MAX_MESSAGE_BYTES - 64 * 1024


def _error_pair(error):
    """``(ename, evalue)`` of an error as the student process reports it (anything else: a generic one)."""
    if isinstance(error, list) and len(error) == 2 and isinstance(error[0], str) and isinstance(error[1], str):
        return error[0][:80], error[1][:1000]
    return "Error", "(no message)"


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
        raise TypeError(f"{type(self).__name__} is not True or False")

    def __repr__(self):
        return type(self).__name__

    __str__ = __repr__

    def __format__(self, spec):
        return type(self).__name__


class Session:
    def __init__(self, isolation="namespaces", limits=Limits(), data_dir=None, hide=(), job_dir=None):
        self.isolation, self.limits, self.data_dir, self.hide = isolation, limits, data_dir, tuple(hide)
        self._own_dir = job_dir is None
        self.job_dir = job_dir or new_job_dir()
        _watch("dir", str(self.job_dir))
        self.proc = None
        self.cells = []            # cells run so far: replayed after a restart
        self.restarts = 0
        self.last_problem = None
        self.callbacks = {}
        self.deadline = time.monotonic() + limits.notebook_s

    # -- process -------------------------------------------------------------------------------
    def _start(self):
        proc = StudentProcess(self.job_dir, self.isolation, self.limits, self.data_dir, self.hide, deadline=self.deadline)
        pid = getattr(getattr(proc, "proc", None), "pid", None)
        if pid:
            _watch("pid", pid)
        return proc

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
        except RecursionError:   # the frame's JSON nests deeper than the parser goes
            proc.kill()
            raise ResultRefused(f"your code sent back a value nested more than {wire.MAX_DEPTH} levels deep, "
                                "so the grader stopped it") from None

    def reset(self):
        """Stop the student process (the next request starts a fresh one and replays the cells):
        after the grader itself was interrupted mid-request, the channel's state is unknown."""
        if self.proc is not None and self.proc.alive:
            self.proc.kill()

    def close(self):
        if self.proc is not None:
            self.proc.close()
        if self._own_dir:
            shutil.rmtree(self.job_dir, ignore_errors=True)

    # -- cells ---------------------------------------------------------------------------------
    def run_cell(self, code):
        """``(output text, (ename, evalue) or None)`` of one of the student's notebook cells."""
        if not isinstance(code, str):
            code = ""
        size = len(code.encode("utf-8", "replace"))
        if size > MAX_CELL_BYTES:
            return "", ("GraderStoppedYourCode", f"this cell holds {size / 2**20:.1f} MB of code, more than the "
                                                 f"{MAX_CELL_BYTES // 2**20} MB the grader runs per cell; it was not run")
        try:
            reply = self._request({"op": "cell", "code": code})
        except StudentCodeError as e:
            return "", ("GraderStoppedYourCode", str(e))
        self.cells.append(code)
        error = reply.get("error")
        err = _error_pair(error) if error is not None else None
        output = reply.get("output", "")
        return (output if isinstance(output, str) else "")[:100_000], err

    def defined(self, names):
        try:
            reply = self._request({"op": "names", "names": list(names)})
        except StudentCodeError:
            return {}
        value = reply.get("value")
        if not isinstance(value, dict) or len(value) > 10_000:
            return {}
        return {str(k)[:200]: str(v)[:20] for k, v in value.items()}

    def proxies(self, names):
        return {n: remote(self, {"name": n}, {"type": "function"}) for n in names}

    # -- calls -----------------------------------------------------------------------------------
    def _codec(self, params_of=None, budget=None):
        return wire.Codec(remote_ref=lambda i, info: remote(self, {"ref": i}, info),
                          make_callback=self._lend, resolve_param=params_of, budget=budget)

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
        codec = self._codec(budget=wire.Budget())
        key = msg.get("callback")
        fn = self.callbacks.get(key) if isinstance(key, int) else None
        try:
            if fn is None:
                raise ValueError("unknown callable")
            raw_args, raw_kwargs = msg.get("args", []), msg.get("kwargs", [])
            if not isinstance(raw_args, list) or not isinstance(raw_kwargs, list) \
                    or not all(isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str) for kv in raw_kwargs):
                raise ValueError("a malformed call")
            try:
                args = [codec.decode(a) for a in raw_args]
                kwargs = {k: codec.decode(v) for k, v in raw_kwargs}
            except wire.WireError as e:
                raise ValueError(f"your code passed the grader's function {e}") from None
            return {"op": "cb_result", "value": self._encode(codec, fn(*args, **kwargs))}
        except StudentCodeError:
            raise
        except Exception as e:  # noqa: BLE001 - the test's function failed on what the student passed it
            return {"op": "cb_error", "error": f"{type(e).__name__}: {e}"[:500]}

    def call(self, target, args, kwargs):
        codec = self._codec()
        msg = {"op": "call", "target": target, "args": [self._encode(codec, a) for a in args],
               "kwargs": [[k, self._encode(codec, v)] for k, v in kwargs.items()]}
        reply = self._reply(msg)
        originals = dict(enumerate(args))
        originals.update(kwargs)

        def params_of(key, name):
            model = originals.get(key)
            try:
                return dict(model.named_parameters())[name]
            except (AttributeError, KeyError, TypeError):
                raise wire.WireError("a parameter of a model that was not passed in") from None

        budget = wire.Budget()   # one for the whole reply: the value and every argument copied back
        sync = reply.get("sync", [])
        try:
            if not isinstance(sync, list) or len(sync) > len(originals) \
                    or not all(isinstance(e, list) and len(e) == 2 and type(e[0]) in (int, str) for e in sync):
                raise wire.WireError("a reply that is not what the grader asked for")
            back = [(originals[key], self._codec(budget=budget).decode(enc)) for key, enc in sync if key in originals]
        except wire.WireError as e:
            raise ResultRefused(f"your function returned {e}, so the grader did not read it") from None
        # the arguments' changes first: a returned parameter names the model as the call left it
        # (a head the function replaced is found under its name)
        for orig, new in back:
            apply_in_place(orig, new)
        try:
            return self._codec(params_of, budget).decode(reply.get("value"))
        except wire.WireError as e:
            raise ResultRefused(f"your function returned {e}, so the grader did not read it") from None

    def getattr(self, ref, name):
        reply = self._reply({"op": "getattr", "ref": ref, "name": name})
        try:
            return self._codec(budget=wire.Budget()).decode(reply.get("value"))
        except wire.WireError as e:
            raise ResultRefused(f"an attribute of your object held {e}, so the grader did not read it") from None

    def _reply(self, msg):
        """The student process's answer to ``msg``; re-raises the exception its code raised."""
        reply = self._request(msg, self._on_callback)
        op = reply.get("op")
        if op == "raised":
            raise _exception(*_error_pair(reply.get("error")))
        if op != "value":
            raise ResultRefused("your code answered the grader with something other than a value")
        return reply


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
