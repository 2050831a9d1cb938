"""IntegerWindow(d): native integers -> float [0, 1] and back, bit-exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor
from monai.transforms import Compose

from medroi.errors import InvalidImageError, LossyInputError, MedroiError
from medroi.intensity import integer_window, to_unit
from medroi.transforms import IntegerWindow, IntegerWindowd, IntegerWindowD, IntegerWindowDict

DTYPES = [np.uint8, np.int16, np.uint16]


@st.composite
def native_images(draw, ndim: int | None = None) -> np.ndarray:
    """Channel-first integer images (1, ...) of 2 or 3 spatial dims, any sub-range of the dtype."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    info = np.iinfo(dtype)
    ndim = draw(st.sampled_from([2, 3])) if ndim is None else ndim
    shape = tuple(draw(st.integers(1, 12)) for _ in range(ndim))
    a = draw(st.integers(int(info.min), int(info.max)))
    b = draw(st.integers(int(info.min), int(info.max)))
    lo, hi = min(a, b), max(a, b)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    image = rng.integers(lo, hi, size=(1, *shape), endpoint=True).astype(dtype)
    if draw(st.booleans()):  # a few hot voxels at the dtype's extremes, as in some BRATS cases
        flat = image.reshape(-1)
        flat[rng.integers(0, flat.size, size=max(1, flat.size // 50))] = info.max
    return image


@settings(max_examples=60, deadline=None)
@given(native_images())
def test_window_then_inverse_is_bit_exact(image: np.ndarray) -> None:
    window = IntegerWindow()
    unit = window(image)
    assert unit.dtype == torch.float32
    assert float(unit.min()) >= 0.0 and float(unit.max()) <= 1.0
    lo, hi = integer_window(image)
    np.testing.assert_array_equal(unit.numpy(), to_unit(image, lo, hi))  # the shared mapping, not a copy
    restored = window.inverse(unit)
    assert restored.numpy().dtype == image.dtype
    np.testing.assert_array_equal(restored.numpy(), image)
    assert restored.applied_operations == []


@settings(max_examples=30, deadline=None)
@given(native_images(), st.sampled_from([90.0, 99.0, 100.0]))
def test_records_exactly_the_clipped_voxels(image: np.ndarray, upper_percentile: float) -> None:
    unit = IntegerWindow(upper_percentile)(image)
    info = unit.applied_operations[-1]["extra_info"]
    lo, hi = integer_window(image, upper_percentile)
    assert (info["lo"], info["hi"]) == (lo, hi)
    clipped = np.flatnonzero(image.reshape(-1).astype(np.int64) > hi)
    np.testing.assert_array_equal(np.sort(info["exception_index"]), clipped)
    np.testing.assert_array_equal(info["exception_value"], image.reshape(-1)[info["exception_index"]])


def test_hot_voxels_come_back_exactly() -> None:
    image = np.full((1, 40, 40), 100, dtype=np.int16)
    image[0, :, :20] = np.arange(800, dtype=np.int16).reshape(40, 20)
    image[0, 3, 7] = np.iinfo(np.int16).max
    image[0, 5, 5] = 30000
    unit = IntegerWindow()(image)
    info = unit.applied_operations[-1]["extra_info"]
    assert info["hi"] < 30000 and len(info["exception_index"]) >= 2
    assert float(unit[0, 3, 7]) == 1.0 and float(unit[0, 5, 5]) == 1.0
    window = IntegerWindow()
    np.testing.assert_array_equal(window.inverse(window(image)).numpy(), image)


def test_metadata_is_kept_and_operation_recorded() -> None:
    affine = torch.diag(torch.tensor([2.0, 3.0, 4.0, 1.0], dtype=torch.float64))
    image = MetaTensor(torch.arange(24, dtype=torch.int16).reshape(1, 2, 3, 4), affine=affine, meta={"format": "nifti"})
    window = IntegerWindow()
    unit = window(image)
    assert [op["class"] for op in unit.applied_operations] == ["IntegerWindow"]
    assert unit.meta["format"] == "nifti" and torch.equal(unit.affine, affine)
    assert image.applied_operations == []  # the input's history is not touched
    back = window.inverse(unit)
    assert back.dtype == torch.int16 and torch.equal(back.as_tensor(), image.as_tensor())
    assert torch.equal(back.affine, affine)


def test_dictionary_twin_and_compose_inverse() -> None:
    assert IntegerWindowD is IntegerWindowd and IntegerWindowDict is IntegerWindowd
    rng = np.random.default_rng(0)
    data = {
        "image": rng.integers(0, 4000, size=(1, 16, 16, 3)).astype(np.uint16),
        "other": rng.integers(-50, 50, size=(1, 16, 16)).astype(np.int16),
    }
    pipeline = Compose([IntegerWindowd(keys=["image", "other", "absent"], allow_missing_keys=True)])
    out = pipeline(data)
    assert out["image"].dtype == torch.float32 and out["other"].dtype == torch.float32
    back = pipeline.inverse(out)
    for key in ("image", "other"):
        np.testing.assert_array_equal(back[key].numpy(), data[key])
    with pytest.raises(KeyError):
        IntegerWindowd(keys="absent")(data)


@pytest.mark.parametrize("bad", [np.zeros((1, 4, 4), np.float32), np.zeros((1, 4, 4), np.float64)])
def test_float_input_is_refused(bad: np.ndarray) -> None:
    with pytest.raises(LossyInputError):
        IntegerWindow()(bad)


def test_inverse_refuses_a_reshaped_tensor() -> None:
    window = IntegerWindow()
    unit = window(np.arange(16, dtype=np.uint8).reshape(1, 4, 4))
    cropped = unit[:, :2]
    with pytest.raises(InvalidImageError):
        window.inverse(cropped)
    assert issubclass(InvalidImageError, MedroiError)
