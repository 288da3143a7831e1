"""MyTorch suite: rnnfast.mytorch's classes against plain-NumPy implementations of the same classes
(the handout's algorithms: per-step loops, NumPy matrix products), forward + backward, float64 (as
MyTorch; ``--dtype`` does not apply), on the same weights:

* model 0, ``GRUCell``: T unbatched steps (x (I,), h (H,)), each a forward and a backward (dx, dh,
  the twelve accumulated weight gradients); per step = time / T. (T steps per timed call, as a
  training loop runs them, so that the harness's per-call backend switch, ~2 us, is not counted
  as the cell's: a one-step call would add it to a ~50 us step.)
* model 1, ``RNNCell``: T batched steps (B rows), backward with batch-averaged weight gradients;
* model 2, ``GRU`` (the HW3P1 bonus): L layers over a (T, B, I) sequence, backward from a random
  d_out (T, B, H) to d_input; the plain version loops over time and layers with per-step cells;
* model 3, ``RNNPhonemeClassifier``: L RNNCell layers over (B, T, I), Linear on the last state,
  backward from random logits gradients to dh_0 / B with the handout's BPTT loop.

``--shape`` takes the model code first, e.g. ``rnnfast bench mytorch --shape 0,10,1,64,128,1``.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..common import Suite, Target

MODELS = ("GRUCell", "RNNCell", "GRU", "RNNPhonemeClassifier")
N_OUT = 10  # classifier outputs
GRU_NAMES = ("Wrx", "Wzx", "Wnx", "Wrh", "Wzh", "Wnh", "brx", "bzx", "bnx", "brh", "bzh", "bnh")


def _sig(a):
    return 0.5 * np.tanh(0.5 * a) + 0.5


# ------------------------------------------------------------------------------------------ plain NumPy
class NumpyGRUCell:
    """Plain NumPy GRUCell (PyTorch equations), the handout's forward/backward; rows of x/h may be
    batched ((B, I), (B, H)) or single vectors."""

    def __init__(self, src):
        self.W = {k: np.array(getattr(src, k)) for k in GRU_NAMES}
        self.dW = {k: np.zeros_like(v) for k, v in self.W.items()}

    def forward(self, x, h):
        W = self.W
        self.x, self.hidden = x, h
        self.r = _sig(x @ W["Wrx"].T + W["brx"] + h @ W["Wrh"].T + W["brh"])
        self.z = _sig(x @ W["Wzx"].T + W["bzx"] + h @ W["Wzh"].T + W["bzh"])
        self.hn = h @ W["Wnh"].T + W["bnh"]
        self.n = np.tanh(x @ W["Wnx"].T + W["bnx"] + self.r * self.hn)
        return (1 - self.z) * self.n + self.z * h

    def state(self):
        return self.x, self.hidden, self.r, self.z, self.n, self.hn

    def backward(self, delta, state=None):
        x, h, r, z, n, hn = state or self.state()
        W, dW = self.W, self.dW
        x2, h2 = np.atleast_2d(x), np.atleast_2d(h)
        r, z, n, hn, delta = (np.atleast_2d(a) for a in (r, z, n, hn, delta))
        dn = delta * (1 - z) * (1 - n * n)
        dz = delta * (h2 - n) * z * (1 - z)
        dr = dn * hn * r * (1 - r)
        dnh = dn * r
        for g, dgx, dgh in (("r", dr, dr), ("z", dz, dz), ("n", dn, dnh)):
            dW[f"W{g}x"] += dgx.T @ x2
            dW[f"b{g}x"] += dgx.sum(0)
            dW[f"W{g}h"] += dgh.T @ h2
            dW[f"b{g}h"] += dgh.sum(0)
        dx = dr @ W["Wrx"] + dz @ W["Wzx"] + dn @ W["Wnx"]
        dh = delta * z + dr @ W["Wrh"] + dz @ W["Wzh"] + dnh @ W["Wnh"]
        if np.ndim(x) == 1:
            return dx[0], dh[0]
        return dx, dh


class NumpyRNNCell:
    def __init__(self, src):
        self.W_ih, self.W_hh, self.b_ih, self.b_hh = (np.array(a) for a in (src.W_ih, src.W_hh, src.b_ih, src.b_hh))
        self.dW_ih, self.dW_hh = np.zeros_like(self.W_ih), np.zeros_like(self.W_hh)
        self.db_ih, self.db_hh = np.zeros_like(self.b_ih), np.zeros_like(self.b_hh)

    def forward(self, x, h):
        return np.tanh(x @ self.W_ih.T + self.b_ih + h @ self.W_hh.T + self.b_hh)

    def backward(self, delta, h_t, h_prev_l, h_prev_t):
        B = delta.shape[0]
        dz = delta * (1 - h_t * h_t)
        self.dW_ih += dz.T @ h_prev_l / B
        self.dW_hh += dz.T @ h_prev_t / B
        self.db_ih += dz.sum(0) / B
        self.db_hh += dz.sum(0) / B
        return dz @ self.W_ih, dz @ self.W_hh


class NumpyGRU:
    """The bonus multi-layer GRU, plain: time outer, layers inner; BPTT with each step's saved state."""

    def __init__(self, src):
        self.layers = [NumpyGRUCell(c) for c in src.layers]

    def forward(self, x):
        T, B, _ = x.shape
        L, H = len(self.layers), self.layers[0].W["Wrh"].shape[0]
        h = [np.zeros((B, H)) for _ in range(L)]
        out, self.states = [], []
        for t in range(T):
            inp, row = x[t], []
            for l, c in enumerate(self.layers):
                h[l] = c.forward(inp, h[l])
                row.append(c.state())
                inp = h[l]
            self.states.append(row)
            out.append(inp)
        return np.stack(out), np.stack(h)

    def backward(self, d_out):
        T, B, H = d_out.shape
        L = len(self.layers)
        dh = [np.zeros((B, H)) for _ in range(L)]
        dxs = [None] * T
        for t in range(T - 1, -1, -1):
            dh[L - 1] = dh[L - 1] + d_out[t]
            for l in range(L - 1, -1, -1):
                dx, dh[l] = self.layers[l].backward(dh[l], self.states[t][l])
                if l:
                    dh[l - 1] = dh[l - 1] + dx
                else:
                    dxs[t] = dx
        return np.stack(dxs)


