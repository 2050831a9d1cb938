"""The codec's guarantees on synthetic data: bounds hold on every pixel, (0, 0) is
bit-exact, one slice decodes alone, and bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import medroi.codec as codec
from medroi.errors import InvalidImageError, LossyInputError


def _phantom(shape, dtype, seed=0):
    """Smooth blobs plus noise, like a tissue slice, at the dtype's scale."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    radius = np.sqrt(sum(g**2 for g in grids))
    info = np.iinfo(dtype)
    span = min(info.max, 3000) - max(info.min, -1000)
    values = max(info.min, -1000) + span * (0.6 * np.exp(-4 * radius**2) + 0.05 * rng.standard_normal(shape))
    image = np.clip(np.rint(values), info.min, info.max).astype(dtype)
    roi = radius < 0.35
    return image, roi


def _check_bounds(image, decoded, roi, roi_bound, nroi_bound):
    error = np.abs(decoded.astype(np.int64) - image.astype(np.int64))
    assert error[roi].max(initial=0) <= roi_bound
    assert error[~roi].max(initial=0) <= nroi_bound


@pytest.mark.parametrize("bounds", [(0, 0), (0, 4), (1, 8), (3, 0)])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32])
def test_volume_round_trip_holds_bounds(bounds, dtype):
    image, roi = _phantom((40, 37, 9), dtype)
    data = codec.compress(image, roi, *bounds, gop=4)
    decoded = codec.decompress(data)
    assert decoded.array.dtype == image.dtype and decoded.array.shape == image.shape
    assert np.array_equal(decoded.roi_mask, roi)
    _check_bounds(image, decoded.array, roi, *bounds)
    if bounds == (0, 0):
        assert np.array_equal(decoded.array, image)


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.uint16]),
    roi_bound=st.integers(0, 3),
    nroi_bound=st.integers(0, 9),
    seed=st.integers(0, 2**16),
    entropy=st.sampled_from(["ans", "huffman"]),
)
def test_random_2d_images_round_trip(height, width, dtype, roi_bound, nroi_bound, seed, entropy):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    image = rng.integers(info.min, int(info.max) + 1, size=(height, width)).astype(dtype)
    roi = rng.random((height, width)) < 0.3
    data = codec.compress(image, roi, roi_bound, nroi_bound, entropy=entropy)
    array, mask, _ = codec.decompress(data)
    assert np.array_equal(mask, roi)
    _check_bounds(image, array, roi, roi_bound, nroi_bound)


def test_slice_decodes_alone_and_matches_full_decode():
    image, roi = _phantom((32, 32, 11), np.int16, seed=3)
    data = codec.compress(image, roi, 0, 2, gop=4)
    full = codec.decompress(data).array
    for k in (0, 5, 10):
        alone, mask = codec.decompress_slice(data, k)
        assert np.array_equal(alone, full[:, :, k])
        assert np.array_equal(mask, roi[:, :, k])


def test_metadata_travels_in_the_header():
    image, roi = _phantom((16, 16), np.uint8)
    data = codec.compress(image, roi, metadata={"format": "png", "note": "keep me"})
    assert codec.decompress(data).metadata == {"format": "png", "note": "keep me"}
    header = codec.read_header(data)
    assert header["shape"] == [16, 16] and header["dtype"] == "uint8"


@pytest.mark.parametrize(
    "image, error",
    [
        (np.zeros((0, 5), np.int16), InvalidImageError),
        (np.zeros((2, 2, 2, 2), np.int16), InvalidImageError),
        (np.zeros((4, 4), np.float32), LossyInputError),
        (np.zeros((4, 4), np.int64), InvalidImageError),
    ],
)
def test_bad_images_are_refused(image, error):
    with pytest.raises(error):
        codec.compress(image)


def test_bad_settings_are_refused():
    image, roi = _phantom((8, 8), np.uint8)
    with pytest.raises(InvalidImageError):
        codec.compress(image, roi[:4])
    with pytest.raises(InvalidImageError):
        codec.compress(image, roi, roi_max_error=-1)
    with pytest.raises(InvalidImageError):
        codec.compress(image, roi, nroi_max_error=None)  # AE-only needs a network


def test_constant_slices_round_trip_exactly():
    image, roi = _phantom((24, 20, 6), np.int16, seed=5)
    image[:, :, 0] = 0
    image[:, :, 3] = 1234
    roi[:, :, :] = False
    roi[:, :, 4] = True
    data = codec.compress(image, roi, 0, 3)
    decoded = codec.decompress(data)
    assert np.array_equal(decoded.array[:, :, [0, 3]], image[:, :, [0, 3]])
    _check_bounds(image, decoded.array, roi, 0, 3)


def test_progress_is_reported_per_slice():
    image, roi = _phantom((16, 16, 5), np.int16)
    seen = []
    data = codec.compress(image, roi, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(k, 5) for k in range(1, 6)]
    seen.clear()
    codec.decompress(data, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(k, 5) for k in range(1, 6)]
