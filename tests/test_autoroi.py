"""The automatic ROI's pieces: scale-free normalisation, clean-up, margin, plausibility check."""

from __future__ import annotations

import numpy as np
import pytest

from medroi.autoroi.inputs import brats_flair_sibling, is_monochrome1, modality_hint, spacing_of
from medroi.autoroi.normalise import rank_unit, robust_unit, unit_input
from medroi.autoroi.postprocess import RoiPolicy, check, clean, finish, grow, parse_margin
from medroi.errors import MedroiError


def _brain(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vol = np.zeros((40, 40, 6), np.int32)
    vol[5:35, 5:35] = rng.integers(100, 400, (30, 30, 6))
    vol[15:22, 15:22, 2:4] = 900  # a bright "lesion"
    return vol


def test_robust_unit_ignores_the_scanner_scale_and_offset():
    vol = _brain()
    base = robust_unit(vol)
    assert base.dtype == np.float32 and 0 <= base.min() and base.max() <= 1
    np.testing.assert_allclose(robust_unit(vol * 30), base, atol=1e-6)
    # an offset moves the background too, so the brain is what stays put
    shifted = robust_unit(vol + 1000, mask=vol > 0)
    np.testing.assert_allclose(shifted[vol > 0], base[vol > 0], atol=1e-6)
    assert np.all(base[vol == 0] == 0)


def test_robust_unit_monochrome1_inverts_back_to_the_same_picture():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (32, 48)).astype(np.uint16)
    everything = np.ones(img.shape, bool)
    base = robust_unit(img, mask=everything)
    as_16_bit_mono1 = (65535 - img.astype(np.int64) * 257).astype(np.uint16)  # 16 bits, inverted
    np.testing.assert_allclose(robust_unit(as_16_bit_mono1, mask=everything, invert=True), base, atol=1e-5)


def test_rank_unit_ignores_any_increasing_change_of_scale():
    """roi.json normalise: rank: a volume, the volume x 30 + 7 and a gamma of it give the same
    input; the brain's values become their mid-ranks, the background 0."""
    vol = _brain()
    base = rank_unit(vol)
    assert base.dtype == np.float32 and np.all(base[vol == 0] == 0)
    brain = base[vol > 0]
    assert 0 < brain.min() and brain.max() < 1
    assert abs(float(np.median(brain)) - 0.5) < 0.01  # mid-ranks: the median voxel sits in the middle
    np.testing.assert_array_equal(rank_unit(vol * 30 + 7), base)
    gamma = np.where(vol > 0, np.round(10000 * (vol / 900.0) ** 0.5), 0).astype(np.int32)
    np.testing.assert_array_equal(rank_unit(gamma), base)
    # the lesion (the brightest 294 of 5400 voxels) lands at the top whatever its contrast
    assert np.all(base[vol == 900] > 0.94)
    np.testing.assert_array_equal(unit_input(vol, "rank"), base)
    np.testing.assert_array_equal(unit_input(vol, "percentile"), robust_unit(vol))
    with pytest.raises(ValueError, match="rank"):
        unit_input(vol, "zscore")
    with pytest.raises(ValueError, match="normalise"):
        RoiPolicy.from_dict({"normalise": "zscore"})


def test_robust_unit_of_a_blank_image_is_defined():
    out = robust_unit(np.zeros((8, 8), np.uint8))
    assert np.all(out == 0)


def test_parse_margin():
    assert parse_margin("3mm") == (3.0, "mm")
    assert parse_margin("2.5%") == (2.5, "%")
    assert parse_margin("8") == (8.0, "px") == parse_margin(8)
    with pytest.raises(MedroiError):
        parse_margin("three")


