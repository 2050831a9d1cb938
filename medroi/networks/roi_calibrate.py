"""Choose the ROI margin and the plausibility limits on the cross-validation folds.

Reads the held-out probabilities that :mod:`medroi.networks.roi_cv` saved, runs them through
the run-time post-processing (:mod:`medroi.autoroi.postprocess`) and reports per case and
per fold: raw Dice, and for each candidate margin the coverage (fraction of the true region
inside the stored ROI) and the size ratio (stored ROI / true region). The margin chosen is
the smallest that gives coverage >= 0.97 on average and >= 0.9 on every case.

``--lofo fragments`` (or ``confidence``) chooses a plausibility limit leave-one-fold-out: on
three folds' cases the loosest limit that rejects every case whose coverage is below 0.9,
applied to the fourth fold's cases; a rejected case counts with coverage 1.0 and the whole
image as its ROI (the run-time fallback).

``--roi-thresholds`` chooses the ROI's starting threshold and margin together, leave one fold
out: on three folds the pair with the best worst-case coverage whose ROI / region is within
``--max-ratio`` (``--objective size``: the smallest ROI meeting coverage >= 0.97 mean and
>= 0.9 on every case); the fourth fold is scored at that pair. ``--dice-thresholds``
does the same for the raw segmentation's threshold (best mean Dice).

Run ``python -m medroi.networks.roi_calibrate --help``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from medroi.autoroi.evaluate import roi_scores
from medroi.autoroi.postprocess import RoiPolicy, check, clean, extend_down, grow, parse_margin
from medroi.autoroi.resample import to_native_grid
from medroi.networks.roi_cv import brats_case_dirs, dice, lung_mask_complete, native_truth, xray_pairs


def case_inputs(dataset: str, root: Path):
    """name -> (item, spacing, foreground [N,H,W], complete truth?) for every case."""
    from medroi.io import read_image

    out = {}
    if dataset == "brats":
        for case in brats_case_dirs(root):
            img = read_image(next(case.glob("*_flair.nii*")))
            vol = np.moveaxis(img.array, -1, 0)
            sp = img.metadata.get("spacing") or [1, 1, 1]
            out[case.name] = (case, [sp[2], sp[0], sp[1]], vol > vol.min(), True)
    else:
        for name, image, mask in xray_pairs(root):
            shape = read_image(image).array.shape[:2]  # a radiograph saved in colour is read as (H, W, planes)
            out[name] = ((name, image, mask), None, np.ones((1, *shape), bool), lung_mask_complete(mask))
    return out


def held_out_probability(works: Sequence[Path], dataset: str, fold: int, name: str) -> np.ndarray:
    """A case's held-out probability; with several CV runs (same folds), their mean: the
    ensemble of their fold models, as ``seg_members`` averages the shipped ones."""
    probs = [np.load(Path(w) / dataset / f"run_{fold}" / f"{name}_prob.npy").astype(np.float32) for w in works]
    return probs[0] if len(probs) == 1 else np.mean(probs, axis=0)


def evaluate(dataset: str, root: Path, works: Sequence[Path], policy: RoiPolicy, margins: Sequence[str], folds: int,
             dice_thresholds: Sequence[float] = (), inputs: dict | None = None):
    """One row per held-out case; ``inputs`` (:func:`case_inputs`) when already read."""
    inputs = case_inputs(dataset, root) if inputs is None else inputs
    rows = []
    for k in range(folds):
        run = Path(works[0]) / dataset / f"run_{k}"
        for prob_file in sorted(run.glob("*_prob.npy")):
            name = prob_file.name[: -len("_prob.npy")]
            item, spacing, fg, complete = inputs[name]
            truth = native_truth(dataset, item)
            prob = to_native_grid(held_out_probability(works, dataset, k, name), truth.shape[1:])
            if dataset == "xray":  # 2D, as --roi auto post-processes a radiograph (% of the larger side, holes in 2D)
                prob, truth, fg = prob[0], truth[0], fg[0]
            raw = prob > policy.threshold
            reason, stats = check(prob, raw, fg, policy)
            cleaned = clean(raw, policy)
            segmentation = prob > policy.segmentation_threshold
            row = {"fold": k, "case": name, "complete_truth": complete, "dice": dice(segmentation, truth),
                   **{f"dice@{t:g}": dice(prob > t, truth) for t in dice_thresholds},
                   "dice_roi_threshold": dice(raw, truth), "dice_clean": dice(cleaned, truth),
                   "truth_fraction": float(truth.sum() / fg.sum()), "reject": reason, "voxels": int(fg.size),
                   "foreground_voxels": int(fg.sum()), "truth_voxels": int(truth.sum()), **stats}
            for m in margins:
                roi = extend_down(grow(cleaned, parse_margin(m), spacing), policy.margin_down)
                scores = roi_scores(roi, truth)  # what the bundles' evaluate_roi.yaml reports
                row[f"cov@{m}"], row[f"ratio@{m}"] = scores["coverage"], scores["roi_over_region"]
            rows.append(row)
            print(json.dumps({k2: (round(v, 3) if isinstance(v, float) else v) for k2, v in row.items()}), flush=True)
    return rows


def summarise(rows: list, margins: Sequence[str], max_ratio: float) -> dict:
    """Per fold and overall means, and the margin chosen: the smallest meeting the coverage
    targets, else (targets out of reach) the largest whose mean size ratio is <= ``max_ratio``."""
    folds = sorted({r["fold"] for r in rows})
    keys = ["dice", "dice_roi_threshold", "dice_clean"] + [f"{p}@{m}" for m in margins for p in ("cov", "ratio")]
    table = {str(k): {key: float(np.mean([r[key] for r in rows if r["fold"] == k])) for key in keys} for k in folds}
    table["mean"] = {key: float(np.mean([r[key] for r in rows])) for key in keys}
    table["worst"] = {key: float(min(r[key] for r in rows)) if key.startswith(("cov", "dice"))
                      else float(max(r[key] for r in rows)) for key in keys}
    chosen = next((m for m in margins if table["mean"][f"cov@{m}"] >= 0.97 and table["worst"][f"cov@{m}"] >= 0.9),
                  None)
    targets_met = chosen is not None
    if chosen is None:
        within = [m for m in margins if table["mean"][f"ratio@{m}"] <= max_ratio]
        chosen = within[-1] if within else margins[0]
    return {"table": table, "chosen_margin": chosen, "coverage_targets_met": targets_met}


def markdown(rows: list, margin: str) -> str:
    """Per-fold and per-case tables (raw Dice; coverage and size ratio of the stored ROI).
    Fold rows count the cases with a complete truth; the others are listed per case."""
    cov, ratio = f"cov@{margin}", f"ratio@{margin}"
    every, rows = rows, [r for r in rows if r.get("complete_truth", True)]
    lines = [f"| fold | held-out cases | raw Dice (mean) | coverage (mean) | coverage (worst) | ROI / region (mean) "
             f"| ROI / region (max) | rejected |", "|---|---|---|---|---|---|---|---|"]
    groups = [(str(k), [r for r in rows if r["fold"] == k]) for k in sorted({r["fold"] for r in rows})]
    for name, rs in groups + [("**all**", rows)]:
        lines.append(f"| {name} | {len(rs)} | {np.mean([r['dice'] for r in rs]):.3f} | {np.mean([r[cov] for r in rs]):.3f} "
                     f"| {min(r[cov] for r in rs):.3f} | {np.mean([r[ratio] for r in rs]):.2f} "
                     f"| {max(r[ratio] for r in rs):.2f} | {sum(r['reject'] is not None for r in rs)} |")
    lines += ["", "| case | fold | raw Dice | coverage | ROI / region | check |", "|---|---|---|---|---|---|"]
    for r in every:
        note = "" if r.get("complete_truth", True) else " (incomplete truth: not in the fold rows)"
        lines.append(f"| {r['case']} | {r['fold']} | {r['dice']:.3f} | {r[cov]:.3f} | {r[ratio]:.2f} "
                     f"| {r['reject'] or 'ok'}{note} |")
    return "\n".join(lines)


#: plausibility statistics a limit can be chosen for: stat -> (policy field, "max" or "min" limit)
LIMITS = {"fragments": ("max_fragments", "max"), "confidence": ("min_confidence", "min")}


def limit_for(rows: list, stat: str, margin: str, miss: float):
    """The loosest limit on ``stat`` that rejects every row whose coverage at ``margin`` is below
    ``miss`` (None when no row misses)."""
    values = [r[stat] for r in rows if r[f"cov@{margin}"] < miss]
    if not values:
        return None
    if LIMITS[stat][1] == "max":  # rejected when stat > limit
        return int(min(values)) - 1
    return round(max(values) + 1e-4, 4)  # rejected when stat < limit (stats are rounded to 4 places)


def rejects(row: dict, stat: str, limit) -> bool:
    """Would ``limit`` on ``stat`` reject this row (as :func:`medroi.autoroi.postprocess.check` does)?"""
    if limit is None:
        return False
    return row[stat] > limit if LIMITS[stat][1] == "max" else row[stat] < limit


def leave_one_fold_out(rows: list, stat: str, margin: str, miss: float = 0.9) -> dict:
    """Choose the limit on ``stat`` on the other folds' rows, apply it to each fold's rows.

    A rejected row falls back to the whole image (stored within --roi-max-error): it counts
    with coverage 1.0 and ROI / region = all voxels / region (``ratio_fg``: foreground voxels
    / region, what a skull-stripped volume's lossless brain costs)."""
    out, limits = [], {}
    for k in sorted({r["fold"] for r in rows}):
        limits[k] = limit_for([r for r in rows if r["fold"] != k], stat, margin, miss)
        for r in (r for r in rows if r["fold"] == k):
            fell_back = r["reject"] is not None or rejects(r, stat, limits[k])
            truth = max(r["truth_voxels"], 1)
            out.append({"fold": k, "case": r["case"], "limit": limits[k], stat: r[stat], "fallback": fell_back,
                        "cov": 1.0 if fell_back else r[f"cov@{margin}"],
                        "ratio": r["voxels"] / truth if fell_back else r[f"ratio@{margin}"],
                        "ratio_fg": r["foreground_voxels"] / truth if fell_back else r[f"ratio@{margin}"],
                        "cov_without": r[f"cov@{margin}"]})
    return {"stat": stat, "policy_field": LIMITS[stat][0], "margin": margin, "miss": miss,
            "fold_limits": {str(k): v for k, v in limits.items()}, "limit_all_folds": limit_for(rows, stat, margin, miss),
            "rows": out}


def lofo_markdown(result: dict) -> str:
    """Per-fold and per-case tables of :func:`leave_one_fold_out`."""
    rows, stat = result["rows"], result["stat"]
    lines = [f"| fold | {result['policy_field']} (from the other folds) | held-out cases | fell back | coverage (mean) "
             f"| coverage (worst) | ROI / region (mean) | ROI / region (max) | ROI / region, foreground (mean) "
             f"| ROI / region, accepted (mean) |", "|---|---|---|---|---|---|---|---|---|---|"]
    groups = [(str(k), [r for r in rows if r["fold"] == k]) for k in sorted({r["fold"] for r in rows})]
    for name, rs in groups + [("**all**", rows)]:
        limit = rs[0]["limit"] if name != "**all**" else "-"
        kept = [r["ratio"] for r in rs if not r["fallback"]]
        lines.append(f"| {name} | {limit} | {len(rs)} | {sum(r['fallback'] for r in rs)} "
                     f"| {np.mean([r['cov'] for r in rs]):.3f} | {min(r['cov'] for r in rs):.3f} "
                     f"| {np.mean([r['ratio'] for r in rs]):.2f} | {max(r['ratio'] for r in rs):.2f} "
                     f"| {np.mean([r['ratio_fg'] for r in rs]):.2f} | {np.mean(kept) if kept else float('nan'):.2f} |")
    lines += ["", f"| case | fold | {stat} | coverage without the rule | outcome | coverage | ROI / region "
                  f"| ROI / region (foreground) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['fold']} | {r[stat]} | {r['cov_without']:.3f} "
                     f"| {'fallback' if r['fallback'] else 'ROI'} | {r['cov']:.3f} | {r['ratio']:.2f} "
                     f"| {r['ratio_fg']:.2f} |")
    return "\n".join(lines)


def threshold_leave_one_fold_out(rows: list, thresholds: Sequence[float]) -> dict:
    """Each fold's segmentation threshold is the one with the best mean raw Dice on the other
    folds' cases; the fold is scored at it (an honest figure for a threshold chosen on data).
    ``threshold_all_folds`` is the choice on every case: what a shipped policy takes."""
    def best(rs: list) -> float:
        return max(thresholds, key=lambda t: (np.mean([r[f"dice@{t:g}"] for r in rs]), -abs(t - 0.5)))

    per_fold, held_out = {}, []
    for k in sorted({r["fold"] for r in rows}):
        t = best([r for r in rows if r["fold"] != k])
        scores = [r[f"dice@{t:g}"] for r in rows if r["fold"] == k]
        held_out += [(r["case"], r[f"dice@{t:g}"]) for r in rows if r["fold"] == k]
        per_fold[str(k)] = {"threshold": t, "dice": float(np.mean(scores)), "cases": len(scores)}
    worst = min(held_out, key=lambda c: c[1])
    return {"folds": per_fold, "dice_mean": float(np.mean([d for _, d in held_out])),
            "dice_worst": {"case": worst[0], "dice": float(worst[1])}, "threshold_all_folds": best(rows),
            "dice_by_threshold": {f"{t:g}": float(np.mean([r[f"dice@{t:g}"] for r in rows])) for t in thresholds}}


def _roi_candidates(rows_by_threshold: dict, margins: Sequence[str], fold=None) -> list:
    out = []
    for t, rows in rows_by_threshold.items():
        rs = [r for r in rows if r["fold"] != fold]
        for m in margins:
            cov = [r[f"cov@{m}"] for r in rs]
            ratio = [r[f"ratio@{m}"] for r in rs]
            out.append({"threshold": t, "margin": m, "cov_mean": float(np.mean(cov)), "cov_worst": float(min(cov)),
                        "ratio_mean": float(np.mean(ratio)), "ratio_max": float(max(ratio))})
    return out


def choose_roi(rows_by_threshold: dict, margins: Sequence[str], max_ratio: float, fold=None,
               ratio_of: str = "mean", objective: str = "coverage") -> dict:
    """The (threshold, margin) pair chosen on every fold but ``fold``, among those whose
    ``ratio_of`` ("mean", or "max": every case) ROI / region is <= ``max_ratio``:

    - ``objective="size"``: the smallest mean ROI meeting the coverage targets (mean >= 0.97,
      every case >= 0.9), else the best worst-case coverage;
    - ``objective="coverage"``: the best worst-case coverage (then mean), whatever it costs
      within the bound.

    ``targets_met`` says whether the pair meets the coverage targets on those folds."""
    if objective not in ("size", "coverage"):
        raise ValueError(f"objective must be 'size' or 'coverage', got {objective!r}")
    candidates = _roi_candidates(rows_by_threshold, margins, fold)
    within = [c for c in candidates if c[f"ratio_{ratio_of}"] <= max_ratio]

    def meets(c: dict) -> bool:
        return c["cov_mean"] >= 0.97 and c["cov_worst"] >= 0.9

    ok = [c for c in within if meets(c)]
    if objective == "size" and ok:
        return {**min(ok, key=lambda c: c["ratio_mean"]), "targets_met": True}
    best = max(within or candidates, key=lambda c: (c["cov_worst"], c["cov_mean"]))
    return {**best, "targets_met": bool(within) and meets(best)}


def roi_leave_one_fold_out(rows_by_threshold: dict, margins: Sequence[str], max_ratio: float,
                           ratio_of: str = "mean", objective: str = "coverage") -> dict:
    """Each fold scored at the pair :func:`choose_roi` takes on the other folds."""
    any_rows = next(iter(rows_by_threshold.values()))
    per_fold, held = {}, []
    for k in sorted({r["fold"] for r in any_rows}):
        pick = choose_roi(rows_by_threshold, margins, max_ratio, fold=k, ratio_of=ratio_of, objective=objective)
        rs = [r for r in rows_by_threshold[pick["threshold"]] if r["fold"] == k]
        m = pick["margin"]
        held += [(r["case"], r[f"cov@{m}"], r[f"ratio@{m}"]) for r in rs]
        per_fold[str(k)] = {"threshold": pick["threshold"], "margin": m, "cases": len(rs),
                            "cov_mean": float(np.mean([r[f"cov@{m}"] for r in rs])),
                            "cov_worst": float(min(r[f"cov@{m}"] for r in rs)),
                            "ratio_mean": float(np.mean([r[f"ratio@{m}"] for r in rs]))}
    worst = min(held, key=lambda c: c[1])
    return {"folds": per_fold, "cov_mean": float(np.mean([c[1] for c in held])),
            "cov_worst": {"case": worst[0], "coverage": float(worst[1])},
            "ratio_mean": float(np.mean([c[2] for c in held])), "ratio_max": float(max(c[2] for c in held)),
            "all_folds": choose_roi(rows_by_threshold, margins, max_ratio, ratio_of=ratio_of, objective=objective),
            "candidates": _roi_candidates(rows_by_threshold, margins)}


def roi_markdown(result: dict) -> str:
    lines = ["| fold | threshold, margin (from the other folds) | held-out cases | coverage (mean) | coverage (worst) "
             "| ROI / region (mean) |", "|---|---|---|---|---|---|"]
    for k, f in result["folds"].items():
        lines.append(f"| {k} | {f['threshold']:g}, {f['margin']} | {f['cases']} | {f['cov_mean']:.3f} "
                     f"| {f['cov_worst']:.3f} | {f['ratio_mean']:.2f} |")
    worst, pick = result["cov_worst"], result["all_folds"]
    lines += [f"| **all** | - | {sum(f['cases'] for f in result['folds'].values())} | {result['cov_mean']:.3f} "
              f"| {worst['coverage']:.3f} ({worst['case']}) | {result['ratio_mean']:.2f} (max {result['ratio_max']:.2f}) |",
              "", f"Chosen on all folds: threshold {pick['threshold']:g}, margin {pick['margin']} "
              f"(targets {'met' if pick['targets_met'] else 'not met'} there).", "",
              "| threshold | margin | coverage (mean) | coverage (worst) | ROI / region (mean) | ROI / region (max) |",
              "|---|---|---|---|---|---|"]
    for c in result["candidates"]:
        lines.append(f"| {c['threshold']:g} | {c['margin']} | {c['cov_mean']:.3f} | {c['cov_worst']:.3f} "
                     f"| {c['ratio_mean']:.2f} | {c['ratio_max']:.2f} |")
    return "\n".join(lines)


def threshold_markdown(result: dict) -> str:
    lines = ["| fold | threshold (from the other folds) | held-out cases | raw Dice (mean) |", "|---|---|---|---|"]
    for k, f in result["folds"].items():
        lines.append(f"| {k} | {f['threshold']:g} | {f['cases']} | {f['dice']:.3f} |")
    worst = result["dice_worst"]
    lines += [f"| **all** | - | {sum(f['cases'] for f in result['folds'].values())} | {result['dice_mean']:.3f} |", "",
              f"Worst case: {worst['case']} ({worst['dice']:.3f}). Chosen on all folds: "
              f"{result['threshold_all_folds']:g}. Mean raw Dice by threshold (all cases, not held out): "
              + ", ".join(f"{t}: {d:.3f}" for t, d in result["dice_by_threshold"].items()) + "."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="margin and plausibility limits from the CV folds")
    ap.add_argument("dataset", choices=["brats", "xray"])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--work", required=True, help="roi_cv's work folder; several, comma-separated: the mean of their "
                                                   "held-out probabilities (an ensemble of their fold models)")
    ap.add_argument("--policy", required=True, help="the bundle's configs/roi.json (clean-up and limits)")
    ap.add_argument("--margins", default="0mm,1mm,2mm,3mm,4mm,5mm,6mm,8mm")
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--out", required=True, help="JSON with every row and the summary")
    ap.add_argument("--no-clean", action="store_true", help="skip component clean-up (for comparison)")
    ap.add_argument("--threshold", type=float, default=None, help="override the policy's probability threshold")
    ap.add_argument("--margin-down", default=None, help="override the policy's margin_down (2D: '5%%'; '0%%' none)")
    ap.add_argument("--max-ratio", type=float, default=3.0, help="ROI size bound (BRATS 3, lungs 2)")
    ap.add_argument("--lofo", choices=sorted(LIMITS), default=None,
                    help="also choose this plausibility limit leave-one-fold-out (rejecting every case whose "
                         "coverage is below --miss on the other folds) and report the table with fallbacks")
    ap.add_argument("--miss", type=float, default=0.9, help="coverage below which a case is a miss (--lofo)")
    ap.add_argument("--margin", default=None, help="the margin --lofo uses (default: the one chosen)")
    ap.add_argument("--roi-thresholds", default=None,
                    help="comma-separated ROI thresholds: the (threshold, margin) pair chosen leave-one-fold-out "
                         "over these and --margins (roi.json threshold and margin)")
    ap.add_argument("--ratio-of", choices=["mean", "max"], default="mean",
                    help="--roi-thresholds: --max-ratio bounds the mean ROI / region, or every case's (max)")
    ap.add_argument("--objective", choices=["coverage", "size"], default="coverage",
                    help="--roi-thresholds: the best worst-case coverage within the size bound (coverage: the "
                         "shipped bundles' rule) or the smallest ROI meeting the coverage targets (size)")
    ap.add_argument("--dice-thresholds", default=None,
                    help="comma-separated segmentation thresholds: raw Dice at each, and the threshold chosen "
                         "leave-one-fold-out (roi.json segment_threshold)")
    args = ap.parse_args(argv)
    policy = RoiPolicy.from_dict(json.loads(Path(args.policy).read_text()))
    if args.no_clean:
        policy = replace(policy, min_component_ratio=0.0, max_components=None, fill_holes=False)
    if args.threshold is not None:
        policy = replace(policy, threshold=args.threshold)
    if args.margin_down is not None:
        policy = replace(policy, margin_down=args.margin_down)
    if args.lofo:  # the limit being chosen must not reject anything while the rows are scored
        field, kind = LIMITS[args.lofo]
        policy = replace(policy, **{field: None if kind == "max" else 0.0})
    margins = [m.strip() for m in args.margins.split(",")]
    works = [Path(w) for w in args.work.split(",")]
    thresholds = [float(t) for t in args.dice_thresholds.split(",")] if args.dice_thresholds else []
    inputs = case_inputs(args.dataset, Path(args.data_root))  # read once for every threshold below
    rows = evaluate(args.dataset, Path(args.data_root), works, policy, margins, args.folds, thresholds, inputs)
    scored = [r for r in rows if r["complete_truth"]]  # choices and figures on complete truths only
    summary = summarise(scored, margins, args.max_ratio)
    summary["incomplete_truth"] = [r["case"] for r in rows if not r["complete_truth"]]
    if args.roi_thresholds:
        by_threshold = {}
        for t in (float(v) for v in args.roi_thresholds.split(",")):
            rows_t = evaluate(args.dataset, Path(args.data_root), works, replace(policy, threshold=t),
                              margins, args.folds, inputs=inputs)
            by_threshold[t] = [r for r in rows_t if r["complete_truth"]]
        choice = roi_leave_one_fold_out(by_threshold, margins, args.max_ratio, args.ratio_of, args.objective)
        summary["roi_choice"] = {k: v for k, v in choice.items() if k != "candidates"}
        Path(args.out).with_suffix(".roi.md").write_text(roi_markdown(choice) + "\n")
    if thresholds:
        summary["segment_threshold"] = threshold_leave_one_fold_out(scored, thresholds)
        Path(args.out).with_suffix(".threshold.md").write_text(threshold_markdown(summary["segment_threshold"]) + "\n")
    if args.lofo:
        lofo = leave_one_fold_out(scored, args.lofo, args.margin or summary["chosen_margin"], args.miss)
        summary["lofo"] = {k: v for k, v in lofo.items() if k != "rows"}
        Path(args.out).with_suffix(".lofo.md").write_text(lofo_markdown(lofo) + "\n")
    Path(args.out).write_text(json.dumps({"policy": vars(policy) | {"accepts": list(policy.accepts)},
                                          "rows": rows, **summary}, indent=2))
    print(json.dumps(summary, indent=1))
    Path(args.out).with_suffix(".md").write_text(markdown(rows, summary["chosen_margin"]) + "\n")


if __name__ == "__main__":
    main()
