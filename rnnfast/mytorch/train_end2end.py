"""HW3P1 bonus: ``GRU_CTC`` (multi-layer GRU -> Linear -> softmax -> MyTorch CTCLoss) trained end
to end with plain SGD, all on rnnfast (``python -m rnnfast.mytorch.train_end2end``)."""
import numpy as np

from .CTC.CTC import CTCLoss
from .models.GRU import GRU
from .nn.linear import Linear


class GRU_CTC:
    def __init__(self, input_size, hidden_size, num_layers, num_symbols):
        self.gru = GRU(input_size, hidden_size, num_layers)
        self.linear = Linear(hidden_size, num_symbols)  # MyTorch's Linear starts at zero (no draws)
        self.ctc = CTCLoss(BLANK=0)

    def forward(self, x, targets, input_lengths, target_lengths):
        """x (T, B, I) -> mean expected-divergence CTC loss."""
        self.out, _ = self.gru.forward(x)
        T, B, H = self.out.shape
        logits = self.linear.forward(self.out.reshape(T * B, H)).reshape(T, B, -1)
        z = logits - logits.max(axis=2, keepdims=True)
        e = np.exp(z)
        self.probs = e / (e.sum(axis=2, keepdims=True) + 1e-8)
        return self.ctc.forward(self.probs, targets, input_lengths, target_lengths)

    def backward(self):
        dY = self.ctc.backward()
        p = self.probs
        dlogits = p * (dY - (dY * p).sum(axis=2, keepdims=True))  # softmax Jacobian (exact with the +1e-8)
        T, B, C = dlogits.shape
        dout = self.linear.backward(dlogits.reshape(T * B, C)).reshape(T, B, -1)
        return self.gru.backward(dout)

    def parameters(self):
        """(array, gradient) pairs of every parameter, for an SGD step."""
        pairs = [(self.linear.W, self.linear.dLdW), (self.linear.b, self.linear.dLdb)]
        for cell in self.gru.layers:
            pairs += [(cell._w_ih, cell._dw_ih), (cell._w_hh, cell._dw_hh), (cell._b_ih, cell._db_ih),
                      (cell._b_hh, cell._db_hh)]
        return pairs

    def zero_grad(self):
        for cell in self.gru.layers:
            for g in (cell._dw_ih, cell._dw_hh, cell._db_ih, cell._db_hh):
                g[...] = 0


def train(seed=11785, epochs=10, lr=0.001, T=15, B=3, I=8, H=16, num_layers=2, num_symbols=5, verbose=True):
    """The bonus setup: random inputs and targets (lengths 1..T/2, labels 1..num_symbols-1),
    ``epochs`` full-batch plain-SGD steps. Returns the loss of every epoch."""
    np.random.seed(seed)
    model = GRU_CTC(I, H, num_layers, num_symbols)
    x = np.random.randn(T, B, I)
    target_lengths = np.random.randint(1, T // 2 + 1, size=B)
    targets = np.zeros((B, target_lengths.max()), dtype=int)
    for b in range(B):
        targets[b, :target_lengths[b]] = np.random.randint(1, num_symbols, size=target_lengths[b])
    input_lengths = np.full(B, T)
    losses = []
    for epoch in range(1, epochs + 1):
        loss = model.forward(x, targets, input_lengths, target_lengths)
        model.zero_grad()
        model.backward()
        for p, g in model.parameters():
            p -= lr * g
        losses.append(float(loss))
        if verbose:
            print(f"Epoch {epoch}, Loss: {loss:.4f}")
    return losses


if __name__ == "__main__":
    train()
