"""The only thing that crosses between a student's code and the grader: plain data.

Student code runs in its own process (:mod:`autograder.student_process`); the tests run in the
grader's. Values travel as length-prefixed JSON built from a closed set of types, so nothing a
student returns can execute code, compare equal to everything, or carry a patched method into
the process that decides the grade. This file is also copied into the student's sandbox, so it
imports only the standard library (NumPy and torch lazily, when a value needs them).

Encoded forms (``{"~": tag, ...}``; everything else is JSON itself):

* ``nd``  a NumPy array of a numeric or bool dtype: dtype, shape, base64 bytes;
* ``np``  a NumPy scalar; ``t`` a torch tensor (its data as ``nd`` plus ``requires_grad``);
* ``tuple``, ``dict`` (keys may be any encodable value), ``float`` (nan, inf);
* ``gen`` a ``numpy.random.Generator`` by its bit generator's state;
* ``ref`` an object that stays in the process that made it (a student's class instance, a
  cache, a function) — the other side holds a handle and may only call it or read attributes;
* ``cb`` a callable the grader passes in (a test's lambda): calling it asks the grader to run it;
* ``module`` a ``torch.nn`` model made of standard layers (:data:`MODULE_LAYERS`), rebuilt on the
  other side from its layer list and state; anything else in a model becomes a ``ref``.
"""

import base64
import json
import math
import struct
import sys

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 64
NUMERIC_KINDS = "biufc"

# standard layers a model may be built from, with the attributes that rebuild each one
MODULE_LAYERS = {
    "Linear": ("in_features", "out_features", "bias?"),
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "bias?"),
    "BatchNorm1d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "BatchNorm2d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "ReLU": (), "Tanh": (), "Sigmoid": (), "GELU": (), "Identity": (), "Flatten": ("start_dim", "end_dim"),
    "MaxPool2d": ("kernel_size", "stride", "padding"), "AvgPool2d": ("kernel_size", "stride", "padding"),
    "AdaptiveAvgPool2d": ("output_size",), "Dropout": ("p",), "Sequential": (),
}


class WireError(Exception):
    """A message that is not plain data of the allowed kinds (or is too big / too deep)."""


# -- framing ---------------------------------------------------------------------------------

def send(fd_write, obj):
    data = json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
    fd_write.write(struct.pack(">Q", len(data)) + data)
    fd_write.flush()


def recv(fd_read):
    head = _read_exact(fd_read, 8)
    (n,) = struct.unpack(">Q", head)
    if n > MAX_MESSAGE_BYTES:
        raise WireError(f"a message of {n / 2**20:.0f} MB is over the {MAX_MESSAGE_BYTES // 2**20} MB limit")
    return json.loads(_read_exact(fd_read, n).decode())