def test_grow_in_mm_follows_the_voxel_spacing():
    mask = np.zeros((21, 21, 21), bool)
    mask[10, 10, 10] = True
    grown = grow(mask, (4.0, "mm"), spacing=[1.0, 1.0, 2.0])
    assert grown[10, 10, 10] and grown[14, 10, 10] and not grown[15, 10, 10]
    assert grown[10, 10, 12] and not grown[10, 10, 13]  # 2 mm slices: 2 slices = 4 mm
    assert grow(mask, (0, "mm")).sum() == 1
    percent = np.zeros((100, 50), bool)
    percent[50, 25] = True
    assert grow(percent, (3.0, "%"))[50, 28] and not grow(percent, (3.0, "%"))[50, 29]  # 3 % of 100 px


def test_clean_keeps_large_components_and_fills_holes():
    mask = np.zeros((40, 40), bool)
    mask[5:20, 5:20] = True
    mask[10:13, 10:13] = False  # a hole
    mask[30:32, 30:32] = True  # a speck (4 px < 0.1 x 225)
    mask[25:35, 5:12] = True  # a second real component (70 px)
    out = clean(mask, RoiPolicy(min_component_ratio=0.1))
    assert out[11, 11] and not out[30, 30] and out[30, 8]
    assert not clean(mask, RoiPolicy(max_components=1))[30, 8]


def test_check_names_the_reason():
    fg = np.ones((50, 50), bool)
    prob = np.zeros((50, 50), np.float32)
    policy = RoiPolicy(min_fraction=0.01, max_fraction=0.5, max_fragments=3, min_confidence=0.7)
    assert check(prob, prob > 0.5, fg, policy)[0] == "the model found no region"
    prob[0, 0] = 0.9
    assert "too small" in check(prob, prob > 0.5, fg, policy)[0]
    prob[:40] = 0.9
    assert "too large" in check(prob, prob > 0.5, fg, policy)[0]
    prob[:] = 0
    for i in range(5):
        prob[i * 10:i * 10 + 8, 0:8] = 0.9
    assert "fragments" in check(prob, prob > 0.5, fg, RoiPolicy(max_fragments=3))[0]
    prob[:] = 0
    prob[10:30, 10:30] = 0.55
    assert "low confidence" in check(prob, prob > 0.5, fg, policy)[0]
    prob[10:30, 10:30] = 0.95
    assert "training data" in check(prob, prob > 0.5, fg, RoiPolicy(max_foreground_fraction=0.5))[0]
    reason, stats = check(prob, prob > 0.5, fg, policy)
    assert reason is None and stats["fragments"] == 1 and stats["fraction"] == pytest.approx(0.16)


def test_finish_grows_an_accepted_region_and_rejects_an_empty_one():
    fg = np.ones((60, 60), bool)
    prob = np.zeros((60, 60), np.float32)
    assert finish(prob, fg, RoiPolicy(margin="2px")).mask is None
    prob[20:30, 20:30] = 0.9
    result = finish(prob, fg, RoiPolicy(margin="2px"))
    assert result.accepted and result.reason is None and result.stats["margin"] == "2px"
    assert result.mask.sum() > 100 and result.mask[18, 25] and not result.mask[17, 25]


def test_input_hints(tmp_path):
    assert modality_hint("x/Brats18_A_1_t1ce.nii.gz") == "t1ce"
    assert modality_hint("Brats18_A_1_flair.nii") == "flair"
    assert modality_hint("chest.png") is None
    assert modality_hint("series", {"series_description": "AX T2 FLAIR"}) == "flair"
    for m in ("flair", "t1", "t1ce", "t2"):
        (tmp_path / f"C_{m}.nii.gz").write_bytes(b"")
    assert brats_flair_sibling(tmp_path / "C_t1ce.nii.gz") == tmp_path / "C_flair.nii.gz"
    assert brats_flair_sibling(tmp_path / "C_flair.nii.gz") is None
    assert spacing_of({"spacing": [1, 1, 2]}) == [1.0, 1.0, 2.0] and spacing_of({}) is None
    assert is_monochrome1({"photometric_interpretation": "MONOCHROME1"})


