"""Format 5: lossless 2D images coded by context mixing (``medroi.codec.mixing``).

Written only when it is the smallest candidate of a lossless 2D image with the range coder;
every other file keeps its format (3 or 4).
"""

from __future__ import annotations

import numpy as np
import pytest

from medroi.codec import blockgrid, compress, container, decompress, decompress_slice, mixing, read_header
from medroi.errors import CorruptFileError, UnsupportedVersionError

MIX_NAMES = ("wp_mix", "med_mix")


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


def test_a_lossless_ct_slice_is_coded_by_mixing_in_format_5_and_decodes_bit_exactly():
    image = ct_like()
    roi = np.zeros(image.shape, bool)
    roi[30:60, 20:70] = True
    data = compress(image, roi, roi_max_error=0, nroi_max_error=0)
    assert read_header(data)["predictor"]["prediction"] in MIX_NAMES
    assert container.unpack(data).version == 5
    decoded = decompress(data)
    np.testing.assert_array_equal(decoded.array, image)
    assert decoded.array.dtype == image.dtype
    np.testing.assert_array_equal(decoded.roi_mask, roi)
    np.testing.assert_array_equal(decompress_slice(data, 0)[0], image)


@pytest.mark.parametrize("mode", [mixing.MIX_WP, mixing.MIX_MED])
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
    data = mixing.encode(image, value_range, mixing.MIX_WP, positions)
    np.testing.assert_array_equal(mixing.decode(data, image.shape, value_range, mixing.MIX_WP, positions), image)
    other = mixing.decode(data, image.shape, value_range, mixing.MIX_WP, None)
    assert other is None or not np.array_equal(other, image)


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
            decompress(container.pack(parsed.header, [bad_chunk], version=5))
    prediction = parsed.header["predictor"]["prediction"]
    for damaged in (_with_prediction(data, prediction, version=4),  # format 4 has no mixing
                    _header_with(data, nroi_max_error=3),  # mixing is lossless only
                    _header_with(_with_prediction(compress(image, nroi_max_error=0, entropy="huffman"), prediction,
                                                  version=5))):
        with pytest.raises(CorruptFileError):
            decompress(damaged)


def test_a_format_5_file_is_refused_by_name_where_format_5_is_unknown(monkeypatch):
    """What medroi 0.4 (formats 2-4) says about a context-mixed file: its format, and to upgrade."""
    data = compress(ct_like(), nroi_max_error=0)
    assert container.unpack(data).version == 5
    monkeypatch.setattr(container, "READABLE_VERSIONS", (2, 3, 4))
    with pytest.raises(UnsupportedVersionError, match="format 5.*upgrade medroi"):
        decompress(data)


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
