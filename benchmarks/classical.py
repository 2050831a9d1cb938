"""Classical baselines for medroi's benchmarks: JPEG-LS, JPEG XL, JPEG 2000 and the ROI hybrids.

Every wrapper takes one 2D integer slice (any of uint8, int8, uint16, int16, uint32, int32
whose value range spans at most 16 bits) and returns self-contained ``bytes``; the matching
``decode`` returns an array of the original dtype and shape. The bytes include a small
header (dtype, offset, shape) so the byte count is what a user would actually store.

Conventions
-----------
- Signed data (or any data with negative values) is shifted to non-negative by
  ``offset = min`` before coding; the offset is stored in the header and added back.
- The codecs are told the TRUE bit depth of the shifted slice,
  ``bits = max(1, int(max).bit_length())``. (imagecodecs' own ``jpegls_encode`` always
  declares 8 or 16 bits, which costs 10-14 % on 9-11-bit MRI; ``jpegls_encode_declared``
  keeps that variant for comparison.)
- Empty (zero-size) and constant slices are handled (constant -> 1-bit or tiny streams).

Codecs: JPEG-LS through pyjpegls (CharLS), ``NEAR = k`` gives ``|error| <= k`` on every
pixel; JPEG XL through ``imagecodecs.jpegxl_encode`` (libjxl; lossless or a butteraugli
``distance``; no per-pixel bound); JPEG 2000 through ``imagecodecs.jpeg2k_encode``
(OpenJPEG, raw J2K codestream; reversible 5/3 lossless, or irreversible 9/7 with one quality
layer at a target PSNR in dB, OpenJPEG's fixed-quality mode; no per-pixel bound).

Hybrids ("ROI exact + NROI within k"): see :func:`hybrid_encode`. The exact-ROI residual is
entropy coded with a zero-order model (a stored histogram of the residual values) and
constriction's ANS coder; the ROI mask is coded as the smaller of (i) a 1-bit JPEG-LS image
and (ii) zlib (level 9) of the packed bit plane.
"""

from __future__ import annotations

import time

import struct
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

import imagecodecs
import jpeg_ls

__all__ = [
    "Codec",
    "jpegls_encode",
    "jpegls_decode",
    "jpegls_encode_declared",
    "jpegxl_encode",
    "jpegxl_decode",
    "jpeg2k_encode",
    "jpeg2k_decode",
    "encode_mask",
    "decode_mask",
    "encode_symbols",
    "decode_symbols",
    "hybrid_encode",
    "hybrid_decode",
    "jpegls_codec",
    "jpegxl_codec",
    "jpeg2k_codec",
    "jpegls_hybrid_codec",
    "jpegxl_hybrid_codec",
    "versions",
]

# ---------------------------------------------------------------------------------------
# small binary helpers
# ---------------------------------------------------------------------------------------

_DTYPES = [np.dtype(t) for t in ("uint8", "int8", "uint16", "int16", "uint32", "int32")]


