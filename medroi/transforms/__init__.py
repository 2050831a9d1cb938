"""MONAI transforms for medroi: load at native dtype, volume <-> 2D slices, exactly invertible
intensity window, pad/crop with an exact inverse (``ResizeWithPadOrCropExactd``: MONAI's
``ResizeWithPadOrCropd`` whose inverse also restores what a crop cut away), ROI masks from
labels, ``AutoRoid`` (the ROI ``medroi compress --roi auto`` stores, found by the library) and
``SaveMroid`` (write .mroi files, like MONAI's ``SaveImaged``). Padding to a multiple of 8
uses MONAI's ``DivisiblePadd`` (see ``transforms/*.yaml``). Outputs collate with ``list_data_collate``
(no None in ``meta``) and invert with ``Compose.inverse`` / ``Invertd``.

This package imports torch and monai; the codec must not import it.
"""

from __future__ import annotations

from medroi.transforms.autoroi import ROI_REPORT_KEY, AutoRoid, AutoRoiD, AutoRoiDict, roi_report
from medroi.transforms.intensity import IntegerWindow, IntegerWindowd, IntegerWindowD, IntegerWindowDict
from medroi.transforms.loading import (
    META_KEY,
    PLANAR_FORMATS,
    LoadMedicalImage,
    LoadMedicalImaged,
    LoadMedicalImageD,
    LoadMedicalImageDict,
    medroi_metadata,
)
from medroi.transforms.roi import (
    BRATS_WHOLE_TUMOR,
    XRAY_LUNGS,
    RoiFromLabels,
    RoiFromLabelsd,
    RoiFromLabelsD,
    RoiFromLabelsDict,
)
from medroi.transforms.saving import SaveMroiD, SaveMroid, SaveMroiDict
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
from medroi.transforms.spatial import (
    ResizeWithPadOrCropExact,
    ResizeWithPadOrCropExactd,
    ResizeWithPadOrCropExactD,
    ResizeWithPadOrCropExactDict,
)
from medroi.transforms.utils import TransformArgumentError

__all__ = [
    "AutoRoiD",
    "AutoRoiDict",
    "AutoRoid",
    "ROI_REPORT_KEY",
    "BRATS_WHOLE_TUMOR",
    "META_KEY",
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
    "ResizeWithPadOrCropExact",
    "ResizeWithPadOrCropExactD",
    "ResizeWithPadOrCropExactDict",
    "ResizeWithPadOrCropExactd",
    "SaveMroiD",
    "SaveMroiDict",
    "SaveMroid",
    "SliceIterd",
    "TransformArgumentError",
    "medroi_metadata",
    "roi_report",
    "stack_slice_dicts",
    "stack_slices",
]
