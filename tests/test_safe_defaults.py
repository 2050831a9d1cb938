"""Safe by default (issue 10): nothing lossy that the user did not ask for.

Rule 1: no ROI known -> lossless; rule 2: models only on inputs they were made for;
rule 3: label images never lossy in directory mode; colour kept exactly; DICOM lossy
output marked as the standard asks; and the rough edges of the command line.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from medroi import api, batch
from medroi.cli import main
from medroi.errors import InvalidImageError, OutputNotWritableError
from medroi.io import MedicalImage, read_image, write_image
from medroi.networks.selection import choose_model, describe_input, shipped_models
from tests.conftest import require_data

NO_ROI_LINE = "stored lossless; pass --nroi-max-error N to compress the whole image within N"


def _cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "medroi", *args], capture_output=True, text=True, env=env,
                          **kwargs)


def _refuse_constant(name):
    raise AssertionError(f"non-JSON constant {name}")


def _pixels(path) -> np.ndarray:
    return read_image(path).array


def _dicom(path: Path, pixels: np.ndarray, *, colour: bool = False, modality: str = "OT") -> Path:
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName = modality, "Test^Synthetic"
    ds.Rows, ds.Columns = pixels.shape[:2]
    if colour:
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    else:
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


# --------------------------------------------------------------------------- rule 1 and 2: defaults


@pytest.mark.parametrize("source, output", [
    (("dicom", "pydicom_data_singles", "693_UNCR.dcm"), "ct.dcm"),                 # a CT DICOM
    (("dicom", "mr_t1_sag_HFS_dcm_qa_decubitus"), "mr_series"),                  # an MR series (brain)
    (("xray", "images", "mhh_19a01707.png"), "xray.png"),                        # a PNG: no model for it
    (("more", "totalsegmentator", "example_mr_sm.nii.gz"), "mr.nii.gz"),         # a 3D NIfTI, not BRATS
])
def test_default_options_store_lossless_when_no_model_fits(tmp_path, capsys, source, output):
    src = require_data(*source)
    assert main(["compress", str(src), "-o", str(tmp_path / "x.mroi")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("medroi: no ROI (") and err[0].endswith(NO_ROI_LINE)
    info = api.file_info(tmp_path / "x.mroi")
    assert info["roi_rule"] == "no-roi-lossless" and info["nroi_max_error"] == 0
    assert main(["decompress", str(tmp_path / "x.mroi"), "-o", str(tmp_path / output)]) == 0
    restored, original = _pixels(tmp_path / output), _pixels(src)
    assert restored.dtype == original.dtype
    np.testing.assert_array_equal(restored, original)


def test_models_fit_only_the_inputs_they_were_made_for():
    models = shipped_models()
    assert {"brats_mri_roi_compression", "xray_roi_compression"} <= set(models)

    def chosen(*parts):
        path = require_data(*parts)
        return choose_model(describe_input(read_image(path), path))

    assert chosen("brats", "Brats18_2013_11_1", "Brats18_2013_11_1_flair.nii.gz") == "brats_mri_roi_compression"
    assert chosen("dicom", "pydicom_data_singles", "RG1_J2KI.dcm") == "xray_roi_compression"  # CR, CHEST
    assert chosen("dicom", "ct_head_GE_dcm_qa_ct") is None            # head CT: not the tumour model
    assert chosen("dicom", "mr_t1_sag_HFS_dcm_qa_decubitus") is None  # brain MR, not BraTS-preprocessed
    assert chosen("more", "fodicom", "MOVEKNEE.dcm") is None          # knee MR: not the lung model
    assert chosen("dicom", "pydicom_data_singles", "RG3_J2KR.dcm") is None  # CR of an extremity
    assert chosen("xray", "images", "mhh_19a01707.png") is None       # a PNG says nothing about itself
    assert chosen("brats", "Brats18_2013_11_1", "Brats18_2013_11_1_seg.nii.gz") is None


class _EmptyNetwork:
    """A stand-in model whose U-Net finds nothing (or, like a plausibility check, says None)."""

    identity = {"kind": "network", "name": "fake", "sha256": "0"}

    def __init__(self, result):
        self.result = result

    def segment_volume(self, array):
        return None if self.result is None else np.zeros(array.shape, bool)

    def auto_roi(self, array, **options):
        from medroi.autoroi.postprocess import AutoRoi

        return AutoRoi(None, "no region found") if self.result is None else AutoRoi(np.zeros(array.shape, bool))


@pytest.mark.parametrize("result", [None, "empty"])
def test_a_model_finding_no_roi_means_lossless(tmp_path, monkeypatch, result):
    volume = np.random.default_rng(0).integers(0, 900, (24, 20, 5)).astype(np.int16)
    src = tmp_path / "Brats_demo_flair.nii.gz"
    nib.save(nib.Nifti1Image(volume, np.eye(4)), src)
    assert choose_model(describe_input(read_image(src), src)) == "brats_mri_roi_compression"
    monkeypatch.setattr(api, "load_network", lambda model, fmt: _EmptyNetwork(result))
    report = api.compress_file(src, tmp_path / "x.mroi")
    if result is None:  # the plausibility check rejected the prediction: the whole image is the ROI, exact
        assert report["roi_rule"] == "model" and report["roi_auto"]["status"] == "fallback"
        assert "rejected its ROI" in report["message"] and report["roi_fraction"] == 1.0
    else:  # an accepted but empty ROI: no ROI known, so lossless (rule 1)
        assert report["roi_rule"] == "no-roi-lossless" and report["nroi_max_error"] == 0
        assert "found none" in report["message"] and report["message"].endswith(NO_ROI_LINE)
    from medroi import codec

    np.testing.assert_array_equal(codec.decompress((tmp_path / "x.mroi").read_bytes()).array, volume)


def test_an_explicit_bound_is_obeyed_without_roi(tmp_path, capsys):
    image = np.random.default_rng(1).integers(0, 255, (40, 48)).astype(np.uint8)
    write_image(MedicalImage(image, "png", {}), tmp_path / "a.png")
    assert main(["compress", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.mroi"), "--nroi-max-error", "3"]) == 0
    assert "the whole image within 3" in capsys.readouterr().err
    info = api.file_info(tmp_path / "a.mroi")
    assert (info["roi_rule"], info["nroi_max_error"]) == ("no-roi-bound", 3)
    assert main(["decompress", str(tmp_path / "a.mroi"), "-o", str(tmp_path / "b.png")]) == 0
    error = np.abs(_pixels(tmp_path / "b.png").astype(int) - image)
    assert 0 < error.max() <= 3


def test_roi_auto_on_an_input_no_model_fits_is_refused(tmp_path, capsys):
    src = require_data("xray", "images", "mhh_19a01707.png")
    assert main(["compress", str(src), "-o", str(tmp_path / "x.mroi"), "--roi", "auto"]) == 1
    err = capsys.readouterr().err
    assert "no shipped model fits" in err and "--model" in err and not (tmp_path / "x.mroi").exists()


# --------------------------------------------------------------------------- rule 3: label files


def _label_tree(root: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(2)
    image = rng.integers(0, 4000, (48, 64)).astype(np.uint16)
    labels = np.zeros((48, 64), np.uint8)
    labels[10:30, 5:25], labels[12:40, 35:60] = 1, 2
    blocks = np.kron(rng.integers(0, 3, (6, 8)), np.ones((8, 8), int)).astype(np.uint8) * 3  # 0, 3, 6
    volume_labels = np.zeros((32, 32, 6), np.uint8)
    volume_labels[4:20, 8:30, 1:5] = 7
    files = {
        "study/scan.png": image,
        "study/scan_lungs.png": labels,        # a label by name, not paired by the default pattern
        "study/study7.png": blocks,            # a label by content only
        "study/paired.png": image[::-1].copy(),
        "study/paired_mask.png": labels[::-1].copy(),
    }
    for rel, array in files.items():
        write_image(MedicalImage(array, "png", {}), root / rel)
    (root / "vol").mkdir(parents=True)
    nib.save(nib.Nifti1Image(volume_labels, np.eye(4)), root / "vol" / "organs_gt.nii.gz")
    files["vol/organs_gt.nii.gz"] = volume_labels
    Image.fromarray((image >> 4).astype(np.uint8)).save(root / "study" / "photo.jpg", quality=90)
    _dicom(root / "dcm" / "IM0001", rng.integers(0, 4000, (16, 20)).astype(np.uint16), modality="CT")  # a series
    _dicom(root / "IM0002", rng.integers(0, 4000, (16, 20)).astype(np.uint16), modality="CT")  # a file
    return root, files


def test_label_files_in_a_tree_come_back_bit_identical(tmp_path):
    tree, files = _label_tree(tmp_path / "tree")
    out, back = tmp_path / "out", tmp_path / "back"
    # even with a lossy bound asked for, every label file stays exact
    summary = batch.compress_tree(tree, out, nroi_max_error=4, workers=1, progress=False)
    assert summary["failed"] == 0
    with open(out / "manifest.csv", newline="") as handle:
        rows = {r["input"]: r for r in csv.DictReader(handle)}
    for rel, reason in (("study/scan_lungs.png", "lungs"), ("study/study7.png", "distinct values"),
                        ("study/paired_mask.png", "paired mask"), ("vol/organs_gt.nii.gz", "gt")):
        assert rows[rel]["role"] == "label" and rows[rel]["taken_as"].startswith("label, lossless"), rows[rel]
        assert reason in rows[rel]["taken_as"] and rows[rel]["nroi_max_error"] == "0"
    assert rows["study/scan.png"]["role"] == "image" and rows["study/scan.png"]["nroi_max_error"] == "4"
    assert rows["study/paired.png"]["mask"] == "study/paired_mask.png"
    assert "decoded pixels" in rows["study/photo.jpg"]["note"]
    assert batch.decompress_tree(out, back, workers=1, progress=False)["failed"] == 0
    for rel, array in files.items():
        if rel == "study/scan.png" or rel == "study/paired.png":
            continue
        restored = _pixels(back / rel)
        assert restored.dtype == array.dtype, rel
        np.testing.assert_array_equal(restored, array, err_msg=rel)
    assert np.abs(_pixels(back / "study/scan.png").astype(int) - files["study/scan.png"]).max() <= 4
    # names and extensions kept; JPEG comes back as PNG and the manifest says why
    assert (back / "dcm" / "IM0001").is_file() and _pixels(back / "dcm").shape == (16, 20, 1)
    assert (back / "IM0002").is_file() and _pixels(back / "IM0002").shape == (16, 20)
    assert (back / "study" / "photo.png").is_file()
    document = json.loads((back / "manifest.json").read_text(), parse_constant=_refuse_constant)
    json.loads((out / "manifest.json").read_text(), parse_constant=_refuse_constant)
    notes = {r["input"]: r["note"] for r in document["files"]}
    assert "PNG" in notes["study/photo.jpg.mroi"] and notes["IM0002.mroi"] is None
    # a rerun skips everything, labels found by content included
    again = batch.compress_tree(tree, out, nroi_max_error=4, workers=1, progress=False)
    assert (again["ok"], again["skipped"]) == (0, len(rows))


# --------------------------------------------------------------------------- colour


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "LA"])
def test_colour_comes_back_exactly(tmp_path, mode):
    rng = np.random.default_rng(3)
    rgb = np.clip(np.add.outer(np.arange(30), np.arange(36))[..., None] * [2, 3, 5] + rng.integers(0, 9, (30, 36, 3)),
                  0, 255).astype(np.uint8)
    if mode == "RGBA":
        pil = Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (30, 36)).astype(np.uint8)]))
    elif mode == "LA":
        pil = Image.fromarray(np.dstack([rgb[..., 0], rng.integers(0, 256, (30, 36)).astype(np.uint8)]))
    else:
        pil = Image.fromarray(rgb)
        if mode == "P":
            pil = pil.quantize(64)
    pil.save(tmp_path / "c.png")
    expected = np.asarray(pil.convert("RGB") if mode == "P" else pil)
    assert main(["compress", str(tmp_path / "c.png"), "-o", str(tmp_path / "c.mroi")]) == 0
    assert main(["decompress", str(tmp_path / "c.mroi"), "-o", str(tmp_path / "back.png")]) == 0
    with Image.open(tmp_path / "back.png") as back:
        # a palette PNG smaller than its coded pixels is kept byte-exact: compare its colours
        np.testing.assert_array_equal(np.asarray(back.convert("RGB") if mode == "P" else back), expected)


def test_colour_bounds_hold_per_channel_and_roi_covers_all_channels(tmp_path):
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (32, 40, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    mask = np.zeros((32, 40), np.uint8)
    mask[5:20, 10:30] = 1
    Image.fromarray(mask).save(tmp_path / "m.png")
    assert main(["compress", str(tmp_path / "c.png"), "-o", str(tmp_path / "c.mroi"), "--roi-mask",
                 str(tmp_path / "m.png"), "--nroi-max-error", "5"]) == 0
    assert main(["decompress", str(tmp_path / "c.mroi"), "-o", str(tmp_path / "b.png")]) == 0
    error = np.abs(np.asarray(Image.open(tmp_path / "b.png")).astype(int) - rgb)
    assert error[mask == 1].max() == 0 and 0 < error[mask == 0].max() <= 5


def test_colour_dicom_and_colour_with_a_model_are_refused(tmp_path, capsys):
    src = _dicom(tmp_path / "us.dcm", np.random.default_rng(5).integers(0, 255, (8, 10, 3)).astype(np.uint8),
                 colour=True, modality="US")
    assert main(["compress", str(src), "-o", str(tmp_path / "us.mroi")]) == 1
    err = capsys.readouterr().err.strip()
    assert "colour DICOM" in err and len(err.splitlines()) == 1 and not (tmp_path / "us.mroi").exists()
    Image.fromarray(np.random.default_rng(6).integers(0, 255, (16, 16, 3)).astype(np.uint8)).save(tmp_path / "c.png")
    assert main(["compress", str(tmp_path / "c.png"), "-o", str(tmp_path / "c.mroi"), "--model",
                 "xray_roi_compression"]) == 1
    assert "single-channel" in capsys.readouterr().err
    tifffile = pytest.importorskip("tifffile")  # Pillow reads 16-bit colour TIFF as 8 bits: refused

    tifffile.imwrite(tmp_path / "c16.tif", np.full((4, 5, 3), 4097, np.uint16), photometric="rgb")
    assert main(["compress", str(tmp_path / "c16.tif"), "-o", str(tmp_path / "c16.mroi")]) == 1
    assert "more than 8 bits" in capsys.readouterr().err


# --------------------------------------------------------------------------- DICOM output


def _validator_errors(path: Path) -> int | None:
    """Errors the dciodvfy validator (Debian dicom3tools) reports, or None where it is not installed."""
    if not shutil.which("dciodvfy"):
        return None
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return sum(line.startswith("Error") for line in (run.stdout + run.stderr).splitlines())


def _series(folder: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p) for p in sorted(folder.iterdir())]


def test_lossy_dicom_output_is_a_new_derived_series_lossless_keeps_uids(tmp_path):
    src = require_data("more", "fodicom", "abd1_mr")
    original = {ds.SOPInstanceUID: ds for ds in _series(src)}
    source_series = next(iter(original.values())).SeriesInstanceUID
    assert main(["compress", str(src), "-o", str(tmp_path / "lossy.mroi"), "--nroi-max-error", "2"]) == 0
    assert main(["decompress", str(tmp_path / "lossy.mroi"), "-o", str(tmp_path / "lossy"),
                 "--mask-out", str(tmp_path / "mask")]) == 0
    written = _series(tmp_path / "lossy")
    assert len(written) == len(original)
    assert len({ds.SeriesInstanceUID for ds in written}) == 1 and written[0].SeriesInstanceUID != source_series
    assert not {ds.SOPInstanceUID for ds in written} & set(original)
    assert len({ds.SOPInstanceUID for ds in written}) == len(written)
    for ds in written:
        assert ds.ImageType[0] == "DERIVED" and ds.LossyImageCompression == "01"
        assert ds.LossyImageCompressionMethod == "MEDROI" and float(ds.LossyImageCompressionRatio) > 1
        assert "max error 2" in ds.DerivationDescription
        assert ds.DerivationCodeSequence[-1].CodeValue == "113040"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    masks = _series(tmp_path / "mask")  # --mask-out: uint8 labels in the input's format
    assert all(m.BitsAllocated == 8 and m.pixel_array.dtype == np.uint8 for m in masks)
    assert len({m.SeriesInstanceUID for m in masks}) == 1 and masks[0].SeriesInstanceUID != source_series
    first = sorted(src.iterdir())[0].name
    if _validator_errors(src / first) is not None:  # no more validator errors than the input has
        assert _validator_errors(tmp_path / "lossy" / first) <= _validator_errors(src / first)
        assert _validator_errors(tmp_path / "mask" / first) <= _validator_errors(src / first)
    assert main(["compress", str(src), "-o", str(tmp_path / "exact.mroi")]) == 0
    assert main(["decompress", str(tmp_path / "exact.mroi"), "-o", str(tmp_path / "exact")]) == 0
    for ds in _series(tmp_path / "exact"):
        before = original[ds.SOPInstanceUID]  # the same SOP Instance UIDs
        assert ds.SeriesInstanceUID == source_series and ds.LossyImageCompression == "00"
        assert list(ds.ImageType) == list(before.ImageType)
        np.testing.assert_array_equal(ds.pixel_array, before.pixel_array)


def test_already_lossy_jpeg2000_keeps_its_history(tmp_path, capsys):
    src = require_data("dicom", "pydicom_data_singles", "RG1_J2KI.dcm")
    before = pydicom.dcmread(src, stop_before_pixels=True)
    assert main(["compress", str(src), "-o", str(tmp_path / "x.mroi"), "--roi", "none",
                 "--nroi-max-error", "256", "--json"]) == 0
    # a bound large enough that coding beats keeping the (already lossy, ~10:1) J2K file itself
    assert json.loads(capsys.readouterr().out)["stored"] == "pixels"
    assert main(["decompress", str(tmp_path / "x.mroi"), "-o", str(tmp_path / "x.dcm")]) == 0
    after = pydicom.dcmread(tmp_path / "x.dcm", stop_before_pixels=True)
    assert list(after.LossyImageCompressionMethod) == ["ISO_15444_1", "MEDROI"]
    ratios = [float(r) for r in after.LossyImageCompressionRatio]
    assert len(ratios) == 2 and ratios[0] == float(before.LossyImageCompressionRatio)
    assert after.SeriesInstanceUID != before.SeriesInstanceUID and after.SOPInstanceUID != before.SOPInstanceUID
    assert after.ImageType[0] == "DERIVED"
    if _validator_errors(src) is not None:  # no more validator errors than the input had
        assert _validator_errors(tmp_path / "x.dcm") <= _validator_errors(src)


def test_mask_out_is_uint8_nifti_with_the_image_geometry(tmp_path):
    src = require_data("more", "totalsegmentator", "example_mr_sm.nii.gz")
    image = read_image(src)
    mask = np.zeros(image.shape, np.uint8)
    mask[20:60, 30:70, 5:15] = 1
    nib.save(nib.Nifti1Image(mask, nib.load(src).affine), tmp_path / "m.nii.gz")
    assert main(["compress", str(src), "-o", str(tmp_path / "x.mroi"), "--roi-mask", str(tmp_path / "m.nii.gz")]) == 0
    assert main(["decompress", str(tmp_path / "x.mroi"), "-o", str(tmp_path / "x.nii.gz"),
                 "--mask-out", str(tmp_path / "roi.nii.gz")]) == 0
    out = nib.load(tmp_path / "roi.nii.gz")
    assert out.get_data_dtype() == np.uint8
    np.testing.assert_allclose(out.affine, nib.load(src).affine, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(out.dataobj), mask)


# --------------------------------------------------------------------------- rough edges


def test_python_dash_m_medroi_works_like_medroi(tmp_path):
    assert _cli("--help").returncode == 0
    image = np.arange(48, dtype=np.uint8).reshape(6, 8)
    write_image(MedicalImage(image, "png", {}), tmp_path / "a.png")
    run = _cli("compress", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.mroi"), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["roi_rule"] == "no-roi-lossless"


def test_debug_after_the_subcommand(tmp_path, capsys):
    bad = tmp_path / "bad.mroi"
    bad.write_bytes(b"not a medroi file")
    assert main(["info", str(bad)]) == 1
    for argv in (["--debug", "info", str(bad)], ["info", str(bad), "--debug"]):
        with pytest.raises(Exception):
            main(argv)
    capsys.readouterr()


def test_internal_errors_say_rerun_with_debug(tmp_path, monkeypatch, capsys):
    def boom(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(api, "file_info", boom)
    assert main(["info", str(tmp_path / "x.mroi")]) == 2
    assert "rerun with --debug" in capsys.readouterr().err
    with pytest.raises(RuntimeError):
        main(["info", str(tmp_path / "x.mroi"), "--debug"])


def test_roi_labels_absent_from_the_mask_are_an_error(tmp_path, capsys):
    image = np.random.default_rng(7).integers(0, 255, (20, 24)).astype(np.uint8)
    mask = np.zeros_like(image)
    mask[5:10, 5:10] = 1
    write_image(MedicalImage(image, "png", {}), tmp_path / "a.png")
    write_image(MedicalImage(mask, "png", {}), tmp_path / "m.png")
    assert main(["compress", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.mroi"), "--roi-mask",
                 str(tmp_path / "m.png"), "--roi-labels", "2,4"]) == 1
    err = capsys.readouterr().err.strip()
    assert "none of labels 2, 4" in err and "0, 1" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "a.mroi").exists()


def test_bad_bounds_are_one_line_and_none_says_what_to_add(tmp_path, capsys):
    image = np.zeros((8, 8), np.uint8)
    write_image(MedicalImage(image, "png", {}), tmp_path / "a.png")
    run = _cli("compress", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.mroi"), "--nroi-max-error", "-1")
    assert run.returncode == 2 and "usage:" not in run.stderr
    assert run.stderr.startswith("medroi: error:") and "bound" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert main(["compress", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.mroi"), "--nroi-max-error",
                 "none"]) == 1
    assert "--predictor network" in capsys.readouterr().err


def test_unwritable_output_names_the_users_path(tmp_path, capsys, monkeypatch):
    image = np.zeros((8, 8), np.uint8)
    write_image(MedicalImage(image, "png", {}), tmp_path / "a.png")
    (tmp_path / "file").write_text("a file, not a folder")
    target = tmp_path / "file" / "out" / "a.mroi"
    assert main(["compress", str(tmp_path / "a.png"), "-o", str(target)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("medroi: error: cannot write") and str(target) in err and ".tmp" not in err
    assert main(["compress", str(tmp_path), "-o", str(tmp_path / "file" / "tree")]) == 1  # directory mode
    assert "cannot write" in capsys.readouterr().err
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".a.mroi.k2j4h5g6.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(OutputNotWritableError, match="Permission denied") as caught:
        api.compress_file(tmp_path / "a.png", tmp_path / "b.mroi")
    assert str(tmp_path / "b.mroi") in str(caught.value) and ".tmp" not in str(caught.value)


def test_existing_output_is_refused_before_any_network_runs(tmp_path, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise AssertionError("a network was loaded before the output check")

    monkeypatch.setattr(api, "load_network", no_network)
    src = require_data("brats", "Brats18_2013_11_1", "Brats18_2013_11_1_flair.nii.gz")
    (tmp_path / "x.mroi").write_bytes(b"precious")
    assert main(["compress", str(src), "-o", str(tmp_path / "x.mroi"), "--roi", "auto"]) == 1
    assert "--force" in capsys.readouterr().err
    image = np.zeros((8, 8), np.uint8)
    write_image(MedicalImage(image, "png", {}), tmp_path / "a.png")
    assert main(["compress", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.mroi")]) == 0
    (tmp_path / "p.png").write_bytes(b"precious")
    from medroi import codec

    monkeypatch.setattr(codec, "decompress", no_network)
    assert main(["preview", str(tmp_path / "a.mroi"), "-o", str(tmp_path / "p.png")]) == 1
    assert "--force" in capsys.readouterr().err and (tmp_path / "p.png").read_bytes() == b"precious"


def test_errors_are_the_only_line_on_stderr(tmp_path):
    image = np.zeros((8, 8), np.uint8)
    write_image(MedicalImage(image, "png", {}), tmp_path / "a.png")
    write_image(MedicalImage(np.ones((9, 8), np.uint8), "png", {}), tmp_path / "m.png")
    run = _cli("compress", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.mroi"), "--roi-mask",
               str(tmp_path / "m.png"))
    assert run.returncode == 1 and run.stderr.startswith("medroi: error:")
    assert len(run.stderr.strip().splitlines()) == 1


def test_json_output_is_strict_with_nulls_for_infinity(tmp_path, capsys):
    image = np.random.default_rng(8).integers(0, 255, (16, 16)).astype(np.uint8)
    write_image(MedicalImage(image, "png", {}), tmp_path / "a.png")
    write_image(MedicalImage(image, "png", {}), tmp_path / "b.png")
    assert main(["evaluate", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--json"]) == 0
    text = capsys.readouterr().out
    report = json.loads(text, parse_constant=_refuse_constant)
    assert report["psnr"] is None and "identical" in report["nulls"]["psnr"]
    assert '"inf"' not in text and isinstance(report["max_error"], int)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_batch_lists_every_finished_file(tmp_path, signum):
    rng = np.random.default_rng(9)
    tree = tmp_path / "tree"
    # enough work (about 10 s on 2 quiet cores) that a loaded machine cannot finish the whole
    # tree between the first output appearing and the signal being sent
    for i in range(48):
        write_image(MedicalImage(rng.integers(0, 60000, (640, 640)).astype(np.uint16), "png", {}),
                    tree / f"im{i:02d}.png")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen([sys.executable, "-m", "medroi", "compress", str(tree), "-o", str(out),
                                "--workers", "2", "--nroi-max-error", "2"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env,
                               # as from a terminal: a shell script's background job (CI) inherits SIGINT ignored
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not list(out.glob("*.mroi")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the batch finished before it could be interrupted"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    finished = {p.name[: -len(".mroi")] for p in out.glob("*.mroi")}
    with open(out / "manifest.csv", newline="") as handle:
        listed = {r["input"] for r in csv.DictReader(handle) if r["status"] == "ok"}
    assert finished and finished == listed and len(finished) < 48
    assert not list(out.glob(".*.tmp*"))


def test_directory_mode_keeps_names_and_extensions(tmp_path):
    image = np.random.default_rng(10).integers(0, 255, (12, 14)).astype(np.uint8)
    tree = tmp_path / "tree"
    names = ["a.png", "b.TIF", "c.tiff", "d.nii", "e.nii.gz"]
    for name in names:
        write_image(MedicalImage(image if "nii" not in name else image[..., None].repeat(2, -1), "png", {}),
                    tree / name)
    assert batch.compress_tree(tree, tmp_path / "out", workers=1, progress=False)["failed"] == 0
    assert batch.decompress_tree(tmp_path / "out", tmp_path / "back", workers=1, progress=False)["failed"] == 0
    assert sorted(p.name for p in (tmp_path / "back").iterdir() if not p.name.startswith(("manifest", "."))) \
        == sorted(names)


def test_label_name_rules():
    from medroi.labels import label_content_reason, label_name_reason

    for name in ("x_lungs.png", "case_seg.nii.gz", "a-mask.tif", "labels_v2.png", "masks/x.png", "ct_gt.nii"):
        assert label_name_reason(name), name
    for name in ("lung_ct.nii.gz", "chest.png", "Brats18_2013_11_1_flair.nii.gz", "IM0001"):
        assert label_name_reason(name) is None, name
    rng = np.random.default_rng(11)
    assert label_content_reason(rng.integers(0, 4000, (32, 32)).astype(np.uint16)) is None
    assert label_content_reason(np.kron(rng.integers(0, 5, (4, 4)), np.ones((8, 8), int)).astype(np.uint8))
    assert label_content_reason(np.zeros((4, 4), np.float32)) is None
    with pytest.raises(InvalidImageError):
        api.compress_file(require_data("xray", "images", "mhh_19a01707.png"), "unused.mroi", roi="bogus")
