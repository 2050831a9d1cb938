"""The .mroi container: magic, version, JSON header, chunk index, CRC-protected chunks.

Layout (all integers little-endian)::

    8 bytes   magic  b"\\x89MROI\\r\\n\\x1a"
    u16       format version
    u32       header length H (<= MAX_HEADER_BYTES)
    H bytes   header, UTF-8 JSON (format 6: {"deflated_header_bytes": D, "medroi_version": the
              writer}, so that medroi 0.5 still names the writer when it refuses the file)
    u32       CRC-32 of the header (format 3: of the version u16 and the header, so a flipped
              version bit cannot make a format-2 file decode as format 3 or back)
    u32       chunk count N (<= MAX_CHUNKS)
    D bytes   format 6 only: the header's JSON as raw DEFLATE (RFC 1951) against ``HEADER_DICTIONARY``
    u32       format 6 only: CRC-32 of those D bytes
    N x 16    index: u64 offset (from the file start), u32 length, u32 CRC-32 of the chunk
    u32       CRC-32 of the index
    ...       chunks

Every size is checked against the bytes actually present before anything is allocated,
so a damaged or hostile file raises CorruptFileError, never a crash or a huge allocation.
No pickle anywhere.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass

from medroi.errors import CorruptFileError, UnsupportedVersionError

MAGIC = b"\x89MROI\r\n\x1a"
#: 2 (medroi 0.2): pixels coded with adaptive binary models (range coder); 3 (medroi 0.3,
#: every file it writes): background pixels skip the model (``raster.encode_slice``), an
#: optional table of used values (histogram packing, ``histogram.py``), Huffman pair symbols
#: (``raster.encode_slice_prefix``), a header CRC that covers the version. Format 2 files are
#: still read; format 1 (medroi 0.1, static per-slice tables) is refused with a message
#: naming its writer.
#: 4 (medroi 0.4, only files that use it): a 2D image predicted by MED with contexts of exact
#: local differences (header ``predictor.prediction: "med_exact"``, ``raster.PREDICT_MED_EXACT``),
#: Huffman model 2 (header ``huffman_model: 2``: runs against the row above, masks coded as images),
#: a kept source file whose ROI mask is context-coded (``kept_source.mask_coding: "context"``).
#: 5 (medroi 0.5, only files that use it): a lossless 2D image coded by context mixing (header
#: ``predictor.prediction: "wp_mix"`` or ``"med_mix"``, ``mixing``).
#: 6 (medroi 0.6, only files that use it): context mixing's second generation (header
#: ``predictor.prediction: "wp_mix2"`` or ``"med_mix2"``; colour planes as differences:
#: ``"wp_planes2"`` / ``"med_planes2"``), and the header stored deflated
#: (raw DEFLATE, RFC 1951, against the fixed preset dictionary ``HEADER_DICTIONARY``, after a
#: two-key JSON header): a 2D file's ~330 header bytes become ~100, 0.9 % of a 512 x 512 CT's
#: file. Also every file whose header is at least ``DEFLATE_HEADER_BYTES`` (a DICOM source's
#: datasets, kept as base64 so the series can be written back: 6.3 of a 35-slice MR series'
#: 7.5 MB).
#: Everything else is still written as format 3, which medroi 0.3 reads.
FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3, 4, 5, 6)
DEFLATED_HEADER_FROM = 6
DEFLATE_HEADER_BYTES = 4096
MAX_HEADER_BYTES = 64 << 20
#: part of format 6: never change it (deflate finds the strings nearest its end cheapest)
HEADER_DICTIONARY = (
    b'"source":{"affine":null,"bits_allocated":16,"bits_stored":12,"body_part_examined":null,"cols":512,'
    b'"datasets":["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABESUNN'
    b'AgAAAFVMBADAAAAAAgABAE9CAAACAAAAAAECAAIAVUkaADEuMi44NDAuMTAwMDguNS4xLjQuMS4xLj"],"dtype":"<u2",'
    b'"filenames":[".dcm"],"frames":1,"image_orientation":[1.0,0.0,0.0,0.0,1.0,0.0],"image_positions":[null],'
    b'"lossy_image_compression":null,"modality":"CT","photometric_interpretation":"MONOCHROME2",'
    b'"pixel_representation":0,"pixel_spacing":null,"rescale_intercept":null,"rescale_slope":null,"rows":512,'
    b'"series_instance_uid":"1.2.840.","slice_thickness":null,"source_transfer_syntax":"1.2.840.10008.1.2.1",'
    b'"spacing":null}}'
    b'"source":{"alpha_dropped":false,"conversion":null,"dpi":null,"dtype":"|u1","frame":null,"mode":"L",'
    b'"pil_format":"PNG","shape":[512,512]}}'
    b'{"block_grid":[1,1],"dtype":"uint16","entropy":"ans","gop":32,"medroi_version":"0.6.0",'
    b'"metadata":{"format":"dicom","input_bytes":524288,"name":".png","roi_rule":"no-roi-lossless",'
    b'"roi_source":"no mask given; no shipped model fits 2D dicom, modality unknown"},"nroi_max_error":0,'
    b'"predictor":{"kind":"classical","prediction":"med_mix2"},"roi_fraction":0.0,"roi_max_error":0,'
    b'"shape":[512,512],"slice_axis":1,"value_range":[0,4095],"value_table":{"count":125,"gaps":""}}'
    b'"predictor":{"kind":"classical","prediction":"wp_mix2"},"roi_fraction":0.0,"roi_max_error":0,'
)
MAX_CHUNKS = 1 << 16
_INDEX_ENTRY = struct.Struct("<QII")


@dataclass(frozen=True)
class Container:
    """A parsed .mroi file: its header and a view of each chunk's bytes."""

    header: dict
    data: bytes
    index: tuple[tuple[int, int, int], ...]  # (offset, length, crc) per chunk
    version: int = FORMAT_VERSION

    def chunk(self, k: int) -> bytes:
        """Bytes of chunk ``k``, checked against its CRC."""
        if not 0 <= k < len(self.index):
            raise CorruptFileError(f"chunk {k} does not exist (the file has {len(self.index)})")
        offset, length, crc = self.index[k]
        payload = self.data[offset : offset + length]
        if zlib.crc32(payload) != crc:
            raise CorruptFileError(f"chunk {k} (slice {k}) is damaged: CRC mismatch")
        return payload


