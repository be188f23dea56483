"""The process that runs a student's notebook code during grading (and nothing else).

Started by :mod:`autograder.jail` inside its sandbox, as a plain script next to ``wire.py``
and the student copy of ``course_lib``. It runs the notebook's cells when asked and calls the
student's functions with the arguments the grader's tests send, answering with plain data
(:mod:`autograder.wire`). It never sees an expected value or a test, so nothing the student's
code does here — patching NumPy, torch, builtins or the check helpers, silencing errors —
reaches the verdict, which the grader computes in its own process.

Messages in (the first file descriptor named on the command line): ``cell``, ``names``, ``call``, ``getattr``, ``cb_result``,
``cb_error``, ``exit``. Messages out (the second): ``done`` (a cell), ``value``,
``raised``, ``callback`` (run one of the grader's callables). Anything the code prints is
capped (:data:`OUTPUT_CAP` per cell, :data:`NOTEBOOK_OUTPUT_CAP` for all the cells of this
process) and returned with its cell. Before the first cell: every file descriptor but the channel
closed, 0, 1 and 2 leading to ``/dev/null``, and a new session keyring (the grader's keys are not
the student's).
"""

import io
import os
import sys

try:
    import wire  # in the sandbox this file sits next to wire.py
except ImportError:  # imported by the grader for CappedText
    from autograder import wire

OUTPUT_CAP = 20_000            # characters of output kept per cell
NOTEBOOK_OUTPUT_CAP = 200_000  # and for all the cells of a notebook (one student process) together
GRADING_SEED = 0


def seed_global_rngs(seed=GRADING_SEED):
    """Seed Python's and NumPy's global generators, so that a submission that draws from them
    (``np.random.permutation`` where it should use its ``rng``) gets the same grade every time;
    and torch's, where torch is imported already (a process forked from the zygote,
    :mod:`autograder.zygote`). A fresh process's torch seeds its generator from the operating
    system when it is imported (torch 2), so there a submission that draws from ``torch.rand``
    without a generator of its own may get a different grade each time."""
    import random

    import numpy

    random.seed(seed)
    numpy.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


class CappedText(io.TextIOBase):
    """A text stream that keeps the first ``cap`` characters and counts the rest; ``why``, if
    given, is added to the note that says how many were cut."""

    def __init__(self, cap=OUTPUT_CAP, why=""):
        self.cap, self.parts, self.size, self.dropped, self.why = cap, [], 0, 0, why

    def writable(self):
        return True

    def write(self, s):
        s = str(s)
        room = self.cap - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def text(self):
        out = "".join(self.parts)
        if self.dropped:
            out += f"\n[... {self.dropped} more characters of output cut{self.why}]\n"
        return out


def _error(e):
    return [type(e).__name__[:80], str(e)[:1000]]


