"""``medroi demo``: compress a real brain MRI that ships with medroi (20 slices of a BraTS
FLAIR volume with its expert tumour segmentation, see ``medroi/assets/README.md``), keep
the tumour exact and the rest within a bound, and compare with the classical lossless codecs
that can run here (size, CR, max error per region, time). Works offline from a wheel.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

#: BraTS whole tumour (necrotic core 1, edema 2, enhancing 4).
TUMOUR_LABELS = (1, 2, 4)
#: The bound outside the ROI of the lossy rows.
NROI_BOUND = 4
SAMPLE_IMAGE = "brats_sample_flair.nii.gz"
SAMPLE_SEG = "brats_sample_seg.nii.gz"


def sample_paths() -> tuple[Path, Path]:
    """The shipped FLAIR sample and its tumour segmentation."""
    from medroi.resources import asset_path

    return asset_path(SAMPLE_IMAGE), asset_path(SAMPLE_SEG)


def _output_dir(output_dir: str | os.PathLike | None) -> Path:
    """``output_dir`` (created), or a new temporary folder: never the checkout unasked."""
    if output_dir is None:
        return Path(tempfile.mkdtemp(prefix="medroi-demo-"))
    path = Path(output_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def _row(name: str, bounds: str, size: int, seconds: float, error: np.ndarray, tumour: np.ndarray, raw: int) -> dict:
    return {"codec": name, "bounds": bounds, "compressed_bytes": int(size), "cr": raw / size, "seconds": seconds,
            "max_error_tumour": int(error[tumour].max(initial=0)), "max_error_rest": int(error[~tumour].max(initial=0))}


def _warm_up() -> None:
    """Compile the codec's kernels once (numba), so the table times the coding, not the compiler."""
    from medroi import codec

    sample = (np.arange(16 * 16 * 2, dtype=np.int16) % 97).reshape(16, 16, 2)
    codec.decompress(codec.compress(sample, sample > 50, roi_max_error=0, nroi_max_error=4))


def run_demo(output_dir: str | os.PathLike | None = None) -> dict:
    """Run every row of the demo table; writes .mroi files, restored volumes and preview.png."""
    from medroi import api, baselines
    from medroi.io import read_image, read_mask
    from medroi.preview import save_preview

    out = _output_dir(output_dir)
    image_path, seg_path = sample_paths()
    image = read_image(image_path).array
    tumour = read_mask(seg_path, TUMOUR_LABELS, shape=image.shape)
    raw = int(image.nbytes)
    runs = [("medroi, all exact", "(0,0)", dict(roi_mask_path=seg_path, roi_labels=TUMOUR_LABELS, nroi_max_error=0)),
            ("medroi, ROI = expert tumour", f"(0,{NROI_BOUND})",
             dict(roi_mask_path=seg_path, roi_labels=TUMOUR_LABELS, nroi_max_error=NROI_BOUND)),
            ("medroi, ROI = U-Net (--roi auto)", f"(0,{NROI_BOUND})", dict(roi="auto", nroi_max_error=NROI_BOUND))]
    rows, notes, preview, unet = [], [], None, None
    _warm_up()
    for k, (name, bounds, options) in enumerate(runs):
        mroi, restored = out / f"sample_{k}.mroi", out / f"sample_{k}.nii.gz"
        started = time.perf_counter()
        try:
            result = api.compress_file(image_path, mroi, force=True, **options)
        except Exception as error:  # no usable network: say so instead of dropping the row silently
            notes.append(f"{name}: not run ({type(error).__name__}: {error})")
            continue
        api.decompress_file(mroi, restored, mask_out=out / f"sample_{k}_roi.nii.gz", force=True)
        seconds = time.perf_counter() - started
        back = read_image(restored).array
        roi = read_mask(out / f"sample_{k}_roi.nii.gz", shape=image.shape)
        error = np.abs(back.astype(np.int64) - image.astype(np.int64))
        row = _row(name, bounds, result["compressed_bytes"], seconds, error, tumour, raw)
        row["max_error_roi"] = int(error[roi].max(initial=0))
        rows.append(row)
        if options.get("roi") == "auto":
            unet = {"model": result["roi_model"], "dice_vs_expert": _dice(roi, tumour),
                    "tumour_voxels_outside_roi": int((tumour & ~roi).sum())}
        if k >= 1:
            preview = save_preview(image, back, roi, out / "preview.png", (0, NROI_BOUND),
                                   title=f"medroi demo: BraTS FLAIR sample, {name} {bounds}")
    for name in ["gzip -9", *baselines.available()]:
        result = baselines.run(name, image)
        rows.append(_row(name, "lossless", result["compressed_bytes"], result["seconds"], result["error"], tumour, raw))
    return {"input": str(image_path), "shape": list(image.shape), "dtype": image.dtype.name, "raw_bytes": raw,
            "tumour_fraction": float(tumour.mean()), "unet": unet, "rows": rows, "notes": notes,
            "preview": None if preview is None else str(preview), "output_dir": str(out)}


def format_table(result: dict) -> str:
    """The demo report as a plain-text table."""
    lines = [f"input   {Path(result['input']).name}  {tuple(result['shape'])} {result['dtype']}  "
             f"({result['raw_bytes']} raw bytes; tumour {100 * result['tumour_fraction']:.1f} % of voxels)", ""]
    header = f"{'codec':<34}{'bounds':>9}{'bytes':>10}{'CR':>8}{'max|e| tumour':>15}{'max|e| rest':>13}{'seconds':>9}"
    lines += [header, "-" * len(header)]
    for row in result["rows"]:
        lines.append(f"{row['codec']:<34}{row['bounds']:>9}{row['compressed_bytes']:>10d}{row['cr']:>8.2f}"
                     f"{row['max_error_tumour']:>15d}{row['max_error_rest']:>13d}{row['seconds']:>9.2f}")
    lines += ["", "bounds (ROI,rest): max |error| allowed; max|e| are measured on the decoded voxels, tumour = the "
                  "expert segmentation (labels 1,2,4). seconds = encode + decode (+ U-Net for --roi auto),",
              "after one warm-up call that compiles medroi's kernels."]
    if result["unet"]:
        u = result["unet"]
        lines.append(f"U-Net ROI ({u['model']}): Dice {u['dice_vs_expert']:.3f} with the expert tumour; "
                     f"{u['tumour_voxels_outside_roi']} tumour voxels fell outside it (coded within the rest's bound).")
    lines += result["notes"]
    lines += [f"files and preview: {result['output_dir']}" + (f"  (preview: {result['preview']})" if result["preview"] else "")]
    return "\n".join(lines)
