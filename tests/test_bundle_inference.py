"""The bundles' inference workflows store exactly the ROI ``medroi compress --roi auto`` stores.

Each workflow (``configs/inference.yaml``, run as ``monai.bundle run`` runs it) and the
library's compress (``medroi.api.compress_file(roi="auto")``, what the CLI calls) compress the
same file; the decoded ROI masks must be equal voxel for voxel and the file must record the
same ``roi_auto`` report, fallbacks included (whole image, kept within ``roi_max_error``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")
from monai.bundle import ConfigWorkflow  # noqa: E402

from medroi import api, codec  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BRATS = REPO / "bundles" / "brats_mri_roi_compression"
XRAY = REPO / "bundles" / "xray_roi_compression"


def _require_model(bundle: Path) -> None:
    if not (bundle / "models" / "model.ts").is_file():
        pytest.skip(f"{bundle.name} has no exported model (models/model.ts)")


def _run_workflow(bundle: Path, dataset_dir: Path, output_dir: Path, **overrides) -> None:
    wf = ConfigWorkflow(workflow_type="infer", config_file=str(bundle / "configs" / "inference.yaml"),
                        meta_file=str(bundle / "configs" / "metadata.json"), bundle_root=str(bundle),
                        dataset_dir=str(dataset_dir), output_dir=str(output_dir), **overrides)
    wf.initialize()
    assert wf.check_properties() == []
    wf.run()
    wf.finalize()


def _decoded(path: Path):
    return codec.decompress(path.read_bytes())


def _link(folder: Path, source: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / source.name
    link.symlink_to(source)
    return link


def _assert_same_roi_as_cli(mroi: Path, image: Path, tmp_path: Path, **cli_options) -> dict:
    """The workflow's file and the library compress's (--roi auto, same bounds) keep the same ROI."""
    reference = tmp_path / "cli.mroi"
    result = api.compress_file(image, reference, roi="auto", nroi_max_error=4, **cli_options)
    assert result["roi_rule"] == "model" and result["roi_auto"]["model"] in (BRATS.name, XRAY.name)
    ours, theirs = _decoded(mroi), _decoded(reference)
    assert ours.roi_mask.shape == theirs.roi_mask.shape
    assert np.array_equal(ours.roi_mask, theirs.roi_mask)
    info = api.file_info(mroi)
    assert info["roi_auto"] == result["roi_auto"]  # `medroi info` shows the same report
    assert info["roi_rule"] == "model"
    # the input file's size is recorded as the CLI records it: the ratio against the user's file
    assert info["cr_vs_input_file"] == pytest.approx(image.stat().st_size / mroi.stat().st_size)
    return info


def test_brats_workflow_stores_the_cli_roi_on_a_flair(tmp_path):
    from conftest import require_data

    flair = require_data("brats", "Brats18_TCIA03_265_1", "Brats18_TCIA03_265_1_flair.nii.gz")
    _require_model(BRATS)
    link = _link(tmp_path / "in", flair)
    _run_workflow(BRATS, tmp_path / "in", tmp_path / "out")
    mroi = tmp_path / "out" / (flair.name + ".mroi")
    info = _assert_same_roi_as_cli(mroi, link, tmp_path)
    assert info["roi_auto"]["status"] == "ok" and info["roi_auto"]["source"] == flair.name
    decoded = _decoded(mroi)
    import nibabel as nib

    original = np.asarray(nib.load(str(flair)).dataobj)
    err = np.abs(decoded.array.astype(np.int64) - original)
    assert decoded.roi_mask.any() and not decoded.roi_mask.all()
    assert err[decoded.roi_mask].max() == 0 and err.max() <= 4  # roi_max_error 0, nroi_max_error 4


def test_brats_workflow_gives_a_t1_its_case_flair_roi(tmp_path):
    """The T1 of a case gets the ROI found on the case's FLAIR, as `medroi compress DIR --roi auto` does."""
    from conftest import require_data

    case = require_data("brats", "Brats18_TCIA03_265_1")
    _require_model(BRATS)
    flair = _link(tmp_path / "in" / case.name, case / f"{case.name}_flair.nii.gz")
    t1 = _link(tmp_path / "in" / case.name, case / f"{case.name}_t1.nii.gz")
    # one volume compressed: the T1 alone (its FLAIR stays beside it)
    _run_workflow(BRATS, tmp_path / "in", tmp_path / "out", datalist=[{"image": str(t1)}])
    assert [p.name for p in (tmp_path / "out").rglob("*.mroi")] == [t1.name + ".mroi"]
    info = _assert_same_roi_as_cli(tmp_path / "out" / case.name / (t1.name + ".mroi"), t1, tmp_path,
                                   roi_source=str(flair))
    assert info["roi_auto"]["source"] == flair.name and info["roi_auto"]["status"] == "ok"


