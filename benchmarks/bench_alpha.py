"""Table 1 of the paper, re-measured: the effect of alpha (beta = 1 - alpha) in paper mode.

For each dataset (BRATS, X-rays) and each alpha in 0.1 .. 0.9:

1. the U-Net is trained once per dataset (stage "seg" of ``medroi.networks.training.fit``)
   and then frozen, as the paper says;
2. the autoencoder is trained from the same initial weights with Eq. 1 at that alpha
   (``medroi.losses.JointLoss(stage="ae", alpha=...)`` through ``training.fit``);
3. the trained net is wrapped as a codec predictor and every validation image is
   compressed in **paper mode** (``medroi.codec.compress(..., roi_max_error=None,
   nroi_max_error=None, predictor=...)``: latent + ROI mask only, no residual), then
   decompressed; ROI/NROI PSNR (MAX = dynamic range of the volume / image, squared errors
   pooled over the region) and CR (raw native bytes / real coded bytes) come from that
   round trip, never from a proxy.

Training runs at a reduced scale (the CLI options; the defaults are written into the
result), on one thread, from caches of 256 x 256 slices built by the project's
``training.build_brats_cache`` / ``build_xray_cache`` in a scratch folder (never in the repo).

Writes benchmarks/results/alpha.{md,png,json} (``--quick``: alpha_quick.*).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from bench_codecs import Stats, _gray, git_rev, machine  # noqa: E402

ALPHAS = tuple(round(0.1 * i, 1) for i in range(1, 10))
BRATS_ROI_LABELS = (1, 2, 4)

# the paper's Table 1 as printed (../shared/docs/method.md): alpha -> (ROI PSNR, NROI PSNR, CR)
PAPER = {
    "xray": {0.1: (8.16, 63.18, 20.12), 0.2: (12.24, 59.32, 18.73), 0.3: (18.62, 54.82, 16.81),
             0.4: (24.16, 51.11, 15.22), 0.5: (30.66, 49.82, 13.82), 0.6: (38.12, 47.53, 12.18),
             0.7: (49.07, 46.74, 9.68), 0.8: (56.07, 45.12, 6.73), 0.9: (59.16, 43.62, 5.18)},
    "brats": {0.1: (8.23, 63.8, 56.58), 0.2: (13.02, 56.59, 53.97), 0.3: (17.73, 49.87, 52.56),
              0.4: (24.35, 43.87, 50.32), 0.5: (33.4, 38.75, 47.67), 0.6: (41.96, 33.47, 46.89),
              0.7: (47.3, 31.53, 46.18), 0.8: (58.31, 27.58, 45.53), 0.9: (64.05, 22.41, 45.42)},
}
LABEL = {"brats": "BRATS", "xray": "X-ray (CLEF in the paper)"}


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


# ---------------------------------------------------------------------------------------
# the trained net as a codec model (name, sha256, numpy encode/decode)
# ---------------------------------------------------------------------------------------


class TorchNetModel:
    """Wraps an in-memory JointNet (eval mode, no grad) with the codec's model interface."""

    def __init__(self, net, name: str):
        import torch

        self._torch = torch
        self.net = net.eval()
        self.name = name
        h = hashlib.sha256()
        for key, value in net.state_dict().items():
            h.update(key.encode())
            h.update(value.detach().cpu().numpy().tobytes())
        self.sha256 = h.hexdigest()

    def _t(self, a: np.ndarray):
        return self._torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[:, None]

    def segment(self, unit: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self.net.segment(self._t(unit))[:, 0].numpy()

    def encode(self, unit: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self.net.encode(self._t(unit), self._t(mask))[:, 0].numpy().astype(np.int32)

    def decode(self, latent: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            lat = self._torch.from_numpy(np.ascontiguousarray(latent, dtype=np.int32))[:, None]
            return self.net.decode(lat)[:, 0].numpy().astype(np.float32)


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------


def val_units(dataset: str, n_val_xray: int, quick: bool, xray_size: int, modalities=None) -> list[dict]:
    """Validation images at native dtype with their ground-truth ROI."""
    from medroi import data as D
    from medroi.io import read_image, read_mask

    units = []
    if dataset == "brats":
        cases = D.brats_cases(split="val")
        for case in cases[-1:] if quick else cases:
            roi = None
            for mod in ("flair",) if quick else (modalities or D.BRATS_MODALITIES):
                img = read_image(case[mod]).array
                if roi is None:
                    roi = read_mask(case["seg"], labels=BRATS_ROI_LABELS, shape=img.shape)
                units.append({"name": f"{case['case']}_{mod}", "array": img, "roi": roi})
    else:
        from PIL import Image

        for item in D.xray_cases(split="val", n_val=n_val_xray):
            with Image.open(item["image"]) as im:
                arr = _gray(np.asarray(im))
            with Image.open(item["mask"]) as im:
                m = np.asarray(im)
            m = (m.any(axis=-1) if m.ndim == 3 else m > 0).astype(np.uint8) * 255
            if xray_size:  # the paper's 256 x 256 input (the codec itself never down-samples)
                arr = np.asarray(Image.fromarray(arr).resize((xray_size, xray_size), Image.BILINEAR))
                m = np.asarray(Image.fromarray(m).resize((xray_size, xray_size), Image.NEAREST))
            units.append({"name": item["name"], "array": np.ascontiguousarray(arr), "roi": m > 127})
            if quick and len(units) >= 2:
                break
    return units


def train_cache(dataset: str, workdir: Path, n_val_xray: int, quick: bool) -> Path:
    from medroi import data as D
    from medroi.networks import training as T

    out = workdir / f"{dataset}{'_quick' if quick else ''}_cache.npz"
    if out.exists():
        return out
    t = time.time()
    if dataset == "brats":
        cases = [Path(c["flair"]).parent for c in D.brats_cases(split="train")]
        T.build_brats_cache(cases[:2] if quick else cases, out)
    else:
        items = [(Path(c["image"]), Path(c["mask"])) for c in D.xray_cases(split="train", n_val=n_val_xray)]
        T.build_xray_cache(items, out)
    log(f"built {out} in {time.time() - t:.0f} s")
    return out


# ---------------------------------------------------------------------------------------
# evaluation through the real codec
# ---------------------------------------------------------------------------------------


def evaluate(model: TorchNetModel, units: list[dict]) -> dict:
    import medroi.codec as mc
    from medroi.codec.predictors import NetworkPredictor

    pred = NetworkPredictor(model)
    st = Stats("medroi paper", "paper", None, None, 0)
    t0 = time.time()
    for u in units:
        arr, roi = u["array"], u["roi"]
        rng = float(arr.max()) - float(arr.min())
        data = mc.compress(arr, roi_mask=roi, roi_max_error=None, nroi_max_error=None, predictor=pred)
        dec = np.asarray(mc.decompress(data, predictor=pred).array)
        if arr.ndim == 2:
            st.add_errors(arr, dec, roi, rng)
        else:
            for z in range(arr.shape[-1]):
                st.add_errors(arr[..., z], dec[..., z], roi[..., z], rng)
        st.raw_bytes += arr.size * arr.itemsize
        st.comp_bytes += len(data)
        st.pixels += arr.size
        st.slices += 1 if arr.ndim == 2 else arr.shape[-1]
    r = st.row()
    return {"cr": r["cr"], "bpp": r["bpp"], "psnr_roi": r["psnr_roi"], "psnr_nroi": r["psnr_nroi"],
            "max_err_roi": r["max_err_roi"], "max_err_nroi": r["max_err_nroi"], "raw_bytes": r["raw_bytes"],
            "compressed_bytes": r["compressed_bytes"], "slices": r["slices"], "eval_seconds": round(time.time() - t0, 1)}


def dice_of(model: TorchNetModel, units: list[dict]) -> float:
    """Whole-ROI Dice of the frozen U-Net (prob > 0.5) on the validation units (per-image window)."""
    from medroi.intensity import integer_window, to_unit
    from medroi.networks.runtime import _pad_to_multiple

    inter = total = 0
    for u in units:
        arr, roi = u["array"], u["roi"]
        sl = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
        gt = roi[None] if roi.ndim == 2 else np.moveaxis(roi, -1, 0)
        lo, hi = integer_window(arr)
        h, w = sl.shape[1:]
        for s in range(0, sl.shape[0], 16):
            p = model.segment(_pad_to_multiple(to_unit(sl[s:s + 16], lo, hi)))[:, :h, :w] > 0.5
            inter += int(np.logical_and(p, gt[s:s + 16]).sum())
            total += int(p.sum() + gt[s:s + 16].sum())
    return 2 * inter / total if total else 1.0


# ---------------------------------------------------------------------------------------
# sweep
# ---------------------------------------------------------------------------------------


def run_dataset(dataset: str, args, workdir: Path, results: dict, save) -> None:
    import torch

    from medroi.networks import training as T
    from medroi.networks.joint import JointNet

    units = val_units(dataset, args.n_val_xray, args.quick, args.xray_size, args.brats_modalities.split(","))
    log(f"{dataset}: {len(units)} validation images/volumes")
    cache = train_cache(dataset, workdir, args.n_val_xray, args.quick)
    ds = T.SliceDataset(str(cache), crop=args.crop)
    entry = results["datasets"].setdefault(dataset, {"rows": []})
    entry.update({"train_slices": len(ds), "val_units": [u["name"] for u in units]})

    torch.manual_seed(0)
    net = JointNet()
    t = time.time()
    if args.unet_from_shipped or args.ae_from_shipped:  # the shipped bundle's U-Net weights, frozen
        bundle = {"brats": "brats_mri_roi_compression", "xray": "xray_roi_compression"}[dataset]
        path = REPO / "bundles" / bundle / "models" / "model.pt"
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        # --ae-from-shipped: every alpha fine-tunes the shipped autoencoder; else it starts fresh
        seg = state if args.ae_from_shipped else {k: v for k, v in state.items() if k.startswith("seg.")}
        missing = net.load_state_dict(seg, strict=False)
        if any(k.startswith("seg.") for k in missing.missing_keys):
            raise SystemExit(f"{path}: U-Net weights do not fit JointNet(): {missing.missing_keys[:3]}")
        import hashlib as _h

        entry["unet"] = f"shipped {bundle}/models/model.pt (sha256 {_h.sha256(path.read_bytes()).hexdigest()[:12]})"
        if args.ae_from_shipped:
            entry["unet"] += "; autoencoder initialised from the same shipped weights for every alpha"
        entry["seg_seconds"] = 0.0
    else:
        T.fit(net, ds, "seg", args.seg_steps, args.batch_size, args.lr, {}, log)
        entry["unet"] = f"trained here, {args.seg_steps} steps"
        entry["seg_seconds"] = round(time.time() - t, 1)
    base = {k: v.clone() for k, v in net.state_dict().items()}
    entry["unet_dice_val"] = dice_of(TorchNetModel(net, "seg"), units)
    log(f"{dataset}: U-Net ({entry['unet']}) in {entry['seg_seconds']} s, val Dice {entry['unet_dice_val']:.3f}")
    save()

    done = {r["alpha"] for r in entry["rows"]}
    for alpha in args.alphas:
        if alpha in done:
            continue
        net.load_state_dict(base)  # same frozen U-Net, same initial autoencoder for every alpha
        t = time.time()
        hist = T.fit(net, ds, "ae", args.ae_steps, args.batch_size, args.lr,
                     {"alpha": alpha, "rate_weight": args.rate_weight}, None)
        train_s = time.time() - t
        row = {"alpha": alpha, "beta": round(1 - alpha, 1), "train_seconds": round(train_s, 1),
               "final_loss": hist[-1] if hist else None}
        row.update(evaluate(TorchNetModel(net, f"alpha{alpha}"), units))
        p = PAPER[dataset][alpha]
        row.update({"paper_psnr_roi": p[0], "paper_psnr_nroi": p[1], "paper_cr": p[2]})
        entry["rows"].append(row)
        log(f"{dataset} alpha {alpha}: ROI {row['psnr_roi']:.2f} dB NROI {row['psnr_nroi']:.2f} dB "
            f"CR {row['cr']:.2f} (train {train_s:.0f} s, eval {row['eval_seconds']} s)")
        save()


def _f(v, fmt="{:.2f}") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return fmt.format(v)


def _trend(x: list, y: list) -> str:
    """'rises' / 'falls' / 'flat' by the Spearman correlation of y with x."""
    y = [v if v is not None and math.isfinite(v) else float("nan") for v in y]
    if len(x) < 3 or any(math.isnan(v) for v in y):
        return "n/a"
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    rho = float(np.corrcoef(rx, ry)[0, 1]) if np.std(ry) > 0 else 0.0
    return f"{'rises' if rho >= 0.3 else 'falls' if rho <= -0.3 else 'flat'} (rho {rho:+.2f})"


def write_markdown(path: Path, res: dict) -> None:
    m, a = res["meta"], res["meta"]["args"]
    L = [
        "# Table 1 re-measured: alpha in Eq. 1, paper mode (latent + ROI mask only, no residual)",
        "",
        f"- command: `{m['command']}`",
        f"- date: {m['date']}; git {m['git']}; torch {m['torch']}; wall time {m.get('wall_minutes', '-')} min "
        "(a run of some datasets keeps the others from the previous result; each section names its run)",
        f"- machine: {m['machine']} (shared with other jobs); training on 1 thread",
        "",
        "**Training scale (reduced, far below a real training run):** per dataset the U-Net is trained once "
        "(or taken from the shipped bundle: each section says which) and frozen; then for each alpha the autoencoder is trained from the same "
        f"initial weights for {a['ae_steps']} steps (Adam, lr {a['lr']}, cosine decay, batch {a['batch_size']} "
        f"random {a['crop']} x {a['crop']} crops of 256 x 256 cached slices, flips), loss = Eq. 1 with beta = 1 - alpha "
        f"and the soft-histogram entropy rate term (weight {a['rate_weight']}), via `medroi.networks.training.fit` / "
        "`medroi.losses.JointLoss`. So every alpha gets the same small budget: the table shows the trend "
        "alpha causes at this scale, not what a fully trained network reaches.",
        "",
        "**Evaluation:** every validation image is compressed by `medroi.codec.compress` in paper mode "
        "(`roi_max_error=None, nroi_max_error=None`, the trained net as `NetworkPredictor`) with the "
        "ground-truth ROI as the stored mask, and decompressed. PSNR: MAX = dynamic range (max - min) of the "
        "volume / image, squared errors pooled over the region. CR = raw native bytes / bytes of the .mroi "
        "file (latent + mask + header), no proxy.",
        "",
    ]
    for ds in sorted(res["datasets"], key=lambda d: d != "brats"):
        entry = res["datasets"][ds]
        run = entry.get("run") or {}
        a = run.get("args") or res["meta"]["args"]
        rows = sorted(entry["rows"], key=lambda r: r["alpha"])
        if ds == "brats":
            data = (f"BRATS validation cases (last 2 sorted): {len(entry['val_units'])} volumes "
                    f"({a['brats_modalities']}; fewer modalities than codecs.md for run time), "
                    f"ROI = whole tumor (labels 1, 2, 4); training cache: {entry['train_slices']} slices of the 8 "
                    "training cases (all tumor slices + 16 random brain slices per volume, 4 modalities).")
        else:
            size = a["xray_size"]
            data = (f"X-ray validation images (`medroi.data.xray_cases(split='val', n_val={a['n_val_xray']})`): "
                    f"{len(entry['val_units'])} images, ROI = lung mask, "
                    + (f"resized to {size} x {size} uint8 as the paper's input (CR against those {size} x {size} "
                       "bytes); " if size else "at native resolution; ")
                    + f"training cache: {entry['train_slices']} training X-rays at 256 x 256. "
                    "Web-sourced chest X-rays, not the paper's CLEF MED 2009 set.")
        L += [f"## {LABEL[ds]}", "",
              f"Run: `{run.get('command', m['command'])}` on {run.get('date', m['date'])} (git {run.get('git', m['git'])}, "
              f"{run.get('wall_minutes', '-')} min wall); U-Net {entry.get('unet', str(a['seg_steps']) + ' steps')}, autoencoder {a['ae_steps']} steps "
              f"per alpha, batch {a['batch_size']}, crop {a['crop']}, lr {a['lr']}, rate weight {a['rate_weight']}."
              + (f" Note: {run['note']}" if run.get("note") else ""), "",
              data, "",
              f"Frozen U-Net ({entry.get('unet', 'trained here, ' + str(a['seg_steps']) + ' steps')}): validation Dice "
              f"{_f(entry.get('unet_dice_val'), '{:.3f}')} (it conditions the autoencoder in training; the stored mask "
              "in evaluation is the ground truth).", "",
              "| alpha | beta | ROI PSNR (dB) | NROI PSNR (dB) | CR | bits/px | max err ROI / NROI | paper ROI PSNR | paper NROI PSNR | paper CR |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            L.append(f"| {r['alpha']} | {r['beta']} | {_f(r['psnr_roi'])} | {_f(r['psnr_nroi'])} | {_f(r['cr'])} | "
                     f"{_f(r['bpp'], '{:.3f}')} | {r['max_err_roi']} / {r['max_err_nroi']} | {r['paper_psnr_roi']} | "
                     f"{r['paper_psnr_nroi']} | {r['paper_cr']} |")
        if len(rows) >= 2:
            lo, hi = rows[0], rows[-1]
            L += ["", f"Measured from alpha {lo['alpha']} to {hi['alpha']}: ROI PSNR {_f(lo['psnr_roi'])} -> "
                  f"{_f(hi['psnr_roi'])} dB, NROI PSNR {_f(lo['psnr_nroi'])} -> {_f(hi['psnr_nroi'])} dB, CR "
                  f"{_f(lo['cr'])} -> {_f(hi['cr'])}; the paper prints {lo['paper_psnr_roi']} -> {hi['paper_psnr_roi']}, "
                  f"{lo['paper_psnr_nroi']} -> {hi['paper_psnr_nroi']} and {lo['paper_cr']} -> {hi['paper_cr']}."]
            L += ["", "Trend over alpha (sign of the Spearman correlation, |rho| < 0.3 = flat): "
                  + "; ".join(f"{name} measured {_trend([r['alpha'] for r in rows], [r[k] for r in rows])}, paper "
                              f"{_trend([r['alpha'] for r in rows], [r['paper_' + k] for r in rows])}"
                              for name, k in (("ROI PSNR", "psnr_roi"), ("NROI PSNR", "psnr_nroi"), ("CR", "cr"))) + "."]
        L.append("")
    L += ["The paper's table is a weak anchor (../shared/docs/method.md: an 8 dB ROI PSNR at alpha 0.1 is noise, "
          "and a CR falling 4x with alpha on a fixed 32 x 32 x 1 code is unexplained); the near-lossless anchors "
          "are in codecs.md.", ""]
    path.write_text("\n".join(L))


def write_plot(path: Path, res: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dsets = [d for d in ("brats", "xray") if d in res["datasets"] and res["datasets"][d]["rows"]]
    if not dsets:
        return
    fig, axes = plt.subplots(len(dsets), 2, figsize=(11, 4 * len(dsets)), squeeze=False)
    for i, ds in enumerate(dsets):
        rows = sorted(res["datasets"][ds]["rows"], key=lambda r: r["alpha"])
        al = [r["alpha"] for r in rows]
        ax = axes[i][0]
        ax.plot(al, [r["psnr_roi"] for r in rows], "o-", color="C3", label="ROI PSNR (measured)")
        ax.plot(al, [r["psnr_nroi"] for r in rows], "o-", color="C0", label="NROI PSNR (measured)")
        ax.plot(al, [r["paper_psnr_roi"] for r in rows], "x--", color="C3", alpha=0.6, label="ROI PSNR (paper)")
        ax.plot(al, [r["paper_psnr_nroi"] for r in rows], "x--", color="C0", alpha=0.6, label="NROI PSNR (paper)")
        ax.set_xlabel("alpha (beta = 1 - alpha)")
        ax.set_ylabel("PSNR (dB, MAX = dynamic range)")
        ax.set_title(f"{LABEL[ds]}: PSNR, paper mode")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax = axes[i][1]
        ax.plot(al, [r["cr"] for r in rows], "o-", color="C2", label="CR (measured, real bytes)")
        ax.plot(al, [r["paper_cr"] for r in rows], "x--", color="C2", alpha=0.6, label="CR (paper)")
        ax.set_xlabel("alpha")
        ax.set_ylabel("compression ratio")
        ax.set_yscale("log")
        ax.set_title(f"{LABEL[ds]}: CR")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="brats,xray")
    ap.add_argument("--alphas", default=",".join(str(a) for a in ALPHAS))
    ap.add_argument("--seg-steps", type=int, default=200)
    ap.add_argument("--ae-steps", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--rate-weight", type=float, default=0.01)
    ap.add_argument("--brats-modalities", default="flair,t1ce",
                    help="modalities of the 2 BRATS validation cases to evaluate (run time: ~15 s per volume per alpha)")
    ap.add_argument("--n-val-xray", type=int, default=4, help="last N sorted X-rays held out (as the X-ray bundle)")
    ap.add_argument("--xray-size", type=int, default=256, help="resize validation X-rays (0 = native resolution)")
    ap.add_argument("--workdir", default=None, help="scratch folder for slice caches (default: a temp folder)")
    ap.add_argument("--unet-from-shipped", action="store_true",
                    help="take the frozen U-Net from the shipped bundle's model.pt instead of training one")
    ap.add_argument("--ae-from-shipped", action="store_true",
                    help="also start every alpha's autoencoder from the shipped bundle's (fine-tuning, not from scratch)")
    ap.add_argument("--render", action="store_true", help="only re-render the .md/.png from the .json")
    ap.add_argument("--quick", action="store_true", help="tiny run (alphas 0.2,0.8; few steps): alpha_quick.*")
    args = ap.parse_args(argv)
    if args.quick:
        args.alphas = "0.2,0.8"
        args.seg_steps, args.ae_steps = min(args.seg_steps, 20), min(args.ae_steps, 20)
    args.alphas = [round(float(a), 2) for a in args.alphas.split(",")]

    out_dir = HERE / "results"
    stem = "alpha_quick" if args.quick else "alpha"
    if args.render:
        res = json.loads((out_dir / f"{stem}.json").read_text())
        write_markdown(out_dir / f"{stem}.md", res)
        write_plot(out_dir / f"{stem}.png", res)
        return 0

    import torch

    torch.set_num_threads(1)
    workdir = Path(args.workdir or Path(tempfile.gettempdir()) / "medroi_bench_alpha")
    workdir.mkdir(parents=True, exist_ok=True)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stem = "alpha_quick" if args.quick else "alpha"
    t_start = time.time()
    res = {"meta": {"command": "python benchmarks/bench_alpha.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
                    "date": _dt.datetime.now().isoformat(timespec="seconds"), "git": git_rev(), "machine": machine(),
                    "torch": torch.__version__, "args": {k: v for k, v in vars(args).items() if k != "workdir"}},
           "datasets": {}}

    ours = [d.strip() for d in args.datasets.split(",")]

    def save() -> None:
        res["meta"]["wall_minutes"] = round((time.time() - t_start) / 60, 1)
        for ds in ours:
            if ds in res["datasets"]:
                res["datasets"][ds]["run"] = {k: res["meta"][k] for k in ("command", "date", "git", "wall_minutes", "args")}
        # a run of some datasets keeps the other datasets of the last result (one table, several runs)
        path = out_dir / f"{stem}.json"
        if path.exists():
            try:
                old = json.loads(path.read_text())
                for ds, entry in old.get("datasets", {}).items():
                    if ds not in ours:
                        entry.setdefault("run", {k: old["meta"].get(k) for k in ("command", "date", "git", "wall_minutes", "args")})
                        res["datasets"][ds] = entry
            except (OSError, ValueError, KeyError):
                pass
        path.write_text(json.dumps(res, indent=1))
        write_markdown(out_dir / f"{stem}.md", res)
        try:
            write_plot(out_dir / f"{stem}.png", res)
        except Exception as exc:  # the numbers matter more than the picture
            log(f"plot failed: {exc}")

    for ds in args.datasets.split(","):
        run_dataset(ds.strip(), args, workdir, res, save)
    save()
    log(f"done in {(time.time() - t_start) / 60:.1f} min -> {out_dir / stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
