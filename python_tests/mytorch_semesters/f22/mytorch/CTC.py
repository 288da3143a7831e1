# ruff: noqa  (a handout file, in the handout's style)
import numpy as np


class CTC(object):
    def __init__(self, BLANK=0):
        self.BLANK = BLANK

    def extend_target_with_blank(self, *args):
        raise NotImplementedError("TODO: extend_target_with_blank")

    def get_forward_probs(self, *args):
        raise NotImplementedError("TODO: get_forward_probs")

    def get_backward_probs(self, *args):
        raise NotImplementedError("TODO: get_backward_probs")

    def get_posterior_probs(self, *args):
        raise NotImplementedError("TODO: get_posterior_probs")



class CTCLoss(object):
    def __init__(self, BLANK=0):
        super(CTCLoss, self).__init__()
        self.BLANK = BLANK
        self.gammas = []

    def __call__(self, logits, target, input_lengths, target_lengths):
        return self.forward(logits, target, input_lengths, target_lengths)

    def forward(self, logits, target, input_lengths, target_lengths):
        raise NotImplementedError("TODO: CTCLoss.forward")

    def backward(self):
        raise NotImplementedError("TODO: CTCLoss.backward")
