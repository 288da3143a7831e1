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

* model 4, ``GRUCell[S21]``: model 0 through Spring 2021's API (biases ``bir ... bhn``, a (1, H) delta from
  the course Linear, (1, I) / (1, H) gradients back);
* model 5, ``CharacterPredictor``: ``inference`` over T characters (I inputs, H hidden, 10 classes); the
  plain version steps a NumPy GRU cell and the projection per character, as the handout's loop;
* model 6, ``CTCLoss``: the handouts' ``CTCLoss`` forward + ``backward()`` on probabilities (T, B, C=I)
  with B targets of length S=H; the plain version is the handout's per-item NumPy transcription
  (extend, alpha, beta, gamma, expected divergence, dY);
* model 7, ``BeamSearch``: ``BeamSearchDecoder(symbols, beam_width=H).decode`` on (I+1, T, 1)
  probabilities (I symbols); the plain version is the lecture's pseudo-code with strings and dicts.

Per semester (the classes differ only in names; the maths are shared): Spring 2021 runs models 4
(its cell), 3, 5, 6, 7; Fall 2022, Spring 2024 and Spring 2026 run models 0, 3, 5, 6, 7 (their
classifier and predictor use the handout's course Linear, whose cost is the handout's own).

``--shape`` takes the model code first, e.g. ``rnnfast bench mytorch --shape 0,10,1,64,128,1``.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..common import Suite, Target

MODELS = ("GRUCell", "RNNCell", "GRU", "RNNPhonemeClassifier", "GRUCell[S21]", "CharacterPredictor", "CTCLoss",
          "BeamSearch")
S21_BIASES = ("bir", "biz", "bin", "bhr", "bhz", "bhn")
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


class NumpyGRUCellS21(NumpyGRUCell):
    """Spring 2021's API: a (1, H) delta gives (1, I), (1, H) gradients."""

    def backward(self, delta, state=None):
        dx, dh = super().backward(delta, state)
        return np.atleast_2d(dx), np.atleast_2d(dh)


class NumpyCharacterPredictor:
    def __init__(self, src):
        self.cell = NumpyGRUCell(src.gru)
        self.W, self.b = np.array(src.projection.W), np.array(src.projection.b)
        self.hidden_dim = src.hidden_dim

    def forward(self, x, h):
        hn = self.cell.forward(x, h)
        return (hn[None] @ self.W.T + self.b.T)[0], hn


def numpy_inference(net, inputs):
    h = np.zeros(net.hidden_dim)
    out = []
    for x in inputs:
        logits, h = net.forward(x, h)
        out.append(logits)
    return np.stack(out)


class NumpyCTCLoss:
    """The handouts' CTCLoss, transcribed in NumPy (per item; recursions vectorised over the states)."""

    def extend(self, target):
        ext = np.zeros(2 * len(target) + 1, dtype=int)
        ext[1::2] = target
        skip = np.zeros(len(ext), dtype=int)
        skip[2:] = (ext[2:] != 0) & (ext[2:] != ext[:-2])
        return ext, skip

    def alpha_beta(self, y, ext, skip):
        T, S = y.shape[0], len(ext)
        ye = y[:, ext]
        a, b = np.zeros((T, S)), np.zeros((T, S))
        a[0, :2] = ye[0, :2]
        sk = skip.astype(bool)
        for t in range(1, T):
            v = a[t - 1].copy()
            v[1:] += a[t - 1, :-1]
            v[2:] += np.where(sk[2:], a[t - 1, :-2], 0)
            a[t] = v * ye[t]
        b[T - 1, -2:] = 1
        for t in range(T - 2, -1, -1):
            nb = b[t + 1] * ye[t + 1]
            v = nb.copy()
            v[:-1] += nb[1:]
            v[:-2] += np.where(sk[2:], nb[2:], 0)
            b[t] = v
        return a, b

    def __call__(self, y, targets, il, tl):
        B = targets.shape[0]
        self.y, self.il, self.parts, total = y, il, [], 0.0
        for i in range(B):
            yb = y[:il[i], i]
            ext, skip = self.extend(targets[i, :tl[i]])
            a, b = self.alpha_beta(yb, ext, skip)
            g = a * b
            g /= g.sum(1, keepdims=True)
            self.parts.append((ext, g))
            total += -(g * np.log(yb[:, ext])).sum()
        return total / B

    def backward(self):
        dY = np.zeros_like(self.y)
        for i, (ext, g) in enumerate(self.parts):
            Tb = self.il[i]
            yb = self.y[:Tb, i]
            for s, k in enumerate(ext):
                dY[:Tb, i, k] -= g[:, s] / yb[:, k]
        return dY


