"""Preview PNGs: original, reconstruction, error map (with the bound) and ROI outline."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def save_preview(
    original: np.ndarray,
    reconstruction: np.ndarray,
    roi_mask: np.ndarray,
    path: str | os.PathLike,
    bounds: tuple[int | None, int | None] = (0, 0),
    slice_index: int | None = None,
    title: str = "",
) -> Path:
    """Write a 4-panel PNG of one slice (the ROI's largest slice of a volume by default)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    volume = original.ndim == 3

    def show(array: np.ndarray) -> np.ndarray:  # NIfTI slices are (X, Y): transpose to view
        return array.T if volume else array

    if volume:
        if slice_index is None:
            areas = roi_mask.reshape(-1, roi_mask.shape[-1]).sum(0)
            slice_index = int(areas.argmax()) if areas.any() else original.shape[-1] // 2
        original, reconstruction, roi_mask = (a[..., slice_index] for a in (original, reconstruction, roi_mask))
    error = reconstruction.astype(np.int64) - original.astype(np.int64)
    limit = max(1, int(np.abs(error).max()))
    figure, axes = plt.subplots(1, 4, figsize=(16, 4.4))
    lo, hi = np.percentile(original, [0.5, 99.5])
    axes[0].imshow(show(original), cmap="gray", vmin=lo, vmax=hi)
    axes[0].set_title("original")
    axes[1].imshow(show(reconstruction), cmap="gray",
                   vmin=lo, vmax=hi)
    axes[1].set_title("reconstruction")
    shown = axes[2].imshow(show(error), cmap="RdBu_r",
                           vmin=-limit, vmax=limit)
    roi_bound, nroi_bound = bounds
    axes[2].set_title(f"error (max |e| {int(np.abs(error).max())}; bounds ROI {roi_bound}, NROI {nroi_bound})")
    figure.colorbar(shown, ax=axes[2], fraction=0.046)
    axes[3].imshow(show(original), cmap="gray", vmin=lo, vmax=hi)
    if roi_mask.any():
        axes[3].contour(show(roi_mask).astype(float),
                        levels=[0.5], colors="red", linewidths=1)
    axes[3].set_title("ROI outline")
    for axis in axes:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path
