"""RoiFromLabels(d): label image + label set -> bool ROI mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medroi.errors import InvalidImageError, MedroiError
from medroi.transforms import BRATS_WHOLE_TUMOR, XRAY_LUNGS, RoiFromLabels, RoiFromLabelsd, RoiFromLabelsDict

LABELS = np.array([[[0, 1, 2, 3], [4, 5, 0, 2]]], dtype=np.uint8)

TEST_CASES = [
    [None, [[0, 1, 1, 1], [1, 1, 0, 1]]],
    [BRATS_WHOLE_TUMOR, [[0, 1, 1, 0], [1, 0, 0, 1]]],
    [XRAY_LUNGS, [[0, 1, 1, 0], [0, 0, 0, 1]]],
    [4, [[0, 0, 0, 0], [1, 0, 0, 0]]],
    [[7], [[0, 0, 0, 0], [0, 0, 0, 0]]],
]


@pytest.mark.parametrize("labels, expected", TEST_CASES)
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16])
def test_roi_from_labels(labels, expected, dtype) -> None:
    roi_mask = RoiFromLabels(labels)(LABELS.astype(dtype))
    assert roi_mask.dtype == torch.bool
    np.testing.assert_array_equal(roi_mask.numpy(), np.array([expected], dtype=bool))


def test_metadata_kept_and_dictionary_twin() -> None:
    assert RoiFromLabelsDict is RoiFromLabelsd
    affine = torch.diag(torch.tensor([1.0, 2.0, 3.0, 1.0], dtype=torch.float64))
    label = MetaTensor(torch.from_numpy(LABELS), affine=affine, meta={"filename_or_obj": "seg.nii.gz"})
    out = RoiFromLabelsd(keys=["label", "absent"], labels=(1, 2, 4), allow_missing_keys=True)({"label": label, "x": 1})
    assert out["x"] == 1 and out["label"].meta["filename_or_obj"] == "seg.nii.gz"
    assert torch.equal(out["label"].affine, affine)
    assert int(out["label"].sum()) == 4


@pytest.mark.parametrize("labels", [[], (), [1.5], ["1"], [True]])
def test_bad_label_sets_raise(labels) -> None:
    with pytest.raises(MedroiError):
        RoiFromLabels(labels)


def test_non_integral_label_image_raises() -> None:
    with pytest.raises(InvalidImageError):
        RoiFromLabels()(np.array([[[0.5, 1.0]]], dtype=np.float32))
    assert RoiFromLabels()(np.array([[[0.0, 2.0]]], dtype=np.float32)).numpy().tolist() == [[[False, True]]]
