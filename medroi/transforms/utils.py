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


def like_input(array: np.ndarray, img: Any) -> MetaTensor | torch.Tensor:
    """Wrap ``array`` as a tensor carrying ``img``'s metadata and applied operations (if any).

    The applied-operations list is copied (its entries are shared), so pushing onto the
    result never changes ``img``'s history.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if isinstance(img, MetaTensor):
        return MetaTensor(tensor, meta=dict(img.meta), applied_operations=list(img.applied_operations))
    return MetaTensor(tensor)
