"""Honest image-quality metrics: PSNR per region, SSIM, max error, compression ratio.

numpy only. PSNR uses MAX = the original's dynamic range (max - min) unless told otherwise,
and the name of the MAX used travels with the number.
"""

from __future__ import annotations

import math

import numpy as np


def psnr(original: np.ndarray, reconstruction: np.ndarray, region: np.ndarray | None = None, peak: float | None = None) -> float:
    """PSNR in dB over ``region`` (all pixels if None); ``inf`` when identical, ``nan`` if empty.

    ``peak`` defaults to the original's dynamic range over the whole image (max - min).
    """
    original = np.asarray(original, dtype=np.float64)
    reconstruction = np.asarray(reconstruction, dtype=np.float64)
    if peak is None:
        peak = float(original.max() - original.min()) or 1.0
    diff = original - reconstruction
    if region is not None:
        diff = diff[np.asarray(region, dtype=bool)]
    if diff.size == 0:
        return float("nan")
    mse = float(np.mean(diff**2))
    if mse == 0:
        return float("inf")
    return 20 * math.log10(peak) - 10 * math.log10(mse)


def max_abs_error(original: np.ndarray, reconstruction: np.ndarray, region: np.ndarray | None = None) -> int:
    """Largest |original - reconstruction| over ``region`` (0 for an empty region)."""
    diff = np.abs(np.asarray(original, dtype=np.int64) - np.asarray(reconstruction, dtype=np.int64))
    if region is not None:
        diff = diff[np.asarray(region, dtype=bool)]
    return int(diff.max(initial=0))


def _box_mean(values: np.ndarray, size: int) -> np.ndarray:
    """Mean over size x size windows ('valid' positions), via summed-area tables."""
    table = np.pad(values, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    total = table[size:, size:] - table[:-size, size:] - table[size:, :-size] + table[:-size, :-size]
    return total / (size * size)


def ssim_map(original: np.ndarray, reconstruction: np.ndarray, peak: float, size: int = 7) -> np.ndarray:
    """SSIM map of two 2D images (uniform window, standard C1/C2), 'valid' positions only."""
    x = np.asarray(original, dtype=np.float64)
    y = np.asarray(reconstruction, dtype=np.float64)
    size = min(size, *x.shape)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mx, my = _box_mean(x, size), _box_mean(y, size)
    vx = _box_mean(x * x, size) - mx * mx
    vy = _box_mean(y * y, size) - my * my
    cxy = _box_mean(x * y, size) - mx * my
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def ssim(original: np.ndarray, reconstruction: np.ndarray, peak: float | None = None) -> float:
    """Mean SSIM; a volume is the mean over its last-axis slices."""
    original = np.asarray(original)
    if peak is None:
        peak = float(original.max() - original.min()) or 1.0
    if original.ndim == 2:
        return float(ssim_map(original, reconstruction, peak).mean())
    values = [ssim_map(original[..., k], reconstruction[..., k], peak).mean() for k in range(original.shape[-1])]
    return float(np.mean(values))


def region_report(original: np.ndarray, reconstruction: np.ndarray, roi_mask: np.ndarray | None = None) -> dict:
    """PSNR (overall/ROI/NROI, MAX = dynamic range and = dtype max), SSIM, max errors."""
    original = np.asarray(original)
    roi = np.zeros(original.shape, bool) if roi_mask is None else np.asarray(roi_mask, dtype=bool)
    dynamic_range = float(original.max() - original.min()) or 1.0
    dtype_max = float(np.iinfo(original.dtype).max) if original.dtype.kind in "iu" else 1.0
    report = {
        "psnr_max": "dynamic range (max - min of the original)",
        "dynamic_range": dynamic_range,
        "psnr": psnr(original, reconstruction, None, dynamic_range),
        "psnr_roi": psnr(original, reconstruction, roi, dynamic_range),
        "psnr_nroi": psnr(original, reconstruction, ~roi, dynamic_range),
        "psnr_dtype_max": psnr(original, reconstruction, None, dtype_max),
        "psnr_roi_dtype_max": psnr(original, reconstruction, roi, dtype_max),
        "psnr_nroi_dtype_max": psnr(original, reconstruction, ~roi, dtype_max),
        "ssim": ssim(original, reconstruction, dynamic_range),
        "max_error": max_abs_error(original, reconstruction),
        "max_error_roi": max_abs_error(original, reconstruction, roi),
        "max_error_nroi": max_abs_error(original, reconstruction, ~roi),
        "roi_fraction": float(roi.mean()),
    }
    return report


def compression_ratio(raw_bytes: int, compressed_bytes: int) -> float:
    """CR = raw native bytes / compressed bytes."""
    return raw_bytes / compressed_bytes if compressed_bytes else float("inf")
