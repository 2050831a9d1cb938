"""Huffman model 2 (header ``huffman_model``): new files round-trip within their bounds,
files of model 1 (medroi 0.3.0, no such field) still decode bit-exactly, bad values are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medroi.codec import compress, container, decompress, decompress_slice, read_header
from medroi.codec.slice_coder import HUFFMAN_MODEL
from medroi.errors import CorruptFileError

DATA = Path(__file__).parent / "data"


def _header_with(data: bytes, **changes) -> bytes:
    """The same file with header fields changed (CRCs recomputed: damage the checks must catch)."""
    parsed = container.unpack(data)
    header = {k: v for k, v in {**parsed.header, **changes}.items() if v is not None}
    chunks = [parsed.chunk(k) for k in range(len(parsed.index))]
    return container.pack(header, chunks, version=parsed.version)


def _volume(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A small brain-like volume: a textured disc on a zero background, a growing ROI."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[0:7, 0:44, 0:52]
    disc = (y - 22) ** 2 + (x - 25) ** 2 < (14 + z % 3) ** 2
    img = np.where(disc, 200 + 30 * np.sin(x / 6.0 + z) + rng.integers(0, 12, x.shape), 0).astype(np.int16)
    roi = (y - 20) ** 2 + (x - 27) ** 2 < (3 + z) ** 2
    return np.moveaxis(img, 0, -1), np.moveaxis(roi, 0, -1)  # slices along the last axis


def test_model1_files_of_medroi_030_decode_bit_exactly():
    # written by medroi 0.3.0 (main before model 2) from this source; see tests/data
    source = np.load(DATA / "huffman_model1_source.npz")
    for bounds, expected in (("0_0", source["image"]), ("0_4", source["decoded_0_4"])):
        data = (DATA / f"huffman_model1_{bounds}.mroi").read_bytes()
        assert "huffman_model" not in read_header(data)
        out = decompress(data)
        np.testing.assert_array_equal(out.array, expected)
        np.testing.assert_array_equal(out.roi_mask, source["roi"])
        np.testing.assert_array_equal(decompress_slice(data, 3)[0], expected.take(3, read_header(data)["slice_axis"]))


@pytest.mark.parametrize("bounds", [(0, 0), (0, 4), (2, 6)])
def test_model2_round_trip_within_bounds(bounds):
    img, roi = _volume()
    data = compress(img, roi, *bounds, entropy="huffman", gop=4)
    assert read_header(data)["huffman_model"] == HUFFMAN_MODEL == 2
    out = decompress(data)
    err = np.abs(out.array.astype(np.int64) - img)
    assert err[roi].max() <= bounds[0] and err.max() <= bounds[1]
    np.testing.assert_array_equal(out.roi_mask, roi)
    for k in (0, 5):  # one slice decodable within its group
        np.testing.assert_array_equal(decompress_slice(data, k)[0], out.array.take(k, read_header(data)["slice_axis"]))


@pytest.mark.parametrize("value", [0, 3, True, 2.0, "2"])
def test_bad_model_is_refused(value):
    img, roi = _volume()
    data = compress(img, roi, 0, 4, entropy="huffman")
    with pytest.raises(CorruptFileError, match="Huffman model"):
        decompress(_header_with(data, huffman_model=value))


def test_model_field_in_an_ans_file_is_refused():
    img, roi = _volume()
    data = compress(img, roi, 0, 4)
    assert "huffman_model" not in read_header(data)
    with pytest.raises(CorruptFileError, match="Huffman model"):
        decompress(_header_with(data, huffman_model=2))


def test_model2_file_read_as_model1_is_refused_or_differs():
    # dropping the field makes the decoder read model 2 bits with model 1 rules: never silently equal
    img, roi = _volume()
    data = compress(img, roi, 0, 0, entropy="huffman")
    try:
        out = decompress(_header_with(data, huffman_model=None)).array
    except CorruptFileError:
        return
    assert not np.array_equal(out, img)
