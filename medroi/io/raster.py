"""PNG, TIFF and JPEG via Pillow: (rows, cols) at the stored bit depth.

Colour (RGB, RGBA, palette, gray + alpha) is kept exactly as (rows, cols, channels) with
``metadata["channels"]`` (``colour="planes"``, the default), or converted to luminance with
a warning (``colour="gray"``, what the single-channel networks train on). An image whose
colour channels are all equal (and fully opaque) is gray either way, losslessly.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from medroi.errors import InvalidImageError, UnsupportedFormatError
from medroi.fsutil import atomic_output
from medroi.io.formats import format_from_extension
from medroi.io.image import MedicalImage
from medroi.io.numeric import check_not_empty, float_to_integer

logger = logging.getLogger("medroi")
_PIL_FORMATS = {"PNG": "png", "TIFF": "tiff", "JPEG": "jpeg", "MPO": "jpeg"}
_COLOUR_MODES = ("RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "P", "PA")


def _open(path: Path, frame: int | None) -> Image.Image:
    """The loaded image, or InvalidImageError; PIL's warnings are logged, not printed."""
    with warnings.catch_warnings(record=True) as caught:  # PIL warns (e.g. corrupt EXIF) before it fails
        warnings.simplefilter("always")
        img = _open_quietly(path, frame)
    for warning in caught:  # the file opened: its warnings go to the log, not raw to stderr
        logger.warning("%s: %s", path, warning.message)
    return img


def _open_quietly(path: Path, frame: int | None) -> Image.Image:
    img = None
    try:
        img = Image.open(path)
        frames = int(getattr(img, "n_frames", 1))
        if frames > 1 and frame is None:
            raise InvalidImageError(f"{path} holds {frames} images; pick one with frame=<index> (CLI: --frame N)")
        if frame is not None:
            if frames == 1:
                raise InvalidImageError(f"{path} holds one image; frame= applies to multi-image files only, drop it")
            if not 0 <= frame < frames:
                raise InvalidImageError(f"{path}: frame {frame} is out of range 0..{frames - 1}")
            img.seek(frame)
        img.load()
    except BaseException as exc:
        if img is not None:
            img.close()
        if isinstance(exc, InvalidImageError) or not isinstance(exc, Exception):
            raise
        # PIL: UnidentifiedImageError, OSError (truncated), DecompressionBombError, ...
        raise InvalidImageError(f"{path}: not a readable image ({exc}); check or re-export the file") from exc
    return img


def _gray_from_channels(rgb: np.ndarray, path: Path) -> tuple[np.ndarray, str]:
    """One channel if R == G == B (lossless), else ITU-R 601 luminance with a warning."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if np.array_equal(r, g) and np.array_equal(g, b):
        logger.info("%s: colour image with equal channels; kept one channel (lossless)", path)
        return np.ascontiguousarray(r), "single-channel"
    logger.warning(
        "%s: colour image converted to gray by luminance (0.299 R + 0.587 G + 0.114 B); colour is lost", path
    )
    wide = r.astype(np.uint32) * 299 + g.astype(np.uint32) * 587 + b.astype(np.uint32) * 114
    return ((wide + 500) // 1000).astype(rgb.dtype), "luminance"


_PLANE_MODES = {2: "LA", 3: "RGB", 4: "RGBA"}


def _png_bit_depth(path: Path) -> int | None:
    """Bits per sample from a PNG's IHDR (Pillow reads 16-bit colour PNGs as 8 bits)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(26)
    except OSError:
        return None
    return head[24] if len(head) == 26 and head[12:16] == b"IHDR" else None