def test_leave_one_fold_out_chooses_each_folds_limit_on_the_other_folds():
    from medroi.networks.roi_calibrate import leave_one_fold_out

    def row(fold, case, fragments, cov):
        return {"fold": fold, "case": case, "fragments": fragments, "reject": None, "voxels": 1000,
                "foreground_voxels": 200, "truth_voxels": 10, "cov@8mm": cov, "ratio@8mm": 2.5}

    rows = [row(0, "a", 5, 0.6), row(0, "b", 1, 1.0), row(1, "c", 7, 0.8), row(1, "d", 6, 0.99),
            row(2, "e", 2, 0.95), row(2, "f", 3, 0.7)]
    result = leave_one_fold_out(rows, "fragments", "8mm", miss=0.9)
    # fold 0's limit comes from c (7) and f (3): reject > 2; fold 2's from a (5) and c (7): reject > 4
    assert result["fold_limits"] == {"0": 2, "1": 2, "2": 4} and result["limit_all_folds"] == 2
    out = {r["case"]: r for r in result["rows"]}
    assert out["a"]["fallback"] and out["a"]["cov"] == 1.0 and out["a"]["ratio"] == 100.0
    assert out["a"]["ratio_fg"] == 20.0 and out["a"]["cov_without"] == 0.6
    assert not out["b"]["fallback"] and out["b"]["cov"] == 1.0 and out["b"]["ratio"] == 2.5
    assert out["d"]["fallback"]  # a good case with many fragments falls back too
    # f's 3 fragments are within the limit the other folds give: the miss is not caught
    assert not out["f"]["fallback"] and out["f"]["cov"] == 0.7


def test_flip_average_is_mirror_equivariant_for_any_model():
    """With flip averaging, mirroring the input mirrors the probability exactly, even for a
    model that is not symmetric (here: a running mean along each row)."""
    from medroi.autoroi.tta import flip_averaged

    def lopsided(batch: np.ndarray) -> np.ndarray:
        return np.cumsum(batch, axis=-1) / np.arange(1, batch.shape[-1] + 1)

    x = np.random.default_rng(3).random((2, 8, 12)).astype(np.float32)
    assert not np.allclose(lopsided(x[..., ::-1])[..., ::-1], lopsided(x))  # the model alone is not
    direct = flip_averaged(lopsided, x)
    mirrored = flip_averaged(lopsided, x[..., ::-1].copy())
    np.testing.assert_allclose(mirrored[..., ::-1], direct, rtol=1e-6)
    np.testing.assert_allclose(direct, 0.5 * (lopsided(x) + lopsided(x[..., ::-1])[..., ::-1]), rtol=1e-6)


def test_extend_down_reaches_exactly_the_margin_below_and_nothing_above():
    from medroi.autoroi.postprocess import extend_down

    mask = np.zeros((40, 30), bool)
    mask[5:10, 8:12] = True
    mask[20, 25] = True
    out = extend_down(mask, "6px")
    expected = mask.copy()
    for shift in range(1, 7):
        expected[shift:] |= mask[:-shift]
    np.testing.assert_array_equal(out, expected)
    assert not out[:5].any() and out[15, 8] and not out[16, 8]
    np.testing.assert_array_equal(extend_down(mask, "10%"), extend_down(mask, "4px"))  # 10 % of 40 rows
    assert extend_down(mask, None) is mask or np.array_equal(extend_down(mask, None), mask)
    volume = np.zeros((4, 4, 4), bool)
    volume[1, 1, 1] = True
    np.testing.assert_array_equal(extend_down(volume, "2px"), volume)  # volumes: unchanged
    with pytest.raises(MedroiError):
        extend_down(mask, "3mm")


def test_finish_applies_the_downward_margin_of_the_policy():
    prob = np.zeros((60, 60), np.float32)
    prob[10:30, 10:50] = 0.9
    plain = RoiPolicy(threshold=0.5, margin="0px")
    down = RoiPolicy(threshold=0.5, margin="0px", margin_down="5px")
    a = finish(prob, np.ones(prob.shape, bool), plain)
    b = finish(prob, np.ones(prob.shape, bool), down)
    assert a.mask[:30].sum() == b.mask[:30].sum() and b.mask[30:35, 10:50].all() and not b.mask[35:].any()


