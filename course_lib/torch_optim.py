"""Turn an update function on arrays into a real ``torch.optim.Optimizer``.

The course's optimizers (and yours, in the exercises) are pure functions::

    w_new, state = update(w, grad, state, lr=..., **hyper)     # stateful, e.g. adam
    w_new = update(w, grad, lr=..., **hyper)                   # stateless, e.g. gd_step

:class:`FunctionalOptimizer` calls such a function on every parameter of a network, so it
can train a real model next to ``torch.optim``::

    opt = FunctionalOptimizer(model.parameters(), my_adam, lr=1e-3, betas=(0.9, 0.999))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)   # schedulers work too
    for x, y in loader:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        sched.step()

Everything a ``torch.optim.Optimizer`` does keeps working: parameter groups with their own
hyper-parameters, learning-rate schedulers (they change ``group["lr"]``), ``zero_grad``,
``state_dict`` / ``load_state_dict``. This is a support module: it never imports the
reference solutions.
"""

import inspect

import numpy as np
import torch

__all__ = ["FunctionalOptimizer"]

# Keys that torch itself (or a scheduler) may put in a param group; they are never passed on.
_GROUP_BOOKKEEPING = frozenset({"params", "param_names", "initial_lr", "base_momentum", "max_momentum"})


def _describe(obj):
    """A short description of a returned object for error messages."""
    if isinstance(obj, torch.Tensor):
        return f"a tensor of shape {tuple(obj.shape)}"
    if isinstance(obj, np.ndarray):
        return f"a NumPy array of shape {obj.shape}"
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of length {len(obj)}"
    return f"{type(obj).__name__} {obj!r}"[:120]


