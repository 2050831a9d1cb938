"""Scanner-scale-free intensity normalisation for the ROI U-Nets (numpy only).

The codec's integer window (:mod:`medroi.intensity`) starts at the array minimum and ends at
the 99.9th percentile, so the network's input still depends on the scanner's scale and on a
few hot voxels. The segmentation input instead uses robust percentiles over the foreground
(brain voxels for skull-stripped MR, every pixel for radiographs): multiplying the image by
any positive factor, or adding an offset, leaves the normalised image unchanged.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LOW_PERCENTILE", "HIGH_PERCENTILE", "foreground", "robust_unit"]

LOW_PERCENTILE = 0.5
HIGH_PERCENTILE = 99.5


def foreground(array: np.ndarray) -> np.ndarray:
    """Voxels above the array minimum (skull-stripped MR: the brain); all voxels if none."""
    array = np.asarray(array)
    fg = array > array.min() if array.size else np.zeros(array.shape, bool)
    return fg if fg.any() else np.ones(array.shape, bool)


def robust_unit(array: np.ndarray, mask: np.ndarray | None = None, low: float = LOW_PERCENTILE,
                high: float = HIGH_PERCENTILE, invert: bool = False) -> np.ndarray:
    """float32 in [0, 1]: (x - p_low) / (p_high - p_low) with percentiles over ``mask``
    (default :func:`foreground`), clipped; voxels outside ``mask`` become 0.
    ``invert`` flips the result (MONOCHROME1: high values are dark)."""
    x = np.asarray(array, dtype=np.float64)
    m = foreground(x) if mask is None else np.asarray(mask, bool)
    values = x[m] if m.any() else x.ravel()
    if values.size == 0:
        return np.zeros(x.shape, np.float32)
    lo, hi = np.percentile(values, [low, high])
    if not hi > lo:
        hi = lo + 1.0
    unit = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    if invert:
        unit = 1.0 - unit
    if mask is not None or not m.all():
        unit = np.where(m, unit, 0.0)
    return unit.astype(np.float32)
