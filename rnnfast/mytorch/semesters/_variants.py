"""The classes whose names or signatures differ between semesters (everything else is shared):

* Spring 2021 and Fall 2022 construct ``GRUCell(in_dim, hidden_dim)``; Spring 2021 names the GRU
  biases ``bir biz bin bhr bhz bhn`` (gradients ``dbir ... dbhn``) where later semesters use
  ``brx bzx bnx brh bzh bnh``; both spellings reach the same packed buffers.
* Spring 2021's CTC methods are ``targetWithBlank``, ``forwardProb``, ``backwardProb``, ``postProb``;
  its decoders are the functions ``GreedySearch(SymbolSets, y_probs)`` and
  ``BeamSearch(SymbolSets, y_probs, BeamWidth)``.
"""
from ..CTC.CTC import CTC as _CTC
from ..CTC.CTC import CTCLoss as _CTCLoss
from ..CTC.CTCDecoding import beam_search as _beam_search
from ..CTC.CTCDecoding import greedy_search as _greedy_search
from ..gru_cell import GRUCell as _GRUCell

_S21_BIASES = {"bir": "brx", "biz": "bzx", "bin": "bnx", "bhr": "brh", "bhz": "bzh", "bhn": "bnh"}


def _alias(target):
    return property(lambda self: getattr(self, target), lambda self, v: setattr(self, target, v),
                    doc=f"Another name of ``{target}``.")


class GRUCellF22(_GRUCell):
    """GRUCell(in_dim, hidden_dim) (Fall 2022's signature)."""

    def __init__(self, in_dim, hidden_dim):
        super().__init__(in_dim, hidden_dim)


GRUCellF22.__name__ = GRUCellF22.__qualname__ = "GRUCell"


class GRUCellS21(_GRUCell):
    """GRUCell(in_dim, hidden_dim) with Spring 2021's bias names."""

    def __init__(self, in_dim, hidden_dim):
        super().__init__(in_dim, hidden_dim)

    def init_weights(self, Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, bir, biz, bin, bhr, bhz, bhn):
        super().init_weights(Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, bir, biz, bin, bhr, bhz, bhn)


for _old, _new in _S21_BIASES.items():
    setattr(GRUCellS21, _old, _alias(_new))
    setattr(GRUCellS21, "d" + _old, _alias("d" + _new))
GRUCellS21.__name__ = GRUCellS21.__qualname__ = "GRUCell"


class CTCS21(_CTC):
    """Spring 2021's CTC: the same maths under its method names."""

    def targetWithBlank(self, target):
        """target (L,) -> (extSymbols (2L+1,), skipConnect (2L+1,))."""
        return self.extend_target_with_blank(target)

    def forwardProb(self, logits, extSymbols, skipConnect):
        """logits (T, C) probabilities -> alpha (T, S)."""
        return self.get_forward_probs(logits, extSymbols, skipConnect)

    def backwardProb(self, logits, extSymbols, skipConnect):
        """logits (T, C) -> beta (T, S), excluding the current frame."""
        return self.get_backward_probs(logits, extSymbols, skipConnect)

    def postProb(self, alpha, beta):
        """gamma = alpha * beta / sum_s(alpha * beta), per frame."""
        return self.get_posterior_probs(alpha, beta)


CTCS21.__name__ = CTCS21.__qualname__ = "CTC"


class CTCLossS21(_CTCLoss):
    def __init__(self, BLANK=0):
        super().__init__(BLANK)
        self.ctc = CTCS21(BLANK)


CTCLossS21.__name__ = CTCLossS21.__qualname__ = "CTCLoss"


def GreedySearch(SymbolSets, y_probs):
    """y_probs (len(SymbolSets) + 1, seq_len, 1) -> (forward_path: str, forward_prob: float)."""
    return _greedy_search(SymbolSets, y_probs)


def BeamSearch(SymbolSets, y_probs, BeamWidth):
    """y_probs (len(SymbolSets) + 1, seq_len, 1) -> (bestPath: str, mergedPathScores: dict), the dict
    ordered by descending score."""
    return _beam_search(SymbolSets, y_probs, BeamWidth)
