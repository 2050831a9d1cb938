"""MONAI transforms for medroi: load at native dtype, volume <-> 2D slices, exactly invertible
intensity window, ROI masks from labels. Pad/crop to 256 x 256 and pad to a multiple of 8 use
MONAI's invertible ``ResizeWithPadOrCropd`` and ``DivisiblePadd`` (see ``transforms/*.yaml``).

This package imports torch and monai; the codec must not import it.
"""

from __future__ import annotations

from medroi.transforms.intensity import IntegerWindow, IntegerWindowd, IntegerWindowD, IntegerWindowDict
from medroi.transforms.loading import (
    PLANAR_FORMATS,
    LoadMedicalImage,
    LoadMedicalImaged,
    LoadMedicalImageD,
    LoadMedicalImageDict,
)
from medroi.transforms.roi import (
    BRATS_WHOLE_TUMOR,
    XRAY_LUNGS,
    RoiFromLabels,
    RoiFromLabelsd,
    RoiFromLabelsD,
    RoiFromLabelsDict,
)
from medroi.transforms.slicing import (
    SLICE_INDEX_KEY,
    ExtractSlice,
    ExtractSliced,
    ExtractSliceD,
    ExtractSliceDict,
    SliceIterd,
    stack_slice_dicts,
    stack_slices,
)
from medroi.transforms.utils import TransformArgumentError

__all__ = [
    "BRATS_WHOLE_TUMOR",
    "PLANAR_FORMATS",
    "SLICE_INDEX_KEY",
    "XRAY_LUNGS",
    "ExtractSlice",
    "ExtractSliceD",
    "ExtractSliceDict",
    "ExtractSliced",
    "IntegerWindow",
    "IntegerWindowD",
    "IntegerWindowDict",
    "IntegerWindowd",
    "LoadMedicalImage",
    "LoadMedicalImageD",
    "LoadMedicalImageDict",
    "LoadMedicalImaged",
    "RoiFromLabels",
    "RoiFromLabelsD",
    "RoiFromLabelsDict",
    "RoiFromLabelsd",
    "SliceIterd",
    "TransformArgumentError",
    "stack_slice_dicts",
    "stack_slices",
]
