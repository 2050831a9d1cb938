"""Training pieces shared by the bundles and the command that trained the shipped weights.

- Slice caches (.npz of float16 unit images + uint8 ROI) so that an epoch costs no NIfTI/PNG
  decoding: :func:`build_brats_cache`, :func:`build_xray_cache`.
- :class:`SliceDataset` (random crops + flips), :func:`prepare_batch` for MONAI engines.
- :func:`set_stage`: the paper's schedule (U-Net first; then freeze it and train the
  autoencoder; optional joint fine-tuning).
- :func:`fit`: a plain loop used for the shipped weights (one CPU thread);
  the bundle's ``train.yaml`` runs the same dataset/loss/stage with MONAI's SupervisedTrainer.
- :func:`evaluate_volumes`: whole-tumor Dice and ROI/NROI PSNR on volumes.

Intensities use :mod:`medroi.intensity` (``integer_window`` per volume / per image, then
``to_unit``), the mapping the codec uses at compression time.

Run ``python -m medroi.networks.training --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from medroi.intensity import integer_window, to_unit

BRATS_MODALITIES = ("flair", "t1", "t1ce", "t2")
BRATS_PAD = 256


# ----------------------------------------------------------------------------- data
def brats_cases(data_dir: str | Path) -> Tuple[List[Path], List[Path]]:
    """(train, val) case folders, by the project's split (``medroi.data.brats_cases``)."""
    from medroi.data import brats_cases as _cases

    def folders(split: str) -> List[Path]:
        return [Path(case["flair"]).parent for case in _cases(Path(data_dir).parent, split=split)]

    return folders("train"), folders("val")


def _load_nifti(path: Path) -> np.ndarray:
    """Stored integers of a NIfTI file (``medroi.io``: native dtype, no scaling)."""
    from medroi.io import read_image

    return read_image(path).array


def pad_to(array: np.ndarray, size: int = BRATS_PAD) -> np.ndarray:
    """Symmetric zero pad of the first two axes up to ``size`` (crop if larger)."""
    out = array
    for axis in (0, 1):
        n = out.shape[axis]
        if n < size:
            before = (size - n) // 2
            widths = [(0, 0)] * out.ndim
            widths[axis] = (before, size - n - before)
            out = np.pad(out, widths)
        elif n > size:
            start = (n - size) // 2
            out = np.take(out, range(start, start + size), axis=axis)
    return out


def build_brats_cache(
    cases: Sequence[Path],
    out: str | Path,
    modalities: Sequence[str] = BRATS_MODALITIES,
    nontumor_per_volume: int = 16,
    min_brain_pixels: int = 2000,
    seed: int = 0,
) -> Path:
    """Cache 256x256 slices of ``cases``: every tumor slice, plus ``nontumor_per_volume`` random
    brain slices per volume (tumor slices are thereby over-sampled). Each modality is a
    separate single-channel sample; ROI = whole tumor (labels 1, 2, 4)."""
    rng = np.random.default_rng(seed)
    images, rois, mods = [], [], []
    for case in cases:
        seg = _load_nifti(next(case.glob("*_seg.nii*")))
        wt = np.isin(seg, (1, 2, 4))
        tumor = np.flatnonzero(wt.any(axis=(0, 1)))
        for m, modality in enumerate(modalities):
            vol = _load_nifti(next(case.glob(f"*_{modality}.nii*")))
            lo, hi = integer_window(vol)
            brain = np.flatnonzero((vol != vol.min()).sum(axis=(0, 1)) >= min_brain_pixels)
            others = np.setdiff1d(brain, tumor)
            pick = np.concatenate([tumor, rng.choice(others, min(nontumor_per_volume, others.size), replace=False)])
            for z in np.sort(pick):
                images.append(pad_to(to_unit(vol[:, :, z], lo, hi)).astype(np.float16))
                rois.append(pad_to(wt[:, :, z]).astype(np.uint8))
                mods.append(m)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, image=np.stack(images), roi=np.stack(rois), modality=np.asarray(mods, np.int8))
    return out


