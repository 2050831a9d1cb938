"""Cross-validated training of the ROI U-Nets (the segmentation half of JointNet).

One fixed schedule (iterations, batch, learning rate, augmentation) is run on k folds by
case, each scored on its held-out cases, then once on every case for the shipped weights:
no checkpoint is picked on cases it is scored on. Inputs go through the runtime's own
functions (:func:`medroi.autoroi.normalise.robust_unit`, :func:`medroi.autoroi.resample.to_model_grid`).

Held-out probabilities (model grid, float16) are saved per case so that the margin and the
plausibility limits can be chosen on the folds afterwards (``medroi.autoroi.calibrate``).

Run ``python -m medroi.networks.roi_cv --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from medroi.autoroi.evaluate import dice  # noqa: F401  (roi_calibrate and the benchmarks import it from here)
from medroi.autoroi.normalise import robust_unit, unit_input
from medroi.autoroi.resample import to_model_grid, to_native_grid

WHOLE_TUMOUR = (1, 2, 4)


# ----------------------------------------------------------------------------- data
def brats_case_dirs(data_root: Path) -> List[Path]:
    """Every BRATS case folder under brats/ and brats_extra/ (sorted by name)."""
    dirs = [p for sub in ("brats", "brats_extra") for p in (data_root / sub).glob("Brats*") if p.is_dir()]
    return sorted(dirs, key=lambda p: p.name)


def xray_pairs(data_root: Path) -> List[tuple]:
    """(name, image path, lung mask path) of the X-rays with lung masks (sorted by name)."""
    from medroi.data import xray_cases

    return [(c["name"], Path(c["image"]), Path(c["mask"])) for c in xray_cases(data_root)]


def lung_mask_complete(mask_path: Path) -> bool:
    """Whether a lung mask outlines both lungs (labels 1 = left, 2 = right, as the data's
    README says). Two of the 34 masks in ../shared/data hold one lung only: the other lung is
    there on the image but labelled background, so they neither train nor score the model."""
    from medroi.io import read_image

    return {1, 2} <= set(np.unique(read_image(mask_path).array).tolist())


def brats_input(volume: np.ndarray, size: int, normalise: str = "percentile") -> np.ndarray:
    """Model-grid slices [Z, size, size] of an (X, Y, Z) MR volume, normalised over the brain
    (``normalise``: the bundle's setting, :func:`medroi.autoroi.normalise.unit_input`)."""
    unit = unit_input(volume, normalise)
    return to_model_grid(np.moveaxis(unit, -1, 0), size)


def xray_input(array: np.ndarray, size: int, invert: bool = False) -> np.ndarray:
    """Model-grid image [1, size, size] of a 2D radiograph (robust over all pixels)."""
    unit = robust_unit(array, mask=np.ones(array.shape, bool), invert=invert)
    return to_model_grid(unit[None], size)


def brats_cache_name(case: str, modalities: Sequence[str] = ("flair",), normalise: str = "percentile") -> str:
    """The cache file of a case: FLAIR-only with percentiles keeps its old name, other inputs name
    their modalities and normalisation."""
    mods = tuple(modalities)
    name = case if mods == ("flair",) else f"{case}_{'+'.join(mods)}"
    return f"{name}.npz" if normalise == "percentile" else f"{name}_{normalise}.npz"


def cache_brats(case: Path, size: int, cache_dir: Path, modalities: Sequence[str] = ("flair",),
                normalise: str = "percentile") -> Path:
    """Cache a case's model-grid input, truth and slice flags. ``image`` is [Z, s, s] for FLAIR
    alone, else [M, Z, s, s] in the order of ``modalities``, each normalised on its own
    (:func:`brats_input`: percentiles over that modality's voxels above its own minimum)."""
    out = cache_dir / brats_cache_name(case.name, modalities, normalise)
    if out.exists():
        return out
    from medroi.io import read_image

    vol = read_image(next(case.glob("*_flair.nii*"))).array
    wt = np.isin(read_image(next(case.glob("*_seg.nii*"))).array, WHOLE_TUMOUR)
    if tuple(modalities) == ("flair",):
        image = brats_input(vol, size, normalise)
    else:
        planes = []
        for m in modalities:
            found = sorted(case.glob(f"*_{m}.nii*"))
            if not found:
                raise SystemExit(f"{case.name} has no {m} volume (*_{m}.nii*): drop it from --modalities")
            other = vol if m == "flair" else read_image(found[0]).array
            if other.shape != vol.shape:
                raise SystemExit(f"{case.name}: {m} is {other.shape}, FLAIR {vol.shape}: co-register them first")
            planes.append(brats_input(other, size, normalise))
        image = np.stack(planes)
    roi = to_model_grid(np.moveaxis(wt, -1, 0).astype(np.float32), size) > 0.5
    brain = (vol > vol.min()).sum(axis=(0, 1)) >= 300  # slices trained on: the FLAIR's brain
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, image=image.astype(np.float16), roi=roi, brain=brain, tumour=wt.any(axis=(0, 1)))
    return out


