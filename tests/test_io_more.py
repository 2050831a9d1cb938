"""NRRD / MetaImage through SimpleITK, and every object of ../shared/data/more round-tripping
bit-exactly through medroi at (0,0) with its geometry and tags (int32 CT with negative values,
12-bit multi-frame MR, a 3062 x 2394 mammogram, 10-bit CR, JPEG-lossless DICOM, NRRD labels)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from medroi import api
from medroi.errors import InvalidImageError
from medroi.io import MedicalImage, read_image, write_image
from tests.conftest import DATA_ROOT, require_data
from tests.test_io_dicom import ALWAYS_ALLOWED

MORE = DATA_ROOT / "more"
NRRDS = ("brain1_image", "brain1_label", "brain2_image", "breast1_image", "prostate_phantom_subvolume",
         "prostate_phantom_subvolume-label")
OBJECTS = [f"fodicom/{n}" for n in ("CR-MONO1-10-chest", "CR-ModalitySequenceLUT.dcm", "CT-MONO2-16-ankle",
                                    "GH064.dcm", "GH1308.dcm", "GH133.dcm", "GH1728.dcm", "GH342.dcm",
                                    "IM-0001-0001-0001.dcm", "MOVEKNEE.dcm", "OutOfBoundsOverlay.dcm",
                                    "RI6XDosiGap.dcm", "abd1_mr", "mr_brucker.dcm")]
OBJECTS += [f"totalsegmentator/{n}" for n in ("example_ct.nii.gz", "example_ct_sm.nii.gz", "example_mr_sm.nii.gz",
                                              "example_seg.nii.gz", "example_ct_dicom")]
OBJECTS += [f"pyradiomics/{n}.nrrd" for n in NRRDS]


def _same_itk(a_path, b_path, same_format: bool = True) -> None:
    """Pixels, pixel type, spacing, origin, direction and metadata dictionary identical.

    Across formats the dictionaries differ (each format has its own keys) and NRRD stores
    spacing x direction vectors, so the geometry is compared to 1e-12 there."""
    a, b = sitk.ReadImage(str(a_path)), sitk.ReadImage(str(b_path))
    assert a.GetPixelIDValue() == b.GetPixelIDValue()
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(a), sitk.GetArrayViewFromImage(b))
    geometry = [(a.GetSpacing(), b.GetSpacing()), (a.GetOrigin(), b.GetOrigin()), (a.GetDirection(), b.GetDirection())]
    if not same_format:
        for x, y in geometry:
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
        return
    assert all(x == y for x, y in geometry), geometry
    keys = {k for k in a.GetMetaDataKeys() if not k.startswith("ITK_")}
    assert keys == {k for k in b.GetMetaDataKeys() if not k.startswith("ITK_")}
    assert all(a.GetMetaData(k) == b.GetMetaData(k) for k in keys)


@pytest.mark.parametrize("name", NRRDS)
def test_nrrd_reads_at_native_type_and_writes_back(tmp_path, name):
    src = require_data("more", "pyradiomics", f"{name}.nrrd")
    reference = sitk.ReadImage(str(src))
    image = read_image(src)
    assert image.format == "nrrd"
    assert image.array.dtype == sitk.GetArrayViewFromImage(reference).dtype  # int16, uint16, int32: not widened
    np.testing.assert_array_equal(image.array, sitk.GetArrayViewFromImage(reference).T)  # (X, Y, Z)
    assert image.metadata["spacing"] == list(reference.GetSpacing())
    for suffix in (".nrrd", ".mha"):
        out = write_image(image, tmp_path / f"out{suffix}")
        _same_itk(src, out, same_format=suffix == ".nrrd")


def _volume_with_geometry() -> sitk.Image:
    rng = np.random.default_rng(3)
    image = sitk.GetImageFromArray((rng.integers(-900, 2500, (9, 40, 33))).astype(np.int16))  # (Z, Y, X)
    image.SetSpacing((0.7, 0.9, 2.5))
    image.SetOrigin((-12.5, 30.25, 7.0))
    angle = np.deg2rad(20)
    image.SetDirection((np.cos(angle), -np.sin(angle), 0.0, np.sin(angle), np.cos(angle), 0.0, 0.0, 0.0, 1.0))
    image.SetMetaData("Modality", "MET_CT")
    image.SetMetaData("medroi_test_note", "kept through compression")
    return image


def test_mha_written_here_round_trips_through_compression(tmp_path):
    src = tmp_path / "ct.mha"
    sitk.WriteImage(_volume_with_geometry(), str(src), True)
    image = read_image(src)
    assert image.format == "metaimage" and image.array.shape == (33, 40, 9) and image.array.dtype == np.int16
    api.compress_file(src, tmp_path / "ct.mroi", roi="none", nroi_max_error=0)
    for name in ("back.mha", "back.mhd", "back.nrrd"):
        api.decompress_file(tmp_path / "ct.mroi", tmp_path / name)
        _same_itk(src, tmp_path / name, same_format=name != "back.nrrd")
    assert (tmp_path / "back.zraw").is_file() and not list(tmp_path.glob(".*tmp*"))  # .mhd's data file, no leftovers
    # to NIfTI: the same voxel-to-world mapping (ITK LPS -> NIfTI RAS)
    api.decompress_file(tmp_path / "ct.mroi", tmp_path / "back.nii.gz")
    import nibabel as nib

    nii = nib.load(tmp_path / "back.nii.gz")
    np.testing.assert_array_equal(np.asarray(nii.dataobj), image.array)
    itk = sitk.ReadImage(str(src))
    world_lps = np.asarray(itk.TransformIndexToPhysicalPoint((4, 7, 3)))
    world_ras = nii.affine @ np.array([4, 7, 3, 1.0])
    np.testing.assert_allclose(world_ras[:3], world_lps * [-1, -1, 1], atol=1e-6)


def test_damaged_nrrd_is_a_medroi_error(tmp_path):
    bad = tmp_path / "bad.nrrd"
    bad.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 10 10 10\nencoding: raw\n\n" + b"\x00" * 10)
    with pytest.raises(InvalidImageError):
        read_image(bad)


def test_colour_or_4d_itk_is_refused(tmp_path):
    from medroi.errors import MedroiError

    vector = sitk.Compose([sitk.Image(8, 8, sitk.sitkUInt8)] * 3)
    sitk.WriteImage(vector, str(tmp_path / "rgb.mha"))
    with pytest.raises(MedroiError, match="components"):
        read_image(tmp_path / "rgb.mha")
    with pytest.raises(MedroiError):
        write_image(MedicalImage(np.zeros((2, 2, 2, 2), np.uint8), "metaimage", {}), tmp_path / "x.mha")


def _same_elements(a: pydicom.Dataset, b: pydicom.Dataset, allowed: set, where: str = "") -> None:
    """Every element equal at any depth, except ``allowed`` tags and group lengths (gggg,0000),
    which DICOM retired in data sets; an ambiguous VR ('OB or OW') may come back resolved."""
    tags = {t for t in set(a.keys()) | set(b.keys()) if t not in allowed and t.element != 0}
    for tag in sorted(tags):
        assert tag in a, f"{where}{tag} added"
        assert tag in b, f"{where}{tag} {a[tag].name} lost"
        x, y = a[tag], b[tag]
        assert x.VR == y.VR or (" or " in x.VR and y.VR in x.VR.split(" or ")), f"{where}{tag} VR {x.VR} -> {y.VR}"
        if x.VR == "SQ":
            assert len(x.value) == len(y.value), f"{where}{tag} items"
            for i, (u, v) in enumerate(zip(x.value, y.value)):
                _same_elements(u, v, allowed, f"{where}{tag}[{i}] ")
        else:
            assert x.value == y.value, f"{where}{tag} {x.name} changed"


def _dicom_compare(src, out) -> None:
    original, written = pydicom.dcmread(src, force=True), pydicom.dcmread(out)
    allowed = set(ALWAYS_ALLOWED)
    meta = getattr(original, "file_meta", None)
    if not meta or "TransferSyntaxUID" not in meta:
        meta = written.file_meta  # no Part 10 meta in the source: medroi adds one
    elif meta.get("MediaStorageSOPInstanceUID") != original.get("SOPInstanceUID"):
        # an inconsistent source (CR-ModalitySequenceLUT.dcm; an empty SOP Instance UID in
        # example_ct_dicom): the written file meta carries one of the two
        assert written.file_meta.MediaStorageSOPInstanceUID in (meta.MediaStorageSOPInstanceUID, original.SOPInstanceUID)
        allowed.add(pydicom.tag.Tag(0x0002, 0x0003))
    assert written.get("LossyImageCompression", "00") == "00"
    _same_elements(meta, written.file_meta, allowed)
    _same_elements(original, written, allowed)


@pytest.mark.parametrize("name", OBJECTS)
def test_every_object_round_trips_bit_exactly_keeping_geometry_and_tags(tmp_path, name):
    src = require_data("more", *name.split("/"))
    image = read_image(src)
    if name.endswith(".nii.gz"):
        out = tmp_path / "out.nii.gz"
    elif image.format in ("nrrd", "metaimage"):
        out = tmp_path / f"out{src.suffix}"
    elif image.format == "dicom-series":
        out = tmp_path / "out"
    else:
        out = tmp_path / "out.dcm"
    api.compress_file(src, tmp_path / "x.mroi", roi="none", roi_max_error=0, nroi_max_error=0)
    api.decompress_file(tmp_path / "x.mroi", out)
    back = read_image(out)
    assert back.array.dtype == image.array.dtype and back.array.shape == image.array.shape
    np.testing.assert_array_equal(back.array, image.array)
    if image.format == "nifti":
        import nibabel as nib

        a, b = nib.load(src), nib.load(out)
        assert a.header.binaryblock == b.header.binaryblock and np.array_equal(a.affine, b.affine)
    elif image.format in ("nrrd", "metaimage"):
        _same_itk(src, out)
    elif image.format == "dicom-series":
        files = sorted(p for p in src.iterdir() if p.is_file())
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in files)
        for f in files:
            _dicom_compare(f, out / f.name)
    else:
        _dicom_compare(src, out)
    if image.format.startswith("dicom") or image.format == "nifti":
        np.testing.assert_array_equal(np.asarray(back.metadata.get("affine")), np.asarray(image.metadata.get("affine")))


def test_nifti_that_nibabel_cannot_open_is_read_with_simpleitk(tmp_path, monkeypatch):
    """The fallback path (nibabel's failure is simulated: every file it opens, SimpleITK opens too)."""
    import nibabel as nib

    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 50
    affine = np.array([[-0.8, 0, 0, 10.0], [0, -0.9, 0, -20.0], [0, 0, 2.0, 5.0], [0, 0, 0, 1]])
    src = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), src)

    def refuse(*args, **kwargs):
        raise nib.filebasedimages.ImageFileError("simulated: nibabel cannot read this header")

    monkeypatch.setattr(nib, "load", refuse)
    image = read_image(src)
    assert image.format == "nifti" and image.array.dtype == np.int16
    np.testing.assert_array_equal(image.array, data)
    np.testing.assert_allclose(image.metadata["affine"], affine, atol=1e-6)
    monkeypatch.undo()
    out = write_image(image, tmp_path / "out.nii.gz")
    np.testing.assert_array_equal(np.asarray(nib.load(out).dataobj), data)
    np.testing.assert_allclose(nib.load(out).affine, affine, atol=1e-6)
