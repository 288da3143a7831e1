"""Applications trained with rnnfast (``rnnfast train <app>``)."""