def test_with_context_stacks_neighbours_and_repeats_the_ends():
    from medroi.autoroi.context import with_context

    slices = np.arange(4)[:, None, None] * np.ones((4, 2, 3))
    out = with_context(slices, 2)
    assert out.shape == (4, 5, 2, 3)
    assert out[:, :, 0, 0].tolist() == [[0, 0, 0, 1, 2], [0, 0, 1, 2, 3], [0, 1, 2, 3, 3], [1, 2, 3, 3, 3]]
    np.testing.assert_array_equal(with_context(slices, 0)[:, 0], slices)
    with pytest.raises(ValueError):
        with_context(slices[0], 1)
    with pytest.raises(ValueError):
        with_context(slices, -1)


def test_segmentation_threshold_gives_the_raw_mask_while_the_roi_starts_lower():
    """roi.json segment_threshold: the raw segmentation (Dice, segment_volume) is prob > 0.5;
    the stored ROI is grown from prob > threshold (0.2), so it also keeps the faint rim."""
    from medroi.autoroi.postprocess import RoiPolicy, finish

    prob = np.zeros((1, 40, 40), np.float32)
    prob[0, 10:30, 10:30] = 0.3
    prob[0, 15:25, 15:25] = 0.9
    fg = np.ones(prob.shape, bool)
    policy = RoiPolicy(threshold=0.2, segment_threshold=0.5, margin="0px")
    out = finish(prob, fg, policy)
    assert out.accepted and int(out.raw.sum()) == 100 and int(out.mask.sum()) == 400
    same = finish(prob, fg, RoiPolicy(threshold=0.2, margin="0px"))  # no segment_threshold: one mask
    assert np.array_equal(same.raw, prob > 0.2) and np.array_equal(same.mask, out.mask)
    assert RoiPolicy(threshold=0.2).segmentation_threshold == 0.2 and policy.segmentation_threshold == 0.5


def test_segmentation_threshold_is_chosen_on_the_other_folds():
    from medroi.networks.roi_calibrate import threshold_leave_one_fold_out

    def row(fold, case, d3, d5):
        return {"fold": fold, "case": case, "dice@0.3": d3, "dice@0.5": d5}

    # folds 0 and 1 prefer 0.5, fold 2 prefers 0.3 by far
    rows = [row(0, "a", 0.7, 0.8), row(1, "b", 0.6, 0.9), row(2, "c", 0.9, 0.2)]
    result = threshold_leave_one_fold_out(rows, [0.3, 0.5])
    # fold 2 is scored at the others' choice (0.5), not its own best
    assert result["folds"]["2"] == {"threshold": 0.5, "dice": 0.2, "cases": 1}
    # fold 0: b prefers 0.5 (+0.3), c prefers 0.3 (+0.7) -> 0.3; fold 1 likewise
    assert result["folds"]["0"]["threshold"] == 0.3 and result["folds"]["1"]["threshold"] == 0.3
    assert result["dice_mean"] == pytest.approx((0.7 + 0.6 + 0.2) / 3)
    assert result["dice_worst"] == {"case": "c", "dice": 0.2}
    assert result["threshold_all_folds"] == 0.3  # mean 0.733 against 0.633


