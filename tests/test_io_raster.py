"""PNG/TIFF/JPEG: (rows, cols) at the stored bit depth; colour to gray; masks from labels."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from medroi.errors import InvalidImageError, LossyInputError, UnsupportedFormatError
from medroi.io import MedicalImage, read_image, read_mask, write_image
from tests.conftest import require_data

XRAYS = (  # 8-bit gray PNG, RGB and RGBA PNG, RGB and gray JPEG, of several sizes
    "mhh_19a01707.png", "mhh_1bc3008e.png", "mhh_1d435a4b.png", "mhh_21982772.png",
    "gbcxr_011.png", "gbcxr_035.png", "gbcxr_044.png",
    "gbcxr_030.jpg", "gbcxr_063.jpg", "gbcxr_066.jpg",
)


def test_uint16_png_keeps_dtype_and_axes(tmp_path):
    data = (np.arange(3 * 5, dtype=np.uint16).reshape(3, 5) * 4000) + 7
    src = tmp_path / "sixteen.png"
    Image.fromarray(data).save(src)
    image = read_image(src)
    assert image.array.dtype == np.uint16 and image.array.shape == (3, 5)
    np.testing.assert_array_equal(image.array, data)
    again = read_image(write_image(image, tmp_path / "back.png"))
    np.testing.assert_array_equal(again.array, data)
    assert again.array.dtype == np.uint16


def test_rgb_png_becomes_gray_with_a_warning_when_asked(tmp_path, caplog):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (6, 4, 3), dtype=np.uint8)
    src = tmp_path / "colour.png"
    Image.fromarray(rgb).save(src)
    with caplog.at_level(logging.WARNING, logger="medroi"):
        image = read_image(src, colour="gray")
    assert any("luminance" in r.getMessage() for r in caplog.records)
    assert image.array.shape == (6, 4) and image.array.dtype == np.uint8
    r, g, b = (rgb[..., i].astype(float) for i in range(3))
    assert np.max(np.abs(image.array - (0.299 * r + 0.587 * g + 0.114 * b))) <= 0.5 + 1e-9
    assert image.metadata["conversion"] == "luminance" and image.metadata["mode"] == "RGB"
    again = read_image(write_image(image, tmp_path / "gray.png"))
    np.testing.assert_array_equal(again.array, image.array)


def test_equal_channels_rgba_is_lossless_without_warning(tmp_path, caplog):
    gray = np.random.default_rng(4).integers(0, 256, (5, 9), dtype=np.uint8)
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    src = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(src)
    with caplog.at_level(logging.WARNING, logger="medroi"):
        image = read_image(src)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    np.testing.assert_array_equal(image.array, gray)
    assert image.metadata["conversion"] == "single-channel" and image.metadata["alpha_dropped"]


def test_float_tiff_follows_the_float_rules(tmp_path):
    integral = np.array([[1.0, 2.0], [300.0, 4.0]], dtype=np.float32)
    Image.fromarray(integral).save(tmp_path / "i.tif")
    image = read_image(tmp_path / "i.tif")
    assert image.array.dtype == np.uint16
    np.testing.assert_array_equal(image.array, integral)
    Image.fromarray(integral + 0.5).save(tmp_path / "f.tif")
    with pytest.raises(LossyInputError, match="quantize"):
        read_image(tmp_path / "f.tif")


def test_3d_to_png_is_refused_and_jpeg_output_too(tmp_path):
    volume = MedicalImage(np.zeros((4, 4, 3), np.uint8), "nifti", {})
    with pytest.raises(InvalidImageError, match="2D"):
        write_image(volume, tmp_path / "v.png")
    flat = MedicalImage(np.zeros((4, 4), np.uint8), "png", {})
    with pytest.raises(UnsupportedFormatError, match="lossy"):
        write_image(flat, tmp_path / "v.jpg")


def test_signed_array_to_png_needs_fitting_values(tmp_path):
    ok = MedicalImage(np.array([[0, 1000], [2, 3]], np.int16), "nifti", {})
    np.testing.assert_array_equal(read_image(write_image(ok, tmp_path / "ok.png")).array, ok.array)
    bad = MedicalImage(np.array([[-5, 1000], [2, 3]], np.int16), "nifti", {})
    with pytest.raises(InvalidImageError, match="TIFF or NIfTI"):
        write_image(bad, tmp_path / "bad.png")
    np.testing.assert_array_equal(read_image(write_image(bad, tmp_path / "bad.tif")).array, bad.array)


def test_palette_mask_uses_indices(tmp_path):
    labels = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    img = Image.fromarray(labels, mode=None).convert("P")
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    img.putdata(labels.ravel().tolist())
    src = tmp_path / "labels.png"
    img.save(src)
    assert Image.open(src).mode == "P"
    np.testing.assert_array_equal(read_mask(src), labels > 0)
    np.testing.assert_array_equal(read_mask(src, labels=[2]), labels == 2)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dtype=st.sampled_from(["uint8", "uint16"]),
    shape=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    ext=st.sampled_from([".png", ".tif"]),
    seed=st.integers(0, 2**16),
)
def test_random_gray_images_round_trip(tmp_path, dtype, shape, ext, seed):
    data = np.random.default_rng(seed).integers(0, np.iinfo(dtype).max, shape, endpoint=True, dtype=dtype)
    src = tmp_path / f"src_{seed}_{dtype}_{shape[0]}x{shape[1]}{ext}"
    Image.fromarray(data).save(src)
    image = read_image(src)
    assert image.array.dtype == np.dtype(dtype) and image.array.shape == shape
    np.testing.assert_array_equal(image.array, data)
    again = read_image(write_image(image, src.with_name("out_" + src.name)))
    np.testing.assert_array_equal(again.array, data)
    assert again.array.dtype == data.dtype and again.metadata["mode"] == image.metadata["mode"]


@pytest.mark.parametrize("name", XRAYS)
def test_xray_round_trip(tmp_path, name):
    src = require_data("xray", "images", name)
    image = read_image(src)
    json.dumps(image.metadata)
    with Image.open(src) as pil:
        pixels = np.asarray(pil)
    colour = pixels.ndim == 3 and not all(np.array_equal(pixels[..., 0], pixels[..., c]) for c in (1, 2))
    if pixels.ndim == 2:
        np.testing.assert_array_equal(image.array, pixels)
    elif not colour:
        np.testing.assert_array_equal(image.array, pixels[..., 0])
    else:  # colour is kept exactly, as planes
        np.testing.assert_array_equal(image.array, pixels[..., :3])
        assert image.metadata["channels"] == 3
    assert image.array.dtype == np.uint8
    out = write_image(image, tmp_path / (src.stem + ".png"))
    again = read_image(out)
    np.testing.assert_array_equal(again.array, image.array)
    assert again.array.dtype == image.array.dtype
    assert again.format == "png" and again.metadata["mode"] == ("RGB" if colour else "L")
    if image.metadata["dpi"]:  # PNG stores pixels per metre: 96 dpi comes back as 96.012
        assert again.metadata["dpi"] == pytest.approx(image.metadata["dpi"], rel=1e-3)


def test_xray_lung_mask():
    lungs = require_data("xray", "masks", "gbcxr_011_lungs.png")
    image = read_image(require_data("xray", "images", "gbcxr_011.png"))
    labels = np.asarray(Image.open(lungs))
    mask = read_mask(lungs, labels=(1, 2), shape=image.array.shape[:2])
    np.testing.assert_array_equal(mask, np.isin(labels, (1, 2)))
    assert mask.any() and not mask.all()
    with pytest.raises(InvalidImageError, match="differs"):
        read_mask(lungs, shape=(image.array.shape[0] + 1, image.array.shape[1]))
    with pytest.raises(InvalidImageError, match="none of labels 7"):
        read_mask(lungs, labels=(7,))


def test_bilevel_png_round_trips_as_bilevel(tmp_path):
    bits = np.random.default_rng(6).integers(0, 2, (9, 11)).astype(bool)
    Image.fromarray(bits).save(tmp_path / "b.png")
    image = read_image(tmp_path / "b.png")
    assert image.metadata["mode"] == "1" and image.array.dtype == np.uint8
    np.testing.assert_array_equal(image.array, bits)
    again = read_image(write_image(image, tmp_path / "b2.png"))
    assert again.metadata["mode"] == "1"
    np.testing.assert_array_equal(again.array, bits)


def test_multipage_tiff_needs_a_frame(tmp_path):
    pages = [Image.fromarray(np.full((3, 4), v, np.uint16)) for v in (10, 20, 30)]
    pages[0].save(tmp_path / "m.tif", save_all=True, append_images=pages[1:])
    with pytest.raises(InvalidImageError, match="frame"):
        read_image(tmp_path / "m.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "m.tif", frame=2).array, np.full((3, 4), 30))
    with pytest.raises(InvalidImageError, match="out of range"):
        read_image(tmp_path / "m.tif", frame=3)
