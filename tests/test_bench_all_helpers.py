"""Pure helpers of benchmarks/codecs_all.py (per-image ratios): no data, no codecs run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
A = pytest.importorskip("codecs_all")


def _item(group, name):
    return A.Item(group, name, [], lambda: None)


def test_select_spreads_the_limit_over_each_group_and_interleave_keeps_order():
    items = [_item("brats", f"b{k}") for k in range(10)] + [_item("xray", f"x{k}") for k in range(2)]
    picked = A.select(items, 3)
    assert [i.name for i in picked] == ["b0", "b4", "b9", "x0", "x1"]  # first, middle, last
    assert [i.name for i in A.interleave(picked)] == ["b0", "x0", "b4", "x1", "b9"]
    assert A.select(items, None) == items


def test_stats_total_is_a_ratio_of_sums_and_names_the_worst():
    rows = [{"group": "brats", "name": "a", "best": 100, "medroi_0_0": 50},
            {"group": "brats", "name": "b", "best": 90, "medroi_0_0": 100},
            {"group": "brats", "name": "c", "best": 10, "medroi_0_0": None}]  # not measured: left out
    s = A.stats(rows, "best", "medroi_0_0")
    assert s["images"] == 2 and s["total"] == pytest.approx(190 / 150)
    assert (s["min"], s["max"], s["below_1"]) == (pytest.approx(0.9), pytest.approx(2.0), 1)
    assert s["worst"][0]["name"] == "b"


def test_verdicts_compare_with_the_issue_targets():
    summary = {"brats": {"lossless": {"total": 1.2, "min": 0.99}, "roi": {"total": 1.31}},
               "all 2D": {"lossless": {"total": 1.0, "min": 0.98}}, "xray": {"roi": None}}
    lines = A.verdicts(summary)
    assert lines[0].endswith("PASS") and lines[1].endswith("FAIL") and lines[2].endswith("PASS")
    assert lines[3].endswith("FAIL") and lines[4].endswith("PASS") and lines[5].endswith("not measured")
