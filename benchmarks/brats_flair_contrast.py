"""How bright is each BRATS case's tumour on FLAIR, against the rest of its brain?

    python benchmarks/brats_flair_contrast.py --data-root ../shared/data --out results/brats_flair_contrast

Per case (FLAIR, whole tumour = labels 1, 2, 4; brain = voxels above the volume's minimum):

- ``ratio``: median raw intensity in the tumour / median in the rest of the brain. MR magnitudes
  start at 0, so the ratio does not depend on the scanner's scale;
- ``z``: (tumour median - brain median) / brain inter-quartile range, brain = all brain voxels
  (what a z-score normalisation would give the tumour);
- ``unit_gap``: tumour median - rest median after ``robust_unit`` (the runtime's 0.5 / 99.5
  percentile normalisation), i.e. the contrast the U-Net sees;
- ``rest_unit``: the rest of the brain's median after ``robust_unit``.

With ``--cv NAME=FILE`` (a ``roi_calibrate`` JSON), that run's held-out raw Dice is printed beside
each case, with the rank correlation between ratio and Dice. Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def case_contrast(flair: np.ndarray, seg: np.ndarray) -> dict:
    """The contrast figures of one case (arrays on the same grid)."""
    from medroi.autoroi.normalise import robust_unit

    brain = flair > flair.min()
    tumour = np.isin(seg, (1, 2, 4)) & brain
    rest = brain & ~tumour
    values = flair.astype(np.float64)
    q25, med, q75 = np.percentile(values[brain], [25, 50, 75])
    t_med, r_med = float(np.median(values[tumour])), float(np.median(values[rest]))
    unit = robust_unit(flair)
    return {"ratio": t_med / r_med, "z": (t_med - med) / (q75 - q25),
            "unit_gap": float(np.median(unit[tumour]) - np.median(unit[rest])),
            "rest_unit": float(np.median(unit[rest])), "tumour_share": float(tumour.sum() / brain.sum())}


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--cv", action="append", default=[], help="NAME=roi_calibrate JSON (repeat)")
    ap.add_argument("--out", required=True, help="output path without extension")
    args = ap.parse_args()
    from medroi.io import read_image
    from medroi.networks.roi_cv import brats_case_dirs

    dice = {}
    for spec in args.cv:
        name, path = spec.split("=", 1)
        dice[name] = {r["case"]: r["dice"] for r in json.loads(Path(path).read_text())["rows"]}
    rows = []
    for case in brats_case_dirs(Path(args.data_root)):
        flair = read_image(next(case.glob("*_flair.nii*"))).array
        seg = read_image(next(case.glob("*_seg.nii*"))).array
        rows.append({"case": case.name, **case_contrast(flair, seg), **{f"dice {n}": d.get(case.name) for n, d in dice.items()}})
        print(rows[-1], flush=True)
    rows.sort(key=lambda r: r["ratio"])
    cols = ["ratio", "z", "unit_gap", "rest_unit", "tumour_share"] + [f"dice {n}" for n in dice]
    lines = ["| case | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for r in rows:
        lines.append(f"| {r['case']} | " + " | ".join("-" if r[c] is None else f"{r[c]:.3f}" for c in cols) + " |")
    for n in dice:
        pairs = [(r["ratio"], r[f"dice {n}"]) for r in rows if r[f"dice {n}"] is not None]
        lines.append(f"\nSpearman rank correlation of ratio and held-out Dice ({n}, {len(pairs)} cases): "
                     f"{spearman(*zip(*pairs)):.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
