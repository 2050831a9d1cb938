"""Resizing between the native grid and the ROI U-Net's small square input (torch).

Training caches and ``--roi auto`` call the same two functions, so the network sees at
compression time exactly what it saw in training."""

from __future__ import annotations

import numpy as np

__all__ = ["to_model_grid", "to_native_grid"]


def to_model_grid(slices: np.ndarray, size: int) -> np.ndarray:
    """float32 [N, size, size] from unit slices [N, H, W] (bilinear, antialiased when shrinking)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(slices, dtype=np.float32))[:, None]
    if tuple(x.shape[-2:]) == (size, size):
        return x[:, 0].numpy().copy()
    y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return y[:, 0].numpy()


def to_native_grid(prob: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """float32 [N, H, W] probabilities from the model grid [N, s, s] (bilinear)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(prob, dtype=np.float32))[:, None]
    if tuple(x.shape[-2:]) == tuple(shape):
        return x[:, 0].numpy().copy()
    return F.interpolate(x, size=tuple(int(s) for s in shape), mode="bilinear", align_corners=False)[:, 0].numpy()
