"""Does the network predictor pay? medroi's file size with the classical and the network predictor.

    python benchmarks/bench_network_predictor.py              # 4 BRATS volumes + 6 X-rays (~30 min here)
    python benchmarks/bench_network_predictor.py --quick      # 1 BRATS volume + 2 X-rays
    python benchmarks/bench_network_predictor.py --brats 2 --xrays 3

Per image: ``medroi.codec.compress`` at (0,0) and (0,4) (ROI = BRATS seg 1,2,4 / X-ray
lungs) with ``predictor=None`` and with the shipped network of that kind
(``medroi.networks.runtime.load_model``); every file decoded and checked. The network
file holds the latent of each slice next to the residuals; the ratio network / classical
> 1 means the network costs more than it saves. Writes results/network_predictor.{md,json}.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import codecs_all as A  # noqa: E402

POINTS = ((0, 0), (0, 4))


def pick(n_brats: int, n_xrays: int) -> list[A.Item]:
    """BRATS FLAIR / T1ce volumes from both folders (smooth and hard cases) and X-rays with lungs."""
    brats = {i.name: i for i in A.discover(A.DATA_ROOT, ("brats",))}
    names = ["Brats18_TCIA01_201_1_flair", "Brats18_2013_11_1_flair", "Brats18_CBICA_AQT_1_t1ce",
             "Brats18_TCIA10_628_1_flair"]
    xrays = [i for i in A.discover(A.DATA_ROOT, ("xray",))
             if (A.DATA_ROOT / "xray" / "masks" / f"{i.name}_lungs.png").is_file()]
    chosen = [brats[n] for n in names if n in brats][:n_brats]
    return chosen + A.select(xrays, n_xrays)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 BRATS volume, 2 X-rays")
    ap.add_argument("--brats", type=int, default=4, help="BRATS volumes (of 4 chosen: smooth and hard cases)")
    ap.add_argument("--xrays", type=int, default=6, help="X-rays with lung masks (spread over the list)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    import medroi.codec as mc
    from medroi.networks.runtime import load_model

    nets = {"brats": load_model(None, "nifti"), "xray": load_model(None, "png")}
    rows = []
    for item in pick(1 if args.quick else args.brats, 2 if args.quick else args.xrays):
        array, roi = item.load()
        row = {"group": item.group, "name": item.name, "shape": list(array.shape)}
        for rb, nb in POINTS:
            for label, pred in (("classical", None), ("network", nets[item.group])):
                t = time.perf_counter()
                data = mc.compress(array, roi, roi_max_error=rb, nroi_max_error=nb, predictor=pred)
                dec = np.asarray(mc.decompress(data, predictor=pred).array)
                err = np.abs(dec.astype(np.int64) - array.astype(np.int64))
                assert err[roi].max(initial=0) <= rb and err.max() <= nb, "bound broken"
                row[f"{label}_{rb}_{nb}"] = len(data)
                row[f"seconds_{label}_{rb}_{nb}"] = round(time.perf_counter() - t, 1)
            row[f"ratio_{rb}_{nb}"] = row[f"network_{rb}_{nb}"] / row[f"classical_{rb}_{nb}"]
        rows.append(row)
        print(item.name, {k: v for k, v in row.items() if k.startswith("ratio")}, flush=True)
    totals = {f"{rb}_{nb}": {g: sum(r[f"network_{rb}_{nb}"] for r in rows if r["group"] == g)
                             / sum(r[f"classical_{rb}_{nb}"] for r in rows if r["group"] == g)
                             for g in dict.fromkeys(r["group"] for r in rows)} for rb, nb in POINTS}
    meta = {"command": "python benchmarks/bench_network_predictor.py " + " ".join(sys.argv[1:] if argv is None
                                                                                   else argv),
            "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "models": {k: f"{v.model.name} (sha256 {v.model.sha256[:12]})" for k, v in nets.items()}}
    stem = "network_predictor_quick" if args.quick else "network_predictor"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps({"meta": meta, "totals": totals, "rows": rows}, indent=1))
    L = ["# medroi file size: network predictor vs classical predictor", "",
         f"- command: `{meta['command'].strip()}`", f"- date: {meta['date']}",
         f"- models: {', '.join(f'{k}: {v}' for k, v in meta['models'].items())}", "",
         "Bytes of the .mroi stream (`medroi.codec.compress`, decoded and checked); ratio = network / "
         "classical (> 1: the network's file is larger). ROI = BRATS seg labels 1,2,4 / X-ray lungs.", "",
         "| group | image | classical (0,0) | network (0,0) | ratio | classical (0,4) | network (0,4) | ratio |",
         "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        L.append(f"| {r['group']} | {r['name']} | {r['classical_0_0']} | {r['network_0_0']} | {r['ratio_0_0']:.3f} | "
                 f"{r['classical_0_4']} | {r['network_0_4']} | {r['ratio_0_4']:.3f} |")
    L += ["", "Totals (network bytes / classical bytes): " + "; ".join(
        f"({p.replace('_', ',')}) " + ", ".join(f"{g} {v:.3f}" for g, v in t.items()) for p, t in totals.items()), ""]
    (args.out / f"{stem}.md").write_text("\n".join(L))
    print("\n".join(L[-2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
