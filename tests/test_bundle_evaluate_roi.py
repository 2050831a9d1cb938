"""The bundles' ``configs/evaluate_roi.yaml`` scores what ``--roi auto`` stores: its coverage and
size figures equal the ones computed from a file written by ``medroi compress --roi auto``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")
from monai.bundle import ConfigWorkflow  # noqa: E402

from medroi import api, codec  # noqa: E402
from medroi.autoroi.evaluate import labelled_cases, roi_scores, summarise  # noqa: E402
from medroi.errors import InputNotFoundError, InvalidImageError  # noqa: E402
from medroi.io import read_image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "medroi" / "assets"


def _run(bundle: Path, dataset_dir: Path, output_dir: Path, command_line: bool = False) -> dict:
    """Run the bundle's evaluate_roi.yaml in process, or as the docs' command in a fresh interpreter
    (where nothing of medroi is imported beforehand, as for a user)."""
    if not (bundle / "models" / "model.ts").is_file():
        pytest.skip(f"{bundle.name} has no exported model (models/model.ts)")
    if command_line:
        import os
        import subprocess
        import sys

        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        subprocess.run([sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/evaluate_roi.yaml",
                        "--meta_file", "configs/metadata.json", "--dataset_dir", str(dataset_dir),
                        "--output_dir", str(output_dir)], cwd=bundle, check=True, capture_output=True, env=env)
        return json.loads((output_dir / "roi_scores.json").read_text())
    wf = ConfigWorkflow(workflow_type="eval", config_file=str(bundle / "configs" / "evaluate_roi.yaml"),
                        meta_file=str(bundle / "configs" / "metadata.json"), bundle_root=str(bundle),
                        dataset_dir=str(dataset_dir), output_dir=str(output_dir))
    wf.initialize()
    wf.run()
    wf.finalize()
    return json.loads((output_dir / "roi_scores.json").read_text())


def _expected(image: Path, truth: np.ndarray, tmp_path: Path, model: str) -> dict:
    api.compress_file(image, tmp_path / "cli.mroi", roi="auto", model=model)
    stored = codec.decompress((tmp_path / "cli.mroi").read_bytes()).roi_mask
    return roi_scores(stored, truth)


def test_roi_scores_counts_coverage_and_size():
    truth = np.zeros((10, 10), bool)
    truth[2:6, 2:6] = True  # 16
    stored = np.zeros_like(truth)
    stored[2:6, 2:4] = True  # 8 inside
    stored[8, :] = True  # 10 outside
    s = roi_scores(stored, truth, raw=stored)
    assert s["coverage"] == 0.5 and s["roi_over_region"] == 18 / 16
    assert s["raw_dice"] == pytest.approx(2 * 8 / (18 + 16))
    assert roi_scores(stored, np.zeros_like(truth))["coverage"] is None  # no region: nothing to cover
    with pytest.raises(InvalidImageError):
        roi_scores(stored, truth[:5])


def test_summary_names_the_worst_case():
    rows = [{"image": "a", "status": "ok", "coverage": 0.99, "roi_over_region": 2.0, "raw_dice": 0.9},
            {"image": "b", "status": "fallback", "coverage": 1.0, "roi_over_region": 40.0, "raw_dice": 0.2},
            {"image": "c", "status": "ok", "coverage": 0.7, "roi_over_region": 1.5, "raw_dice": 0.6}]
    s = summarise(rows)
    assert s["coverage_worst_case"] == "c" and s["roi_over_region_max_case"] == "b" and s["fallbacks"] == 1
    assert s["coverage_mean"] == pytest.approx((0.99 + 1.0 + 0.7) / 3)


def test_labelled_cases_pairs_both_layouts_and_says_when_there_is_none(tmp_path):
    (tmp_path / "case").mkdir()
    for name in ("X_flair.nii.gz", "X_seg.nii.gz", "X_t1.nii.gz", "Y_flair.nii.gz"):
        (tmp_path / "case" / name).write_bytes(b"")
    (tmp_path / "cxr" / "images").mkdir(parents=True)
    (tmp_path / "cxr" / "masks").mkdir()
    for name in ("images/a.png", "masks/a_lungs.png", "images/b.jpg"):
        (tmp_path / "cxr" / name).write_bytes(b"")
    pairs = {(Path(p["image"]).name, Path(p["label"]).name) for p in labelled_cases(tmp_path)}
    assert pairs == {("X_flair.nii.gz", "X_seg.nii.gz"), ("a.png", "a_lungs.png")}
    with pytest.raises(InputNotFoundError, match="no labelled case"):
        labelled_cases(_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


def test_brats_evaluate_roi_workflow_scores_the_cli_roi(tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    (data / "S_flair.nii.gz").symlink_to(ASSETS / "brats_sample_flair.nii.gz")
    (data / "S_seg.nii.gz").symlink_to(ASSETS / "brats_sample_seg.nii.gz")
    report = _run(REPO / "bundles" / "brats_mri_roi_compression", data, tmp_path / "eval", command_line=True)
    (row,) = report["rows"]
    truth = np.isin(read_image(data / "S_seg.nii.gz").array, (1, 2, 4))
    expected = _expected(data / "S_flair.nii.gz", truth, tmp_path, "brats_mri_roi_compression")
    assert row["coverage"] == pytest.approx(expected["coverage"])
    assert row["roi_over_region"] == pytest.approx(expected["roi_over_region"])
    assert row["roi_voxels"] == expected["roi_voxels"] and 0 <= row["raw_dice"] <= 1
    assert report["summary"]["scored"] == 1 and (tmp_path / "eval" / "roi_scores.csv").is_file()


def test_xray_evaluate_roi_workflow_scores_the_cli_roi(tmp_path):
    from conftest import require_data

    image = require_data("xray", "images", "gbcxr_030.jpg")
    mask = require_data("xray", "masks", "gbcxr_030_lungs.png")
    (tmp_path / "in" / "images").mkdir(parents=True)
    (tmp_path / "in" / "masks").mkdir()
    (tmp_path / "in" / "images" / image.name).symlink_to(image)
    (tmp_path / "in" / "masks" / mask.name).symlink_to(mask)
    report = _run(REPO / "bundles" / "xray_roi_compression", tmp_path / "in", tmp_path / "eval")
    (row,) = report["rows"]
    expected = _expected(tmp_path / "in" / "images" / image.name, read_image(mask).array != 0, tmp_path,
                         "xray_roi_compression")
    assert row["status"] == "ok" and row["coverage"] == pytest.approx(expected["coverage"])
    assert row["roi_over_region"] == pytest.approx(expected["roi_over_region"])
    assert row["raw_dice"] > 0.8  # a held-in image of the shipped model: a sanity floor, not a score