def header_checksum(version: int, header_bytes: bytes) -> int:
    """The CRC-32 stored after the header: from format 3 on it covers the version too."""
    if version >= 3:
        return zlib.crc32(header_bytes, zlib.crc32(struct.pack("<H", version)))
    return zlib.crc32(header_bytes)


def _header_json(header: dict) -> bytes:
    return json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")


def pack(header: dict, chunks: list[bytes], version: int = FORMAT_VERSION) -> bytes:
    """Serialize a header and chunks into .mroi bytes of format ``version`` (what the file's
    features need), or of the first format with a deflated header where the header is at least
    ``DEFLATE_HEADER_BYTES`` (a DICOM source's datasets)."""
    if version not in READABLE_VERSIONS:
        raise ValueError(f"cannot write format {version}")
    header_bytes = _header_json(header)
    if len(header_bytes) > MAX_HEADER_BYTES:
        raise ValueError("header too large")
    if len(header_bytes) >= DEFLATE_HEADER_BYTES:
        version = max(version, DEFLATED_HEADER_FROM)
    header_bytes, deflated = stored_header(version, header_bytes, header.get("medroi_version"))
    if len(chunks) > MAX_CHUNKS:
        raise ValueError(f"too many slices ({len(chunks)} > {MAX_CHUNKS})")
    prefix = MAGIC + struct.pack("<HI", version, len(header_bytes)) + header_bytes
    prefix += struct.pack("<II", header_checksum(version, header_bytes), len(chunks)) + deflated
    offset = len(prefix) + _INDEX_ENTRY.size * len(chunks) + 4
    index = b""
    for chunk in chunks:
        index += _INDEX_ENTRY.pack(offset, len(chunk), zlib.crc32(chunk))
        offset += len(chunk)
    return prefix + index + struct.pack("<I", zlib.crc32(index)) + b"".join(chunks)


def _refuse_version(version: int, header: dict) -> None:
    """Say which medroi wrote a file of another format version and what to do."""
    from medroi import __version__

    writer = header.get("medroi_version")
    writer = writer if isinstance(writer, str) and len(writer) < 32 else "an unknown version"
    hint = f"decode it with medroi {writer} and compress it again" if version < FORMAT_VERSION else "upgrade medroi"
    readable = " and ".join(str(v) for v in READABLE_VERSIONS)
    raise UnsupportedVersionError(
        f"this file is .mroi format {version}, written by medroi {writer}; medroi {__version__} "
        f"reads formats {readable}: {hint}"
    )


def _need(data: bytes, end: int, what: str) -> None:
    if end > len(data):
        raise CorruptFileError(f"file is truncated: {what} runs past the end ({len(data)} bytes)")


