"""The medroi command-line contract: names, --json, --force, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from medroi.cli import main
from medroi.io import MedicalImage, read_image, write_image


@pytest.fixture
def png(tmp_path):
    rng = np.random.default_rng(0)
    image = (np.add.outer(np.arange(64), np.arange(48)) + rng.integers(0, 9, (64, 48))).astype(np.uint8)
    mask = np.zeros_like(image)
    mask[20:40, 10:30] = 1
    write_image(MedicalImage(image, "png", {}), tmp_path / "img.png")
    write_image(MedicalImage(mask, "png", {}), tmp_path / "mask.png")
    return tmp_path / "img.png", tmp_path / "mask.png", image, mask.astype(bool)


def test_compress_json_decompress_evaluate(png, tmp_path, capsys):
    image_path, mask_path, image, roi = png
    out = tmp_path / "img.mroi"
    assert main(["compress", str(image_path), "-o", str(out), "--roi-mask", str(mask_path),
                 "--roi-max-error", "1", "--nroi-max-error", "6", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("input", "output", "raw_bytes", "compressed_bytes", "cr", "seconds", "roi_fraction"):
        assert key in report
    assert report["raw_bytes"] == image.nbytes and report["roi_fraction"] == pytest.approx(roi.mean())
    restored = tmp_path / "back.png"
    assert main(["decompress", str(out), "-o", str(restored), "--mask-out", str(tmp_path / "m.png")]) == 0
    capsys.readouterr()
    error = np.abs(read_image(restored).array.astype(int) - image.astype(int))
    assert error[roi].max() <= 1 and error[~roi].max() <= 6
    assert np.array_equal(read_image(tmp_path / "m.png").array.astype(bool), roi)
    assert main(["evaluate", str(image_path), str(restored), "--roi-mask", str(mask_path), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["max_error_roi"] <= 1 and metrics["max_error_nroi"] <= 6
    # the .mroi itself: scored against the ROI it stores, without --roi-mask
    assert main(["evaluate", str(image_path), str(out), "--json"]) == 0
    stored = json.loads(capsys.readouterr().out)
    assert stored["roi_from"].startswith("the ROI stored")
    assert stored["roi_fraction"] == pytest.approx(roi.mean()) and stored["max_error_roi"] <= 1
    assert stored["max_error_nroi"] == metrics["max_error_nroi"] and stored["psnr_roi"] == metrics["psnr_roi"]
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["roi_max_error"] == 1 and info["nroi_max_error"] == 6 and info["source_format"] == "png"


def test_never_overwrites_without_force(png, tmp_path, capsys):
    image_path, _, _, _ = png
    out = tmp_path / "img.mroi"
    out.write_bytes(b"precious")
    assert main(["compress", str(image_path), "-o", str(out)]) == 1
    assert out.read_bytes() == b"precious"
    assert "--force" in capsys.readouterr().err
    assert main(["compress", str(image_path), "-o", str(out), "--force"]) == 0


def test_errors_are_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.mroi"
    bad.write_bytes(b"not an mroi file at all")
    result = subprocess.run([sys.executable, "-m", "medroi.cli", "decompress", str(bad), "-o", str(tmp_path / "x.png")],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith("medroi: error:") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()
    missing = subprocess.run([sys.executable, "-m", "medroi.cli", "compress", str(tmp_path / "nope.nii.gz"), "-o",
                              str(tmp_path / "y.mroi")], capture_output=True, text=True)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr


def test_bad_arguments_exit_with_usage(png, tmp_path):
    image_path, _, _, _ = png
    result = subprocess.run([sys.executable, "-m", "medroi.cli", "compress", str(image_path), "-o",
                             str(tmp_path / "z.mroi"), "--nroi-max-error", "-3"], capture_output=True, text=True)
    assert result.returncode == 2 and "bound" in result.stderr


def test_decompress_keeps_nothing_half_written(png, tmp_path):
    image_path, _, _, _ = png
    out = tmp_path / "img.mroi"
    assert main(["compress", str(image_path), "-o", str(out)]) == 0
    data = out.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    assert main(["decompress", str(out), "-o", str(tmp_path / "r.png")]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.mroi", "img.png", "mask.png"]
