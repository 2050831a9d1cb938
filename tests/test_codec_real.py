"""Round trips on real data: every voxel within its region's bound, (0, 0) bit-exact,
metadata restored, one slice decodes alone."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require_data
import medroi.codec as codec
from medroi import api
from medroi.io import read_image, read_mask

BOUNDS = [(0, 0), (0, 4), (1, 8)]
CASE = "Brats18_TCIA03_265_1"


def _check(original, decoded, roi, roi_bound, nroi_bound):
    error = np.abs(decoded.astype(np.int64) - original.astype(np.int64))
    assert error[roi].max(initial=0) <= roi_bound
    assert error[~roi].max(initial=0) <= nroi_bound
    if (roi_bound, nroi_bound) == (0, 0):
        assert np.array_equal(decoded, original)


@pytest.mark.parametrize("modality", ["flair", "t1", "t1ce", "t2"])
def test_brats_volumes_hold_bounds(modality):
    folder = require_data("brats", CASE)
    image = read_image(folder / f"{CASE}_{modality}.nii.gz").array
    roi = read_mask(folder / f"{CASE}_seg.nii.gz", (1, 2, 4), shape=image.shape)
    for roi_bound, nroi_bound in BOUNDS:
        decoded = codec.decompress(codec.compress(image, roi, roi_bound, nroi_bound))
        assert decoded.array.dtype == image.dtype
        assert np.array_equal(decoded.roi_mask, roi)
        _check(image, decoded.array, roi, roi_bound, nroi_bound)


@pytest.mark.parametrize("name", ["gbcxr_011", "gbcxr_067"])
def test_xrays_hold_bounds(name):
    images = require_data("xray", "images")
    path = next(images.glob(f"{name}.*"))
    image = read_image(path, colour="gray").array  # the codec on the gray radiograph, as the benchmarks code it
    roi = read_mask(require_data("xray", "masks", f"{name}_lungs.png"), (1, 2), shape=image.shape)
    for roi_bound, nroi_bound in BOUNDS:
        decoded = codec.decompress(codec.compress(image, roi, roi_bound, nroi_bound))
        _check(image, decoded.array, roi, roi_bound, nroi_bound)


def test_nifti_file_round_trip_keeps_header_and_affine(tmp_path):
    import nibabel as nib

    folder = require_data("brats", CASE)
    source = folder / f"{CASE}_t2.nii.gz"
    api.compress_file(source, tmp_path / "t2.mroi", roi_mask_path=folder / f"{CASE}_seg.nii.gz",
                      roi_labels=(1, 2, 4), nroi_max_error=0)
    api.decompress_file(tmp_path / "t2.mroi", tmp_path / "t2.nii.gz")
    original, restored = nib.load(source), nib.load(tmp_path / "t2.nii.gz")
    assert np.array_equal(np.asanyarray(restored.dataobj), np.asanyarray(original.dataobj))
    assert np.array_equal(restored.affine, original.affine)
    assert restored.header.binaryblock == original.header.binaryblock


def test_dicom_series_round_trip_keeps_tags(tmp_path):
    import pydicom

    series = require_data("dicom", "mr_t1_sag_HFS_dcm_qa_decubitus")
    api.compress_file(series, tmp_path / "mr.mroi", nroi_max_error=0)
    api.decompress_file(tmp_path / "mr.mroi", tmp_path / "out")
    originals = {pydicom.dcmread(p).SOPInstanceUID: pydicom.dcmread(p) for p in sorted(series.iterdir())}
    restored = [pydicom.dcmread(p) for p in sorted((tmp_path / "out").iterdir())]
    assert len(restored) == len(originals)
    for ds in restored:
        original = originals[ds.SOPInstanceUID]  # lossless: same instance UIDs
        assert np.array_equal(ds.pixel_array, original.pixel_array)
        assert ds.PatientID == original.PatientID and ds.ImagePositionPatient == original.ImagePositionPatient
        assert ds.get("LossyImageCompression", "00") == "00"


def test_lossy_dicom_is_marked(tmp_path):
    import pydicom

    source = require_data("dicom", "pydicom_data_singles", "MR2_UNCR.dcm")
    api.compress_file(source, tmp_path / "mr.mroi", nroi_max_error=4)
    api.decompress_file(tmp_path / "mr.mroi", tmp_path / "mr.dcm")
    original, restored = pydicom.dcmread(source), pydicom.dcmread(tmp_path / "mr.dcm")
    assert restored.LossyImageCompression == "01"
    assert restored.SOPInstanceUID != original.SOPInstanceUID
    error = np.abs(restored.pixel_array.astype(np.int64) - original.pixel_array.astype(np.int64))
    assert error.max() <= 4


def test_png_round_trip_and_single_slice(tmp_path):
    path = next(require_data("xray", "images").glob("mhh_*.png"))
    api.compress_file(path, tmp_path / "x.mroi", nroi_max_error=0)
    api.decompress_file(tmp_path / "x.mroi", tmp_path / "x.png")
    assert np.array_equal(read_image(tmp_path / "x.png").array, read_image(path).array)


def test_one_brats_slice_decodes_alone():
    folder = require_data("brats", CASE)
    image = read_image(folder / f"{CASE}_flair.nii.gz").array[:, :, 60:100]
    data = codec.compress(image, None, 0, 0)
    alone, _ = codec.decompress_slice(data, 37)
    assert np.array_equal(alone, image[:, :, 37])
