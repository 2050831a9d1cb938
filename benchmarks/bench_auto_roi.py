"""``--roi auto`` on every BRATS FLAIR, bundles side by side: time, peak memory, fallbacks.

    python benchmarks/bench_auto_roi.py --data-root ../shared/data \
        bundles/brats_mri_roi_compression /tmp/bundle_041 [--cases 6]

Each bundle runs in its own process (one torch thread, as the CLI), so its peak resident
memory is its own. Per case: the ``auto_roi`` time (after one warm-up call on the first case),
accepted or the fallback's reason, and against the case's whole-tumour truth the raw Dice,
the stored ROI's coverage and its size / tumour. These are the shipped models' own training
cases: coverage and Dice here are **in-sample**; the held-out figures are the bundle docs'
cross-validation tables. Writes results/auto_roi.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def run_one(bundle: Path, data_root: Path, limit: int | None) -> dict:
    """Every case through one bundle's ``auto_roi`` (in this process)."""
    from medroi.autoroi.evaluate import dice, roi_scores
    from medroi.io import read_image
    from medroi.networks.roi_cv import WHOLE_TUMOUR, brats_case_dirs
    from medroi.networks.runtime import load_model

    model = load_model(str(bundle), "nifti", threads=1)
    cases = brats_case_dirs(data_root)[:limit]
    rows = []
    for i, case in enumerate(cases):
        image = read_image(next(case.glob("*_flair.nii*")))
        truth = np.isin(read_image(next(case.glob("*_seg.nii*"))).array, WHOLE_TUMOUR)
        spacing = image.metadata.get("spacing")
        if i == 0:
            model.auto_roi(image.array, spacing=spacing)  # warm-up: TorchScript's first calls optimise
        start = time.perf_counter()
        result = model.auto_roi(image.array, spacing=spacing)
        seconds = time.perf_counter() - start
        row = {"case": case.name, "seconds": round(seconds, 3), "accepted": result.accepted, "reason": result.reason,
               "raw_dice": round(dice(result.raw, truth), 4) if result.raw is not None else None}
        if result.accepted:  # the figures evaluate_roi.yaml reports
            scores = roi_scores(result.mask, truth)
            row["coverage"] = round(scores["coverage"], 4)
            row["roi_over_tumour"] = round(scores["roi_over_region"], 3)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    meta = bundle / "configs" / "metadata.json"
    version = json.loads(meta.read_text()).get("version") if meta.is_file() else None
    return {"bundle": str(bundle), "version": version, "model_sha256": model.identity["sha256"][:12], "rows": rows,
            "peak_rss_mib": round(peak_mib, 1)}


def summary(result: dict) -> dict:
    rows = result["rows"]
    seconds = [r["seconds"] for r in rows]
    kept = [r for r in rows if r["accepted"]]
    return {"bundle": result["bundle"], "version": result.get("version"), "cases": len(rows), "seconds_median": float(np.median(seconds)),
            "seconds_max": float(max(seconds)), "peak_rss_mib": result["peak_rss_mib"],
            "fallbacks": len(rows) - len(kept),
            "raw_dice_mean": float(np.mean([r["raw_dice"] for r in rows if r["raw_dice"] is not None])),
            "coverage_mean_accepted": float(np.mean([r["coverage"] for r in kept])) if kept else None,
            "coverage_worst_accepted": float(min(r["coverage"] for r in kept)) if kept else None,
            "roi_over_tumour_mean_accepted": float(np.mean([r["roi_over_tumour"] for r in kept])) if kept else None}


def markdown(results: list, when: str, note: str = "") -> str:
    lines = [f"# `--roi auto` on the BRATS FLAIRs ({when})", "",
             "In-sample: the shipped models were trained on these cases (held-out figures: the bundle docs).",
             *([note] if note else []), "",
             "| bundle | version | cases | auto_roi s (median) | s (max) | peak RSS MiB | fallbacks | raw Dice (mean) "
             "| coverage mean / worst (accepted) | ROI / tumour (accepted) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        s = summary(r)
        cov = (f"{s['coverage_mean_accepted']:.3f} / {s['coverage_worst_accepted']:.3f}"
               if s["coverage_mean_accepted"] is not None else "-")
        ratio = f"{s['roi_over_tumour_mean_accepted']:.2f}" if s["roi_over_tumour_mean_accepted"] is not None else "-"
        lines.append(f"| {s['bundle']} | {s['version']} | {s['cases']} | {s['seconds_median']:.2f} | {s['seconds_max']:.2f} "
                     f"| {s['peak_rss_mib']:.0f} | {s['fallbacks']} | {s['raw_dice_mean']:.3f} | {cov} | {ratio} |")
    for r in results:
        lines += ["", f"## {r['bundle']} ({r.get('version')})", "", "| case | s | outcome | raw Dice | coverage | ROI / tumour |",
                  "|---|---|---|---|---|---|"]
        for row in r["rows"]:
            lines.append(f"| {row['case']} | {row['seconds']:.2f} | {'ROI' if row['accepted'] else row['reason']} "
                         f"| {row['raw_dice']} | {row.get('coverage', '-')} | {row.get('roi_over_tumour', '-')} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundles", nargs="+", help="bundle folders (each with models/model.ts and configs/roi.json)")
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--cases", type=int, default=None, help="only the first N cases")
    ap.add_argument("--note", default="", help="a line for the report (the machine's load, where a bundle came from)")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child: one bundle, JSON on stdout
    ap.add_argument("--out", default=str(HERE / "results" / "auto_roi"))
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(Path(args.bundles[0]), Path(args.data_root), args.cases)))
        return
    results = []
    for bundle in args.bundles:
        cmd = [sys.executable, __file__, bundle, "--one", "--data-root", args.data_root]
        if args.cases:
            cmd += ["--cases", str(args.cases)]
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
        results.append(json.loads(done.stdout))
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps({"when": when, "note": args.note, "results": results}, indent=1))
    out.with_suffix(".md").write_text(markdown(results, when, args.note))
    print(json.dumps([summary(r) for r in results], indent=1))


if __name__ == "__main__":
    main()
