"""MyTorch ``GRUCell`` (mytorch/gru_cell.py) on rnnfast's fused single-step GRU kernels.

PyTorch's equations (gate order r, z, n) on unbatched vectors::

    r = s(Wrx x + brx + Wrh h + brh)      z = s(Wzx x + bzx + Wzh h + bzh)
    n = tanh(Wnx x + bnx + r * (Wnh h + bnh))          h_t = (1 - z) * n + z * h

The twelve weights (``Wrx`` ... ``bnh``) and their gradients (``dWrx`` ... ``dbnh``) are the
user-visible attributes training code reads and updates in place (``cell.Wrx -= lr * cell.dWrx``).
They are views into packed (3h, d) / (3h, h) / (3h,) buffers (gate order r, z, n) that the kernel
uses directly; assigning an attribute (``cell.Wrx = W``, ``init_weights``, ``cell.dWrx = 0``)
copies into the buffer, so in-place updates and rebinding both reach the kernel. A step calls the
active backend's fused kernels directly (the per-call validation of ``rnnfast.functional`` costs
more than a one-row step); the arrays it leaves (``r``, ``z``, ``n``, the return values) are
fresh for every step, never overwritten by the next one.
"""
import numpy as np

from ._kernels import kernels as _kernels

__all__ = ["GRUCell"]

_GATES = ("r", "z", "n")
_F64 = np.dtype(np.float64)


def _real(a, name):
    """``a`` as an ndarray of real numbers (float, int or bool), else a TypeError naming it."""
    if a is None:
        raise TypeError(f"GRUCell: {name} is None; expected an array of real numbers")
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as e:
        raise TypeError(f"GRUCell: {name} is not an array of numbers ({type(a).__name__}: {e})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"GRUCell: {name} must hold real numbers (float or int), got dtype {arr.dtype} "
                        f"of shape {arr.shape}")
    return arr


def _is32(a):
    return getattr(a, "dtype", None) == np.float32


def _squeezed(shape):
    return tuple(s for s in shape if s != 1)


def _row(a, n, name):
    """``a`` (n elements) as a C-contiguous float64 (1, n) row: a view when it already is one."""
    if type(a) is np.ndarray and a.dtype is _F64 and a.shape == (n,) and a.flags.c_contiguous and a.flags.aligned:
        return a[None]  # the common case, checked cheaply: this runs three times per step
    a = np.require(_real(a, name), np.float64, "CA")
    if _squeezed(a.shape) != _squeezed((n,)):  # (n,), (1, n), (n, 1), ... but never a matrix
        raise ValueError(f"GRUCell: expected {name} of shape ({n},), got {a.shape}")
    return a.reshape(1, n)


def _block(name, buf_name, k):
    """Property ``name``: gate block k of the packed buffer ``buf_name`` (assignment copies in)."""

    def get(self):
        h = self.h
        return getattr(self, buf_name)[k * h:(k + 1) * h]

    def set(self, value):
        dst = get(self)
        v = _real(value, name)
        if not name.startswith("d"):  # NumPy's promotion: all-float32 weights and data give float32 results
            (self._f32.add if v.dtype == np.float32 else self._f32.discard)(name)
        v = v.astype(np.float64, copy=False)
        if v.shape != dst.shape and _squeezed(v.shape) == _squeezed(dst.shape):  # e.g. (h,) given as (h, 1)
            v = v.reshape(dst.shape)
        try:
            v = np.broadcast_to(v, dst.shape)  # a scalar (cell.dWrx = 0) or a broadcastable row
        except ValueError:
            raise ValueError(f"GRUCell.{name}: expected shape {dst.shape}, got {np.shape(value)}") from None
        same = (v.__array_interface__["data"][0] == dst.__array_interface__["data"][0] and v.strides == dst.strides)
        if not same:  # `cell.Wrx -= ...` hands back the view itself: nothing to copy
            dst[...] = v

    return property(get, set, doc=f"{name}: a view into the packed buffer {buf_name} (gate block {k}).")


