"""Hostile variants of valid .mroi files that get past the integrity checks.

Random damage is almost always stopped by a CRC. These mutators recompute the CRCs after
editing, so what reaches the decoder is a well-formed container around hostile content:
flipped bits and truncated entropy payloads, edited header fields (shapes, dtypes, bounds,
wrong types, huge or negative numbers), shuffled, duplicated or overlapping chunk index
entries, chunks swapped between files, plus plain random bytes and truncations.

The container layout (see ``medroi.codec.container``) is parsed here with the library's
magic and struct sizes (a format-6 header is inflated, so mutators edit its JSON, and deflated
again by the library's ``stored_header``); ``check_layout`` verifies at start-up that re-assembling a seed
gives its bytes back, so a layout change fails loudly instead of fuzzing nothing.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from medroi.codec.container import DEFLATED_HEADER_FROM, MAGIC, deflated_header, header_checksum, stored_header

_ENTRY = struct.Struct("<QII")
_PREAMBLE = len(MAGIC) + 6


@dataclass(frozen=True)
class Layout:
    """The parts of a .mroi file: version, header bytes and chunk payloads."""

    version: int
    header: bytes
    chunks: tuple[bytes, ...]

    def header_json(self) -> dict:
        return json.loads(self.header)


def parse(data: bytes) -> Layout:
    """Split a valid file into its parts (raises on anything malformed: seeds only)."""
    version, length = struct.unpack_from("<HI", data, len(MAGIC))
    header = data[_PREAMBLE : _PREAMBLE + length]
    (n,) = struct.unpack_from("<I", data, _PREAMBLE + length + 4)
    start = _PREAMBLE + length + 8
    if version >= DEFLATED_HEADER_FROM:
        header, start = deflated_header(data, start, json.loads(header))
    chunks = tuple(data[o : o + n_] for o, n_, _ in _ENTRY.iter_unpack(data[start : start + _ENTRY.size * n]))
    return Layout(version, header, chunks)


def _writer(header: bytes) -> str | None:
    try:
        return json.loads(header).get("medroi_version")
    except (ValueError, AttributeError):  # a mutated header: any writer will do
        return None


def _prefix(version: int, header: bytes, n_entries: int) -> bytes:
    stored, after = stored_header(version, header, _writer(header))
    return (MAGIC + struct.pack("<HI", version, len(stored)) + stored
            + struct.pack("<II", header_checksum(version, stored), n_entries) + after)


def assemble(layout: Layout) -> bytes:
    """Bytes of ``layout`` with every CRC and offset recomputed."""
    entries, blob = [], b""
    base = len(_prefix(layout.version, layout.header, len(layout.chunks))) + _ENTRY.size * len(layout.chunks) + 4
    for chunk in layout.chunks:
        entries.append((base + len(blob), len(chunk), zlib.crc32(chunk)))
        blob += chunk
    return assemble_index(layout.version, layout.header, entries, blob, base)


def assemble_index(version: int, header: bytes, entries: list[tuple[int, int, int]], blob: bytes,
                   base: int | None = None) -> bytes:
    """Bytes with an explicit index (absolute offsets); the index CRC is recomputed."""
    prefix = _prefix(version, header, len(entries))
    index = b"".join(_ENTRY.pack(o % 2**64, n % 2**32, c % 2**32) for o, n, c in entries)
    out = prefix + index + struct.pack("<I", zlib.crc32(index))
    if base is not None and base != len(out):
        raise ValueError("index layout drifted")
    return out + blob


def blob_base(layout: Layout, n_entries: int) -> int:
    """Absolute offset of the first chunk byte when the index has ``n_entries`` entries."""
    return len(_prefix(layout.version, layout.header, n_entries)) + _ENTRY.size * n_entries + 4


def check_layout(seed: bytes) -> None:
    """Fail loudly if this module no longer understands the container layout."""
    if not seed.startswith(MAGIC) or assemble(parse(seed)) != seed:
        raise RuntimeError("fuzz_mutate does not reproduce the .mroi container layout: update parse/assemble")


# --------------------------------------------------------------------------- helpers

Rng = np.random.Generator


def _pick(rng: Rng, items):
    return items[int(rng.integers(len(items)))]


def _flip_bits(rng: Rng, payload: bytes, count: int, skip: int = 0) -> bytes:
    if len(payload) <= skip:
        return payload
    out = bytearray(payload)
    for _ in range(count):
        position = int(rng.integers(skip, len(out)))
        out[position] ^= 1 << int(rng.integers(8))
    return bytes(out)


def _chunk_index(rng: Rng, layout: Layout) -> int:
    return int(rng.integers(len(layout.chunks)))


def _with_chunk(layout: Layout, k: int, payload: bytes) -> Layout:
    chunks = list(layout.chunks)
    chunks[k] = payload
    return replace(layout, chunks=tuple(chunks))


def _with_header(layout: Layout, header: dict | bytes) -> Layout:
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    return replace(layout, header=text)


#: Hostile values for header fields: wrong types, huge, negative, empty, nested.
HOSTILE_VALUES = (
    None, True, False, 0, 1, -1, 2, 3, 7, 255, 65535, 65536, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**64, -(2**63),
    10**30, 0.5, 1.0, -0.0, 1e308, float("nan"), float("inf"), "", "0", "int16", "huffman", "network",
    [], [0], [1, 1], [-1, 5], [1, 2, 3], [2**40, 2**40], [[1]], {}, {"kind": "network"}, "x" * 300,
)
SHAPE_VALUES = ([0, 5], [-3, 5, 2], [1, 1], [1, 1, 1], [65536, 65536], [65537, 1], [2**31, 2, 2], [3], [2, 2, 2, 2],
                [4096, 4096], [1, 4096], [4096, 1], [8, 8, 4096], [48.0, 48], ["48", "48"], [None, 4], [True, 4])
DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "int64", "float32", "bool", "object", "<i2", "|u1",
          "S8", "V4", "", "int")
HEADER_FIELDS = ("shape", "dtype", "slice_axis", "value_range", "roi_max_error", "nroi_max_error", "entropy", "gop",
                 "predictor", "metadata", "roi_fraction", "medroi_version")


# --------------------------------------------------------------------------- mutators
# Each takes (rng, layout, seeds) and returns the hostile bytes.


def chunk_bits(rng: Rng, layout: Layout, seeds) -> bytes:
    """Flip 1..16 bits in 1..3 chunks; CRCs recomputed."""
    for _ in range(int(rng.integers(1, 4))):
        k = _chunk_index(rng, layout)
        layout = _with_chunk(layout, k, _flip_bits(rng, layout.chunks[k], int(rng.integers(1, 17))))
    return assemble(layout)


def chunk_bytes(rng: Rng, layout: Layout, seeds) -> bytes:
    """Overwrite a run of bytes with 0x00, 0xFF or random bytes; CRCs recomputed."""
    k = _chunk_index(rng, layout)
    payload = bytearray(layout.chunks[k])
    if payload:
        start = int(rng.integers(len(payload)))
        run = min(int(rng.integers(1, 17)), len(payload) - start)
        fill = _pick(rng, (b"\x00" * run, b"\xff" * run, rng.bytes(run)))
        payload[start : start + run] = fill
    return assemble(_with_chunk(layout, k, bytes(payload)))


def chunk_truncate(rng: Rng, layout: Layout, seeds) -> bytes:
    """Cut a chunk short (often at a 4-byte boundary, as ANS words are); CRCs recomputed."""
    k = _chunk_index(rng, layout)
    payload = layout.chunks[k]
    cut = int(rng.integers(len(payload) + 1))
    if rng.random() < 0.7:
        cut -= cut % 4
    return assemble(_with_chunk(layout, k, payload[:cut]))


def chunk_extend(rng: Rng, layout: Layout, seeds) -> bytes:
    """Append or prepend words; CRCs recomputed."""
    k = _chunk_index(rng, layout)
    extra = rng.bytes(4 * int(rng.integers(1, 9)) + (0 if rng.random() < 0.8 else int(rng.integers(1, 4))))
    payload = layout.chunks[k] + extra if rng.random() < 0.5 else layout.chunks[k][:4] + extra + layout.chunks[k][4:]
    return assemble(_with_chunk(layout, k, payload))


def chunk_random(rng: Rng, layout: Layout, seeds) -> bytes:
    """Replace chunks by random words (a non-zero last word passes the ANS head check)."""
    for k in range(len(layout.chunks)):
        if k == 0 or rng.random() < 0.3:
            words = rng.integers(0, 2**32, int(rng.integers(0, 2 * len(layout.chunks[k]) // 4 + 3)), dtype=np.uint64)
            if words.size and rng.random() < 0.8:
                words[-1] |= 1
            layout = _with_chunk(layout, k, words.astype("<u4").tobytes())
    return assemble(layout)


def chunk_swap(rng: Rng, layout: Layout, seeds) -> bytes:
    """Swap, reverse or rotate the chunks of one file; CRCs recomputed."""
    chunks = list(layout.chunks)
    how = int(rng.integers(3))
    if how == 0 and len(chunks) > 1:
        i, j = rng.choice(len(chunks), 2, replace=False)
        chunks[i], chunks[j] = chunks[j], chunks[i]
    elif how == 1:
        chunks.reverse()
    else:
        shift = int(rng.integers(len(chunks)))
        chunks = chunks[shift:] + chunks[:shift]
    return assemble(replace(layout, chunks=tuple(chunks)))


def chunk_foreign(rng: Rng, layout: Layout, seeds) -> bytes:
    """Chunks from another seed file (other shape, dtype, bounds, coder); CRCs recomputed."""
    other = parse(_pick(rng, seeds).data)
    for k in range(len(layout.chunks)):
        if k == 0 or rng.random() < 0.5:
            layout = _with_chunk(layout, k, _pick(rng, other.chunks))
    return assemble(layout)


def chunk_count(rng: Rng, layout: Layout, seeds) -> bytes:
    """Drop or duplicate chunks, sometimes with the header's slice count edited to match."""
    chunks = list(layout.chunks)
    if rng.random() < 0.5 and len(chunks) > 1:
        del chunks[int(rng.integers(len(chunks)))]
    else:
        chunks.insert(int(rng.integers(len(chunks) + 1)), _pick(rng, chunks))
    layout = replace(layout, chunks=tuple(chunks))
    header = layout.header_json()
    if rng.random() < 0.7 and len(header.get("shape", [])) == 3:
        header["shape"][header["slice_axis"]] = len(chunks)
        layout = _with_header(layout, header)
    return assemble(layout)


