"""Which tumour parts do the BRATS ROI fold models find? Recall per label, side by side.

    python benchmarks/roi_label_recall.py --data-root ../shared/data \
        --run "FLAIR=/tmp/roi_25d" --run "FLAIR+T1ce=/tmp/roi_t1ce" --out /tmp/label_recall.md

For each ``--run NAME=WORK`` (a ``medroi.networks.roi_cv brats`` work folder with the 4 folds'
held-out probabilities, ``WORK/brats/run_k/*_prob.npy``), each case's raw mask at
``--threshold`` (on the native grid, as ``roi_calibrate`` scores it) and the share of each BRATS
label's voxels inside it: 1 necrotic / non-enhancing core, 2 oedema, 4 enhancing; "-" where a
case has no voxel of that label. Writes one markdown table (cases in name order).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

LABELS = (1, 2, 4)


def label_recall(prob_file: Path, seg: np.ndarray, threshold: float) -> dict:
    """Whole-tumour and per-label recall of the raw mask ``p > threshold`` ([Z, H, W] seg)."""
    from medroi.autoroi.resample import to_native_grid

    mask = to_native_grid(np.load(prob_file).astype(np.float32), seg.shape[1:]) > threshold
    out = {"wt": float(mask[seg > 0].mean())}
    for lab in LABELS:
        sel = seg == lab
        out[lab] = float(mask[sel].mean()) if sel.any() else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--run", action="append", required=True, help="NAME=WORK (repeat)")
    ap.add_argument("--threshold", type=float, default=0.2)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    from medroi.io import read_image
    from medroi.networks.roi_cv import brats_case_dirs

    runs = [r.split("=", 1) for r in args.run]
    cases = {c.name: c for c in brats_case_dirs(Path(args.data_root))}
    probs = {name: {p.name[: -len("_prob.npy")]: p for k in range(args.folds)
                    for p in (Path(work) / "brats" / f"run_{k}").glob("*_prob.npy")} for name, work in runs}
    head = "| case | " + " | ".join(f"{n}: {what}" for n, _ in runs for what in ("WT", "1", "2", "4")) + " |"
    lines = [f"Recall (share of the label's voxels inside the raw mask, p > {args.threshold}); labels: 1 necrotic / "
             "non-enhancing core, 2 oedema, 4 enhancing.", "", head, "|---|" + "---|" * (4 * len(runs))]
    for case in sorted(set.intersection(*(set(p) for p in probs.values()))):
        seg = np.moveaxis(read_image(next(cases[case].glob("*_seg.nii*"))).array, -1, 0)
        cells = []
        for name, _ in runs:
            r = label_recall(probs[name][case], seg, args.threshold)
            cells += [f"{r['wt']:.3f}"] + ["-" if r[lab] is None else f"{r[lab]:.3f}" for lab in LABELS]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
