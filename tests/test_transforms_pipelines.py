"""Whole pipelines: load -> ROI -> window -> pad -> slices, and back bit-exactly.

On random arrays (hypothesis) and on real data through the bundle configs in
``transforms/*.yaml`` (skipped when ../shared/data is absent).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.transforms import Compose, DivisiblePadd, ResizeWithPadOrCropd

from medroi.errors import InvalidImageError
from medroi.transforms import (
    IntegerWindowd,
    LoadMedicalImage,
    LoadMedicalImaged,
    RoiFromLabelsd,
    SliceIterd,
    stack_slice_dicts,
)

from conftest import require_data

REPO = Path(__file__).resolve().parents[1]
DTYPES = [np.uint8, np.int16, np.uint16]


@pytest.fixture
def read_image():
    from medroi.io import read_image as medroi_read_image

    return medroi_read_image


@st.composite
def volumes_with_labels(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    info = np.iinfo(dtype)
    shape = (draw(st.integers(1, 24)), draw(st.integers(1, 24)), draw(st.integers(1, 5)))
    a, b = draw(st.integers(int(info.min), int(info.max))), draw(st.integers(int(info.min), int(info.max)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    image = rng.integers(min(a, b), max(a, b), size=(1, *shape), endpoint=True).astype(dtype)
    label = rng.choice(np.array([0, 1, 2, 4], dtype=np.uint8), size=(1, *shape))
    return image, label


@settings(max_examples=30, deadline=None)
@given(volumes_with_labels(), st.integers(24, 32))
def test_volume_pipeline_round_trip_on_random_volumes(volume_and_label, size) -> None:
    image, label = volume_and_label
    affine = torch.diag(torch.tensor([1.0, 1.0, 2.0, 1.0], dtype=torch.float64))
    pipeline = Compose([
        RoiFromLabelsd(keys="label", labels=(1, 2, 4)),
        IntegerWindowd(keys="image"),
        ResizeWithPadOrCropd(keys=["image", "label"], spatial_size=(size, size, -1)),
    ])
    data = {"image": MetaTensor(torch.from_numpy(image), affine=affine.clone()), "label": torch.from_numpy(label)}
    out = pipeline(data)
    slices = [item for item, _ in SliceIterd(keys=["image", "label"])(out)]
    assert len(slices) == image.shape[-1]
    assert all(tuple(s["image"].shape) == (1, size, size) and s["image"].dtype == torch.float32 for s in slices)
    assert all(s["label"].dtype == torch.bool for s in slices)
    volume = stack_slice_dicts(slices[::-1], keys=["image", "label"])
    back = pipeline.inverse(volume)
    assert back["image"].dtype == torch.from_numpy(image).dtype
    np.testing.assert_array_equal(back["image"].numpy(), image)
    np.testing.assert_array_equal(back["label"].numpy(), np.isin(label, (1, 2, 4)))
    assert torch.equal(back["image"].affine, affine)


@settings(max_examples=30, deadline=None)
@given(
    dtype=st.sampled_from(DTYPES),
    shape=st.tuples(st.integers(1, 70), st.integers(1, 70)),
    seed=st.integers(0, 2**32 - 1),
)
def test_xray_pipeline_round_trip_pads_to_multiple_of_8(dtype, shape, seed) -> None:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    image = rng.integers(info.min, info.max, size=(1, *shape), endpoint=True).astype(dtype)
    pipeline = Compose([IntegerWindowd(keys="image"), DivisiblePadd(keys="image", k=8)])
    out = pipeline({"image": image})
    padded = tuple(out["image"].shape[1:])
    assert all(p % 8 == 0 and 0 <= p - s < 8 for p, s in zip(padded, shape))
    back = pipeline.inverse(out)["image"]
    assert back.numpy().dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.numpy(), image)


def test_load_medical_image_refuses_a_non_2d_planar_image(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("medroi.io")
    module.read_image = lambda path, **_: types.SimpleNamespace(
        array=np.zeros((4, 5, 3), np.uint8), format="png", metadata={}, source=str(path)
    )
    monkeypatch.setitem(sys.modules, "medroi.io", module)
    with pytest.raises(InvalidImageError, match="2D"):
        LoadMedicalImage()("rgb.png")


def _parse(name: str, **overrides) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(str(REPO / "transforms" / name))
    for key, value in overrides.items():
        parser[key] = value
    return parser


def test_brats_config_on_a_real_case(read_image) -> None:
    case_dir = require_data("brats", "Brats18_CBICA_ALU_1")
    case = case_dir.name
    parser = _parse("brats.yaml")
    preprocess = parser.get_parsed_content("preprocess")
    slice_iter = parser.get_parsed_content("slice_iter")
    seg = np.asarray(nib.load(case_dir / f"{case}_seg.nii.gz").dataobj)
    for modality in ("flair", "t1ce"):
        path = case_dir / f"{case}_{modality}.nii.gz"
        nifti = nib.load(path)
        original = np.asarray(nifti.dataobj)
        out = preprocess({"image": str(path), "label": str(case_dir / f"{case}_seg.nii.gz")})
        assert tuple(out["image"].shape) == (1, 256, 256, original.shape[-1])
        assert out["image"].dtype == torch.float32 and out["label"].dtype == torch.bool
        assert out["image"].meta["filename_or_obj"] == str(path)
        slices = [item for item, _ in slice_iter(out)]
        assert len(slices) == original.shape[-1]
        assert {tuple(s["image"].shape) for s in slices} == {(1, 256, 256)}
        assert [s["slice_index"] for s in slices] == list(range(original.shape[-1]))
        roi_voxels = sum(int(np.count_nonzero(s["label"].numpy())) for s in slices)
        assert roi_voxels == int(np.isin(seg, (1, 2, 4)).sum()) > 0
        back = preprocess.inverse(stack_slice_dicts(slices, keys=["image", "label"]))
        assert back["image"].dtype == torch.int16
        np.testing.assert_array_equal(back["image"].numpy()[0], original)
        np.testing.assert_allclose(back["image"].affine.numpy(), nifti.affine)
        np.testing.assert_array_equal(back["label"].numpy()[0], np.isin(seg, (1, 2, 4)))


def test_xray_config_on_a_real_radiograph_with_lung_mask(read_image) -> None:
    image_path = require_data("xray", "images", "gbcxr_011.png")
    mask_path = require_data("xray", "masks", "gbcxr_011_lungs.png")
    original = np.asarray(read_image(image_path, colour="gray").array)  # the pipeline loads radiographs gray
    parser = _parse("xray.yaml")
    preprocess = parser.get_parsed_content("preprocess")
    out = preprocess({"image": str(image_path), "label": str(mask_path)})
    height, width = original.shape
    assert tuple(out["image"].shape) == (1, -(-height // 8) * 8, -(-width // 8) * 8)
    assert out["image"].dtype == torch.float32 and out["label"].dtype == torch.bool
    assert out["label"].shape == out["image"].shape and int(out["label"].sum()) > 0
    back = preprocess.inverse(out)
    assert back["image"].numpy().dtype == original.dtype
    np.testing.assert_array_equal(back["image"].numpy()[0], original)
    network_input = Compose(parser.get_parsed_content("network_resize"))(out)
    assert tuple(network_input["image"].shape) == (1, 256, 256) == tuple(network_input["label"].shape)


def test_load_medical_imaged_keeps_native_dtype_and_metadata(read_image) -> None:
    path = require_data("brats", "Brats18_2013_11_1", "Brats18_2013_11_1_seg.nii.gz")
    out = LoadMedicalImaged(keys=["label", "absent"], allow_missing_keys=True)({"label": str(path)})
    nifti = nib.load(path)
    assert out["label"].dtype == torch.from_numpy(np.asarray(nifti.dataobj)).dtype
    assert tuple(out["label"].shape) == (1, *nifti.shape)
    assert out["label"].meta["format"] == "nifti" and out["label"].meta["filename_or_obj"] == str(path)
    np.testing.assert_allclose(out["label"].affine.numpy(), nifti.affine)


def test_dicom_radiograph_loads_as_one_slice_and_round_trips(read_image) -> None:
    path = require_data("dicom", "pydicom_data_singles", "RG3_J2KR.dcm")
    original = np.asarray(read_image(path).array)
    pipeline = Compose([LoadMedicalImaged(keys="image"), IntegerWindowd(keys="image"), DivisiblePadd(keys="image", k=8)])
    out = pipeline({"image": str(path)})
    assert out["image"].ndim == 3 and all(size % 8 == 0 for size in out["image"].shape[1:])
    assert out["image"].meta["format"] == "dicom"
    back = pipeline.inverse(out)["image"]
    assert back.numpy().dtype == original.dtype == np.uint16
    np.testing.assert_array_equal(back.numpy()[0], original)