def grow(rng: Rng, layout: Layout, seeds) -> bytes:
    """Declare a larger image (in-plane or more slices, chunks repeated to match): the decoder
    reads well-formed chunks with the wrong geometry, up to the harness's size cap and beyond."""
    header = layout.header_json()
    shape = header["shape"]
    axis = header["slice_axis"] if len(shape) == 3 else None
    plane = [i for i in range(len(shape)) if i != axis]
    factor = int(_pick(rng, (2, 3, 8, 64, 1024)))
    if axis is None or rng.random() < 0.5:
        i = _pick(rng, plane)
        shape[i] = min(shape[i] * factor, 65536)
    else:
        n = min(shape[axis] * factor, 4096)
        chunks = [layout.chunks[k % len(layout.chunks)] for k in range(n)]
        layout = replace(layout, chunks=tuple(chunks))
        shape[axis] = n
    return assemble(_with_header(layout, header))


def shrink(rng: Rng, layout: Layout, seeds) -> bytes:
    """Declare a smaller or transposed image over the same chunks."""
    header = layout.header_json()
    shape = header["shape"]
    how = int(rng.integers(3))
    i = int(rng.integers(len(shape)))
    if how == 0:
        shape[i] = max(1, shape[i] // int(_pick(rng, (2, 3, 8, 1000))))
    elif how == 1:
        shape.reverse()
    else:
        shape[i] = shape[i] + int(_pick(rng, (-1, 1)))
    return assemble(_with_header(layout, header))


def header_field(rng: Rng, layout: Layout, seeds) -> bytes:
    """Set 1..3 header fields to hostile values (wrong types, huge, negative); CRC recomputed."""
    header = layout.header_json()
    for _ in range(int(rng.integers(1, 4))):
        field = _pick(rng, HEADER_FIELDS)
        roll = rng.random()
        if field == "shape" and roll < 0.6:
            value = list(_pick(rng, SHAPE_VALUES))
        elif field == "dtype" and roll < 0.7:
            value = _pick(rng, DTYPES)
        elif field == "value_range" and roll < 0.6:
            current = header.get("value_range")
            lo, hi = current if isinstance(current, list) and len(current) == 2 else (0, 1)  # maybe edited already
            value = _pick(rng, ([hi, lo], [lo, lo], [lo - 1000, hi + 1000], [-(2**31), 2**31 - 1], [0, 2**40],
                                [lo, hi, 0], [float(lo), hi], [str(lo), hi]))
        elif field == "predictor" and roll < 0.5:
            value = _pick(rng, ({"kind": "network"}, {"kind": "network", "name": "x", "sha256": "0" * 64},
                                {"kind": "classical", "window": [5, 1]}, ["kind", "classical"], {"kind": None}))
        elif field in ("roi_max_error", "nroi_max_error") and roll < 0.6:
            value = _pick(rng, (None, 0, 1, 255, 65535, 65536, -1, 2.0, "0", True))
        else:
            value = _pick(rng, HOSTILE_VALUES)
        if rng.random() < 0.1:
            header.pop(field, None)
        else:
            header[field] = value
    return assemble(_with_header(layout, header))


def header_consistent(rng: Rng, layout: Layout, seeds) -> bytes:
    """Plausible but wrong settings: other bounds, value range, coder, gop, axis, dtype."""
    header = layout.header_json()
    lo, hi = header["value_range"]
    edits = {
        "roi_max_error": lambda: int(_pick(rng, (0, 1, 4, 100, 65535))),
        "nroi_max_error": lambda: _pick(rng, (0, 1, 4, 100, 65535, None)),
        "value_range": lambda: _pick(rng, ([lo, lo], [lo, lo + 1], [lo - 500, hi + 500], [0, 0], [hi, hi])),
        "entropy": lambda: "huffman" if header["entropy"] == "ans" else "ans",
        "gop": lambda: int(_pick(rng, (1, 2, 3, 1000, 2**31 - 1))),
        "slice_axis": lambda: int(rng.integers(len(header["shape"]))),
        "dtype": lambda: _pick(rng, ("uint8", "int8", "uint16", "int16", "uint32", "int32")),
    }
    if header["predictor"].get("kind") == "network":  # the model's identity kept, its window edited
        edits["predictor"] = lambda: {**header["predictor"], "window": _pick(rng, (
            [0, 1], [5, 5], [9, 3], [-(2**31), 2**31 - 1], [0, 2**70], [1e999, 2], [0.5, 9], ["0", 9], [1], None))}
    for field in rng.choice(list(edits), int(rng.integers(1, 4)), replace=False):
        header[str(field)] = edits[str(field)]()
    if not np.iinfo(header["dtype"]).min <= header["value_range"][0] <= header["value_range"][1] <= np.iinfo(
        header["dtype"]
    ).max and rng.random() < 0.8:
        header["value_range"] = [max(header["value_range"][0], 0), min(max(header["value_range"][1], 0), 127)]
    return assemble(_with_header(layout, header))


def header_text(rng: Rng, layout: Layout, seeds) -> bytes:
    """Edit the header's JSON text (flip, insert, delete bytes); CRC recomputed."""
    text = bytearray(layout.header)
    for _ in range(int(rng.integers(1, 5))):
        position = int(rng.integers(len(text) + 1))
        how = int(rng.integers(3))
        if how == 0 and position < len(text):
            text[position] ^= 1 << int(rng.integers(8))
        elif how == 1:
            text[position:position] = _pick(rng, (b"9", b"-", b"[", b"]", b"{", b"}", b",", b'"', b"\xff", b"\x00",
                                                   b"e9", b"NaN", b"Infinity", b"9" * 40))
        else:
            del text[position : position + int(rng.integers(1, 9))]
    return assemble(_with_header(layout, bytes(text)))


def header_replace(rng: Rng, layout: Layout, seeds) -> bytes:
    """Replace the whole header: not an object, deep nesting, huge literals, bad UTF-8."""
    depth = int(_pick(rng, (10, 1000, 100000)))
    text = _pick(rng, (
        b"[]", b"null", b"1", b'"shape"', b"{}", b"[" * depth + b"]" * depth,
        b'{"a":' * depth + b"1" + b"}" * depth, b'{"shape":[' + b"9" * 5000 + b",1]}", b'{"shape":[1e999,2]}',
        b"\xff\xfe{}", b"\xc3\x28", b"", b'{"shape": [2, 2], "dtype": "int16"}' + b" " * 100, b"{" * 3,
    ))
    if rng.random() < 0.5:  # or graft those into a real header
        header = layout.header.decode("utf-8", "replace")
        cut = int(rng.integers(len(header)))
        text = header[:cut].encode() + text + header[cut:].encode()
    return assemble(_with_header(layout, text))


def index_entries(rng: Rng, layout: Layout, seeds) -> bytes:
    """Shuffled, duplicated, overlapping or out-of-range index entries; every CRC matches its span."""
    n = len(layout.chunks)
    base = blob_base(layout, n)
    spans, offset = [], base
    for chunk in layout.chunks:
        spans.append((offset, len(chunk)))
        offset += len(chunk)
    blob = b"".join(layout.chunks)
    data_end = base + len(blob)
    how = _pick(rng, ("shuffle", "duplicate", "overlap", "shift", "extreme", "whole"))
    if how == "shuffle":
        spans = [spans[i] for i in rng.permutation(n)]
    elif how == "duplicate":
        source = spans[int(rng.integers(n))]
        spans = [source if rng.random() < 0.6 else s for s in spans]
    elif how == "overlap":
        for k in range(n):
            start = int(rng.integers(base, data_end))
            spans[k] = (start, int(rng.integers(0, data_end - start + 1)))
    elif how == "shift":
        k = int(rng.integers(n))
        o, length = spans[k]
        d = int(rng.integers(-8, 9))
        spans[k] = (max(base, o + d), max(0, length - d if rng.random() < 0.5 else length))
    elif how == "whole":  # one chunk spans every chunk
        spans[int(rng.integers(n))] = (base, len(blob))
    else:
        k = int(rng.integers(n))
        spans[k] = _pick(rng, ((0, 16), (base - 4, 8), (data_end, 0), (2**64 - 1, 1), (base, 2**32 - 1),
                               (2**63, 4), (data_end - 1, 2)))

    # the CRC each span has in the file (spans into the index, read as zeros, are refused anyway)
    whole = _prefix(layout.version, layout.header, n).ljust(base, b"\0") + blob
    entries = [(o, length, zlib.crc32(whole[o : o + length]) if o < len(whole) else 0) for o, length in spans]
    return assemble_index(layout.version, layout.header, entries, blob)


def preamble(rng: Rng, layout: Layout, seeds) -> bytes:
    """Edit the version, header length or chunk count fields (CRCs as the fields now say)."""
    data = bytearray(assemble(layout))
    how = int(rng.integers(4))
    if how == 0:
        struct.pack_into("<H", data, len(MAGIC), int(_pick(rng, (0, layout.version - 1, layout.version + 1, 65535))))
    elif how == 1:
        struct.pack_into("<I", data, len(MAGIC) + 2, int(_pick(rng, (0, 1, len(layout.header) - 1,
                                                                        len(layout.header) + 1, 2**26, 2**32 - 1))))
    elif how == 2:
        struct.pack_into("<I", data, _PREAMBLE + len(layout.header) + 4,
                         int(_pick(rng, (0, len(layout.chunks) + 1, 2**16, 2**16 + 1, 2**32 - 1))))
    else:
        data[: len(MAGIC)] = _flip_bits(rng, bytes(data[: len(MAGIC)]), 1)
    return bytes(data)


def plain_truncate(rng: Rng, layout: Layout, seeds) -> bytes:
    """Cut the file anywhere (no CRC repair)."""
    data = assemble(layout)
    return data[: int(rng.integers(len(data)))]


def plain_bits(rng: Rng, layout: Layout, seeds) -> bytes:
    """Flip bits anywhere (no CRC repair)."""
    return _flip_bits(rng, assemble(layout), int(rng.integers(1, 9)))


def random_bytes(rng: Rng, layout: Layout, seeds) -> bytes:
    """Random bytes, half of them behind the magic."""
    blob = rng.bytes(int(rng.integers(0, 4096)))
    return MAGIC + blob if rng.random() < 0.5 else blob


def splice(rng: Rng, layout: Layout, seeds) -> bytes:
    """The start of this file glued to the rest of another."""
    a, b = assemble(layout), _pick(rng, seeds).data
    return a[: int(rng.integers(len(a)))] + b[int(rng.integers(len(b))) :]


def stacked(rng: Rng, layout: Layout, seeds) -> bytes:
    """Two or three CRC-repairing mutators in a row."""
    for _ in range(int(rng.integers(2, 4))):
        mutator = _pick(rng, STACKABLE)
        try:
            layout = parse(mutator(rng, layout, seeds))
            layout.header_json()
        except Exception:  # the previous step broke the layout: keep what we have
            break
    return assemble(layout)


STACKABLE: tuple[Callable, ...] = (chunk_bits, chunk_bytes, chunk_truncate, chunk_extend, chunk_swap, chunk_foreign,
                                   chunk_count, grow, shrink, header_consistent)

#: (mutator, weight): most weight on CRC-repaired content, where the decoder is reached.
MUTATORS: tuple[tuple[Callable, float], ...] = (
    (chunk_bits, 14), (chunk_bytes, 8), (chunk_truncate, 6), (chunk_extend, 4), (chunk_random, 5), (chunk_swap, 4),
    (chunk_foreign, 6), (chunk_count, 4), (grow, 5), (shrink, 4), (header_field, 10), (header_consistent, 8),
    (header_text, 5), (header_replace, 3), (index_entries, 5), (preamble, 2), (plain_truncate, 2), (plain_bits, 2),
    (random_bytes, 1), (splice, 1), (stacked, 6),
)


def mutate(rng: Rng, seed_data: bytes, seeds, only: str | None = None) -> tuple[str, bytes]:
    """(mutator name, hostile bytes) for one case (``only``: that mutator's name)."""
    weights = np.array([w for _, w in MUTATORS], dtype=float)
    mutator = MUTATORS[int(rng.choice(len(MUTATORS), p=weights / weights.sum()))][0]
    if only is not None:
        mutator = {m.__name__: m for m, _ in MUTATORS}[only]
    return mutator.__name__, mutator(rng, parse(seed_data), seeds)


def repair_crcs(data: bytes) -> bytes:
    """``data`` with its header, index and chunk CRCs recomputed where the layout allows
    (for coverage-guided fuzzing: mutations then reach the decoder behind the CRCs)."""
    try:
        version, length = struct.unpack_from("<HI", data, len(MAGIC))
        header = data[_PREAMBLE : _PREAMBLE + length]
        if len(header) != length:
            return data
        (n,) = struct.unpack_from("<I", data, _PREAMBLE + length + 4)
        start = _PREAMBLE + length + 8
        raw = data[start : start + _ENTRY.size * min(n, 1 << 16)]
        if len(raw) != _ENTRY.size * n:
            return data
        entries = [(o, k, zlib.crc32(data[o : o + k])) for o, k, _ in _ENTRY.iter_unpack(raw)]
        end = start + _ENTRY.size * n + 4
        return assemble_index(version, header, entries, data[end:])
    except struct.error:
        return data
