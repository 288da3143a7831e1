"""The model files of each semester: ``RNNPhonemeClassifier`` (hw3/ or models/rnn_classifier.py) and
``CharacterPredictor`` with ``inference`` (hw3/hw3.py or models/char_predictor.py).

The classifier runs each layer over the whole sequence with rnnfast's RNN kernels (one call per
layer, forward and backward), exactly the handout's step loops. Its ``output_layer`` and the
predictor's ``projection`` are the semester's COURSE ``Linear`` (see ``_course``): the tests read
their gradients in that semester's convention (Spring 2021 ``dW``/``db`` averaged, Fall 2022
``dLdW``/``dLdb`` averaged, Spring 2024 on summed), which only the course class gives.

Arrays are computed in NumPy's promotion of their dtypes: float32 weights with float64 data run in
float64; only all-float32 inputs run in float32. Nothing is cast down.
"""
from __future__ import annotations

import numpy as np

from rnnfast import functional as F

from ..gru_cell import GRUCell
from ..rnn_cell import RNNCell
from . import _course

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _dtype(*arrays):
    dt = np.result_type(*(np.asarray(a).dtype for a in arrays))
    return dt if dt in _FLOATS else np.dtype(np.float64)


class _Classifier:
    """RNNPhonemeClassifier(input_size, hidden_size, output_size, num_layers=2)."""

    _semester = "s26"

    def __init__(self, input_size, hidden_size, output_size, num_layers=2):
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = output_size
        self.num_layers = num_layers
        self.rnn = [RNNCell(input_size if i == 0 else hidden_size, hidden_size) for i in range(num_layers)]
        self.output_layer = self._linear()(hidden_size, output_size)
        self.hiddens = []

    def _linear(self):
        """The Linear class of the output layer: the semester's course class."""
        return _course.linear_class(self._semester)

    def init_weights(self, rnn_weights, linear_weights):
        """rnn_weights: per layer [W_ih, W_hh, b_ih, b_hh]; linear_weights: [W, b]."""
        for i, rnn_cell in enumerate(self.rnn):
            rnn_cell.init_weights(*[np.asarray(a) for a in rnn_weights[i]])
        self._init_output(np.asarray(linear_weights[0]), np.asarray(linear_weights[1]))

    def _init_output(self, W, b):
        self.output_layer.W = W
        self.output_layer.b = b.reshape(-1, 1)

    def __call__(self, x, h_0=None):
        return self.forward(x, h_0)

    def _weights(self, cell, dt):
        return [np.ascontiguousarray(a, dt) for a in (cell.W_ih, cell.W_hh, cell.b_ih, cell.b_hh)]

    def _run(self, dt):
        """Every layer over the sequence in dtype ``dt``: (states (T+1, L, B, h), caches)."""
        x, h0 = self.x, self._h0
        B, T = x.shape[0], x.shape[1]
        L, H = self.num_layers, self.hidden_size
        layer_in = np.ascontiguousarray(np.asarray(x).transpose(1, 0, 2), dt)  # (T, B, d)
        states = np.empty((T + 1, L, B, H), dt)
        states[0] = h0
        caches = []
        for l, cell in enumerate(self.rnn):
            y, _, cache = F.rnn_forward(layer_in, np.ascontiguousarray(h0[l], dt), *self._weights(cell, dt))
            states[1:, l] = y
            caches.append(cache)
            layer_in = y
        return states, caches

    def forward(self, x, h_0=None):
        """x (B, T, d), h_0 (L, B, h) or None -> logits (B, output_size); keeps ``hiddens``, the
        T+1 states (L, B, h) (hiddens[0] = h_0)."""
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"RNNPhonemeClassifier.forward: x should have shape (batch, seq_len, "
                             f"{self.input_size}), got {x.shape}")
        if x.dtype.kind not in "biuf":
            raise TypeError(f"RNNPhonemeClassifier.forward: x must hold real numbers, got dtype {x.dtype}")
        B = x.shape[0]
        L, H = self.num_layers, self.hidden_size
        h0 = np.zeros((L, B, H)) if h_0 is None else np.asarray(h_0)
        if h0.shape != (L, B, H):
            raise ValueError(f"RNNPhonemeClassifier.forward: h_0 should have shape {(L, B, H)}, got {h0.shape}")
        self.x, self._h0 = x, h0
        dt = _dtype(x, h0, *[a for c in self.rnn for a in (c.W_ih, c.W_hh, c.b_ih, c.b_hh)])
        states, self._caches = self._run(dt)
        self._dt = dt
        self.hiddens = [states[t] for t in range(states.shape[0])]
        return self.output_layer(self.hiddens[-1][-1])

    def backward(self, delta):
        """delta (B, output_size) -> dh_0 / B (L, B, h); accumulates every cell's (batch-averaged)
        gradients and the output layer's, as the handout's step loop."""
        B = np.shape(delta)[0]
        L, H = self.num_layers, self.hidden_size
        dh_last = np.asarray(self.output_layer.backward(delta))
        dt = _dtype(dh_last, np.empty(0, self._dt))
        caches = self._caches if dt == self._dt else self._run(dt)[1]  # a wider gradient: redo in its dtype
        dh0 = np.zeros((L, B, H), dt)
        dy = None  # gradient w.r.t. the layer's outputs, from the layer above
        for l in range(L - 1, -1, -1):
            g = F.rnn_backward(dy, np.ascontiguousarray(dh_last, dt) if l == L - 1 else None, caches[l])
            cell = self.rnn[l]
            cell.dW_ih += g.dw_ih / B
            cell.dW_hh += g.dw_hh / B
            cell.db_ih += g.db_ih / B
            cell.db_hh += g.db_hh / B
            dh0[l] = g.dh0
            dy = g.dx
        return dh0 / B


