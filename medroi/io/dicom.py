"""DICOM input via pydicom: one file (single or multi-frame) or a folder holding one series.

Pixels are the raw stored values (``ds.pixel_array``): no Rescale Slope/Intercept, no
MONOCHROME1 inversion; both are recorded in the metadata (see ``display_values``).
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from medroi.errors import InvalidImageError, UnsupportedFormatError
from medroi.io.formats import dicom_files_in, format_from_extension, has_dicm_preamble, looks_like_raw_dicom
from medroi.io.image import MedicalImage
from medroi.io.numeric import check_not_empty

_NON_INTEGER_PIXELS = ("FloatPixelData", "DoubleFloatPixelData")


def _floats(value) -> list[float] | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return [float(v) for v in value]
    return [float(value)]


def _scalar(value, kind=float):
    return None if value is None or value == "" else kind(value)


def _raw_dicom(path: Path) -> bool:
    """A file without extension that starts like a DICOM data set with no preamble."""
    if format_from_extension(path) is not None:
        return False
    with open(path, "rb") as handle:
        return looks_like_raw_dicom(handle.read(8))


#: JPEG lossless (processes 14 and 14 SV1): decoded with imagecodecs when pydicom has no plugin.
_LJPEG_SYNTAXES = ("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70")


def _ljpeg_pixels(ds: pydicom.Dataset) -> np.ndarray:
    """Stored values of a JPEG-lossless data set, (frames, rows, cols) or (rows, cols)."""
    import imagecodecs
    from pydicom.encaps import generate_frames

    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    frames = [np.asarray(imagecodecs.ljpeg_decode(f)) for f in generate_frames(ds.PixelData, number_of_frames=n_frames)]
    rows, cols = int(ds.Rows), int(ds.Columns)
    if len(frames) != n_frames or any(f.shape != (rows, cols) for f in frames):
        raise ValueError(f"decoded {len(frames)} frame(s) of {frames[0].shape if frames else None}, "
                         f"the header says {n_frames} of {(rows, cols)}")
    bits = int(ds.get("BitsStored", ds.BitsAllocated))
    array = np.stack(frames).astype(np.int64) & ((1 << bits) - 1)
    if int(ds.get("PixelRepresentation", 0)) == 1:  # two's complement in `bits` bits
        array = np.where(array >= 1 << (bits - 1), array - (1 << bits), array)
    dtype = np.dtype(f"{'i' if int(ds.get('PixelRepresentation', 0)) else 'u'}{int(ds.BitsAllocated) // 8}")
    array = array.astype(dtype)
    return array if n_frames > 1 else array[0]


def dcmread_checked(path: Path) -> pydicom.Dataset:
    """Read a DICOM file with its pixel data, turning every pydicom failure into a MedroiError."""
    try:
        try:
            ds = pydicom.dcmread(str(path))
        except InvalidDicomError:
            if has_dicm_preamble(path) or not (format_from_extension(path) == "dicom" or _raw_dicom(path)):
                raise
            ds = pydicom.dcmread(str(path), force=True)  # a .dcm without the Part 10 preamble
    except Exception as exc:
        raise InvalidImageError(f"{path}: not a readable DICOM file ({exc}); check the file or re-export it") from exc
    if any(name in ds for name in _NON_INTEGER_PIXELS):
        raise UnsupportedFormatError(f"{path}: float pixel data is not supported; convert it to integer pixels")
    if "PixelData" not in ds:
        raise InvalidImageError(f"{path}: the DICOM object holds no image (no Pixel Data); pass an image file")
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):  # no file meta: take the encoding read
        implicit, little = ds.original_encoding
        ds.ensure_file_meta()
        ds.file_meta.TransferSyntaxUID = (
            pydicom.uid.ImplicitVRLittleEndian if implicit
            else pydicom.uid.ExplicitVRLittleEndian if little is not False
            else pydicom.uid.ExplicitVRBigEndian
        )
    return ds


def decode_pixels(ds: pydicom.Dataset, path: Path) -> np.ndarray:
    """Stored values as (rows, cols) or (rows, cols, frames) at their native integer dtype."""
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples != 1:
        raise UnsupportedFormatError(
            f"{path}: colour DICOM ({samples} samples per pixel, {ds.get('PhotometricInterpretation')}) is not "
            "supported: medroi codes grayscale DICOM and refuses colour rather than convert it to gray; keep the "
            "original file (or export its frames as PNG, which medroi stores exactly)"
        )
    syntax = getattr(ds, "file_meta", pydicom.Dataset()).get("TransferSyntaxUID")
    try:
        array = ds.pixel_array
    except (NotImplementedError, RuntimeError) as exc:
        name = getattr(syntax, "name", syntax)
        if str(syntax) in _LJPEG_SYNTAXES:
            try:
                array = _ljpeg_pixels(ds)
            except ImportError:
                pass
            except Exception as ljpeg_exc:
                raise InvalidImageError(f"{path}: the JPEG lossless pixel data cannot be decoded ({ljpeg_exc})") from exc
            else:
                return _finish_pixels(ds, array, path)
        raise UnsupportedFormatError(
            f"{path}: cannot decode transfer syntax {name} ({exc}); install a decoder "
            "(pip install pylibjpeg pylibjpeg-openjpeg pylibjpeg-libjpeg) or decompress the file first"
        ) from exc
    except Exception as exc:
        raise InvalidImageError(f"{path}: the pixel data cannot be decoded ({exc}); the file may be damaged") from exc
    return _finish_pixels(ds, array, path)


def _finish_pixels(ds: pydicom.Dataset, array: np.ndarray, path: Path) -> np.ndarray:
    """Native byte order; frames moved to the last axis."""
    if array.dtype.kind not in "iu":
        raise UnsupportedFormatError(f"{path}: pixel type {array.dtype} is not supported")
    if array.dtype.byteorder not in ("=", "|"):
        array = array.astype(array.dtype.newbyteorder("="))
    check_not_empty(array, str(path))
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        array = np.ascontiguousarray(np.moveaxis(array, 0, -1))
    return array


def _complete_lossy_ratio(ds: pydicom.Dataset) -> None:
    """A lossy compressed source without Lossy Image Compression Ratio gets the ratio its
    pixel data shows, so that a later lossy step appends to a complete history."""
    from medroi.io.dicom_write import LOSSY_SYNTAX_METHODS

    syntax = str(getattr(ds, "file_meta", pydicom.Dataset()).get("TransferSyntaxUID", ""))
    if syntax not in LOSSY_SYNTAX_METHODS or ds.get("LossyImageCompression") != "01":
        return
    if ds.get("LossyImageCompressionRatio") not in (None, "") or not ds.get("PixelData"):
        return
    raw = int(ds.Rows) * int(ds.Columns) * int(ds.get("NumberOfFrames", 1) or 1) \
        * int(ds.get("SamplesPerPixel", 1) or 1) * int(ds.BitsAllocated) // 8
    ds.LossyImageCompressionRatio = pydicom.valuerep.DSfloat(round(raw / len(ds.PixelData), 2), auto_format=True)


def resolve_ambiguous_vr(ds: pydicom.Dataset) -> None:
    """Give 'OB or OW' elements that pydicom cannot resolve (e.g. retired Curve Data (50xx,3000)
    of an implicit-VR file) the VR OW, which implicit VR little endian implies, so the data set
    can be written as explicit VR; the bytes are unchanged."""
    for element in ds.iterall():
        if element.VR == "OB or OW" and element.tag not in (0x7FE00010,):
            element.VR = "OW"


def header_b64(ds: pydicom.Dataset) -> str:
    """The dataset without its pixel data, as a base64 DICOM Part 10 file (no pickle)."""
    _complete_lossy_ratio(ds)
    if "PixelData" in ds:
        del ds.PixelData
    ds.preamble = None  # application-specific (e.g. TIFF offsets); not valid once the pixels are rewritten
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _describe(ds: pydicom.Dataset, array: np.ndarray) -> dict:
    """Readable fields of one dataset (what a user or a .mroi header wants to see)."""
    syntax = getattr(ds, "file_meta", pydicom.Dataset()).get("TransferSyntaxUID")
    spacing = _floats(ds.get("PixelSpacing"))
    return {
        "rows": int(ds.Rows),
        "cols": int(ds.Columns),
        "frames": int(ds.get("NumberOfFrames", 1) or 1),
        "dtype": array.dtype.str,
        "bits_allocated": int(ds.BitsAllocated),
        "bits_stored": int(ds.get("BitsStored", ds.BitsAllocated)),
        "pixel_representation": int(ds.get("PixelRepresentation", 0)),
        "photometric_interpretation": str(ds.get("PhotometricInterpretation", "MONOCHROME2")),
        "rescale_slope": _scalar(ds.get("RescaleSlope")),
        "rescale_intercept": _scalar(ds.get("RescaleIntercept")),
        "source_transfer_syntax": str(syntax) if syntax else None,
        "lossy_image_compression": _scalar(ds.get("LossyImageCompression"), str),
        "modality": _scalar(ds.get("Modality"), str),
        "body_part_examined": _scalar(ds.get("BodyPartExamined"), str),
        "series_instance_uid": _scalar(ds.get("SeriesInstanceUID"), str),
        "pixel_spacing": spacing,
        "slice_thickness": _scalar(ds.get("SliceThickness")),
        "image_orientation": _floats(ds.get("ImageOrientationPatient")),
    }


def ras_affine(orientation, positions, pixel_spacing, slice_spacing: float) -> list[list[float]] | None:
    """Voxel (row, col, slice) -> RAS mm, as NIfTI wants it, or None without orientation/position.

    Rows advance along the column cosines, columns along the row cosines (DICOM LPS);
    slices along first->last position (keeps a gantry tilt), else the normal.
    """
    if not orientation or len(orientation) != 6 or not positions or any(p is None for p in positions):
        return None
    row_cos, col_cos = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    dr, dc = (pixel_spacing or [1.0, 1.0])[:2]
    first = np.asarray(positions[0], float)
    if len(positions) > 1:
        step = (np.asarray(positions[-1], float) - first) / (len(positions) - 1)
    else:
        step = np.cross(row_cos, col_cos) * slice_spacing
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2], affine[:3, 3] = col_cos * dr, row_cos * dc, step, first
    affine[:2] *= -1  # LPS -> RAS
    return affine.tolist()


def read_dicom_file(path: str | os.PathLike) -> MedicalImage:
    """One DICOM file -> (rows, cols), or (rows, cols, frames) for a multi-frame object."""
    path = Path(path)
    ds = dcmread_checked(path)
    array = decode_pixels(ds, path)
    metadata = _describe(ds, array)
    spacing = metadata["pixel_spacing"] or [1.0, 1.0]
    if array.ndim == 3:
        between = _scalar(ds.get("SpacingBetweenSlices")) or metadata["slice_thickness"] or 1.0
        spacing = spacing + [between]
    position = _floats(ds.get("ImagePositionPatient"))
    metadata.update(
        spacing=spacing,
        affine=ras_affine(
            metadata["image_orientation"], [position], spacing[:2], spacing[-1] if array.ndim == 3 else 1.0
        ),
        image_positions=[position],
        filenames=[path.name],
        datasets=[header_b64(ds)],
    )
    return MedicalImage(array=array, format="dicom", metadata=metadata, source=str(path))


def _slice_order(datasets: list[pydicom.Dataset], names: list[str]) -> tuple[list[int], str, float | None]:
    """Order by ImagePositionPatient projected on the slice normal, else InstanceNumber, else name."""
    orientation = datasets[0].get("ImageOrientationPatient")
    positions = [ds.get("ImagePositionPatient") for ds in datasets]
    if orientation is not None and len(orientation) == 6 and all(p is not None and len(p) == 3 for p in positions):
        row, col = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
        normal = np.cross(row, col)
        depth = [float(np.dot(normal, np.asarray(p, float))) for p in positions]
        if len(set(np.round(depth, 4))) == len(depth):
            order = sorted(range(len(depth)), key=depth.__getitem__)
            steps = np.diff(np.asarray(depth)[order])
            return order, "position", float(np.median(steps)) if steps.size else None
    numbers = [ds.get("InstanceNumber") for ds in datasets]
    if all(n is not None for n in numbers) and len(set(int(n) for n in numbers)) == len(numbers):
        return sorted(range(len(numbers)), key=lambda i: int(numbers[i])), "instance_number", None
    return sorted(range(len(names)), key=names.__getitem__), "filename", None


def read_dicom_series(folder: str | os.PathLike) -> MedicalImage:
    """All DICOM files of ``folder`` (one series) -> (rows, cols, slices) sorted along the normal."""
    folder = Path(folder)
    files = dicom_files_in(folder)
    if not files:
        raise InvalidImageError(f"{folder}: no DICOM files found; pass a folder holding one DICOM series")
    datasets = [dcmread_checked(f) for f in files]
    series = {}
    for f, ds in zip(files, datasets):
        series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append(f.name)
    if len(series) > 1:
        listing = "; ".join(f"{uid or '(none)'}: {len(names)} files" for uid, names in series.items())
        raise InvalidImageError(f"{folder} holds {len(series)} series ({listing}); put each series in its own folder")
    if len(files) > 1 and any(int(ds.get("NumberOfFrames", 1) or 1) > 1 for ds in datasets):
        raise InvalidImageError(f"{folder}: a series of multi-frame files is not supported; pass each file on its own")
    names = [f.name for f in files]
    order, sorted_by, slice_step = _slice_order(datasets, names)
    slices = [decode_pixels(datasets[i], files[i]) for i in order]
    first = slices[0]
    for i, s in zip(order, slices):
        if s.shape != first.shape or s.dtype != first.dtype:
            raise InvalidImageError(
                f"{folder}: {names[i]} is {s.shape} {s.dtype}, {names[order[0]]} is {first.shape} {first.dtype}; "
                "a series must have one size and pixel type"
            )
    array = first if first.ndim == 3 else np.stack(slices, axis=-1)  # one multi-frame file: its frames
    metadata = _describe(datasets[order[0]], array)
    in_plane = metadata["pixel_spacing"] or [1.0, 1.0]
    positions = [_floats(datasets[i].get("ImagePositionPatient")) for i in order]
    spacing = in_plane + [abs(slice_step) if slice_step else (metadata["slice_thickness"] or 1.0)]
    metadata.update(
        spacing=spacing,
        affine=ras_affine(metadata["image_orientation"], positions if first.ndim == 2 else positions[:1],
                          in_plane, spacing[2]),
        sorted_by=sorted_by,
        image_positions=positions,
        filenames=[names[i] for i in order],
        datasets=[header_b64(datasets[i]) for i in order],
    )
    return MedicalImage(array=array, format="dicom-series", metadata=metadata, source=str(folder))


def display_values(image: MedicalImage) -> np.ndarray:
    """Display values of a DICOM image: Rescale Slope/Intercept applied, MONOCHROME1 inverted (float64)."""
    meta = image.metadata
    values = image.array.astype(np.float64)
    if meta.get("photometric_interpretation") == "MONOCHROME1":
        bits = int(meta.get("bits_stored") or values.dtype.itemsize * 8)
        signed = int(meta.get("pixel_representation") or 0) == 1
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        values = hi + lo - values
    slope, intercept = meta.get("rescale_slope"), meta.get("rescale_intercept")
    return values * (1.0 if slope is None else slope) + (0.0 if intercept is None else intercept)