def xray_items(data_dir: str | Path) -> List[Tuple[Path, Path]]:
    """(image, lung mask) pairs of the X-rays that have lung masks (``medroi.data.xray_cases``)."""
    from medroi.data import xray_cases

    items = xray_cases(Path(data_dir).parent)
    return sorted((Path(item["image"]), Path(item["mask"])) for item in items)


def load_xray(image_path: Path, mask_path: Optional[Path] = None, size: Optional[int] = 256):
    """Gray uint8 image as unit float32 (window per image), mask bool; resized to ``size``
    (training only: the codec never down-samples)."""
    from PIL import Image

    img = Image.open(image_path).convert("L")
    arr = np.asarray(img)
    lo, hi = integer_window(arr)
    unit = to_unit(arr, lo, hi)
    mask = None
    if mask_path is not None:
        mask = np.asarray(Image.open(mask_path)) > 0
        if mask.ndim == 3:
            mask = mask.any(axis=-1)
    if size is not None:
        unit = np.asarray(Image.fromarray(unit, mode="F").resize((size, size), Image.BILINEAR), np.float32)
        if mask is not None:
            mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((size, size), Image.NEAREST)) > 127
    return np.clip(unit, 0, 1), mask


def build_xray_cache(items: Sequence[Tuple[Path, Path]], out: str | Path, size: int = 256) -> Path:
    images, rois = [], []
    for image_path, mask_path in items:
        unit, mask = load_xray(image_path, mask_path, size)
        images.append(unit.astype(np.float16))
        rois.append(mask.astype(np.uint8))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, image=np.stack(images), roi=np.stack(rois), modality=np.zeros(len(images), np.int8))
    return out


