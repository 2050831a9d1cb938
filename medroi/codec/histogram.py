"""Histogram packing: code the ranks of the values an image uses, not the values.

Why: many radiographs and CTs use a fraction of their range (a 16-bit CT stored in steps
of 32, a 12-bit detector stretched to 16 bits, a LUT-mapped 8-bit X-ray). Residuals of
such an image are multiples of the step, and the coder spends raw bits on low bits that
are always zero (CT-MONO2-16-ankle: 4x the size of JPEG XL, which packs it as a palette).
Ranks make the image dense again; the table of used values travels in the header.

Lossless only: a bound on values is not a bound on ranks. The encoder packs when a cheap
estimate of the residual bits (MED prediction, log2 magnitude) says it pays.
"""

from __future__ import annotations

import base64
import zlib

import numpy as np

from medroi.errors import CorruptFileError

#: pack when the estimate of the packed residual bits is below this fraction of the plain one
PACK_GAIN = 0.97
_BINCOUNT_RANGE = 1 << 24  # wider ranges: np.unique instead of a bincount
_ESTIMATE_SLICES = 8
MAX_TABLE_VALUES = 1 << 24


def used_values(image: np.ndarray) -> np.ndarray:
    """The sorted distinct values of ``image`` (int64)."""
    lo, hi = int(image.min()), int(image.max())
    if hi - lo < _BINCOUNT_RANGE:
        counts = np.bincount((image.ravel().astype(np.int64) - lo), minlength=hi - lo + 1)
        return np.flatnonzero(counts).astype(np.int64) + lo
    return np.unique(image).astype(np.int64)


def _med_bits(slice_: np.ndarray) -> float:
    """Estimated residual bits of one slice: sum of log2(1 + |x - MED(W, N, NW)|)."""
    x = slice_.astype(np.int64)
    w, n, nw = x[1:, :-1], x[:-1, 1:], x[:-1, :-1]
    gradient = w + n - nw
    med = np.where(nw >= np.maximum(w, n), np.minimum(w, n), np.where(nw <= np.minimum(w, n), np.maximum(w, n), gradient))
    return float(np.log2(1.0 + np.abs(x[1:, 1:] - med)).sum())


def should_pack(slices: np.ndarray, table: np.ndarray) -> bool:
    """Whether coding ranks pays on these (N, H, W) slices (a sample of them)."""
    lo, hi = int(table[0]), int(table[-1])
    if table.size == hi - lo + 1 or table.size > MAX_TABLE_VALUES:
        return False  # every value of the range is used: ranks are the values shifted
    if min(slices.shape[1:]) < 2:
        return False
    picks = np.unique(np.linspace(0, slices.shape[0] - 1, min(_ESTIMATE_SLICES, slices.shape[0])).astype(int))
    scale = slices.shape[0] / picks.size
    plain = scale * sum(_med_bits(slices[k]) for k in picks)
    packed = scale * sum(_med_bits(to_ranks(slices[k], table)) for k in picks) + _table_bits(table)
    return packed < PACK_GAIN * plain


def _table_bits(table: np.ndarray) -> float:
    """Bits of the table in the header, before deflate (7 bits of a gap per byte)."""
    gap_bits = np.floor(np.log2(np.diff(table).astype(np.float64))) + 1
    return float(8 * np.ceil(gap_bits / 7).sum())


def to_ranks(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The rank of each value in ``table`` (every value must be in it)."""
    return np.searchsorted(table, values).astype(np.int64)


def from_ranks(ranks: np.ndarray, table: np.ndarray, dtype) -> np.ndarray:
    """Values of ``ranks`` (already checked to lie in [0, len(table)))."""
    return table[ranks].astype(dtype)


def encode_table(table: np.ndarray) -> dict:
    """JSON-safe form: the count and the gaps between used values (LEB128, deflated, base64)."""
    gaps = np.diff(table)
    out = bytearray()
    for gap in gaps.tolist():
        while True:
            byte = gap & 0x7F
            gap >>= 7
            out.append(byte | (0x80 if gap else 0))
            if not gap:
                break
    return {"count": int(table.size), "gaps": base64.b64encode(zlib.compress(bytes(out), 9)).decode("ascii")}


def table_count(obj, lo: int, hi: int, voxels: int) -> int:
    """The declared number of used values, checked without decoding: at least 2, and no more
    than the range holds or the image has voxels (each used value occurs)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("gaps"), str):
        raise CorruptFileError("file header is damaged: the value table is not a JSON object with gaps")
    count = obj.get("count")
    limit = min(MAX_TABLE_VALUES, hi - lo + 1, voxels)
    if isinstance(count, bool) or not isinstance(count, int) or not 2 <= count <= limit:
        raise CorruptFileError(f"file header is damaged: a value table of {count!r} values for the range [{lo}, {hi}]")
    return count


_MAX_GAP_BYTES = 5  # 35 bits: any gap of a 32-bit range


def decode_table(obj, lo: int, hi: int, voxels: int) -> np.ndarray:
    """Inverse of ``encode_table`` for an image of ``voxels`` values spanning [lo, hi];
    damaged or hostile tables raise CorruptFileError (sizes checked before decoding)."""
    count = table_count(obj, lo, hi, voxels)
    try:
        packed = base64.b64decode(obj["gaps"], validate=True)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, _MAX_GAP_BYTES * (count - 1))
    except (ValueError, zlib.error) as error:
        raise CorruptFileError(f"file header is damaged: the value table does not decode ({error})") from error
    if inflater.unconsumed_tail or not inflater.eof:
        raise CorruptFileError("file header is damaged: the value table is too long or truncated")
    data = np.frombuffer(raw, np.uint8).astype(np.int64)
    ends = np.flatnonzero(data < 0x80)  # the last byte of each LEB128 entry
    if ends.size != count - 1 or ends[-1] != data.size - 1:
        raise CorruptFileError("file header is damaged: the value table has the wrong number of entries")
    starts = np.concatenate([[0], ends[:-1] + 1])
    entry = np.repeat(np.arange(count - 1), ends - starts + 1)
    position = np.arange(data.size) - starts[entry]
    if position.max() >= _MAX_GAP_BYTES:
        raise CorruptFileError("file header is damaged: a value table entry is too long")
    gaps = np.zeros(count - 1, np.int64)
    np.add.at(gaps, entry, (data & 0x7F) << (7 * position))
    if (gaps < 1).any() or int(gaps.sum()) != hi - lo:
        raise CorruptFileError("file header is damaged: the value table does not span the image's range")
    return np.concatenate([[lo], lo + np.cumsum(gaps)]).astype(np.int64)
