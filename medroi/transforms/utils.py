"""Helpers shared by the medroi transforms (torch/monai allowed here, never in the codec)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from medroi.errors import MedroiError


class TransformArgumentError(MedroiError, ValueError):
    """A transform was configured with an invalid argument (e.g. an empty label set)."""


def to_numpy(img: Any) -> np.ndarray:
    """The array behind a numpy array, a tensor or a MetaTensor, without metadata."""
    if isinstance(img, MetaTensor):
        img = img.as_tensor()
    if isinstance(img, torch.Tensor):
        return img.detach().cpu().numpy()
    return np.asarray(img)


def single_channel(img: Any, who: str, key: Any) -> tuple[np.ndarray, dict, str, str]:
    """A loaded image ``(1, H, W[, D])`` as (spatial array, metadata, source file, medroi
    format); ``who`` and ``key`` name the transform and key in the error for another shape."""
    from medroi.errors import InvalidImageError

    array = to_numpy(img)
    if array.ndim < 2 or array.shape[0] != 1:
        raise InvalidImageError(f"{who}: '{key}' must be channel-first with one channel, got {array.shape}")
    array = array[0]
    meta = img.meta if isinstance(img, MetaTensor) else {}
    image_format = str(meta.get("format", "nifti" if array.ndim == 3 else "png"))
    return array, meta, str(meta.get("filename_or_obj", "")), image_format


def like_input(array: np.ndarray, img: Any) -> MetaTensor | torch.Tensor:
    """Wrap ``array`` as a tensor carrying ``img``'s metadata and applied operations (if any).

    The applied-operations list is copied (its entries are shared), so pushing onto the
    result never changes ``img``'s history.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if isinstance(img, MetaTensor):
        return MetaTensor(tensor, meta=dict(img.meta), applied_operations=list(img.applied_operations))
    return MetaTensor(tensor)
