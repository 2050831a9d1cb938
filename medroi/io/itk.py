"""NRRD (.nrrd, .nhdr) and MetaImage (.mha, .mhd) via SimpleITK, at the native integer type.

Volumes come back ``(X, Y, Z)`` (ITK index order, like NIfTI), 2D images ``(rows, cols)``.
The metadata keeps what writing back needs: the stored pixel type, spacing, origin,
direction (ITK's LPS physical space), the image's metadata dictionary (keys ITK's readers
add, ``ITK_*``, are left out) and a RAS ``affine`` for MONAI and NIfTI output.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from medroi.errors import InvalidImageError, UnsupportedFormatError
from medroi.fsutil import atomic_output, check_output
from medroi.io.formats import format_from_extension
from medroi.io.image import MedicalImage
from medroi.io.numeric import check_not_empty, float_to_integer, to_native_integer

__all__ = ["read_itk", "write_itk", "ITK_FORMATS"]

ITK_FORMATS = ("nrrd", "metaimage")
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def _sitk():
    import SimpleITK as sitk  # imported where used: ~0.2 s, only for these formats

    return sitk


def _affine(spacing, origin, direction) -> list[list[float]] | None:
    """ITK geometry (LPS) -> a 4 x 4 voxel-to-RAS affine for (X, Y, Z) arrays (3D only)."""
    if len(spacing) != 3:
        return None
    rotation = np.asarray(direction, float).reshape(3, 3) * np.asarray(spacing, float)
    affine = np.eye(4)
    affine[:3, :3] = _LPS_TO_RAS @ rotation
    affine[:3, 3] = _LPS_TO_RAS @ np.asarray(origin, float)
    return affine.tolist()


def read_itk(path: str | os.PathLike, *, quantize_step: float | None = None) -> MedicalImage:
    """Read one grayscale 2D/3D NRRD or MetaImage file losslessly."""
    sitk = _sitk()
    path = Path(path)
    try:
        image = sitk.ReadImage(str(path))
    except Exception as exc:  # SimpleITK raises RuntimeError with ITK's multi-line text
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InvalidImageError(f"{path}: not a readable {format_from_extension(path)} file ({reason})") from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise UnsupportedFormatError(
            f"{path}: {image.GetNumberOfComponentsPerPixel()} components per pixel; medroi codes grayscale images"
        )
    if image.GetDimension() not in (2, 3):
        raise InvalidImageError(f"{path}: a {image.GetDimension()}D image; medroi needs 2D or 3D, split it first")
    stored = sitk.GetArrayViewFromImage(image)  # (Z, Y, X)
    check_not_empty(stored, str(path))
    native = stored.T if stored.ndim == 3 else stored
    stored_dtype = np.dtype(stored.dtype)
    if stored_dtype.kind == "f":
        array = float_to_integer(native, str(path), quantize_step)
    else:
        array, quantize_step = to_native_integer(np.array(native), str(path)), None
    spacing, origin, direction = list(image.GetSpacing()), list(image.GetOrigin()), list(image.GetDirection())
    metadata = {
        "stored_dtype": stored_dtype.str,
        "dtype": array.dtype.str,
        "spacing": spacing,
        "origin": origin,
        "direction": direction,
        "affine": _affine(spacing, origin, direction),
        "metadata_dictionary": {k: image.GetMetaData(k) for k in image.GetMetaDataKeys() if not k.startswith("ITK_")},
        "quantize_step": None if quantize_step is None else float(quantize_step),
    }
    return MedicalImage(array=np.ascontiguousarray(array), format=format_from_extension(path), metadata=metadata,
                        source=str(path))


def _geometry(image: MedicalImage, ndim: int) -> tuple[list, list, list]:
    """Spacing, origin, direction for the writer: the source's, or derived from a RAS affine."""
    meta = image.metadata
    if image.format in ITK_FORMATS and len(meta.get("spacing") or []) == ndim:
        return list(meta["spacing"]), list(meta["origin"]), list(meta["direction"])
    affine = meta.get("affine")
    if ndim == 3 and affine is not None and np.shape(affine) == (4, 4):
        lps = _LPS_TO_RAS @ np.asarray(affine, float)[:3]
        spacing = np.linalg.norm(lps[:, :3], axis=0)
        return spacing.tolist(), lps[:, 3].tolist(), (lps[:, :3] / spacing).ravel().tolist()
    spacing = [float(s) for s in (meta.get("spacing") or [])[:ndim]]
    spacing += [1.0] * (ndim - len(spacing))
    return spacing, [0.0] * ndim, np.eye(ndim).ravel().tolist()


def _restore_dtype(array: np.ndarray, meta: dict, path: Path) -> np.ndarray:
    stored = meta.get("stored_dtype")
    if stored is None:
        return array
    stored = np.dtype(stored)
    if meta.get("quantize_step") is not None:
        return (array.astype(np.float64) * meta["quantize_step"]).astype(stored)
    if stored.kind in "iu" and array.size:
        info = np.iinfo(stored)
        if array.min() < info.min or array.max() > info.max:
            raise InvalidImageError(f"{path}: values {array.min()}..{array.max()} do not fit the source's {stored}")
    return array.astype(stored)


def write_itk(image: MedicalImage, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write .nrrd/.nhdr/.mha/.mhd (compressed) with the geometry and metadata dictionary kept."""
    sitk = _sitk()
    path = Path(path)
    array = np.asarray(image.array)
    if array.ndim not in (2, 3):
        raise InvalidImageError(f"cannot write a {array.ndim}D array to {path.suffix}; expected 2D or 3D")
    meta = image.metadata if image.format in ITK_FORMATS else {}
    data = _restore_dtype(array, meta, path)
    out = sitk.GetImageFromArray(np.ascontiguousarray(data.T if data.ndim == 3 else data))
    spacing, origin, direction = _geometry(image, data.ndim)
    out.SetSpacing(spacing)
    out.SetOrigin(origin)
    out.SetDirection(direction)
    for key, value in (meta.get("metadata_dictionary") or {}).items():
        out.SetMetaData(str(key), str(value))
    if path.suffix.lower() in (".mhd", ".nhdr"):  # header + data file: the header names the data file
        return _write_detached(sitk, out, path, force)
    with atomic_output(path, force) as tmp:
        sitk.WriteImage(out, str(tmp), useCompression=True)
    return path


def _write_detached(sitk, image, path: Path, force: bool) -> Path:
    """Write a header/data pair under their final names in a hidden folder, then move the data
    file before the header (the header appears last, pointing at complete data)."""
    check_output(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        sitk.WriteImage(image, str(staging / path.name), useCompression=True)
        for item in sorted(staging.iterdir(), key=lambda p: p.name == path.name):
            os.replace(item, path.parent / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
