"""read_image / write_image / read_mask: dispatch on the format of the path."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from medroi.errors import InvalidImageError, UnsupportedFormatError
from medroi.io.formats import SUPPORTED, detect_format, format_from_extension
from medroi.io.image import MedicalImage

# The format modules are imported where used: nibabel and pydicom cost ~0.3 s each to
# import, and a command handling PNG or NIfTI only should not pay for both.


def read_image(
    path: str | os.PathLike, *, frame: int | None = None, quantize_step: float | None = None,
    colour: str = "planes",
) -> MedicalImage:
    """Read NIfTI, DICOM (file or series folder), PNG, TIFF, JPEG, NRRD or MetaImage losslessly.

    ``frame`` picks one volume of a 4D NIfTI (or one page of a multi-image TIFF);
    ``quantize_step`` lets non-integral float data be stored as round(x / step).
    ``colour`` (PNG/TIFF/JPEG): "planes" keeps RGB/RGBA exactly as (rows, cols, channels)
    with ``metadata["channels"]``; "gray" converts to luminance with a warning (what the
    single-channel networks are trained on). Images whose channels are equal are gray either way.
    """
    fmt = detect_format(path)
    if fmt == "nifti":
        from medroi.io.nifti import NiftiLoadError, read_nifti

        try:
            return read_nifti(path, frame=frame, quantize_step=quantize_step)
        except NiftiLoadError as nibabel_error:  # a file nibabel cannot open: SimpleITK may still read it
            return _nifti_via_itk(path, frame, quantize_step, nibabel_error)
    if fmt in ("dicom", "dicom-series"):
        if frame is not None:
            raise InvalidImageError(
                f"{path}: frame= applies to 4D NIfTI and multi-image TIFF; a multi-frame DICOM is read "
                "whole as (rows, cols, frames), so drop frame="
            )
        from medroi.io.dicom import read_dicom_file, read_dicom_series

        return read_dicom_file(path) if fmt == "dicom" else read_dicom_series(path)
    if fmt in ("nrrd", "metaimage"):
        if frame is not None:
            raise InvalidImageError(f"{path}: frame= applies to 4D NIfTI and multi-image TIFF, drop it")
        from medroi.io.itk import read_itk

        return read_itk(path, quantize_step=quantize_step)
    from medroi.io.raster import read_raster

    return read_raster(path, frame=frame, quantize_step=quantize_step, colour=colour)


def _nifti_via_itk(path, frame, quantize_step, nibabel_error: Exception) -> MedicalImage:
    """NIfTI that nibabel cannot load, read with SimpleITK (written back as a generic NIfTI with
    the same affine); nibabel's error if SimpleITK fails too."""
    if frame is not None:
        raise nibabel_error
    from medroi.io.itk import read_itk

    try:
        image = read_itk(path, quantize_step=quantize_step)
    except Exception:
        raise nibabel_error from None
    # SimpleITK reads a truncated file (or gzip stream) without complaint, filling the gap:
    # storing that "losslessly" would be silent data loss, so the bytes must all be there
    if _stored_nifti_bytes(path) < 348 + image.array.nbytes:
        raise nibabel_error
    return MedicalImage(image.array, "nifti", {k: v for k, v in image.metadata.items() if k != "stored_dtype"},
                        image.source)


def _stored_nifti_bytes(path) -> int:
    """Length of a NIfTI file's (uncompressed) bytes; 0 when its gzip stream is damaged or cut short."""
    import gzip
    import zlib

    if not str(path).lower().endswith(".gz"):
        return os.path.getsize(path)
    total = 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                total += len(chunk)
    except (OSError, EOFError, zlib.error):
        return 0
    return total