class NumpyRNNPhonemeClassifier:
    """The handout's classifier, plain: RNNCell layers stepped over time, Linear on the last state."""

    def __init__(self, src):
        self.rnn = [NumpyRNNCell(c) for c in src.rnn]
        self.W, self.b = np.array(src.output_layer.W), np.array(src.output_layer.b)

    def forward(self, x):
        B, T, _ = x.shape
        L, H = len(self.rnn), self.rnn[0].W_hh.shape[0]
        self.x = x
        hidden = np.zeros((L, B, H))
        self.hiddens = [hidden.copy()]
        for t in range(T):
            inp = x[:, t]
            for l, c in enumerate(self.rnn):
                hidden[l] = c.forward(inp, hidden[l])
                inp = hidden[l]
            self.hiddens.append(hidden.copy())
        self.last = hidden[-1].copy()
        return self.last @ self.W.T + self.b.T

    def backward(self, delta):
        B, T = self.x.shape[0], self.x.shape[1]
        L = len(self.rnn)
        self.dW, self.db = delta.T @ self.last, delta.sum(0)[:, None]
        dh = np.zeros_like(self.hiddens[0])
        dh[-1] = delta @ self.W
        for t in range(T, 0, -1):
            for l in range(L - 1, -1, -1):
                h_prev_l = self.x[:, t - 1] if l == 0 else self.hiddens[t][l - 1]
                dx, dh[l] = self.rnn[l].backward(dh[l], self.hiddens[t][l], h_prev_l, self.hiddens[t - 1][l])
                if l:
                    dh[l - 1] += dx
        return dh / B