class FunctionalOptimizer(torch.optim.Optimizer):
    r"""A ``torch.optim.Optimizer`` whose step is any update function on arrays.

    Args:
        params: what any torch optimizer takes: ``model.parameters()``, a list of tensors,
            ``model.named_parameters()``, or a list of param-group dicts (each may override the
            learning rate and the hyper-parameters, e.g. a smaller ``lr`` for a backbone).
        update: the update rule, with one of the two signatures

            * stateful: ``update(w, grad, state, lr=..., **hyper) -> (w_new, state)``, where
              ``state`` is a dict that starts empty (``{}``) and that the function fills; one
              dict per parameter tensor, kept in ``self.state[p]``;
            * stateless: ``update(w, grad, lr=..., **hyper) -> w_new`` (e.g. ``gd_step``).

            It receives ``p``'s value (detached) and ``p.grad`` as tensors and must return a
            tensor (or NumPy array) of ``p``'s shape; the result is copied into ``p``.
        lr: the learning rate of every group that does not set its own.
        stateful: ``None`` (default) decides from the signature: the update is stateful when
            it has a parameter named ``state``. Pass ``True``/``False`` to override.
        **hyper: further keyword arguments passed to ``update`` on every call (the group's
            value where a param group sets its own), e.g. ``betas=(0.9, 0.999)``. Each must be
            a parameter of ``update``.

    ``step(closure=None)`` calls ``update`` once for each parameter that has a gradient, under
    ``torch.no_grad()``. Parameters without a gradient are skipped and their state is left as
    it is, as torch's optimizers do.

    Raises:
        TypeError: ``update`` is not callable or does not take ``lr``/a hyper-parameter given;
            at ``step``, when ``update`` returns something other than the new parameter (and
            the state) of the right shape; the message names the parameter and what came back.
    """

    def __init__(self, params, update, lr, *, stateful=None, **hyper):
        if not callable(update):
            raise TypeError(f"FunctionalOptimizer: update must be a function such as course_lib.solutions.optim.adam, got {_describe(update)}.")
        self.update = update
        self._update_name = getattr(update, "__name__", type(update).__name__)
        self._stateful, self._accepted = self._inspect_update(update, stateful)
        if not lr >= 0:
            raise ValueError(f"FunctionalOptimizer: lr must be >= 0, got lr={lr}.")
        defaults = dict(lr=lr, **hyper)
        self._check_hyper(defaults, "FunctionalOptimizer(...)")
        super().__init__(params, defaults)

    # ----- signature handling ------------------------------------------------------------

    @staticmethod
    def _inspect_update(update, stateful):
        """(stateful?, names of the keyword arguments it accepts or None for **kwargs)."""
        try:
            sig = inspect.signature(update)
        except (TypeError, ValueError):  # e.g. some builtins: trust the caller
            return (True if stateful is None else bool(stateful)), None
        params = list(sig.parameters.values())
        if stateful is None:
            stateful = "state" in sig.parameters
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        positional = [p for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        n_fixed = 3 if stateful else 2  # (w, grad, state) or (w, grad)
        if len(positional) < n_fixed and not any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
            shape = "(w, grad, state, lr, ...)" if stateful else "(w, grad, lr, ...)"
            raise TypeError(f"FunctionalOptimizer: {getattr(update, '__name__', 'update')}{sig} should take {shape}.")
        fixed = {p.name for p in positional[:n_fixed]}
        accepted = {
            p.name
            for p in params
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY) and p.name not in fixed
        }
        return bool(stateful), (None if takes_kwargs else frozenset(accepted))

    def _check_hyper(self, group, where):
        """Every hyper-parameter of ``group`` must be a keyword argument of ``update``."""
        if self._accepted is None:
            return
        unknown = sorted(k for k in group if k not in _GROUP_BOOKKEEPING and k not in self._accepted)
        if unknown:
            raise TypeError(
                f"{where}: {self._update_name} has no parameter(s) {unknown}; it takes "
                f"{sorted(self._accepted)}. Check the spelling, or the signature of your function."
            )

    def add_param_group(self, param_group):
        self._check_hyper(param_group, "add_param_group")
        super().add_param_group(param_group)

    def _hyper(self, group):
        """The keyword arguments ``update`` gets for ``group``: lr and its hyper-parameters."""
        if self._accepted is None:
            keys = self.defaults.keys()
        else:
            keys = [k for k in group if k in self._accepted]
        return {k: group[k] for k in keys}

    # ----- the step ----------------------------------------------------------------------

    def _where(self, group_index, group, param_index, p):
        names = group.get("param_names")
        label = f" ({names[param_index]!r})" if names and param_index < len(names) else ""
        return f"parameter {param_index}{label} of param group {group_index}, shape {tuple(p.shape)}"

    def _new_value(self, result, p, gi, group, pi):
        """Check what ``update`` returned for ``p`` and return it as a tensor."""
        if isinstance(result, torch.Tensor) and result.shape == p.shape:
            return result  # the usual case, checked without building any message
        where = self._where(gi, group, pi, p)
        call = f"{self._update_name}(w, grad{', state' if self._stateful else ''}, ...)"
        if isinstance(result, np.ndarray):
            result = torch.as_tensor(result)
        if not isinstance(result, torch.Tensor):
            extra = ""
            if isinstance(result, (tuple, list)) and not self._stateful:
                extra = " (it has no `state` parameter, so it should return only the new w)"
            raise TypeError(
                f"{call} returned {_describe(result)} for {where}; it must return the updated "
                f"parameter as a tensor of shape {tuple(p.shape)}{extra}."
            )
        if tuple(result.shape) != tuple(p.shape):
            raise TypeError(
                f"{call} returned a tensor of shape {tuple(result.shape)} for {where}; the updated "
                f"parameter must have the parameter's shape {tuple(p.shape)} (look for a sum, a "
                "mean or broadcasting that changed the shape)."
            )
        return result

    @torch.no_grad()
    def step(self, closure=None):
        """Update every parameter that has a gradient; return ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for gi, group in enumerate(self.param_groups):
            hyper = self._hyper(group)
            for pi, p in enumerate(group["params"]):
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise TypeError(f"FunctionalOptimizer does not support sparse gradients ({self._where(gi, group, pi, p)}).")
                w = p.detach()
                if self._stateful:
                    result = self.update(w, p.grad, self.state[p], **hyper)
                    if not (isinstance(result, (tuple, list)) and len(result) == 2):
                        raise TypeError(
                            f"{self._update_name}(w, grad, state, ...) returned {_describe(result)} for "
                            f"{self._where(gi, group, pi, p)}; it must return a pair (w_new, state)."
                        )
                    new_w, new_state = result
                    if not isinstance(new_state, dict):
                        raise TypeError(
                            f"{self._update_name}(w, grad, state, ...) returned a state of type "
                            f"{type(new_state).__name__} for {self._where(gi, group, pi, p)}; the state must be a dict."
                        )
                    self.state[p] = new_state
                else:
                    new_w = self.update(w, p.grad, **hyper)
                new_w = self._new_value(new_w, p, gi, group, pi)
                if new_w is not w:
                    p.copy_(new_w)
        return loss

    def __repr__(self):
        return f"FunctionalOptimizer[{self._update_name}]" + super().__repr__()[len(type(self).__name__):]