def stored_header(version: int, text: bytes, writer: str | None) -> tuple[bytes, bytes]:
    """What a file of format ``version`` stores of the header JSON ``text``: the bytes of the
    header field, and those after the chunk count (format 6: the deflated header and its CRC)."""
    if version < DEFLATED_HEADER_FROM:
        return text, b""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, HEADER_DICTIONARY)
    deflated = deflate.compress(text) + deflate.flush()
    wrapper = _header_json({"deflated_header_bytes": len(deflated), "medroi_version": writer})
    return wrapper, deflated + struct.pack("<I", zlib.crc32(deflated))


def deflated_header(data: bytes, start: int, wrapper: dict) -> tuple[bytes, int]:
    """The JSON of a format-6 header stored deflated from ``start``, and where the chunk index begins."""
    length = wrapper.get("deflated_header_bytes")
    if type(length) is not int or not 0 < length <= MAX_HEADER_BYTES:
        raise CorruptFileError(f"file header is damaged: deflated header size {length!r}")
    _need(data, start + length + 4, "the deflated header")
    stored = data[start : start + length]
    if zlib.crc32(stored) != struct.unpack_from("<I", data, start + length)[0]:
        raise CorruptFileError("file header is damaged: CRC mismatch of its deflated part")
    return _inflate(stored), start + length + 4


def _inflate(stored: bytes) -> bytes:
    """A deflated header's JSON bytes; at most MAX_HEADER_BYTES, so a deflate bomb is refused."""
    inflate = zlib.decompressobj(-15, zdict=HEADER_DICTIONARY)
    try:
        text = inflate.decompress(stored, MAX_HEADER_BYTES + 1)
    except zlib.error as error:
        raise CorruptFileError(f"file header is damaged: it does not inflate ({error})") from error
    if len(text) > MAX_HEADER_BYTES:
        raise CorruptFileError("file header inflates past the limit")
    if not inflate.eof or inflate.unused_data:
        raise CorruptFileError("file header is damaged: its deflate stream is truncated or followed by junk")
    return text


def _parse_json(text: bytes) -> dict:
    """The header's JSON object (CorruptFileError if it is not one)."""
    try:  # ValueError: bad JSON, over-long integer literals; RecursionError: deep nesting
        header = json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise CorruptFileError(f"file header is not valid JSON ({error})") from error
    if not isinstance(header, dict):
        raise CorruptFileError("file header is not a JSON object")
    return header


def unpack(data: bytes) -> Container:
    """Parse and check .mroi bytes (header, index and their CRCs; chunks are checked on use)."""
    data = bytes(data)
    _need(data, len(MAGIC) + 6, "the preamble")
    if data[: len(MAGIC)] != MAGIC:
        raise CorruptFileError("not a .mroi file (bad magic bytes)")
    version, header_length = struct.unpack_from("<HI", data, len(MAGIC))
    if header_length > MAX_HEADER_BYTES:
        raise CorruptFileError(f"declared header size {header_length} exceeds the limit")
    start = len(MAGIC) + 6
    _need(data, start + header_length + 8, "the header")
    header_bytes = data[start : start + header_length]
    (header_crc, n_chunks) = struct.unpack_from("<II", data, start + header_length)
    if header_checksum(version, header_bytes) != header_crc:
        if zlib.crc32(header_bytes) != header_crc:
            raise CorruptFileError("file header is damaged: CRC mismatch")
        if version in READABLE_VERSIONS:  # the header is intact, the version is not: a flipped bit
            raise CorruptFileError(f"file preamble is damaged: format version {version} does not match the header's CRC")
        # else an older format's plain CRC: refused below with the name of its writer
    header = _parse_json(header_bytes)
    if version not in READABLE_VERSIONS:
        _refuse_version(version, header)
    index_start = start + header_length + 8
    if version >= DEFLATED_HEADER_FROM:
        text, index_start = deflated_header(data, index_start, header)
        header = _parse_json(text)
    if n_chunks > MAX_CHUNKS:
        raise CorruptFileError(f"declared chunk count {n_chunks} exceeds the limit {MAX_CHUNKS}")
    index_end = index_start + _INDEX_ENTRY.size * n_chunks
    _need(data, index_end + 4, "the chunk index")
    index_bytes = data[index_start:index_end]
    if zlib.crc32(index_bytes) != struct.unpack_from("<I", data, index_end)[0]:
        raise CorruptFileError("chunk index is damaged: CRC mismatch")
    index = tuple(_INDEX_ENTRY.iter_unpack(index_bytes))
    for k, (offset, length, _) in enumerate(index):
        if offset < index_end + 4 or offset + length > len(data):
            raise CorruptFileError(f"chunk {k} lies outside the file (truncated or damaged)")
    return Container(header=header, data=data, index=index, version=version)
