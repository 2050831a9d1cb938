"""Quick size check of the codec's probability model on all of ../shared/data.

Per image: medroi lossless bytes vs the per-slice best of JPEG-LS (true bit depth) and
JPEG XL e7 lossless, and (with a mask) medroi ROI exact + rest within 4 vs the JPEG-LS
hybrid. Classical sizes are cached (they do not change with medroi), so re-running after
a codec change costs only medroi's time. Sizes only; speed is bench_speed / bench_batch.

    python benchmarks/bench_model.py --set brats --out benchmarks/results/model_brats.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import classical as C  # noqa: E402

from medroi.codec import compress, decompress  # noqa: E402

DATA = Path(os.environ.get("MEDROI_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CACHE = Path(__file__).resolve().parent / "results" / "classical_sizes.json"


def _nifti(path: Path) -> np.ndarray:
    import nibabel as nib

    img = nib.load(path)
    arr = np.asarray(img.dataobj)
    return np.asarray(img.dataobj.get_unscaled()) if arr.dtype.kind == "f" else arr


def units(which: str):
    """(set, name, array (slices on the last axis for 3D), roi or None)."""
    if which in ("brats", "all"):
        for root in (DATA / "brats", DATA / "brats_extra"):
            for case in sorted(p for p in root.iterdir() if p.is_dir()):
                roi = np.isin(_nifti(case / f"{case.name}_seg.nii.gz"), (1, 2, 4))
                for path in sorted(case.glob(f"{case.name}_*.nii.gz")):
                    mod = path.name[len(case.name) + 1 : -7]
                    if mod != "seg":
                        yield "brats", f"{case.name}_{mod}", _nifti(path), roi
    if which in ("2d", "all"):
        from PIL import Image

        for path in sorted((DATA / "xray" / "images").iterdir()):
            with Image.open(path) as im:
                arr = np.asarray(im)
            if arr.ndim == 3:
                arr = np.ascontiguousarray(arr[..., 0]) if np.array_equal(arr[..., 0], arr[..., 1]) else None
            if arr is None:
                continue
            mask = DATA / "xray" / "masks" / f"{path.stem}_lungs.png"
            roi = np.isin(np.asarray(Image.open(mask)), (1, 2)) if mask.exists() else None
            if roi is not None and roi.shape != arr.shape:
                roi = None
            yield "xray", path.stem, arr, roi
        from medroi.io import read_image

        for path in sorted((DATA / "dicom" / "pydicom_data_singles").glob("*.dcm")) + sorted(
            (DATA / "more" / "fodicom").glob("*.dcm")
        ):
            try:
                arr = read_image(path).array
            except Exception as error:  # unreadable here (codec missing): say so, go on
                print(f"skip {path.name}: {error}", file=sys.stderr)
                continue
            if arr.ndim == 3 and arr.shape[-1] == 1:
                arr = arr[..., 0]
            yield ("dicom2d" if arr.ndim == 2 else "dicom3d"), path.stem, arr, None


def _slices(arr: np.ndarray):
    return [arr] if arr.ndim == 2 else [np.ascontiguousarray(arr[..., z]) for z in range(arr.shape[-1])]


def classical(name: str, arr: np.ndarray, roi, cache: dict) -> dict:
    if name in cache:
        return cache[name]
    out = {"jls": 0, "jxl": 0, "best": 0, "hybrid4": 0}
    rois = _slices(roi) if roi is not None else [None] * len(_slices(arr))
    for s, r in zip(_slices(arr), rois):
        jls = len(C.jpegls_encode(s))
        jxl = len(C.jpegxl_encode(s, effort=7))
        out["jls"] += jls
        out["jxl"] += jxl
        out["best"] += min(jls, jxl)
        if r is not None:
            out["hybrid4"] += len(C.jpegls_hybrid_codec(4).encode(s, r))
    cache[name] = out
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="brats", choices=["brats", "2d", "all"])
    ap.add_argument("--only", default="", help="substring filter on names")
    ap.add_argument("--lossy", action="store_true", help="also ROI exact + rest within 4 (needs a mask)")
    ap.add_argument("--verify", action="store_true", help="decode and check bounds")
    ap.add_argument("--entropy", default="ans")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    rows = []
    for group, name, arr, roi in units(args.set):
        if args.only and args.only not in name:
            continue
        if arr.dtype.name not in ("uint8", "int8", "uint16", "int16"):
            arr = arr.astype(np.int32) if arr.min() < 0 else arr.astype(np.uint16)
        ref = classical(name, arr, roi, cache)
        CACHE.write_text(json.dumps(cache, indent=0, sort_keys=True))
        t = time.perf_counter()
        data = compress(arr, roi_max_error=0, nroi_max_error=0, entropy=args.entropy)
        enc_s = time.perf_counter() - t
        row = {"set": group, "name": name, "raw": int(arr.size * arr.itemsize), "medroi": len(data),
               "best": ref["best"], "ratio": ref["best"] / len(data), "enc_s": round(enc_s, 2)}
        if args.verify:
            assert np.array_equal(decompress(data).array, arr), name
        if args.lossy and roi is not None:
            data4 = compress(arr, roi, roi_max_error=0, nroi_max_error=4, entropy=args.entropy)
            row.update(medroi4=len(data4), hybrid4=ref["hybrid4"], ratio4=ref["hybrid4"] / len(data4))
            if args.verify:
                dec = decompress(data4).array.astype(np.int64)
                err = np.abs(dec - arr)
                assert err[roi].max(initial=0) == 0 and err.max() <= 4, name
        rows.append(row)
        extra = f"  (0,4) {row['ratio4']:.3f}x" if "ratio4" in row else ""
        print(f"{group:8s} {name:34s} CR {row['raw'] / row['medroi']:6.2f}  vs best {row['ratio']:.3f}x{extra}"
              f"  {enc_s:.1f}s", flush=True)
    for group in sorted({r["set"] for r in rows}):
        rs = [r for r in rows if r["set"] == group]
        total = sum(r["best"] for r in rs) / sum(r["medroi"] for r in rs)
        worst = min(rs, key=lambda r: r["ratio"])
        line = f"{group}: {len(rs)} images, lossless total {total:.3f}x, worst {worst['ratio']:.3f}x ({worst['name']})"
        r4 = [r for r in rs if "ratio4" in r]
        if r4:
            line += f"; (0,4) total {sum(r['hybrid4'] for r in r4) / sum(r['medroi4'] for r in r4):.3f}x"
            line += f", worst {min(r['ratio4'] for r in r4):.3f}x"
        print(line)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
