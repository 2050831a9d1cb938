"""Formats 5 and 6: lossless 2D images coded by context mixing (``medroi.codec.mixing``).

medroi 0.6 writes generation 2 (format 6, deflated header) for every lossless 2D image with
the range coder; generation 1 (format 5, medroi 0.5) is still decoded. Every other file keeps
its format (3 or 4).
"""

from __future__ import annotations

import numpy as np
import pytest

from medroi.codec import blockgrid, compress, container, decompress, decompress_slice, mixing, read_header
from medroi.errors import CorruptFileError, UnsupportedVersionError

MIX_NAMES = ("wp_mix2", "med_mix2")
GENERATION_1 = (("wp_mix", 3), ("med_mix", 4))  # (name, raster mode) as medroi 0.5 wrote them


def ct_like(shape=(96, 104), seed=0) -> np.ndarray:
    """A 12-bit CT-like slice: a disc of noisy tissue in air, -2000 outside the field of view."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(yy - shape[0] / 2, xx - shape[1] / 2)
    tissue = 40 + 300 * np.exp(-(((xx - 40) / 25.0) ** 2)) + rng.normal(0, 12, shape)
    image = np.where(r < shape[0] * 0.35, tissue, -1000 + rng.normal(0, 5, shape))
    image = np.where(r > shape[0] * 0.48, -2000, image)
    return np.round(image).astype(np.int16)


def _header_with(data: bytes, version: int | None = None, **fields) -> bytes:
    parsed = container.unpack(data)
    header = {**parsed.header, **fields}
    chunks = [parsed.chunk(k) for k in range(len(parsed.index))]
    return container.pack(header, chunks, version=parsed.version if version is None else version)


def _with_prediction(data: bytes, prediction: str, version: int | None = None) -> bytes:
    header = container.unpack(data).header
    return _header_with(data, version, predictor={**header["predictor"], "prediction": prediction})


def test_a_lossless_ct_slice_is_coded_by_mixing_in_format_6_and_decodes_bit_exactly():
    image = ct_like()
    roi = np.zeros(image.shape, bool)
    roi[30:60, 20:70] = True
    data = compress(image, roi, roi_max_error=0, nroi_max_error=0)
    assert read_header(data)["predictor"]["prediction"] in MIX_NAMES
    assert container.unpack(data).version == 6
    decoded = decompress(data)
    np.testing.assert_array_equal(decoded.array, image)
    assert decoded.array.dtype == image.dtype
    np.testing.assert_array_equal(decoded.roi_mask, roi)
    np.testing.assert_array_equal(decompress_slice(data, 0)[0], image)


@pytest.mark.parametrize("mode", mixing.MIX_MODES)
@pytest.mark.parametrize("dtype, lo, hi", [(np.uint8, 0, 255), (np.int32, -(1 << 30), 1 << 30), (np.uint16, 0, 4095)])
def test_both_predictors_round_trip_any_range(mode, dtype, lo, hi):
    rng = np.random.default_rng(3)
    smooth = np.cumsum(rng.integers(-3, 4, (40, 37)), axis=1)
    wide = rng.integers(lo, hi, (40, 37), endpoint=True)
    for image in (np.clip(smooth + (lo + hi) // 2, lo, hi), wide, np.full((5, 1), lo), np.array([[hi, lo, hi]])):
        image = image.astype(dtype).astype(np.int64)
        value_range = (int(image.min()), int(image.max()))
        data = mixing.encode(image, value_range, mode)
        np.testing.assert_array_equal(mixing.decode(data, image.shape, value_range, mode), image)


def test_block_positions_are_a_context_that_the_decoder_must_share():
    image = ct_like((64, 64), seed=5).astype(np.int64)
    value_range = (int(image.min()), int(image.max()))
    positions = blockgrid.positions(image.shape, [7, 3])
    assert positions.max() == 63 and positions.reshape(64, 64)[8, 4] == 0
    for mode in (mixing.MIX_WP, mixing.MIX_WP2, mixing.MIX_MED2):
        data = mixing.encode(image, value_range, mode, positions)
        np.testing.assert_array_equal(mixing.decode(data, image.shape, value_range, mode, positions), image)
        other = mixing.decode(data, image.shape, value_range, mode, None)
        assert other is None or not np.array_equal(other, image)


def test_generation_2_is_its_own_bitstream():
    """A generation-2 stream read as generation 1 (or back) does not give the image: the
    decoder must take the generation from the file's prediction name, never guess it."""
    image = ct_like((64, 64), seed=8).astype(np.int64)
    value_range = (int(image.min()), int(image.max()))
    for written, read in ((mixing.MIX_MED2, mixing.MIX_MED), (mixing.MIX_WP, mixing.MIX_WP2)):
        data = mixing.encode(image, value_range, written)
        other = mixing.decode(data, image.shape, value_range, read)
        assert other is None or not np.array_equal(other, image)


