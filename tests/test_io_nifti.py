"""NIfTI: raw stored integers, header bytes and affine kept through read -> write -> read."""

from __future__ import annotations

import base64
import gzip
import json

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medroi.errors import InvalidImageError, LossyInputError, OutputExistsError
from medroi.io import read_image, read_mask, write_image
from tests.conftest import require_data

BRATS_CASES = ("Brats18_2013_11_1", "Brats18_CBICA_ABM_1", "Brats18_TCIA01_201_1")


def _save(tmp_path, data, name="img.nii.gz", affine=None, **header_fields):
    img = nib.Nifti1Image(data, np.diag([0.9, 1.1, 2.5, 1.0]) if affine is None else affine)
    for key, value in header_fields.items():
        img.header[key] = value
    path = tmp_path / name
    nib.save(img, path)
    return path


def _stored_header(path) -> bytes:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        return handle.read(348)


def _round_trip(image, path):
    out = write_image(image, path)
    return out, read_image(out)


def test_scl_slope_kept_raw_and_header_bytes_identical(tmp_path):
    data = np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 7
    src = tmp_path / "scaled.nii"
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_slope_inter(2.5, -3.0)
    nib.save(img, src)  # nibabel may rescale on save; what is on disk is the reference
    stored = nib.load(src).dataobj.get_unscaled()
    image = read_image(src)
    assert image.array.dtype == np.int16
    np.testing.assert_array_equal(image.array, stored)
    assert image.metadata["scl_slope"] == 2.5 and image.metadata["scl_inter"] == -3.0
    json.dumps(image.metadata)
    out, again = _round_trip(image, tmp_path / "out.nii")
    assert _stored_header(out) == _stored_header(src)
    np.testing.assert_array_equal(nib.load(out).get_fdata(), nib.load(src).get_fdata())
    np.testing.assert_array_equal(again.array, image.array)


def test_float_integral_becomes_smallest_integer_and_restores_float(tmp_path):
    data = np.array([[[0, 1], [200, 255]], [[3, 4], [5, 6]]], dtype=np.float32)
    src = _save(tmp_path, data)
    image = read_image(src)
    assert image.array.dtype == np.uint8
    np.testing.assert_array_equal(image.array, data.astype(np.uint8))
    assert image.metadata["stored_dtype"] == "<f4"
    out, again = _round_trip(image, tmp_path / "back.nii.gz")
    back = nib.load(out)
    assert back.get_data_dtype() == np.float32
    np.testing.assert_array_equal(np.asanyarray(back.dataobj), data)
    assert _stored_header(out) == _stored_header(src)
    assert read_image(src, quantize_step=0.5).array.dtype in (np.uint16, np.int16)  # step applies to floats


def test_float_negative_integral_picks_signed_dtype(tmp_path):
    data = np.array([[[-1000.0, 0.0], [1.0, 2000.0]]], dtype=np.float64)
    assert read_image(_save(tmp_path, data)).array.dtype == np.int16


def test_float_non_integral_is_refused_with_the_quantize_option(tmp_path):
    src = _save(tmp_path, np.full((3, 3, 2), 0.25, dtype=np.float32))
    with pytest.raises(LossyInputError, match="quantize"):
        read_image(src)


def test_quantize_step_stores_integers_and_write_back_multiplies(tmp_path):
    data = np.random.default_rng(0).normal(0, 10, (4, 5, 3)).astype(np.float32)
    src = _save(tmp_path, data)
    image = read_image(src, quantize_step=0.1)
    assert image.array.dtype.kind == "i"
    assert image.metadata["quantize_step"] == 0.1
    np.testing.assert_array_equal(image.array, np.rint(data.astype(np.float64) / 0.1))
    out = write_image(image, tmp_path / "q.nii.gz")
    back = np.asanyarray(nib.load(out).dataobj)
    assert back.dtype == np.float32
    assert np.max(np.abs(back - data)) <= 0.05 + 1e-5


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_and_inf_are_refused(tmp_path, value):
    data = np.zeros((3, 3, 3), dtype=np.float32)
    data[1, 1, 1] = value
    with pytest.raises(InvalidImageError, match="NaN|infinite"):
        read_image(_save(tmp_path, data))


def test_4d_needs_a_frame(tmp_path):
    data = np.arange(2 * 3 * 4 * 5, dtype=np.int16).reshape(2, 3, 4, 5)
    src = _save(tmp_path, data, "four.nii.gz")
    with pytest.raises(InvalidImageError, match="frame"):
        read_image(src)
    with pytest.raises(InvalidImageError, match="out of range"):
        read_image(src, frame=5)
    image = read_image(src, frame=3)
    np.testing.assert_array_equal(image.array, data[..., 3])
    out = write_image(image, tmp_path / "frame3.nii.gz")
    back = nib.load(out)
    assert back.shape == (2, 3, 4)
    np.testing.assert_array_equal(np.asanyarray(back.dataobj), data[..., 3])
    np.testing.assert_array_equal(back.affine, nib.load(src).affine)


