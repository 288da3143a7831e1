"""MyTorch ``CTC`` and ``CTCLoss`` (CTC/CTC.py): probability space on raw probabilities (never
logged or renormalised), beta EXCLUDING the current frame, and the lecture's expected-divergence
loss -sum_t sum_s gamma[t, s] log y[t, ext_s]. (rnnfast.ctc.ctc_loss is the exact negative
log-likelihood in log space with PyTorch semantics; these classes follow the course instead.)

The recursions and the batched loss + gradient run on rnnfast's probability-space CTC kernels
(``rnnfast.ctc_prob``: prob_alpha_beta, prob_ctc_loss) when this rnnfast has them; otherwise on
the NumPy transcription below (vectorised over the extended-label states), which is also what
``KERNELS = False`` selects.
"""
import numpy as np

__all__ = ["CTC", "CTCLoss"]

try:
    from rnnfast.ctc_prob import prob_alpha_beta as _prob_alpha_beta
    from rnnfast.ctc_prob import prob_ctc_loss as _prob_ctc_loss
except ImportError:
    try:
        from rnnfast.ctc import prob_alpha_beta as _prob_alpha_beta
        from rnnfast.ctc import prob_ctc_loss as _prob_ctc_loss
    except ImportError:  # an rnnfast without the probability-space kernels: the NumPy transcription
        _prob_alpha_beta = _prob_ctc_loss = None

KERNELS = _prob_alpha_beta is not None  # module switch: False forces the NumPy transcription


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
        if KERNELS:
            return _prob_alpha_beta(logits, extended_symbols, skip_connect, compute=("alpha",))[0]
        return self._forward_numpy(np.asarray(logits), extended_symbols, skip_connect)

    def _forward_numpy(self, logits, extended_symbols, skip_connect):
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
        if KERNELS:
            return _prob_alpha_beta(logits, extended_symbols, skip_connect, compute=("beta",))[1]
        return self._backward_numpy(np.asarray(logits), extended_symbols, skip_connect)

    def _backward_numpy(self, logits, extended_symbols, skip_connect):
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
        self._dY = None

    def __call__(self, logits, target, input_lengths, target_lengths):
        return self.forward(logits, target, input_lengths, target_lengths)

    def forward(self, logits, target, input_lengths, target_lengths):
        """logits (T, B, C) probabilities, target (B, Lpad), lengths (B,) -> mean over the batch
        of the expected divergence. Keeps ``gammas`` and ``extended_symbols`` (one per item)."""
        self.logits, self.target = logits, target
        self.input_lengths, self.target_lengths = input_lengths, target_lengths
        if KERNELS:
            loss, self._dY, gamma = _prob_ctc_loss(logits, target, input_lengths, target_lengths, self.BLANK,
                                                   return_gamma=True)
            self.gammas, self.extended_symbols = [], []
            for b in range(len(loss)):
                tgt = np.asarray(target)[b, :int(target_lengths[b])]
                ext, _ = self.ctc.extend_target_with_blank(tgt)
                self.extended_symbols.append(ext)
                self.gammas.append(gamma[b, :int(input_lengths[b]), :len(ext)])
            return np.float64(np.sum(loss) / len(loss))
        self._dY = None
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
        return np.float64(np.sum(total) / B)

    def backward(self):
        """dY (T, B, C): dY[t, b, ext_s] -= gamma[t, s] / y[t, ext_s], summed over repeated symbols,
        zero beyond each input length, not divided by B."""
        if self._dY is not None:
            return self._dY.copy()
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