class GRUCell:
    def __init__(self, input_size, hidden_size):
        for nm, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"GRUCell: {nm} must be an int >= 0, got {v!r}")
        self.d = int(input_size)
        self.h = int(hidden_size)
        h, d = self.h, self.d
        self._w_ih = np.empty((3 * h, d))
        self._w_hh = np.empty((3 * h, h))
        self._b_ih = np.empty(3 * h)
        self._b_hh = np.empty(3 * h)
        self._f32 = set()  # names of the weights last assigned as float32
        # the spec's draw order: Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, then brx, bzx, bnx, brh, bzh, bnh
        self.Wrx = np.random.randn(h, d)
        self.Wzx = np.random.randn(h, d)
        self.Wnx = np.random.randn(h, d)
        self.Wrh = np.random.randn(h, h)
        self.Wzh = np.random.randn(h, h)
        self.Wnh = np.random.randn(h, h)
        self.brx = np.random.randn(h)
        self.bzx = np.random.randn(h)
        self.bnx = np.random.randn(h)
        self.brh = np.random.randn(h)
        self.bzh = np.random.randn(h)
        self.bnh = np.random.randn(h)
        self._dw_ih = np.zeros((3 * h, d))
        self._dw_hh = np.zeros((3 * h, h))
        self._db_ih = np.zeros(3 * h)
        self._db_hh = np.zeros(3 * h)
        self._assigned = None  # {name: value} of x, hidden, r, z, n assigned since the last forward
        # kernel workspace (one row), allocated once: gh (forward), dgx, dgh, dtmp (backward)
        self._gh, self._dgx, self._dgh, self._dtmp = (np.empty((1, n)) for n in (3 * h, 3 * h, 3 * h, h))
        self._step = None  # (kernels, x (1,d), h (1,h), gates (1,3h), hn (1,h)) of the last forward

    for _k, _g in enumerate(_GATES):
        for _name, _buf in ((f"W{_g}x", "_w_ih"), (f"W{_g}h", "_w_hh"), (f"b{_g}x", "_b_ih"), (f"b{_g}h", "_b_hh")):
            locals()[_name] = _block(_name, _buf, _k)
            locals()["d" + _name] = _block("d" + _name, "_d" + _buf[1:], _k)  # dWrx -> _dw_ih block 0
    del _k, _g, _name, _buf

    def init_weights(self, Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, brx, bzx, bnx, brh, bzh, bnh):
        self.Wrx, self.Wzx, self.Wnx = Wrx, Wzx, Wnx
        self.Wrh, self.Wzh, self.Wnh = Wrh, Wzh, Wnh
        self.brx, self.bzx, self.bnx = brx, bzx, bnx
        self.brh, self.bzh, self.bnh = brh, bzh, bnh

    def zero_grad(self):
        for g in (self._dw_ih, self._dw_hh, self._db_ih, self._db_hh):
            g[...] = 0

    def __call__(self, x, h_prev_t=None, h=None):
        return self.forward(x, h_prev_t, h)

    def forward(self, x, h_prev_t=None, h=None):
        """x (d,), h_prev_t (h,) -> h_t (h,); leaves x, hidden, r, z, n set (r, z, n: views of this
        step's gate buffer, which the backward reads). ``h``: the earlier handouts' name of ``h_prev_t``."""
        if h is not None:
            if h_prev_t is not None:
                raise TypeError("GRUCell.forward() takes 'h_prev_t' (or 'h') once, got both")
            h_prev_t = h
        x2, h2 = _row(x, self.d, "x"), _row(h_prev_t, self.h, "h_prev_t")
        H = self.h
        h_new, gates, hn = np.empty((1, H)), np.empty((1, 3 * H)), np.empty((1, H))
        k = _kernels() if H and self.d else _NumpyStep
        k.gru_cell_forward(h_new, gates, hn, self._gh, x2, h2, self._w_ih, self._w_hh, self._b_ih, self._b_hh, True)
        self._step = (k, x2, h2, gates, hn)
        self._assigned = None
        if len(self._f32) == 12 and _is32(x) and _is32(h_prev_t):  # computed in float64, then rounded once
            return h_new[0].astype(np.float32)
        return h_new[0]

    def _restored_step(self):
        """The kernel inputs rebuilt from the attributes x, hidden, r, z, n, for a caller that
        re-assigned some of them after forward (e.g. restoring a saved step before its backward, as
        a handout-style multi-layer GRU does): the backward then uses them, as MyTorch's does."""
        H = self.h
        x2, h2 = _row(self.x, self.d, "GRUCell.x"), _row(self.hidden, H, "GRUCell.hidden")
        gates = np.empty((1, 3 * H))
        for i, nm in enumerate(("r", "z", "n")):
            gates[0, i * H:(i + 1) * H] = _row(getattr(self, nm), H, f"GRUCell.{nm}")
        hn = np.ascontiguousarray(h2 @ self.Wnh.T + self.bnh)  # W_hn h + b_hn, the kernel's reset_after cache
        return x2, h2, gates, hn

    def backward(self, delta):
        """delta (h,) -> (dx (d,), dh_prev_t (h,)); delta (1, h) -> (dx (1, d), dh_prev_t (1, h)) (the rank
        of ``delta`` decides: a course Linear's backward hands a (1, h) row). Accumulates all twelve
        dW*/db*."""
        delta_row = _row(delta, self.h, "delta")
        if self._step is not None:
            k, x2, h2, gates, hn = self._step
            if self._assigned:
                x2, h2, gates, hn = self._restored_step()
        elif self._assigned and set(self._assigned) >= {"x", "hidden", "r", "z", "n"}:  # a step given by hand
            k = _kernels() if self.h and self.d else _NumpyStep
            x2, h2, gates, hn = self._restored_step()
        else:
            raise RuntimeError("GRUCell.backward called before forward (or before x, hidden, r, z, n were set)")
        dx, dh = np.empty((1, self.d)), np.empty((1, self.h))
        k.gru_cell_backward(dx, dh, self._dw_ih, self._dw_hh, self._db_ih, self._db_hh, self._dgx, self._dgh,
                            self._dtmp, delta_row, x2, h2, self._w_ih, self._w_hh, gates, hn, True)
        if len(self._f32) == 12 and _is32(delta):
            dx, dh = dx.astype(np.float32), dh.astype(np.float32)
        if np.ndim(delta) == 2:
            return dx, dh
        return dx[0], dh[0]


