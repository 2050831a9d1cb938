"""JPEG's 8 x 8 grid: found in the pixels, used as contexts, stored in the header and checked."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from medroi.codec import blockgrid, compress, container, decompress, read_header
from medroi.errors import CorruptFileError


def _blocky(shape=(192, 192), crop=(0, 0), seed=0) -> np.ndarray:
    """A smooth noisy image through JPEG (quality 50) and back: JPEG's grid is in its pixels,
    its edges after rows / columns 7 mod 8, moved by cropping ``crop`` rows / columns."""
    rng = np.random.default_rng(seed)
    height, width = shape[0] + crop[0], shape[1] + crop[1]
    yy, xx = np.mgrid[:height, :width]
    field = 100 + 40 * np.sin(xx / 17.0) + 30 * np.cos(yy / 23.0) + rng.normal(0, 6, (height, width))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(field, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=50)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())))[crop[0]:, crop[1]:]


def test_the_grid_is_found_at_its_phase_and_not_in_a_smooth_image():
    assert blockgrid.detect(_blocky()) == [7, 7]
    assert blockgrid.detect(_blocky(crop=(3, 5))) == [4, 2]
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:192, :192]
    smooth = np.round(100 + 40 * np.sin(xx / 17.0) + rng.normal(0, 6, (192, 192)))
    assert blockgrid.detect(smooth) is None
    assert blockgrid.detect(_blocky(shape=(40, 40))) is None  # too few blocks to tell


def test_classes_mark_the_pixels_on_both_sides_of_an_edge():
    cls = blockgrid.classes((16, 16), [7, None]).reshape(16, 16)
    assert set(np.unique(cls)) == {0, 1}
    np.testing.assert_array_equal(np.flatnonzero(cls[:, 0]), [0, 7, 8, 15])
    cls = blockgrid.classes((16, 16), [None, 3]).reshape(16, 16)
    np.testing.assert_array_equal(np.flatnonzero(cls[0]), [3, 4, 11, 12])
    assert blockgrid.classes((16, 16), None) is None


def test_a_blocky_image_round_trips_with_block_contexts_and_is_smaller(monkeypatch):
    image = _blocky()
    data = compress(image, nroi_max_error=0)
    assert read_header(data)["block_grid"] == [7, 7]
    with monkeypatch.context() as patch:
        patch.setattr(blockgrid, "detect", lambda image: None)
        assert len(data) < len(compress(image, nroi_max_error=0))
    np.testing.assert_array_equal(decompress(data).array, image)
    parsed = container.unpack(data)
    plain = dict(parsed.header)
    del plain["block_grid"]
    # the same pixels read without the grid decode to something else or fail: the contexts matter
    try:
        other = decompress(container.pack(plain, [parsed.chunk(0)])).array
        assert not np.array_equal(other, image)
    except CorruptFileError:
        pass
    roi = np.zeros(image.shape, bool)
    roi[30:80, 20:70] = True
    lossy = decompress(compress(image, roi, 0, 4))
    error = np.abs(lossy.array.astype(int) - image)
    assert error[roi].max() == 0 and error.max() <= 4


def test_huffman_files_and_volumes_carry_no_grid():
    image = _blocky()
    assert "block_grid" not in read_header(compress(image, nroi_max_error=0, entropy="huffman"))
    assert "block_grid" not in read_header(compress(np.stack([image, image], axis=-1), nroi_max_error=0))


@pytest.mark.parametrize("grid, version", [([8, 7], 3), ([None, None], 3), ([7], 3), ("7,7", 3), ([True, 7], 3),
                                           ([7, 7], 2)])
def test_a_damaged_block_grid_is_refused(grid, version):
    data = compress(_blocky(), nroi_max_error=0)
    parsed = container.unpack(data)
    damaged = container.pack({**parsed.header, "block_grid": grid}, [parsed.chunk(0)], version=version)
    with pytest.raises(CorruptFileError, match="block_grid"):
        decompress(damaged)