def _read_exact(fh, n):
    chunks, left = [], n
    while left:
        chunk = fh.read(left)
        if not chunk:
            raise EOFError("the other process closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# -- values ------------------------------------------------------------------------------------

def _np():
    import numpy
    return numpy


def _torch():
    return sys.modules.get("torch")


class Codec:
    """Encode/decode values for one side of a connection.

    Args:
        make_ref: ``obj -> id`` for objects that must stay on this side (``None``: refuse them).
        resolve_ref: ``id -> obj`` for handles this side handed out earlier.
        remote_ref: ``(id, info) -> proxy`` for handles the other side handed out.
        make_callback: ``fn -> id`` for callables this side lends to the other (the grader's side).
        remote_callback: ``id -> callable`` for callables the other side lent.
    """

    def __init__(self, make_ref=None, resolve_ref=None, remote_ref=None, make_callback=None, remote_callback=None,
                 param_key=None, resolve_param=None):
        self.make_ref, self.resolve_ref, self.remote_ref = make_ref, resolve_ref, remote_ref
        self.make_callback, self.remote_callback = make_callback, remote_callback
        # a parameter of a model that was an argument travels back as (argument, name), so the
        # grader's side gets its own model's parameter object, not a copy
        self.param_key, self.resolve_param = param_key, resolve_param

    # encode ----------------------------------------------------------------------------------
    def encode(self, x, depth=0, allow_pref=True):
        if depth > MAX_DEPTH:
            raise WireError("the value is nested too deeply")
        if x is None or isinstance(x, (bool, str)) or type(x) is int:
            return x
        if type(x) is float:
            return x if math.isfinite(x) else {"~": "float", "v": repr(x)}
        np = sys.modules.get("numpy")
        torch = _torch()
        if np is not None:
            if isinstance(x, np.ndarray) and type(x) is np.ndarray and x.dtype.kind in NUMERIC_KINDS and not x.dtype.fields:
                return self._nd(x)
            if isinstance(x, np.generic) and x.dtype.kind in NUMERIC_KINDS:
                return {"~": "np", "dtype": x.dtype.str, "v": self.encode(x.item(), depth + 1)}
            if isinstance(x, np.random.Generator):
                return {"~": "gen", "state": _jsonable_state(x.bit_generator.state)}
        if torch is not None:
            if isinstance(x, torch.nn.Parameter) and self.param_key is not None and allow_pref:
                key = self.param_key(x)
                if key is not None:
                    return {"~": "pref", "arg": key[0], "name": key[1]}
            if isinstance(x, torch.nn.Parameter) or type(x) is torch.Tensor:
                t = x.detach()
                if t.dtype == torch.bfloat16:
                    t = t.float()
                return {"~": "t", "data": self._nd(t.cpu().numpy()), "rg": bool(x.requires_grad),
                        "param": isinstance(x, torch.nn.Parameter)}
            if isinstance(x, torch.Size):
                return {"~": "tuple", "v": [int(v) for v in x]}
            if isinstance(x, torch.nn.Module):
                described = describe_module(x, self, depth)
                if described is not None:
                    return described
        if type(x) is tuple:
            return {"~": "tuple", "v": [self.encode(v, depth + 1) for v in x]}
        if type(x) is list:
            return [self.encode(v, depth + 1) for v in x]
        if type(x) is dict:
            return {"~": "dict", "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in x.items()]}
        if self.make_callback is not None and callable(x):
            return {"~": "cb", "id": self.make_callback(x)}
        if self.make_ref is not None:
            return {"~": "ref", "id": self.make_ref(x), "type": type(x).__name__[:80], "callable": callable(x)}
        raise WireError(f"a value of type {type(x).__name__} cannot be sent")

    @staticmethod
    def _nd(a):
        a = _np().ascontiguousarray(a)
        return {"~": "nd", "dtype": a.dtype.str, "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}

    # decode ----------------------------------------------------------------------------------
    def decode(self, x, depth=0):
        if depth > MAX_DEPTH:
            raise WireError("the value is nested too deeply")
        if x is None or isinstance(x, (bool, str, int, float)):
            return x
        if isinstance(x, list):
            return [self.decode(v, depth + 1) for v in x]
        if not isinstance(x, dict):
            raise WireError("unexpected value")
        tag = x.get("~")
        if tag == "float":
            if x.get("v") not in ("nan", "inf", "-inf"):
                raise WireError("bad float")
            return float(x["v"])
        if tag == "nd":
            return _decode_nd(x)
        if tag == "np":
            np = _np()
            dt = np.dtype(_checked_dtype(x.get("dtype")))
            return dt.type(self.decode(x.get("v"), depth + 1))
        if tag == "t":
            import torch
            arr = _decode_nd(x.get("data"))
            t = torch.from_numpy(arr.copy())
            if x.get("param"):
                return torch.nn.Parameter(t, requires_grad=bool(x.get("rg")))
            return t.requires_grad_(bool(x.get("rg"))) if t.is_floating_point() or t.is_complex() else t
        if tag == "tuple":
            return tuple(self.decode(v, depth + 1) for v in _list(x.get("v")))
        if tag == "dict":
            out = {}
            for pair in _list(x.get("v")):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise WireError("bad dict item")
                key = self.decode(pair[0], depth + 1)
                try:
                    hash(key)
                except TypeError:
                    raise WireError("a dict key that cannot be hashed") from None
                out[key] = self.decode(pair[1], depth + 1)
            return out
        if tag == "gen":
            np = _np()
            state = x.get("state")
            name = state.get("bit_generator") if isinstance(state, dict) else None
            if name not in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"):
                raise WireError("unknown random generator")
            bg = getattr(np.random, name)()
            bg.state = _state_from_json(state)
            return np.random.Generator(bg)
        if tag == "ref":
            if self.remote_ref is None:
                raise WireError("a handle was not expected here")
            return self.remote_ref(int(x["id"]), {"type": str(x.get("type", "object"))[:80], "callable": bool(x.get("callable"))})
        if tag == "own":  # a handle this side gave out, coming back
            if self.resolve_ref is None:
                raise WireError("a handle was not expected here")
            return self.resolve_ref(int(x["id"]))
        if tag == "cb":
            if self.remote_callback is None:
                raise WireError("a callable was not expected here")
            return self.remote_callback(int(x["id"]))
        if tag == "module":
            return build_module(x, self, depth)
        if tag == "pref":
            if self.resolve_param is None:
                raise WireError("a parameter reference was not expected here")
            return self.resolve_param(x.get("arg"), str(x.get("name")))
        raise WireError(f"unknown value kind {str(tag)[:20]!r}")


def _list(v):
    if not isinstance(v, list):
        raise WireError("expected a list")
    return v


def _checked_dtype(s):
    np = _np()
    if not isinstance(s, str) or len(s) > 8:
        raise WireError("bad dtype")
    dt = np.dtype(s)
    if dt.kind not in NUMERIC_KINDS or dt.fields or dt.hasobject:
        raise WireError("only numeric arrays can be sent")
    return dt


def _decode_nd(x):
    np = _np()
    if not isinstance(x, dict) or x.get("~") != "nd":
        raise WireError("expected an array")
    dt = _checked_dtype(x.get("dtype"))
    shape = tuple(int(s) for s in _list(x.get("shape")))
    if any(s < 0 for s in shape) or len(shape) > 32:
        raise WireError("bad array shape")
    try:
        raw = base64.b64decode(x.get("b64", ""), validate=True)
    except (ValueError, TypeError):
        raise WireError("array data that is not base64") from None
    n = 1
    for s in shape:
        n *= s
    if len(raw) != n * dt.itemsize:
        raise WireError("array data does not match its shape")
    return np.frombuffer(raw, dtype=dt).reshape(shape).copy()


def _jsonable_state(state):
    np = _np()
    if isinstance(state, dict):
        return {k: _jsonable_state(v) for k, v in state.items()}
    if isinstance(state, np.ndarray):
        return {"~arr": [int(v) for v in state.ravel()], "dtype": state.dtype.str}
    if isinstance(state, (np.integer,)):
        return int(state)
    return state


def _state_from_json(state):
    np = _np()
    if isinstance(state, dict):
        if "~arr" in state:
            return np.array(state["~arr"], dtype=_checked_dtype(state.get("dtype")))
        return {k: _state_from_json(v) for k, v in state.items()}
    return state


# -- models made of standard layers ------------------------------------------------------------

def describe_module(m, codec, depth):
    """``{"~": "module", ...}`` for a model of standard layers, else ``None``."""
    torch = _torch()
    kind = type(m).__name__
    if type(m).__module__.split(".")[:2] != ["torch", "nn"] or kind not in MODULE_LAYERS:
        return None
    args = {}
    for a in MODULE_LAYERS[kind]:
        if a.endswith("?"):
            args[a[:-1]] = getattr(m, a[:-1]) is not None
        else:
            args[a] = codec.encode(getattr(m, a), depth + 1)
    children = []
    for name, child in m.named_children():
        enc = codec.encode(child, depth + 1)
        children.append([name, enc])
    params = {n: codec.encode(p, depth + 1, allow_pref=False) for n, p in m.named_parameters(recurse=False)}
    buffers = {n: codec.encode(b, depth + 1) for n, b in m.named_buffers(recurse=False) if b is not None}
    return {"~": "module", "kind": kind, "args": args, "children": children, "params": params,
            "buffers": buffers, "training": bool(m.training), "torch": torch.__version__}


def build_module(x, codec, depth):
    import torch
    from torch import nn

    kind = x.get("kind")
    if kind not in MODULE_LAYERS:
        raise WireError("a model layer of an unknown kind")
    args = {k: codec.decode(v, depth + 1) for k, v in (x.get("args") or {}).items() if k in {a.rstrip("?") for a in MODULE_LAYERS[kind]}}
    for k, v in args.items():
        if isinstance(v, list):
            args[k] = tuple(v)
    if kind == "Sequential":
        m = nn.Sequential()
    else:
        m = getattr(nn, kind)(**args)
    for name, child in _list(x.get("children", [])):
        m.add_module(str(name), codec.decode(child, depth + 1))
    with torch.no_grad():
        for name, enc in (x.get("params") or {}).items():
            value = codec.decode(enc, depth + 1)
            if not isinstance(value, torch.Tensor) or name not in dict(m.named_parameters(recurse=False)):
                raise WireError("a model parameter that does not fit its layer")
            # a new Parameter from the value: its dtype (float64 models) and flag, not the default layer's
            setattr(m, name, nn.Parameter(value.detach().clone(), requires_grad=value.requires_grad))
        for name, enc in (x.get("buffers") or {}).items():
            value = codec.decode(enc, depth + 1)
            if name in dict(m.named_buffers(recurse=False)) and isinstance(value, torch.Tensor):
                setattr(m, name, value.detach().clone())
    m.training = bool(x.get("training", True))   # each child set its own flag when it was built
    return m
