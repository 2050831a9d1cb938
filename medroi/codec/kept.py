"""Kept source files: a .mroi that stores the input file's own bytes instead of re-coding its pixels.

An already-compressed input (a JPEG, a lossy JPEG 2000 DICOM) decodes to pixels that take
about 3x the file when stored losslessly. When the input file is smaller than medroi's
coding of its pixels, ``medroi.api.compress_file`` keeps the file byte-exact in a .mroi:

    header  the usual fields (shape, dtype, bounds 0/0: the pixels come back exactly) plus
            "kept_source": {format, name, bytes, sha256, pixels_crc32, requested}
    chunk 0 the input file, byte for byte
    chunk 1 the ROI mask, slice by slice with the codec's context-modelled mask coder
            (``kept_source.mask_coding: "context"``; files before it: zlib of the packed bits,
            still read). A lung mask takes ~10x fewer bytes than zlib's, which decides whether
            keeping a JPEG beats coding its pixels.

Decoding reads the pixels back with ``medroi.io.read_image`` (as compress read them; imported
lazily, so the classical path stays numpy-only) and checks them against ``pixels_crc32``:
another machine's JPEG decoder may give other pixels, and then decoding says so instead of
returning them. The file itself always comes back byte-exact (``source_file``).
"""

from __future__ import annotations

import hashlib
import tempfile
import zlib
from pathlib import Path

import numpy as np

from medroi.codec import container
from medroi.errors import CorruptFileError

KEY = "kept_source"
#: How chunk 1 holds the ROI mask: "context" (written now) or "zlib" (absent in older files).
MASK_CODINGS = ("context", "zlib")
#: The formats whose single files can be kept, and the suffix their reader needs.
SUFFIXES = {"jpeg": ".jpg", "dicom": ".dcm", "png": ".png", "tiff": ".tif", "nifti": ".nii.gz"}
_NIFTI_SUFFIXES = (".nii", ".nii.gz")


def pixels_crc32(array: np.ndarray) -> int:
    """CRC-32 of the pixels in C order, native little-endian (what decoding must reproduce)."""
    return zlib.crc32(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())


def pack(header: dict, source: bytes, source_name: str, source_format: str, array: np.ndarray,
         roi_mask: np.ndarray, requested: tuple[int | None, int | None]) -> bytes:
    """.mroi bytes keeping ``source`` (the input file) for ``array``; ``header`` = the codec's
    header fields (shape, dtype, slice axis, metadata); the bounds become 0/0 (exact)."""
    if source_format not in SUFFIXES:
        raise ValueError(f"format {source_format!r} cannot be kept")
    header = dict(header)
    header.update({
        "roi_max_error": 0, "nroi_max_error": 0, "entropy": "none", "gop": 1, "predictor": {"kind": "none"},
        KEY: {
            "format": source_format, "name": Path(source_name).name, "bytes": len(source),
            "sha256": hashlib.sha256(source).hexdigest(), "pixels_crc32": pixels_crc32(array),
            "requested": list(requested), "mask_coding": "context",
        },
    })
    header.pop("huffman_model", None)  # the coded pixels' coder, not this file's
    mask = _encode_mask(np.asarray(roi_mask, bool), int(header.get("slice_axis", 0)))
    # format 4: medroi 0.3 would take the context-coded mask for deflated bits and call the file damaged
    return container.pack(header, [bytes(source), mask], version=4)


def _mask_slices(shape: tuple[int, ...], axis: int) -> tuple[int, tuple[int, int]]:
    """(number of slices, slice shape) of a 2D image (one slice) or a volume along ``axis``."""
    if len(shape) == 2:
        return 1, (shape[0], shape[1])
    rest = tuple(n for i, n in enumerate(shape) if i != axis)
    return shape[axis], (rest[0], rest[1])


def _encode_mask(mask: np.ndarray, axis: int) -> bytes:
    """The codec's mask coder (ANS), each slice with the previous one as its reference."""
    from medroi.codec.entropy import Encoder
    from medroi.codec.slice_coder import encode_mask

    slices = mask[None] if mask.ndim == 2 else np.moveaxis(mask, axis, 0)
    encoder, previous = Encoder("ans"), None
    for part in slices:
        encode_mask(encoder, np.ascontiguousarray(part), previous)
        previous = part
    return encoder.finish()


