"""Multi-view ROI probability (medroi.autoroi.views): the three planes of a volume are sliced,
squared, segmented and put back voxel for voxel, in the axis order roi_cv trains them."""

from __future__ import annotations

import numpy as np
import pytest

from medroi.autoroi.postprocess import RoiPolicy
from medroi.autoroi.views import (crop_square, from_view_slices, pad_square, view_axes, view_probability,
                                  view_slices)


def _centre(grid: np.ndarray) -> np.ndarray:
    """A 'model' that returns its input's own slice (the centre context channel)."""
    return grid[:, grid.shape[1] // 2] if grid.ndim == 4 else grid


def test_view_axes_put_the_slice_axis_first():
    assert view_axes(3, -1, 1) == [2]
    assert view_axes(3, -1, 3) == [2, 0, 1]
    assert view_axes(3, 1, 3) == [1, 0, 2]
    with pytest.raises(ValueError):
        view_axes(3, 0, 2)


def test_slices_and_squares_round_trip():
    vol = np.random.default_rng(0).random((5, 7, 4))
    for axis in range(3):
        np.testing.assert_array_equal(from_view_slices(view_slices(vol, axis), axis), vol)
    slices = view_slices(vol, 2)  # [4, 5, 7]
    square = pad_square(slices)
    assert square.shape == (4, 7, 7) and square[:, 0].sum() == 0 and square[:, -1].sum() == 0
    np.testing.assert_array_equal(crop_square(square, slices.shape[1:]), slices)


@pytest.mark.parametrize("views", [1, 3])
def test_an_identity_model_gives_back_the_volume_in_every_plane(views):
    """With the model grid as large as every plane's squared slices (16), resampling is the
    identity: the averaged probability of a model that echoes its input is the input, so each
    plane is put back in place (a transposed or shifted plane would not average to it)."""
    vol = np.random.default_rng(1).random((16, 16, 9)).astype(np.float32)
    out = view_probability(vol, -1, views, 16, context=1, segment=_centre, batch=5)
    np.testing.assert_allclose(out, vol, atol=1e-6)


def test_three_views_average_what_each_plane_sees():
    """A model that only 'sees' the first row of each slice: the three planes see different
    voxels, and the average is exactly their mean."""
    vol = np.ones((8, 8, 8), np.float32)

    def first_row(grid):
        out = np.zeros_like(_centre(grid))
        out[:, 0] = 1.0
        return out

    out = view_probability(vol, -1, 3, 8, 0, first_row)
    expected = np.zeros((8, 8, 8), np.float32)
    expected[0, :, :] += 1 / 3   # axial slices [Z][X, Y]: row 0 is x = 0
    expected[:, 0, :] += 1 / 3   # sagittal slices along x [X][Y, Z]: row 0 is y = 0
    expected[0, :, :] += 1 / 3   # coronal slices along y [Y][X, Z]: row 0 is x = 0
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_the_policy_accepts_one_or_three_views():
    assert RoiPolicy.from_dict({"views": 3}).views == 3
    with pytest.raises(ValueError):
        RoiPolicy(views=2)
