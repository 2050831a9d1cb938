"""Format 4: a 2D image predicted by MED with contexts of exact local differences ("med_exact").

Written only when it is the smallest of the 2D candidates (range coder only); every other file
is still format 3, which medroi 0.3 reads.
"""

from __future__ import annotations

import numpy as np
import pytest

from medroi.codec import compress, container, decompress, decompress_slice, raster, read_header
from medroi.codec.entropy import Decoder, Encoder
from medroi.codec.slice_coder import Bounds, Models, decode_pixels, encode_pixels
from medroi.errors import CorruptFileError


def comb_image(shape=(96, 112), seed=0) -> np.ndarray:
    """A radiograph-like image whose neighbour differences sit on a comb (0, +-3, +-6): values
    on a lattice of step 3 whose offset drifts slowly (what mhh_82a78c13 looks like)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    field = 90 + 30 * np.sin(xx / 17.0) * np.cos(yy / 23.0) + rng.normal(0, 3.5, shape)
    offset = (xx // 40 + yy // 48) % 3
    return (3 * np.round(field / 3) + offset).astype(np.uint8)


# these tests are about format 4 (exact-difference contexts, Huffman model 2): context
# mixing (format 5) would win on their images
pytestmark = pytest.mark.usefixtures("no_mixing")


def _header_with(data: bytes, version: int | None = None, **predictor) -> bytes:
    parsed = container.unpack(data)
    header = {**parsed.header, "predictor": {**parsed.header["predictor"], **predictor}}
    chunks = [parsed.chunk(k) for k in range(len(parsed.index))]
    return container.pack(header, chunks, version=parsed.version if version is None else version)


def test_a_comb_radiograph_is_coded_with_exact_contexts_in_format_4():
    image = comb_image()
    data = compress(image, nroi_max_error=0)
    assert read_header(data)["predictor"]["prediction"] == "med_exact"
    assert container.unpack(data).version == 4
    np.testing.assert_array_equal(decompress(data).array, image)
    np.testing.assert_array_equal(decompress_slice(data, 0)[0], image)
    # Huffman files never use it (they are format 4 for Huffman model 2); smooth images stay format 3
    huffman = compress(image, nroi_max_error=0, entropy="huffman")
    assert "prediction" not in read_header(huffman)["predictor"] or read_header(huffman)["predictor"]["prediction"] == "med"
    assert read_header(huffman)["huffman_model"] == 2 and container.unpack(huffman).version == 4
    np.testing.assert_array_equal(decompress(huffman).array, image)
    rng = np.random.default_rng(1)
    smooth = (np.add.outer(np.arange(64), np.arange(64)) + rng.normal(0, 2, (64, 64))).astype(np.int16)
    assert container.unpack(compress(smooth, nroi_max_error=0)).version == 3


@pytest.mark.parametrize("bounds", [(0, 0), (0, 4), (1, 6)])
def test_exact_contexts_keep_every_bound_and_decode_bit_exactly(bounds):
    image = comb_image((64, 72), seed=2).astype(np.int64)
    roi = np.zeros(image.shape, bool)
    roi[20:44, 10:50] = True
    encoder, models = Encoder("ans"), Models(exact=True)
    recon = encode_pixels(encoder, image, roi, [], (0, 255), Bounds(*bounds), models, version=4,
                          med_only=raster.PREDICT_MED_EXACT)
    err = np.abs(recon - image)
    assert err[roi].max() <= bounds[0] and err[~roi].max() <= bounds[1]
    decoded = decode_pixels(Decoder(encoder.finish(), "ans"), image.shape, roi, [], (0, 255), Bounds(*bounds),
                            Models(exact=True), version=4, med_only=raster.PREDICT_MED_EXACT)
    np.testing.assert_array_equal(decoded, recon)


def test_exact_contexts_need_the_range_coder_and_their_models():
    image = comb_image((16, 16)).astype(np.int64)
    roi = np.zeros(image.shape, bool)
    with pytest.raises(ValueError):
        encode_pixels(Encoder("huffman"), image, roi, [], (0, 255), Bounds(0, 0), Models(exact=True),
                      med_only=raster.PREDICT_MED_EXACT)
    with pytest.raises(ValueError):  # activity-context models have no room for them
        encode_pixels(Encoder("ans"), image, roi, [], (0, 255), Bounds(0, 0), Models(),
                      med_only=raster.PREDICT_MED_EXACT)


def test_a_header_that_names_exact_contexts_where_they_cannot_be_is_refused():
    data = compress(comb_image(), nroi_max_error=0)
    for damaged in (_header_with(data, version=3),  # format 3 has no such mode
                    _header_with(data, prediction="bogus"),
                    _header_with(compress(comb_image(), nroi_max_error=0, entropy="huffman"), prediction="med_exact",
                                 version=4)):
        with pytest.raises(CorruptFileError, match="prediction"):
            decompress(damaged)


@pytest.mark.parametrize("entropy", ["ans", "huffman"])
def test_a_format_4_file_is_refused_by_name_where_format_4_is_unknown(monkeypatch, entropy):
    """What medroi 0.3 (formats 2 and 3) says about a file that uses exact-difference contexts
    or Huffman model 2: its format, and to upgrade (it would misread such pixels otherwise)."""
    from medroi.errors import UnsupportedVersionError

    data = compress(comb_image(), nroi_max_error=0, entropy=entropy)
    assert container.unpack(data).version == 4
    monkeypatch.setattr(container, "READABLE_VERSIONS", (2, 3))
    with pytest.raises(UnsupportedVersionError, match="format 4.*upgrade medroi"):
        decompress(data)


def test_huffman_model_2_in_a_format_3_container_is_refused():
    data = compress(comb_image(), nroi_max_error=0, entropy="huffman")
    with pytest.raises(CorruptFileError, match="Huffman model"):
        decompress(_header_with(data, version=3))
