"""Damaged, truncated and random files raise a MedroiError: no crash, no hang."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import medroi.codec as codec
from medroi.errors import MedroiError


@pytest.fixture(scope="module")
def sample() -> bytes:
    rng = np.random.default_rng(1)
    image = (rng.integers(0, 50, size=(24, 20, 5)) + np.arange(20)[None, :, None] * 10).astype(np.int16)
    roi = np.zeros(image.shape, bool)
    roi[5:12, 4:9] = True
    return codec.compress(image, roi, 0, 3)


def _decode(data: bytes) -> None:
    try:
        codec.decompress(data)
    except MedroiError:
        return


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_truncated_files_raise(sample, data):
    cut = data.draw(st.integers(0, len(sample) - 1))
    with pytest.raises(MedroiError):
        codec.decompress(sample[:cut])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bit_flips_raise(sample, data):
    position = data.draw(st.integers(0, len(sample) - 1))
    bit = data.draw(st.integers(0, 7))
    damaged = bytearray(sample)
    damaged[position] ^= 1 << bit
    with pytest.raises(MedroiError):
        codec.decompress(bytes(damaged))


@pytest.mark.parametrize("entropy", ["ans", "huffman"])  # written as format 2 and format 3
def test_every_flip_of_the_format_version_is_refused(entropy):
    """Formats 2 and 3 are both readable, so the version itself must be checked: a format-2 file
    read as format 3 (or back) would otherwise decode with the wrong rules (found by CI)."""
    from medroi.codec.container import MAGIC

    image = (np.arange(24 * 20).reshape(24, 20) % 37).astype(np.int16)
    data = codec.compress(image, image > 20, 0, 3, entropy=entropy)
    for bit in range(16):
        damaged = bytearray(data)
        damaged[len(MAGIC) + bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(MedroiError):
            codec.decompress(bytes(damaged))


@settings(max_examples=60, deadline=None)
@given(blob=st.binary(max_size=2000))
def test_random_bytes_raise(blob):
    with pytest.raises(MedroiError):
        codec.decompress(blob)


@settings(max_examples=40, deadline=None)
@given(prefix_len=st.integers(0, 40), blob=st.binary(min_size=0, max_size=400))
def test_random_bytes_after_valid_magic_raise(prefix_len, blob):
    from medroi.codec.container import MAGIC

    with pytest.raises(MedroiError):
        codec.decompress(MAGIC + blob[:prefix_len] + blob)


def test_hostile_header_sizes_are_refused_before_allocating():
    import json
    import struct
    import zlib

    from medroi.codec.container import FORMAT_VERSION, MAGIC, header_checksum

    header = json.dumps({"shape": [65536, 65536, 65536], "dtype": "int16"}).encode()
    blob = MAGIC + struct.pack("<HI", FORMAT_VERSION, len(header)) + header + struct.pack("<II", header_checksum(FORMAT_VERSION, header), 0)
    blob += struct.pack("<I", zlib.crc32(b""))
    with pytest.raises(MedroiError):
        codec.decompress(blob)
    huge = MAGIC + struct.pack("<HI", FORMAT_VERSION, 2**32 - 1)
    with pytest.raises(MedroiError):
        codec.decompress(huge)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_chunks_with_valid_crcs_never_crash(sample, data):
    """An attacker can recompute CRCs: garbage payloads must still decode or raise MedroiError."""
    from medroi.codec import container

    parsed = container.unpack(sample)
    chunks = [parsed.chunk(k) for k in range(len(parsed.index))]
    k = data.draw(st.integers(0, len(chunks) - 1))
    chunks[k] = data.draw(st.binary(min_size=0, max_size=600))
    hostile = container.pack(parsed.header, chunks)
    try:
        decoded = codec.decompress(hostile)
    except MedroiError:
        return
    lo, hi = parsed.header["value_range"]
    assert decoded.array.min() >= lo and decoded.array.max() <= hi


def test_format_1_file_is_refused_naming_its_writer():
    """Format 1 (medroi 0.1.0, static tables) is not decoded: the error names the writer."""
    from pathlib import Path

    from medroi.errors import UnsupportedVersionError

    old = (Path(__file__).parent / "data" / "format1_medroi0.1.0.mroi").read_bytes()
    with pytest.raises(UnsupportedVersionError, match=r"format 1, written by medroi 0\.1\.0.*reads formats 2 and 3"):
        codec.decompress(old)
    with pytest.raises(UnsupportedVersionError, match="medroi 0.1.0"):
        codec.read_header(old)


def test_future_format_is_refused():
    import struct

    from medroi.codec.container import MAGIC, READABLE_VERSIONS, header_checksum
    from medroi.errors import UnsupportedVersionError

    data = bytearray(codec.compress(np.arange(30, dtype=np.uint8).reshape(5, 6), nroi_max_error=0))
    version, length = max(READABLE_VERSIONS) + 1, struct.unpack_from("<I", data, len(MAGIC) + 2)[0]
    struct.pack_into("<H", data, len(MAGIC), version)  # as a future medroi writes it: its CRC matches
    header_end = len(MAGIC) + 6 + length
    struct.pack_into("<I", data, header_end, header_checksum(version, bytes(data[len(MAGIC) + 6 : header_end])))
    with pytest.raises(UnsupportedVersionError, match="upgrade medroi"):
        codec.decompress(bytes(data))


@pytest.fixture(scope="module")
def huffman_sample() -> bytes:
    rng = np.random.default_rng(2)
    image = np.zeros((24, 20, 4), np.int16)  # background runs and a textured object
    image[6:18, 5:15] = rng.integers(0, 60, size=(12, 10, 4))
    roi = np.zeros(image.shape, bool)
    roi[8:12, 6:9] = True
    return codec.compress(image, roi, 0, 2, entropy="huffman")


@pytest.mark.parametrize("model", [2, 1])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_huffman_chunks_never_crash(huffman_sample, model, data):
    """Huffman payloads (runs, tables rebuilt from decoded counts) with recomputed CRCs, of the
    model written now and of a medroi 0.3.0 file (model 1, still read): decode within range or
    raise MedroiError."""
    from pathlib import Path

    from medroi.codec import container

    sample = huffman_sample if model == 2 else (Path(__file__).parent / "data" / "huffman_model1_0_4.mroi").read_bytes()
    parsed = container.unpack(sample)
    assert parsed.header.get("huffman_model", 1) == model
    chunks = [parsed.chunk(k) for k in range(len(parsed.index))]
    k = data.draw(st.integers(0, len(chunks) - 1))
    damaged = bytearray(chunks[k])
    for _ in range(data.draw(st.integers(1, 4))):
        if damaged:
            damaged[data.draw(st.integers(0, len(damaged) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    chunks[k] = bytes(damaged[: data.draw(st.integers(0, len(damaged)))])
    try:
        # the file's own format: a model-2 header in format 3 would be refused before any pixel is decoded
        decoded = codec.decompress(container.pack(parsed.header, chunks, version=parsed.version))
    except MedroiError:
        return
    lo, hi = parsed.header["value_range"]
    assert decoded.array.min() >= lo and decoded.array.max() <= hi
