"""ExtractSlice(d) / SliceIterd / stack_slices: volume -> 2D slices with their index, and back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.data import DataLoader, GridPatchDataset, MetaTensor

from medroi.errors import InvalidImageError, MedroiError
from medroi.transforms import (
    ExtractSlice,
    ExtractSliced,
    ExtractSliceD,
    SliceIterd,
    TransformArgumentError,
    stack_slice_dicts,
    stack_slices,
)

AFFINE = torch.tensor(
    [[-1.0, 0.0, 0.0, 90.0], [0.0, -1.0, 0.0, 126.0], [0.0, 0.0, 1.5, -72.0], [0.0, 0.0, 0.0, 1.0]],
    dtype=torch.float64,
)


def make_volume(shape=(5, 6, 7), dtype=torch.int16) -> MetaTensor:
    data = torch.arange(int(np.prod(shape))).reshape(1, *shape).to(dtype)
    return MetaTensor(data, affine=AFFINE.clone(), meta={"filename_or_obj": "vol.nii.gz"})


# slice_axis, expected slice shape for a (5, 6, 7) volume
TEST_CASES = [[-1, (1, 5, 6)], [2, (1, 5, 6)], [0, (1, 6, 7)], [1, (1, 5, 7)], [-3, (1, 6, 7)]]


@pytest.mark.parametrize("slice_axis, expected_shape", TEST_CASES)
def test_slice_shape_values_and_world_position(slice_axis: int, expected_shape: tuple) -> None:
    volume = make_volume()
    axis = slice_axis % 3
    for index in (0, 3, volume.shape[1 + axis] - 1):
        out = ExtractSlice(index=index, slice_axis=slice_axis)(volume)
        assert tuple(out.shape) == expected_shape and out.dtype == torch.int16
        assert torch.equal(out.as_tensor(), volume.as_tensor().select(1 + axis, index))
        # a slice voxel (u, v) sits at the world position of the volume voxel it came from
        u, v = 1, 2
        voxel = [u, v]
        voxel.insert(axis, index)
        world_slice = out.affine @ torch.tensor([u, v, 0.0, 1.0], dtype=torch.float64)
        world_volume = AFFINE @ torch.tensor([*map(float, voxel), 1.0], dtype=torch.float64)
        assert torch.allclose(world_slice, world_volume)
        assert out.applied_operations[-1]["extra_info"]["index"] == index
    assert volume.applied_operations == []


def test_negative_index_is_normalised() -> None:
    out = ExtractSlice(index=-1)(make_volume())
    assert out.applied_operations[-1]["extra_info"]["index"] == 6


@pytest.mark.parametrize("index", [7, -8, 100])
def test_index_out_of_range_raises(index: int) -> None:
    with pytest.raises(InvalidImageError, match="out of range"):
        ExtractSlice(index=index)(make_volume())


@pytest.mark.parametrize("index", [1.5, "2", True, None])
def test_bad_index_raises(index) -> None:
    with pytest.raises(TransformArgumentError):
        ExtractSlice(index=index)(make_volume())


@pytest.mark.parametrize("slice_axis", [3, -4, 1.0])
def test_bad_axis_raises(slice_axis) -> None:
    with pytest.raises(MedroiError):
        ExtractSlice(index=0, slice_axis=slice_axis)


def test_not_a_volume_raises() -> None:
    with pytest.raises(InvalidImageError):
        ExtractSlice(index=0)(MetaTensor(torch.zeros(1, 4, 4)))


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9)),
    slice_axis=st.sampled_from([-1, 0, 1, 2]),
    dtype=st.sampled_from([torch.uint8, torch.int16, torch.uint16, torch.float32]),
    order_seed=st.integers(0, 2**16),
)
def test_slices_in_any_order_stack_back_exactly(shape, slice_axis, dtype, order_seed) -> None:
    volume = make_volume(shape, dtype)
    n_slices = shape[slice_axis % 3]
    extract = ExtractSlice(slice_axis=slice_axis)
    slices = [extract(volume, index=i) for i in range(n_slices)]
    order = np.random.default_rng(order_seed).permutation(n_slices)
    rebuilt = stack_slices([slices[i] for i in order])
    assert rebuilt.dtype == dtype and tuple(rebuilt.shape) == (1, *shape)
    assert torch.equal(rebuilt.as_tensor(), volume.as_tensor())
    assert torch.equal(rebuilt.affine, AFFINE)
    assert rebuilt.applied_operations == []


def test_stack_refuses_incomplete_duplicate_or_mixed_slices() -> None:
    volume = make_volume()
    slices = [ExtractSlice(index=i)(volume) for i in range(7)]
    with pytest.raises(InvalidImageError, match="missing"):
        stack_slices(slices[:-1])
    with pytest.raises(InvalidImageError, match="more than once"):
        stack_slices([*slices, slices[2]])
    other = ExtractSlice(index=0, slice_axis=0)(volume)
    with pytest.raises(InvalidImageError, match="another volume"):
        stack_slices([*slices[1:], other])
    with pytest.raises(InvalidImageError):
        stack_slices([])
    with pytest.raises(InvalidImageError, match="ExtractSlice"):
        stack_slices([torch.zeros(1, 5, 6)])


def test_plain_tensors_stack_in_given_order_with_slice_axis() -> None:
    parts = [torch.full((1, 2, 3), i) for i in range(4)]
    volume = stack_slices(parts, slice_axis=0)
    assert tuple(volume.shape) == (1, 4, 2, 3)
    assert torch.equal(volume[0, :, 0, 0], torch.arange(4))


def test_dictionary_twin_keeps_index_and_other_items() -> None:
    assert ExtractSliceD is ExtractSliced
    volume = make_volume()
    mask = MetaTensor(volume.as_tensor() % 2 == 0, affine=AFFINE.clone())
    data = {"image": volume, "label": mask, "case": "c1", "slice_index": 4}
    out = ExtractSliced(keys=["image", "label", "absent"], allow_missing_keys=True)(data)
    assert out["slice_index"] == 4 and out["case"] == "c1"
    assert torch.equal(out["image"].as_tensor(), volume.as_tensor()[..., 4])
    assert out["label"].dtype == torch.bool
    fixed = ExtractSliced(keys="image", index=2)(data)
    assert fixed["slice_index"] == 2
    with pytest.raises(TransformArgumentError):
        ExtractSliced(keys="image")({"image": volume})


def test_slice_iter_in_grid_patch_dataset_yields_every_slice_once() -> None:
    volumes = [{"image": make_volume((4, 5, 3)), "case": "a"}, {"image": make_volume((4, 5, 2)) + 1, "case": "b"}]
    dataset = GridPatchDataset(data=volumes, patch_iter=SliceIterd(keys="image"), with_coordinates=True)
    items = list(dataset)
    assert [(item[0]["case"], item[0]["slice_index"], int(item[1])) for item in items] == [
        ("a", 0, 0), ("a", 1, 1), ("a", 2, 2), ("b", 0, 0), ("b", 1, 1)
    ]
    assert all(tuple(item[0]["image"].shape) == (1, 4, 5) for item in items)
    rebuilt = stack_slice_dicts([item[0] for item in items[:3]], keys="image")
    assert rebuilt["case"] == "a" and "slice_index" not in rebuilt
    assert torch.equal(rebuilt["image"].as_tensor(), volumes[0]["image"].as_tensor())
    batch = next(iter(DataLoader(GridPatchDataset(volumes, SliceIterd("image"), with_coordinates=False), batch_size=3)))
    assert tuple(batch["image"].shape) == (3, 1, 4, 5) and batch["slice_index"].tolist() == [0, 1, 2]
