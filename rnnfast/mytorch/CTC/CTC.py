"""MyTorch ``CTC`` and ``CTCLoss`` (CTC/CTC.py): probability space on raw probabilities (never
logged or renormalised), beta EXCLUDING the current frame, and the lecture's expected-divergence
loss -sum_t sum_s gamma[t, s] log y[t, ext_s]. (rnnfast.ctc.ctc_loss is the exact negative
log-likelihood in log space with PyTorch semantics; these classes follow the course instead.)
The recursions are vectorised over the extended-label states."""
import numpy as np


class CTC:
    def __init__(self, BLANK=0):
        self.BLANK = BLANK

    def extend_target_with_blank(self, target):
        """target (L,) -> (extended_symbols (2L+1,), skip_connect (2L+1,))."""
        target = np.asarray(target).reshape(-1)
        ext = np.full(2 * len(target) + 1, self.BLANK, dtype=target.dtype if target.size else np.int64)
        ext[1::2] = target
        skip = np.zeros(len(ext), dtype=int)
        if len(ext) > 2:
            skip[2:] = (ext[2:] != self.BLANK) & (ext[2:] != ext[:-2])
        return ext, skip

    def get_forward_probs(self, logits, extended_symbols, skip_connect):
        """logits (T, C) probabilities -> alpha (T, S)."""
        y = logits[:, extended_symbols]
        T, S = y.shape
        alpha = np.zeros((T, S))
        alpha[0, 0] = y[0, 0]
        if S > 1:
            alpha[0, 1] = y[0, 1]
        sk = np.asarray(skip_connect, bool)
        for t in range(1, T):
            a = alpha[t - 1].copy()
            a[1:] += alpha[t - 1, :-1]
            a[2:] += np.where(sk[2:], alpha[t - 1, :-2], 0)
            alpha[t] = a * y[t]
        return alpha

    def get_backward_probs(self, logits, extended_symbols, skip_connect):
        """logits (T, C) -> beta (T, S), excluding the current frame:
        beta[T-1, S-1] = beta[T-1, S-2] = 1; beta[t, s] = sum over s' in {s, s+1, s+2 if skip[s+2]}
        of beta[t+1, s'] * y[t+1, ext s']."""
        y = logits[:, extended_symbols]
        T, S = y.shape
        beta = np.zeros((T, S))
        beta[T - 1, S - 1] = 1
        if S > 1:
            beta[T - 1, S - 2] = 1
        sk = np.asarray(skip_connect, bool)
        for t in range(T - 2, -1, -1):
            nb = beta[t + 1] * y[t + 1]
            b = nb.copy()
            b[:-1] += nb[1:]
            b[:-2] += np.where(sk[2:], nb[2:], 0)
            beta[t] = b
        return beta

    def get_posterior_probs(self, alpha, beta):
        """gamma = alpha * beta / sum_s(alpha * beta), per frame."""
        ab = alpha * beta
        return ab / ab.sum(axis=1, keepdims=True)


class CTCLoss:
    def __init__(self, BLANK=0):
        self.BLANK = BLANK
        self.ctc = CTC(BLANK)
        self.gammas = []
        self.extended_symbols = []

    def __call__(self, logits, target, input_lengths, target_lengths):
        return self.forward(logits, target, input_lengths, target_lengths)

    def forward(self, logits, target, input_lengths, target_lengths):
        """logits (T, B, C) probabilities, target (B, Lpad), lengths (B,) -> mean over the batch
        of the expected divergence."""
        self.logits, self.target = logits, target
        self.input_lengths, self.target_lengths = input_lengths, target_lengths
        B = target.shape[0]
        total = np.zeros(B)
        self.gammas, self.extended_symbols = [], []
        for b in range(B):
            tgt = target[b, :target_lengths[b]]
            y = logits[:input_lengths[b], b]
            ext, skip = self.ctc.extend_target_with_blank(tgt)
            alpha = self.ctc.get_forward_probs(y, ext, skip)
            beta = self.ctc.get_backward_probs(y, ext, skip)
            gamma = self.ctc.get_posterior_probs(alpha, beta)
            self.gammas.append(gamma)
            self.extended_symbols.append(ext)
            total[b] = -(gamma * np.log(y[:, ext])).sum()
        return np.sum(total) / B

    def backward(self):
        """dY (T, B, C): dY[t, b, ext_s] -= gamma[t, s] / y[t, ext_s], summed over repeated symbols,
        zero beyond each input length, not divided by B."""
        T, B, C = self.logits.shape
        dY = np.zeros_like(self.logits, dtype=np.float64)
        for b in range(B):
            Tb = self.input_lengths[b]
            ext, gamma = self.extended_symbols[b], self.gammas[b]
            y = self.logits[:Tb, b]
            contrib = gamma / y[:, ext]
            for s, k in enumerate(ext):
                dY[:Tb, b, k] -= contrib[:, s]
        return dY
