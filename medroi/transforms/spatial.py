"""Pad or crop to a size with an exact inverse, cropping included.

MONAI's ``ResizeWithPadOrCrop`` inverts a crop by padding the cut-away border back with zeros.
:class:`ResizeWithPadOrCropExact` runs it and also records what a crop cuts away (the values,
which voxels were kept, and a SHA-256 of the kept values), so its inverse gives back the input
bit for bit when the data being inverted is that image (``Compose.inverse`` or ``Invertd`` on
the image key). Any other tensor inverted through the same record (a network's prediction) has
different kept values, so it gets MONAI's fill in the border, as with MONAI's own inverse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import InvertibleTransform, MapTransform, ResizeWithPadOrCrop
from monai.utils import TraceKeys

__all__ = ["ResizeWithPadOrCropExact", "ResizeWithPadOrCropExactd", "ResizeWithPadOrCropExactD",
           "ResizeWithPadOrCropExactDict"]


def _digest(values: torch.Tensor) -> str:
    return hashlib.sha256(np.ascontiguousarray(values.detach().cpu().numpy()).tobytes()).hexdigest()


class ResizeWithPadOrCropExact(InvertibleTransform):
    """MONAI's ``ResizeWithPadOrCrop`` (same arguments) whose inverse also restores cropped voxels."""

    def __init__(self, spatial_size: Sequence[int] | int, method: str = "symmetric", mode: str = "constant",
                 **pad_kwargs: Any) -> None:
        self.resize = ResizeWithPadOrCrop(spatial_size, method=method, mode=mode, lazy=False, **pad_kwargs)

    def __call__(self, img: Any) -> MetaTensor:
        img = img if isinstance(img, MetaTensor) else MetaTensor(torch.as_tensor(img))
        spatial = tuple(int(s) for s in img.shape[1:])
        out = self.resize(img)
        extra: dict[str, Any] = {}
        if any(o < i for o, i in zip(out.shape[1:], spatial)):
            # which input voxels survive: run the same crop on their (1-based) flat indices
            index = torch.arange(1, int(np.prod(spatial)) + 1, dtype=torch.int64).reshape(1, *spatial)
            survivors = self.resize(MetaTensor(index)).as_tensor()
            kept = torch.zeros(int(np.prod(spatial)), dtype=torch.bool)
            kept[survivors[survivors > 0] - 1] = True
            kept = kept.reshape(spatial)
            data = img.as_tensor()
            extra = {"kept": kept, "cropped_values": data[:, ~kept].clone(), "kept_sha256": _digest(data[:, kept])}
        self.push_transform(out, extra_info=extra, orig_size=spatial)
        return out

    def inverse(self, data: MetaTensor) -> MetaTensor:
        """MONAI's inverse, then the cropped-away voxels if ``data`` is the image that was cropped."""
        transform = self.pop_transform(data)
        back = self.resize.inverse(data)
        info = transform[TraceKeys.EXTRA_INFO]
        if "kept" not in info:
            return back
        kept = torch.as_tensor(info["kept"])
        values = back.as_tensor()
        if tuple(values.shape[1:]) != tuple(kept.shape) or _digest(values[:, kept]) != info["kept_sha256"]:
            return back  # another tensor (a prediction): MONAI's fill stays
        restored = values.clone()
        restored[:, ~kept] = torch.as_tensor(info["cropped_values"]).to(restored.dtype)
        return MetaTensor(restored, meta=back.meta, applied_operations=back.applied_operations)


class ResizeWithPadOrCropExactd(MapTransform, InvertibleTransform):
    """Dictionary twin of :class:`ResizeWithPadOrCropExact`."""

    def __init__(self, keys: KeysCollection, spatial_size: Sequence[int] | int, method: str = "symmetric",
                 mode: str = "constant", allow_missing_keys: bool = False, **pad_kwargs: Any) -> None:
        super().__init__(keys, allow_missing_keys)
        self.resizer = ResizeWithPadOrCropExact(spatial_size, method=method, mode=mode, **pad_kwargs)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.resizer(d[key])
        return d

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.resizer.inverse(d[key])
        return d


ResizeWithPadOrCropExactD = ResizeWithPadOrCropExactDict = ResizeWithPadOrCropExactd
