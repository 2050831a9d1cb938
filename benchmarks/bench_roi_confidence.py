"""Can ``--roi auto`` tell, without ground truth, when its BRATS ROI misses the tumour?

    python benchmarks/bench_roi_confidence.py --work /tmp/roi_cv

Reads the 4-fold held-out probabilities that ``medroi.networks.roi_cv brats`` saved (each case
scored by the fold model that did not train on it, ``WORK/brats/run_k``) and, per case, the
stored ROI's coverage of the true whole tumour at the bundle's threshold and margin
(``configs/roi.json``), and run-time measures that need no ground truth:

- ``fragments``: raw components of >= ``fragment_voxels`` (what the plausibility check counts);
  ``fragments_20`` / ``_100`` / ``_200``: the same with other component sizes (sensitivity);
- ``confidence``: mean probability inside the raw mask (the check's ``min_confidence``);
- ``fraction``: raw mask / brain voxels;
- ``band``: voxels with 0.02 < p <= threshold per raw-mask voxel (probability the model
  nearly gave to a region around the mask);
- ``entropy``: sum of p (1 - p) over the brain per raw-mask voxel;
- ``flip_dice`` / ``flip_mad``: agreement with the same fold model on the left-right flipped
  input (test-time augmentation): Dice of the masks, mean |p - p_flip| over their union;
- ``bright_out``: share of the bright brain voxels (robust unit > 0.6) outside the stored ROI;
- ``contrast``: median FLAIR intensity inside the raw mask / median in the brain outside the
  stored ROI (the cases whose tumour is faint on FLAIR are the ones the U-Nets miss:
  ``brats_flair_contrast.py``).

For each measure, a leave-one-fold-out limit: on the other folds' cases, the loosest limit
that flags every case with coverage < 0.9; applied to the held-out fold. Reports how many of
the misses are flagged and how many good cases are flagged with them. Writes
results/roi_confidence.{md,json}.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MISS = 0.9
# measure -> +1: a high value is bad (flag when >= limit), -1: a low value is bad
MEASURES = {"fragments": 1, "fragments_20": 1, "fragments_100": 1, "fragments_200": 1, "confidence": -1,
            "fraction": -1, "band": 1, "entropy": 1, "flip_dice": -1, "flip_mad": 1, "bright_out": 1, "contrast": -1}


def measure(work: Path, data_root: Path, policy_file: Path, channels=(16, 32, 64, 128), context: int = 0) -> list:
    import torch

    from medroi.autoroi.context import with_context
    from medroi.autoroi.normalise import robust_unit
    from medroi.autoroi.postprocess import RoiPolicy, check, clean, grow, parse_margin
    from medroi.autoroi.resample import to_native_grid
    from medroi.io import read_image
    from medroi.networks.roi_cv import WHOLE_TUMOUR, brats_case_dirs, dice, make_unet, predict

    torch.set_num_threads(1)
    policy = RoiPolicy.from_dict(json.loads(policy_file.read_text()))
    t = policy.threshold
    cases = {c.name: c for c in brats_case_dirs(data_root)}
    rows = []
    for k in range(4):
        run = work / "brats" / f"run_{k}"
        net = make_unet(channels, in_channels=1 + 2 * context)
        net.load_state_dict(torch.load(run / "unet.pt", map_location="cpu", weights_only=True))
        net.eval()
        for prob_file in sorted(run.glob("*_prob.npy")):
            name = prob_file.name[: -len("_prob.npy")]
            image = read_image(next(cases[name].glob("*_flair.nii*")))
            vol = np.moveaxis(image.array, -1, 0)
            sp = image.metadata.get("spacing") or [1, 1, 1]
            truth = np.moveaxis(np.isin(read_image(next(cases[name].glob("*_seg.nii*"))).array, WHOLE_TUMOUR), -1, 0)
            fg = vol > vol.min()
            p = to_native_grid(np.load(prob_file).astype(np.float32), vol.shape[1:])
            cached = np.load(work / f"cache_brats_{policy.input_size}" / f"{name}.npz")["image"]
            flipped = predict(net, with_context(np.ascontiguousarray(cached[:, :, ::-1]), context))[:, :, ::-1]
            pf = to_native_grid(np.ascontiguousarray(flipped), vol.shape[1:])
            raw = p > t
            _, stats = check(p, raw, fg, policy)
            sizes = {v: check(p, raw, fg, replace(policy, fragment_voxels=v))[1]["fragments"] for v in (20, 100, 200)}
            roi = grow(clean(raw, policy), parse_margin(policy.margin), [sp[2], sp[0], sp[1]])
            n = max(int(raw.sum()), 1)
            bright = fg & (robust_unit(vol) > 0.6)
            rows.append({
                "fold": k, "case": name, "dice": dice(raw, truth),
                "coverage": float((roi & truth).sum() / truth.sum()), "ratio": float(roi.sum() / truth.sum()),
                "fragments": stats["fragments"], **{f"fragments_{v}": c for v, c in sizes.items()},
                "confidence": stats["confidence"], "fraction": stats["fraction"],
                "band": float(((p > 0.02) & (p <= t)).sum() / n),
                "entropy": float((p * (1 - p))[fg].sum() / n),
                "flip_dice": dice(raw, pf > t), "flip_mad": float(np.abs(p - pf)[raw | (pf > t)].mean()),
                "bright_out": float((bright & ~roi).sum() / max(int(bright.sum()), 1)),
                "contrast": contrast(vol, raw, fg & ~roi),
            })
            print(json.dumps({a: round(v, 4) if isinstance(v, float) else v for a, v in rows[-1].items()}), flush=True)
    return rows


def contrast(volume: np.ndarray, inside: np.ndarray, outside: np.ndarray) -> float:
    """Median intensity above the volume's minimum (the background of a skull-stripped MR) in
    ``inside`` / the same in ``outside``: the scanner's scale cancels; 0 when either is empty."""
    if not inside.any() or not outside.any():
        return 0.0
    low = float(volume.min())
    rest = float(np.median(volume[outside])) - low
    return (float(np.median(volume[inside])) - low) / rest if rest > 0 else 0.0


