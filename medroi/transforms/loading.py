"""Load a medical image as a MetaTensor at its native integer dtype (via medroi.io).

MONAI's ``LoadImaged`` defaults to float32, applies DICOM rescale and transposes PNGs;
this loader keeps the stored integers, channel-first ``(1, ...)``, with the metadata that
``medroi.io.write_image`` needs under ``meta["medroi_metadata"]`` as a JSON string (a
DataLoader's ``list_data_collate`` takes strings, not nested dicts holding None values;
:func:`medroi_metadata` gives the dict back).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from os import PathLike
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform

from medroi.errors import InvalidImageError

__all__ = ["LoadMedicalImage", "LoadMedicalImaged", "LoadMedicalImageD", "LoadMedicalImageDict", "PLANAR_FORMATS",
           "medroi_metadata", "META_KEY"]

#: The meta key holding the reader's metadata (JSON text).
META_KEY = "medroi_metadata"

#: Formats that always hold one 2D image (X-rays): they load as (1, H, W).
PLANAR_FORMATS = frozenset({"png", "jpeg", "tiff"})


def _affine(metadata: Mapping[str, Any]) -> torch.Tensor | None:
    affine = metadata.get("affine")
    if affine is None:
        return None
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4):
        raise InvalidImageError(f"metadata['affine'] must be 4 x 4, got shape {affine.shape}")
    return torch.from_numpy(affine)


def medroi_metadata(img: Any) -> dict:
    """The reader's metadata dict of a loaded image (a MetaTensor, or its meta dict); {} if none."""
    meta = getattr(img, "meta", img)
    text = meta.get(META_KEY) if isinstance(meta, Mapping) else None
    if isinstance(text, (list, tuple)):  # a collated batch: one entry per image
        raise InvalidImageError("medroi_metadata needs one image, got a batch; decollate it first")
    return json.loads(text) if isinstance(text, str) else {}


class LoadMedicalImage(Transform):
    """Path -> MetaTensor (1, ...) at the native integer dtype, using ``medroi.io.read_image``.

    ``meta`` holds ``filename_or_obj``, ``format``, ``affine`` (from the file for NIfTI and
    DICOM series, identity otherwise), ``spatial_shape``, ``original_channel_dim`` and
    ``medroi_metadata`` (the reader's metadata as JSON text, to write the image back; see
    :func:`medroi_metadata`). No meta value is None, so batches collate.
    """

    def __init__(self, frame: int | None = None, quantize_step: float | None = None) -> None:
        self.frame = frame
        self.quantize_step = quantize_step

    def __call__(self, path: str | PathLike) -> MetaTensor:
        from medroi.io import read_image  # lazily: medroi.io is numpy-only and may be absent at import

        image = read_image(path, frame=self.frame, quantize_step=self.quantize_step, colour="gray")
        array = np.asarray(image.array)
        if image.format in PLANAR_FORMATS and array.ndim != 2:
            raise InvalidImageError(f"{path}: a {image.format} image must be 2D, medroi.io returned shape {array.shape}")
        meta: dict[str, Any] = {
            "filename_or_obj": str(image.source if image.source is not None else path),
            "format": image.format,
            "spatial_shape": np.asarray(array.shape),
            "original_channel_dim": "no_channel",
            META_KEY: json.dumps(image.metadata, separators=(",", ":")),
        }
        affine = _affine(image.metadata)
        if affine is not None:
            meta["original_affine"] = affine.clone()
        tensor = torch.from_numpy(np.ascontiguousarray(array)[None])
        return MetaTensor(tensor, affine=affine, meta=meta)


class LoadMedicalImaged(MapTransform):
    """Dictionary twin of :class:`LoadMedicalImage`: each key's path becomes a MetaTensor."""

    def __init__(
        self,
        keys: KeysCollection,
        frame: int | None = None,
        quantize_step: float | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadMedicalImage(frame=frame, quantize_step=quantize_step)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.loader(d[key])
        return d


LoadMedicalImageD = LoadMedicalImageDict = LoadMedicalImaged