def _put_varint(n: int) -> bytes:
    if n < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _get_varint(buf: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


def _zigzag(n: int) -> int:
    return 2 * n if n >= 0 else -2 * n - 1


def _unzigzag(z: int) -> int:
    return z // 2 if z % 2 == 0 else -(z + 1) // 2


def _put_block(data: bytes) -> bytes:
    return _put_varint(len(data)) + bytes(data)


def _get_block(buf: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _get_varint(buf, pos)
    return bytes(buf[pos : pos + n]), pos + n


# ---------------------------------------------------------------------------------------
# offset / bit depth / header
# ---------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """A slice shifted to non-negative values in the smallest unsigned container."""

    array: np.ndarray  # uint8 if bits <= 8 else uint16
    offset: int  # original = array + offset
    bits: int  # true bit depth of `array`, >= 1
    dtype: np.dtype  # original dtype


def prepare(x: np.ndarray) -> Prepared:
    """Shift ``x`` to non-negative (offset = min if min < 0 else 0) and find its true bit depth."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected a 2D slice, got shape {x.shape}")
    if x.dtype not in _DTYPES:
        raise TypeError(f"unsupported dtype {x.dtype}; expected one of {[str(d) for d in _DTYPES]}")
    if x.size == 0:
        return Prepared(np.zeros(x.shape, np.uint8), 0, 1, x.dtype)
    lo = int(x.min())
    offset = lo if lo < 0 else 0
    hi = int(x.max()) - offset
    bits = max(1, hi.bit_length())
    if bits > 16:
        raise ValueError(f"value range needs {bits} bits; these codecs take at most 16")
    u = (x.astype(np.int64) - offset).astype(np.uint8 if bits <= 8 else np.uint16)
    return Prepared(u, offset, bits, x.dtype)


def _restore(u: np.ndarray, offset: int, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(u.astype(np.int64) + offset, info.min, info.max).astype(dtype)


def _header(p: Prepared, shape: tuple[int, int]) -> bytes:
    # dtype code, zigzag offset, rows, cols (varints): 4-8 bytes
    return (
        bytes([_DTYPES.index(p.dtype)])
        + _put_varint(_zigzag(p.offset))
        + _put_varint(shape[0])
        + _put_varint(shape[1])
    )


def _read_header(buf: bytes) -> tuple[np.dtype, int, tuple[int, int], int]:
    dtype = _DTYPES[buf[0]]
    z, pos = _get_varint(buf, 1)
    rows, pos = _get_varint(buf, pos)
    cols, pos = _get_varint(buf, pos)
    return dtype, _unzigzag(z), (rows, cols), pos


def _wrap(x: np.ndarray, body: Callable[[Prepared], bytes]) -> bytes:
    p = prepare(x)
    head = _header(p, x.shape)
    if x.size == 0:
        return head
    return head + body(p)


def _unwrap(data: bytes, body: Callable[[bytes, tuple[int, int]], np.ndarray]) -> np.ndarray:
    dtype, offset, shape, pos = _read_header(data)
    if shape[0] * shape[1] == 0:
        return np.zeros(shape, dtype)
    u = body(bytes(data[pos:]), shape)
    if u.shape != shape:
        raise ValueError(f"decoded shape {u.shape} != header shape {shape}")
    return _restore(u, offset, dtype)


# ---------------------------------------------------------------------------------------
# JPEG-LS (CharLS through pyjpegls, true bit depth)
# ---------------------------------------------------------------------------------------


def _jls_raw_encode(u: np.ndarray, bits: int, near: int) -> bytes:
    # JPEG-LS requires NEAR <= MAXVAL/2; a smaller NEAR still honours the bound k.
    near = min(int(near), ((1 << bits) - 1) // 2, 255)
    u = np.ascontiguousarray(u.astype("<u1" if bits <= 8 else "<u2"))
    try:
        return bytes(jpeg_ls.encode_buffer(u.tobytes(), u.shape[0], u.shape[1], 1, bits, near))
    except RuntimeError:
        # pyjpegls under-sizes its output buffer for tiny images (e.g. 1 x 1); CharLS
        # through imagecodecs declares 8/16 bits but decodes identically.
        return bytes(imagecodecs.jpegls_encode(u, level=near))


def _jls_raw_decode(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    buf, meta = jpeg_ls.decode_buffer(data)
    dt = "<u1" if meta["bits_per_sample"] <= 8 else "<u2"
    return np.frombuffer(buf, dtype=dt).reshape(meta["height"], meta["width"])


def jpegls_encode(x: np.ndarray, near: int = 0) -> bytes:
    """JPEG-LS (CharLS via pyjpegls) with the true bit depth; ``|error| <= near`` on every pixel."""
    return _wrap(x, lambda p: _jls_raw_encode(p.array, p.bits, near))


def jpegls_decode(data: bytes) -> np.ndarray:
    return _unwrap(data, _jls_raw_decode)


def jpegls_encode_declared(x: np.ndarray, near: int = 0) -> bytes:
    """JPEG-LS via ``imagecodecs.jpegls_encode``: declares 8 or 16 bits (the container's width)."""

    def body(p: Prepared) -> bytes:
        n = min(int(near), 127 if p.array.dtype == np.uint8 else 255)
        return bytes(imagecodecs.jpegls_encode(p.array, level=n))

    return _wrap(x, body)


# ---------------------------------------------------------------------------------------
# JPEG XL (libjxl through imagecodecs)
# ---------------------------------------------------------------------------------------


def _jxl_array(p: Prepared) -> np.ndarray:
    # libjxl rejects uint16 input declared with <= 8 bits, so such slices go in as uint8
    return p.array.astype(np.uint8) if p.bits <= 8 else p.array


def jpegxl_encode(x: np.ndarray, distance: float | None = None, effort: int = 7) -> bytes:
    """JPEG XL: lossless when ``distance`` is None, else lossy at that butteraugli distance."""

    def body(p: Prepared) -> bytes:
        a = _jxl_array(p)
        if distance is None:
            return bytes(imagecodecs.jpegxl_encode(a, effort=effort, lossless=True, bitspersample=p.bits))
        return bytes(
            imagecodecs.jpegxl_encode(a, effort=effort, distance=float(distance), bitspersample=p.bits)
        )

    return _wrap(x, body)


def jpegxl_decode(data: bytes) -> np.ndarray:
    return _unwrap(data, lambda b, s: np.asarray(imagecodecs.jpegxl_decode(b)))


# ---------------------------------------------------------------------------------------
# JPEG 2000 (OpenJPEG through imagecodecs, raw J2K codestream)
# ---------------------------------------------------------------------------------------


def jpeg2k_encode(x: np.ndarray, psnr: float | None = None) -> bytes:
    """JPEG 2000: reversible lossless when ``psnr`` is None, else irreversible at that target PSNR (dB)."""

    def body(p: Prepared) -> bytes:
        if psnr is None:
            return bytes(
                imagecodecs.jpeg2k_encode(p.array, codecformat="J2K", bitspersample=p.bits, reversible=True)
            )
        return bytes(
            imagecodecs.jpeg2k_encode(
                p.array, int(round(psnr)), codecformat="J2K", bitspersample=p.bits, reversible=False
            )
        )

    return _wrap(x, body)


def jpeg2k_decode(data: bytes) -> np.ndarray:
    return _unwrap(data, lambda b, s: np.asarray(imagecodecs.jpeg2k_decode(b)))


# ---------------------------------------------------------------------------------------
# mask and residual coding (used by the hybrids)
# ---------------------------------------------------------------------------------------


def encode_mask(mask: np.ndarray) -> bytes:
    """A bool mask, lossless: tag 0 = all false, 1 = 1-bit JPEG-LS, 2 = zlib(packbits). Shape not stored."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return b"\x00"
    jls = _jls_raw_encode(mask.astype(np.uint8), 1, 0)
    z = zlib.compress(np.packbits(mask, axis=None).tobytes(), 9)
    return b"\x01" + jls if len(jls) <= len(z) else b"\x02" + z


def decode_mask(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    tag = data[0]
    if tag == 0:
        return np.zeros(shape, bool)
    if tag == 1:
        return _jls_raw_decode(bytes(data[1:]), shape).astype(bool)
    bits = np.unpackbits(np.frombuffer(zlib.decompress(data[1:]), np.uint8), count=shape[0] * shape[1])
    return bits.reshape(shape).astype(bool)


def encode_symbols(values: np.ndarray) -> bytes:
    """Integers, zero-order model: stored histogram (varints) + constriction ANS. Count not stored."""
    import constriction

    values = np.asarray(values, np.int64).ravel()
    if values.size == 0:
        return b""
    lo = int(values.min())
    counts = np.bincount(values - lo)
    head = _put_varint(_zigzag(lo)) + _put_varint(len(counts))
    if len(counts) == 1:
        return head
    head += b"".join(_put_varint(int(c)) for c in counts)
    model = constriction.stream.model.Categorical(counts.astype(np.float64), perfect=False)
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse((values - lo).astype(np.int32), model)
    return head + coder.get_compressed().astype("<u4").tobytes()


def decode_symbols(data: bytes, n: int) -> np.ndarray:
    import constriction

    if n == 0:
        return np.zeros(0, np.int64)
    z, pos = _get_varint(data, 0)
    lo = _unzigzag(z)
    size, pos = _get_varint(data, pos)
    if size == 1:
        return np.full(n, lo, np.int64)
    counts = np.empty(size, np.int64)
    for i in range(size):
        counts[i], pos = _get_varint(data, pos)
    model = constriction.stream.model.Categorical(counts.astype(np.float64), perfect=False)
    words = np.frombuffer(data[pos:], "<u4").astype(np.uint32)
    coder = constriction.stream.stack.AnsCoder(words)
    return coder.decode(model, n).astype(np.int64) + lo


def fill_rows(x: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Replace the pixels where ``known`` is False by row-wise linear interpolation between
    known pixels (constant beyond the ends); rows with no known pixel copy the nearest row that
    has one; with nothing known at all, the result is constant (the mean). Keeps ``x``'s dtype."""
    out = x.astype(np.float64)
    if known.all():
        return x.copy()
    if not known.any():
        return np.full_like(x, int(round(float(x.mean()))) if x.size else 0)
    cols = np.arange(x.shape[1])
    has = known.any(axis=1)
    for r in np.flatnonzero(has & ~known.all(axis=1)):
        k = known[r]
        out[r, ~k] = np.interp(cols[~k], cols[k], out[r, k])
    if not has.all():
        rows_with = np.flatnonzero(has)
        idx = np.searchsorted(rows_with, np.arange(x.shape[0]))
        below = rows_with[np.clip(idx, 0, len(rows_with) - 1)]
        above = rows_with[np.clip(idx - 1, 0, len(rows_with) - 1)]
        r = np.arange(x.shape[0])
        nearest = np.where(np.abs(below - r) <= np.abs(r - above), below, above)
        out[~has] = out[nearest[~has]]
    return np.rint(out).astype(x.dtype)


# ---------------------------------------------------------------------------------------
# the classical hybrids: ROI exact + NROI via a base codec
# ---------------------------------------------------------------------------------------

BaseEncode = Callable[[np.ndarray], bytes]
BaseDecode = Callable[[bytes], np.ndarray]


def hybrid_encode(
    x: np.ndarray,
    roi: np.ndarray,
    base_encode: BaseEncode,
    base_decode: BaseDecode,
    roi_encode: BaseEncode,
    variants: str = "ab",
) -> bytes:
    """ROI exact + NROI by ``base_encode``; the smaller of two classical layouts:

    (a) ``base`` on the whole image + the exact ROI residual ``x - base_decoded`` (zero-order
        ANS with a stored histogram, see :func:`encode_symbols`) + the mask;
    (b) the ROI's bounding box coded losslessly by ``roi_encode`` with its non-ROI pixels
        filled (row-wise interpolation from ROI pixels) + the image by ``base`` with the ROI
        filled (row-wise interpolation from NROI pixels) + the mask.

    With an empty ROI both reduce to ``base`` + a 1-byte mask. The NROI error is whatever
    ``base`` guarantees (JPEG-LS NEAR=k: ``<= k``). Layout tag, shape, then length-prefixed blocks.
    """
    x = np.asarray(x)
    roi = np.asarray(roi, bool)
    if roi.shape != x.shape:
        raise ValueError(f"mask shape {roi.shape} != image shape {x.shape}")
    shape_head = _put_varint(x.shape[0]) + _put_varint(x.shape[1])
    mask_bytes = encode_mask(roi)
    candidates = []
    if "a" in variants or not roi.any():
        base = base_encode(x)
        resid = b""
        if roi.any():
            rec = base_decode(base)
            resid = encode_symbols(x[roi].astype(np.int64) - rec[roi].astype(np.int64))
        candidates.append(b"a" + shape_head + _put_block(mask_bytes) + _put_block(base) + _put_block(resid))
    if "b" in variants and roi.any():
        rows = np.flatnonzero(roi.any(axis=1))
        cols = np.flatnonzero(roi.any(axis=0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        crop = fill_rows(x[r0:r1, c0:c1], roi[r0:r1, c0:c1])
        outside = fill_rows(x, ~roi)
        box = b"".join(_put_varint(int(v)) for v in (r0, r1, c0, c1))
        candidates.append(
            b"b"
            + shape_head
            + _put_block(mask_bytes)
            + box
            + _put_block(roi_encode(crop))
            + _put_block(base_encode(outside))
        )
    return min(candidates, key=len)


def hybrid_decode(data: bytes, base_decode: BaseDecode, roi_decode: BaseDecode) -> np.ndarray:
    layout = data[:1]
    rows, pos = _get_varint(data, 1)
    cols, pos = _get_varint(data, pos)
    mask_bytes, pos = _get_block(data, pos)
    roi = decode_mask(mask_bytes, (rows, cols))
    if layout == b"a":
        base, pos = _get_block(data, pos)
        resid, pos = _get_block(data, pos)
        out = base_decode(base)
        if roi.any():
            r = decode_symbols(resid, int(roi.sum()))
            out = out.copy()
            out[roi] = (out[roi].astype(np.int64) + r).astype(out.dtype)
        return out
    if layout == b"b":
        box = []
        for _ in range(4):
            v, pos = _get_varint(data, pos)
            box.append(v)
        r0, r1, c0, c1 = box
        crop_bytes, pos = _get_block(data, pos)
        base, pos = _get_block(data, pos)
        out = base_decode(base).copy()
        crop = roi_decode(crop_bytes)
        sub = roi[r0:r1, c0:c1]
        out[r0:r1, c0:c1][sub] = crop[sub]
        return out
    raise ValueError(f"unknown hybrid layout {layout!r}")


def hybrid_layout(data: bytes) -> str:
    """'a' or 'b': which layout :func:`hybrid_encode` chose."""
    return data[:1].decode()


# ---------------------------------------------------------------------------------------
# codec descriptors the benchmark iterates over
# ---------------------------------------------------------------------------------------


@dataclass
class Codec:
    """One operating point. ``encode(x, roi) -> bytes``; ``decode(bytes) -> array``.

    ``roi_bound`` / ``nroi_bound``: the guaranteed max abs error per region (None = no
    guarantee, e.g. JPEG XL / JPEG 2000 lossy). ``uses_roi``: whether the codec reads the mask.
    """

    family: str
    setting: str
    encode: Callable[[np.ndarray, np.ndarray | None], bytes]
    decode: Callable[[bytes], np.ndarray]
    roi_bound: int | None
    nroi_bound: int | None
    uses_roi: bool = False
    x: float | None = None  # numeric setting (NEAR, distance, PSNR target) for plots

    @property
    def name(self) -> str:
        return f"{self.family} {self.setting}"


def jpegls_codec(near: int = 0) -> Codec:
    return Codec(
        "JPEG-LS",
        "lossless" if near == 0 else f"NEAR={near}",
        lambda x, roi=None: jpegls_encode(x, near),
        jpegls_decode,
        near,
        near,
        x=near,
    )


def jpegls_declared_codec(near: int = 0) -> Codec:
    return Codec(
        "JPEG-LS (imagecodecs, 8/16-bit declared)",
        "lossless" if near == 0 else f"NEAR={near}",
        lambda x, roi=None: jpegls_encode_declared(x, near),
        jpegls_decode,
        near,
        near,
        x=near,
    )


def jpegxl_codec(distance: float | None = None, effort: int = 7) -> Codec:
    lossless = distance is None
    return Codec(
        f"JPEG XL e{effort}",
        "lossless" if lossless else f"d={distance:g}",
        lambda x, roi=None: jpegxl_encode(x, distance, effort),
        jpegxl_decode,
        0 if lossless else None,
        0 if lossless else None,
        x=distance,
    )


def jpeg2k_codec(psnr: float | None = None) -> Codec:
    lossless = psnr is None
    return Codec(
        "JPEG 2000",
        "lossless" if lossless else f"target {psnr:g} dB",
        lambda x, roi=None: jpeg2k_encode(x, psnr),
        jpeg2k_decode,
        0 if lossless else None,
        0 if lossless else None,
        x=psnr,
    )


def jpegls_hybrid_codec(k: int) -> Codec:
    """ROI exact + NROI within k: the smaller of layouts (a)/(b) with JPEG-LS NEAR=k as base
    and lossless JPEG-LS for the ROI's bounding box."""
    return Codec(
        "Hybrid JPEG-LS",
        f"(0,{k})",
        lambda x, roi: hybrid_encode(x, roi, lambda a: jpegls_encode(a, k), jpegls_decode, jpegls_encode),
        lambda b: hybrid_decode(b, jpegls_decode, jpegls_decode),
        0,
        k,
        uses_roi=True,
        x=k,
    )


def jpegxl_hybrid_codec(distance: float, effort: int = 7) -> Codec:
    """ROI exact + NROI by JPEG XL lossy at ``distance`` (no NROI bound); ROI box by JPEG XL lossless."""
    return Codec(
        f"Hybrid JPEG XL e{effort}",
        f"(0, d={distance:g})",
        lambda x, roi: hybrid_encode(
            x,
            roi,
            lambda a: jpegxl_encode(a, distance, effort),
            jpegxl_decode,
            lambda a: jpegxl_encode(a, None, effort),
        ),
        lambda b: hybrid_decode(b, jpegxl_decode, jpegxl_decode),
        0,
        None,
        uses_roi=True,
        x=distance,
    )


def versions() -> dict[str, str]:
    """Versions of the libraries behind the wrappers."""
    import constriction  # noqa: F401
    from importlib.metadata import version

    v = {
        "numpy": np.__version__,
        "imagecodecs": imagecodecs.__version__,
        "pyjpegls": version("pyjpegls"),
        "constriction": version("constriction"),
    }
    libs = dict(item.split("-", 1) for item in imagecodecs.version().split(", ") if "-" in item)
    for key in ("charls", "libjxl", "openjpeg"):
        if key in libs:
            v[f"{key} (imagecodecs)"] = libs[key]
    try:
        v["CharLS (pyjpegls)"] = str(jpeg_ls.CharLS.__version__) if hasattr(jpeg_ls.CharLS, "__version__") else ""
    except Exception:  # pragma: no cover
        pass
    return {k: s for k, s in v.items() if s}


def best_of(fn, repeats: int):
    """(result, best wall seconds) of ``repeats`` calls of ``fn`` (at least one)."""
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best
