"""CTC prefix beam search suite (defined with the CTC suite in ctc.py)."""
from .ctc import BEAM_SUITE as SUITE  # noqa: F401
