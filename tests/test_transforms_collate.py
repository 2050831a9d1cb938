"""medroi.transforms outputs batch through MONAI's DataLoader / list_data_collate with their
metadata, and every geometric step (cropping included) inverts exactly, with Compose.inverse
and with MONAI's Invertd convention."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import DataLoader, Dataset, MetaTensor, decollate_batch, list_data_collate
from monai.transforms import Compose, Invertd

from medroi.transforms import (
    IntegerWindowd,
    LoadMedicalImaged,
    ResizeWithPadOrCropExactd,
    RoiFromLabelsd,
    medroi_metadata,
)

from conftest import require_data

REPO = Path(__file__).resolve().parents[1]


def _parse(name: str) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(str(REPO / "transforms" / name))
    return parser


def _no_none(value, where="meta") -> None:
    assert value is not None, where
    if isinstance(value, dict):
        for k, v in value.items():
            _no_none(v, f"{where}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _no_none(v, f"{where}[{i}]")


def _crop_pipeline(size=(256, 256)) -> Compose:
    return Compose([IntegerWindowd(keys="image"), ResizeWithPadOrCropExactd(keys=["image"], spatial_size=size)])


@pytest.mark.parametrize("size", [(256, 256), (256, 320), (150, 333)])
def test_crop_and_inverse_are_bit_exact_on_an_image_larger_than_256(size):
    rng = np.random.default_rng(sum(size))
    image = rng.integers(0, 4096, (1, 301, 290), endpoint=True).astype(np.uint16)
    pipeline = _crop_pipeline(size)
    out = pipeline({"image": MetaTensor(torch.from_numpy(image))})
    assert tuple(out["image"].shape[1:]) == size
    back = pipeline.inverse(out)["image"]
    assert back.numpy().dtype == np.uint16
    np.testing.assert_array_equal(back.numpy(), image)

    # Invertd: a copy of the transformed image under another key comes back exactly too ...
    out = pipeline({"image": MetaTensor(torch.from_numpy(image))})
    data = dict(out, pred=out["image"].clone())
    inverted = Invertd(keys="pred", transform=pipeline, orig_keys="image", nearest_interp=False)(data)
    np.testing.assert_array_equal(inverted["pred"].numpy(), image)
    # ... while a prediction is put back in place with MONAI's zero fill where the crop cut
    geometric = Compose([ResizeWithPadOrCropExactd(keys=["image"], spatial_size=size)])
    out = geometric({"image": MetaTensor(torch.from_numpy(image.astype(np.float32)))})
    pred = torch.ones_like(out["image"].as_tensor())
    inverted = Invertd(keys="pred", transform=geometric, orig_keys="image", nearest_interp=False)(
        dict(out, pred=MetaTensor(pred)))["pred"].numpy()
    assert inverted.shape == image.shape
    assert inverted.sum() == np.prod([min(s, o) for s, o in zip(size, image.shape[1:])])


def test_crop_inverse_on_a_real_radiograph_through_xray_config():
    image_path = require_data("xray", "images", "gbcxr_011.png")
    mask_path = require_data("xray", "masks", "gbcxr_011_lungs.png")
    parser = _parse("xray.yaml")
    pipeline = Compose([parser.get_parsed_content("preprocess"),
                        ResizeWithPadOrCropExactd(keys=["image", "label"], spatial_size=(256, 256))])
    out = pipeline({"image": str(image_path), "label": str(mask_path)})
    assert tuple(out["image"].shape) == (1, 256, 256) and min(out["image"].meta["spatial_shape"]) > 256
    back = pipeline.inverse(out)
    from medroi.io import read_image, read_mask

    original = read_image(image_path, colour="gray").array  # as LoadMedicalImaged reads it
    np.testing.assert_array_equal(back["image"].numpy()[0], original)
    np.testing.assert_array_equal(back["label"].numpy()[0], read_mask(mask_path, (1, 2)))
    np.testing.assert_allclose(back["image"].affine.numpy(), np.eye(4))


def test_brats_config_batches_of_4_keep_metadata_and_invert_exactly():
    case_dir = require_data("brats", "Brats18_CBICA_ALU_1")
    case = case_dir.name
    preprocess = _parse("brats.yaml").get_parsed_content("preprocess")
    items = [{"image": str(case_dir / f"{case}_{m}.nii.gz"), "label": str(case_dir / f"{case}_seg.nii.gz")}
             for m in ("flair", "t1", "t1ce", "t2")]
    loader = DataLoader(Dataset(items, transform=preprocess), batch_size=4, num_workers=0,
                        collate_fn=list_data_collate)
    (batch,) = list(loader)
    assert tuple(batch["image"].shape) == (4, 1, 256, 256, 155) and tuple(batch["label"].shape) == (4, 1, 256, 256, 155)
    meta = batch["image"].meta
    _no_none(meta)
    assert meta["filename_or_obj"] == [item["image"] for item in items]
    assert meta["format"] == ["nifti"] * 4
    assert tuple(batch["image"].affine.shape) == (4, 4, 4)
    assert all(json.loads(text)["stored_dtype"] == "<i2" for text in meta["medroi_metadata"])
    import nibabel as nib

    for item, source in zip(decollate_batch(batch), items):
        assert medroi_metadata(item["image"])["header"]  # the NIfTI header, to write the volume back
        back = preprocess.inverse(item)
        original = nib.load(source["image"])
        assert back["image"].dtype == torch.int16
        np.testing.assert_array_equal(back["image"].numpy()[0], np.asarray(original.dataobj))
        np.testing.assert_allclose(back["image"].affine.numpy(), original.affine)


def test_xray_config_batches_of_4_keep_metadata():
    names = ("gbcxr_011", "gbcxr_046", "gbcxr_050", "gbcxr_070")
    items = [{"image": str(require_data("xray", "images", f"{n}.png")),
              "label": str(require_data("xray", "masks", f"{n}_lungs.png"))} for n in names]
    parser = _parse("xray.yaml")
    # full-resolution outputs differ in size between radiographs: the network's 256 x 256 resize batches them
    transform = Compose([parser.get_parsed_content("preprocess"), *parser.get_parsed_content("network_resize")])
    loader = DataLoader(Dataset(items, transform=transform), batch_size=4, collate_fn=list_data_collate)
    (batch,) = list(loader)
    assert tuple(batch["image"].shape) == (4, 1, 256, 256)
    for key in ("image", "label"):
        _no_none(batch[key].meta)
        assert batch[key].meta["filename_or_obj"] == [item[key] for item in items]
        assert batch[key].meta["format"] == ["png"] * 4
    shapes = [tuple(int(v) for v in s) for s in batch["image"].meta["spatial_shape"]]
    assert len(set(shapes)) > 1  # the original sizes are kept per image
    for item in decollate_batch(batch):
        assert isinstance(medroi_metadata(item["image"]), dict)


def test_loader_meta_holds_no_none_and_metadata_round_trips():
    path = require_data("dicom", "pydicom_data_singles", "RG3_J2KR.dcm")
    out = LoadMedicalImaged(keys="image")({"image": str(path)})
    _no_none(out["image"].meta)
    from medroi.io import read_image

    assert medroi_metadata(out["image"]) == json.loads(json.dumps(read_image(path).metadata))
    assert RoiFromLabelsd(keys="image")(out)["image"].meta["medroi_metadata"] == out["image"].meta["medroi_metadata"]
