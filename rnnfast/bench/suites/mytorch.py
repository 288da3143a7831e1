"""MyTorch suite: rnnfast.mytorch's classes against plain-NumPy implementations of the same
classes (the handout's step loops, written with NumPy matrix products), forward+backward:
a GRUCell step (unbatched, float64, as MyTorch), an RNNCell step (batched), the bonus
multi-layer GRU over a sequence, and the RNN phoneme classifier over a sequence."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..common import Suite, Target


def _sig(a):
    return 0.5 * np.tanh(0.5 * a) + 0.5


class NumpyGRUCell:
    """Plain NumPy GRUCell (PyTorch equations) with the handout's forward/backward; batched rows."""

    def __init__(self, d, h, rng):
        self.W = {k: rng.standard_normal((h, d if k.endswith("x") else h)) for k in
                  ("Wrx", "Wzx", "Wnx", "Wrh", "Wzh", "Wnh")}
        self.b = {k: rng.standard_normal(h) for k in ("brx", "bzx", "bnx", "brh", "bzh", "bnh")}
        self.dW = {k: np.zeros_like(v) for k, v in self.W.items()}
        self.db = {k: np.zeros_like(v) for k, v in self.b.items()}

    def forward(self, x, h):
        W, b = self.W, self.b
        self.x, self.hidden = x, h
        self.r = _sig(x @ W["Wrx"].T + b["brx"] + h @ W["Wrh"].T + b["brh"])
        self.z = _sig(x @ W["Wzx"].T + b["bzx"] + h @ W["Wzh"].T + b["bzh"])
        self.hn = h @ W["Wnh"].T + b["bnh"]
        self.n = np.tanh(x @ W["Wnx"].T + b["bnx"] + self.r * self.hn)
        return (1 - self.z) * self.n + self.z * h

    def backward(self, delta):
        W, x, h = self.W, np.atleast_2d(self.x), np.atleast_2d(self.hidden)
        r, z, n, hn, delta = (np.atleast_2d(a) for a in (self.r, self.z, self.n, self.hn, delta))
        dn = delta * (1 - z) * (1 - n * n)
        dz = delta * (h - n) * z * (1 - z)
        dr = dn * hn * r * (1 - r)
        for g, dg in (("r", dr), ("z", dz), ("n", dn)):
            self.dW[f"W{g}x"] += dg.T @ x
            self.db[f"b{g}x"] += dg.sum(0)
        self.dW["Wrh"] += dr.T @ h
        self.dW["Wzh"] += dz.T @ h
        self.dW["Wnh"] += (dn * r).T @ h
        self.db["brh"] += dr.sum(0)
        self.db["bzh"] += dz.sum(0)
        self.db["bnh"] += (dn * r).sum(0)
        dx = dr @ W["Wrx"] + dz @ W["Wzx"] + dn @ W["Wnx"]
        dh = delta * z + dr @ W["Wrh"] + dz @ W["Wzh"] + (dn * r) @ W["Wnh"]
        return dx, dh


class NumpyRNNCell:
    def __init__(self, d, h, rng):
        self.W_ih, self.W_hh = rng.standard_normal((h, d)), rng.standard_normal((h, h))
        self.b_ih, self.b_hh = rng.standard_normal(h), rng.standard_normal(h)
        self.dW_ih, self.dW_hh = np.zeros((h, d)), np.zeros((h, h))
        self.db_ih, self.db_hh = np.zeros(h), np.zeros(h)

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