# ------------------------------------------------------------------------------------------ suite
class MyTorchSuite(Suite):
    name = "mytorch"
    title = "rnnfast.mytorch vs plain NumPy (the same classes), forward+backward, float64"
    params = ("model", "T", "B", "I", "H", "L")
    shapes = [(0, 10, 1, 64, 128, 1), (1, 10, 16, 64, 128, 1), (2, 50, 16, 64, 128, 2), (3, 50, 16, 64, 128, 2)]
    quick_shapes = [(0, 2, 1, 4, 8, 1), (1, 2, 3, 4, 8, 1), (2, 5, 2, 4, 8, 2), (3, 5, 2, 4, 8, 2)]
    passes = ("fwdbwd",)
    baseline = "numpy-plain"
    targets = [Target("cpp", "speedup", ">=", 5, [shapes[0]])]
    err_tol = {"float32": 1e-8, "float64": 1e-8}  # float64 either way
    flops_note = "not counted (per-step Python overhead dominates the small cases)."

    def label(self, shape) -> str:
        return " ".join(f"{p}={MODELS[v] if p == 'model' else v}" for p, v in zip(self.params, shape))

    def setup(self, shape, dtype, rng):
        kind, T, B, I, H, L = shape
        if kind not in range(len(MODELS)):
            raise ValueError(f"model code {kind}: expected 0..{len(MODELS) - 1} ({', '.join(MODELS)})")
        n = rng.standard_normal
        return SimpleNamespace(shape=shape, kind=MODELS[kind], x=n((T, B, I)), h=n((B, H)), d=n((T, B, H)),
                               dlogits=n((B, N_OUT)), seed=int(rng.integers(1 << 30)))

    @staticmethod
    def _rnnfast_model(d):
        """A fresh rnnfast.mytorch object of this case, initialised from the case's seed."""
        from rnnfast.mytorch.gru_cell import GRUCell
        from rnnfast.mytorch.models.GRU import GRU
        from rnnfast.mytorch.models.rnn_classifier import RNNPhonemeClassifier
        from rnnfast.mytorch.rnn_cell import RNNCell

        _, T, B, I, H, L = d.shape
        np.random.seed(d.seed)
        m = {"GRUCell": lambda: GRUCell(I, H), "RNNCell": lambda: RNNCell(I, H), "GRU": lambda: GRU(I, H, L),
             "RNNPhonemeClassifier": lambda: RNNPhonemeClassifier(I, H, N_OUT, L)}[d.kind]()
        # MyTorch draws N(0, 1) weights; over 50 steps such a recurrence is chaotic (rounding differences
        # grow to O(1)), so the sequence cases scale them by 1/sqrt(H) to make the results comparable
        k = 1 / np.sqrt(H)
        if d.kind == "GRU":
            for c in m.layers:
                for nm in GRU_NAMES:
                    setattr(c, nm, getattr(c, nm) * k)
        elif d.kind == "RNNPhonemeClassifier":
            for c in m.rnn:
                c.W_ih, c.W_hh, c.b_ih, c.b_hh = c.W_ih * k, c.W_hh * k, c.b_ih * k, c.b_hh * k
            m.output_layer.W = np.random.randn(N_OUT, H) * k
        return m

    @staticmethod
    def _step_fns(d, m):
        """The fwdbwd callable for model object ``m`` (rnnfast's or the plain one: same API)."""
        T = d.shape[1]
        if d.kind == "GRUCell":
            xs, h1, ds = d.x[:, 0], d.h[0], d.d[:, 0]

            def run():
                for t in range(T):
                    out = m.forward(xs[t], h1)
                    dx, dh = m.backward(ds[t])
                return {"h": out, "dx": dx, "dh": dh}
        elif d.kind == "RNNCell":
            def run():
                for t in range(T):
                    out = m.forward(d.x[t], d.h)
                    dx, dh = m.backward(d.d[t], out, d.x[t], d.h)
                return {"h": out, "dx": dx, "dh": dh}
        elif d.kind == "GRU":
            def run():
                out, h_n = m.forward(d.x)
                return {"out": out, "h_n": h_n, "d_input": m.backward(d.d)}
        else:
            xb = np.ascontiguousarray(d.x.transpose(1, 0, 2))  # (B, T, I)

            def run():
                logits = m.forward(xb)
                return {"logits": logits, "dh0": m.backward(d.dlogits)}
        return run

    def baseline_impl(self, d):
        src = self._rnnfast_model(d)
        plain = {"GRUCell": NumpyGRUCell, "RNNCell": NumpyRNNCell, "GRU": NumpyGRU,
                 "RNNPhonemeClassifier": NumpyRNNPhonemeClassifier}[d.kind](src)
        return {"fwdbwd": self._step_fns(d, plain)}

    def backend_impl(self, d, backend):
        import rnnfast

        run = self._step_fns(d, self._rnnfast_model(d))

        def on_backend():
            with rnnfast.use_backend(backend):
                return run()
        return {"fwdbwd": on_backend}


SUITE = MyTorchSuite()
