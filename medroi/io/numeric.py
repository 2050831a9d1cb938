"""Checks and lossless conversions shared by the readers: empty, NaN, float -> integer."""

from __future__ import annotations

import numpy as np

from medroi.errors import InvalidImageError, LossyInputError, UnsupportedFormatError

# Integer dtypes medroi carries, smallest first (unsigned before signed of the same size).
INTEGER_DTYPES = (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32)
QUANTIZE_HINT = "pass quantize_step=<step> (CLI: --quantize-step STEP) to store round(x / step) as integers"


def check_not_empty(array: np.ndarray, where: str) -> None:
    """Refuse arrays with no elements."""
    if array.size == 0:
        raise InvalidImageError(f"{where}: the image is empty (shape {tuple(array.shape)}); check the file")


def smallest_integer_dtype(lo: int | float, hi: int | float) -> np.dtype | None:
    """The smallest dtype in INTEGER_DTYPES holding [lo, hi], or None if none does."""
    for dtype in INTEGER_DTYPES:
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dtype)
    return None


def to_native_integer(array: np.ndarray, where: str) -> np.ndarray:
    """Native byte order; 64-bit integers narrowed to the smallest dtype that holds them."""
    array = np.asarray(array)
    if array.dtype.byteorder not in ("=", "|"):
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if array.dtype.kind not in "iu":
        raise UnsupportedFormatError(f"{where}: pixel type {array.dtype} is not supported (integers or floats only)")
    if np.dtype(array.dtype).type in INTEGER_DTYPES:
        return array
    target = smallest_integer_dtype(int(array.min()), int(array.max())) if array.size else np.dtype(np.int32)
    if target is None:
        raise UnsupportedFormatError(
            f"{where}: {array.dtype} values {array.min()}..{array.max()} do not fit 32-bit integers; "
            "rescale the image to 32 bits or fewer before compressing"
        )
    return array.astype(target)


def float_to_integer(array: np.ndarray, where: str, quantize_step: float | None = None) -> np.ndarray:
    """Integral floats -> smallest integer dtype; otherwise quantize at ``quantize_step`` or refuse.

    Raises InvalidImageError for NaN/inf and LossyInputError for non-integral values
    when no step is given.
    """
    array = np.asarray(array)
    if array.dtype.byteorder not in ("=", "|"):
        array = array.astype(array.dtype.newbyteorder("="))
    finite = np.isfinite(array)
    if not finite.all():
        kind = "NaN" if np.isnan(array).any() else "infinite"
        raise InvalidImageError(
            f"{where}: the image holds {kind} values ({int((~finite).sum())} voxels); "
            "replace them (e.g. with 0) before compressing"
        )
    if quantize_step is not None:
        step = float(quantize_step)
        if not np.isfinite(step) or step <= 0:
            raise InvalidImageError(f"{where}: quantize_step must be a positive number, got {quantize_step!r}")
        values = np.rint(array.astype(np.float64) / step)
    else:
        values = array
        if not np.array_equal(values, np.trunc(values)):
            raise LossyInputError(
                f"{where}: the image holds non-integral {array.dtype} values, which cannot be coded "
                f"losslessly; {QUANTIZE_HINT} (the error is then at most step / 2)"
            )
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    target = smallest_integer_dtype(lo, hi)
    if target is None:
        raise LossyInputError(
            f"{where}: values {lo:g}..{hi:g} do not fit 32-bit integers; {QUANTIZE_HINT} with a larger step"
        )
    return values.astype(target)
