"""Helpers shared by the NumPy recurrent kernels (gru.py, lstm.py, rnn.py)."""
import numpy as np


def valid(lengths, t, B):
    """(B, 1) boolean: rows still inside their sequence at step t."""
    if lengths is None:
        return np.ones((B, 1), dtype=bool)
    return (t < lengths)[:, None]


def time_order(T, reverse):
    """(t, slot of the state entering t, slot of the state leaving t) in visiting order: forwards
    t = 0..T-1 with h0 in slot 0, or reversed t = T-1..0 with h0 in slot T (csrc/recurrent.h TimeOrder).
    The backward pass visits the same list reversed."""
    if reverse:
        return [(t, t + 1, t) for t in range(T - 1, -1, -1)]
    return [(t, t, t + 1) for t in range(T)]
