"""Optimisers and gradient clipping on NumPy parameters, with ``torch.optim``'s update rules.

A parameter is anything with a ``.data`` array (updated IN PLACE, so views and caches holding it
stay valid) and a ``.grad`` array or None (parameters whose grad is None are skipped, as in
PyTorch). Optimisers take an iterable of parameters, of ``(name, parameter)`` pairs (what
``module.named_parameters()`` yields), or of parameter-group dicts with per-group options::

    opt = rnnfast.optim.Adam(model.parameters(), lr=1e-3)
    opt = rnnfast.optim.SGD([{"params": enc.parameters()}, {"params": head.parameters(), "lr": 0.1}],
                            lr=0.01, momentum=0.9)
    loss = ...; model.zero_grad(); ...backward...; opt.step()

Update formulas, operation order included, follow PyTorch 2.x's single-tensor implementations
(``torch/optim/sgd.py``, ``adam.py``), so float64 runs agree with torch to rounding.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Optional

import numpy as np

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm_", "clip_grad_value_", "LRScheduler", "StepLR",
           "ExponentialLR", "LambdaLR", "CosineAnnealingLR"]


def _as_param_list(params) -> list:
    out = []
    for p in params:
        if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):  # named_parameters()
            p = p[1]
        if not isinstance(getattr(p, "data", None), np.ndarray):
            raise TypeError(f"optimiser parameters must have a .data NumPy array, got {type(p).__name__}")
        out.append(p)
    return out


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad``, ``state_dict``."""

    def __init__(self, params, defaults: dict):
        if isinstance(params, np.ndarray) or hasattr(params, "data"):
            raise TypeError("params must be an iterable of parameters (e.g. model.parameters()), not a single one")
        params = list(params)
        if not params:
            raise ValueError("optimiser got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = dict(defaults)
        self.param_groups: list = []
        self.state: dict = {}  # id(param) -> dict of state arrays
        seen = set()
        for g in groups:
            if not isinstance(g, dict):
                raise TypeError("mixing parameter-group dicts and parameters in one list is not supported")
            unknown = set(g) - set(defaults) - {"params"}
            if unknown:
                raise TypeError(f"{type(self).__name__}: unknown option(s) {sorted(unknown)} in a parameter group")
            group = dict(defaults)
            group.update(g)
            group["params"] = _as_param_list(g["params"])
            for p in group["params"]:
                if id(p) in seen:
                    raise ValueError("a parameter appears in more than one parameter group")
                seen.add(id(p))
            self._check_group(group)
            self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        if group["lr"] < 0:
            raise ValueError(f"invalid learning rate: {group['lr']}")
        if group.get("weight_decay", 0.0) < 0:
            raise ValueError(f"invalid weight_decay value: {group['weight_decay']}")

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Zero every parameter's ``.grad`` in place (or set it to None)."""
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0

    def _grads(self, group):
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.shape != p.data.shape or p.grad.dtype != p.data.dtype:
                raise ValueError(f"gradient of shape {p.grad.shape} {p.grad.dtype} does not match its parameter "
                                 f"{p.data.shape} {p.data.dtype}")
            yield p, p.grad

    def step(self, closure: Optional[Callable] = None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            self._update_group(group)
        return loss

    def _update_group(self, group) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Options and state (keyed by the parameter's position across groups), arrays copied."""
        index = {}
        for g in self.param_groups:
            for p in g["params"]:
                index[id(p)] = len(index)
        state = {index[k]: {n: (v.copy() if isinstance(v, np.ndarray) else v) for n, v in s.items()}
                 for k, s in self.state.items() if k in index}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, sd: dict) -> None:
        params = [p for g in self.param_groups for p in g["params"]]
        if len(sd["param_groups"]) != len(self.param_groups):
            raise ValueError("loaded state has a different number of parameter groups")
        for g, lg in zip(self.param_groups, sd["param_groups"]):
            if len(g["params"]) != len(lg["params"]):
                raise ValueError("loaded state has a parameter group of a different size")
            g.update({k: v for k, v in lg.items() if k != "params"})
        self.state = {}
        for i, s in sd["state"].items():
            p = params[int(i)]
            self.state[id(p)] = {n: (np.array(v, dtype=p.data.dtype) if isinstance(v, np.ndarray) and v.ndim else v)
                                 for n, v in s.items()}


class SGD(Optimizer):
    """Stochastic gradient descent as ``torch.optim.SGD``::

        g = grad (+ weight_decay * p);  maximize: g = -g
        momentum: buf = g at the first step, else buf = momentum * buf + (1 - dampening) * g
                  g = g + momentum * buf (nesterov) or buf
        p -= lr * g
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        if momentum < 0:
            raise ValueError(f"invalid momentum value: {momentum}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _update_group(self, group) -> None:
        lr, mom, damp, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        for p, grad in self._grads(group):
            g = -grad if group["maximize"] else grad
            if wd != 0:
                g = g + wd * p.data
            if mom != 0:
                st = self.state.setdefault(id(p), {})
                buf = st.get("momentum_buffer")
                if buf is None:
                    buf = st["momentum_buffer"] = np.array(g, copy=True)
                else:
                    buf *= mom
                    buf += (1 - damp) * g
                g = g + mom * buf if group["nesterov"] else buf
            p.data -= lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba) as ``torch.optim.Adam``, optionally AMSGrad or decoupled weight decay::

        t += 1
        decoupled: p *= 1 - lr * wd;  else g = grad + wd * p
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        (amsgrad: vmax = max(vmax, v), used in place of v)
        p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False, *, maximize: bool = False):
        if eps < 0:
            raise ValueError(f"invalid epsilon value: {eps}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"invalid beta parameters: {betas}; each must be in [0, 1)")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _scratch(self, like: np.ndarray) -> np.ndarray:
        """A scratch array shaped as ``like``: a view of one buffer per dtype, kept across steps."""
        bufs = self.__dict__.setdefault("_scratch_bufs", {})
        buf = bufs.get(like.dtype)
        if buf is None or buf.size < like.size:
            buf = bufs[like.dtype] = np.empty(like.size, like.dtype)
        return buf[:like.size].reshape(like.shape)

    def _update_group(self, group) -> None:
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        for p, grad in self._grads(group):
            g = -grad if group["maximize"] else grad
            st = self.state.setdefault(id(p), {})
            if not st:
                st["step"] = 0
                st["exp_avg"] = np.zeros_like(p.data)
                st["exp_avg_sq"] = np.zeros_like(p.data)
                if group["amsgrad"]:
                    st["max_exp_avg_sq"] = np.zeros_like(p.data)
            st["step"] += 1
            t = st["step"]
            if wd != 0:
                if self._decoupled:
                    p.data *= 1 - lr * wd
                else:
                    g = g + wd * p.data
            m, v = st["exp_avg"], st["exp_avg_sq"]
            # the same operations as torch, in place in one scratch array (no temporaries)
            w = self._scratch(p.data)
            np.subtract(g, m, out=w)
            w *= 1 - b1
            m += w                             # torch's lerp for weight < 0.5
            v *= b2
            np.multiply(g, g, out=w)
            w *= 1 - b2
            v += w
            bc1 = 1 - b1 ** t
            bc2_sqrt = (1 - b2 ** t) ** 0.5
            if group["amsgrad"]:
                vmax = st["max_exp_avg_sq"]
                np.maximum(vmax, v, out=vmax)
                v = vmax
            np.sqrt(v, out=w)
            w /= bc2_sqrt
            w += eps                           # denom
            np.divide(m, w, out=w)
            w *= -(lr / bc1)
            p.data += w


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter) as ``torch.optim.AdamW``
    (default ``weight_decay=1e-2``): ``p *= 1 - lr * weight_decay`` before the Adam step."""

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


# --------------------------------------------------------------------------- gradient clipping
def _params_list(parameters):
    if hasattr(parameters, "data") and not isinstance(parameters, np.ndarray):
        parameters = [parameters]
    return _as_param_list(parameters)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so that their global ``norm_type``-norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: the total norm is the norm of the per-parameter norms;
    every gradient is multiplied by ``min(1, max_norm / (total_norm + 1e-6))``. Returns the total
    norm (before clipping) as a Python float. Parameters with ``grad is None`` are ignored.
    """
    grads = [p.grad for p in _params_list(parameters) if p.grad is not None]
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        return 0.0
    if norm_type == math.inf:
        norms = [np.max(np.abs(g)) if g.size else 0.0 for g in grads]
        total = float(np.max(norms))
    else:
        norms = np.array([np.linalg.norm(g.ravel(), norm_type) if g.size else 0.0 for g in grads], dtype=np.float64)
        total = float(np.linalg.norm(norms, norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is non-finite ({total}), so it "
                           "cannot be clipped; set error_if_nonfinite=False to clip anyway")
    coef = min(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g *= coef
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clip every gradient element to [-clip_value, clip_value] in place."""
    c = float(clip_value)
    for p in _params_list(parameters):
        if p.grad is not None:
            np.clip(p.grad, -c, c, out=p.grad)


# ------------------------------------------------------------------------------- LR schedulers
class LRScheduler:
    """Base: ``step()`` once per epoch after ``optimizer.step()``; sets each group's ``lr``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an rnnfast optimiser")
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def _lr(self, i: int, group: dict) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        for i, g in enumerate(self.optimizer.param_groups):
            g["lr"] = self._lr(i, g)

    def get_last_lr(self) -> list:
        return [g["lr"] for g in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer, last_epoch)

    def _lr(self, i, group):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return group["lr"]
        return group["lr"] * self.gamma


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** epoch."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def _lr(self, i, group):
        return group["lr"] if self.last_epoch == 0 else group["lr"] * self.gamma


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch)."""

    def __init__(self, optimizer, lr_lambda: Callable[[int], float], last_epoch: int = -1):
        self.lr_lambda = lr_lambda
        super().__init__(optimizer, last_epoch)

    def _lr(self, i, group):
        return self.base_lrs[i] * self.lr_lambda(self.last_epoch)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (closed form)."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        super().__init__(optimizer, last_epoch)

    def _lr(self, i, group):
        return self.eta_min + (self.base_lrs[i] - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch
                                                                                / self.T_max)) / 2