def _decode_mask(data: bytes, shape: tuple[int, ...], axis: int) -> np.ndarray:
    from medroi.codec.entropy import Decoder
    from medroi.codec.slice_coder import decode_mask

    n, plane = _mask_slices(shape, axis)
    try:
        decoder, previous, slices = Decoder(data, "ans"), None, []
        for _ in range(n):
            previous = decode_mask(decoder, plane, previous)
            slices.append(previous)
        decoder.check_exhausted()
    except CorruptFileError as error:
        raise CorruptFileError(f"the kept file's ROI mask is damaged ({error})") from error
    stack = np.stack(slices)
    return stack[0] if len(shape) == 2 else np.moveaxis(stack, 0, axis)


def _inflate_mask(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Files before ``mask_coding``: zlib of the packed bits."""
    n = int(np.prod(shape))
    packed = zlib.decompressobj()
    try:
        bits = packed.decompress(data, (n + 7) // 8)
    except zlib.error as error:
        raise CorruptFileError(f"the kept file's ROI mask is damaged ({error})") from error
    if len(bits) != (n + 7) // 8:
        raise CorruptFileError("the kept file's ROI mask is truncated")
    return np.unpackbits(np.frombuffer(bits, np.uint8), count=n).reshape(shape).astype(bool)


def is_kept(header: dict) -> bool:
    """Whether a parsed header describes a kept source file."""
    return KEY in header


def check(parsed: container.Container) -> tuple[dict, tuple[int, ...], np.dtype]:
    """(kept description, shape, dtype) of a kept file's header; CorruptFileError if damaged."""
    header = parsed.header
    try:
        kept = dict(header[KEY])
        shape = tuple(int(n) for n in header["shape"])
        dtype = np.dtype(str(header["dtype"]))
        fmt, size = str(kept["format"]), int(kept["bytes"])
        int(kept["pixels_crc32"]), str(kept["sha256"]), str(kept["name"])
        axis = int(header["slice_axis"])
        coding = str(kept.get("mask_coding", "zlib"))
        exact = header["roi_max_error"] == 0 and header["nroi_max_error"] == 0
        dict(header["predictor"]), str(header["entropy"]), int(header["gop"])
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptFileError(f"kept-source header is incomplete or damaged ({error})") from error
    if coding not in MASK_CODINGS or (coding == "context" and parsed.version < 4):
        raise CorruptFileError(f"kept-source header names an unknown mask coding {coding!r} for format {parsed.version}")
    if not exact or fmt not in SUFFIXES or len(parsed.index) != 2 or parsed.index[0][1] != size:
        raise CorruptFileError("kept-source file is inconsistent (format, chunk count or size)")
    if len(shape) not in (2, 3) or min(shape) < 1 or max(shape) > 1 << 16 or not 0 <= axis < len(shape):
        raise CorruptFileError(f"kept-source header declares an impossible shape {list(shape)}")
    if dtype.kind not in "iu":
        raise CorruptFileError(f"kept-source header declares an unsupported dtype {dtype}")
    return kept, shape, dtype


def source_file(parsed: container.Container) -> tuple[bytes, dict]:
    """The kept input file's bytes (checked: CRC and SHA-256) and its description."""
    kept, _, _ = check(parsed)
    source = parsed.chunk(0)
    if hashlib.sha256(source).hexdigest() != kept["sha256"]:
        raise CorruptFileError("the kept source file is damaged: SHA-256 mismatch")
    return source, kept


def _suffix(kept: dict) -> str:
    name = kept["name"].lower()
    if kept["format"] == "nifti":
        return next((s for s in reversed(_NIFTI_SUFFIXES) if name.endswith(s)), ".nii.gz")
    return SUFFIXES[kept["format"]]


def decode(parsed: container.Container) -> tuple[np.ndarray, np.ndarray, dict]:
    """(pixels, ROI mask, metadata) of a kept source file, pixels checked against the encoder's."""
    from medroi.io import read_image

    source, kept = source_file(parsed)
    _, shape, dtype = check(parsed)
    with tempfile.TemporaryDirectory(prefix="medroi-kept-") as folder:
        path = Path(folder) / ("source" + _suffix(kept))
        path.write_bytes(source)
        image = read_image(path)
    array = np.asarray(image.array)
    if array.shape != shape or array.dtype != dtype or pixels_crc32(array) != int(kept["pixels_crc32"]):
        raise CorruptFileError(
            f"this machine's {kept['format']} decoder gives other pixels than the one that wrote the file; "
            f"the original file is intact: write it back byte-exact with -o NAME{_suffix(kept)}"
        )
    if kept.get("mask_coding", "zlib") == "context":
        mask = _decode_mask(parsed.chunk(1), shape, int(parsed.header["slice_axis"]))
    else:
        mask = _inflate_mask(parsed.chunk(1), shape)
    metadata = {"format": image.format, "name": kept["name"], "source": image.metadata}
    return array, mask, metadata
