"""Three slicing planes of a volume for the 2D ROI U-Net ("multi-view").

A 2D U-Net reading axial slices sees a tumour edge only through that plane; the same U-Net
trained on axial, coronal and sagittal slices and run along all three, the probabilities
averaged voxel by voxel, reads each voxel in three planes. Training
(:mod:`medroi.networks.roi_cv`) and ``--roi auto`` (:mod:`medroi.networks.runtime`) share
these functions: each plane's slices are zero-padded to a square before they are resized
to the model grid, so a voxel has the same size on the grid in every plane.
"""

from __future__ import annotations

from typing import Callable, List

import numpy as np

__all__ = ["view_axes", "view_slices", "from_view_slices", "pad_square", "crop_square", "view_probability"]


def view_axes(ndim: int, slice_axis: int, views: int) -> List[int]:
    """The axes to slice along: ``slice_axis`` first (the acquisition plane), then, for
    ``views`` = 3, the two others in increasing order."""
    if views not in (1, 3):
        raise ValueError(f"views must be 1 or 3, got {views}")
    first = slice_axis % ndim
    return [first] + ([a for a in range(ndim) if a != first] if views == 3 else [])


def view_slices(volume: np.ndarray, axis: int) -> np.ndarray:
    """[N, H, W] slices of a 3D ``volume`` along ``axis`` (a view, no copy)."""
    return np.moveaxis(np.asarray(volume), axis, 0)


def from_view_slices(slices: np.ndarray, axis: int) -> np.ndarray:
    """Inverse of :func:`view_slices`: the volume from its slices along ``axis``."""
    return np.moveaxis(np.asarray(slices), 0, axis)


def pad_square(slices: np.ndarray) -> np.ndarray:
    """[N, H, W] -> [N, S, S], S = max(H, W), zero-padded evenly on both sides (the zero of
    the normalised input is the background)."""
    n, h, w = slices.shape
    s = max(h, w)
    if h == w:
        return slices
    top, left = (s - h) // 2, (s - w) // 2
    out = np.zeros((n, s, s), dtype=slices.dtype)
    out[:, top:top + h, left:left + w] = slices
    return out


def crop_square(slices: np.ndarray, shape: tuple) -> np.ndarray:
    """Inverse of :func:`pad_square`: the [N, H, W] centre of [N, S, S] slices."""
    h, w = int(shape[0]), int(shape[1])
    s = slices.shape[-1]
    top, left = (s - h) // 2, (s - w) // 2
    return slices[:, top:top + h, left:left + w]


def view_probability(unit: np.ndarray, slice_axis: int, views: int, size: int, context: int,
                     segment: Callable[[np.ndarray], np.ndarray], batch: int = 16) -> np.ndarray:
    """float32 ROI probability of a normalised 3D volume ``unit``, on its own grid.

    Each view's slices (:func:`view_axes`) go to the model grid (squared first by
    :func:`pad_square` when ``views`` = 3), with ``context`` neighbours on each side
    (:func:`medroi.autoroi.context.with_context`), through ``segment`` ([n, C, s, s] float32
    -> [n, s, s]) in batches, and back to the native grid; the views' probabilities are
    averaged. ``views`` = 1 is the plain slice-by-slice U-Net along ``slice_axis``.
    """
    from medroi.autoroi.context import with_context
    from medroi.autoroi.resample import to_model_grid, to_native_grid

    unit = np.asarray(unit)
    if unit.ndim != 3:
        raise ValueError(f"expected a 3D volume, got shape {unit.shape}")
    axes = view_axes(3, slice_axis, views)
    square = views == 3
    total = np.zeros(unit.shape, dtype=np.float32)
    for axis in axes:
        slices = view_slices(unit, axis)
        h, w = slices.shape[1:]
        grid = to_model_grid(pad_square(slices) if square else slices, size)
        grid = with_context(grid, context) if context else grid
        native = (max(h, w),) * 2 if square else (h, w)
        prob = np.empty(slices.shape, dtype=np.float32)
        for s in range(0, len(grid), batch):
            part = to_native_grid(segment(grid[s:s + batch]), native)
            prob[s:s + batch] = crop_square(part, (h, w)) if square else part
        total += from_view_slices(prob, axis)
    return total / len(axes)