class ClassifierS21(_Classifier):
    _semester = "s21"

    def _init_output(self, W, b):
        self.output_layer.init_weights(W, b)


def classifier(semester):
    """The RNNPhonemeClassifier class of ``semester``."""
    base = ClassifierS21 if semester == "s21" else _Classifier
    return type("RNNPhonemeClassifier", (base,), {"_semester": semester, "__module__": "rnn_classifier"})


class _Predictor:
    """CharacterPredictor(input_dim, hidden_dim, num_classes): a GRUCell and the course Linear."""

    _semester = "s26"
    _cell = None

    def __init__(self, input_dim, hidden_dim, num_classes):
        # the semester's draw order: the cell's twelve randn, then the projection's weights
        self.gru = self._cell(input_dim, hidden_dim)
        self.projection = self._linear()(hidden_dim, num_classes)  # Spring 2021's Linear draws randn(C, h) itself
        if self._semester != "s21":
            self.projection.W = np.random.rand(num_classes, hidden_dim)
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.num_classes = num_classes

    def _linear(self):
        """The Linear class of the projection: the semester's course class."""
        return _course.linear_class(self._semester)

    @property
    def rnn(self):
        """The GRU cell (Spring 2021 and Fall 2022 call it ``rnn``)."""
        return self.gru

    @rnn.setter
    def rnn(self, cell):
        self.gru = cell

    def init_rnn_weights(self, *weights):
        """The cell's twelve weights (Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, then the six biases), or PyTorch's four
        packed ones (w_ih (3h, d), w_hh (3h, h), b_ih, b_hh), split in gate order r, z, n."""
        if len(weights) == 4:
            w_ih, w_hh, b_ih, b_hh = (np.asarray(a) for a in weights)
            weights = (*np.split(w_ih, 3), *np.split(w_hh, 3), *np.split(b_ih, 3), *np.split(b_hh, 3))
        if len(weights) != 12:
            raise TypeError(f"init_rnn_weights: expected the twelve GRU weights (or the four packed ones), "
                            f"got {len(weights)} arrays")
        self.gru.init_weights(*weights)

    def __call__(self, x, h):
        return self.forward(x, h)

    def forward(self, x, h):
        """x (d,), h (h,) -> (logits (C,), h_next (h,))."""
        hnext = self.gru.forward(x, h)
        logits = np.asarray(self.projection(hnext.reshape(1, -1))).reshape(-1)
        return logits, hnext


def predictor(semester, cell):
    return type("CharacterPredictor", (_Predictor,), {"_semester": semester, "_cell": cell,
                                                      "__module__": "char_predictor"})


def inference(net, inputs):
    """Logits (T, C) of ``net`` over inputs (T, d) from a zero state: the whole sequence in one GRU
    kernel call on the cell's weights, then the projection on all T states at once."""
    x = np.asarray(inputs)
    cell = getattr(net, "gru", None)
    if (not isinstance(net, _Predictor) or not isinstance(cell, GRUCell) or x.ndim != 2 or not len(x)
            or x.dtype.kind not in "biuf" or not (cell.h and cell.d)):
        h, out = np.zeros(net.hidden_dim), []  # not one of ours, or sizes the kernels are not built for: step
        for xt in x:
            logits, h = net.forward(xt, h)
            out.append(logits)
        return np.stack(out) if out else np.zeros((0, net.num_classes))
    if x.shape[1] != cell.d:
        raise ValueError(f"inference: inputs should have shape (seq_len, {cell.d}), got {x.shape}")
    y, _, _ = F.gru_forward(np.ascontiguousarray(x, np.float64)[:, None, :], None, cell._w_ih, cell._w_hh,
                            cell._b_ih, cell._b_hh)
    return np.asarray(net.projection(y[:, 0, :]))

