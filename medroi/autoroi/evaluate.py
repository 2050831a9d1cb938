"""Score ``--roi auto`` on labelled cases: what the bundles' ``configs/evaluate_roi.yaml`` runs.

Per case: **coverage** (share of the true region inside the stored ROI: what the user's
guarantee rests on), **ROI / region** (stored ROI voxels / true region voxels: what it costs),
the **raw Dice** of the U-Net's thresholded mask (before clean-up and margin), and whether the
model fell back to the whole image. A fallback stores everything, so its coverage is 1.0 and
its ROI / region is the whole image over the region.

Layouts found by :func:`labelled_cases` (anything else: pass a datalist of
``{"image", "label"}`` paths):

- BraTS: ``<case>_flair.nii.gz`` with ``<case>_seg.nii.gz`` beside it (whole tumour: labels 1, 2, 4);
- radiographs: ``images/<name>.<ext>`` with ``masks/<name>_lungs.png`` or ``masks/<name>.png``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from medroi.errors import InputNotFoundError, InvalidImageError

__all__ = ["dice", "roi_scores", "labelled_cases", "score_case", "summarise", "write_report"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm")


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two boolean masks (1.0 when both are empty)."""
    s = a.sum() + b.sum()
    return float(2 * np.logical_and(a, b).sum() / s) if s else 1.0


def roi_scores(stored: np.ndarray, truth: np.ndarray, raw: np.ndarray | None = None) -> dict:
    """Coverage and ROI / region of a stored ROI against the true region; raw Dice if ``raw``."""
    stored, truth = np.asarray(stored, bool), np.asarray(truth, bool)
    if stored.shape != truth.shape:
        raise InvalidImageError(f"ROI shape {stored.shape} differs from the label's {truth.shape}")
    region = int(truth.sum())
    scores = {"region_voxels": region, "roi_voxels": int(stored.sum()),
              "coverage": float((stored & truth).sum() / region) if region else None,
              "roi_over_region": float(stored.sum() / region) if region else None}
    if raw is not None:
        scores["raw_dice"] = dice(np.asarray(raw, bool), truth)
    return scores


def _brats_label(image: Path) -> Path | None:
    name = image.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith("_flair" + suffix):
            label = image.with_name(name[: -len("_flair" + suffix)] + "_seg" + suffix)
            return label if label.is_file() else None
    return None


def _mask_label(image: Path) -> Path | None:
    if image.parent.name != "images" or image.suffix.lower() not in _IMAGE_SUFFIXES:
        return None
    masks = image.parent.parent / "masks"
    return next((m for m in (masks / f"{image.stem}_lungs.png", masks / f"{image.stem}.png") if m.is_file()), None)


def labelled_cases(dataset_dir: str | os.PathLike) -> list[dict]:
    """``{"image", "label"}`` path pairs under ``dataset_dir`` (the layouts in the module doc), sorted."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise InputNotFoundError(f"dataset folder not found: {root}")
    pairs = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        label = _brats_label(path) or _mask_label(path)
        if label is not None:
            pairs.append({"image": str(path), "label": str(label)})
    if not pairs:
        raise InputNotFoundError(f"no labelled case under {root}: expected <case>_flair.nii.gz beside "
                                 f"<case>_seg.nii.gz, or images/<name>.png with masks/<name>_lungs.png")
    return pairs


def score_case(network, image_path: str | os.PathLike, label_path: str | os.PathLike, *,
               labels: Sequence[int] | None = None, margin: str | None = None) -> dict:
    """Scores of ``--roi auto`` (the library's :func:`medroi.api.auto_roi`) on one labelled image.

    ``labels``: the label values that make the region (None: every non-zero value)."""
    from medroi.api import auto_roi_with_raw
    from medroi.io import read_image

    image, label = read_image(image_path), read_image(label_path)
    truth = label.array != 0 if labels is None else np.isin(label.array, list(labels))
    if truth.shape != image.shape:
        raise InvalidImageError(f"{Path(label_path).name} has shape {truth.shape}, {Path(image_path).name} "
                                f"{image.shape}: a label must have the image's grid")
    stored, report, raw = auto_roi_with_raw(network, image, image_path, roi_margin=margin)
    row = {"image": Path(image_path).name, "label": Path(label_path).name, "status": report["status"],
           "reason": report.get("reason"), **roi_scores(stored, truth, raw)}
    return row


def summarise(rows: Sequence[dict]) -> dict:
    """Means and worst cases over scored rows (cases with an empty label are left out)."""
    scored = [r for r in rows if r["coverage"] is not None]
    if not scored:
        return {"cases": len(rows), "scored": 0}
    worst = min(scored, key=lambda r: r["coverage"])
    largest = max(scored, key=lambda r: r["roi_over_region"])
    dice = [r["raw_dice"] for r in scored if r.get("raw_dice") is not None]
    return {
        "cases": len(rows), "scored": len(scored),
        "fallbacks": sum(r["status"] != "ok" for r in scored),
        "coverage_mean": float(np.mean([r["coverage"] for r in scored])),
        "coverage_worst": worst["coverage"], "coverage_worst_case": worst["image"],
        "roi_over_region_mean": float(np.mean([r["roi_over_region"] for r in scored])),
        "roi_over_region_max": largest["roi_over_region"], "roi_over_region_max_case": largest["image"],
        "raw_dice_mean": float(np.mean(dice)) if dice else None,
    }


def write_report(rows: Sequence[dict], output_dir: str | os.PathLike) -> Path:
    """Write ``roi_scores.json`` (summary + rows) and ``roi_scores.csv`` atomically; returns the JSON path."""
    from medroi.fsutil import atomic_write_bytes

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    summary = summarise(rows)
    atomic_write_bytes(out / "roi_scores.json", json.dumps({"summary": summary, "rows": rows}, indent=1).encode(), force=True)
    text = io.StringIO()
    fields = ["image", "label", "status", "coverage", "roi_over_region", "raw_dice", "region_voxels", "roi_voxels",
              "reason"]
    writer = csv.DictWriter(text, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "roi_scores.csv", text.getvalue().encode(), force=True)
    return out / "roi_scores.json"
