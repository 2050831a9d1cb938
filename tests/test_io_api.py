"""medroi.io entry points: format detection, errors that say what to do, cross-format writes."""

from __future__ import annotations

import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from medroi.errors import InputNotFoundError, InvalidImageError, UnsupportedFormatError
from medroi.io import MedicalImage, detect_format, read_image, read_mask, write_image
from tests.conftest import require_data


def test_import_pulls_in_neither_torch_nor_monai():
    code = (
        "import sys, medroi.io as io\n"
        "io.detect_format\n"
        "import medroi.io.nifti, medroi.io.dicom, medroi.io.dicom_write, medroi.io.raster, medroi.io.itk\n"
        "bad = [m for m in ('torch', 'monai') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.nii", "nifti"), ("a.NII.GZ", "nifti"), ("a.dcm", "dicom"), ("a.png", "png"),
     ("a.tif", "tiff"), ("a.TIFF", "tiff"), ("a.jpg", "jpeg"), ("a.jpeg", "jpeg"), ("a.nrrd", "nrrd"),
     ("a.nhdr", "nrrd"), ("a.MHA", "metaimage"), ("a.mhd", "metaimage")],
)
def test_detect_by_extension(tmp_path, name, expected):
    path = tmp_path / name
    path.write_bytes(b"x")
    assert detect_format(path) == expected


def test_detect_by_content_and_folder(tmp_path):
    png = tmp_path / "noext"
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(png, format="PNG")
    assert detect_format(png) == "png"
    dicm = tmp_path / "IM1"
    dicm.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 10)
    assert detect_format(dicm) == "dicom"
    folder = tmp_path / "series"
    folder.mkdir()
    (folder / "x.dcm").write_bytes(b"\0" * 128 + b"DICM")
    assert detect_format(folder) == "dicom-series"


def test_missing_path(tmp_path):
    with pytest.raises(InputNotFoundError, match="does not exist"):
        read_image(tmp_path / "nope.nii.gz")
    with pytest.raises(InputNotFoundError):
        read_mask(tmp_path / "nope.png")


def test_unsupported_extension_lists_the_formats(tmp_path):
    path = tmp_path / "scan.hdr"
    path.write_bytes(b"ObjectType = Image\n")
    with pytest.raises(UnsupportedFormatError, match=r"NIfTI.*DICOM.*PNG"):
        read_image(path)
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    with pytest.raises(UnsupportedFormatError, match="DICOM"):
        read_image(empty_folder)
    image = MedicalImage(np.zeros((2, 2), np.uint8), "png", {})
    with pytest.raises(UnsupportedFormatError, match="Supported"):
        write_image(image, tmp_path / "out.hdr")


def test_garbage_png_is_a_medroi_error(tmp_path):
    path = tmp_path / "bad.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    with pytest.raises(InvalidImageError, match="not a readable image"):
        read_image(path)


def test_nifti_slice_to_png_and_png_to_nifti(tmp_path):
    volume = np.random.default_rng(5).integers(0, 4000, (6, 7, 3), dtype=np.uint16)
    nib.save(nib.Nifti1Image(volume, np.diag([0.5, 0.5, 2.0, 1.0])), tmp_path / "v.nii.gz")
    image = read_image(tmp_path / "v.nii.gz")
    with pytest.raises(InvalidImageError, match="2D"):
        write_image(image, tmp_path / "v.png")
    one = MedicalImage(image.array[..., 1], "nifti", {})
    np.testing.assert_array_equal(read_image(write_image(one, tmp_path / "s.png")).array, volume[..., 1])
    flat = read_image(tmp_path / "s.png")
    back = read_image(write_image(flat, tmp_path / "s.nii.gz"))
    np.testing.assert_array_equal(back.array, volume[..., 1])
    assert back.array.dtype == np.uint16


def test_dicom_series_to_nifti_keeps_pixels_and_spacing(tmp_path):
    image = read_image(require_data("dicom", "mr_t1_sag_HFS_dcm_qa_decubitus"))
    out = write_image(image, tmp_path / "mr.nii.gz")
    back = nib.load(out)
    np.testing.assert_array_equal(np.asanyarray(back.dataobj), image.array)
    np.testing.assert_allclose(back.header.get_zooms(), image.metadata["spacing"], rtol=1e-6)


def test_dicom_series_affine_maps_voxels_to_patient_positions():
    image = read_image(require_data("dicom", "mr_t1_sag_HFS_dcm_qa_decubitus"))
    affine = np.asarray(image.metadata["affine"])
    for k, position in enumerate(image.metadata["image_positions"]):
        ras = affine @ [0, 0, k, 1]
        np.testing.assert_allclose(ras[:3], [-position[0], -position[1], position[2]], atol=1e-3)
    dr, dc = image.metadata["pixel_spacing"]
    np.testing.assert_allclose(np.linalg.norm(affine[:3, :2], axis=0), [dr, dc], rtol=1e-6)


def test_read_mask_any_nonzero_and_labels(tmp_path):
    labels = np.array([[[0, 1], [2, 4]], [[3, 0], [4, 4]]], dtype=np.uint8)
    nib.save(nib.Nifti1Image(labels, np.eye(4)), tmp_path / "seg.nii.gz")
    np.testing.assert_array_equal(read_mask(tmp_path / "seg.nii.gz"), labels != 0)
    np.testing.assert_array_equal(read_mask(tmp_path / "seg.nii.gz", labels=[1, 2, 4]), np.isin(labels, [1, 2, 4]))
    with pytest.raises(InvalidImageError, match="labels"):
        read_mask(tmp_path / "seg.nii.gz", labels=[])
    with pytest.raises(InvalidImageError, match=r"\(2, 2, 2\).*\(2, 2, 3\)"):
        read_mask(tmp_path / "seg.nii.gz", shape=(2, 2, 3))