def test_xray_workflow_stores_the_cli_roi_on_a_radiograph(tmp_path):
    from conftest import require_data

    from medroi.io import read_image

    src = require_data("xray", "images", "mhh_19a01707.png")
    _require_model(XRAY)
    from PIL import Image

    link = _link(tmp_path / "in", src)
    Image.fromarray(np.ones((8, 8), np.uint8)).save(tmp_path / "in" / "mhh_19a01707_lungs.png")  # a mask: left out
    _run_workflow(XRAY, tmp_path / "in", tmp_path / "out", nroi_max_error=4)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [src.name + ".mroi"]
    mroi = tmp_path / "out" / (src.name + ".mroi")
    # `medroi compress X --roi auto --model xray_roi_compression`: no shipped model is chosen for a
    # PNG of unknown modality without --model
    info = _assert_same_roi_as_cli(mroi, link, tmp_path, model=XRAY.name)
    assert info["roi_auto"]["status"] == "ok"
    decoded = _decoded(mroi)
    original = read_image(src, colour="gray").array
    err = np.abs(decoded.array.astype(np.int64) - original)
    assert decoded.roi_mask.any() and not decoded.roi_mask.all()
    assert err[decoded.roi_mask].max() == 0 and err.max() <= 4


def test_xray_workflow_falls_back_to_the_whole_image_as_the_cli_does(tmp_path):
    """A uniform image: the model finds no region, so the whole image is the ROI (lossless), recorded."""
    from PIL import Image

    _require_model(XRAY)
    (tmp_path / "in").mkdir()
    flat = tmp_path / "in" / "flat.png"
    Image.fromarray(np.full((96, 120), 128, np.uint8)).save(flat)
    _run_workflow(XRAY, tmp_path / "in", tmp_path / "out")
    mroi = tmp_path / "out" / "flat.png.mroi"
    info = _assert_same_roi_as_cli(mroi, flat, tmp_path, model=XRAY.name)
    assert info["roi_auto"]["status"] == "fallback" and info["roi_auto"]["reason"]
    assert "rejected its ROI" in info["roi_source"]
    decoded = _decoded(mroi)
    assert decoded.roi_mask.all() and np.array_equal(decoded.array, np.full((96, 120), 128, np.uint8))


def test_auto_roid_is_the_library_roi(tmp_path):
    """AutoRoid's mask and report are api.auto_roi's with the same model, on a loaded image."""
    from PIL import Image

    from medroi.io import read_image
    from medroi.transforms import AutoRoid, LoadMedicalImaged, roi_report

    _require_model(XRAY)
    yy, xx = np.mgrid[:128, :96]
    path = tmp_path / "x.png"
    Image.fromarray((100 + 60 * np.sin(xx / 9.0) * np.cos(yy / 13.0)).astype(np.uint8)).save(path)
    d = AutoRoid("image", model=XRAY)(LoadMedicalImaged("image")({"image": str(path)}))
    mask, report = api.auto_roi(api.load_network(str(XRAY), "png"), read_image(path, colour="planes"), str(path))
    assert d["roi"].shape == (1, 128, 96) and d["roi"].dtype == torch_bool()
    assert np.array_equal(d["roi"][0].numpy(), mask)
    assert roi_report(d["roi"]) == report and report["model"] == XRAY.name
    assert d["roi"].meta["filename_or_obj"] == str(path)  # the image's metadata travels with its ROI


def torch_bool():
    import torch

    return torch.bool
