"""Already-compressed inputs: .mroi bytes against the user's file, for every JPEG radiograph.

    python benchmarks/bench_kept_source.py [--roi auto|none]

Runs ``medroi.api.compress_file`` (default bounds: the ROI exact, the rest within the default
bound; ``--roi auto`` with the X-ray model) on every ``*.jpg`` in ../shared/data/xray/images and
reports what was stored (the input file kept byte-exact, or the coded pixels) and
``cr_vs_input_file`` (input bytes / .mroi bytes), with the worst image named. Every file is
decoded and its pixels checked against what compress read. Writes results/kept_source_<roi>.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

import medroi
from medroi import api, codec
from medroi.errors import MedroiError
from medroi.io import read_image

HERE = Path(__file__).resolve().parent
DATA_ROOT = Path(os.environ.get("MEDROI_DATA", HERE.parents[1] / "shared" / "data"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roi", choices=["auto", "none"], default="auto")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    images = sorted((DATA_ROOT / "xray" / "images").glob("*.jpg"))
    if not images:
        print(f"no JPEG radiographs under {DATA_ROOT / 'xray' / 'images'}", file=sys.stderr)
        return 1
    model = "xray_roi_compression" if args.roi == "auto" else None
    rows, refused = [], []
    with tempfile.TemporaryDirectory() as folder:
        for path in images:
            out = Path(folder) / (path.name + ".mroi")
            try:
                result = api.compress_file(path, out, roi=args.roi, model=model)
            except MedroiError as error:  # e.g. a colour JPEG: the models take one channel
                refused.append({"image": path.name, "error": str(error).split(":")[-1].strip()})
                continue
            decoded = codec.decompress(out.read_bytes())
            pixels = read_image(path).array
            error = np.abs(decoded.array.astype(np.int64) - pixels.astype(np.int64))
            bound = result.get("nroi_max_error") or 0
            assert error[decoded.roi_mask].max(initial=0) == 0 and error.max(initial=0) <= bound, path.name
            rows.append({"image": path.name, "input_bytes": path.stat().st_size, "mroi_bytes": out.stat().st_size,
                         "stored": "input file" if result["stored"] != "pixels" else "pixels",
                         "cr_vs_input_file": result["cr_vs_input_file"]})
            print(json.dumps(rows[-1]), flush=True)
    kept = [r for r in rows if r["stored"] == "input file"]
    worst = min(rows, key=lambda r: r["cr_vs_input_file"])
    summary = {"images": len(rows), "kept": len(kept), "refused": refused,
               "total_input_bytes": sum(r["input_bytes"] for r in rows),
               "total_mroi_bytes": sum(r["mroi_bytes"] for r in rows),
               "worst": worst["image"], "worst_cr_vs_input_file": worst["cr_vs_input_file"],
               "kept_overhead_bytes": [min(r["mroi_bytes"] - r["input_bytes"] for r in kept),
                                       max(r["mroi_bytes"] - r["input_bytes"] for r in kept)] if kept else None}
    command = "python benchmarks/bench_kept_source.py --roi " + args.roi
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"kept_source_{args.roi}"
    stem.with_suffix(".json").write_text(json.dumps({"command": command, "medroi": medroi.__version__,
                                                     "summary": summary, "rows": rows}, indent=1))
    lines = [f"# Already-compressed radiographs: .mroi against the input JPEG (`--roi {args.roi}`)", "",
             f"`{command}` (medroi {medroi.__version__}); default bounds; every file decoded and checked.", "",
             f"{len(rows)} JPEGs ({len(refused)} refused: {', '.join(r['image'] for r in refused) or '-'}); "
             f"{len(kept)} kept byte-exact; total {summary['total_input_bytes']:,} B in, "
             f"{summary['total_mroi_bytes']:,} B out; worst cr_vs_input_file {worst['cr_vs_input_file']:.3f} "
             f"({worst['image']}).", "",
             "| image | input bytes | .mroi bytes | stored | cr_vs_input_file |", "|---|---:|---:|---|---:|"]
    lines += [f"| {r['image']} | {r['input_bytes']:,} | {r['mroi_bytes']:,} | {r['stored']} | {r['cr_vs_input_file']:.3f} |"
              for r in rows]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:6]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
