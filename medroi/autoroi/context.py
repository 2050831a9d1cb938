"""Neighbouring slices as extra input channels ("2.5D"): the ROI U-Net of a volume sees
slice z with its ``k`` neighbours on each side, so a tumour edge that is faint in one slice
is read with the slices around it. Training (:mod:`medroi.networks.roi_cv`) and ``--roi auto``
(:mod:`medroi.networks.runtime`) share this function."""

from __future__ import annotations

import numpy as np

__all__ = ["with_context"]


def with_context(slices: np.ndarray, k: int) -> np.ndarray:
    """[Z, H, W] -> [Z, 2k+1, H, W]: channel ``k + d`` of row z is slice ``z + d``, the first and
    last slices repeated past the volume's ends. ``k = 0`` gives [Z, 1, H, W]."""
    slices = np.asarray(slices)
    if slices.ndim != 3:
        raise ValueError(f"expected slices [Z, H, W], got shape {slices.shape}")
    if k < 0:
        raise ValueError(f"context must be >= 0, got {k}")
    z = np.arange(slices.shape[0])
    index = np.clip(z[:, None] + np.arange(-k, k + 1)[None, :], 0, slices.shape[0] - 1)
    return slices[index]