def _step_attr(name, doc):
    """Property ``name`` (x, hidden, r, z, n): the last forward's value, a view of the kernel's
    buffers (in-place writes reach the backward), unless assigned since (then the assigned value,
    which the backward uses)."""
    idx = {"x": 1, "hidden": 2}.get(name)
    gate = "rzn".find(name) if name in ("r", "z", "n") else -1

    def get(self):
        a = self._assigned
        if a and name in a:
            return a[name]
        st = self._step
        if st is None:
            return None
        if idx is not None:
            return st[idx][0]
        H = self.h
        return st[3][0, gate * H:(gate + 1) * H]

    def set(self, value):
        if self._assigned is None:
            self._assigned = {}
        self._assigned[name] = value

    return property(get, set, doc=doc)


GRUCell.x = _step_attr("x", "x (d,): the input of the last forward.")
GRUCell.hidden = _step_attr("hidden", "hidden (h,): the state given to the last forward.")
GRUCell.r = _step_attr("r", "r (h,): the reset gate of the last forward.")
GRUCell.z = _step_attr("z", "z (h,): the update gate of the last forward.")
GRUCell.n = _step_attr("n", "n (h,): the candidate state of the last forward.")


def _sig(a):
    return 0.5 * np.tanh(0.5 * a) + 0.5


class _NumpyStep:
    """The kernel contract of one GRU step in NumPy, for the sizes the kernels are not built for
    (an empty input or state: every product is over an empty axis)."""

    @staticmethod
    def gru_cell_forward(h_new, gates, hn, gh, x, h, w_ih, w_hh, b_ih, b_hh, reset_after):
        H = h.shape[1]
        gx = x @ w_ih.T + b_ih
        gh[...] = h @ w_hh.T + b_hh
        r = _sig(gx[:, :H] + gh[:, :H])
        z = _sig(gx[:, H:2 * H] + gh[:, H:2 * H])
        hn[...] = gh[:, 2 * H:]
        n = np.tanh(gx[:, 2 * H:] + r * hn)
        gates[...] = np.concatenate([r, z, n], axis=1)
        h_new[...] = (1 - z) * n + z * h

    @staticmethod
    def gru_cell_backward(dx, dh, dw_ih, dw_hh, db_ih, db_hh, dgx, dgh, dtmp, delta, x, h, w_ih, w_hh, gates, hn,
                          reset_after):
        H = h.shape[1]
        r, z, n = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
        dn = delta * (1 - z) * (1 - n * n)
        dz = delta * (h - n) * z * (1 - z)
        dr = dn * hn * r * (1 - r)
        dgx[...] = np.concatenate([dr, dz, dn], axis=1)
        dgh[...] = np.concatenate([dr, dz, dn * r], axis=1)
        dw_ih += dgx.T @ x
        dw_hh += dgh.T @ h
        db_ih += dgx.sum(0)
        db_hh += dgh.sum(0)
        dx[...] = dgx @ w_ih
        dh[...] = delta * z + dgh @ w_hh
