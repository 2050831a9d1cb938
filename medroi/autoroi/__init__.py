"""Automatic ROI (``--roi auto``): scale-free input normalisation, model input resizing,
post-processing (clean-up + margin) and the plausibility check with its fallback.

numpy/scipy only, except :mod:`medroi.autoroi.resample` (torch, imported where used)."""
