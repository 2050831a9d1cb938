"""medroi against the best classical codec, PER IMAGE, on every image of the shared data.

    python benchmarks/bench_codecs.py --all                 # everything (results/codecs_all.*)
    python benchmarks/bench_codecs.py --all --quick         # 1 image per group, no strong JPEG XL
    python benchmarks/bench_codecs.py --all --limit 3       # at most 3 images per group
    python benchmarks/bench_codecs.py --all --groups xray,dicom --limit 5

Data (``../shared/data`` or ``$MEDROI_DATA``), read with ``medroi.io`` as ``medroi compress``
reads it (NRRD with SimpleITK), groups:

- ``brats``: every case of ``brats/`` and ``brats_extra/``, every modality present; ROI =
  seg labels 1, 2, 4.
- ``xray``: every radiograph of ``xray/images``; ROI = lung labels 1, 2 where a
  ``masks/<name>_lungs.png`` exists.
- ``dicom``: single DICOM objects (``dicom/pydicom_data_singles``, files of ``more/fodicom``).
- ``series``: DICOM series folders (``dicom/*`` series, ``more/fodicom/abd1_mr``,
  ``more/totalsegmentator/example_ct_dicom``).
- ``more``: NIfTI and NRRD objects of ``more/`` (NRRD ``*_label``/``-label`` files are the
  ROI of their image).

Per image: medroi ``codec.compress`` on the whole image/volume at (0,0) (and (0,4) with the
ground-truth ROI where there is one), decoded and checked; the classical codecs per slice
(slices on the last axis, as medroi): JPEG-LS (CharLS, true bit depth), JPEG XL e7
lossless, their per-slice best ("best classical"), and for ROI images the ROI-exact hybrid
(0,4) (JPEG-LS NEAR=4 + exact ROI, smaller of the two layouts of ``classical.hybrid_encode``).
Ratio = classical bytes / medroi bytes (> 1: medroi is smaller). "Best real codec": JPEG XL
at ``--strong-effort`` (default 10, the strongest imagecodecs/libjxl accepts without expert
options) on every ``--strong-every``-th image of each group (a subset: it is slow).

Classical results do not depend on medroi: they are cached per image in
``results/codecs_all_classical.json`` (keyed by file sizes and the settings) so that a rerun
after a codec change only recomputes medroi. ``--no-cache`` recomputes everything.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import classical as C  # noqa: E402

DATA_ROOT = Path(os.environ.get("MEDROI_DATA", REPO.parent / "shared" / "data"))
GROUPS = ("brats", "xray", "dicom", "series", "more")
GROUP_TITLE = {"brats": "BRATS volumes", "xray": "Chest X-rays", "dicom": "DICOM single objects",
               "series": "DICOM series", "more": "more/ NIfTI + NRRD objects"}
BRATS_ROI = (1, 2, 4)
LUNG_ROI = (1, 2)
NEAR = 4  # "ROI exact + rest within 4"
CACHE_VERSION = 1
# what issue 9 asks the codec to reach (printed as PASS/FAIL lines, computed from the numbers)
TARGETS = {"brats_total": 1.15, "brats_min": 1.0, "brats_roi_total": 1.3,
           "2d_total": 1.03, "2d_min": 0.97, "xray_roi_total": 1.3}


@dataclass
class Item:
    """One image or volume to measure; ``load`` returns (array, roi or None)."""

    group: str
    name: str
    paths: list[Path]  # what the user's input file(s) are (for input bytes and the cache key)
    load: Callable[[], tuple[np.ndarray, np.ndarray | None]]

    def input_bytes(self) -> int:
        return sum(_size(p) for p in self.paths)

    def signature(self) -> str:
        return ";".join(f"{p.name}:{_size(p)}" for p in self.paths)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(q.stat().st_size for q in path.rglob("*") if q.is_file())
    return path.stat().st_size


# ---------------------------------------------------------------------------------------
# data discovery
# ---------------------------------------------------------------------------------------


def _read(path: Path) -> np.ndarray:
    from medroi.io import read_image

    return np.asarray(read_image(path).array)


def _mask(path: Path, labels, shape) -> np.ndarray | None:
    from medroi.io import read_mask

    try:
        return read_mask(path, labels, shape=shape)
    except Exception as exc:  # a mask that does not fit is reported, the image still measured
        print(f"  mask {path.name} not used: {exc}", file=sys.stderr)
        return None


def _brats(root: Path) -> list[Item]:
    items = []
    for sub in ("brats", "brats_extra"):
        for case in sorted(p for p in (root / sub).glob("*") if p.is_dir()):
            seg = case / f"{case.name}_seg.nii.gz"
            for img in sorted(case.glob(f"{case.name}_*.nii.gz")):
                mod = img.name[len(case.name) + 1 : -len(".nii.gz")]
                if mod == "seg":
                    continue

                def load(img=img, seg=seg):
                    arr = _read(img)
                    return arr, (_mask(seg, BRATS_ROI, arr.shape) if seg.is_file() else None)

                items.append(Item("brats", f"{case.name}_{mod}", [img], load))
    return items


def _xrays(root: Path) -> list[Item]:
    items = []
    for img in sorted((root / "xray" / "images").glob("*")):
        lungs = root / "xray" / "masks" / f"{img.stem}_lungs.png"

        def load(img=img, lungs=lungs):
            arr = _read(img)
            if not lungs.is_file():
                return arr, None
            planes = arr.ndim == 3  # a colour radiograph is read as planes: its 2D mask holds for each
            roi = _mask(lungs, LUNG_ROI, arr.shape[:2] if planes else arr.shape)
            return arr, (np.repeat(roi[..., None], arr.shape[2], axis=2) if planes and roi is not None else roi)

        items.append(Item("xray", img.stem, [img], load))
    return items


def _read_dicom(path: Path) -> np.ndarray:
    """medroi.io's reading, or pydicom's (force=True) for a DICOM file medroi.io does not
    recognise (no extension and no preamble, e.g. fodicom's CR-MONO1-10-chest): the codecs
    are measured on its pixels all the same."""
    from medroi.errors import UnsupportedFormatError

    try:
        return _read(path)
    except UnsupportedFormatError:
        import pydicom

        ds = pydicom.dcmread(str(path), force=True)
        if "TransferSyntaxUID" not in ds.file_meta:
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        arr = np.asarray(ds.pixel_array)
        print(f"  {path.name}: medroi.io does not read it; pixels read with pydicom (force=True)", file=sys.stderr)
        return np.ascontiguousarray(np.moveaxis(arr, 0, -1)) if arr.ndim == 3 else arr


def _dicom_singles(root: Path) -> list[Item]:
    files = sorted((root / "dicom" / "pydicom_data_singles").glob("*")) + sorted(
        p for p in (root / "more" / "fodicom").glob("*") if p.is_file()
    )
    return [Item("dicom", p.name, [p], lambda p=p: (_read_dicom(p), None)) for p in files if p.is_file()]


def _dicom_series(root: Path) -> list[Item]:
    folders = [p for p in sorted((root / "dicom").glob("*")) if p.is_dir() and p.name != "pydicom_data_singles"]
    folders += [root / "more" / "fodicom" / "abd1_mr", root / "more" / "totalsegmentator" / "example_ct_dicom"]
    return [Item("series", p.name, [p], lambda p=p: (_read(p), None)) for p in folders if p.is_dir()]


def _read_nrrd(path: Path) -> np.ndarray:
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))  # (z, y, x)
    return np.ascontiguousarray(np.moveaxis(arr, 0, -1)) if arr.ndim == 3 else arr


def _more(root: Path) -> list[Item]:
    items = []
    for p in sorted((root / "more" / "totalsegmentator").glob("*.nii.gz")):
        items.append(Item("more", p.name[: -len(".nii.gz")], [p], lambda p=p: (_read(p), None)))
    for p in sorted((root / "more" / "pyradiomics").glob("*.nrrd")):
        if p.stem.endswith(("_label", "-label")):
            continue
        base = p.stem[: -len("_image")] if p.stem.endswith("_image") else p.stem
        labels = [q for q in (p.with_name(f"{base}_label.nrrd"), p.with_name(f"{base}-label.nrrd")) if q.is_file()]

        def load(p=p, labels=labels):
            arr = _read_nrrd(p)
            roi = None
            if labels:
                lab = _read_nrrd(labels[0])
                roi = lab != 0 if lab.shape == arr.shape else None
            return arr, roi

        items.append(Item("more", p.stem, [p], load))
    return items


def discover(root: Path, groups: tuple[str, ...]) -> list[Item]:
    """Every image of the shared data in the chosen groups, in a stable order."""
    finders = {"brats": _brats, "xray": _xrays, "dicom": _dicom_singles, "series": _dicom_series, "more": _more}
    return [item for g in groups for item in finders[g](root)]


def select(items: list[Item], limit: int | None) -> list[Item]:
    """At most ``limit`` items per group, spread over the group (first, last and between)."""
    if not limit:
        return items
    out = []
    for g in dict.fromkeys(i.group for i in items):
        group = [i for i in items if i.group == g]
        if len(group) <= limit:
            out += group
        else:
            picks = sorted({round(k * (len(group) - 1) / max(1, limit - 1)) for k in range(limit)})
            out += [group[k] for k in picks]
    return out


# ---------------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------------


def slices(array: np.ndarray, roi: np.ndarray | None):
    """(slice, roi slice) along the last axis, as medroi codes a volume."""
    if array.ndim == 2:
        yield array, roi
        return
    for z in range(array.shape[-1]):
        yield (np.ascontiguousarray(array[..., z]), None if roi is None else np.ascontiguousarray(roi[..., z]))


def _colour_lossless(array: np.ndarray, effort: int = 7) -> tuple[int, int]:
    """(JPEG-LS, JPEG XL) bytes of a colour image (H, W, 3|4) coded as one colour image
    (interleaved JPEG-LS, JPEG XL with its colour transform), each decoded and checked:
    coding its planes apart would charge the classical codecs for the redundancy between
    planes that medroi's inter-plane prediction removes."""
    import imagecodecs

    jls = bytes(imagecodecs.jpegls_encode(array)) if array.shape[-1] == 3 else None
    jxl = bytes(imagecodecs.jpegxl_encode(array, lossless=True, effort=effort))
    if not np.array_equal(np.asarray(imagecodecs.jpegxl_decode(jxl)), array) or (
        jls is not None and not np.array_equal(np.asarray(imagecodecs.jpegls_decode(jls)), array)
    ):
        raise AssertionError("a classical lossless codec did not round-trip a colour image")
    return (len(jls) if jls is not None else len(jxl)), len(jxl)


def _hybrid_bytes(hybrid, x: np.ndarray, r: np.ndarray) -> int:
    """Bytes of the ROI-exact hybrid on one slice, decoded and checked against its bounds."""
    data = hybrid.encode(x, r)
    err = np.abs(hybrid.decode(data).astype(np.int64) - x.astype(np.int64))
    if (r.any() and err[r].max() > 0) or err.max() > NEAR:
        raise AssertionError("the ROI hybrid broke its bounds")
    return len(data)


def classical_image(array: np.ndarray, roi: np.ndarray | None, colour: bool = False) -> dict:
    """Bytes of the classical codecs on every slice (a colour image: lossless codecs on the
    whole colour image, the ROI hybrid per plane), each decoded and checked."""
    out = {"jpegls": 0, "jpegxl_e7": 0, "best": 0, "seconds_jxl7": 0.0}
    hybrid = C.jpegls_hybrid_codec(NEAR) if roi is not None and roi.any() else None
    if hybrid is not None:
        out["hybrid_0_4"] = 0
    if colour:
        t = time.perf_counter()
        out["jpegls"], out["jpegxl_e7"] = _colour_lossless(array)
        out["seconds_jxl7"] = time.perf_counter() - t
        out["best"] = min(out["jpegls"], out["jpegxl_e7"])
    for x, r in slices(array, roi):
        if not colour:
            jls = C.jpegls_encode(x)
            t = time.perf_counter()
            jxl = C.jpegxl_encode(x, None, 7)
            decoded = C.jpegxl_decode(jxl)
            out["seconds_jxl7"] += time.perf_counter() - t
            if not (np.array_equal(C.jpegls_decode(jls), x) and np.array_equal(decoded, x)):
                raise AssertionError("a classical lossless codec did not round-trip")
            out["jpegls"] += len(jls)
            out["jpegxl_e7"] += len(jxl)
            out["best"] += min(len(jls), len(jxl))
        if hybrid is not None:
            out["hybrid_0_4"] += _hybrid_bytes(hybrid, x, r)
    return out


def strong_image(array: np.ndarray, effort: int, colour: bool = False) -> dict:
    """JPEG XL lossless at ``effort`` on every slice, or on the whole colour image (bytes and
    encode seconds)."""
    out = {f"jpegxl_e{effort}": 0, "seconds_strong": 0.0}
    if colour:
        t = time.perf_counter()
        out[f"jpegxl_e{effort}"] = _colour_lossless(array, effort)[1]
        out["seconds_strong"] = time.perf_counter() - t
        return out
    for x, _ in slices(array, None):
        t = time.perf_counter()
        out[f"jpegxl_e{effort}"] += len(C.jpegxl_encode(x, None, effort))
        out["seconds_strong"] += time.perf_counter() - t
    return out


def medroi_image(mc, array: np.ndarray, roi: np.ndarray | None) -> dict:
    """medroi bytes at (0,0) (and (0,4) with the ROI), encode/decode seconds, checked."""
    out = {}
    points = [(0, 0)] + ([(0, NEAR)] if roi is not None and roi.any() else [])
    for rb, nb in points:
        t = time.perf_counter()
        data = mc.compress(array, roi_mask=roi, roi_max_error=rb, nroi_max_error=nb)
        t_enc = time.perf_counter() - t
        t = time.perf_counter()
        dec = np.asarray(mc.decompress(data).array)
        t_dec = time.perf_counter() - t
        err = np.abs(dec.astype(np.int64) - array.astype(np.int64))
        if (roi is not None and roi.any() and err[roi].max() > rb) or err.max() > max(rb, nb):
            raise AssertionError(f"medroi broke its bounds ({rb},{nb})")
        key = f"{rb}_{nb}"
        out[f"medroi_{key}"] = len(data)
        out[f"enc_s_{key}"] = t_enc
        out[f"dec_s_{key}"] = t_dec
    return out


def _bits(array: np.ndarray) -> int:
    lo, hi = int(array.min()), int(array.max())
    return max(1, (hi - min(lo, 0)).bit_length())


def interleave(items: list[Item]) -> list[Item]:
    """Round-robin over the groups (keeping each group's order)."""
    queues = [[i for i in items if i.group == g] for g in dict.fromkeys(i.group for i in items)]
    return [q[k] for k in range(max(map(len, queues), default=0)) for q in queues if k < len(q)]


def measure(items: list[Item], cache: dict, strong: set[str], strong_effort: int, mc, log,
            first: int = 0, total: int | None = None) -> list[dict]:
    """One row per item (classical from the cache when the key matches)."""
    rows = []
    for n, item in enumerate(items, first + 1):
        key = f"{item.group}/{item.name}"
        row = {"group": item.group, "name": item.name}
        t0 = time.perf_counter()
        try:
            array, roi = item.load()
            if array.ndim not in (2, 3):
                raise ValueError(f"{array.ndim}D image")
            row.update({
                "shape": list(array.shape), "dtype": array.dtype.name, "bits": _bits(array),
                "dims": array.ndim, "slices": 1 if array.ndim == 2 else array.shape[-1],
                "raw_bytes": int(array.nbytes), "input_bytes": item.input_bytes(),
                "roi_fraction": float(roi.mean()) if roi is not None else None,
            })
            # the array's shape is part of the key: a reader change (e.g. colour kept as planes)
            # must not reuse results measured on another representation of the same file
            colour = item.group == "xray" and array.ndim == 3  # a colour radiograph, read as planes
            row["colour"] = colour
            sig = (f"{item.signature()}|{row['shape']}:{row['dtype']}{'|colour' if colour else ''}"
                   f"|roi={row['roi_fraction']}|v{CACHE_VERSION}")
            row.update(_cached(cache, key, sig, lambda: classical_image(array, roi, colour)))
            if key in strong:
                row.update(_cached(cache, f"{key}|e{strong_effort}", sig,
                                   lambda: strong_image(array, strong_effort, colour)))
            if mc is not None:
                row.update(medroi_image(mc, array, roi))
        except Exception as exc:  # reported per image, the run goes on
            row["error"] = f"{type(exc).__name__}: {exc}"
        row["seconds"] = round(time.perf_counter() - t0, 2)
        rows.append(row)
        ratio = _ratio(row, "best", "medroi_0_0")
        log(f"[{n}/{total or len(items)}] {key}: " + (row.get("error") or
            f"medroi/best {ratio:.3f}" + (f", ROI {_ratio(row, 'hybrid_0_4', f'medroi_0_{NEAR}'):.3f}"
                                          if "hybrid_0_4" in row and f"medroi_0_{NEAR}" in row else ""))
            + f" ({row['seconds']} s)")
    return rows


def _cached(cache: dict, key: str, signature: str, compute: Callable[[], dict]) -> dict:
    entry = cache.get(key)
    if entry and entry.get("signature") == signature:
        return entry["result"]
    result = compute()
    cache[key] = {"signature": signature, "result": result}
    return result


def _ratio(row: dict, ref: str, ours: str) -> float:
    if row.get(ref) and row.get(ours):
        return row[ref] / row[ours]
    return float("nan")


# ---------------------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------------------


def stats(rows: list[dict], ref: str, ours: str, worst: int = 3) -> dict | None:
    """Total ratio (sum ref / sum ours), per-image min/median/max and the worst images."""
    ok = [r for r in rows if r.get(ref) and r.get(ours)]
    if not ok:
        return None
    ratios = sorted((r[ref] / r[ours], r["name"]) for r in ok)
    values = [v for v, _ in ratios]
    return {
        "images": len(ok),
        "ref_bytes": sum(r[ref] for r in ok),
        "ours_bytes": sum(r[ours] for r in ok),
        "total": sum(r[ref] for r in ok) / sum(r[ours] for r in ok),
        "min": values[0],
        "median": float(np.median(values)),
        "max": values[-1],
        "below_1": sum(v < 1 for v in values),
        "worst": [{"name": n, "ratio": v} for v, n in ratios[:worst]],
    }


def summarize(rows: list[dict], strong_effort: int) -> dict:
    """Per group, all 2D images, all 3D volumes: lossless, ROI, JPEG-LS/XL alone, strong JXL."""
    sets = {g: [r for r in rows if r["group"] == g] for g in dict.fromkeys(r["group"] for r in rows)}
    sets["all 2D"] = [r for r in rows if r.get("dims") == 2 or r.get("colour")]  # a colour radiograph is 2D
    sets["all 3D"] = [r for r in rows if r.get("dims") == 3 and not r.get("colour")]
    strong = f"jpegxl_e{strong_effort}"
    out = {}
    for name, rs in sets.items():
        if not rs:
            continue
        out[name] = {
            "images": len(rs),
            "errors": [f"{r['name']}: {' '.join(r['error'].split())}" for r in rs if r.get("error")],
            "lossless": stats(rs, "best", "medroi_0_0"),
            "lossless_vs_jpegls": stats(rs, "jpegls", "medroi_0_0"),
            "lossless_vs_jpegxl_e7": stats(rs, "jpegxl_e7", "medroi_0_0"),
            "roi": stats(rs, "hybrid_0_4", f"medroi_0_{NEAR}"),
            "strong_vs_medroi": stats(rs, strong, "medroi_0_0"),
            "strong_vs_best": stats(rs, strong, "best"),
            "vs_input_file": stats(rs, "input_bytes", "medroi_0_0"),
        }
    return out


def verdicts(summary: dict) -> list[str]:
    """Issue 9's targets, checked against the measured totals (PASS/FAIL lines)."""
    lines = []

    def check(label, value, target):
        if value is None:
            lines.append(f"{label}: not measured")
        else:
            lines.append(f"{label}: {value:.3f} (target >= {target}) {'PASS' if value >= target else 'FAIL'}")

    b = summary.get("brats", {})
    check("BRATS lossless total vs best classical", (b.get("lossless") or {}).get("total"), TARGETS["brats_total"])
    check("BRATS lossless worst volume", (b.get("lossless") or {}).get("min"), TARGETS["brats_min"])
    check("BRATS tumour exact + rest within 4, total vs hybrid", (b.get("roi") or {}).get("total"),
          TARGETS["brats_roi_total"])
    d2 = summary.get("all 2D", {})
    check("2D images lossless total vs best classical", (d2.get("lossless") or {}).get("total"), TARGETS["2d_total"])
    check("2D images lossless worst image", (d2.get("lossless") or {}).get("min"), TARGETS["2d_min"])
    x = summary.get("xray", {})
    check("X-ray lungs exact + rest within 4, total vs hybrid", (x.get("roi") or {}).get("total"),
          TARGETS["xray_roi_total"])
    return lines


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------


def _f(v, fmt="{:.3f}") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return fmt.format(v)


def _worst(s: dict | None) -> str:
    return ", ".join(f"{w['name']} {w['ratio']:.3f}" for w in s["worst"]) if s else "-"


def _stat_cells(s: dict | None) -> str:
    if not s:
        return "- | - | - | - | - | - | -"
    return (f"{s['images']} | {s['total']:.3f} | {s['min']:.3f} | {s['median']:.3f} | {s['max']:.3f} | "
            f"{s['below_1']} | {_worst(s)}")


def markdown(meta: dict, rows: list[dict], summary: dict) -> str:
    se = meta["strong_effort"]
    L = [
        "# medroi per image against the best classical codec, on all the shared data",
        "",
        f"- command: `{meta['command']}`",
        f"- date: {meta['date']}; git {meta['git']}; wall {meta['wall_seconds']} s",
        f"- machine: {meta['machine']}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}",
        f"- images: {len(rows)} ({', '.join(f'{g}: {n}' for g, n in meta['counts'].items())})"
        + (f"; limited: {meta['limit']} per group" if meta.get("limit") else ""),
        *([f"- note: {meta['note']}"] if meta.get("note") else []),
        "",
        "Ratio = classical bytes / medroi bytes (> 1: medroi's file is smaller). Lossless: medroi "
        "(0,0) on the whole image/volume vs **best classical** = per slice the smaller of JPEG-LS "
        "(CharLS, true bit depth) and JPEG XL e7 lossless, summed. ROI: medroi (0,4) (ROI exact, "
        "rest within 4) vs the ROI-exact hybrid JPEG-LS (0,4), for images with a ground-truth ROI "
        "(BRATS seg labels 1,2,4; X-ray lungs; NRRD labels). Total = sum of the reference bytes / "
        "sum of medroi bytes; min / median / max over the images; 'below 1' = images where "
        "medroi is larger; worst = the 3 lowest ratios. Every stream was decoded and checked "
        "(lossless bit-exact, bounds held). Classical streams carry a 4-8 byte header, medroi's "
        "its .mroi container. A colour radiograph (read as planes, as medroi codes it) is coded "
        "by JPEG-LS (interleaved) and JPEG XL (with its colour transform) as one colour image; "
        "its ROI hybrid per plane.",
        "",
        "## Targets (issue 9, from the numbers below)",
        "",
        *[f"- {line}" for line in verdicts(summary)],
        "",
        "## Lossless: medroi (0,0) vs best classical (per-slice best of JPEG-LS and JPEG XL e7)",
        "",
        "| set | images | total | min | median | max | below 1 | worst |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        L.append(f"| {GROUP_TITLE.get(name, name)} | {_stat_cells(s['lossless'])} |")
    L += ["", "Against each classical codec alone (total ratio): ", ""]
    L += ["| set | vs JPEG-LS | vs JPEG XL e7 | medroi vs the input file(s) as stored |", "|---|---|---|---|"]
    for name, s in summary.items():
        L.append(f"| {GROUP_TITLE.get(name, name)} | {_f((s['lossless_vs_jpegls'] or {}).get('total'))} | "
                 f"{_f((s['lossless_vs_jpegxl_e7'] or {}).get('total'))} | "
                 f"{_f((s['vs_input_file'] or {}).get('total'))} |")
    L += ["", "## ROI exact + rest within 4: medroi (0,4) vs the ROI-exact hybrid JPEG-LS (0,4)", "",
          "| set | images | total | min | median | max | below 1 | worst |", "|---|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        if s["roi"]:
            L.append(f"| {GROUP_TITLE.get(name, name)} | {_stat_cells(s['roi'])} |")
    subset = (f"subset: every {meta['strong_every']}th image of each group, from the first; it is slow"
              if meta["strong_every"] else "not run in this run")
    L += ["", f"## Best real codec: JPEG XL e{se} lossless ({subset})", "",
          f"| set | images | JPEG XL e{se} / medroi (0,0): total | min | median | max | below 1 | worst | "
          f"JPEG XL e{se} / best classical: total |", "|---|---|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        if s["strong_vs_medroi"]:
            L.append(f"| {GROUP_TITLE.get(name, name)} | {_stat_cells(s['strong_vs_medroi'])} | "
                     f"{_f(s['strong_vs_best']['total'])} |")
    errors = [e for name, s in summary.items() if name in GROUPS for e in s["errors"]]
    L += ["", "## Not measured", ""] + ([f"- {e}" for e in errors] or ["- none"])
    L += ["", "## Per image", "",
          "| group | image | shape | dtype | bits | input bytes | medroi (0,0) | JPEG-LS | JPEG XL e7 | best | "
          "ratio | medroi (0,4) | hybrid (0,4) | ROI ratio | JPEG XL strong | medroi enc+dec s |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("error"):
            continue
        strong = r.get(f"jpegxl_e{se}")
        L.append(
            f"| {r['group']} | {r['name']} | {'x'.join(map(str, r['shape']))} | {r['dtype']} | {r['bits']} | "
            f"{r['input_bytes']} | {r.get('medroi_0_0', '-')} | {r['jpegls']} | {r['jpegxl_e7']} | {r['best']} | "
            f"{_f(_ratio(r, 'best', 'medroi_0_0'))} | {r.get(f'medroi_0_{NEAR}', '-')} | {r.get('hybrid_0_4', '-')} | "
            f"{_f(_ratio(r, 'hybrid_0_4', f'medroi_0_{NEAR}'))} | {strong if strong else '-'} | "
            f"{_f((r.get('enc_s_0_0') or 0) + (r.get('dec_s_0_0') or 0), '{:.2f}')} |"
        )
    L += ["", f"![per-image ratios]({meta['plot']})", ""]
    return "\n".join(L)


def readme_table(result: dict) -> str:
    """The README's results table (markdown) from a codecs_all.json."""
    meta, summary = result["meta"], result["summary"]
    L = [f"Per image, on all the shared data ({sum(meta['counts'].values())} images; "
         f"`{meta['command']}`, git {meta['git']}, {meta['date'][:10]}). Ratio = classical bytes / medroi "
         "bytes (> 1: medroi smaller); lossless vs the per-slice best of JPEG-LS and JPEG XL e7; ROI exact + "
         "rest within 4 vs the ROI-exact JPEG-LS hybrid. Details: "
         "[benchmarks/results/codecs_all.md](benchmarks/results/codecs_all.md).", "",
         "| set | images | lossless total | min | median | worst image | ROI (0,4) total | ROI min |",
         "|---|---:|---:|---:|---:|---|---:|---:|"]
    for name, s in summary.items():
        lo, roi = s.get("lossless"), s.get("roi")
        if not lo:
            continue
        worst = lo["worst"][0]
        L.append(f"| {GROUP_TITLE.get(name, name)} | {lo['images']} | {lo['total']:.3f} | {lo['min']:.3f} | "
                 f"{lo['median']:.3f} | {worst['name']} ({worst['ratio']:.3f}) | "
                 f"{_f((roi or {}).get('total'))} | {_f((roi or {}).get('min'))} |")
    return "\n".join(L)


def plot(path: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(r["group"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, (ref, ours, title) in zip(axes, (("best", "medroi_0_0", "lossless: best classical / medroi (0,0)"),
                                             ("hybrid_0_4", f"medroi_0_{NEAR}", "ROI exact + rest within 4: "
                                              "hybrid / medroi (0,4)"))):
        for i, g in enumerate(groups):
            vals = [_ratio(r, ref, ours) for r in rows if r["group"] == g]
            vals = [v for v in vals if not math.isnan(v)]
            if vals:
                jitter = np.random.default_rng(i).uniform(-0.2, 0.2, len(vals))
                ax.plot(i + jitter, vals, "o", ms=4, alpha=0.7, color=f"C{i}")
                ax.plot([i - 0.3, i + 0.3], [float(np.median(vals))] * 2, "k-", lw=2)
        ax.axhline(1.0, color="red", lw=1, ls="--")
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([GROUP_TITLE.get(g, g) for g in groups], rotation=20, fontsize=8)
        ax.set_ylabel("ratio (> 1: medroi smaller)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="medroi per image vs the best classical codec, all shared data")
    ap.add_argument("--quick", action="store_true", help="1 image per group, no strong JPEG XL (a short check)")
    ap.add_argument("--limit", type=int, default=None, help="at most this many images per group")
    ap.add_argument("--groups", default=",".join(GROUPS), help=f"comma-separated subset of {','.join(GROUPS)}")
    ap.add_argument("--strong-effort", type=int, default=10, help="JPEG XL effort of the 'best real codec' row")
    ap.add_argument("--strong-every", type=int, default=10,
                    help="run the strong JPEG XL on every N-th image of each group (1 = all; 0 = none)")
    ap.add_argument("--no-medroi", action="store_true", help="classical codecs only (fills the cache)")
    ap.add_argument("--no-cache", action="store_true", help="recompute the classical codecs")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="output folder")
    ap.add_argument("--readme", action="store_true",
                    help="print README's results table from results/codecs_all.json (no measuring)")
    ap.add_argument("--render", type=Path, default=None,
                    help="rewrite the .md/.png of this codecs_all*.json with the current report code (no measuring)")
    args = ap.parse_args(argv)
    if args.render:
        result = json.loads(args.render.read_text())
        rows = result["rows"]
        result["summary"] = summarize(rows, result["meta"]["strong_effort"])
        args.render.write_text(json.dumps(result, indent=1))
        plot(args.render.with_suffix(".png"), rows)
        args.render.with_suffix(".md").write_text(markdown(result["meta"], rows, result["summary"]))
        return 0
    if args.readme:
        print(readme_table(json.loads((args.out / "codecs_all.json").read_text())))
        return 0
    groups = tuple(g.strip() for g in args.groups.split(",") if g.strip())
    unknown = set(groups) - set(GROUPS)
    if unknown:
        ap.error(f"unknown groups {sorted(unknown)}; choose from {','.join(GROUPS)}")
    limit = 1 if args.quick else args.limit
    strong_every = 0 if args.quick else args.strong_every
    start = time.perf_counter()

    import bench_codecs as B

    items = select(discover(DATA_ROOT, groups), limit)
    strong = set()
    if strong_every:
        for g in groups:
            group = [i for i in items if i.group == g]
            strong |= {f"{i.group}/{i.name}" for i in group[::strong_every]}
    mc = None
    if not args.no_medroi:
        mc, status = B.medroi_status()
        if mc is None:
            print(f"medroi {status}", file=sys.stderr)
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    cache_path = args.out / "codecs_all_classical.json"
    cache = {} if args.no_cache or not cache_path.is_file() else json.loads(cache_path.read_text())

    def log(line: str) -> None:
        print(line, flush=True)
        cache_path.write_text(json.dumps(cache, indent=0, sort_keys=True))  # resumable: save as we go

    stem = "codecs_all" if not (args.quick or args.limit or set(groups) != set(GROUPS)) else "codecs_all_quick"
    rows: list[dict] = []
    summary: dict = {}
    order = interleave(items)  # all groups early: a run cut short still covers every group
    for start_at in range(0, len(order), 5):  # the report is rewritten every 5 images
        rows += measure(order[start_at : start_at + 5], cache, strong, args.strong_effort, mc, log,
                        first=start_at, total=len(order))
        cache_path.write_text(json.dumps(cache, indent=0, sort_keys=True))
        rows.sort(key=lambda r: (GROUPS.index(r["group"]), r["name"]))
        summary = write_report(args, argv, stem, groups, limit, strong_every, rows, start)
    print("\n".join(verdicts(summary)))
    print(f"wrote {args.out / (stem + '.md')}, .json, .png in {time.perf_counter() - start:.0f} s")
    return 0


def write_report(args, argv, stem: str, groups, limit, strong_every: int, rows: list[dict], start: float) -> dict:
    """Write results/<stem>.{md,json,png} from the rows so far; returns the summary."""
    import bench_codecs as B

    summary = summarize(rows, args.strong_effort)
    import medroi

    vers = {"medroi": medroi.__version__, **C.versions()}  # the code that ran, not the installed metadata
    argv_str = " ".join(shlex.quote(a) for a in ["--all", *(sys.argv[1:] if argv is None else argv)])
    meta = {
        "command": f"python benchmarks/bench_codecs.py {argv_str}".strip(),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git": B.git_rev(),
        "machine": B.machine(),
        "versions": vers,
        "limit": limit,
        "strong_effort": args.strong_effort,
        "strong_every": strong_every,
        "counts": {g: sum(r["group"] == g for r in rows) for g in groups},
        "plot": f"{stem}.png",
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    plot(args.out / f"{stem}.png", rows)
    (args.out / f"{stem}.md").write_text(markdown(meta, rows, summary))
    (args.out / f"{stem}.json").write_text(json.dumps({"meta": meta, "summary": summary, "rows": rows}, indent=1))
    return summary
