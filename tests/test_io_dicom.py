"""DICOM: raw stored values, every element restored, lossy flags set as asked."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from medroi.errors import InvalidImageError, MedroiError, OutputExistsError
from medroi.io import display_values, read_image, write_image
from tests.conftest import require_data

SINGLES = (
    "693_UNCR.dcm",
    "MR-SIEMENS-DICOM-WithOverlays.dcm",
    "MR2_UNCR.dcm",
    "RG1_J2KI.dcm",
    "RG3_J2KR.dcm",
    "emri_small.dcm",
    "explicit_VR-UN.dcm",
)
SERIES = ("ct_head_GE_dcm_qa_ct", "mr_t1_sag_HFS_dcm_qa_decubitus")

# What a write may change; every other element must come back equal.
ALWAYS_ALLOWED = {
    pydicom.tag.Tag(0x0002, 0x0000),  # File Meta Information Group Length
    pydicom.tag.Tag(0x0002, 0x0010),  # Transfer Syntax UID (raw pixels are Explicit VR Little Endian)
    pydicom.tag.Tag(0x7FE0, 0x0010),  # Pixel Data (compared as decoded pixels instead)
    pydicom.tag.Tag(0x0028, 0x2110),  # Lossy Image Compression (checked on its own)
}
LOSSY_ALLOWED = ALWAYS_ALLOWED | {
    pydicom.tag.Tag(0x0028, 0x2112),  # Lossy Image Compression Ratio
    pydicom.tag.Tag(0x0028, 0x2114),  # Lossy Image Compression Method
    pydicom.tag.Tag(0x0008, 0x0018),  # SOP Instance UID
    pydicom.tag.Tag(0x0002, 0x0003),  # Media Storage SOP Instance UID
    pydicom.tag.Tag(0x0020, 0x000E),  # Series Instance UID (a lossy result is a new series)
    pydicom.tag.Tag(0x0008, 0x0008),  # Image Type (value 1 DERIVED; checked on its own)
    pydicom.tag.Tag(0x0008, 0x2111),  # Derivation Description (appended)
    pydicom.tag.Tag(0x0008, 0x9215),  # Derivation Code Sequence (113040 Lossy Compression appended)
}


def _is_group_length(tag) -> bool:  # (gggg,0000): retired in the data set, pydicom drops them
    return tag.element == 0 and tag.group != 0x0002


def assert_same_elements(original: pydicom.Dataset, written: pydicom.Dataset, allowed: set) -> None:
    for a, b in ((original.file_meta, written.file_meta), (original, written)):
        tags = (set(a.keys()) | set(b.keys())) - allowed
        for tag in sorted(t for t in tags if not _is_group_length(t)):
            assert tag in a, f"{tag} added"
            assert tag in b, f"{tag} {a[tag].name} lost"
            assert a[tag].VR == b[tag].VR, f"{tag} VR {a[tag].VR} -> {b[tag].VR}"
            assert a[tag].value == b[tag].value, f"{tag} {a[tag].name} changed"


def _check_written_file(src, out, lossy_flag_expected):
    original, written = pydicom.dcmread(src), pydicom.dcmread(out)
    assert written.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert written.LossyImageCompression == lossy_flag_expected
    np.testing.assert_array_equal(written.pixel_array, original.pixel_array)
    assert written.pixel_array.dtype == original.pixel_array.dtype.newbyteorder("=")
    assert_same_elements(original, written, ALWAYS_ALLOWED)


@pytest.mark.parametrize("name", SINGLES)
def test_single_file_round_trip(tmp_path, name):
    src = require_data("dicom", "pydicom_data_singles", name)
    original = pydicom.dcmread(src)
    image = read_image(src)
    json.dumps(image.metadata)
    raw = original.pixel_array
    expected = np.moveaxis(raw, 0, -1) if int(original.get("NumberOfFrames", 1) or 1) > 1 else raw
    np.testing.assert_array_equal(image.array, expected)
    assert image.array.dtype == raw.dtype
    assert image.array.dtype.kind == ("i" if original.PixelRepresentation else "u")
    assert image.metadata["photometric_interpretation"] == original.PhotometricInterpretation
    out = write_image(image, tmp_path / name)
    source_flag = original.get("LossyImageCompression")
    _check_written_file(src, out, "01" if source_flag == "01" else "00")
    again = read_image(out)
    np.testing.assert_array_equal(again.array, image.array)
    assert again.array.dtype == image.array.dtype


def test_multiframe_axes():
    image = read_image(require_data("dicom", "pydicom_data_singles", "emri_small.dcm"))
    assert image.array.shape == (64, 64, 10)
    assert image.metadata["frames"] == 10


def test_monochrome1_and_rescale_are_not_applied():
    rg1 = require_data("dicom", "pydicom_data_singles", "RG1_J2KI.dcm")
    image = read_image(rg1)
    assert image.metadata["photometric_interpretation"] == "MONOCHROME1"
    np.testing.assert_array_equal(image.array, pydicom.dcmread(rg1).pixel_array)
    shown = display_values(image)
    np.testing.assert_array_equal(shown, 2**15 - 1 - image.array.astype(np.float64))
    ct = read_image(require_data("dicom", "pydicom_data_singles", "693_UNCR.dcm"))
    assert ct.metadata["rescale_intercept"] == -1024.0
    assert ct.array.dtype == np.int16
    np.testing.assert_array_equal(display_values(ct), ct.array.astype(np.float64) - 1024.0)


@pytest.mark.parametrize("name", SERIES)
def test_series_round_trip(tmp_path, name):
    folder = require_data("dicom", name)
    image = read_image(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix == ".dcm")
    assert image.format == "dicom-series"
    assert image.array.shape[-1] == len(files)
    assert image.metadata["sorted_by"] == "position"
    # slices ascend along the normal of the image plane
    ds0 = pydicom.dcmread(folder / image.metadata["filenames"][0], stop_before_pixels=True)
    normal = np.cross(*np.reshape(np.asarray(ds0.ImageOrientationPatient, float), (2, 3)))
    depth = [np.dot(normal, p) for p in image.metadata["image_positions"]]
    assert np.all(np.diff(depth) > 0)
    for k, fname in enumerate(image.metadata["filenames"]):
        np.testing.assert_array_equal(image.array[..., k], pydicom.dcmread(folder / fname).pixel_array)
    out = write_image(image, tmp_path / "series")
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in files]
    for src in files:
        _check_written_file(src, out / src.name, "00")
    again = read_image(out)
    np.testing.assert_array_equal(again.array, image.array)
    assert again.array.dtype == image.array.dtype
    assert again.metadata["filenames"] == image.metadata["filenames"]


def test_lossy_output_is_flagged_with_a_new_uid(tmp_path):
    src = require_data("dicom", "pydicom_data_singles", "MR-SIEMENS-DICOM-WithOverlays.dcm")
    image = read_image(src)
    out = write_image(image, tmp_path / "lossy.dcm", lossy={"ratio": 12.5, "method": "MEDROI"})
    original, written = pydicom.dcmread(src), pydicom.dcmread(out)
    assert written.LossyImageCompression == "01"
    assert float(written.LossyImageCompressionRatio) == 12.5
    assert written.LossyImageCompressionMethod == "MEDROI"
    assert written.SOPInstanceUID != original.SOPInstanceUID
    assert written.SeriesInstanceUID != original.SeriesInstanceUID
    assert written.file_meta.MediaStorageSOPInstanceUID == written.SOPInstanceUID
    assert list(written.ImageType) == ["DERIVED", *list(original.ImageType)[1:]]
    assert written.DerivationDescription.startswith(original.DerivationDescription + "; ")
    assert written.DerivationCodeSequence[-1].CodeValue == "113040"
    assert_same_elements(original, written, LOSSY_ALLOWED)


def test_lossy_history_is_appended_for_an_already_lossy_source(tmp_path):
    src = require_data("dicom", "pydicom_data_singles", "RG1_J2KI.dcm")
    original = pydicom.dcmread(src, stop_before_pixels=True)
    out = write_image(read_image(src), tmp_path / "again.dcm", lossy={"ratio": 3, "method": "MEDROI"})
    written = pydicom.dcmread(out, stop_before_pixels=True)
    before = _as_list(original.get("LossyImageCompressionMethod")) or ["ISO_15444_1"]  # from the transfer syntax
    assert _as_list(written.LossyImageCompressionMethod) == [*before, "MEDROI"]
    ratios = _as_list(original.get("LossyImageCompressionRatio"))
    assert [float(r) for r in _as_list(written.LossyImageCompressionRatio)] == [*map(float, ratios), 3.0]
    assert written.LossyImageCompression == "01"


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, pydicom.multival.MultiValue) else [value]


def test_bad_lossy_method_is_refused(tmp_path):
    image = read_image(_synthetic_dicom(tmp_path))
    with pytest.raises(InvalidImageError, match="code string"):
        write_image(image, tmp_path / "x.dcm", lossy={"ratio": 2, "method": "medroi neural codec v1"})
    with pytest.raises(InvalidImageError, match="ratio"):
        write_image(image, tmp_path / "y.dcm", lossy={"method": "MEDROI"})


def _synthetic_dicom(tmp_path, bits_stored=12, signed=False, name="syn.dcm", preamble=True):
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "Test^Synthetic"
    ds.Rows, ds.Columns = 5, 7
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = int(signed)
    lo, hi = (-(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1) if signed else (0, 2**bits_stored - 1)
    pixels = np.random.default_rng(1).integers(lo, hi, (5, 7), endpoint=True).astype(np.int16 if signed else np.uint16)
    ds.PixelData = pixels.tobytes()
    path = tmp_path / name
    pydicom.dcmwrite(path, ds, enforce_file_format=preamble)
    return path


@pytest.mark.parametrize("signed", [False, True])
def test_synthetic_signed_and_unsigned(tmp_path, signed):
    src = _synthetic_dicom(tmp_path, bits_stored=10, signed=signed)
    image = read_image(src)
    assert image.array.dtype == (np.int16 if signed else np.uint16)
    out = write_image(image, tmp_path / "out.dcm")
    _check_written_file(src, out, "00")
    bad = image.array.astype(np.int32)
    bad[0, 0] = 2**10  # beyond 10 bits stored
    image.array = bad
    with pytest.raises(InvalidImageError, match="Bits Stored"):
        write_image(image, tmp_path / "bad.dcm")


def test_file_without_extension_is_found_by_its_preamble(tmp_path):
    src = _synthetic_dicom(tmp_path, name="IM0001")
    assert read_image(src).format == "dicom"


def test_garbage_with_dcm_extension_is_a_medroi_error(tmp_path):
    bad = tmp_path / "garbage.dcm"
    bad.write_bytes(bytes(range(256)) * 7)
    with pytest.raises(MedroiError):
        read_image(bad)
    truncated = tmp_path / "cut.dcm"
    truncated.write_bytes(_synthetic_dicom(tmp_path).read_bytes()[:300])
    with pytest.raises(MedroiError):
        read_image(truncated)


def test_folder_with_two_series_is_refused(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    _synthetic_dicom(folder, name="a.dcm")
    _synthetic_dicom(folder, name="b.dcm")
    with pytest.raises(InvalidImageError, match="2 series"):
        read_image(folder)


def test_series_written_to_one_file_is_refused_and_no_overwrite(tmp_path):
    folder = require_data("dicom", SERIES[1])
    image = read_image(folder)
    with pytest.raises(InvalidImageError, match="folder"):
        write_image(image, tmp_path / "one.dcm")
    out = write_image(image, tmp_path / "s")
    with pytest.raises(OutputExistsError):
        write_image(image, out)


def test_generic_secondary_capture_from_a_non_dicom_array(tmp_path):
    from medroi.io import MedicalImage

    array = np.arange(6 * 4, dtype=np.uint16).reshape(6, 4) * 100
    out = write_image(MedicalImage(array, "png", {}), tmp_path / "sc.dcm")
    ds = pydicom.dcmread(out)
    np.testing.assert_array_equal(ds.pixel_array, array)
    assert ds.LossyImageCompression == "00"
    np.testing.assert_array_equal(read_image(out).array, array)
    volume = np.stack([array, array + 1, array + 2], axis=-1)
    folder = write_image(MedicalImage(volume, "nifti", {}), tmp_path / "scs")
    np.testing.assert_array_equal(read_image(folder).array, volume)


def _bare_dataset(bits: int, values: np.ndarray) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows, ds.Columns = values.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    return ds


def test_implicit_vr_file_without_file_meta_and_odd_8bit_pixels(tmp_path):
    values = np.arange(15, dtype=np.uint8).reshape(3, 5)
    ds = _bare_dataset(8, values)
    ds.PixelData = values.tobytes() + b"\0"
    src = tmp_path / "bare.dcm"
    pydicom.dcmwrite(src, ds, implicit_vr=True, little_endian=True)  # no preamble, no file meta
    image = read_image(src)
    np.testing.assert_array_equal(image.array, values)
    out = write_image(image, tmp_path / "out.dcm")
    written = pydicom.dcmread(out)
    assert written.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    np.testing.assert_array_equal(written.pixel_array, values)
    for tag in ds.keys():
        if tag != pydicom.tag.Tag(0x7FE0, 0x0010):
            assert written[tag].value == ds[tag].value


def test_big_endian_source_is_rewritten_little_endian(tmp_path):
    values = np.arange(12, dtype=np.uint16).reshape(3, 4) * 300
    ds = _bare_dataset(16, values)
    ds.PixelData = values.astype(">u2").tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    src = tmp_path / "be.dcm"
    pydicom.dcmwrite(src, ds, enforce_file_format=True)
    image = read_image(src)
    assert image.array.dtype == np.uint16 and image.array.dtype.isnative
    np.testing.assert_array_equal(image.array, values)
    _check_written_file(src, write_image(image, tmp_path / "le.dcm"), "00")