def brats_network_input(image: np.ndarray, context: int) -> np.ndarray:
    """[Z, s, s] or [M, Z, s, s] -> [Z, M x (1 + 2 context), s, s]: each modality's slice with its
    neighbours (:func:`medroi.autoroi.context.with_context`), modality-major."""
    from medroi.autoroi.context import with_context

    if image.ndim == 3:
        return with_context(image, context)
    return np.concatenate([with_context(plane, context) for plane in image], axis=1)


def cache_brats_view(case: Path, size: int, cache_dir: Path, axis: int, normalise: str = "percentile") -> Path:
    """Cache a case's FLAIR sliced along ``axis`` for multi-view training: model-grid slices
    squared by :func:`medroi.autoroi.views.pad_square` (as ``--roi auto`` with ``views: 3``
    slices them), truth and brain flags (slices with >= 300 brain voxels are trained on)."""
    from medroi.autoroi.views import pad_square, view_slices

    suffix = "" if normalise == "percentile" else f"_{normalise}"
    out = cache_dir / f"{case.name}_view{axis}{suffix}.npz"
    if out.exists():
        return out
    from medroi.io import read_image

    vol = read_image(next(case.glob("*_flair.nii*"))).array
    wt = np.isin(read_image(next(case.glob("*_seg.nii*"))).array, WHOLE_TUMOUR)
    image = to_model_grid(pad_square(view_slices(unit_input(vol, normalise), axis)), size)
    roi = to_model_grid(pad_square(view_slices(wt, axis).astype(np.float32)), size) > 0.5
    brain = view_slices(vol > vol.min(), axis).sum(axis=(1, 2)) >= 300
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, image=image.astype(np.float16), roi=roi, brain=brain)
    return out


def brats_view_probability(net, case: Path, size: int, context: int, views: int, normalise: str,
                           flip_average: bool = False) -> np.ndarray:
    """Held-out probability [Z, X, Y] of a case's FLAIR on its native grid, computed as
    ``--roi auto`` does (:func:`medroi.autoroi.views.view_probability`; ``flip_average``: each
    slice averaged with its mirror image, roi.json flip_average)."""
    from medroi.autoroi.views import view_probability
    from medroi.io import read_image

    unit = unit_input(read_image(next(case.glob("*_flair.nii*"))).array, normalise)
    prob = view_probability(unit, -1, views, size, context,
                            lambda grid: predict(net, grid, flip_average=flip_average), batch=32)
    return np.moveaxis(prob, -1, 0)


