"""Native integers <-> float [0, 1] for the network, exactly invertible.

The mapping itself is :mod:`medroi.intensity` (shared with the codec); these transforms
record the window and every voxel the mapping cannot give back (values clipped above the
window's upper percentile), so the inverse restores the stored integers bit for bit.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import InvertibleTransform, MapTransform
from monai.utils import TraceKeys, TransformBackends

from medroi.errors import InvalidImageError, LossyInputError
from medroi.intensity import UPPER_PERCENTILE, from_unit, integer_window, to_unit
from medroi.transforms.utils import like_input, to_numpy

__all__ = ["IntegerWindow", "IntegerWindowd", "IntegerWindowD", "IntegerWindowDict"]


class IntegerWindow(InvertibleTransform):
    """Map native integers to float32 [0, 1] with :func:`medroi.intensity.integer_window`.

    ``extra_info`` of the pushed operation holds ``lo``, ``hi``, the stored ``dtype`` and,
    sparse, the flat positions (``exception_index``) and native values (``exception_value``)
    where rounding the [0, 1] value back does not give the stored integer (the voxels clipped
    above ``hi``). ``inverse`` rounds, restores those voxels and casts back to the dtype.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, upper_percentile: float = UPPER_PERCENTILE) -> None:
        self.upper_percentile = upper_percentile

    def __call__(self, img: Any) -> MetaTensor:
        native = to_numpy(img)
        if not np.issubdtype(native.dtype, np.integer):
            raise LossyInputError(
                f"IntegerWindow needs an integer image, got {native.dtype}; load it with "
                "LoadMedicalImaged (native dtype), not a float32 loader"
            )
        if native.dtype.itemsize > 4:
            raise InvalidImageError(f"IntegerWindow handles up to 32-bit integers, got {native.dtype}")
        lo, hi = integer_window(native, self.upper_percentile)
        unit = to_unit(native, lo, hi)
        back = from_unit(unit, lo, hi, np.int64).reshape(-1)
        flat = native.reshape(-1).astype(np.int64)
        exception_index = np.flatnonzero(back != flat)
        out = like_input(unit, img)
        extra_info = {
            "lo": lo,
            "hi": hi,
            "dtype": native.dtype.str,
            "exception_index": exception_index,
            "exception_value": native.reshape(-1)[exception_index].copy(),
        }
        self.push_transform(out, extra_info=extra_info, orig_size=tuple(native.shape))
        return out

    def inverse(self, data: Any) -> MetaTensor:
        """Undo the window: round to integers, restore the recorded voxels, cast to the dtype."""
        transform = self.pop_transform(data)
        info = transform[TraceKeys.EXTRA_INFO]
        unit = to_numpy(data)
        orig_shape = tuple(transform[TraceKeys.ORIG_SIZE])
        if tuple(unit.shape) != orig_shape:
            raise InvalidImageError(
                f"IntegerWindow.inverse got shape {tuple(unit.shape)}, recorded {orig_shape}; "
                "undo the transforms applied after IntegerWindow first"
            )
        values = from_unit(np.clip(unit, 0.0, 1.0), info["lo"], info["hi"], np.int64)
        values.reshape(-1)[np.asarray(info["exception_index"])] = np.asarray(info["exception_value"])
        return like_input(values.astype(np.dtype(info["dtype"])), data)


class IntegerWindowd(MapTransform, InvertibleTransform):
    """Dictionary twin of :class:`IntegerWindow`."""

    backend = IntegerWindow.backend

    def __init__(
        self, keys: KeysCollection, upper_percentile: float = UPPER_PERCENTILE, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.window = IntegerWindow(upper_percentile)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.window(d[key])
        return d

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.window.inverse(d[key])
        return d


IntegerWindowD = IntegerWindowDict = IntegerWindowd
