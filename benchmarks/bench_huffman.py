"""Huffman (the paper's coder) against ANS on whole BRATS volumes: bytes per volume and in total.

    python benchmarks/bench_huffman.py [--cases N] [--modalities flair t1ce]

ROI = the case's seg (labels > 0); bounds (0, 0) and (0, 4); every stream is decoded and
checked (lossless bit-exact, bounds held). Writes results/huffman.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np

import medroi
import medroi.codec as codec

HERE = Path(__file__).resolve().parent
DATA_ROOT = Path(os.environ.get("MEDROI_DATA", HERE.parents[1] / "shared" / "data"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=0, help="first N cases by name (0: all)")
    parser.add_argument("--modalities", nargs="+", default=["flair", "t1ce"])
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    cases = sorted(p for root in ("brats", "brats_extra") for p in (DATA_ROOT / root).glob("Brats18_*") if p.is_dir())
    if not cases:
        raise SystemExit(f"no BRATS cases under {DATA_ROOT}")
    cases = cases[: args.cases] if args.cases else cases
    rows = []
    for case in cases:
        roi = np.asarray(nib.load(case / f"{case.name}_seg.nii.gz").dataobj) > 0
        for modality in args.modalities:
            volume = np.asarray(nib.load(case / f"{case.name}_{modality}.nii.gz").dataobj)
            row = {"volume": f"{case.name}_{modality}"}
            for bounds in ((0, 0), (0, 4)):
                for entropy in ("ans", "huffman"):
                    start = time.process_time()
                    data = codec.compress(volume, roi, *bounds, entropy=entropy)
                    error = np.abs(codec.decompress(data).array.astype(np.int64) - volume)
                    assert error[roi].max(initial=0) == 0 and error.max() <= bounds[1], (row, bounds, entropy)
                    row[f"{entropy}_{bounds[0]}_{bounds[1]}"] = len(data)
                    row[f"{entropy}_{bounds[0]}_{bounds[1]}_cpu_s"] = round(time.process_time() - start, 2)
            rows.append(row)
            print(row["volume"], *(f"{b}: {row[f'huffman_{b}'] / row[f'ans_{b}']:.3f}" for b in ("0_0", "0_4")),
                  flush=True)
    summary = {}
    for b in ("0_0", "0_4"):
        ratios = {r["volume"]: r[f"huffman_{b}"] / r[f"ans_{b}"] for r in rows}
        worst = max(ratios, key=ratios.get)
        summary[b] = {"total": sum(r[f"huffman_{b}"] for r in rows) / sum(r[f"ans_{b}"] for r in rows),
                      "worst": worst, "worst_ratio": ratios[worst], "best_ratio": min(ratios.values())}
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"command": "python benchmarks/bench_huffman.py " + " ".join(sys.argv[1:]),
              "medroi": medroi.__version__, "rows": rows, "summary": summary}
    (args.out / "huffman.json").write_text(json.dumps(result, indent=1))
    lines = [f"# Huffman / ANS bytes on {len(rows)} BRATS volumes (medroi {medroi.__version__})", "",
             f"`{result['command']}`; ROI = seg, tumour exact; every stream decoded and checked.", "",
             "| bounds | Huffman / ANS, total | worst volume | best |", "|---|---:|---|---:|"]
    for b, s in summary.items():
        lines.append(f"| ({b.replace('_', ',')}) | {s['total']:.3f} | {s['worst']} {s['worst_ratio']:.3f} | "
                     f"{s['best_ratio']:.3f} |")
    lines += ["", "| volume | ANS (0,0) | Huffman (0,0) | ratio | ANS (0,4) | Huffman (0,4) | ratio |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['volume']} | {r['ans_0_0']:,} | {r['huffman_0_0']:,} | {r['huffman_0_0'] / r['ans_0_0']:.3f} | "
                     f"{r['ans_0_4']:,} | {r['huffman_0_4']:,} | {r['huffman_0_4'] / r['ans_0_4']:.3f} |")
    (args.out / "huffman.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:8]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