def cache_xray(name: str, image_path: Path, mask_path: Path, size: int, cache_dir: Path) -> Path:
    out = cache_dir / f"{name}.npz"
    if out.exists():
        return out
    from medroi.io import read_image

    arr = read_image(image_path).array
    if arr.ndim == 3:  # a radiograph saved in colour is read as planes: train on its luma (ITU-R 601)
        arr = arr[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    mask = read_image(mask_path).array > 0
    image = xray_input(arr, size)
    roi = to_model_grid(mask[None].astype(np.float32), size) > 0.5
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, image=image.astype(np.float16), roi=roi)
    return out


def native_truth(dataset: str, item) -> np.ndarray:
    """The full-resolution truth as slices [N, H, W] (BRATS: z first)."""
    from medroi.io import read_image

    if dataset == "brats":
        wt = np.isin(read_image(next(item.glob("*_seg.nii*"))).array, WHOLE_TUMOUR)
        return np.moveaxis(wt, -1, 0)
    return (read_image(item[2]).array > 0)[None]


# ----------------------------------------------------------------------------- training
def tumour_balanced(rois: np.ndarray) -> np.ndarray:
    """Draw weights of slices [N, s, s]: half of the draws from slices with tumour, half from
    the others (each half uniform)."""
    has = rois.reshape(len(rois), -1).any(1)
    return np.where(has, 0.5 / max(has.sum(), 1), 0.5 / max((~has).sum(), 1))


def make_unet(channels: Sequence[int] = (16, 32, 64, 128), res_units: int = 1, in_channels: int = 1):
    """The U-Net of the bundles' ``network_def`` (``seg_channels``, ``seg_res_units``, ``seg_norm: batch``;
    ``in_channels`` = 1 + 2 x ``seg_context``)."""
    from monai.networks.nets import UNet

    # JointNet's segmentation half with seg_norm="batch" (the bundles' network_def): with
    # instance norm, MONAI's top layer normalises the 1-channel logit map per image, which kept
    # every probability below 0.56 in a first run
    channels = tuple(int(c) for c in channels)
    return UNet(spatial_dims=2, in_channels=int(in_channels), out_channels=1, channels=channels, strides=(2,) * (len(channels) - 1),
                num_res_units=int(res_units), norm="batch")