class SliceDataset(Dataset):
    """Items {"image": [1,h,w] float32 in [0,1], "roi": [1,h,w] float32} from a slice cache.

    ``crop`` (a multiple of 8, or None for the full slice): random crops, centred on a random
    ROI pixel with probability ``roi_crop_prob``; random flips when ``flip``.
    ``repeats`` makes one epoch visit every slice that many times.
    """

    def __init__(self, cache: str | Path | Dict[str, np.ndarray], crop: Optional[int] = 128, flip: bool = True,
                 roi_crop_prob: float = 0.5, repeats: int = 1, seed: int = 0):
        data = dict(np.load(cache)) if not isinstance(cache, dict) else cache
        self.image = data["image"]
        self.roi = data["roi"]
        if crop is not None and crop % 8:
            raise ValueError("crop must be a multiple of 8")
        self.crop = crop
        self.flip = flip
        self.roi_crop_prob = roi_crop_prob
        self.repeats = max(1, int(repeats))
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.image) * self.repeats

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        i = index % len(self.image)
        img = self.image[i].astype(np.float32)
        roi = self.roi[i].astype(np.float32)
        if self.crop is not None and self.crop < img.shape[0]:
            c, (h, w) = self.crop, img.shape
            ys, xs = np.nonzero(roi) if self.rng.random() < self.roi_crop_prob else ((), ())
            if len(ys):
                k = self.rng.integers(len(ys))
                y0 = int(np.clip(ys[k] - c // 2 + self.rng.integers(-c // 4, c // 4 + 1), 0, h - c))
                x0 = int(np.clip(xs[k] - c // 2 + self.rng.integers(-c // 4, c // 4 + 1), 0, w - c))
            else:
                y0, x0 = int(self.rng.integers(0, h - c + 1)), int(self.rng.integers(0, w - c + 1))
            img, roi = img[y0:y0 + c, x0:x0 + c], roi[y0:y0 + c, x0:x0 + c]
        if self.flip:
            if self.rng.random() < 0.5:
                img, roi = img[:, ::-1], roi[:, ::-1]
            if self.rng.random() < 0.5:
                img, roi = img[::-1], roi[::-1]
        return {"image": torch.from_numpy(np.ascontiguousarray(img))[None],
                "roi": torch.from_numpy(np.ascontiguousarray(roi))[None]}


def _plain(t) -> torch.Tensor:
    return t.as_tensor() if hasattr(t, "as_tensor") else torch.as_tensor(t)


def prepare_batch(batchdata, device=None, non_blocking: bool = False, **kwargs):
    """MONAI engine ``prepare_batch``: inputs = image (float32); targets = {"image", "roi"} for
    :class:`medroi.losses.JointLoss`. The ROI is read from "roi", else "label"."""
    image = _plain(batchdata["image"]).to(device=device, dtype=torch.float32, non_blocking=non_blocking)
    roi = batchdata["roi"] if "roi" in batchdata else batchdata["label"]
    roi = _plain(roi).to(device=device, dtype=torch.float32, non_blocking=non_blocking)
    return image, {"image": image, "roi": roi}


# ----------------------------------------------------------------------------- bundle glue
def default_data_root() -> str:
    """``medroi.data.default_data_root()`` as a string (for bundle configs)."""
    from medroi.data import default_data_root as _root

    return str(_root())


def brats_datalist(data_root=None, split: str = "train", modalities: Sequence[str] = BRATS_MODALITIES,
                   n_val: int = 2) -> List[Dict[str, str]]:
    """{"image": modality path, "label": seg path, "case", "modality"} per case and modality
    (each modality is a separate single-channel sample), from ``medroi.data.brats_cases``."""
    from medroi.data import brats_cases as _cases

    return [{"image": c[m], "label": c["seg"], "case": c["case"], "modality": m}
            for c in _cases(data_root, split, n_val) for m in modalities]


def xray_datalist(data_root=None, split: str = "train", n_val: int = 4) -> List[Dict[str, str]]:
    """{"image", "label" (lung mask), "name"} from ``medroi.data.xray_cases``."""
    from medroi.data import xray_cases as _cases

    return [{"image": c["image"], "label": c["mask"], "name": c["name"]} for c in _cases(data_root, split, n_val)]


def load_pipeline(path: str | Path, id: str = "preprocessing", **overrides) -> list:
    """The parsed transform list ``id`` of a top-level ``transforms/*.yaml`` file."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(path))
    for key, value in overrides.items():
        parser[key] = value
    return list(parser.get_parsed_content(id))


class VolumeSliceInferer:
    """MONAI-style inferer for :class:`JointNet` on 2D [N,1,H,W] or volumes [N,1,H,W,D]:
    volumes are run slice by slice (``sw_batch_size`` slices at a time) and the three outputs
    are stacked back along the last axis."""

    def __init__(self, sw_batch_size: int = 16):
        self.sw_batch_size = int(sw_batch_size)

    def __call__(self, inputs: torch.Tensor, network, *args, **kwargs):
        inputs = _plain(inputs)
        if inputs.dim() == 4:
            return network(inputs)
        n, c, h, w, d = inputs.shape
        flat = inputs.permute(0, 4, 1, 2, 3).reshape(n * d, c, h, w)
        outs = [network(flat[s:s + self.sw_batch_size]) for s in range(0, n * d, self.sw_batch_size)]
        return tuple(torch.cat([o[k] for o in outs]).reshape(n, d, *outs[0][k].shape[1:]).permute(0, 2, 3, 4, 1)
                     for k in range(len(outs[0])))


def _pred_target(output):
    if isinstance(output, list):  # decollated
        raise TypeError("use the metrics on batched engine output (no decollating postprocessing)")
    pred, target = output["pred"], output["label"]
    roi = target["roi"] if isinstance(target, dict) else target
    image = target["image"] if isinstance(target, dict) else output["image"]
    return pred, image, roi


def seg_output_transform(output):
    """Engine output -> (binary prediction, ROI) for MONAI metrics such as MeanDice."""
    pred, _, roi = _pred_target(output)
    return (torch.sigmoid(pred[0]) > 0.5).float(), roi.float()


class RegionPSNR:
    """ignite metric factory: PSNR (MAX = 1 on the unit scale) of the reconstruction inside
    (``region="roi"``) or outside (``"nroi"``) the true ROI, pooled over all pixels seen."""

    def __new__(cls, region: str = "roi"):
        from ignite.metrics import Metric

        class _RegionPSNR(Metric):
            def reset(self):
                self.sse, self.n = 0.0, 0

            def update(self, output):
                pred, image, roi = _pred_target(output)
                m = roi > 0.5 if region == "roi" else roi <= 0.5
                err = (pred[1].detach().float() - image.float()) ** 2
                self.sse += float(err[m].sum())
                self.n += int(m.sum())

            def compute(self):
                return _psnr(self.sse / self.n) if self.n else float("nan")

            def iteration_completed(self, engine):  # the output is a dict of our own layout
                self.update(self._output_transform(engine.state.output))

        if region not in ("roi", "nroi"):
            raise ValueError("region must be 'roi' or 'nroi'")
        return _RegionPSNR()


# ----------------------------------------------------------------------------- stages
def set_stage(network: torch.nn.Module, stage: str) -> List[torch.nn.Parameter]:
    """Freeze/unfreeze for a stage and return the parameters to optimize.

    "seg": U-Net only; "ae": U-Net frozen (the paper), autoencoder trained; "joint": both."""
    net = network.module if hasattr(network, "module") else network
    if stage not in ("seg", "ae", "joint"):
        raise ValueError(f"unknown stage {stage!r}")
    for p in net.seg.parameters():
        p.requires_grad_(stage in ("seg", "joint"))
    for m in net.seg.modules():  # a frozen batch-norm U-Net keeps its running statistics too
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = stage in ("seg", "joint")
    for p in net.ae.parameters():
        p.requires_grad_(stage in ("ae", "joint"))
    return [p for p in net.parameters() if p.requires_grad]


def stage_optimizer(network: torch.nn.Module, stage: str, lr: float = 1e-3) -> torch.optim.Optimizer:
    """Adam over the parameters ``set_stage`` leaves trainable (for bundle configs)."""
    return torch.optim.Adam(set_stage(network, stage), lr=lr)


def load_weights(network: torch.nn.Module, path: str | Path, strict: bool = True) -> torch.nn.Module:
    """Load a state dict (``torch.load(weights_only=True)``) into ``network``."""
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    network.load_state_dict(state, strict=strict)
    return network


def fit(network, dataset: Dataset, stage: str, iterations: int, batch_size: int = 8, lr: float = 1e-3,
        loss_kwargs: Optional[dict] = None, log: Optional[Callable[[str], None]] = None,
        checkpoint: Optional[Path] = None, checkpoint_every: int = 200, seed: int = 0,
        sample_weights: Optional[Sequence[float]] = None,
        callback: Optional[Callable[[int], None]] = None, callback_every: int = 0) -> List[float]:
    """Train ``network`` for ``iterations`` steps of ``stage`` (plain loop, CPU).

    ``sample_weights`` (one per dataset item): draw batches with replacement in proportion to
    them (e.g. to over-sample one modality) instead of shuffling. ``callback(it)`` is called
    every ``callback_every`` iterations (e.g. a validation pass); it may switch to eval mode,
    training mode is restored after it."""
    from medroi.losses import JointLoss

    torch.manual_seed(seed)
    net = network.module if hasattr(network, "module") else network
    params = set_stage(network, stage)
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=iterations, eta_min=lr * 0.05)
    loss_fn = JointLoss(stage=stage, **(loss_kwargs or {}))
    sampler = None
    if sample_weights is not None:
        g = torch.Generator().manual_seed(seed)
        sampler = torch.utils.data.WeightedRandomSampler(torch.as_tensor(sample_weights, dtype=torch.double),
                                                         num_samples=len(dataset), replacement=True, generator=g)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=sampler is None, sampler=sampler, drop_last=True,
                        num_workers=0)
    network.train()
    history: List[float] = []
    it, t0, run = 0, time.time(), 0.0
    while it < iterations:
        for batch in loader:
            x, target = prepare_batch(batch)
            if stage == "seg" and net is network and hasattr(net, "segment_logits"):  # skip the frozen AE
                out = (net.segment_logits(x), None, None)
            else:
                out = network(x)
            loss = loss_fn(out, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            it += 1
            run += float(loss.detach())
            if it % 50 == 0 or it == iterations:
                n = 50 if it % 50 == 0 else it % 50
                history.append(run / n)
                if log:
                    log(f"{stage} it {it}/{iterations} loss {run / n:.4f} ({time.time() - t0:.0f} s)")
                run = 0.0
            if checkpoint is not None and (it % checkpoint_every == 0 or it == iterations):
                torch.save(network.state_dict(), checkpoint)
            if callback is not None and callback_every > 0 and (it % callback_every == 0 or it == iterations):
                callback(it)
                network.train()
            if it >= iterations:
                break
    network.eval()
    return history


# ----------------------------------------------------------------------------- evaluation
def _psnr(mse: float) -> float:
    return float("inf") if mse <= 0 else -10.0 * math.log10(mse)


@torch.no_grad()
def evaluate_volumes(network, volumes: Iterable[Tuple[str, np.ndarray, np.ndarray]], batch_size: int = 16) -> Dict:
    """Per item (name, unit [H,W,Z] or [H,W] float32 with H,W multiples of 8, roi bool):
    Dice of the U-Net mask (prob > 0.5) against roi, and PSNR (MAX = 1 on the unit scale,
    i.e. MAX = the integer window's range) of ``decode(encode(image, predicted mask))``
    inside and outside the true ROI; also latent entropy (bits/symbol).
    Means over items are under "mean"."""
    network.eval()
    rows = []
    for name, unit, roi in volumes:
        vol = unit[..., None] if unit.ndim == 2 else unit
        msk = roi[..., None] if roi.ndim == 2 else roi
        x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(vol, -1, 0)))[:, None].float()
        pred, rec, lat = [], [], []
        for s in range(0, x.shape[0], batch_size):
            xb = x[s:s + batch_size]
            prob = network.segment(xb)
            latent = network.encode(xb, (prob > 0.5).float())
            pred.append(prob[:, 0] > 0.5)
            rec.append(network.decode(latent)[:, 0])
            lat.append(latent)
        pred_m = np.moveaxis(torch.cat(pred).numpy(), 0, -1)
        recon = np.moveaxis(torch.cat(rec).numpy(), 0, -1)
        latent = torch.cat(lat).numpy().ravel()
        inter = np.logical_and(pred_m, msk).sum()
        denom = pred_m.sum() + msk.sum()
        err2 = (recon.astype(np.float64) - vol) ** 2
        _, counts = np.unique(latent, return_counts=True)
        p = counts / counts.sum()
        rows.append({
            "name": name,
            "dice": float(2 * inter / denom) if denom else 1.0,
            "psnr_roi": _psnr(float(err2[msk].mean())) if msk.any() else None,
            "psnr_nroi": _psnr(float(err2[~msk].mean())),
            "latent_entropy_bits": float(-(p * np.log2(p)).sum()),
            "latent_unique": int(len(counts)),
        })
    mean = {k: float(np.mean([r[k] for r in rows if r[k] is not None]))
            for k in ("dice", "psnr_roi", "psnr_nroi", "latent_entropy_bits", "latent_unique")
            if any(r[k] is not None for r in rows)}
    return {"items": rows, "mean": mean}


def brats_eval_volumes(cases: Sequence[Path], modality: str = "flair"):
    for case in cases:
        seg = _load_nifti(next(case.glob("*_seg.nii*")))
        vol = _load_nifti(next(case.glob(f"*_{modality}.nii*")))
        lo, hi = integer_window(vol)
        yield case.name, pad_to(to_unit(vol, lo, hi)), pad_to(np.isin(seg, (1, 2, 4)))


def xray_eval_images(items: Sequence[Tuple[Path, Path]], size: int = 256):
    for image_path, mask_path in items:
        unit, mask = load_xray(image_path, mask_path, size)
        yield image_path.stem, unit, mask


# ----------------------------------------------------------------------------- command
def main(argv: Optional[Sequence[str]] = None) -> None:
    ap = argparse.ArgumentParser(description="Train the shipped JointNet weights (CPU, plain loop).")
    ap.add_argument("dataset", choices=["brats", "xray"])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--cache", required=True, help=".npz slice cache (built if missing)")
    ap.add_argument("--out", required=True, help="output state dict (model.pt)")
    ap.add_argument("--init", default=None, help="state dict to start from")
    ap.add_argument("--reset-ae", action="store_true", help="re-initialize the autoencoder after --init")
    ap.add_argument("--seg-iters", type=int, default=1200)
    ap.add_argument("--ae-iters", type=int, default=2400)
    ap.add_argument("--joint-iters", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--alpha", type=float, default=0.8)
    ap.add_argument("--rate-weight", type=float, default=0.01)
    ap.add_argument("--l1-weight", type=float, default=0.0)
    ap.add_argument("--val-items", type=int, default=4, help="xray: last N (sorted) held out")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--metrics", default=None, help="write validation metrics JSON here")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    from medroi.networks.joint import JointNet

    def log(msg: str) -> None:
        print(time.strftime("%H:%M:%S"), msg, flush=True)

    t_start = time.time()
    if args.dataset == "brats":
        train_cases, val_cases = brats_cases(args.data_dir)
        log(f"train {[c.name for c in train_cases]} val {[c.name for c in val_cases]}")
        if not Path(args.cache).exists():
            build_brats_cache(train_cases, args.cache)
        val_source: Callable = lambda: brats_eval_volumes(val_cases, "flair")
    else:
        items = xray_items(args.data_dir)
        train_items, val_items = items[:-args.val_items], items[-args.val_items:]
        log(f"train {len(train_items)} val {[p.stem for p, _ in val_items]}")
        if not Path(args.cache).exists():
            build_xray_cache(train_items, args.cache)
        val_source = lambda: xray_eval_images(val_items)
    dataset = SliceDataset(args.cache, crop=args.crop)
    log(f"cache {args.cache}: {len(dataset)} slices")
    net = JointNet()
    if args.init:
        load_weights(net, args.init)
    if args.reset_ae:
        torch.manual_seed(0)
        net.ae = type(net.ae)()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    loss_kwargs = {"alpha": args.alpha, "rate_weight": args.rate_weight, "l1_weight": args.l1_weight}
    timings = {}
    for stage, iters in (("seg", args.seg_iters), ("ae", args.ae_iters), ("joint", args.joint_iters)):
        if iters > 0:
            t = time.time()
            fit(net, dataset, stage, iters, args.batch_size, args.lr if stage != "joint" else args.lr * 0.1,
                loss_kwargs, log, checkpoint=out)
            timings[stage] = round(time.time() - t, 1)
            metrics = evaluate_volumes(net, val_source())
            log(f"after {stage}: {json.dumps(metrics['mean'])}")
    torch.save(net.state_dict(), out)
    result = {"args": vars(args), "seconds": timings, "total_seconds": round(time.time() - t_start, 1),
              "validation": metrics}
    log(json.dumps(result["validation"]["mean"]))
    if args.metrics:
        Path(args.metrics).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