def _colour_planes(img: Image.Image, path: Path) -> tuple[np.ndarray, str | None, bool]:
    """(rows, cols) when the channels are equal and opaque, else the exact planes."""
    mode = img.mode
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        raise UnsupportedFormatError(
            f"{path}: {mode} images are not supported (medroi keeps colour exactly as RGB/RGBA planes); "
            "save the image as RGB PNG or TIFF first"
        )
    if mode in ("RGB", "RGBA", "LA", "RGBX"):
        source = img
    elif mode in ("P", "PA"):
        transparent = mode == "PA" or "transparency" in img.info
        source = img.convert("RGBA" if transparent else "RGB")  # the palette's colours, exactly
    else:  # La, RGBa (premultiplied alpha)
        source = img.convert("LA" if mode == "La" else "RGBA")
    planes = np.asarray(source)
    if source.mode == "RGBX":
        planes = planes[..., :3]
    alpha = planes[..., -1] if source.mode in ("RGBA", "LA") else None
    colour = planes[..., :-1] if alpha is not None else planes
    opaque = alpha is None or bool(np.all(alpha == 255))
    if opaque and all(np.array_equal(colour[..., 0], colour[..., c]) for c in range(1, colour.shape[-1])):
        return np.ascontiguousarray(colour[..., 0]), "single-channel" if colour.shape[-1] > 1 else None, alpha is not None
    if opaque:
        planes = colour
    return np.ascontiguousarray(planes), "planes", False


def _pixels(
    img: Image.Image, path: Path, labels: bool, quantize_step: float | None, colour: str = "gray"
) -> tuple[np.ndarray, str | None, bool]:
    """(array, conversion applied or None, alpha dropped)."""
    mode = img.mode
    if mode in _COLOUR_MODES or mode in ("LA", "La", "PA"):
        tiff_bits = getattr(img, "tag_v2", {}).get(258) if img.format == "TIFF" else None
        if _png_bit_depth(path) == 16 or (tiff_bits and max(tiff_bits) > 8):  # Pillow would keep 8 of 16 bits
            raise UnsupportedFormatError(
                f"{path}: colour with more than 8 bits per channel is not supported (it would lose bits); "
                "save it as 8-bit colour or as separate 16-bit gray images"
            )
    if labels and mode in ("P", "PA"):
        return np.asarray(img if mode == "P" else img.convert("P")), None, False  # palette indices are the labels
    if colour == "planes" and (mode in ("LA", "La", "PA") or mode in _COLOUR_MODES):
        return _colour_planes(img, path)
    if mode in ("LA", "La", "PA") or mode in _COLOUR_MODES:
        alpha = None
        if "A" in mode or mode == "RGBa":
            alpha = np.asarray(img.getchannel("A"))
        if mode in ("LA", "La"):
            gray, conversion = np.asarray(img.getchannel("L")), None
        else:
            rgb = np.asarray(img.convert("RGB") if mode not in ("RGB", "RGBA", "RGBX") else img)[..., :3]
            gray, conversion = _gray_from_channels(rgb, path)
        dropped = alpha is not None
        if dropped and not np.all(alpha == alpha.max(initial=0)):
            logger.warning("%s: the alpha channel varies and was dropped; only the gray values are kept", path)
        return gray, conversion, dropped
    array = np.asarray(img)
    if mode == "1":
        return array.astype(np.uint8), None, False
    if mode == "F":
        return float_to_integer(array, str(path), quantize_step), None, False
    if array.dtype.kind not in "iu":
        raise UnsupportedFormatError(f"{path}: image mode {mode} is not supported; save it as 8/16-bit gray")
    if array.dtype.byteorder not in ("=", "|"):
        array = array.astype(array.dtype.newbyteorder("="))
    return array, None, False


def read_raster(
    path: str | os.PathLike, *, frame: int | None = None, quantize_step: float | None = None, labels: bool = False,
    colour: str = "planes",
) -> MedicalImage:
    """Read PNG/TIFF/JPEG as (rows, cols), colour as (rows, cols, channels) (see the module doc).

    ``labels=True`` keeps palette indices (label maps); ``colour="gray"`` converts colour to luminance.
    """
    path = Path(path)
    if colour not in ("planes", "gray"):
        raise InvalidImageError(f"colour must be 'planes' or 'gray', got {colour!r}")
    with _open(path, frame) as img:
        fmt = _PIL_FORMATS.get(img.format or "", format_from_extension(path) or "png")
        array, conversion, dropped = _pixels(img, path, labels, quantize_step, "gray" if labels else colour)
        dpi = img.info.get("dpi")
        metadata = {
            "mode": img.mode,
            "pil_format": img.format,
            "conversion": conversion,
            "alpha_dropped": dropped,
            "shape": [int(s) for s in array.shape],
            "dtype": array.dtype.str,
            "dpi": [float(d) for d in dpi] if dpi else None,
            "frame": frame,
        }
        if conversion == "planes":
            metadata["channels"] = int(array.shape[-1])
    check_not_empty(array, str(path))
    return MedicalImage(array=np.ascontiguousarray(array), format=fmt, metadata=metadata, source=str(path))


