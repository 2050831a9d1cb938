"""Light tests of the benchmark scripts' pure helpers (no data, no codecs run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench_codecs = pytest.importorskip("bench_codecs")


def _row(codec, setting, cr, p_roi, p_nroi, b_roi=None, b_nroi=None, e_roi=0, e_nroi=0):
    return {"codec": codec, "setting": setting, "cr": cr, "psnr_roi": p_roi, "psnr_nroi": p_nroi,
            "bound_roi": b_roi, "bound_nroi": b_nroi, "max_err_roi": e_roi, "max_err_nroi": e_nroi}


def test_dominance_needs_higher_cr_equal_fidelity_and_bounds():
    m = _row("medroi", "(0,4)", 10.0, float("inf"), 50.0, 0, 4, 0, 4)
    assert bench_codecs._dominates(_row("Hybrid", "(0,2)", 12.0, float("inf"), 55.0, 0, 2, 0, 2), m)
    assert not bench_codecs._dominates(_row("Hybrid", "(0,2)", 9.0, float("inf"), 55.0, 0, 2, 0, 2), m)  # lower CR
    assert not bench_codecs._dominates(_row("JXL", "d=1", 20.0, 45.0, 55.0, None, None, 13, 14), m)  # ROI not exact
    assert not bench_codecs._dominates(_row("X", "y", 20.0, float("inf"), 60.0, 0, None, 0, 9), m)  # breaks NROI bound


def test_losses_lists_only_beaten_medroi_points():
    rows = [
        _row("medroi", "(0,4)", 10.0, float("inf"), 50.0, 0, 4, 0, 4),
        _row("medroi+net", "paper mode", 30.0, 30.0, 30.0, None, None, 90, 90),
        _row("JPEG 2000", "target 40 dB", 40.0, 38.0, 39.0, None, None, 50, 60),
    ]
    lost = bench_codecs.losses(rows)
    assert len(lost) == 1 and lost[0].startswith("medroi+net paper mode") and "JPEG 2000" in lost[0]


def test_paper_point_picks_best_cr_at_45_db_with_exact_roi():
    rows = [
        _row("Hybrid JPEG XL e7", "(0, d=0.5)", 4.2, float("inf"), 49.0, 0, None, 0, 10),
        _row("Hybrid JPEG XL e7", "(0, d=1)", 4.6, float("inf"), 45.1, 0, None, 0, 17),
        _row("Hybrid JPEG XL e7", "(0, d=1.5)", 5.0, float("inf"), 43.0, 0, None, 0, 25),
        _row("JPEG XL e7", "d=1", 11.0, 45.2, 45.1, None, None, 13, 17),
    ]
    text = bench_codecs.paper_point(rows)
    assert "(0, d=1): CR 4.60" in text and "d=1.5" not in text and "JPEG XL e7 d=1" not in text


def test_flair_contrast_does_not_depend_on_the_scanner_scale():
    """brats_flair_contrast / bench_roi_confidence: the tumour-to-brain ratio of a synthetic
    skull-stripped volume is its true ratio, for the volume and for it x 30."""
    import numpy as np

    from bench_roi_confidence import contrast
    from brats_flair_contrast import case_contrast

    rng = np.random.default_rng(0)
    flair = np.zeros((30, 30, 6), np.int16)
    flair[3:27, 3:27] = 200 + rng.integers(-5, 6, (24, 24, 6))
    flair[10:16, 10:16] = 300  # a tumour 1.5x the brain
    seg = np.zeros(flair.shape, np.uint8)
    seg[10:16, 10:16] = 2
    for scale in (1, 30):
        figures = case_contrast(flair.astype(np.int32) * scale, seg)
        assert abs(figures["ratio"] - 1.5) < 0.02
        assert figures["unit_gap"] > 0
        assert abs(contrast(flair * scale, seg > 0, (flair > 0) & (seg == 0)) - 1.5) < 0.02
