"""Format 3: sparse-valued images coded as ranks (histogram packing), Huffman pair symbols; format 2 still read."""

from __future__ import annotations

import base64
import zlib

import numpy as np
import pytest

from medroi.codec import compress, container, decompress, decompress_slice, histogram, read_header
from medroi.errors import CorruptFileError


def _smooth(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    field = 40 * np.sin(xx / 9.0) + 30 * np.cos(yy / 13.0) + rng.normal(0, 3, shape)
    return np.round(field - field.min()).astype(np.int64)


# these tests are about format 3 (the blend / MED choice, packing): context mixing (format 5)
# would win on their images
pytestmark = pytest.mark.usefixtures("no_mixing")


def _header_with(data: bytes, **changes) -> bytes:
    """The same file with header fields changed (CRCs recomputed: damage the checks must catch)."""
    parsed = container.unpack(data)
    header = {**parsed.header, **changes}
    chunks = [parsed.chunk(k) for k in range(len(parsed.index))]
    return container.pack(header, chunks, version=parsed.version)


def test_sparse_values_are_packed_and_exact():
    dense = _smooth((96, 80))
    image = (dense * 32 + 1000).astype(np.int16)  # a CT stored in steps of 32
    data = compress(image, nroi_max_error=0)
    assert "value_table" in read_header(data)
    assert container.unpack(data).version == 3
    out = decompress(data)
    assert out.array.dtype == image.dtype
    np.testing.assert_array_equal(out.array, image)
    # the step costs nothing: about the size of the dense image (plus the table)
    assert len(data) < 1.1 * len(compress(dense.astype(np.int16), nroi_max_error=0))


def test_volume_slices_decode_alone_when_packed():
    volume = np.stack([_smooth((40, 48), seed=k) * 16 for k in range(5)], axis=-1).astype(np.uint16)
    data = compress(volume, nroi_max_error=0, gop=2)
    assert "value_table" in read_header(data)
    for k in range(volume.shape[-1]):
        recon, _ = decompress_slice(data, k)
        np.testing.assert_array_equal(recon, volume[..., k])


def test_dense_or_lossy_images_are_not_packed():
    dense = _smooth((64, 64)).astype(np.uint16)
    data = compress(dense, nroi_max_error=0)
    assert "value_table" not in read_header(data) and container.unpack(data).version == 3
    sparse = (dense * 32).astype(np.uint16)
    lossy = compress(sparse, nroi_max_error=3)  # a bound on values is not a bound on ranks
    assert "value_table" not in read_header(lossy)
    assert np.abs(decompress(lossy).array.astype(int) - sparse).max() <= 3


def test_table_round_trip_and_limits():
    table = np.array([-5, 0, 7, 1000, 1 << 31], dtype=np.int64)
    np.testing.assert_array_equal(histogram.decode_table(histogram.encode_table(table), -5, 1 << 31, 100), table)
    with pytest.raises(CorruptFileError):
        histogram.decode_table(histogram.encode_table(table), -5, 1 << 30, 100)  # does not span the range
    with pytest.raises(CorruptFileError):
        histogram.decode_table(histogram.encode_table(table), -5, 1 << 31, 4)  # more values than voxels


def _packed_file() -> bytes:
    data = compress((_smooth((48, 40)) * 8).astype(np.uint16), nroi_max_error=0)
    assert "value_table" in read_header(data)
    return data


@pytest.mark.parametrize(
    "table",
    [
        None,
        {"count": 3},
        {"count": True, "gaps": ""},
        {"count": 10**9, "gaps": ""},
        {"count": 3, "gaps": "not base64!"},
        {"count": 3, "gaps": base64.b64encode(b"garbage").decode()},
        {"count": 3, "gaps": base64.b64encode(zlib.compress(b"\x01\x01")).decode()},  # spans 2, not the range
        {"count": 3, "gaps": base64.b64encode(zlib.compress(b"\x00" * 10**6)).decode()},  # a deflate bomb
        {"count": 3, "gaps": base64.b64encode(zlib.compress(b"\xff" * 20)).decode()},  # unterminated entry
    ],
)
def test_damaged_value_tables_are_refused(table):
    data = _header_with(_packed_file(), value_table=table)
    with pytest.raises(CorruptFileError):
        decompress(data)
    with pytest.raises(CorruptFileError):
        read_header(data)


def test_a_table_in_a_lossy_file_is_refused():
    data = _packed_file()
    with pytest.raises(CorruptFileError, match="not lossless"):
        decompress(_header_with(data, nroi_max_error=2))


@pytest.mark.parametrize("entropy", ["ans", "huffman"])
def test_files_of_format_2_still_decode(monkeypatch, entropy):
    """Format 3 changed the pixel rules (background skip, Huffman pair symbols); a file of
    medroi 0.2 (format 2) decodes exactly with the old rules."""
    import functools

    import medroi.codec as codec

    image = np.stack([_smooth((48, 56), seed=k) + 80 for k in range(3)], axis=-1).astype(np.int16)
    yy, xx = np.mgrid[:48, :56]
    outside = ((yy - 24) ** 2 + (xx - 28) ** 2 > 18**2)[..., None]
    specks = np.random.default_rng(0).random(image.shape) < 0.03
    # background around a disc, with specks: format 3 skips its pixels, format 2 models them
    image = np.where(outside, np.where(specks, 2, 0), image).astype(np.int16)
    roi = np.zeros(image.shape, bool)
    roi[10:30, 12:40] = True
    new = compress(image, roi, roi_max_error=0, nroi_max_error=4, entropy=entropy)
    assert container.unpack(new).version == (4 if entropy == "huffman" else 3)  # Huffman model 2 is format 4
    monkeypatch.setattr(codec, "encode_pixels", functools.partial(codec.encode_pixels, version=2))
    monkeypatch.setattr(codec, "HUFFMAN_MODEL", 1)  # medroi 0.2's Huffman rules (model 1)
    pack = container.pack
    monkeypatch.setattr(codec.container, "pack", lambda header, chunks, version=3: pack(header, chunks, version=2))
    old = compress(image, roi, roi_max_error=0, nroi_max_error=4, entropy=entropy)
    monkeypatch.undo()
    old_parsed, new_parsed = container.unpack(old), container.unpack(new)
    assert old_parsed.version == 2
    assert [old_parsed.chunk(k) for k in range(3)] != [new_parsed.chunk(k) for k in range(3)]  # other rules
    for data in (old, new):
        out = decompress(data)
        error = np.abs(out.array.astype(int) - image)
        assert error[roi].max() == 0 and error.max() <= 4


def test_a_value_table_in_a_format_2_file_is_refused():
    """Format 2 had no value tables: one there is damage (or a hostile file), not ranks to guess at."""
    parsed = container.unpack(_packed_file())
    old = container.pack(parsed.header, [parsed.chunk(k) for k in range(len(parsed.index))], version=2)
    with pytest.raises(CorruptFileError, match="value table in a format-2 file"):
        decompress(old)


def _lattice_image(seed: int = 0) -> np.ndarray:
    """An 8-bit image whose neighbours differ by multiples of 3 (as in contrast-stretched
    radiographs): a smooth integer field plus 3 x spatially correlated integer noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:128, :128]
    base = np.round(60 + 30 * np.sin(xx / 30.0) + 20 * np.cos(yy / 25.0))
    noise = rng.normal(0, 1, (130, 130))
    noise = noise[:-2] + 2 * noise[1:-1] + noise[2:]
    noise = noise[:, :-2] + 2 * noise[:, 1:-1] + noise[:, 2:]
    return np.clip(base + 3 * np.round(2 * noise / noise.std()), 0, 255).astype(np.uint8)


def test_a_2d_image_on_a_value_lattice_is_predicted_by_med_alone():
    """Where values sit on a lattice, MED (a neighbour's value) keeps residuals on it and beats
    the blend; the encoder codes both and keeps the smaller, so it is never worse."""
    image = _lattice_image()
    data = compress(image, nroi_max_error=0)
    assert read_header(data)["predictor"] == {"kind": "classical", "prediction": "med"}
    np.testing.assert_array_equal(decompress(data).array, image)
    roi = np.zeros(image.shape, bool)
    roi[20:60, 10:50] = True
    lossy = decompress(compress(image, roi, 0, 3))  # either prediction: the bounds hold
    error = np.abs(lossy.array.astype(int) - image)
    assert error[roi].max() == 0 and error.max() <= 3


def test_a_smooth_noisy_image_keeps_the_blend_and_volumes_always_do():
    smooth = _smooth((96, 80)).astype(np.int16)
    assert "prediction" not in read_header(compress(smooth, nroi_max_error=0))["predictor"]
    volume = np.stack([_lattice_image(seed=k) for k in range(3)], axis=-1)
    data = compress(volume, nroi_max_error=0)
    assert "prediction" not in read_header(data)["predictor"]
    np.testing.assert_array_equal(decompress(data).array, volume)


@pytest.mark.parametrize("prediction, version", [("blend", 3), ("MED", 3), (1, 3), ("med", 2)])
def test_a_damaged_prediction_field_is_refused(prediction, version):
    data = compress(_lattice_image(), nroi_max_error=0)
    parsed = container.unpack(data)
    header = {**parsed.header, "predictor": {"kind": "classical", "prediction": prediction}}
    damaged = container.pack(header, [parsed.chunk(0)], version=version)
    with pytest.raises(CorruptFileError, match="prediction"):
        decompress(damaged)