def _fit_unsigned(array: np.ndarray, where: str, fmt: str) -> np.ndarray:
    """Cast to uint8/uint16 when the values fit, else explain which format can hold them."""
    if array.dtype in (np.uint8, np.uint16):
        return array
    lo, hi = (int(array.min()), int(array.max())) if array.size else (0, 0)
    dtype = np.uint8 if array.dtype.itemsize == 1 else np.uint16  # keep the bit depth where possible
    if lo >= 0 and hi <= np.iinfo(np.uint16).max:
        return array.astype(dtype if hi <= np.iinfo(dtype).max else np.uint16)
    raise InvalidImageError(
        f"{where}: {array.dtype} values {lo}..{hi} do not fit an unsigned 8/16-bit {fmt.upper()}; write TIFF or NIfTI"
    )


def _to_pil(image: MedicalImage, where: str, fmt: str) -> Image.Image:
    array = np.asarray(image.array)
    channels = image.metadata.get("channels") if isinstance(image.metadata, dict) else None
    if channels and array.ndim == 3 and array.shape[-1] == channels in _PLANE_MODES:
        if array.dtype != np.uint8:
            raise InvalidImageError(f"{where}: colour {fmt.upper()} output is 8-bit; the array is {array.dtype}")
        return Image.fromarray(np.ascontiguousarray(array))  # (rows, cols, 2|3|4) uint8: LA, RGB, RGBA
    if array.ndim != 2:
        raise InvalidImageError(
            f"{where}: {fmt.upper()} holds one 2D image but the array is {array.ndim}D {array.shape}; "
            "write .nii.gz or DICOM instead, or pass one slice (array[..., k])"
        )
    if array.dtype.kind not in "iub":
        raise InvalidImageError(f"{where}: {array.dtype} pixels cannot be written losslessly; pass integers")
    binary = array.size and array.min() >= 0 and array.max() <= 1
    if array.dtype == np.bool_ or (image.metadata.get("mode") == "1" and binary):
        return Image.fromarray(array.astype(bool))
    if fmt == "png":
        return Image.fromarray(_fit_unsigned(array, where, fmt))
    if array.dtype in (np.uint8, np.uint16):
        return Image.fromarray(array)
    if array.size and array.dtype == np.uint32 and array.max() > np.iinfo(np.int32).max:
        raise InvalidImageError(f"{where}: uint32 values above 2**31-1 do not fit a TIFF; write NIfTI instead")
    return Image.fromarray(array.astype(np.int32))


def write_raster(image: MedicalImage, path: str | os.PathLike, *, force: bool = False, fmt: str | None = None) -> Path:
    """Write a 2D image (or colour planes) as PNG or TIFF (lossless); JPEG output is refused (it is lossy).

    ``fmt`` ("png", "tiff") overrides the extension."""
    path = Path(path)
    fmt = fmt or format_from_extension(path)
    if fmt == "jpeg":
        raise UnsupportedFormatError(f"{path}: JPEG output would be lossy; write .png or .tif instead")
    pil = _to_pil(image, str(path), fmt)
    options = {"format": "PNG" if fmt == "png" else "TIFF"}
    if fmt == "tiff":
        options["compression"] = "tiff_deflate"
    dpi = image.metadata.get("dpi") if image.format in ("png", "tiff", "jpeg") else None
    if dpi:
        options["dpi"] = tuple(dpi)
    with atomic_output(path, force) as tmp:
        pil.save(tmp, **options)
    return path