def test_roi_threshold_and_margin_are_chosen_on_the_other_folds():
    from medroi.networks.roi_calibrate import choose_roi, roi_leave_one_fold_out

    def row(fold, case, cov_small, cov_big):  # cov@2mm, cov@8mm; the ROI at 8 mm is twice as big
        return {"fold": fold, "case": case, "cov@2mm": cov_small, "ratio@2mm": 1.5, "cov@8mm": cov_big,
                "ratio@8mm": 3.0}

    low = [row(0, "a", 0.99, 1.0), row(1, "b", 0.99, 1.0), row(2, "c", 0.5, 0.95)]   # threshold 0.1
    high = [row(0, "a", 0.98, 0.99), row(1, "b", 0.97, 0.99), row(2, "c", 0.4, 0.7)]  # threshold 0.3
    by = {0.1: low, 0.3: high}
    # folds 0 and 1 alone: the cheapest pair meeting the targets is (0.1, 2mm) (tie on size: first)
    assert choose_roi(by, ["2mm", "8mm"], 3.0, fold=2, objective="size")["margin"] == "2mm"
    result = roi_leave_one_fold_out(by, ["2mm", "8mm"], 3.0, objective="size")
    assert result["folds"]["2"] == {"threshold": 0.1, "margin": "2mm", "cases": 1, "cov_mean": 0.5,
                                    "cov_worst": 0.5, "ratio_mean": 1.5}  # c's miss is not hidden
    # coverage first (the default): folds 0 and 1 alone pick (0.1, 8mm), and c is covered 0.95
    assert roi_leave_one_fold_out(by, ["2mm", "8mm"], 3.0)["folds"]["2"]["cov_worst"] == 0.95
    # with c among the choosing folds, only (0.1, 8mm) meets the worst-case target
    assert result["folds"]["0"]["margin"] == "8mm" and result["folds"]["0"]["threshold"] == 0.1
    assert result["cov_worst"] == {"case": "c", "coverage": 0.5}
    assert result["all_folds"]["threshold"] == 0.1 and result["all_folds"]["margin"] == "8mm"
    assert result["all_folds"]["targets_met"]
    # a size bound no pair meets: the best worst-case coverage among them all
    assert not choose_roi(by, ["2mm", "8mm"], 1.0)["targets_met"]
    # the bound on every case's ROI instead of the mean: one case at 4x rules (0.1, 8mm) out
    low[0] = {**low[0], "ratio@8mm": 4.0}
    pick = choose_roi(by, ["2mm", "8mm"], 3.0)  # (0.1, 8mm)'s mean is 3.33 > 3: the best worst within 3
    assert (pick["threshold"], pick["margin"], pick["targets_met"]) == (0.3, "8mm", False)
    assert not choose_roi(by, ["2mm", "8mm"], 3.5, ratio_of="max")["targets_met"]
    assert choose_roi(by, ["2mm", "8mm"], 3.5)["targets_met"]  # the mean, 3.33, is within 3.5
    # coverage first: the best worst case within the bound, even when a smaller pair meets the targets
    low[0] = {**low[0], "ratio@8mm": 3.0}
    assert choose_roi(by, ["2mm", "8mm"], 3.0, fold=2, objective="size")["margin"] == "2mm"  # (0.1, 2mm) is enough
    pick = choose_roi(by, ["2mm", "8mm"], 3.0, fold=2, objective="coverage")
    assert (pick["threshold"], pick["margin"], pick["targets_met"]) == (0.1, "8mm", True)  # worst 1.0 > 0.99
    with pytest.raises(ValueError, match="objective"):
        choose_roi(by, ["2mm"], 3.0, objective="smallest")


def test_several_cv_runs_are_scored_as_the_ensemble_of_their_fold_models(tmp_path):
    from medroi.networks.roi_calibrate import held_out_probability

    for work, value in (("a", 0.2), ("b", 0.6)):
        run = tmp_path / work / "brats" / "run_1"
        run.mkdir(parents=True)
        np.save(run / "case_prob.npy", np.full((2, 3, 4), value, np.float16))
    mean = held_out_probability([tmp_path / "a", tmp_path / "b"], "brats", 1, "case")
    assert mean.dtype == np.float32 and mean.shape == (2, 3, 4)
    np.testing.assert_allclose(mean, 0.4, atol=1e-3)
    np.testing.assert_allclose(held_out_probability([tmp_path / "a"], "brats", 1, "case"), 0.2, atol=1e-3)
    with pytest.raises(FileNotFoundError):  # a run without that fold's case is an error, not a silent half
        held_out_probability([tmp_path / "a"], "brats", 0, "case")
