"""MyTorch CTC decoders (CTC/CTCDecoding.py): greedy search and the lecture's beam search, on
probabilities y_probs (len(symbol_set) + 1, T, 1) with blank at index 0.

The beam search is the lecture's algorithm (initialise with blank and each symbol; before each later
frame prune to the paths scoring at least the beam_width-th best score across the blank-ending and
symbol-ending sets; extend with blank, then with each symbol; after the last frame merge identical
paths, no final pruning). It runs as a compiled kernel (``_beam``) when numba is available, else in
Python; both give the same paths and the same scores.
"""
import numpy as np

from . import _beam

__all__ = ["BeamSearchDecoder", "GreedySearchDecoder"]


def _probs(y_probs, name="y_probs"):
    y = np.asarray(y_probs)
    if y.ndim == 3:
        y = y[:, :, 0]
    if y.ndim != 2 or y.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected probabilities of shape (len(symbol_set) + 1, seq_len, 1), got "
                         f"{np.shape(y_probs)} of dtype {np.asarray(y_probs).dtype}")
    return y


def greedy_search(symbol_set, y_probs):
    """-> (path: str, prob: float): the most probable symbol of each frame, repeats collapsed, blanks
    removed; prob is the product of the per-frame maxima as a float64 running product from 1.0,
    left to right (what the handouts' reference loops compute, bit for bit)."""
    y = _probs(y_probs)
    if y.shape[0] != len(symbol_set) + 1:
        raise ValueError(f"y_probs: expected {len(symbol_set) + 1} rows (blank + {len(symbol_set)} symbols), "
                         f"got shape {np.shape(y_probs)}")
    T = y.shape[1]
    best = y.argmax(axis=0)
    prob = 1.0
    for m in y[best, np.arange(T)].tolist():
        prob *= m
    path, prev = [], 0
    for i in best.tolist():
        if i != prev and i != 0:
            path.append(symbol_set[i - 1])
        prev = i
    return "".join(path), prob


def _beam_python(y, beam_width):
    """The lecture's beam search on y (C+1, T), paths as tuples of symbol indices (1-based).
    Returns {path: score} merged, in insertion order."""
    T = y.shape[1]
    C = y.shape[0] - 1
    blank_scores = {(): y[0, 0]}
    symbol_scores = {(c,): y[c, 0] for c in range(1, C + 1)}
    for t in range(1, T):
        scores = sorted(list(blank_scores.values()) + list(symbol_scores.values()), reverse=True)
        cutoff = scores[beam_width - 1] if beam_width < len(scores) else scores[-1]
        blank_scores = {p: s for p, s in blank_scores.items() if s >= cutoff}
        symbol_scores = {p: s for p, s in symbol_scores.items() if s >= cutoff}
        yt = y[:, t]
        new_blank = {p: s * yt[0] for p, s in blank_scores.items()}
        for p, s in symbol_scores.items():
            new_blank[p] = new_blank[p] + s * yt[0] if p in new_blank else s * yt[0]
        new_symbol = {}
        for p, s in blank_scores.items():
            for c in range(1, C + 1):
                new_symbol[p + (c,)] = s * yt[c]
        for p, s in symbol_scores.items():
            for c in range(1, C + 1):
                q = p if c == p[-1] else p + (c,)
                new_symbol[q] = new_symbol[q] + s * yt[c] if q in new_symbol else s * yt[c]
        blank_scores, symbol_scores = new_blank, new_symbol
    merged = dict(symbol_scores)
    for p, s in blank_scores.items():
        merged[p] = merged[p] + s if p in merged else s
    return merged


def beam_search(symbol_set, y_probs, beam_width):
    """-> (best_path: str, merged_path_scores: dict path -> probability, highest score first)."""
    y = _probs(y_probs)
    if y.shape[0] != len(symbol_set) + 1:
        raise ValueError(f"y_probs: expected {len(symbol_set) + 1} rows (blank + {len(symbol_set)} symbols), "
                         f"got shape {np.shape(y_probs)}")
    if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width < 1:
        raise ValueError(f"beam_width: expected an int >= 1, got {beam_width!r}")
    if y.shape[1] == 0:
        return "", {"": 1.0}
    y = np.asarray(y, np.float64)

    sym = [""] + [str(c) for c in symbol_set]
    if _beam.AVAILABLE:
        paths, lengths, scores = _beam.run(y, int(beam_width))
        names = _spell(sym, paths, lengths)
        values = scores.tolist()
        order = np.argsort(-scores, kind="stable").tolist()  # equal scores keep the algorithm's order
        out = {names[i]: values[i] for i in order}
    else:
        merged = _beam_python(y, int(beam_width))
        items = sorted(merged.items(), key=lambda kv: -kv[1])
        out = {"".join(map(sym.__getitem__, p)): float(s) for p, s in items}
    return next(iter(out)), out  # the first of the highest scores, as the lecture's argmax


def _spell(sym, paths, lengths):
    """The strings of paths (n, T) of symbol indices, row i of length lengths[i]."""
    lens = lengths.tolist()
    if all(len(s) == 1 for s in sym[1:]):  # one character per symbol: one decode, then slices
        lut = np.array([0] + [ord(s) for s in sym[1:]], np.uint32)
        flat = lut[paths[np.arange(paths.shape[1])[None, :] < lengths[:, None]]]  # row by row
        text = flat.tobytes().decode("utf-32-le")
        ends = np.cumsum(lengths).tolist()
        return [text[e - k:e] for e, k in zip(ends, lens)]
    return ["".join(map(sym.__getitem__, row[:k])) for row, k in zip(paths.tolist(), lens)]


class GreedySearchDecoder:
    def __init__(self, symbol_set):
        self.symbol_set = symbol_set

    def decode(self, y_probs):
        """y_probs (len(symbol_set) + 1, seq_len, 1) -> (path: str, prob: float)."""
        return greedy_search(self.symbol_set, y_probs)


class BeamSearchDecoder:
    def __init__(self, symbol_set, beam_width):
        self.symbol_set = symbol_set
        self.beam_width = beam_width

    def decode(self, y_probs):
        """y_probs (len(symbol_set) + 1, seq_len, 1) -> (best_path: str, merged_path_scores: dict), the
        dict ordered by descending score."""
        return beam_search(self.symbol_set, y_probs, self.beam_width)
