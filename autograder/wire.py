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
  other side from its layer list and state; anything else in a model becomes a ``ref``. A layer
  used twice in one value (``nn.Sequential(layer, act, layer)``) is sent once and then as
  ``mref`` (its number in the order layers are first met), a parameter shared by two layers
  (tied weights) as ``tref``: the copy shares exactly what the original shares.
"""

import base64
import json
import math
import re
import struct
import sys

# Limits on what one message may hold. The grader's side checks every size it decodes against
# them before it allocates anything (the student's side trusts the grader). The largest reply the
# course's own tests produce is about 0.2 MB with a few thousand values.
MAX_MESSAGE_BYTES = 8 * 2**20     # one frame, either direction; a longer one is refused before it is read
MAX_DEPTH = 64                    # nesting of lists, tuples, dicts and models
MAX_ITEMS = 200_000               # values (list items, dict entries, layers, ...) in one message
MAX_DATA_BYTES = 16 * 2**20       # array, tensor, parameter and string bytes in one message, decoded
MAX_STRING_CHARS = 2**20          # one string
MAX_LAYER_GEOMETRY = 256          # kernel sizes, strides, paddings and pooling output sizes of a model layer
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
    """A message that is not plain data of the allowed kinds (or is too big / too deep).

    ``str(e)`` completes the sentence "your function returned ...".
    """


class Budget:
    """What one message may still hold: :data:`MAX_ITEMS` values and :data:`MAX_DATA_BYTES` bytes.

    The grader's side gives each reply a fresh budget and charges it while decoding, before
    each allocation: an array's size is its shape times its item size, checked before its data
    is read; a model's parameters are counted from its layers' shapes before they are built.
    """

    def __init__(self, items=None, data_bytes=None):
        self.items = MAX_ITEMS if items is None else items
        self.data_bytes = MAX_DATA_BYTES if data_bytes is None else data_bytes

    def charge(self, items=0, data_bytes=0):
        self.items -= items
        self.data_bytes -= data_bytes
        if self.items < 0:
            raise WireError(f"more than {MAX_ITEMS:,} values (list items, dict entries, layers) in one result")
        if self.data_bytes < 0:
            raise WireError(f"more than {MAX_DATA_BYTES // 2**20} MB of arrays, tensors and text in one result")


# -- framing ---------------------------------------------------------------------------------

def send(fd_write, obj):
    data = json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
    fd_write.write(struct.pack(">Q", len(data)) + data)
    fd_write.flush()


def recv(fd_read):
    head = _read_exact(fd_read, 8)
    (n,) = struct.unpack(">Q", head)
    if n > MAX_MESSAGE_BYTES:  # refused from its length, before a byte of it is read
        raise WireError(f"a message of {n / 2**20:.0f} MB, over the {MAX_MESSAGE_BYTES // 2**20} MB limit")
    return loads(_read_exact(fd_read, n))


def loads(data):
    """Parse one frame's bytes, refusing (before JSON builds any object) a frame with more
    structure than :data:`MAX_ITEMS` values could need or nesting deeper than JSON's parser allows."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError(f"a message of {len(data) / 2**20:.0f} MB, over the {MAX_MESSAGE_BYTES // 2**20} MB limit")
    if data.count(b"[") + data.count(b"{") + data.count(b",") > 4 * MAX_ITEMS:
        raise WireError(f"more than {MAX_ITEMS:,} values (list items, dict entries, layers) in one result")
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise WireError(f"a value nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError):
        raise WireError("bytes that are not a message") from None


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
        budget: a :class:`Budget` for one message: decoding refuses more (the grader's side).
    """

    def __init__(self, make_ref=None, resolve_ref=None, remote_ref=None, make_callback=None, remote_callback=None,
                 param_key=None, resolve_param=None, budget=None):
        self.make_ref, self.resolve_ref, self.remote_ref = make_ref, resolve_ref, remote_ref
        self.budget = budget  # a Budget: decoding checks every size against it (the grader's side)
        self.make_callback, self.remote_callback = make_callback, remote_callback
        # a parameter of a model that was an argument travels back as (argument, name), so the
        # grader's side gets its own model's parameter object, not a copy
        self.param_key, self.resolve_param = param_key, resolve_param

    # encode ----------------------------------------------------------------------------------
    def encode(self, x, depth=0, allow_pref=True):
        if depth == 0:
            self._shared = ({}, {})   # id(layer) -> number, id(parameter) -> number, within one value
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
        a = a if a.flags.c_contiguous else a.copy(order="C")   # (np.ascontiguousarray makes a 0-d array 1-d)
        return {"~": "nd", "dtype": a.dtype.str, "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}

    # decode ----------------------------------------------------------------------------------
    def decode(self, x, depth=0):
        """The value ``x`` (parsed JSON) encodes. With a :class:`Budget` (the grader's side),
        every size is checked against it first, and any malformed part raises :class:`WireError`."""
        if depth == 0:
            self._built = ([], [])    # layers and parameters in the order they were first rebuilt
        if self.budget is None:
            return self._decode(x, depth)
        try:
            return self._decode(x, depth)
        except WireError:
            raise
        except RecursionError:
            raise WireError(f"a value nested more than {MAX_DEPTH} levels deep") from None
        except MemoryError:
            raise WireError("a value too large for the grader's memory") from None
        except Exception:  # noqa: BLE001 - whatever a forged message makes a constructor raise
            raise WireError("a value the grader cannot read (not plain data of the kinds it accepts)") from None

    def _decode(self, x, depth=0):
        if depth > MAX_DEPTH:
            raise WireError(f"a value nested more than {MAX_DEPTH} levels deep")
        budget = self.budget
        if budget is not None:
            budget.charge(items=1)
        if x is None or isinstance(x, (bool, int, float)):
            return x
        if isinstance(x, str):
            if budget is not None:
                if len(x) > MAX_STRING_CHARS:
                    raise WireError(f"a string of more than {MAX_STRING_CHARS:,} characters")
                budget.charge(data_bytes=len(x))
            return x
        if isinstance(x, list):
            if budget is not None:
                budget.charge(items=len(x))  # before the list is built
            return [self._decode(v, depth + 1) for v in x]
        if not isinstance(x, dict):
            raise WireError("a value of an unknown kind")
        tag = x.get("~")
        if tag == "float":
            if x.get("v") not in ("nan", "inf", "-inf"):
                raise WireError("a malformed number")
            return float(x["v"])
        if tag == "nd":
            return _decode_nd(x, budget)
        if tag == "np":
            np = _np()
            dt = _checked_dtype(x.get("dtype"))
            v = x.get("v")
            if not (v is None or isinstance(v, (bool, int, float)) or isinstance(v, dict) and v.get("~") == "float"):
                raise WireError("a malformed NumPy scalar")
            return dt.type(self._decode(v, depth + 1))
        if tag == "t":
            import torch
            arr = _decode_nd(x.get("data"), budget)
            t = torch.from_numpy(arr)  # arr is already this side's own copy
            if x.get("param"):
                return torch.nn.Parameter(t, requires_grad=bool(x.get("rg")))
            return t.requires_grad_(bool(x.get("rg"))) if t.is_floating_point() or t.is_complex() else t
        if tag == "tuple":
            v = _list(x.get("v"))
            if budget is not None:
                budget.charge(items=len(v))
            return tuple(self._decode(e, depth + 1) for e in v)
        if tag == "dict":
            out = {}
            pairs = _list(x.get("v"))
            if budget is not None:
                budget.charge(items=len(pairs))
            for pair in pairs:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise WireError("a malformed dict")
                key = self._decode(pair[0], depth + 1)
                try:
                    hash(key)
                except TypeError:
                    raise WireError("a dict key that cannot be hashed") from None
                out[key] = self._decode(pair[1], depth + 1)
            return out
        if tag == "gen":
            np = _np()
            state = x.get("state")
            name = state.get("bit_generator") if isinstance(state, dict) else None
            if name not in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"):
                raise WireError("a random generator of an unknown kind")
            bg = getattr(np.random, name)()
            bg.state = _state_from_json(state, budget)
            return np.random.Generator(bg)
        if tag == "ref":
            if self.remote_ref is None:
                raise WireError("a handle where none was expected")
            return self.remote_ref(_small_int(x.get("id")), {"type": _type_name(x.get("type")), "callable": bool(x.get("callable"))})
        if tag == "own":  # a handle this side gave out, coming back
            if self.resolve_ref is None:
                raise WireError("a handle where none was expected")
            return self.resolve_ref(_small_int(x.get("id")))
        if tag == "cb":
            if self.remote_callback is None:
                raise WireError("a callable where none was expected")
            return self.remote_callback(_small_int(x.get("id")))
        if tag == "module":
            return build_module(x, self, depth)
        if tag == "mref":
            layers = getattr(self, "_built", ([], []))[0]
            n = x.get("n")
            if type(n) is not int or not 0 <= n < len(layers):
                raise WireError("a malformed model (a shared layer that was not sent)")
            return layers[n]
        if tag == "pref":
            if self.resolve_param is None:
                raise WireError("a parameter reference where none was expected")
            arg, name = x.get("arg"), x.get("name")
            if not isinstance(arg, (int, str)) or isinstance(arg, bool) or not isinstance(name, str) or len(name) > 200:
                raise WireError("a malformed parameter reference")
            return self.resolve_param(arg, name)
        raise WireError("a value of an unknown kind")


def _list(v):
    if not isinstance(v, list):
        raise WireError("a malformed value (a list was expected)")
    return v


def _small_int(v):
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2**53:
        raise WireError("a malformed handle")
    return v


def _type_name(v):
    """A student's class name, as something safe to print: identifier characters only."""
    name = v if isinstance(v, str) else ""
    return name[:80] if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]{0,79}", name[:80]) else "object"


def _checked_dtype(s):
    np = _np()
    if not isinstance(s, str) or len(s) > 8:
        raise WireError("an array of an unknown data type")
    try:
        dt = np.dtype(s)
    except TypeError:
        raise WireError("an array of an unknown data type") from None
    if dt.kind not in NUMERIC_KINDS or dt.fields or dt.hasobject:
        raise WireError("an array that is not numeric (only numeric arrays can be sent)")
    return dt


def _decode_nd(x, budget=None):
    np = _np()
    if not isinstance(x, dict) or x.get("~") != "nd":
        raise WireError("a malformed value (an array was expected)")
    dt = _checked_dtype(x.get("dtype"))
    shape = _list(x.get("shape"))
    if len(shape) > 32 or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**40 for s in shape):
        raise WireError("an array with a malformed shape")
    n = 1
    for s in shape:
        n *= s
    nbytes = n * dt.itemsize
    if budget is not None:  # the size its shape claims, checked before its data is decoded
        budget.charge(data_bytes=nbytes)
    b64 = x.get("b64", "")
    if not isinstance(b64, str) or len(b64) != 4 * ((nbytes + 2) // 3):
        raise WireError("an array whose data does not match its shape")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (ValueError, TypeError):
        raise WireError("an array whose data is not base64") from None
    if len(raw) != nbytes:
        raise WireError("an array whose data does not match its shape")
    return np.frombuffer(raw, dtype=dt).reshape(tuple(shape)).copy()


def _jsonable_state(state):
    np = _np()
    if isinstance(state, dict):
        return {k: _jsonable_state(v) for k, v in state.items()}
    if isinstance(state, np.ndarray):
        return {"~arr": [int(v) for v in state.ravel()], "dtype": state.dtype.str}
    if isinstance(state, (np.integer,)):
        return int(state)
    return state


def _state_from_json(state, budget=None, depth=0):
    np = _np()
    if depth > 4:
        raise WireError("a malformed random generator")
    if isinstance(state, dict):
        if budget is not None:
            budget.charge(items=len(state))
        if "~arr" in state:
            values = _list(state["~arr"])
            if budget is not None:
                budget.charge(items=len(values), data_bytes=8 * len(values))
            if not all(type(v) is int for v in values):
                raise WireError("a malformed random generator")
            return np.array(values, dtype=_checked_dtype(state.get("dtype")))
        return {k: _state_from_json(v, budget, depth + 1) for k, v in state.items()}
    if not (state is None or isinstance(state, (bool, int, float, str))):
        raise WireError("a malformed random generator")
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
    layers, tied = codec._shared
    saved = dict(layers), dict(tied)
    layers[id(m)] = len(layers)
    children = []
    for name, child in m._modules.items():   # not named_children(): it skips a layer's second use
        if child is None:
            continue
        if id(child) in layers:
            children.append([name, {"~": "mref", "n": layers[id(child)]}])
        else:
            enc = codec.encode(child, depth + 1)
            if not (isinstance(enc, dict) and enc.get("~") == "module"):
                layers.clear(), tied.clear()   # a layer that is not a standard one: the whole model
                layers.update(saved[0]), tied.update(saved[1])   # stays where it is, as one handle
                return None
            children.append([name, enc])
    params = {}
    for n, p in m._parameters.items():
        if p is None:
            continue
        if id(p) in tied:
            params[n] = {"~": "tref", "n": tied[id(p)]}
        else:
            tied[id(p)] = len(tied)
            params[n] = codec.encode(p, depth + 1, allow_pref=False)
    buffers = {n: codec.encode(b, depth + 1) for n, b in m._buffers.items() if b is not None}
    return {"~": "module", "kind": kind, "args": args, "children": children, "params": params,
            "buffers": buffers, "training": bool(m.training), "torch": torch.__version__}


_GEOMETRY = ("kernel_size", "stride", "padding", "output_size")


def _layer_arg(name, v):
    """A layer's constructor argument as sent: a number, a flag, a short word or a tuple of ints."""
    if isinstance(v, list):
        v = tuple(v)
    if isinstance(v, tuple):
        if len(v) > 3 or not all(type(e) is int for e in v):
            raise WireError("a model layer with a malformed setting")
        values = v
    elif v is None or isinstance(v, bool):
        return v
    elif type(v) is int:
        values = (v,)
    elif type(v) is float:
        if not math.isfinite(v):
            raise WireError("a model layer with a malformed setting")
        return v
    elif isinstance(v, str) and len(v) <= 16:
        return v
    else:
        raise WireError("a model layer with a malformed setting")
    limit = MAX_LAYER_GEOMETRY if name in _GEOMETRY else 2**31
    if not all(-limit <= e <= limit for e in values):
        raise WireError(f"a model layer whose {name} is over the grader's limit of {limit:,}")
    return v


def build_module(x, codec, depth):
    """Rebuild a model from its description. The layers are made on PyTorch's ``meta`` device
    (shapes without memory), their parameter sizes charged to the codec's budget, and only
    then are their parameters and buffers filled from the data sent; a layer whose parameters
    were not all sent, or whose data does not fit its shape, is refused."""
    import torch
    from torch import nn

    kind = x.get("kind")
    if not isinstance(kind, str) or kind not in MODULE_LAYERS:
        raise WireError("a model layer of a kind the grader does not rebuild")
    budget = codec.budget
    allowed = {a.rstrip("?") for a in MODULE_LAYERS[kind]}
    raw_args = x.get("args") or {}
    if not isinstance(raw_args, dict):
        raise WireError("a malformed model layer")
    args = {k: _layer_arg(k, codec._decode(v, depth + 1)) for k, v in raw_args.items() if k in allowed}
    try:
        with torch.device("meta"):
            m = nn.Sequential() if kind == "Sequential" else getattr(nn, kind)(**args)
    except WireError:
        raise
    except Exception:  # noqa: BLE001 - settings the layer's constructor refuses
        raise WireError(f"a {kind} layer with settings it does not accept") from None
    own = {n: p for n, p in m._parameters.items() if p is not None}
    own_buffers = {n: b for n, b in m._buffers.items() if b is not None}
    built = getattr(codec, "_built", None)
    if built is None:
        built = codec._built = ([], [])
    built[0].append(m)
    if budget is not None:
        budget.charge(items=1 + len(own) + len(own_buffers),
                      data_bytes=sum(t.numel() * t.element_size() for t in [*own.values(), *own_buffers.values()]))
    children = _list(x.get("children", []))
    if budget is not None:
        budget.charge(items=len(children))
    for entry in children:
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str) or len(entry[0]) > 200:
            raise WireError("a malformed model layer")
        name, child = entry
        if not isinstance(child, dict) or child.get("~") not in ("module", "mref"):
            raise WireError("a model whose layers are not all standard torch.nn layers")
        child = codec._decode(child, depth + 1)
        try:
            m.add_module(name, child)
        except (KeyError, TypeError, ValueError):
            raise WireError("a model layer with a malformed name") from None
    params, buffers = x.get("params") or {}, x.get("buffers") or {}
    if not isinstance(params, dict) or not isinstance(buffers, dict) or set(params) != set(own) or not set(own_buffers) <= set(buffers):
        raise WireError(f"a {kind} layer whose parameters were not all sent")
    with torch.no_grad():
        for name in own:
            enc = params[name]
            if isinstance(enc, dict) and enc.get("~") == "tref":   # a parameter this model already holds
                n = enc.get("n")
                if type(n) is not int or not 0 <= n < len(built[1]) or built[1][n].shape != own[name].shape:
                    raise WireError(f"a {kind} layer whose parameter {name!r} does not fit its shape")
                setattr(m, name, built[1][n])
                continue
            value = codec._decode(enc, depth + 1)
            if not isinstance(value, torch.Tensor) or value.shape != own[name].shape or not (value.is_floating_point() or value.is_complex()):
                raise WireError(f"a {kind} layer whose parameter {name!r} does not fit its shape")
            # a new Parameter from the value: its dtype (float64 models) and flag, not the default layer's
            setattr(m, name, nn.Parameter(value.detach(), requires_grad=value.requires_grad))
            built[1].append(getattr(m, name))
        for name in own_buffers:
            value = codec._decode(buffers[name], depth + 1)
            if not isinstance(value, torch.Tensor) or value.shape != own_buffers[name].shape:
                raise WireError(f"a {kind} layer whose buffer {name!r} does not fit its shape")
            setattr(m, name, value.detach())
    m.training = bool(x.get("training", True))   # each child set its own flag when it was built
    return m
