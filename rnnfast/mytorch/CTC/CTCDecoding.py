"""MyTorch CTC decoders (CTC/CTCDecoding.py): greedy search and the lecture's beam search, on
probabilities y_probs (len(symbol_set) + 1, T, 1) with blank at index 0."""
import numpy as np


class GreedySearchDecoder:
    def __init__(self, symbol_set):
        self.symbol_set = symbol_set

    def decode(self, y_probs):
        """-> (path: str, prob: float): the most probable symbol of each frame, repeats collapsed,
        blanks removed; prob is the product of the per-frame maxima."""
        prob = 1.0
        best = []
        for t in range(y_probs.shape[1]):
            col = y_probs[:, t, 0]
            i = int(np.argmax(col))
            prob *= col[i]
            best.append(i)
        path, prev = [], None
        for i in best:
            if i != prev and i != 0:
                path.append(self.symbol_set[i - 1])
            prev = i
        return "".join(path), float(prob)


class BeamSearchDecoder:
    def __init__(self, symbol_set, beam_width):
        self.symbol_set = symbol_set
        self.beam_width = beam_width

    def _prune(self, blank_scores, symbol_scores):
        scores = sorted(list(blank_scores.values()) + list(symbol_scores.values()), reverse=True)
        cutoff = scores[self.beam_width - 1] if len(scores) >= self.beam_width else scores[-1]
        return ({p: s for p, s in blank_scores.items() if s >= cutoff},
                {p: s for p, s in symbol_scores.items() if s >= cutoff})

    def decode(self, y_probs):
        """-> (best_path: str, merged_path_scores: dict path -> probability)."""
        y = y_probs[:, :, 0]
        T = y.shape[1]
        blank_scores = {"": y[0, 0]}  # paths ending in blank
        symbol_scores = {c: y[i + 1, 0] for i, c in enumerate(self.symbol_set)}  # ending in a symbol
        for t in range(1, T):
            blank_scores, symbol_scores = self._prune(blank_scores, symbol_scores)
            new_blank = {}
            for p, s in list(blank_scores.items()) + list(symbol_scores.items()):
                new_blank[p] = new_blank.get(p, 0.0) + s * y[0, t]
            new_symbol = {}
            for p, s in blank_scores.items():
                for i, c in enumerate(self.symbol_set):
                    new_symbol[p + c] = new_symbol.get(p + c, 0.0) + s * y[i + 1, t]
            for p, s in symbol_scores.items():
                for i, c in enumerate(self.symbol_set):
                    q = p if c == p[-1] else p + c
                    new_symbol[q] = new_symbol.get(q, 0.0) + s * y[i + 1, t]
            blank_scores, symbol_scores = new_blank, new_symbol
        merged = dict(symbol_scores)
        for p, s in blank_scores.items():
            merged[p] = merged.get(p, 0.0) + s
        best_path = max(merged, key=merged.get)
        return best_path, merged
