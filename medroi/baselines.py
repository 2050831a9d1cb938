"""Lossless classical codecs the demo compares medroi with, using only what is installed.

Always available (medroi's dependencies): gzip -9 of the raw array (what ``.nii.gz`` does),
PNG and JPEG 2000 lossless per slice through Pillow. With ``imagecodecs`` installed (the
``test``/``bench`` extras) also JPEG XL and JPEG-LS lossless. Each codec is an
(encode, decode) pair over one 2D slice; :func:`run` codes a whole 2D image or 3D volume
slice by slice (slices along the last axis) and checks the round trip.
"""

from __future__ import annotations

import gzip
import io
import time
from collections.abc import Callable

import numpy as np

__all__ = ["available", "run"]

Encode = Callable[[np.ndarray], bytes]
Decode = Callable[[bytes], np.ndarray]


def _to_uint16(array: np.ndarray) -> tuple[np.ndarray, int]:
    """Shift to non-negative uint16 (Pillow and the image codecs take unsigned samples)."""
    lo = int(array.min()) if array.size else 0
    offset = min(lo, 0)
    shifted = array.astype(np.int64) - offset
    if shifted.size and shifted.max() > np.iinfo(np.uint16).max:
        raise ValueError("range wider than 16 bits")
    return shifted.astype(np.uint16), offset


def _pillow(fmt: str, **options) -> tuple[Encode, Decode]:
    from PIL import Image

    def encode(slice_: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(slice_).save(buffer, fmt, **options)
        return buffer.getvalue()

    def decode(data: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data)))

    return encode, decode


def available() -> dict[str, tuple[Encode, Decode]]:
    """Name -> (encode, decode) of every lossless slice codec that can run here."""
    from PIL import features

    codecs = {"PNG (Pillow)": _pillow("PNG", compress_level=9)}
    if features.check("jpg_2000"):
        codecs["JPEG 2000 lossless (Pillow)"] = _pillow("JPEG2000", irreversible=False, no_jp2=True)
    try:
        import imagecodecs
    except ImportError:
        return codecs
    if imagecodecs.JPEGXL.available:
        codecs["JPEG XL lossless e7"] = (lambda s: imagecodecs.jpegxl_encode(s, lossless=True, effort=7),
                                         imagecodecs.jpegxl_decode)
    if imagecodecs.JPEGLS.available:
        codecs["JPEG-LS lossless"] = (imagecodecs.jpegls_encode, imagecodecs.jpegls_decode)
    return codecs


def run(name: str, array: np.ndarray) -> dict:
    """Code ``array`` with codec ``name`` (or "gzip -9"): bytes, seconds, max error (0 if exact)."""
    started = time.perf_counter()
    if name == "gzip -9":
        data = gzip.compress(np.ascontiguousarray(array).tobytes(), 9)
        size = len(data)
        back = np.frombuffer(gzip.decompress(data), dtype=array.dtype).reshape(array.shape)
    else:
        encode, decode = available()[name]
        shifted, offset = _to_uint16(array)
        slices = shifted[..., None] if shifted.ndim == 2 else shifted
        encoded = [encode(np.ascontiguousarray(slices[..., k])) for k in range(slices.shape[-1])]
        size = sum(len(e) for e in encoded)
        decoded = np.stack([decode(e) for e in encoded], axis=-1).reshape(array.shape)
        back = (decoded.astype(np.int64) + offset).astype(array.dtype)
    seconds = time.perf_counter() - started
    error = np.abs(back.astype(np.int64) - array.astype(np.int64))
    return {"codec": name, "compressed_bytes": size, "seconds": seconds, "error": error}