def leave_one_fold_out(rows: list, key: str, sign: int) -> dict:
    flagged, limits = {}, {}
    for k in sorted({r["fold"] for r in rows}):
        misses = [sign * r[key] for r in rows if r["fold"] != k and r["coverage"] < MISS]
        limit = min(misses)  # the loosest that flags every training miss
        limits[k] = sign * limit
        for r in rows:
            if r["fold"] == k:
                flagged[r["case"]] = bool(sign * r[key] >= limit)
    misses = [r["case"] for r in rows if r["coverage"] < MISS]
    good = [r["case"] for r in rows if r["coverage"] >= MISS]
    return {"limits": limits, "flagged": flagged, "caught": [c for c in misses if flagged[c]],
            "missed": [c for c in misses if not flagged[c]], "good_flagged": [c for c in good if flagged[c]],
            "n_misses": len(misses), "n_good": len(good)}


def report(rows: list, results: dict, command: str) -> str:
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    lines = [f"# Run-time confidence of the BRATS ROI (held-out, 4 folds)", "",
             f"`{command}` ({_dt.date.today()}, git {rev}). A miss = stored-ROI coverage < {MISS}. "
             "Limit per held-out fold: the loosest one that flags every miss of the other three folds.", "",
             "| measure | flag when | misses flagged | good cases flagged | limits per fold (0-3) | misses not flagged |",
             "|---|---|---|---|---|---|"]
    for key, res in results.items():
        lim = " / ".join(f"{v:g}" if isinstance(v, int) else f"{v:.3f}" for v in res["limits"].values())
        lines.append(f"| {key} | {'>=' if MEASURES[key] > 0 else '<='} limit | {len(res['caught'])} / {res['n_misses']} "
                     f"| {len(res['good_flagged'])} / {res['n_good']} | {lim} | {', '.join(res['missed']) or '-'} |")
    keys = ["dice", "coverage", "ratio"] + list(MEASURES)
    lines += ["", "| case | fold | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for r in sorted(rows, key=lambda r: r["coverage"]):
        cells = [f"{r[k]:d}" if isinstance(r[k], int) else f"{r[k]:.3f}" for k in keys]
        lines.append(f"| {r['case']} | {r['fold']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, help="roi_cv's --work folder (held-out probabilities, fold weights)")
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--policy", default=str(REPO / "bundles" / "brats_mri_roi_compression" / "configs" / "roi.json"))
    ap.add_argument("--out", default=str(HERE / "results" / "roi_confidence"))
    ap.add_argument("--channels", default="16,32,64,128", help="the fold U-Nets' widths (roi_cv --channels)")
    ap.add_argument("--context", type=int, default=0, help="the fold U-Nets' neighbouring slices (roi_cv --context)")
    args = ap.parse_args()
    rows = measure(Path(args.work), Path(args.data_root), Path(args.policy), [int(c) for c in args.channels.split(",")],
                   args.context)
    results = {key: leave_one_fold_out(rows, key, sign) for key, sign in MEASURES.items()}
    command = "python benchmarks/bench_roi_confidence.py --work " + args.work
    if args.channels != "16,32,64,128":
        command += " --channels " + args.channels
    if args.context:
        command += f" --context {args.context}"
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps({"command": command, "rows": rows, "results": results}, indent=1))
    out.with_suffix(".md").write_text(report(rows, results, command))
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