def test_format_5_files_of_medroi_0_5_still_decode(monkeypatch):
    """medroi 0.5 wrote generation 1 in format 5 with a plain JSON header: still bit-exact."""
    import medroi.codec

    image = ct_like(seed=2)
    monkeypatch.setattr(medroi.codec, "MIX_CANDIDATES", GENERATION_1)
    old = compress(image, nroi_max_error=0)
    monkeypatch.undo()
    assert container.unpack(old).version == 5
    assert read_header(old)["predictor"]["prediction"] in ("wp_mix", "med_mix")
    assert old[14:15] == b"{" and b'"predictor"' in old[:400]  # the header is plain JSON there
    np.testing.assert_array_equal(decompress(old).array, image)
    assert len(compress(image, nroi_max_error=0)) < len(old)


def test_mixing_is_never_used_where_it_cannot_be():
    image = ct_like((48, 48))
    lossy = compress(image, nroi_max_error=2)
    assert read_header(lossy)["predictor"].get("prediction") not in MIX_NAMES
    huffman = compress(image, nroi_max_error=0, entropy="huffman")
    assert read_header(huffman)["predictor"].get("prediction") not in MIX_NAMES
    volume = np.stack([image, image[::-1]])
    assert read_header(compress(volume, nroi_max_error=0))["predictor"].get("prediction") not in MIX_NAMES