def fade_lesion(x: torch.Tensor, y: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """Pull each image's region (``y``, softened by a 7 x 7 box) towards the median of the rest
    of its foreground (``x > 0``) by ``strength`` in [0, 1] per image: a tumour as faint on
    FLAIR as in the hard cases (tumour median only 1.1-1.3x the brain's), kept labelled, so the
    network learns to find one by more than its brightness."""
    soft = F.avg_pool2d(y, 7, stride=1, padding=3, count_include_pad=False)
    out = x.clone()
    for i in range(x.shape[0]):
        rest = (x[i, x.shape[1] // 2] > 0) & (y[i, 0] < 0.5)
        if strength[i] <= 0 or not bool(rest.any()) or not bool(y[i].any()):
            continue
        level = x[i, x.shape[1] // 2][rest].median()
        out[i] = x[i] - strength[i] * soft[i] * (x[i] - level)
    return out


def augment(x: torch.Tensor, y: torch.Tensor, g: torch.Generator, rot_deg: float, keep_zero: bool,
            lesion_fade: float = 0.0):
    """Flips, small rotations/scales/shifts, then (``lesion_fade`` > 0: on half of the images)
    the region faded towards the rest by up to ``lesion_fade`` (:func:`fade_lesion`), gamma,
    contrast/brightness and noise."""
    n = x.shape[0]

    def u(lo, hi, shape=(n,)):
        return lo + (hi - lo) * torch.rand(shape, generator=g)

    ang = u(-rot_deg, rot_deg) * math.pi / 180
    scale = u(0.85, 1.15)
    flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, u(-0.06, 0.06)], 1),
                         torch.stack([sin * flip, cos, u(-0.06, 0.06)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    y = (F.grid_sample(y, grid, mode="bilinear", padding_mode="zeros", align_corners=False) > 0.5).float()
    zero = x <= 0
    if lesion_fade > 0:  # drawn only when asked: runs without it keep their random stream
        fade = u(0, lesion_fade) * (torch.rand(n, generator=g) < 0.5)
        x = torch.where(zero, x, fade_lesion(x, y, fade))
    gamma = torch.exp(u(-0.5, 0.5))[:, None, None, None]
    x = x.clamp(0, 1) ** gamma
    x = x * u(0.8, 1.2)[:, None, None, None] + u(-0.1, 0.1)[:, None, None, None]
    x = x + torch.randn(x.shape, generator=g) * u(0, 0.04)[:, None, None, None]
    x = x.clamp(0, 1)
    if keep_zero:  # skull-stripped MR: the background stays exactly 0, as at run time
        x = torch.where(zero, torch.zeros_like(x), x)
    return x, y


def seg_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits)
    inter = (p * y).sum()
    dice = 1 - (2 * inter + 1) / (p.sum() + y.sum() + 1)
    return F.binary_cross_entropy_with_logits(logits, y) + dice


def train(images: np.ndarray, rois: np.ndarray, weights: np.ndarray, iters: int, batch: int, lr: float,
          seed: int, rot_deg: float, keep_zero: bool, log, channels: Sequence[int] = (16, 32, 64, 128),
          res_units: int = 1, lesion_fade: float = 0.0) -> torch.nn.Module:
    """Train a fresh U-Net for exactly ``iters`` steps (cosine lr), sampling slices by ``weights``.

    ``images`` is [N, s, s] (one channel) or [N, C, s, s] (a slice with its neighbours)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    if images.ndim == 3:
        images = images[:, None]
    net = make_unet(channels, res_units, in_channels=images.shape[1])
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    warm = max(1, iters // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then cosine to 2 %
        opt, lambda i: min(1.0, (i + 1) / warm) * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(i, iters) / iters))))
    p = torch.as_tensor(weights / weights.sum(), dtype=torch.double)
    net.train()
    t0, run = time.time(), 0.0
    for it in range(1, iters + 1):
        idx = torch.multinomial(p, batch, replacement=True, generator=g).numpy()
        x = torch.from_numpy(images[idx].astype(np.float32))
        y = torch.from_numpy(rois[idx].astype(np.float32))[:, None]
        x, y = augment(x, y, g, rot_deg, keep_zero, lesion_fade)
        loss = seg_loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run += float(loss.detach())
        if it % 100 == 0:
            log(f"  it {it}/{iters} loss {run / 100:.4f} ({time.time() - t0:.0f} s)")
            run = 0.0
    return net.eval()


@torch.no_grad()
def predict(net, images: np.ndarray, batch: int = 32, flip_average: bool = False) -> np.ndarray:
    """Probabilities [N, s, s] of model-grid images [N, s, s] or [N, C, s, s], as ``--roi auto``
    computes them."""
    from medroi.autoroi.tta import flip_averaged

    def segment(part: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(part, np.float32))
        return torch.sigmoid(net(x[:, None] if x.dim() == 3 else x))[:, 0].numpy()

    run = (lambda part: flip_averaged(segment, part)) if flip_average else segment
    return np.concatenate([run(images[s:s + batch]) for s in range(0, len(images), batch)])


# ----------------------------------------------------------------------------- command
def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="k-fold CV by case, then a final fit on all cases")
    ap.add_argument("dataset", choices=["brats", "xray"])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--work", required=True, help="folder for caches, held-out probabilities, weights, logs")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--only-folds", default=None, help="comma list of folds to run (default all); 'final' too")
    ap.add_argument("--iters", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--channels", default="16,32,64,128", help="U-Net widths (the bundle's seg_channels)")
    ap.add_argument("--res-units", type=int, default=1, help="U-Net residual units (seg_res_units)")
    ap.add_argument("--context", type=int, default=0,
                    help="BRATS: neighbouring slices on each side as extra channels (roi.json context_slices)")
    ap.add_argument("--modalities", default="flair",
                    help="BRATS: comma list of co-registered volumes read as input (e.g. flair,t1ce), each "
                         "normalised on its own and given --context neighbours; channels modality-major")
    ap.add_argument("--normalise", choices=["percentile", "rank"], default="percentile",
                    help="BRATS: input intensities by robust percentiles or by rank over the brain "
                         "(roi.json normalise)")
    ap.add_argument("--views", type=int, choices=[1, 3], default=1,
                    help="BRATS: 3 = train on axial, coronal and sagittal slices and average the three "
                         "planes' probabilities (roi.json views); FLAIR only")
    ap.add_argument("--reuse-weights", action="store_true",
                    help="load each run's saved unet.pt instead of training (re-score, e.g. with --flip-average)")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the weights and of the slice draws (another seed: a second ensemble member)")
    ap.add_argument("--lesion-fade", type=float, default=0.0,
                    help="augmentation: on half of the draws, fade the region towards the rest of the "
                         "foreground by up to this fraction (0 = off, as in the runs before it)")
    ap.add_argument("--flip-average", action="store_true",
                    help="score with the left-right flip average (roi.json flip_average: true)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = Path(args.work) / args.dataset
    work.mkdir(parents=True, exist_ok=True)
    logf = open(work / "log.txt", "a")

    def log(msg: str) -> None:
        line = time.strftime("%H:%M:%S ") + msg
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    root = Path(args.data_root)
    cache_dir = Path(args.work) / f"cache_{args.dataset}_{args.size}"
    if args.dataset == "brats":
        items = brats_case_dirs(root)
        names = [c.name for c in items]
        modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
        files = [cache_brats(c, args.size, cache_dir, modalities, args.normalise) for c in items]
    else:
        items = xray_pairs(root)
        names = [n for n, _, _ in items]
        files = [cache_xray(n, i, m, args.size, cache_dir) for n, i, m in items]
    data = [dict(np.load(f)) for f in files]
    if args.context and args.dataset != "brats":
        raise SystemExit("--context needs slices of a volume (brats)")
    if args.modalities != "flair" and args.dataset != "brats":
        raise SystemExit("--modalities is for brats")
    if args.views == 3 and (args.dataset != "brats" or modalities != ["flair"]):
        raise SystemExit("--views 3 is for BRATS FLAIR")
    if args.views == 3:  # per case, one training set per plane (axial first)
        for c, d in zip(items, data):
            d["views"] = [dict(np.load(cache_brats_view(c, args.size, cache_dir, axis, args.normalise)))
                          for axis in (2, 0, 1)]
            for v in d["views"]:
                v["input"] = brats_network_input(v["image"], args.context)
    for d in data:  # the network's input: [Z, modalities x (1 + 2 x context), s, s]
        d["input"] = brats_network_input(d["image"], args.context) if args.dataset == "brats" else d["image"][:, None]
    log(f"{args.dataset}: {len(items)} cases cached at {args.size}; args {vars(args)}")
    # cases with an incomplete truth (a lung mask with one lung) are held out and scored, never trained on
    complete = [True] * len(items) if args.dataset == "brats" else [lung_mask_complete(m) for _, _, m in items]
    if not all(complete):
        log(f"incomplete masks (not trained on): {[n for n, ok in zip(names, complete) if not ok]}")
    fold_of = [i % args.folds for i in range(len(items))]
    runs = [str(k) for k in range(args.folds)] + ["final"]
    if args.only_folds:
        runs = [r for r in runs if r in args.only_folds.split(",")]
    for run in runs:
        train_ids = [i for i in range(len(items)) if complete[i] and (run == "final" or fold_of[i] != int(run))]
        test_ids = [] if run == "final" else [i for i in range(len(items)) if fold_of[i] == int(run)]
        if args.views == 3:  # each plane a third of the draws; within it half tumour slices
            images, rois, weights = [], [], []
            for v in range(3):
                keep = [np.flatnonzero(data[i]["views"][v]["brain"]) for i in train_ids]
                images.append(np.concatenate([data[i]["views"][v]["input"][k] for i, k in zip(train_ids, keep)]))
                rois.append(np.concatenate([data[i]["views"][v]["roi"][k] for i, k in zip(train_ids, keep)]))
                weights.append(tumour_balanced(rois[-1]) / 3)
            images, rois, weights = np.concatenate(images), np.concatenate(rois), np.concatenate(weights)
            rot, keep_zero = 15.0, True
        elif args.dataset == "brats":
            keep = [np.flatnonzero(data[i]["brain"]) for i in train_ids]
            images = np.concatenate([data[i]["input"][k] for i, k in zip(train_ids, keep)])
            rois = np.concatenate([data[i]["roi"][k] for i, k in zip(train_ids, keep)])
            weights = tumour_balanced(rois)
            rot, keep_zero = 15.0, True
        else:
            images = np.concatenate([data[i]["input"] for i in train_ids])
            rois = np.concatenate([data[i]["roi"] for i in train_ids])
            weights = np.ones(len(images))
            rot, keep_zero = 10.0, False
        log(f"run {run}: train {len(train_ids)} cases ({len(images)} slices), test {[names[i] for i in test_ids]}")
        out_dir = work / f"run_{run}"
        out_dir.mkdir(exist_ok=True)
        channels = [int(c) for c in args.channels.split(",")]
        if args.reuse_weights:  # re-score: the time recorded stays the training run's
            net = make_unet(channels, args.res_units, in_channels=data[0]["input"].shape[1])
            net.load_state_dict(torch.load(out_dir / "unet.pt", map_location="cpu", weights_only=True))
            net.eval()
            previous = out_dir / "result.json"
            seconds = json.loads(previous.read_text()).get("train_seconds") if previous.exists() else None
        else:
            t = time.time()
            net = train(images, rois, weights, args.iters, args.batch, args.lr, seed=args.seed, rot_deg=rot,
                        keep_zero=keep_zero, log=log, channels=channels, res_units=args.res_units,
                        lesion_fade=args.lesion_fade)
            seconds = round(time.time() - t, 1)
            torch.save(net.state_dict(), out_dir / "unet.pt")
        rows = []
        for i in test_ids:
            truth = native_truth(args.dataset, items[i])
            if args.views == 3:  # native-grid average of the planes; the axial plane alone for comparison
                prob = brats_view_probability(net, items[i], args.size, args.context, 3, args.normalise,
                                              args.flip_average)
                axial = predict(net, data[i]["input"])
                extra = {"dice_axial": dice(to_native_grid(axial, truth.shape[1:]) > 0.5, truth)}
            else:
                prob = predict(net, data[i]["input"], flip_average=args.flip_average)
                extra = {}
            np.save(out_dir / f"{names[i]}_prob.npy", prob.astype(np.float16))
            pred = to_native_grid(prob, truth.shape[1:]) > 0.5
            rows.append({"case": names[i], "dice": dice(pred, truth), "complete_truth": complete[i], **extra})
            log(f"  {names[i]} dice {rows[-1]['dice']:.3f}" + (f" (axial {extra['dice_axial']:.3f})" if extra else ""))
        summary = {"run": run, "train_seconds": seconds, "flip_average": args.flip_average, "seed": args.seed,
                   "context": args.context, "modalities": args.modalities, "lesion_fade": args.lesion_fade,
                   "normalise": args.normalise, "views": args.views, "items": rows,
                   "mean_dice": float(np.mean([r["dice"] for r in rows if r["complete_truth"]])) if rows else None}
        (out_dir / "result.json").write_text(json.dumps(summary, indent=2))
        log(f"run {run} done in {seconds} s, mean dice {summary['mean_dice']}")


if __name__ == "__main__":
    main()
