"""Test-time augmentation for the ROI U-Nets: one function that training-time scoring
(:mod:`medroi.networks.roi_cv`) and ``--roi auto`` (:mod:`medroi.networks.runtime`) share,
so the held-out figures describe what the runtime does."""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["flip_averaged"]


def flip_averaged(segment: Callable[[np.ndarray], np.ndarray], batch: np.ndarray) -> np.ndarray:
    """Mean probability of ``batch`` [N, H, W] and of its left-right mirror (mirrored back).

    Brains and chests are roughly left-right symmetric, so the mirror is a second, slightly
    different view of the same anatomy; averaging the two smooths out view-specific errors.
    """
    direct = np.asarray(segment(batch), dtype=np.float32)
    mirrored = np.asarray(segment(np.ascontiguousarray(batch[..., ::-1])), dtype=np.float32)[..., ::-1]
    return 0.5 * (direct + mirrored)
