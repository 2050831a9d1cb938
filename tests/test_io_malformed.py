"""Malformed inputs to ``compress`` (NIfTI, DICOM, PNG, TIFF, NRRD/MHA): a clear one-line error, never a traceback.

Each file is a small valid image damaged the way archives damage them: truncated, sizes
that disagree with the data, absurd dimensions, random bytes under the right extension.
All cases run in one child process under an address-space limit, so a reader that
allocates what a hostile header declares fails here as a MemoryError instead of taking the
machine's memory.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

MEMORY_LIMIT = 3 << 30


def _nifti(path: Path, array: np.ndarray) -> bytes:
    import nibabel as nib

    nib.save(nib.Nifti1Image(array, np.eye(4)), str(path))
    return path.read_bytes()


def _nifti_header_edit(data: bytes, **fields) -> bytes:
    import nibabel as nib

    header = nib.Nifti1Header.from_fileobj(__import__("io").BytesIO(data[:348]), check=False)
    for name, value in fields.items():
        header.structarr[name] = value
    return header.binaryblock + data[348:]


def _dicom(path: Path, rows: int = 8, cols: int = 8, **overrides) -> bytes:
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = "1.2.3.4"
    ds.Modality, ds.Rows, ds.Columns = "CT", rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 30).tobytes()
    for name, value in overrides.items():
        if value is None:
            delattr(ds, name)
        else:
            setattr(ds, name, value)
    ds.save_as(str(path), enforce_file_format=True)
    return path.read_bytes()


def _png_chunks(data: bytes, ihdr_size: tuple[int, int]) -> bytes:
    """PNG with its IHDR width/height replaced (IHDR CRC recomputed)."""
    ihdr = data[12:29]
    body = ihdr[4:8] + struct.pack(">II", *ihdr_size) + ihdr[12:]
    return data[:16] + struct.pack(">II", *ihdr_size) + data[24:29] + struct.pack(">I", zlib.crc32(body)) + data[33:]


def make_cases(folder: Path) -> dict[str, str]:
    """Write every malformed input into ``folder``; returns {case name: path}."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    cases: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        path = folder / name
        if path.suffix == "" and name.endswith("_dir"):
            path.mkdir()
        else:
            path.write_bytes(data)
        cases[path.stem.replace(".nii", "")] = path

    volume = (np.arange(8 * 8 * 4).reshape(8, 8, 4) * 7).astype(np.int16)
    nii = _nifti(folder / "ok.nii", volume)
    (folder / "ok.nii").unlink()
    put("nifti_truncated.nii", nii[: len(nii) - 100])
    put("nifti_header_only.nii", nii[:348])
    put("nifti_gz_truncated.nii.gz", gzip.compress(nii)[:200])
    put("nifti_gz_garbage.nii.gz", b"\x1f\x8b" + rng.bytes(500))
    put("nifti_absurd_dims.nii", _nifti_header_edit(nii, dim=[3, 32767, 32767, 32767, 1, 1, 1, 1]))
    put("nifti_negative_dims.nii", _nifti_header_edit(nii, dim=[3, -8, 8, 4, 1, 1, 1, 1]))
    put("nifti_zero_ndim.nii", _nifti_header_edit(nii, dim=[0, 8, 8, 4, 1, 1, 1, 1]))
    put("nifti_7d.nii", _nifti_header_edit(nii, dim=[7, 8, 8, 4, 2, 2, 2, 2]))
    put("nifti_bad_datatype.nii", _nifti_header_edit(nii, datatype=1234, bitpix=16))
    put("nifti_offset_past_end.nii", _nifti_header_edit(nii, vox_offset=10**9))
    put("nifti_empty.nii", b"")
    put("nifti_random.nii", rng.bytes(1000))

    dcm = _dicom(folder / "ok.dcm")
    (folder / "ok.dcm").unlink()
    put("dicom_truncated.dcm", dcm[: len(dcm) - 60])
    put("dicom_preamble_only.dcm", dcm[:132])
    put("dicom_random_after_preamble.dcm", dcm[:132] + rng.bytes(600))
    put("dicom_absurd_size.dcm", _dicom(folder / "x.dcm", rows=65535, cols=65535))
    put("dicom_rows_zero.dcm", _dicom(folder / "x.dcm", rows=0, cols=8))
    put("dicom_bits_13.dcm", _dicom(folder / "x.dcm", BitsAllocated=13))
    put("dicom_bits_0.dcm", _dicom(folder / "x.dcm", BitsAllocated=0))
    put("dicom_no_pixels.dcm", _dicom(folder / "x.dcm", PixelData=None))
    put("dicom_samples_0.dcm", _dicom(folder / "x.dcm", SamplesPerPixel=0))
    put("dicom_frames_absurd.dcm", _dicom(folder / "x.dcm", NumberOfFrames=2**30))
    put("dicom_random.dcm", rng.bytes(800))
    series = folder / "dicom_series_mixed_dir"
    series.mkdir()
    _dicom(series / "a.dcm")
    _dicom(series / "b.dcm", rows=4, cols=16)
    (series / "c.dcm").write_bytes(dcm[:300])
    cases["dicom_series_mixed_dir"] = series

    png_path = folder / "ok.png"
    Image.fromarray((np.arange(64).reshape(8, 8) * 3).astype(np.uint8)).save(png_path)
    png = png_path.read_bytes()
    png_path.unlink()
    put("png_truncated.png", png[: len(png) // 2])
    put("png_absurd_size.png", _png_chunks(png, (2**31 - 1, 2**31 - 1)))
    put("png_large_size.png", _png_chunks(png, (30000, 30000)))
    put("png_bad_crc.png", png[:30] + bytes([png[30] ^ 0xFF]) + png[31:])
    put("png_signature_only.png", png[:8])
    put("png_random.png", rng.bytes(700))

    tif_path = folder / "ok.tif"
    Image.fromarray((np.arange(64).reshape(8, 8) * 900).astype(np.uint16)).save(tif_path)
    tif = tif_path.read_bytes()
    tif_path.unlink()
    put("tiff_truncated.tif", tif[: len(tif) - 40])
    put("tiff_header_only.tif", tif[:8])
    put("tiff_bad_ifd_offset.tif", tif[:4] + struct.pack("<I", 10**9) + tif[8:])
    put("tiff_random.tif", b"II*\x00" + rng.bytes(600))

    put("nrrd_truncated.nrrd", b"NRRD0004\ntype: short\ndimension: 3\nsizes: 64 64 64\nencoding: raw\n\n" + b"\0" * 100)
    put("nrrd_absurd.nrrd", b"NRRD0004\ntype: short\ndimension: 3\nsizes: 99999 99999 99999\nencoding: raw\n\n")
    put("mha_truncated.mha", b"ObjectType = Image\nNDims = 3\nDimSize = 64 64 64\nElementType = MET_SHORT\n"
                             b"ElementDataFile = LOCAL\n" + b"\0" * 100)
    return {name: str(path) for name, path in sorted(cases.items())}


_CHILD = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, resource.getrlimit(resource.RLIMIT_AS)[1]))
from medroi.cli import main
import io, contextlib
results = {{}}
for name, path in json.loads(sys.argv[1]).items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["compress", path, "-o", path + ".mroi", "--roi", "none", "--force", "--json"])
        except BaseException as error:  # SystemExit from argparse, or anything escaping main
            code = f"raised {{type(error).__name__}}: {{error}}"
    results[name] = {{"code": code, "stderr": err.getvalue()}}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("malformed")
    cases = make_cases(folder)
    run = subprocess.run([sys.executable, "-c", _CHILD.format(limit=MEMORY_LIMIT), json.dumps(cases)],
                         capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)



def _case_names() -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return list(make_cases(Path(tmp) / "c"))


@pytest.mark.parametrize("name", _case_names())
def test_malformed_input_gives_one_line_error(outcomes, name):
    result = outcomes[name]
    lines = result["stderr"].strip().splitlines()
    assert result["code"] == 1, result
    assert len(lines) == 1 and lines[0].startswith("medroi: error: "), result
    assert "internal error" not in lines[0] and "Traceback" not in result["stderr"]
