"""The integer window that maps native intensities to float [0, 1] for the network.

numpy only: the codec (no torch, no monai) and the MONAI transforms share these functions,
so the network sees the same input at training time and at compression time.
"""

from __future__ import annotations

import numpy as np

#: Upper percentile of the window: a few hot voxels (BRATS has cases that reach the int16
#: maximum) must not squash the whole brain into [0, 0.01].
UPPER_PERCENTILE = 99.9


def integer_window(array: np.ndarray, upper_percentile: float = UPPER_PERCENTILE) -> tuple[int, int]:
    """Return (lo, hi) integers with lo = min and hi = the upper percentile (hi > lo)."""
    if array.size == 0:
        return 0, 1
    lo = int(array.min())
    hi = int(np.ceil(np.percentile(array, upper_percentile))) if upper_percentile < 100 else int(array.max())
    return lo, max(hi, lo + 1)


def to_unit(array: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Native integers -> float32 in [0, 1] (values above ``hi`` are clipped to 1)."""
    scaled = (np.asarray(array, dtype=np.float64) - lo) / float(hi - lo)
    return np.clip(scaled, 0.0, 1.0).astype(np.float32)


def from_unit(unit: np.ndarray, lo: int, hi: int, dtype: np.dtype | type = np.int64) -> np.ndarray:
    """float [0, 1] -> integers (rounded), the inverse of ``to_unit`` inside the window."""
    values = np.rint(np.asarray(unit, dtype=np.float64) * float(hi - lo) + lo)
    return values.astype(dtype)