def write_image(
    image: MedicalImage, path: str | os.PathLike, *, force: bool = False, lossy: dict | None = None,
    fmt: str | None = None,
) -> Path:
    """Write ``image`` atomically; the format comes from the extension (no extension: DICOM folder).

    Refuses an existing output unless ``force``. ``lossy`` ({"ratio", "method"}) marks DICOM
    output as lossy; other formats have no such flag and ignore it. ``fmt`` (one of
    ``medroi.io.image.FORMATS``) overrides the extension, e.g. for a DICOM file named ``IM0001``.
    """
    if not isinstance(image, MedicalImage):
        raise TypeError(f"write_image needs a MedicalImage, got {type(image).__name__}")
    path = Path(path)
    explicit = fmt is not None
    if fmt is None:
        fmt = format_from_extension(path)
    if fmt is None and not path.suffix:
        fmt = "dicom-series"
    if fmt == "nifti":
        from medroi.io.nifti import write_nifti

        return write_nifti(image, path, force=force)
    if fmt in ("dicom", "dicom-series"):
        from medroi.io.dicom_write import write_dicom

        return write_dicom(image, path, force=force, lossy=lossy, folder=fmt == "dicom-series" if explicit else None)
    if fmt in ("png", "tiff", "jpeg"):
        from medroi.io.raster import write_raster

        return write_raster(image, path, force=force, fmt=fmt if explicit else None)
    if fmt in ("nrrd", "metaimage"):
        from medroi.io.itk import write_itk

        return write_itk(image, path, force=force)
    raise UnsupportedFormatError(
        f"{path}: cannot tell the output format from extension {path.suffix!r}. Supported: {SUPPORTED}; "
        "a path without extension is written as a DICOM series folder"
    )


def mask_image(image: MedicalImage, mask: np.ndarray) -> MedicalImage:
    """A ROI mask as a uint8 label image (1 = ROI) with ``image``'s geometry, to write in its format.

    NIfTI: the image's affine; DICOM: the image's headers as a derived 8-bit series (new
    UIDs, no rescale or window); PNG/TIFF: plain 8-bit. A colour image's mask is one plane.
    """
    meta = dict(image.metadata) if isinstance(image.metadata, dict) else {}
    mask = np.asarray(mask)
    if meta.get("channels") and mask.ndim == 3:
        mask = mask[..., 0]
    labels = np.ascontiguousarray(mask, dtype=np.uint8)
    if image.format in ("dicom", "dicom-series") and meta.get("datasets"):
        from medroi.io.dicom_write import mask_datasets

        return MedicalImage(labels, image.format, {**meta, "datasets": mask_datasets(meta["datasets"])})
    keep = ("affine", "spacing") if image.format == "nifti" else ("dpi",)
    return MedicalImage(labels, image.format, {k: meta[k] for k in keep if k in meta})


def display_values(image: MedicalImage) -> np.ndarray:
    """DICOM display values (rescale applied, MONOCHROME1 inverted); see medroi.io.dicom."""
    from medroi.io.dicom import display_values as _display_values

    return _display_values(image)


def read_mask(
    path: str | os.PathLike, labels: Iterable[int] | None = None, *, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """A bool ROI mask: any non-zero voxel (``labels=None``) or membership in ``labels``.

    Palette PNGs give their indices. ``shape`` (the image's) is checked when given.
    Labels of which none occurs in the mask are refused (InvalidImageError).
    """
    fmt = detect_format(path)
    if fmt in ("png", "tiff", "jpeg"):
        from medroi.io.raster import read_raster

        image = read_raster(path, labels=True)
    else:
        image = read_image(path)
    if labels is None:
        mask = image.array != 0
    else:
        wanted = sorted({int(label) for label in labels})
        if not wanted:
            raise InvalidImageError(f"{path}: labels is empty; pass None for any non-zero label, or e.g. (1, 2, 4)")
        mask = np.isin(image.array, wanted)
        if not mask.any():  # a typo in --roi-labels must not become a silently empty ROI
            present = np.unique(image.array)
            shown = ", ".join(map(str, present[:20].tolist())) + (", ..." if present.size > 20 else "")
            raise InvalidImageError(
                f"{path} holds none of labels {', '.join(map(str, wanted))} (its values: {shown}); "
                "pick --roi-labels from those values"
            )
    if shape is not None and tuple(shape) != mask.shape:
        raise InvalidImageError(
            f"{path}: mask shape {mask.shape} differs from the image shape {tuple(shape)}; "
            "pass the mask made for this image"
        )
    return mask
