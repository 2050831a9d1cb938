"""Volume <-> 2D slices, keeping the slice index.

``ExtractSlice`` takes one slice ``(1, A, B)`` out of a volume ``(1, X, Y, Z)`` and records
the slice axis, index and the volume's affine in ``applied_operations``;
``stack_slices`` is the exact way back (it checks that every index is there once and puts
them in order). ``SliceIterd`` yields every slice of a volume dict and plugs into MONAI's
``GridPatchDataset`` as its ``patch_iter``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform
from monai.transforms.inverse import TraceableTransform
from monai.utils import TraceKeys

from medroi.errors import InvalidImageError
from medroi.transforms.utils import TransformArgumentError

__all__ = [
    "ExtractSlice",
    "ExtractSliced",
    "ExtractSliceD",
    "ExtractSliceDict",
    "SliceIterd",
    "stack_slices",
    "stack_slice_dicts",
    "SLICE_INDEX_KEY",
]

#: Where the dictionary transforms keep the slice index.
SLICE_INDEX_KEY = "slice_index"
_SPATIAL_DIMS = 3


def _spatial_axis(slice_axis: int) -> int:
    if isinstance(slice_axis, bool) or not isinstance(slice_axis, (int, np.integer)):
        raise TransformArgumentError(f"slice_axis must be an integer, got {slice_axis!r}")
    if not -_SPATIAL_DIMS <= slice_axis < _SPATIAL_DIMS:
        raise TransformArgumentError(f"slice_axis must be in [-3, 2] (a spatial axis of a volume), got {slice_axis}")
    return int(slice_axis) % _SPATIAL_DIMS


def _slice_to_volume(axis: int, index: int) -> torch.Tensor:
    """4 x 4 map from a slice's voxel coordinates (u, v, 0) to the volume's voxel coordinates."""
    others = [a for a in range(_SPATIAL_DIMS) if a != axis]
    mapping = torch.zeros(4, 4, dtype=torch.float64)
    mapping[others[0], 0] = 1.0
    mapping[others[1], 1] = 1.0
    mapping[axis, 2] = 1.0
    mapping[axis, 3] = float(index)
    mapping[3, 3] = 1.0
    return mapping


def _volume_affine(img: Any) -> torch.Tensor:
    if isinstance(img, MetaTensor):
        return img.affine.detach().cpu().to(torch.float64).clone()
    return torch.eye(4, dtype=torch.float64)


class ExtractSlice(TraceableTransform):
    """Volume ``(C, X, Y, Z)`` -> slice ``(C, ...)`` at ``index`` along spatial ``slice_axis``.

    The slice's affine maps its voxels to the same world positions as in the volume; the
    operation pushed onto ``applied_operations`` (class ``ExtractSlice``) lets
    :func:`stack_slices` rebuild the volume exactly.
    """

    def __init__(self, index: int | None = None, slice_axis: int = -1) -> None:
        self.slice_axis = _spatial_axis(slice_axis)
        self.index = index

    def __call__(self, img: Any, index: int | None = None) -> MetaTensor:
        index = self.index if index is None else index
        if index is None:
            raise TransformArgumentError("ExtractSlice needs a slice index (index=...)")
        if isinstance(index, torch.Tensor | np.ndarray) and np.asarray(index).size == 1:
            index = int(np.asarray(index).reshape(()))
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TransformArgumentError(f"the slice index must be an integer, got {index!r}")
        if img.ndim != _SPATIAL_DIMS + 1:
            raise InvalidImageError(
                f"ExtractSlice needs a channel-first volume (C, X, Y, Z), got shape {tuple(img.shape)}"
            )
        n_slices = int(img.shape[1 + self.slice_axis])
        if not -n_slices <= index < n_slices:
            raise InvalidImageError(
                f"slice index {index} is out of range for {n_slices} slices along axis {self.slice_axis}"
            )
        index = int(index) % n_slices
        return self._wrap(img, _as_tensor(img).select(1 + self.slice_axis, index).clone(), index)

    def _wrap(self, img: Any, data: torch.Tensor, index: int) -> MetaTensor:
        """The slice ``data`` of volume ``img`` as a MetaTensor, with its affine and record."""
        volume_affine = _volume_affine(img)
        meta = dict(img.meta) if isinstance(img, MetaTensor) else {}
        applied = list(img.applied_operations) if isinstance(img, MetaTensor) else []
        out = MetaTensor(data, meta=meta, applied_operations=applied)
        out.affine = volume_affine @ _slice_to_volume(self.slice_axis, index)
        extra_info = {"slice_axis": self.slice_axis, "index": index, "volume_affine": volume_affine}
        self.push_transform(out, extra_info=extra_info, orig_size=tuple(int(s) for s in img.shape[1:]))
        return out


class ExtractSliced(MapTransform):
    """Dictionary twin of :class:`ExtractSlice`.

    The index is ``index`` if given, else ``data[index_key]``; it is written to
    ``data[index_key]`` so the slice keeps its index.
    """

    def __init__(
        self,
        keys: KeysCollection,
        index: int | None = None,
        slice_axis: int = -1,
        index_key: str = SLICE_INDEX_KEY,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.extractor = ExtractSlice(index=index, slice_axis=slice_axis)
        self.index_key = index_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        index = self.extractor.index if self.extractor.index is not None else d.get(self.index_key)
        if index is None:
            raise TransformArgumentError(f"ExtractSliced needs index=... or a '{self.index_key}' item")
        for key in self.key_iterator(d):
            d[key] = self.extractor(d[key], index=index)
            d[self.index_key] = d[key].applied_operations[-1][TraceKeys.EXTRA_INFO]["index"]
        return d


class SliceIterd:
    """Yield ``(slice_dict, index)`` for every slice of a volume dict, in order.

    Use as MONAI's ``GridPatchDataset(data=volumes, patch_iter=SliceIterd(keys))``; each
    slice dict keeps the other items of the volume dict and ``slice_index``.
    """

    def __init__(
        self,
        keys: KeysCollection,
        slice_axis: int = -1,
        index_key: str = SLICE_INDEX_KEY,
        allow_missing_keys: bool = False,
    ) -> None:
        self.extract = ExtractSliced(keys, slice_axis=slice_axis, index_key=index_key, allow_missing_keys=allow_missing_keys)

    def __call__(self, data: Mapping[Hashable, Any]) -> Iterator[tuple[dict[Hashable, Any], int]]:
        keys = list(self.extract.key_iterator(dict(data)))
        if not keys:
            raise TransformArgumentError(f"SliceIterd: none of the keys {self.extract.keys} is in the data")
        volume = data[keys[0]]
        if volume.ndim != _SPATIAL_DIMS + 1:
            raise InvalidImageError(f"SliceIterd needs channel-first volumes (C, X, Y, Z), got {tuple(volume.shape)}")
        extractor = self.extract.extractor
        n_slices = int(volume.shape[1 + extractor.slice_axis])
        for key in keys:
            if data[key].ndim != _SPATIAL_DIMS + 1 or int(data[key].shape[1 + extractor.slice_axis]) != n_slices:
                raise InvalidImageError(f"SliceIterd: '{key}' has shape {tuple(data[key].shape)}, not {tuple(volume.shape)}")
        # one transposed copy per key; each slice is a contiguous view of it (slicing the last
        # axis of a contiguous volume one slice at a time is a slow strided gather)
        slice_first = {
            key: torch.from_numpy(np.ascontiguousarray(np.moveaxis(_as_numpy(data[key]), 1 + extractor.slice_axis, 0)))
            for key in keys
        }
        for index in range(n_slices):
            item = dict(data)
            for key in keys:
                item[key] = extractor._wrap(data[key], slice_first[key][index], index)
            item[self.extract.index_key] = index
            yield item, index


def _as_tensor(img: Any) -> torch.Tensor:
    return img.as_tensor() if isinstance(img, MetaTensor) else torch.as_tensor(img)


def _as_numpy(img: Any) -> np.ndarray:
    # numpy's transposing copies and stacks are several times faster than torch's on CPU here
    return _as_tensor(img).detach().cpu().numpy()


def _slice_record(img: Any, position: int) -> dict:
    if not isinstance(img, MetaTensor) or not img.applied_operations:
        raise InvalidImageError(f"slice {position} has no ExtractSlice record; pass slice_axis= and ordered slices")
    record = img.applied_operations[-1]
    if record.get(TraceKeys.CLASS_NAME) != ExtractSlice.__name__:
        raise InvalidImageError(
            f"slice {position}: the last applied operation is {record.get(TraceKeys.CLASS_NAME)}, not ExtractSlice; "
            "invert the per-slice transforms before stacking"
        )
    return record


def stack_slices(slices: Sequence[Any], slice_axis: int | None = None) -> MetaTensor:
    """Stack slices ``(C, A, B)`` back into their volume, in slice-index order.

    Slices made by :class:`ExtractSlice` carry their index: they may come in any order, each
    index must appear exactly once, and the result gets the volume's affine and the
    operations applied before slicing (so ``Compose.inverse`` can continue). Plain tensors
    need ``slice_axis`` and are stacked in the order given.
    """
    if len(slices) == 0:
        raise InvalidImageError("stack_slices got no slices")
    if slice_axis is not None and not all(isinstance(s, MetaTensor) and s.applied_operations for s in slices):
        axis = _spatial_axis(slice_axis)
        return MetaTensor(torch.from_numpy(np.stack([_as_numpy(s) for s in slices], axis=1 + axis)))
    records = [_slice_record(s, i) for i, s in enumerate(slices)]
    first = records[0]
    axis = first[TraceKeys.EXTRA_INFO]["slice_axis"]
    orig_size = tuple(first[TraceKeys.ORIG_SIZE])
    if slice_axis is not None and _spatial_axis(slice_axis) != axis:
        raise InvalidImageError(f"slices were taken along axis {axis}, not {slice_axis}")
    n_slices = orig_size[axis]
    by_index: dict[int, Any] = {}
    for position, (img, record) in enumerate(zip(slices, records)):
        info = record[TraceKeys.EXTRA_INFO]
        if info["slice_axis"] != axis or tuple(record[TraceKeys.ORIG_SIZE]) != orig_size:
            raise InvalidImageError(f"slice {position} comes from another volume (axis or shape differs)")
        if info["index"] in by_index:
            raise InvalidImageError(f"slice index {info['index']} appears more than once")
        by_index[info["index"]] = img
    missing = sorted(set(range(n_slices)) - set(by_index))
    if missing:
        raise InvalidImageError(f"cannot rebuild the volume: {len(missing)} slice(s) missing, first {missing[:5]}")
    volume = torch.from_numpy(np.stack([_as_numpy(by_index[i]) for i in range(n_slices)], axis=1 + axis))
    template = slices[0]
    meta = dict(template.meta)
    out = MetaTensor(volume, meta=meta, applied_operations=list(template.applied_operations[:-1]))
    out.affine = first[TraceKeys.EXTRA_INFO]["volume_affine"].clone()
    return out


def stack_slice_dicts(
    items: Sequence[Mapping[Hashable, Any]], keys: KeysCollection, index_key: str = SLICE_INDEX_KEY
) -> dict[Hashable, Any]:
    """Slice dicts (from ``SliceIterd``/``ExtractSliced``) -> one volume dict, stacking ``keys``."""
    if len(items) == 0:
        raise InvalidImageError("stack_slice_dicts got no slices")
    keys = [keys] if isinstance(keys, (str, int)) else list(keys)
    out = {k: v for k, v in items[0].items() if k != index_key}
    for key in keys:
        out[key] = stack_slices([item[key] for item in items])
    return out
ExtractSliceD = ExtractSliceDict = ExtractSliced
