"""Scanner-scale-free intensity normalisation for the ROI U-Nets (numpy only).

The codec's integer window (:mod:`medroi.intensity`) starts at the array minimum and ends at
the 99.9th percentile, so the network's input still depends on the scanner's scale and on a
few hot voxels. The segmentation input instead uses robust percentiles over the foreground
(brain voxels for skull-stripped MR, every pixel for radiographs): multiplying the image by
any positive factor, or adding an offset, leaves the normalised image unchanged.
:func:`rank_unit` goes further: each voxel becomes its rank among the foreground's values, so
any increasing change of the scale (a gamma, a different sequence tuning) leaves it unchanged,
and a tumour only slightly brighter than the brain still lands above most of it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LOW_PERCENTILE", "HIGH_PERCENTILE", "foreground", "robust_unit", "rank_unit", "unit_input"]

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


def rank_unit(array: np.ndarray, mask: np.ndarray | None = None, invert: bool = False) -> np.ndarray:
    """float32 in [0, 1]: each voxel's mid-rank among the values in ``mask`` (default
    :func:`foreground`), i.e. the empirical distribution function (ties share their middle rank);
    voxels outside ``mask`` become 0. ``invert`` ranks from the top (MONOCHROME1)."""
    x = np.asarray(array)
    m = foreground(x) if mask is None else np.asarray(mask, bool)
    values = x[m] if m.any() else x.ravel()
    if values.size == 0:
        return np.zeros(x.shape, np.float32)
    levels, counts = np.unique(values, return_counts=True)
    below = np.cumsum(counts) - counts
    cdf = (below + 0.5 * counts) / values.size  # mid-rank of each distinct value
    unit = cdf[np.clip(np.searchsorted(levels, x), 0, levels.size - 1)]
    if invert:
        unit = 1.0 - unit
    if mask is not None or not m.all():
        unit = np.where(m, unit, 0.0)
    return unit.astype(np.float32)


def unit_input(array: np.ndarray, method: str = "percentile", mask: np.ndarray | None = None,
               invert: bool = False) -> np.ndarray:
    """The ROI U-Net's input by the bundle's ``normalise`` setting: "percentile"
    (:func:`robust_unit`) or "rank" (:func:`rank_unit`)."""
    if method == "percentile":
        return robust_unit(array, mask=mask, invert=invert)
    if method == "rank":
        return rank_unit(array, mask=mask, invert=invert)
    raise ValueError(f"unknown normalisation {method!r}: 'percentile' or 'rank'")
