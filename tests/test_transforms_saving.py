"""SaveMroid writes .mroi files from a MONAI pipeline through the library, like SaveImaged."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from monai.transforms import Compose

from medroi import api, codec
from medroi.errors import LossyInputError, OutputExistsError
from medroi.transforms import IntegerWindowd, LoadMedicalImaged, RoiFromLabelsd, SaveMroid


@pytest.fixture
def case(tmp_path):
    rng = np.random.default_rng(5)
    image = (rng.normal(400, 60, (40, 36, 6)).clip(0, 2000)).astype(np.int16)
    label = np.zeros(image.shape, np.uint8)
    label[10:20, 8:22, 1:4] = 2
    affine = np.diag([0.9, 0.9, 3.0, 1.0])
    folder = tmp_path / "data" / "case1"
    folder.mkdir(parents=True)
    nib.save(nib.Nifti1Image(image, affine), folder / "case1_t1.nii.gz")
    nib.save(nib.Nifti1Image(label, affine), folder / "case1_seg.nii.gz")
    return {"image": str(folder / "case1_t1.nii.gz"), "label": str(folder / "case1_seg.nii.gz")}, image, label


def test_save_mroid_writes_a_file_medroi_decompresses_like_the_source(case, tmp_path):
    item, image, label = case
    out_dir = tmp_path / "out"
    pipeline = Compose([LoadMedicalImaged(keys=["image", "label"]), RoiFromLabelsd(keys="label", labels=(1, 2, 4)),
                        SaveMroid(keys="image", roi_key="label", output_dir=out_dir, data_root_dir=tmp_path / "data",
                                  roi_max_error=0, nroi_max_error=3)])
    result = pipeline(dict(item))
    written = out_dir / "case1" / "case1_t1.nii.gz.mroi"  # the tree under data_root_dir is mirrored
    assert result["image"].meta["saved_to"] == str(written) and written.is_file()
    decoded = codec.decompress(written.read_bytes())
    np.testing.assert_array_equal(decoded.roi_mask, label > 0)
    info = api.file_info(written)  # the source file's size is recorded, as `medroi compress` records it
    assert info["cr_vs_input_file"] == pytest.approx(Path(item["image"]).stat().st_size / written.stat().st_size)
    err = np.abs(decoded.array.astype(np.int64) - image)
    assert err[label > 0].max() == 0 and err.max() <= 3
    # the header lets `medroi decompress` write the NIfTI back with the source's header
    api.decompress_file(written, tmp_path / "back.nii.gz")
    assert nib.load(tmp_path / "back.nii.gz").header.binaryblock == nib.load(item["image"]).header.binaryblock
    with pytest.raises(RuntimeError) as error:  # Compose wraps a transform's error
        pipeline(dict(item))
    assert isinstance(error.value.__cause__, OutputExistsError)


def test_save_mroid_refuses_windowed_floats(case, tmp_path):
    item, _, _ = case
    windowed = Compose([LoadMedicalImaged(keys="image"), IntegerWindowd(keys="image")])(dict(item))
    with pytest.raises(LossyInputError, match="Invertd"):
        SaveMroid(keys="image", roi_key=None, output_dir=tmp_path / "o")(windowed)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