class MyTorchSuite(Suite):
    name = "mytorch"
    title = "rnnfast.mytorch vs plain NumPy, forward+backward, float64"
    params = ("model", "T", "B", "I", "H", "L")
    shapes = [("GRUCell", 1, 1, 64, 128, 1), ("RNNCell", 1, 16, 64, 128, 1), ("GRU", 50, 16, 64, 128, 2),
              ("RNNPhonemeClassifier", 50, 16, 64, 128, 2)]
    quick_shapes = [("GRUCell", 1, 1, 4, 8, 1), ("GRU", 5, 2, 4, 8, 2)]
    passes = ("fwdbwd",)
    baseline = "numpy-plain"
    targets = [Target("cpp", "speedup", ">=", 5, [shapes[0]])]
    err_tol = {"float32": 1e-3, "float64": 1e-8}

    def setup(self, shape, dtype, rng):
        kind, T, B, I, H, L = shape
        return SimpleNamespace(shape=shape, kind=kind, x=rng.standard_normal((T, B, I)), h=rng.standard_normal((B, H)),
                               d=rng.standard_normal((T, B, H)), seed=int(rng.integers(1 << 30)))

    @staticmethod
    def _rnnfast_model(d):
        """The rnnfast.mytorch object of this case, initialised from the case's seed."""
        from rnnfast.mytorch.gru_cell import GRUCell
        from rnnfast.mytorch.models.GRU import GRU
        from rnnfast.mytorch.models.rnn_classifier import RNNPhonemeClassifier
        from rnnfast.mytorch.rnn_cell import RNNCell

        kind, T, B, I, H, L = d.shape
        np.random.seed(d.seed)
        m = {"GRUCell": lambda: GRUCell(I, H), "RNNCell": lambda: RNNCell(I, H), "GRU": lambda: GRU(I, H, L),
             "RNNPhonemeClassifier": lambda: RNNPhonemeClassifier(I, H, 10, L)}[kind]()
        # MyTorch draws N(0, 1) weights; over 50 steps such a recurrence is chaotic (rounding differences
        # grow to O(1)), so the sequence cases scale them by 1/sqrt(H) to make outputs comparable
        k = 1 / np.sqrt(H)
        if kind == "GRU":
            for c in m.layers:
                for a in (c._w_ih, c._w_hh, c._b_ih, c._b_hh):
                    a *= k
        elif kind == "RNNPhonemeClassifier":
            for c in m.rnn:
                c.W_ih, c.W_hh, c.b_ih, c.b_hh = c.W_ih * k, c.W_hh * k, c.b_ih * k, c.b_hh * k
        return m

    @staticmethod
    def _copy_gru(src, dst):
        for k in dst.W:
            dst.W[k] = getattr(src, k).copy()
        for k in dst.b:
            dst.b[k] = getattr(src, k).copy()

    def baseline_impl(self, d):
        kind, T, B, I, H, L = d.shape
        rng = np.random.default_rng(d.seed)
        ref = self._rnnfast_model(d)
        if kind == "GRUCell":
            cell = NumpyGRUCell(I, H, rng)
            self._copy_gru(ref, cell)
            x, h, dl = d.x[0, 0], d.h[0], d.d[0, 0]

            def run():
                out = cell.forward(x, h)
                dx, dh = cell.backward(dl)
                return {"h": out, "dx": dx.reshape(-1)}
        elif kind == "RNNCell":
            cell = NumpyRNNCell(I, H, rng)
            cell.W_ih, cell.W_hh, cell.b_ih, cell.b_hh = ref.W_ih, ref.W_hh, ref.b_ih, ref.b_hh

            def run():
                out = cell.forward(d.x[0], d.h)
                dx, dh = cell.backward(d.d[0], out, d.x[0], d.h)
                return {"h": out, "dx": dx}
        else:
            make = NumpyGRUCell if kind == "GRU" else NumpyRNNCell
            cells = [make(I if l == 0 else H, H, rng) for l in range(L)]
            for c, r in zip(cells, ref.layers if kind == "GRU" else ref.rnn):
                if kind == "GRU":
                    self._copy_gru(r, c)
                else:
                    c.W_ih, c.W_hh, c.b_ih, c.b_hh = r.W_ih, r.W_hh, r.b_ih, r.b_hh

            def run():  # the handout's loops: time outer, layers inner; BPTT in reverse
                hs = [[np.zeros((B, H))] * L]
                caches = []
                for t in range(T):
                    inp, row, crow = d.x[t], [], []
                    for l, c in enumerate(cells):
                        out = c.forward(inp, hs[-1][l])
                        crow.append((inp, hs[-1][l], out, dict(vars(c)) if kind == "GRU" else None))
                        row.append(out)
                        inp = out
                    hs.append(row)
                    caches.append(crow)
                dh = [np.zeros((B, H)) for _ in range(L)]
                dxs = []
                for t in range(T - 1, -1, -1):
                    dh[L - 1] = dh[L - 1] + d.d[t]
                    for l in range(L - 1, -1, -1):
                        inp, hp, out, saved = caches[t][l]
                        c = cells[l]
                        if kind == "GRU":
                            c.__dict__.update({k: v for k, v in saved.items() if k in ("x", "hidden", "r", "z", "n",
                                                                                      "hn")})
                            dx, dhp = c.backward(dh[l])
                        else:
                            dx, dhp = c.backward(dh[l], out, inp, hp)
                        dh[l] = dhp
                        if l:
                            dh[l - 1] = dh[l - 1] + dx
                        else:
                            dxs.append(dx)
                return {"out": np.stack([r[-1] for r in hs[1:]])}
        return {"fwdbwd": run}

    def _run_rnnfast(self, d, m, backend):
        import rnnfast

        kind, T, B, I, H, L = d.shape
        with rnnfast.use_backend(backend):
            if kind == "GRU":
                out, _ = m.forward(d.x)
                m.backward(d.d)
                return {"out": out}
            # the classifier: its per-layer states over time, and a backward from its last layer's states
            m.forward(np.ascontiguousarray(d.x.transpose(1, 0, 2)))
            m.backward(np.ones((B, 10)))
            return {"out": np.stack([s[-1] for s in m.hiddens[1:]])}

    def backend_impl(self, d, backend):
        import rnnfast

        kind, T, B, I, H, L = d.shape
        if kind == "GRUCell":
            cell = self._rnnfast_model(d)
            x, h, dl = d.x[0, 0], d.h[0], d.d[0, 0]

            def run():
                with rnnfast.use_backend(backend):
                    out = cell.forward(x, h)
                    dx, dh = cell.backward(dl)
                return {"h": out, "dx": dx}
        elif kind == "RNNCell":
            cell = self._rnnfast_model(d)

            def run():
                with rnnfast.use_backend(backend):
                    out = cell.forward(d.x[0], d.h)
                    dx, dh = cell.backward(d.d[0], out, d.x[0], d.h)
                return {"h": out, "dx": dx}
        else:
            m = self._rnnfast_model(d)
            if kind == "RNNPhonemeClassifier":
                m.output_layer.W = np.random.randn(10, H)

            def run():
                return self._run_rnnfast(d, m, backend)
        return {"fwdbwd": run}


SUITE = MyTorchSuite()