def numpy_beam_search(symbols, y_probs, beam_width):
    """The lecture's beam search pseudo-code, with strings and dictionaries."""
    y = y_probs[:, :, 0]
    blank, sym = {"": y[0, 0]}, {c: y[i + 1, 0] for i, c in enumerate(symbols)}
    for t in range(1, y.shape[1]):
        scores = sorted(list(blank.values()) + list(sym.values()), reverse=True)
        cut = scores[beam_width - 1] if beam_width < len(scores) else scores[-1]
        blank = {p: v for p, v in blank.items() if v >= cut}
        sym = {p: v for p, v in sym.items() if v >= cut}
        nb = {p: v * y[0, t] for p, v in blank.items()}
        for p, v in sym.items():
            nb[p] = nb.get(p, 0) + v * y[0, t]
        ns = {}
        for p, v in blank.items():
            for i, c in enumerate(symbols):
                ns[p + c] = v * y[i + 1, t]
        for p, v in sym.items():
            for i, c in enumerate(symbols):
                q = p if c == p[-1] else p + c
                ns[q] = ns.get(q, 0) + v * y[i + 1, t]
        blank, sym = nb, ns
    merged = dict(sym)
    for p, v in blank.items():
        merged[p] = merged.get(p, 0) + v
    return max(merged, key=merged.get), merged