class Server:
    def __init__(self, fin, fout):
        self.fin, self.fout = fin, fout
        self.objects, self.next_id = {}, 1
        self.shell = None
        self.output_left = NOTEBOOK_OUTPUT_CAP
        self.codec = wire.Codec(make_ref=self._keep, resolve_ref=self._resolve, remote_callback=self._remote_callback)

    # handles ------------------------------------------------------------------------------
    def _keep(self, obj):
        i = self.next_id
        self.next_id += 1
        self.objects[i] = obj
        return i

    def _resolve(self, i):
        if i not in self.objects:
            raise wire.WireError("an unknown handle")
        return self.objects[i]

    def _remote_callback(self, cb_id):
        server = self

        def grader_callable(*args, **kwargs):
            wire.send(server.fout, {"callback": cb_id, "args": [server.codec.encode(a) for a in args],
                                    "kwargs": [[k, server.codec.encode(v)] for k, v in kwargs.items()]})
            reply = server.serve(until=("cb_result", "cb_error"))
            if reply["op"] == "cb_error":
                raise RuntimeError(f"the grader's function raised {reply.get('error', '')}")
            return server.codec.decode(reply.get("value"))

        return grader_callable

    # the namespace ----------------------------------------------------------------------
    @property
    def ns(self):
        return self.shell.user_ns

    def _start_shell(self):
        from IPython.core.interactiveshell import InteractiveShell

        seed_global_rngs()

        self.shell = InteractiveShell.instance(colors="nocolor")
        self.shell.user_ns["__name__"] = "__main__"

    def run_cell(self, code):
        if self.output_left < OUTPUT_CAP:
            out = CappedText(self.output_left, f": a notebook may print {NOTEBOOK_OUTPUT_CAP:,} characters in all")
        else:
            out = CappedText()
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        error = None
        try:
            result = self.shell.run_cell(code, store_history=False)
            e = result.error_before_exec or result.error_in_exec
            if e is not None:
                error = _error(e)
        except BaseException as e:  # noqa: BLE001 - SystemExit and friends from student code
            error = _error(e)
        finally:
            sys.stdout, sys.stderr = saved
        self.output_left = max(0, self.output_left - out.size)
        return {"op": "done", "output": out.text(), "error": error}

    def names(self, names):
        found = {}
        for n in names:
            if n in self.ns:
                found[n] = "callable" if callable(self.ns[n]) else "value"
        return {"op": "value", "value": found}

    def call(self, msg):
        target = msg.get("target") or {}
        try:
            if "name" in target:
                if target["name"] not in self.ns:
                    raise NameError(f"name '{target['name']}' is not defined: run the cell that defines it")
                fn = self.ns[target["name"]]
            else:
                fn = self._resolve(int(target["ref"]))
            args = [self.codec.decode(a) for a in msg.get("args", [])]
            kwargs = {str(k): self.codec.decode(v) for k, v in msg.get("kwargs", [])}
        except Exception as e:  # noqa: BLE001
            return {"op": "raised", "error": _error(e)}
        out = CappedText()
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        try:
            result = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001
            sys.stdout, sys.stderr = saved
            return {"op": "raised", "error": _error(e)}
        finally:
            sys.stdout, sys.stderr = saved
        return self._answer(result, args, kwargs)

    def _answer(self, result, args, kwargs):
        params = _argument_parameters(args, kwargs)
        codec = wire.Codec(make_ref=self._keep, resolve_ref=self._resolve, param_key=lambda p: params.get(id(p)))
        try:
            value = codec.encode(result)
            sync = []
            for key, arg in list(enumerate(args)) + list(kwargs.items()):
                if _mutable(arg):
                    sync.append([key, codec.encode(arg)])
        except Exception as e:  # noqa: BLE001
            return {"op": "raised", "error": ["ValueError", f"the grader could not read the value your function returned ({e})"]}
        return {"op": "value", "value": value, "sync": sync}

    def getattr(self, msg):
        try:
            obj = self._resolve(int(msg["ref"]))
            value = getattr(obj, str(msg["name"]))
            return {"op": "value", "value": self.codec.encode(value)}
        except BaseException as e:  # noqa: BLE001
            return {"op": "raised", "error": _error(e)}

    # the loop ---------------------------------------------------------------------------
    def serve(self, until=("exit",)):
        while True:
            msg = wire.recv(self.fin)
            op = msg.get("op")
            if op in until:
                return msg
            if op == "cell":
                reply = self.run_cell(str(msg.get("code", "")))
            elif op == "names":
                reply = self.names(msg.get("names", []))
            elif op == "call":
                reply = self.call(msg)
            elif op == "getattr":
                reply = self.getattr(msg)
            elif op == "exit":
                raise SystemExit(0)
            else:
                reply = {"op": "raised", "error": ["ValueError", f"unknown request {op!r}"]}
            wire.send(self.fout, reply)


def _mutable(x):
    np = sys.modules.get("numpy")
    torch = sys.modules.get("torch")
    if isinstance(x, (list, dict)):
        return True
    if np is not None and isinstance(x, (np.ndarray, np.random.Generator)):
        return True
    return torch is not None and isinstance(x, (torch.Tensor, torch.nn.Module))


def _argument_parameters(args, kwargs):
    torch = sys.modules.get("torch")
    found = {}
    if torch is None:
        return found
    for key, arg in list(enumerate(args)) + list(kwargs.items()):
        if isinstance(arg, torch.nn.Module):
            for name, p in arg.named_parameters():
                found.setdefault(id(p), (key, name))
    return found


def _close_other_fds(keep):
    """Close every file descriptor but 0, 1, 2 and ``keep`` (the channel to the grader)."""
    keep = sorted({0, 1, 2, *keep})
    for low, high in zip(keep, keep[1:] + [1 << 20]):
        if high > low + 1:
            os.closerange(low + 1, high)


def _new_session_keyring():
    """Join a new, empty session keyring, so the grader's keys (inherited) are not this process's."""
    import ctypes
    import platform

    nr = {"x86_64": 250, "amd64": 250, "aarch64": 219, "arm64": 219, "riscv64": 219, "loongarch64": 219,
          "ppc64le": 271, "ppc64": 271, "s390x": 280, "i686": 288, "i386": 288}.get(platform.machine().lower())
    if sys.platform != "linux" or nr is None:
        return
    try:
        ctypes.CDLL(None, use_errno=True).syscall(nr, 1, None)  # KEYCTL_JOIN_SESSION_KEYRING, anonymous
    except (OSError, AttributeError):
        pass


def _quiet_standard_fds():
    """0, 1 and 2 lead to /dev/null: nothing written there reaches the grader's files."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def main():
    channel = int(sys.argv[1]), int(sys.argv[2])
    _close_other_fds(channel)
    _new_session_keyring()
    fin = os.fdopen(channel[0], "rb", buffering=0)
    fout = os.fdopen(channel[1], "wb")
    server = Server(fin, fout)
    server._start_shell()
    _quiet_standard_fds()
    wire.send(fout, {"op": "ready", "pid": os.getpid()})
    try:
        server.serve()
    except (EOFError, SystemExit):
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
