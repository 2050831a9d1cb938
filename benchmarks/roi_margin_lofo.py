"""Leave-one-fold-out choice of the X-ray ROI's (margin, margin_down) pair.

    python benchmarks/roi_margin_lofo.py CAL_DOWN0.json CAL_DOWN5.json CAL_DOWN10.json

Each input is a ``medroi.networks.roi_calibrate xray --margins ... --margin-down D`` result
(held-out probabilities of the 4 folds). For each fold, the pair with the smallest mean
ROI / region among those meeting the targets on the other three folds (coverage >= 0.97
mean, >= 0.9 on every image, ROI <= 2 x on every image) is applied to the held-out fold's
images; images with an incomplete truth are left out, as in the bundle's tables. Prints the
held-out figures and the pair chosen on all folds (the shipped one).
"""

from __future__ import annotations

import json
import sys

import numpy as np


def load(paths):
    """(margin, margin_down) -> case -> (fold, coverage, ROI / region)."""
    runs: dict = {}
    for path in paths:
        data = json.load(open(path))
        down = data["policy"].get("margin_down")
        for row in data["rows"]:
            if not row.get("complete_truth", True):
                continue
            for key in row:
                if key.startswith("cov@"):
                    margin = key[4:]
                    runs.setdefault((margin, down), {})[row["case"]] = (row["fold"], row[key], row[f"ratio@{margin}"])
    return runs


def meets(rows) -> tuple[bool, float]:
    cov = [c for _, c, _ in rows]
    ratio = [r for _, _, r in rows]
    return bool(np.mean(cov) >= 0.97 and min(cov) >= 0.9 and max(ratio) <= 2.0), float(np.mean(ratio))


def choose(runs, rows_of) -> tuple | None:
    best = None
    for pair in sorted(runs, key=str):
        ok, mean_ratio = meets(rows_of(pair))
        if ok and (best is None or mean_ratio < best[1]):
            best = (pair, mean_ratio)
    return None if best is None else best[0]


def main(paths) -> None:
    runs = load(paths)
    held = []
    for k in range(4):
        pair = choose(runs, lambda p: [v for v in runs[p].values() if v[0] != k])
        if pair is None:
            print(f"fold {k}: no pair meets the targets on the other folds")
            continue
        rows = [(case, v) for case, v in runs[pair].items() if v[0] == k]
        held += [(case, v[1], v[2]) for case, v in rows]
        print(f"fold {k}: chosen on the others {pair}; held out: coverage mean {np.mean([v[1] for _, v in rows]):.3f} "
              f"worst {min(v[1] for _, v in rows):.3f}, ROI / region mean {np.mean([v[2] for _, v in rows]):.2f} "
              f"max {max(v[2] for _, v in rows):.2f}")
    if held:
        cov = [h[1] for h in held]
        ratio = [h[2] for h in held]
        print(f"all held out: coverage mean {np.mean(cov):.3f} worst {min(cov):.3f} ({held[int(np.argmin(cov))][0]}), "
              f"ROI / region mean {np.mean(ratio):.2f} max {max(ratio):.2f} ({held[int(np.argmax(ratio))][0]})")
    print("chosen on all folds:", choose(runs, lambda p: list(runs[p].values())))


if __name__ == "__main__":
    main(sys.argv[1:])