def test_frame_on_3d_is_refused(tmp_path):
    with pytest.raises(InvalidImageError, match="4D"):
        read_image(_save(tmp_path, np.zeros((2, 2, 2), np.uint8)), frame=0)


def test_empty_volume_is_refused(tmp_path):
    with pytest.raises(InvalidImageError, match="empty"):
        read_image(_save(tmp_path, np.zeros((4, 0, 3), dtype=np.int16)))


def test_truncated_file_is_a_medroi_error(tmp_path):
    src = _save(tmp_path, np.ones((20, 20, 20), np.int16), "t.nii")
    (tmp_path / "cut.nii").write_bytes(src.read_bytes()[:1000])
    with pytest.raises(InvalidImageError):
        read_image(tmp_path / "cut.nii")


def test_no_overwrite_without_force(tmp_path):
    src = _save(tmp_path, np.ones((2, 2, 2), np.uint8), "a.nii.gz")
    image = read_image(src)
    with pytest.raises(OutputExistsError):
        write_image(image, src)
    write_image(image, src, force=True)
    np.testing.assert_array_equal(read_image(src).array, image.array)


def test_big_endian_header_and_extensions_survive(tmp_path):
    data = np.arange(60, dtype=">i2").reshape(3, 4, 5)
    hdr = nib.Nifti1Header(endianness=">")
    hdr.set_data_dtype(np.int16)
    img = nib.Nifti1Image(data, np.eye(4), header=hdr)
    img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"medroi test extension"))
    src = tmp_path / "be.nii"
    nib.save(img, src)
    assert nib.load(src).header.endianness == ">" and nib.load(src).header.extensions
    image = read_image(src)
    assert image.array.dtype == np.dtype("int16") and image.array.dtype.isnative
    np.testing.assert_array_equal(image.array, data)
    out = write_image(image, tmp_path / "be_out.nii")
    assert out.read_bytes() == src.read_bytes()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dtype=st.sampled_from(["uint8", "int8", "uint16", "int16", "uint32", "int32"]),
    shape=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 5)),
    gz=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_integer_volumes_round_trip(tmp_path, dtype, shape, gz, seed):
    info = np.iinfo(dtype)
    data = np.random.default_rng(seed).integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    affine = np.eye(4)
    affine[:3, 3] = [seed % 7, -3.5, 12.25]
    suffix = ".nii.gz" if gz else ".nii"
    src = _save(tmp_path, data, f"r{seed}{suffix}", affine=affine)
    image = read_image(src)
    assert image.array.dtype == np.dtype(dtype)
    out, again = _round_trip(image, tmp_path / f"o{seed}_{dtype}_{'x'.join(map(str, shape))}{suffix}")
    np.testing.assert_array_equal(again.array, data)
    assert again.array.dtype == data.dtype
    assert again.metadata == image.metadata | {"gzip": gz}
    assert _stored_header(out) == _stored_header(src)


@pytest.mark.parametrize("case", BRATS_CASES)
def test_brats_round_trip(tmp_path, case):
    folder = require_data("brats", case)
    for kind in ("flair", "seg"):
        src = folder / f"{case}_{kind}.nii.gz"
        original = nib.load(src)
        image = read_image(src)
        assert image.array.dtype == original.get_data_dtype()
        np.testing.assert_array_equal(image.array, np.asanyarray(original.dataobj))
        assert base64.b64decode(image.metadata["header"]) == _stored_header(src)
        out, again = _round_trip(image, tmp_path / f"{kind}.nii.gz")
        back = nib.load(out)
        assert back.header.binaryblock == original.header.binaryblock
        assert _stored_header(out) == _stored_header(src)
        np.testing.assert_array_equal(back.affine, original.affine)
        np.testing.assert_array_equal(again.array, image.array)
        assert again.array.dtype == image.array.dtype
        assert again.metadata == image.metadata


def test_brats_whole_tumor_mask(caplog):
    case = BRATS_CASES[0]
    seg = require_data("brats", case, f"{case}_seg.nii.gz")
    labels = np.asanyarray(nib.load(seg).dataobj)
    mask = read_mask(seg, labels=(1, 2, 4), shape=labels.shape)
    assert mask.dtype == np.bool_
    np.testing.assert_array_equal(mask, np.isin(labels, (1, 2, 4)))
    assert mask.any()
    with pytest.raises(InvalidImageError, match=r"\(240, 240, 155\).*\(10, 10, 10\)"):
        read_mask(seg, shape=(10, 10, 10))


def test_nifti2_round_trip(tmp_path):
    data = np.arange(4 * 3 * 2, dtype=np.int32).reshape(4, 3, 2) * 1000 - 5000
    src = tmp_path / "two.nii.gz"
    nib.save(nib.Nifti2Image(data, np.diag([1.5, 1.5, 3.0, 1.0])), src)
    image = read_image(src)
    assert image.metadata["nifti_version"] == 2
    out, again = _round_trip(image, tmp_path / "two_out.nii.gz")
    with gzip.open(out) as a, gzip.open(src) as b:
        assert a.read(540) == b.read(540)
    np.testing.assert_array_equal(again.array, data)
