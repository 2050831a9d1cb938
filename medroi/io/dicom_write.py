"""DICOM output: every element of the source restored, raw pixels as Explicit VR Little Endian."""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import DSfloat

from medroi.errors import InvalidImageError, UnsupportedFormatError
from medroi.fsutil import atomic_output, atomic_write_bytes
from medroi.io.dicom import resolve_ambiguous_vr
from medroi.io.formats import format_from_extension
from medroi.io.image import MedicalImage

_DTYPES = {  # (Bits Allocated, Pixel Representation) -> dtype
    (8, 0): np.uint8, (8, 1): np.int8, (16, 0): np.uint16, (16, 1): np.int16, (32, 0): np.uint32, (32, 1): np.int32,
}
_CS = re.compile(r"^[A-Z0-9 _]{1,16}$")
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
MULTIFRAME_SC = {8: "1.2.840.10008.5.1.4.1.1.7.2", 16: "1.2.840.10008.5.1.4.1.1.7.3"}


def _stored_range(ds: pydicom.Dataset) -> tuple[int, int]:
    bits = int(ds.get("BitsStored", ds.BitsAllocated))
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _pixel_bytes(ds: pydicom.Dataset, pixels: np.ndarray, where: str) -> bytes:
    """Check shape and value range against the header; return little-endian pixel bytes."""
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    expected = (int(ds.Rows), int(ds.Columns)) + ((frames,) if frames > 1 else ())
    if tuple(pixels.shape) != expected:
        raise InvalidImageError(f"{where}: array shape {tuple(pixels.shape)} does not match the source's {expected}")
    lo, hi = _stored_range(ds)
    if pixels.size and (pixels.min() < lo or pixels.max() > hi):
        raise InvalidImageError(
            f"{where}: values {pixels.min()}..{pixels.max()} exceed the source's Bits Stored range {lo}..{hi}; "
            "clip the image to that range before writing DICOM"
        )
    if frames > 1:
        pixels = np.moveaxis(pixels, -1, 0)
    bits = int(ds.BitsAllocated)
    if bits == 1:
        return pydicom.pixels.pack_bits(np.ascontiguousarray(pixels, dtype=np.uint8))
    dtype = _DTYPES.get((bits, int(ds.get("PixelRepresentation", 0))))
    if dtype is None:
        raise UnsupportedFormatError(f"{where}: Bits Allocated {bits} is not supported for output")
    data = np.ascontiguousarray(pixels, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
    return data + b"\0" if len(data) % 2 else data


def _validated_lossy(lossy: dict) -> tuple[float, str]:
    try:
        ratio, method = float(lossy["ratio"]), str(lossy["method"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidImageError(f'lossy must be {{"ratio": float, "method": str}}, got {lossy!r}') from exc
    if not _CS.match(method):
        raise InvalidImageError(
            f"lossy method {method!r} is not a DICOM code string: use up to 16 of A-Z, 0-9, space, underscore"
        )
    return ratio, method


def _as_list(value) -> list:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, pydicom.multival.MultiValue) else [value]


#: Lossy Image Compression Method defined terms (PS3.3 C.7.6.1.1.5) of lossy transfer syntaxes.
LOSSY_SYNTAX_METHODS = {
    "1.2.840.10008.1.2.4.50": "ISO_10918_1", "1.2.840.10008.1.2.4.51": "ISO_10918_1",
    "1.2.840.10008.1.2.4.81": "ISO_14495_1", "1.2.840.10008.1.2.4.91": "ISO_15444_1",
    "1.2.840.10008.1.2.4.93": "ISO_15444_1", "1.2.840.10008.1.2.4.203": "ISO_15444_15",
    "1.2.840.10008.1.2.4.112": "ISO_18181_1",
}
LOSSY_CODE = ("113040", "DCM", "Lossy Compression")  # CID 7203 Image Derivation


def _source_is_lossy(ds: pydicom.Dataset) -> bool:
    syntax = str(getattr(ds, "file_meta", pydicom.Dataset()).get("TransferSyntaxUID", ""))
    return ds.get("LossyImageCompression") == "01" or (
        syntax in LOSSY_SYNTAX_METHODS and ds.get("LossyImageCompression") != "00"
    )


def _lossy_history(ds: pydicom.Dataset) -> tuple[list, list]:
    """(ratios, methods) of earlier lossy compressions; the method inferred from the transfer syntax when absent."""
    ratios = _as_list(ds.get("LossyImageCompressionRatio"))
    methods = _as_list(ds.get("LossyImageCompressionMethod"))
    syntax = str(getattr(ds, "file_meta", pydicom.Dataset()).get("TransferSyntaxUID", ""))
    if not methods and syntax in LOSSY_SYNTAX_METHODS:
        methods = [LOSSY_SYNTAX_METHODS[syntax]]
    return ratios, methods


def _mark_lossy(ds: pydicom.Dataset, lossy: dict | None, series_uid: str | None = None) -> None:
    """Lossy Image Compression flags (PS3.3 C.7.6.1.1.5); a lossy result is a new derived image.

    Lossless: "00", or "01" kept when the source was already lossy; UIDs kept. Lossy: "01"
    with this ratio and method appended to any earlier ones, Image Type value 1 DERIVED,
    a Derivation Description and Derivation Code (113040, Lossy Compression), a new SOP
    Instance UID and the new Series Instance UID ``series_uid`` (one per written series).
    """
    source_lossy = _source_is_lossy(ds)
    if lossy is None:
        ds.LossyImageCompression = "01" if source_lossy else "00"
        return
    ratio, method = _validated_lossy(lossy)
    ratios, methods = _lossy_history(ds) if source_lossy else ([], [])
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = [*ratios, DSfloat(ratio, auto_format=True)]
    ds.LossyImageCompressionMethod = [*methods, method]
    image_type = [str(v) for v in _as_list(ds.get("ImageType"))]
    ds.ImageType = ["DERIVED", *(image_type[1:] if image_type else ["SECONDARY"])]
    text = str(lossy.get("description") or f"Lossy compression ({method}), ratio {ratio:g}")
    earlier = str(ds.get("DerivationDescription") or "")
    ds.DerivationDescription = (f"{earlier}; {text}" if earlier else text)[:1024]
    code = pydicom.Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = LOSSY_CODE
    ds.DerivationCodeSequence = [*list(ds.get("DerivationCodeSequence") or []), code]
    uid = generate_uid()
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    if series_uid is not None:
        ds.SeriesInstanceUID = series_uid


def _encode(ds: pydicom.Dataset, pixels: np.ndarray, lossy: dict | None, where: str,
            series_uid: str | None = None) -> bytes:
    _mark_lossy(ds, lossy, series_uid)  # before the transfer syntax changes: it tells a lossy source
    ds.PixelData = _pixel_bytes(ds, pixels, where)
    ds["PixelData"].VR = "OW" if int(ds.BitsAllocated) > 8 else "OB"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    resolve_ambiguous_vr(ds)
    buffer = io.BytesIO()
    try:
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True, implicit_vr=False, little_endian=True)
    except (ValueError, NotImplementedError) as exc:
        raise UnsupportedFormatError(
            f"{where}: cannot re-encode the source header as Explicit VR Little Endian ({exc})"
        ) from exc
    return buffer.getvalue()


def _source_files(image: MedicalImage, where: str, lossy: dict | None) -> list[tuple[str, bytes]]:
    meta = image.metadata
    headers = [pydicom.dcmread(io.BytesIO(base64.b64decode(b))) for b in meta["datasets"]]
    names = list(meta.get("filenames") or [])
    array = np.asarray(image.array)
    if len(headers) == 1:
        single_frame = int(headers[0].get("NumberOfFrames", 1) or 1) == 1
        slices = [array[..., 0] if single_frame and array.ndim == 3 and array.shape[-1] == 1 else array]
    elif array.ndim == 3 and array.shape[-1] == len(headers):
        slices = [array[..., i] for i in range(len(headers))]
    else:
        raise InvalidImageError(
            f"{where}: array shape {array.shape} does not match the source series of {len(headers)} slices"
        )
    series_uid = generate_uid() if lossy is not None else None  # one new series for all its slices
    return [(_file_name(names, i), _encode(ds, s, lossy, where, series_uid))
            for i, (ds, s) in enumerate(zip(headers, slices))]


def _file_name(names: list[str], index: int) -> str:
    name = Path(names[index]).name if index < len(names) else ""
    return name if name and name not in (".", "..") and names.count(names[index]) == 1 else f"{index + 1:04d}.dcm"


#: Elements that describe stored values other than 0/1 labels; dropped from a mask's headers.
_VALUE_ELEMENTS = ("RescaleSlope", "RescaleIntercept", "RescaleType", "WindowCenter", "WindowWidth",
                   "WindowCenterWidthExplanation", "SmallestImagePixelValue", "LargestImagePixelValue",
                   "ModalityLUTSequence", "VOILUTSequence", "PixelPaddingValue", "RedPaletteColorLookupTableData",
                   "LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod")


def mask_datasets(datasets: list[str]) -> list[str]:
    """Base64 headers of an image series -> headers of its ROI mask: 8-bit unsigned MONOCHROME2
    Secondary Capture, Image Type DERIVED\\SECONDARY, one new Series Instance UID, new SOP Instance UIDs."""
    series_uid = generate_uid()
    out = []
    for data in datasets:
        ds = pydicom.dcmread(io.BytesIO(base64.b64decode(data)))
        for name in _VALUE_ELEMENTS:
            if name in ds:
                delattr(ds, name)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.ImageType = ["DERIVED", "SECONDARY"]
        # 8-bit labels are not a valid CT/MR image: the mask is a Secondary Capture of the same geometry
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        ds.SOPClassUID = MULTIFRAME_SC[8] if frames > 1 else SECONDARY_CAPTURE
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.ConversionType = "WSD"
        if "PatientOrientation" not in ds:  # General Image, Type 2C where no Image Orientation is required
            ds.PatientOrientation = ""
        ds.SeriesDescription = "ROI mask (medroi): 1 = ROI, 0 = elsewhere"
        ds.DerivationDescription = "ROI mask used by medroi compression"
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian  # the mask is exact, whatever the source was
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        out.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return out


def _generic_dataset(array: np.ndarray, meta: dict, series_uid: str, study_uid: str, number: int) -> pydicom.Dataset:
    bits = array.dtype.itemsize * 8
    if array.dtype.kind not in "iu" or bits not in (8, 16):
        raise InvalidImageError(
            f"cannot write {array.dtype} pixels as DICOM Secondary Capture (8 or 16 bits); write NIfTI instead"
        )
    multiframe = array.ndim == 3
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = MULTIFRAME_SC[bits] if multiframe else SECONDARY_CAPTURE
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.PatientName, ds.PatientID, ds.Modality, ds.ConversionType = "", "", "OT", "WSD"
    ds.InstanceNumber = number
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = int(array.shape[0]), int(array.shape[1])
    if multiframe:
        ds.NumberOfFrames = int(array.shape[2])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = 1 if array.dtype.kind == "i" else 0
    spacing = meta.get("spacing")
    if spacing and len(spacing) >= 2:
        ds.PixelSpacing = [DSfloat(spacing[0], auto_format=True), DSfloat(spacing[1], auto_format=True)]
    return ds


def _generic_files(image: MedicalImage, folder: bool, where: str, lossy: dict | None) -> list[tuple[str, bytes]]:
    array = np.asarray(image.array)
    if array.ndim not in (2, 3):
        raise InvalidImageError(f"{where}: cannot write a {array.ndim}D array as DICOM")
    series, study = generate_uid(), generate_uid()
    if folder and array.ndim == 3:
        parts = [array[..., i] for i in range(array.shape[-1])]
    else:
        parts = [array]
    files = []
    for i, part in enumerate(parts):
        ds = _generic_dataset(part, image.metadata, series, study, i + 1)
        files.append((f"{i + 1:04d}.dcm", _encode(ds, part, lossy, where)))
    return files


def write_dicom(
    image: MedicalImage, path: str | os.PathLike, *, force: bool = False, lossy: dict | None = None,
    folder: bool | None = None,
) -> Path:
    """Write a .dcm file, or a folder of slices when ``path`` has no DICOM extension.

    From a DICOM source every element is restored except Pixel Data, the transfer syntax
    (now Explicit VR Little Endian) and the lossy flags (``lossy=None``: "00" unless the
    source was already lossy; ``{"ratio", "method"}``: "01" and a new SOP Instance UID).
    """
    path = Path(path)
    if folder is None:  # by extension: .dcm (and the other DICOM extensions) is one file
        folder = format_from_extension(path) != "dicom"
    where = str(path)
    if image.format in ("dicom", "dicom-series") and image.metadata.get("datasets"):
        files = _source_files(image, where, lossy)
    else:
        files = _generic_files(image, folder, where, lossy)
    if not folder:
        if len(files) != 1:
            raise InvalidImageError(
                f"{where}: a series of {len(files)} slices is written to a folder; give a path without .dcm"
            )
        return atomic_write_bytes(path, files[0][1], force)
    with atomic_output(path, force, directory=True) as tmp:
        for name, data in files:
            (tmp / name).write_bytes(data)
    return path
