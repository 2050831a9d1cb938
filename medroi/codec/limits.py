"""Resource caps for decoding untrusted .mroi files: how much memory a header may claim.

A header is hostile input: it could declare a 65536 x 65536 slice coded in a few bytes
(constant slices cost almost nothing). Before anything is allocated, the decoder estimates
the memory the declared image needs (the array, its ROI mask and one slice's working
arrays) and refuses files above a cap, so peak memory stays within the cap plus the
interpreter's constant footprint, and decoding time, linear in the declared voxels, stays
bounded with it.
"""

from __future__ import annotations

import os

import numpy as np

from medroi.errors import LimitExceededError

#: Environment variable that raises (or lowers) the default cap, in bytes ("8G" style suffixes allowed).
MAX_OUTPUT_ENV = "MEDROI_MAX_OUTPUT_BYTES"
DEFAULT_MAX_OUTPUT_BYTES = 4 << 30
#: Working bytes per pixel of the slice being decoded (int64 predictor state, interlace
#: indices, per-pass temporaries); measured peaks: 133 (2D), 205 (3D) classical, 361 with
#: the network (benchmarks/fuzz_decoder.py notes), rounded up.
WORK_BYTES_PER_PIXEL = 256
WORK_BYTES_PER_PIXEL_NETWORK = 512
_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str | int) -> int:
    """``4294967296``, ``"512M"``, ``"8G"`` -> bytes; raises ValueError on anything else."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        body = str(text).strip().upper().removesuffix("B").removesuffix("I")
        suffix = body[-1:] if body[-1:] in _SUFFIXES else ""
        value = int(body[: len(body) - len(suffix)]) * _SUFFIXES[suffix]
    if value <= 0:
        raise ValueError(f"a size must be positive, got {text!r}")
    return value


def output_limit(max_output_bytes: int | str | None = None) -> int:
    """The cap in bytes: the argument, else $MEDROI_MAX_OUTPUT_BYTES, else 4 GiB."""
    name, value = "max_output_bytes", max_output_bytes
    if value is None:
        name, value = MAX_OUTPUT_ENV, os.environ.get(MAX_OUTPUT_ENV)
        if not value:
            return DEFAULT_MAX_OUTPUT_BYTES
    try:
        return parse_size(value)
    except ValueError:
        raise LimitExceededError(f"{name}={value!r} is not a size; give bytes or e.g. 512M, 8G") from None


def decode_bytes(shape: tuple[int, ...], dtype: str, slice_pixels: int, n_slices: int, network: bool) -> int:
    """Memory decoding needs: ``n_slices`` slices of image + mask, plus one slice's working set."""
    per_voxel = np.dtype(dtype).itemsize + 1  # the array and its bool ROI mask
    work = WORK_BYTES_PER_PIXEL_NETWORK if network else WORK_BYTES_PER_PIXEL
    return n_slices * slice_pixels * per_voxel + slice_pixels * work


def check_decode_size(shape, dtype: str, slice_pixels: int, n_slices: int, network: bool,
                      max_output_bytes: int | str | None) -> None:
    """Raise LimitExceededError when decoding this header would need more than the cap."""
    limit = output_limit(max_output_bytes)
    needed = decode_bytes(tuple(shape), dtype, slice_pixels, n_slices, network)
    if needed > limit:
        raise LimitExceededError(
            f"this file declares a {'x'.join(map(str, shape))} {dtype} image that needs about "
            f"{needed / 2**20:.0f} MiB to decode, above the limit of {limit / 2**20:.0f} MiB; if you trust "
            f"the file, raise the limit (max_output_bytes=, CLI --max-output-bytes, or {MAX_OUTPUT_ENV})"
        )
