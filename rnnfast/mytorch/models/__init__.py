"""MyTorch models (the handout's models/ folder)."""
