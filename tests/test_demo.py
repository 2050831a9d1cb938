"""`medroi demo` runs on data that ships with nibabel and honours the bounds it reports."""

from __future__ import annotations

from medroi.demo import format_table, run_demo


def test_demo_round_trips_hold_their_bounds(tmp_path):
    result = run_demo(tmp_path)
    classical = [row for row in result["rows"] if row["run"] == "classical"]
    assert len(classical) == 3
    for row in classical:
        assert row["max_error_roi"] <= row["roi_max_error"]
        assert row["max_error_nroi"] <= row["nroi_max_error"]
        assert row["cr"] > 1
    assert (tmp_path / "preview.png").stat().st_size > 0
    assert "PSNR" in format_table(result)
