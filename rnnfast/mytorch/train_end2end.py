"""HW3P1 bonus (train_end2end.py): ``GRU_CTC``, a multi-layer GRU -> Linear -> softmax network trained
end to end with MyTorch's ``CTCLoss`` and plain SGD, all on rnnfast (``python -m rnnfast.mytorch.train_end2end``).

The handout's interface: ``forward(x (T, B, I)) -> probs (T, B, C)`` (max-shifted softmax with 1e-8
added to the denominator), ``backward(dY (T, B, C)) -> d_x (T, B, I)`` where ``dY`` is what
``CTCLoss.backward()`` returns (the gradient with respect to ``probs``). The backward is the true
gradient through the softmax (including its max shift and epsilon), the Linear layer and the GRU,
checked against PyTorch autograd; it does not feed ``dY`` to the Linear layer as if it were the
gradient of the logits.
"""
import numpy as np

from .CTC.CTC import CTCLoss
from .models.GRU import GRU
from .nn.linear import Linear

_EPS = 1e-8  # added to the softmax denominator, as the handout


class GRU_CTC:
    def __init__(self, input_size, hidden_size, num_layers, num_symbols):
        """num_symbols includes the blank (index 0). The GRU cells draw their weights (layer by layer);
        the Linear layer starts at zero, drawing nothing (MyTorch's Linear)."""
        self.gru = GRU(input_size, hidden_size, num_layers)
        self.output_size = hidden_size  # what the GRU emits per step
        self.linear = Linear(self.output_size, num_symbols)

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        """x (T, B, I) -> probs (T, B, num_symbols); keeps gru_out, h_n, logits, probs."""
        self.gru_out, self.h_n = self.gru.forward(x)
        T, B, _ = self.gru_out.shape
        self.logits_flat = self.linear.forward(self.gru_out.reshape(T * B, -1))
        self.logits = self.logits_flat.reshape(T, B, -1)
        self._max = self.logits.max(axis=2, keepdims=True)
        e = np.exp(self.logits - self._max)
        self._denom = e.sum(axis=2, keepdims=True) + _EPS
        self.probs = e / self._denom
        return self.probs

    def backward(self, dY):
        """dY (T, B, C) = dLoss/dprobs -> d_x (T, B, I); the Linear layer's dLdW, dLdb are set and every
        GRU cell's gradients accumulated (as MyTorch's backward passes do)."""
        dY = np.asarray(dY, np.float64)
        p = self.probs
        if dY.shape != p.shape:
            raise ValueError(f"GRU_CTC.backward: expected dY of shape {p.shape} (the probs), got {dY.shape}")
        T, B, C = p.shape
        dot = (dY * p).sum(axis=2, keepdims=True)
        dlogits = p * (dY - dot)  # p = e / (sum e + eps): dp_k/dz_j = p_k (delta_kj - p_j)
        # the max shift m: dp_k/dm = -p_k eps / (sum e + eps); its gradient goes to the argmax logit
        dm = -dot * (_EPS / self._denom)
        first_max = self.logits.argmax(axis=2)[..., None]
        np.add.at(dlogits, (np.arange(T)[:, None, None], np.arange(B)[None, :, None], first_max), dm)
        d_out = self.linear.backward(dlogits.reshape(T * B, C)).reshape(T, B, -1)
        return self.gru.backward(d_out)

    def zero_grad(self):
        """Zero every GRU cell's accumulated gradients (the Linear layer's are overwritten by backward)."""
        for cell in self.gru.layers:
            cell.zero_grad()

    def sgd_step(self, lr):
        """Plain SGD on every parameter, through the attributes MyTorch training code uses."""
        self.linear.W -= lr * self.linear.dLdW
        self.linear.b -= lr * self.linear.dLdb
        for cell in self.gru.layers:
            for name in ("Wrx", "Wzx", "Wnx", "Wrh", "Wzh", "Wnh", "brx", "bzx", "bnx", "brh", "bzh", "bnh"):
                w = getattr(cell, name)
                w -= lr * getattr(cell, "d" + name)  # in place: the cell's packed kernel buffers


def make_data(seq_len=15, batch_size=3, input_size=8, num_symbols=5):
    """The bonus's dummy data, drawn in its order from NumPy's global RNG: x = randn(T, B, I), then
    per item a target length randint(1, T // 2 + 1) and its labels randint(1, num_symbols).
    Returns (x, targets (B, max length) zero-padded, input_lengths (all T), target_lengths)."""
    x = np.random.randn(seq_len, batch_size, input_size)
    seqs = []
    for _ in range(batch_size):
        n = np.random.randint(1, seq_len // 2 + 1)
        seqs.append(np.random.randint(1, num_symbols, size=(n,)))
    target_lengths = np.array([len(s) for s in seqs], dtype=int)
    targets = np.zeros((batch_size, target_lengths.max()), dtype=int)
    for b, s in enumerate(seqs):
        targets[b, :len(s)] = s
    return x, targets, np.full((batch_size,), seq_len, dtype=int), target_lengths


def train(seed=11785, num_epochs=10, learning_rate=0.001, seq_len=15, batch_size=3, input_size=8, hidden_size=16,
          num_layers=2, num_symbols=5, verbose=True):
    """The bonus's training run: GRU_CTC and CTCLoss(BLANK=0) on ``make_data``, ``num_epochs`` full-batch
    plain-SGD steps, printing ``Epoch {epoch}, Loss: {loss:.4f}`` (epochs counted from 0, as the
    handout's loop). ``seed``: NumPy's global seed set first (None: use the RNG as it is). The cells'
    gradients are zeroed before every backward (MyTorch cells accumulate; the handout's loop never
    resets them, which would make the update a running sum of all past gradients rather than SGD).
    Returns the loss of every epoch."""
    if seed is not None:
        np.random.seed(seed)
    model = GRU_CTC(input_size, hidden_size, num_layers, num_symbols)
    ctc_loss_fn = CTCLoss(BLANK=0)
    x, targets, input_lengths, target_lengths = make_data(seq_len, batch_size, input_size, num_symbols)
    losses = []
    for epoch in range(num_epochs):
        probs = model.forward(x)
        loss = ctc_loss_fn(probs, targets, input_lengths, target_lengths)
        losses.append(float(loss))
        if verbose:
            print(f"Epoch {epoch}, Loss: {loss:.4f}")
        dY = ctc_loss_fn.backward()
        model.zero_grad()
        model.backward(dY)
        model.sgd_step(learning_rate)
    return losses


if __name__ == "__main__":
    train()