# ------------------------------------------------------------------------------------------ suite
class MyTorchSuite(Suite):
    name = "mytorch"
    title = "rnnfast.mytorch vs plain NumPy (the same classes), forward+backward, float64"
    params = ("model", "T", "B", "I", "H", "L")
    shapes = [(0, 10, 1, 64, 128, 1), (1, 10, 16, 64, 128, 1), (2, 50, 16, 64, 128, 2), (3, 50, 16, 64, 128, 2),
              (4, 10, 1, 64, 128, 1), (5, 50, 1, 64, 128, 1), (6, 100, 8, 40, 30, 1), (7, 100, 1, 40, 10, 1)]
    quick_shapes = [(0, 2, 1, 4, 8, 1), (1, 2, 3, 4, 8, 1), (2, 5, 2, 4, 8, 2), (3, 5, 2, 4, 8, 2), (4, 2, 1, 4, 8, 1),
                    (5, 4, 1, 4, 8, 1), (6, 6, 2, 5, 2, 1), (7, 5, 1, 3, 3, 1)]
    passes = ("fwdbwd",)
    baseline = "numpy-plain"
    targets = [Target("cpp", "speedup", ">=", 5, [shapes[0], shapes[4]]),
               Target("cpp", "speedup", ">=", 20, [shapes[6]]), Target("cpp", "speedup", ">=", 50, [shapes[7]])]
    err_tol = {"float32": 1e-8, "float64": 1e-8}  # float64 either way
    flops_note = "not counted (per-step Python overhead dominates the small cases)."

    def label(self, shape) -> str:
        return " ".join(f"{p}={MODELS[v] if p == 'model' else v}" for p, v in zip(self.params, shape))

    def setup(self, shape, dtype, rng):
        kind, T, B, I, H, L = shape
        if kind not in range(len(MODELS)):
            raise ValueError(f"model code {kind}: expected 0..{len(MODELS) - 1} ({', '.join(MODELS)})")
        n = rng.standard_normal
        d = SimpleNamespace(shape=shape, kind=MODELS[kind], seed=int(rng.integers(1 << 30)))
        if d.kind == "CTCLoss":  # (T, B, C=I) probabilities, B targets of length S=H
            z = n((T, B, I))
            e = np.exp(z - z.max(-1, keepdims=True))
            d.y, d.targets = e / e.sum(-1, keepdims=True), rng.integers(1, I, (B, H))
            d.il, d.tl = np.full(B, T), np.full(B, H)
        elif d.kind == "BeamSearch":  # (I+1, T, 1) probabilities, beam width H
            p = rng.uniform(0.01, 1, (I + 1, T, 1))
            d.y_probs, d.symbols = p / p.sum(0), [chr(ord("A") + i) for i in range(I)]
        else:
            d.x, d.h, d.d, d.dlogits = n((T, B, I)), n((B, H)), n((T, B, H)), n((B, N_OUT))
        return d

    @staticmethod
    def _rnnfast_model(d):
        """A fresh rnnfast.mytorch object of this case, initialised from the case's seed."""
        from rnnfast.mytorch.CTC.CTC import CTCLoss
        from rnnfast.mytorch.CTC.CTCDecoding import BeamSearchDecoder
        from rnnfast.mytorch.gru_cell import GRUCell
        from rnnfast.mytorch.models.char_predictor import CharacterPredictor
        from rnnfast.mytorch.models.GRU import GRU
        from rnnfast.mytorch.models.rnn_classifier import RNNPhonemeClassifier
        from rnnfast.mytorch.rnn_cell import RNNCell
        from rnnfast.mytorch.semesters._variants import GRUCellS21

        _, T, B, I, H, L = d.shape
        np.random.seed(d.seed)
        m = {"GRUCell": lambda: GRUCell(I, H), "RNNCell": lambda: RNNCell(I, H), "GRU": lambda: GRU(I, H, L),
             "RNNPhonemeClassifier": lambda: RNNPhonemeClassifier(I, H, N_OUT, L),
             "GRUCell[S21]": lambda: GRUCellS21(I, H), "CharacterPredictor": lambda: CharacterPredictor(I, H, N_OUT),
             "CTCLoss": lambda: CTCLoss(), "BeamSearch": lambda: BeamSearchDecoder(d.symbols, H)}[d.kind]()
        if d.kind == "CharacterPredictor":  # weights as model 2's (a long recurrence stays comparable)
            k = 1 / np.sqrt(H)
            for nm in GRU_NAMES:
                setattr(m.gru, nm, getattr(m.gru, nm) * k)
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
        if d.kind == "GRUCell[S21]":
            xs, h1, ds = d.x[:, 0], d.h[0], d.d[:, :1]  # delta (1, H), as the course Linear hands it

            def run():
                for t in range(T):
                    out = m.forward(xs[t], h1)
                    dx, dh = m.backward(ds[t])
                return {"h": out, "dx": dx, "dh": dh}
        elif d.kind == "CharacterPredictor":
            from rnnfast.mytorch.models.char_predictor import inference
            xs = np.ascontiguousarray(d.x[:, 0])
            infer = numpy_inference if isinstance(m, NumpyCharacterPredictor) else inference

            def run():
                return {"logits": infer(m, xs)}
        elif d.kind == "CTCLoss":
            def run():
                loss = m(d.y, d.targets, d.il, d.tl)
                return {"loss": np.array(loss), "dY": m.backward()}
        elif d.kind == "BeamSearch":
            decode = m if callable(m) else m.decode

            def run():
                best, merged = decode(d.y_probs)
                return {"scores": np.sort(np.fromiter(merged.values(), np.float64, len(merged)))[::-1]}
        elif d.kind == "GRUCell":
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
        if d.kind == "BeamSearch":
            plain = lambda y: numpy_beam_search(d.symbols, y, d.shape[4])  # noqa: E731
        elif d.kind == "CTCLoss":
            plain = NumpyCTCLoss()
        else:
            plain = {"GRUCell": NumpyGRUCell, "RNNCell": NumpyRNNCell, "GRU": NumpyGRU,
                     "RNNPhonemeClassifier": NumpyRNNPhonemeClassifier, "GRUCell[S21]": NumpyGRUCellS21,
                     "CharacterPredictor": NumpyCharacterPredictor}[d.kind](src)
        return {"fwdbwd": self._step_fns(d, plain)}

    def backend_impl(self, d, backend):
        import rnnfast

        run = self._step_fns(d, self._rnnfast_model(d))

        def on_backend():
            with rnnfast.use_backend(backend):
                return run()
        return {"fwdbwd": on_backend}


SUITE = MyTorchSuite()