def test_damaged_mixed_pixels_and_headers_are_refused():
    image = ct_like(seed=1)
    data = compress(image, nroi_max_error=0)
    parsed = container.unpack(data)
    assert parsed.header["predictor"]["prediction"] in MIX_NAMES
    chunk = parsed.chunk(0)
    for bad_chunk in (chunk[: len(chunk) // 2], chunk[:-6] + bytes(6)):
        with pytest.raises(CorruptFileError):
            decompress(container.pack(parsed.header, [bad_chunk], version=6))
    prediction = parsed.header["predictor"]["prediction"]
    for damaged in (_with_prediction(data, prediction, version=4),  # format 4 has no mixing
                    _with_prediction(data, prediction, version=5),  # format 5 has generation 1 only
                    _header_with(data, nroi_max_error=3),  # mixing is lossless only
                    _header_with(_with_prediction(compress(image, nroi_max_error=0, entropy="huffman"), prediction,
                                                  version=6))):
        with pytest.raises(CorruptFileError):
            decompress(damaged)


@pytest.mark.parametrize("readable", [(2, 3, 4), (2, 3, 4, 5)])
def test_a_format_6_file_is_refused_by_name_where_format_6_is_unknown(monkeypatch, readable):
    """What medroi 0.4 (formats 2-4) and 0.5 (2-5) say about a file of medroi 0.6: its format,
    its writer (the deflated header keeps the writer's version in plain JSON), and to upgrade."""
    data = compress(ct_like(), nroi_max_error=0)
    assert container.unpack(data).version == 6
    monkeypatch.setattr(container, "READABLE_VERSIONS", readable)
    with pytest.raises(UnsupportedVersionError, match=r"format 6, written by medroi 0\.6.*upgrade medroi"):
        decompress(data)


def test_a_format_6_header_is_deflated_and_damage_to_it_is_refused():
    import json
    import struct
    import zlib

    image = ct_like(seed=3)
    data = compress(image, nroi_max_error=0, metadata={"name": "x.dcm", "note": "n" * 2000})
    parsed = container.unpack(data)
    length, at = struct.unpack_from("<I", data, len(container.MAGIC) + 2)[0], len(container.MAGIC) + 6
    wrapper = json.loads(data[at : at + length])
    assert set(wrapper) == {"deflated_header_bytes", "medroi_version"}
    blob = data[at + length + 8 : at + length + 8 + wrapper["deflated_header_bytes"]]
    assert len(blob) < 200  # the 2000-byte note deflates
    assert read_header(data)["metadata"]["note"] == "n" * 2000
    chunks = [parsed.chunk(k) for k in range(len(parsed.index))]

    def build(wrapper: dict, blob: bytes, crc: int | None = None) -> bytes:
        """A format-6 file with this wrapper and deflated header, every other CRC and offset
        recomputed (as a hostile file would)."""
        text = json.dumps(wrapper, separators=(",", ":"), sort_keys=True).encode()
        prefix = container.MAGIC + struct.pack("<HI", 6, len(text)) + text
        prefix += struct.pack("<II", container.header_checksum(6, text), len(chunks)) + blob
        prefix += struct.pack("<I", zlib.crc32(blob) if crc is None else crc)
        index, offset = b"", len(prefix) + 16 * len(chunks) + 4
        for chunk in chunks:
            index += struct.pack("<QII", offset, len(chunk), zlib.crc32(chunk))
            offset += len(chunk)
        return prefix + index + struct.pack("<I", zlib.crc32(index)) + b"".join(chunks)

    def deflated(text: bytes, dictionary: bytes = container.HEADER_DICTIONARY) -> bytes:
        d = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, dictionary)
        return d.compress(text) + d.flush()

    def sized(blob: bytes) -> dict:
        return {**wrapper, "deflated_header_bytes": len(blob)}

    assert build(wrapper, blob) == data  # the helper rebuilds the file exactly
    plain = json.dumps(read_header(data)).encode()
    for damaged in (build({"medroi_version": "0.6.0"}, blob),  # no size of the deflated part
                    build({**wrapper, "deflated_header_bytes": "12"}, blob),
                    build({**wrapper, "deflated_header_bytes": 0}, b""),
                    build({**wrapper, "deflated_header_bytes": 1 << 40}, blob),
                    build(wrapper, blob, crc=zlib.crc32(blob) ^ 1),  # its CRC
                    build(sized(blob[:-8]), blob[:-8]),  # truncated (CRC recomputed)
                    build(sized(blob + b"junk"), blob + b"junk"),  # junk after the stream
                    build(sized(deflated(b"[1, 2]")), deflated(b"[1, 2]")),  # not an object
                    build(sized(deflated(plain, b"another dictionary")), deflated(plain, b"another dictionary"))):
        with pytest.raises(CorruptFileError, match="header"):
            decompress(damaged)
    # a deflate bomb (far more than the header limit) is stopped at the limit, not inflated whole
    bomb = deflated(b" " * (container.MAX_HEADER_BYTES + 1024))
    with pytest.raises(CorruptFileError, match="limit"):
        decompress(build(sized(bomb), bomb))


def test_a_gap_in_the_used_values_is_closed_by_coding_ranks(monkeypatch):
    """CT's -2000 outside the field of view lies ~1000 below the air: coded as values, every
    crossing is a large residual; mixing also tries the ranks of the used values and keeps
    them where they are smaller (the estimate that decides packing said no here)."""
    import medroi.codec

    image = ct_like((112, 112), seed=4)
    data = compress(image, nroi_max_error=0)
    header = read_header(data)
    assert "value_table" in header and header["predictor"]["prediction"] in MIX_NAMES
    np.testing.assert_array_equal(decompress(data).array, image)
    monkeypatch.setattr(medroi.codec, "_sparse_table", lambda used, table: None)
    as_values = compress(image, nroi_max_error=0)
    assert "value_table" not in read_header(as_values)
    assert len(data) < len(as_values)


def test_random_damage_to_mixed_pixels_gives_a_medroi_error_or_an_image():
    """Flipped bytes inside a context-mixed chunk (CRCs recomputed, as a hostile file would):
    every decode ends in a CorruptFileError or an image of the right shape, never a crash."""
    image = ct_like(seed=6)
    data = compress(image, nroi_max_error=0)
    parsed = container.unpack(data)
    assert parsed.header["predictor"]["prediction"] in MIX_NAMES
    chunk = bytearray(parsed.chunk(0))
    rng = np.random.default_rng(7)
    for _ in range(25):
        damaged = bytearray(chunk)
        for position in rng.integers(8, len(chunk), 3):
            damaged[position] ^= int(rng.integers(1, 256))
        try:
            out = decompress(container.pack(parsed.header, [bytes(damaged)], version=parsed.version)).array
        except CorruptFileError:
            continue
        assert out.shape == image.shape and out.dtype == image.dtype


def _colour_radiograph(seed: int = 9) -> np.ndarray:
    """An RGB radiograph whose planes nearly agree (a grey image saved in colour, a red mark)."""
    grey = np.clip(ct_like((72, 80), seed=seed) // 8 + 128, 0, 255).astype(np.uint8)
    rgb = np.stack([grey, grey, grey], axis=-1)
    rgb[10:20, 30:50, 0] = 255  # an annotation in red
    rgb[..., 2] = np.clip(rgb[..., 2].astype(int) - (np.arange(80) % 7 == 0), 0, 255)
    return rgb


def test_colour_planes_are_mixed_as_differences_and_decode_plane_by_plane():
    rgb = _colour_radiograph()
    data = compress(rgb, nroi_max_error=0)
    header = read_header(data)
    assert header["predictor"]["prediction"] in ("wp_planes2", "med_planes2") and header["format_version"] == 6
    np.testing.assert_array_equal(decompress(data).array, rgb)
    for k in range(3):
        np.testing.assert_array_equal(np.asarray(decompress_slice(data, k)[0]), rgb[..., k])
    import medroi.codec

    blend = medroi.codec.PLANE_CANDIDATES
    try:  # without the plane candidates: the blend with references, larger here
        medroi.codec.PLANE_CANDIDATES = ()
        assert len(compress(rgb, nroi_max_error=0)) > len(data)
    finally:
        medroi.codec.PLANE_CANDIDATES = blend


def test_plane_mixing_only_where_it_can_be():
    rgb = _colour_radiograph(seed=10)
    assert read_header(compress(rgb, nroi_max_error=2))["predictor"].get("prediction") is None  # lossy
    five = np.stack([rgb[..., 0]] * 5)  # more than 4 slices: a volume, not planes
    assert read_header(compress(five, nroi_max_error=0))["predictor"].get("prediction") is None
    data = compress(rgb, nroi_max_error=0)
    plane_name = read_header(data)["predictor"]["prediction"]
    two_d = compress(rgb[..., 0], nroi_max_error=0)
    for damaged in (_with_prediction(data, "wp_mix2"),  # 2D mixing for a 3-plane image
                    _with_prediction(two_d, plane_name),  # plane mixing for a 2D image
                    _with_prediction(data, plane_name, version=5)):
        with pytest.raises(CorruptFileError):
            decompress(damaged)
