"""`medroi demo` runs on the BraTS sample shipped in the package and honours its bounds."""

from __future__ import annotations

import os
from pathlib import Path

from medroi.demo import NROI_BOUND, format_table, run_demo, sample_paths


def test_sample_ships_in_the_package_with_its_licence_note():
    image, seg = sample_paths()
    assert image.parent.name == "assets" and image.stat().st_size < 600_000
    note = (image.parent / "README.md").read_text()
    assert "10.1109/TMI.2014.2377694" in note and "Brats18_TCIA03_265_1" in note
    assert seg.is_file()


def test_demo_rows_hold_their_bounds_and_write_where_told(tmp_path):
    result = run_demo(tmp_path / "out")
    rows = {row["codec"]: row for row in result["rows"]}
    exact, tumour = rows["medroi, all exact"], rows["medroi, ROI = expert tumour"]
    assert exact["max_error_tumour"] == exact["max_error_rest"] == 0
    assert tumour["max_error_tumour"] == 0 and tumour["max_error_rest"] <= NROI_BOUND
    unet = rows.get("medroi, ROI = U-Net (--roi auto)")
    assert unet is not None, result["notes"]  # the shipped model loads
    assert unet["max_error_roi"] == 0 and unet["max_error_rest"] <= NROI_BOUND
    for name in ("gzip -9", "PNG (Pillow)"):
        assert rows[name]["max_error_tumour"] == rows[name]["max_error_rest"] == 0
    # medroi's lossless file is smaller than gzip's (what .nii.gz does)
    assert exact["compressed_bytes"] < rows["gzip -9"]["compressed_bytes"]
    assert Path(result["preview"]).parent == tmp_path / "out" and Path(result["preview"]).stat().st_size > 0
    assert "max|e| tumour" in format_table(result)


def test_demo_default_folder_is_a_new_temporary_folder(tmp_path, monkeypatch):
    import medroi.demo as demo

    monkeypatch.chdir(tmp_path)
    out = demo._output_dir(None)
    assert out.is_dir() and not any(out.iterdir()) and tmp_path not in out.parents
    os.rmdir(out)
