"""MyTorch CTC (the handout's CTC/ folder)."""
