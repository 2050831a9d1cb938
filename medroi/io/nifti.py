"""NIfTI-1/-2 (.nii, .nii.gz) via nibabel: raw stored integers, header kept byte for byte."""

from __future__ import annotations

import base64
import gzip
import io
import math
import os
from pathlib import Path

import nibabel as nib
import numpy as np

from medroi.errors import InvalidImageError, UnsupportedFormatError
from medroi.fsutil import atomic_output, atomic_write_bytes
from medroi.io.image import MedicalImage
from medroi.io.numeric import check_not_empty, float_to_integer, to_native_integer


def _json_float(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


class NiftiLoadError(InvalidImageError):
    """nibabel cannot open the file at all (``read_image`` then tries SimpleITK)."""


def _load(path: Path) -> nib.Nifti1Image:
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises many types for damaged files
        raise NiftiLoadError(f"{path}: not a readable NIfTI file ({exc}); check or re-export the file") from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise UnsupportedFormatError(f"{path}: {type(img).__name__} is not a single-file NIfTI; convert it to .nii.gz")
    return img


def _read_prefix(path: Path, img: nib.Nifti1Image) -> tuple[bytes, bytes]:
    """The header and the bytes between it and the voxel data (extension flag, extensions)."""
    size = type(img.header).sizeof_hdr
    offset = int(img.dataobj.offset)
    with nib.openers.ImageOpener(str(path)) as handle:
        prefix = handle.read(max(offset, size))
    return prefix[:size], prefix[size:offset]


def _select_volume(raw, path: Path, frame: int | None) -> tuple[np.ndarray, int | None]:
    shape = tuple(raw.shape)
    while len(shape) > 3 and shape[-1] == 1:  # (X, Y, Z, 1) is a 3D volume
        shape = shape[:-1]
    if len(shape) < 2:
        raise InvalidImageError(f"{path}: a {len(shape)}D NIfTI is not an image; medroi needs 2D or 3D data")
    if len(shape) > 4:
        raise InvalidImageError(f"{path}: {len(shape)}D NIfTI {shape} is not supported; split it into 3D volumes")
    if len(shape) == 4:
        if frame is None:
            raise InvalidImageError(
                f"{path} is 4D {shape}; pick one volume with frame=<index> (CLI: --frame N), 0..{shape[3] - 1}"
            )
        if not 0 <= frame < shape[3]:
            raise InvalidImageError(f"{path}: frame {frame} is out of range; the file has frames 0..{shape[3] - 1}")
        return np.asarray(raw.reshape(shape)[..., frame]), frame
    if frame is not None:
        raise InvalidImageError(f"{path} is {len(shape)}D {shape}; frame= applies to 4D volumes only, drop it")
    return np.asarray(raw).reshape(shape), None


def read_nifti(
    path: str | os.PathLike, *, frame: int | None = None, quantize_step: float | None = None
) -> MedicalImage:
    """Read the raw stored values of a NIfTI file (scl_slope/scl_inter not applied, only recorded)."""
    path = Path(path)
    img = _load(path)
    header_bytes, extension_bytes = _read_prefix(path, img)
    hdr = type(img.header).from_fileobj(io.BytesIO(header_bytes))  # as stored, before nibabel resets scaling
    stored_dtype = img.dataobj.dtype
    if stored_dtype.kind not in "iufb" or stored_dtype.fields is not None:
        raise UnsupportedFormatError(f"{path}: NIfTI data type {stored_dtype} (e.g. RGB, complex) is not supported")
    try:
        raw = img.dataobj.get_unscaled()
    except Exception as exc:
        raise InvalidImageError(f"{path}: the voxel data cannot be read ({exc}); the file may be truncated") from exc
    check_not_empty(raw, str(path))
    volume, frame = _select_volume(raw, path, frame)
    if stored_dtype.kind == "f":
        array = float_to_integer(volume, str(path), quantize_step)
    else:  # integer data is already lossless: a quantize_step is not applied
        array, quantize_step = to_native_integer(volume, str(path)), None
    zooms = [float(z) for z in hdr.get_zooms()]
    metadata = {
        "nifti_version": 2 if isinstance(img, nib.Nifti2Image) else 1,
        "header": base64.b64encode(header_bytes).decode("ascii"),
        "extensions": base64.b64encode(extension_bytes).decode("ascii"),
        "gzip": path.name.lower().endswith(".gz"),
        "stored_shape": [int(s) for s in img.shape],
        "stored_dtype": stored_dtype.str,
        "shape": [int(s) for s in array.shape],
        "dtype": array.dtype.str,
        "affine": np.asarray(img.affine, dtype=float).tolist(),
        "spacing": zooms[:3],
        "pixdim": [float(p) for p in hdr["pixdim"]],
        "scl_slope": _json_float(hdr["scl_slope"]),
        "scl_inter": _json_float(hdr["scl_inter"]),
        "qform_code": int(hdr["qform_code"]),
        "sform_code": int(hdr["sform_code"]),
        "frame": frame,
        "quantize_step": None if quantize_step is None else float(quantize_step),
    }
    return MedicalImage(array=array, format="nifti", metadata=metadata, source=str(path))


def _restore_dtype(array: np.ndarray, metadata: dict, path: Path) -> np.ndarray:
    stored = np.dtype(metadata["stored_dtype"])
    step = metadata.get("quantize_step")
    if step is not None:
        return (array.astype(np.float64) * step).astype(stored)
    if stored.kind in "iu" and array.size:
        info = np.iinfo(stored)
        if array.min() < info.min or array.max() > info.max:
            raise InvalidImageError(
                f"{path}: values {array.min()}..{array.max()} do not fit the source's {stored}; clip them first"
            )
    return array.astype(stored)


def _write_like_source(image: MedicalImage, path: Path, force: bool) -> Path:
    meta = image.metadata
    header_bytes = base64.b64decode(meta["header"])
    header_class = nib.Nifti2Header if meta.get("nifti_version") == 2 else nib.Nifti1Header
    data = _restore_dtype(np.asarray(image.array), meta, path)
    stored_shape = tuple(meta["stored_shape"])
    if meta.get("frame") is None and int(np.prod(stored_shape)) == data.size and data.shape == tuple(meta["shape"]):
        data = data.reshape(stored_shape)  # undo the squeeze of trailing singleton axes
    else:  # one volume picked from a 4D file, or a reshaped array: patch the header's dims
        hdr = header_class.from_fileobj(io.BytesIO(header_bytes))
        hdr.set_data_shape(data.shape)
        header_bytes = hdr.binaryblock
    payload = header_bytes + base64.b64decode(meta["extensions"]) + data.tobytes(order="F")
    if path.name.lower().endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=1, mtime=0)
    return atomic_write_bytes(path, payload, force)


def _generic_affine(metadata: dict, ndim: int) -> np.ndarray:
    affine = metadata.get("affine")
    if affine is not None and np.shape(affine) == (4, 4):
        return np.asarray(affine, dtype=float)
    spacing = list(metadata.get("spacing") or [])[:3]
    spacing = [float(s) for s in spacing] + [1.0] * (3 - len(spacing))
    return np.diag(spacing + [1.0])


def write_nifti(image: MedicalImage, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write .nii/.nii.gz: byte-identical header when the image came from NIfTI, else a generic file."""
    path = Path(path)
    if image.format == "nifti" and "header" in image.metadata:
        return _write_like_source(image, path, force)
    array = np.asarray(image.array)
    if array.ndim not in (2, 3):
        raise InvalidImageError(f"cannot write a {array.ndim}D array to NIfTI; expected 2D or 3D")
    img = nib.Nifti1Image(array, _generic_affine(image.metadata, array.ndim))
    img.header.set_data_dtype(array.dtype)
    img.header.set_xyzt_units("mm")
    with atomic_output(path, force) as tmp:
        img.to_filename(str(tmp))
    return path
