"""ROI masks (bool) from label images: BRATS segmentations, X-ray lung masks."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends

from medroi.errors import InvalidImageError
from medroi.transforms.utils import TransformArgumentError, like_input, to_numpy

__all__ = ["RoiFromLabels", "RoiFromLabelsd", "RoiFromLabelsD", "RoiFromLabelsDict", "BRATS_WHOLE_TUMOR", "XRAY_LUNGS"]

#: BRATS whole tumor: necrotic/non-enhancing core (1), edema (2), enhancing tumor (4).
BRATS_WHOLE_TUMOR = (1, 2, 4)
#: Lung labels in ``xray/masks/<name>_lungs.png``: 1 left lung, 2 right lung.
XRAY_LUNGS = (1, 2)


class RoiFromLabels(Transform):
    """Label image -> bool ROI mask: True where the label is in ``labels`` (None = any non-zero).

    Not invertible (the label values are dropped); metadata and applied operations are kept.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, labels: Sequence[int] | int | None = None) -> None:
        if labels is None:
            self.labels = None
            return
        label_list = [labels] if isinstance(labels, (int, np.integer)) else list(labels)
        if not label_list:
            raise TransformArgumentError("RoiFromLabels: the label set is empty; pass labels=None for any non-zero")
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in label_list):
            raise TransformArgumentError(f"RoiFromLabels: labels must be integers, got {label_list!r}")
        self.labels = tuple(int(v) for v in label_list)

    def __call__(self, img: Any) -> Any:
        label_image = to_numpy(img)
        if not (np.issubdtype(label_image.dtype, np.integer) or label_image.dtype == np.bool_):
            if not np.all(np.isfinite(label_image)) or np.any(label_image != np.round(label_image)):
                raise InvalidImageError(
                    f"RoiFromLabels needs an integer label image, got non-integral {label_image.dtype} values"
                )
        roi_mask = label_image != 0 if self.labels is None else np.isin(label_image, self.labels)
        return like_input(roi_mask, img)


class RoiFromLabelsd(MapTransform):
    """Dictionary twin of :class:`RoiFromLabels` (each key's label image becomes its ROI mask)."""

    backend = RoiFromLabels.backend

    def __init__(
        self, keys: KeysCollection, labels: Sequence[int] | int | None = None, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = RoiFromLabels(labels)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d


RoiFromLabelsD = RoiFromLabelsDict = RoiFromLabelsd
