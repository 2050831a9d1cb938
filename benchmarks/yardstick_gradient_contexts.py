"""Where the 2D gap to JPEG XL is: ideal code lengths of two causal models (a yardstick, not a codec).

    python benchmarks/yardstick_gradient_contexts.py [--worst 8] [--typical 4]

Both models predict with MED (JPEG-LS's predictor) and code the residual with adaptive
histograms (ideal code length -sum log2 p, as ../shared/tools/codelength measures; real bytes
are ~0.1 % above). They differ only in the contexts:

- "activity": 8 contexts of local activity |N-NW| + |W-NW| + |NE-N| (what medroi's 2D model
  is closest to: medroi's bytes sit within a few % of it);
- "exact differences": one context per exact (N-W, W-NW, NE-N), each clamped to +-6
  (13^3 contexts), backed off to the activity model (the context tree of JPEG XL splits on
  such properties).

Images: the 2D images where medroi is furthest below the per-image best of JPEG-LS and JPEG XL
e7 in results/codecs_all.json, and some near the median; 8- to 12-bit only (the histograms
span the value range). Writes results/yardstick_gradient_contexts.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numba
import numpy as np

HERE = Path(__file__).resolve().parent
DATA_ROOT = Path(os.environ.get("MEDROI_DATA", HERE.parents[1] / "shared" / "data"))


@numba.njit(cache=True)
def ideal_bytes(a, clamp, alpha):
    """(activity model, exact-difference model) ideal bytes of a 2D image of integers >= 0."""
    h, w = a.shape
    values = a.max() + 1
    r_size = 2 * values + 1
    n_act = 8
    k = 2 * clamp + 1
    act_counts = np.full((n_act, r_size), 0.1)
    act_total = np.full(n_act, 0.1 * r_size)
    ctx_counts = np.zeros((k, k, k, r_size))
    ctx_total = np.zeros((k, k, k))
    bits_act, bits_ctx = 0.0, 0.0
    for y in range(h):
        for x in range(w):
            n = a[y - 1, x] if y > 0 else (a[y, x - 1] if x > 0 else 0)
            wv = a[y, x - 1] if x > 0 else n
            nw = a[y - 1, x - 1] if (x > 0 and y > 0) else n
            ne = a[y - 1, x + 1] if (y > 0 and x + 1 < w) else n
            if nw >= max(n, wv):
                p = min(n, wv)
            elif nw <= min(n, wv):
                p = max(n, wv)
            else:
                p = n + wv - nw
            act = abs(n - nw) + abs(wv - nw) + abs(ne - n)
            c = 0
            while c < n_act - 1 and act > (1 << c) - 1:
                c += 1
            r = a[y, x] - p + values
            p_act = act_counts[c, r] / act_total[c]
            bits_act -= np.log2(p_act)
            g1 = min(max(n - wv, -clamp), clamp) + clamp
            g2 = min(max(wv - nw, -clamp), clamp) + clamp
            g3 = min(max(ne - n, -clamp), clamp) + clamp
            bits_ctx -= np.log2((ctx_counts[g1, g2, g3, r] + alpha * p_act) / (ctx_total[g1, g2, g3] + alpha))
            act_counts[c, r] += 1
            act_total[c] += 1
            ctx_counts[g1, g2, g3, r] += 1
            ctx_total[g1, g2, g3] += 1
    return bits_act / 8, bits_ctx / 8


def find_image(name: str) -> Path | None:
    for pattern in (f"xray/images/{name}.*", f"dicom/**/{name}", f"more/**/{name}", f"**/{name}"):
        hits = [p for p in DATA_ROOT.glob(pattern) if p.is_file()]
        if hits:
            return hits[0]
    return None


def main() -> int:
    from medroi.io import read_image

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worst", type=int, default=8)
    ap.add_argument("--typical", type=int, default=4)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args()
    rows = [r for r in json.loads((HERE / "results" / "codecs_all.json").read_text())["rows"] if r["dims"] == 2
            and r["bits"] <= 12 and not r.get("colour")]
    rows.sort(key=lambda r: r["best"] / r["medroi_0_0"])
    mid = len(rows) // 2
    chosen = rows[: args.worst] + rows[mid - args.typical // 2: mid - args.typical // 2 + args.typical]
    out = []
    for r in chosen:
        path = find_image(r["name"])
        if path is None:
            print(f"skip {r['name']}: not found under {DATA_ROOT}", file=sys.stderr)
            continue
        a = np.asarray(read_image(path).array)
        if a.ndim != 2:
            continue
        a = a.astype(np.int64) - int(a.min())
        act, ctx = ideal_bytes(a, 6, 8.0)
        row = {"image": r["name"], "bits": r["bits"], "jpegxl_e7": r["jpegxl_e7"], "best_classical": r["best"],
               "medroi_0_0": r["medroi_0_0"], "ideal_activity": round(act), "ideal_exact_differences": round(ctx)}
        out.append(row)
        print(json.dumps(row), flush=True)
    lines = ["# 2D: ideal code lengths with activity contexts vs exact-difference contexts", "",
             "`python benchmarks/yardstick_gradient_contexts.py` (MED residual, adaptive histograms; ideal bytes, "
             "no header). Ratios: JPEG XL e7 bytes / model bytes (> 1: the model beats JPEG XL e7).", "",
             "| image | bits | JPEG XL e7 | medroi (0,0) | ideal, activity | ideal, exact differences | "
             "e7 / medroi | e7 / exact differences |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for x in out:
        lines.append(f"| {x['image']} | {x['bits']} | {x['jpegxl_e7']:,} | {x['medroi_0_0']:,} | {x['ideal_activity']:,} "
                     f"| {x['ideal_exact_differences']:,} | {x['jpegxl_e7'] / x['medroi_0_0']:.3f} "
                     f"| {x['jpegxl_e7'] / x['ideal_exact_differences']:.3f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "yardstick_gradient_contexts.json").write_text(json.dumps(out, indent=1))
    (args.out / "yardstick_gradient_contexts.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
