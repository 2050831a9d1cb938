"""medroi next to the classical codecs, on the same slices, in one run.

    python benchmarks/bench_codecs.py            # full: BRATS validation cases + lung-mask X-rays
    python benchmarks/bench_codecs.py --quick    # 1 BRATS case, 1 modality, 3 X-rays (~1 min)
    python benchmarks/bench_codecs.py --all      # PER IMAGE on all the shared data (see codecs_all.py)

Data: ``../shared/data`` beside the checkout, or ``$MEDROI_DATA``. Nothing is copied.

- BRATS: the validation cases = the last 2 of the sorted case list; flair, t1, t1ce, t2;
  ROI = whole tumor (seg labels 1, 2, 4). Every axial slice (240 x 240, int16) is coded on
  its own by the classical codecs; medroi gets the whole volume (its slice axis = last).
- X-rays: the radiographs with lung masks (``masks/<name>_lungs.png``, ROI = labels 1, 2),
  as 2D uint8 (RGB/RGBA with equal channels -> one channel; otherwise ITU-R 601 luma).

Metrics per codec and dataset:
- CR = raw native bytes (rows * cols * itemsize, summed over slices) / compressed bytes;
  bits per pixel = 8 * compressed bytes / pixels.
- PSNR ROI / NROI with MAX = the original's dynamic range (max - min of the volume for
  BRATS, of the image for X-rays): squared errors divided by MAX^2 of their own
  volume/image, pooled over all pixels of the region in the dataset; inf = exact.
- Max abs error ROI / NROI; every decoded slice is checked against the codec's bound.
- Encode / decode slices per second (and Mpx/s): per slice the best of ``--repeats`` runs,
  summed; single process, single thread per codec call.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import classical as C  # noqa: E402

DATA_ROOT = Path(os.environ.get("MEDROI_DATA", REPO.parent / "shared" / "data"))
BRATS_MODALITIES = ("flair", "t1", "t1ce", "t2")
BRATS_ROI_LABELS = (1, 2, 4)
XRAY_ROI_LABELS = (1, 2)
MEDROI_KS = (0, 1, 2, 4, 8)  # medroi with the classical predictor, ROI bound 0
NET_POINTS = ((0, 0), (0, 4), (0, None), (None, None))  # with the shipped network: (0,0), (0,4), AE-only, paper mode
PAPER_XRAY_NROI_DB = 45.0  # the paper's X-ray point: ROI exact (56 dB claimed) + NROI >= 45 dB, CR 6.73
PAPER_XRAY_CR = 6.73


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------


@dataclass
class Unit:
    """One volume or image: the unit that defines MAX (dynamic range) for PSNR."""

    dataset: str
    name: str
    array: np.ndarray  # 2D image, or 3D volume with slices on the last axis
    roi: np.ndarray  # bool, same shape
    stored_bytes: int | None = None  # size of the file(s) as stored, for reference

    def slices(self):
        if self.array.ndim == 2:
            yield self.array, self.roi
        else:
            for z in range(self.array.shape[-1]):
                yield np.ascontiguousarray(self.array[..., z]), np.ascontiguousarray(self.roi[..., z])

    @property
    def n_slices(self) -> int:
        return 1 if self.array.ndim == 2 else self.array.shape[-1]


def load_brats(quick: bool) -> list[Unit]:
    import nibabel as nib

    root = DATA_ROOT / "brats"
    if not root.is_dir():
        print(f"BRATS not found at {root}; skipping", file=sys.stderr)
        return []
    cases = sorted(p.name for p in root.iterdir() if p.is_dir())
    cases = cases[-1:] if quick else cases[-2:]
    mods = BRATS_MODALITIES[:1] if quick else BRATS_MODALITIES
    units = []
    for case in cases:
        seg = np.asarray(nib.load(root / case / f"{case}_seg.nii.gz").dataobj)
        roi = np.isin(seg, BRATS_ROI_LABELS)
        for mod in mods:
            path = root / case / f"{case}_{mod}.nii.gz"
            img = nib.load(path)
            arr = np.asarray(img.dataobj)
            if arr.dtype.kind == "f":  # scaled on read: code the stored integers
                arr = np.asarray(img.dataobj.get_unscaled())
            units.append(Unit("BRATS", f"{case}_{mod}", arr, roi, path.stat().st_size))
    return units


def _gray(im: np.ndarray) -> np.ndarray:
    if im.ndim == 2:
        return im
    rgb = im[..., :3]
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return np.ascontiguousarray(rgb[..., 0])
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.clip(np.rint(luma), 0, np.iinfo(im.dtype).max).astype(im.dtype)


def load_xrays(quick: bool, max_mpx: float) -> tuple[list[Unit], list[str]]:
    from PIL import Image

    root = DATA_ROOT / "xray"
    if not root.is_dir():
        print(f"X-rays not found at {root}; skipping", file=sys.stderr)
        return [], []
    units, skipped = [], []
    for mpath in sorted((root / "masks").glob("*_lungs.png")):
        name = mpath.name[: -len("_lungs.png")]
        found = sorted((root / "images").glob(name + ".*"))
        if not found:
            continue
        with Image.open(found[0]) as im:
            w, h = im.size
            if (quick and w * h > 1.5e6) or (max_mpx > 0 and w * h > max_mpx * 1e6):
                skipped.append(f"{name} ({w}x{h})")
                continue
            arr = _gray(np.asarray(im))
        roi = np.isin(np.asarray(Image.open(mpath)), XRAY_ROI_LABELS)
        if roi.shape != arr.shape:
            skipped.append(f"{name} (mask shape {roi.shape} != image {arr.shape})")
            continue
        units.append(Unit("X-ray", name, arr, roi, found[0].stat().st_size))
        if quick and len(units) == 3:
            break
    return units, ([] if quick else skipped)


# ---------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------


@dataclass
class Stats:
    family: str
    setting: str
    roi_bound: int | None
    nroi_bound: int | None
    x: float | None = None
    raw_bytes: int = 0
    comp_bytes: int = 0
    pixels: int = 0
    slices: int = 0
    enc_s: float = 0.0
    dec_s: float = 0.0
    max_roi: int = 0
    max_nroi: int = 0
    se_roi: float = 0.0  # sum of squared error / MAX^2
    se_nroi: float = 0.0
    n_roi: int = 0
    n_nroi: int = 0
    violations: int = 0
    ssim_sum: float = 0.0  # SSIM (medroi.metrics.ssim, MAX = dynamic range) summed over slices
    ssim_n: int = 0
    layouts: dict = field(default_factory=dict)
    error: str | None = None

    def add_errors(self, orig: np.ndarray, dec: np.ndarray, roi: np.ndarray, max_range: float) -> None:
        if dec.shape != orig.shape:
            raise ValueError(f"decoded shape {dec.shape} != original {orig.shape}")
        err = dec.astype(np.int64) - orig.astype(np.int64)
        a = np.abs(err)
        m2 = max(max_range, 1.0) ** 2
        er, en = a[roi], a[~roi]
        mr = int(er.max()) if er.size else 0
        mn = int(en.max()) if en.size else 0
        self.max_roi = max(self.max_roi, mr)
        self.max_nroi = max(self.max_nroi, mn)
        self.se_roi += float(np.sum(er.astype(np.float64) ** 2)) / m2
        self.se_nroi += float(np.sum(en.astype(np.float64) ** 2)) / m2
        self.n_roi += er.size
        self.n_nroi += en.size
        self.ssim_sum += 1.0 if not err.any() else _ssim(orig, dec, max(max_range, 1.0))
        self.ssim_n += 1
        if (self.roi_bound is not None and mr > self.roi_bound) or (
            self.nroi_bound is not None and mn > self.nroi_bound
        ):
            self.violations += 1

    @staticmethod
    def _psnr(se: float, n: int) -> float:
        if n == 0:
            return float("nan")
        return float("inf") if se == 0 else 10 * math.log10(n / se)

    def row(self) -> dict:
        ok = self.error is None and self.comp_bytes > 0
        return {
            "codec": self.family,
            "setting": self.setting,
            "bound_roi": self.roi_bound,
            "bound_nroi": self.nroi_bound,
            "x": self.x,
            "cr": self.raw_bytes / self.comp_bytes if ok else None,
            "bpp": 8 * self.comp_bytes / self.pixels if ok else None,
            "psnr_roi": self._psnr(self.se_roi, self.n_roi) if ok else None,
            "psnr_nroi": self._psnr(self.se_nroi, self.n_nroi) if ok else None,
            "ssim": self.ssim_sum / self.ssim_n if ok and self.ssim_n else None,
            "max_err_roi": self.max_roi if ok else None,
            "max_err_nroi": self.max_nroi if ok else None,
            "enc_slices_s": self.slices / self.enc_s if ok and self.enc_s else None,
            "dec_slices_s": self.slices / self.dec_s if ok and self.dec_s else None,
            "enc_mpx_s": self.pixels / 1e6 / self.enc_s if ok and self.enc_s else None,
            "dec_mpx_s": self.pixels / 1e6 / self.dec_s if ok and self.dec_s else None,
            "raw_bytes": self.raw_bytes,
            "compressed_bytes": self.comp_bytes,
            "slices": self.slices,
            "violations": self.violations,
            "layouts": self.layouts,
            "error": self.error,
        }


def _ssim(orig: np.ndarray, dec: np.ndarray, peak: float) -> float:
    from medroi.metrics import ssim

    return ssim(orig, dec, peak=peak)


# ---------------------------------------------------------------------------------------
# codecs
# ---------------------------------------------------------------------------------------


def classical_codecs(dataset: str, quick: bool) -> list[C.Codec]:
    nears = (0, 1, 2, 4, 8)
    codecs = [C.jpegls_codec(k) for k in nears]
    codecs.append(C.jpegls_declared_codec(0))
    codecs.append(C.jpegxl_codec(None, effort=7))
    codecs += [C.jpegxl_codec(d, effort=7) for d in ((1.0,) if quick else (0.5, 1.0, 2.0))]
    codecs.append(C.jpeg2k_codec(None))
    # 30/35 dB reach the CRs of medroi's paper mode / AE-only points (is a plain lossy codec better there?)
    codecs += [C.jpeg2k_codec(p) for p in ((30, 50) if quick else (30, 35, 40, 50, 60))]
    codecs += [C.jpegls_hybrid_codec(k) for k in nears]
    if dataset == "X-ray":
        codecs += [C.jpegxl_hybrid_codec(d, effort=7) for d in ((0.5,) if quick else (0.5, 1.0, 1.5))]
    return codecs


def run_classical(units: list[Unit], codec: C.Codec, repeats: int) -> Stats:
    st = Stats(codec.family, codec.setting, codec.roi_bound, codec.nroi_bound, codec.x)
    try:
        for u in units:
            rng = float(u.array.max()) - float(u.array.min())
            for x, roi in u.slices():
                data, te = C.best_of(lambda: codec.encode(x, roi), repeats)
                dec, td = C.best_of(lambda: codec.decode(data), repeats)
                st.add_errors(x, dec, roi, rng)
                st.raw_bytes += x.size * x.itemsize
                st.comp_bytes += len(data)
                st.pixels += x.size
                st.slices += 1
                st.enc_s += te
                st.dec_s += td
                if codec.uses_roi and roi.any():
                    lay = C.hybrid_layout(data)
                    st.layouts[lay] = st.layouts.get(lay, 0) + 1
    except Exception as exc:  # a codec failure is reported, not fatal
        st.error = f"{type(exc).__name__}: {exc}"
    return st


def medroi_status() -> tuple[object | None, str]:
    try:
        import medroi.codec as mc

        if not (hasattr(mc, "compress") and hasattr(mc, "decompress")):
            return None, "not available (medroi.codec has no compress/decompress yet)"
        return mc, "available"
    except Exception as exc:
        return None, f"not available ({type(exc).__name__}: {exc})"


def _bound(b) -> str:
    return "AE" if b is None else str(b)


def network_predictor(dataset: str):
    """(predictor, status) for the shipped model of ``dataset`` (BRATS bundle for volumes,
    X-ray bundle for radiographs), loaded with ``medroi.networks.runtime.load_model``."""
    try:
        from medroi.networks.runtime import load_model

        pred = load_model(None, "nifti" if dataset == "BRATS" else "png")
        return pred, f"{pred.model.name} (weights sha256 {pred.model.sha256[:12]})"
    except Exception as exc:
        return None, f"not available ({type(exc).__name__}: {exc})"


def run_medroi(mc, units: list[Unit], roi_b: int | None, nroi_b: int | None, repeats: int,
               predictor=None, family: str = "medroi") -> Stats:
    """medroi.codec on each unit (a BRATS volume in one call), ground-truth ROI as the mask.
    ``None`` bound = the network's reconstruction alone in that region (needs ``predictor``)."""
    setting = "paper mode" if roi_b is None and nroi_b is None else f"({_bound(roi_b)},{_bound(nroi_b)})"
    x = nroi_b if nroi_b is not None else None
    st = Stats(family, setting, roi_b, nroi_b, x)
    try:
        for u in units:
            rng = float(u.array.max()) - float(u.array.min())
            data, te = C.best_of(
                lambda: mc.compress(u.array, roi_mask=u.roi, roi_max_error=roi_b, nroi_max_error=nroi_b,
                                    predictor=predictor), repeats
            )
            res, td = C.best_of(lambda: mc.decompress(data, predictor=predictor), repeats)
            arr = res.array if hasattr(res, "array") else res[0]
            arr = np.asarray(arr)
            for z, (x, roi) in enumerate(u.slices()):
                st.add_errors(x, arr if arr.ndim == 2 else arr[..., z], roi, rng)
            st.raw_bytes += u.array.size * u.array.itemsize
            st.comp_bytes += len(data)
            st.pixels += u.array.size
            st.slices += u.n_slices
            st.enc_s += te
            st.dec_s += td
    except Exception as exc:
        st.error = f"{type(exc).__name__}: {exc}"
    return st


def _dominates(c: dict, m: dict) -> bool:
    """Classical row ``c`` gives a higher CR than medroi row ``m`` with at least its measured
    fidelity (PSNR ROI and NROI >= medroi's, and max errors within medroi's bounds where
    medroi has a bound)."""
    if not (c["cr"] and m["cr"]) or c["cr"] <= m["cr"]:
        return False
    for key in ("psnr_roi", "psnr_nroi"):
        if m[key] is not None and not math.isnan(m[key]) and (c[key] is None or c[key] < m[key]):
            return False
    for bound, err in (("bound_roi", "max_err_roi"), ("bound_nroi", "max_err_nroi")):
        if m[bound] is not None and (c[err] is None or c[err] > m[bound]):
            return False
    return True


def losses(rows: list[dict]) -> list[str]:
    """One line per medroi operating point that some classical codec beats (from the numbers)."""
    out = []
    for m in rows:
        if not m["codec"].startswith("medroi") or not m["cr"]:
            continue
        beaters = [c for c in rows if not c["codec"].startswith("medroi") and _dominates(c, m)]
        if beaters:
            best = max(beaters, key=lambda c: c["cr"])
            out.append(
                f"{m['codec']} {m['setting']} (CR {m['cr']:.2f}, PSNR ROI/NROI {_f(m['psnr_roi'], '{:.1f}')}/"
                f"{_f(m['psnr_nroi'], '{:.1f}')}) loses to {len(beaters)} classical setting(s); best: "
                f"{best['codec']} {best['setting']} at CR {best['cr']:.2f} (PSNR {_f(best['psnr_roi'], '{:.1f}')}/"
                f"{_f(best['psnr_nroi'], '{:.1f}')}, max err {best['max_err_roi']}/{best['max_err_nroi']})"
            )
    return out


def paper_point(rows: list[dict]) -> str | None:
    """The X-ray paper point: ROI exact + NROI >= 45 dB, best CR per family."""
    ok = [r for r in rows if r["cr"] and r["max_err_roi"] == 0 and r["psnr_nroi"] is not None
          and r["psnr_nroi"] >= PAPER_XRAY_NROI_DB]
    if not ok:
        return None
    best = {}
    for r in ok:
        if r["codec"] not in best or r["cr"] > best[r["codec"]]["cr"]:
            best[r["codec"]] = r
    parts = [f"{r['codec']} {r['setting']}: CR {r['cr']:.2f} (NROI {_f(r['psnr_nroi'], '{:.1f}')} dB)"
             for r in sorted(best.values(), key=lambda r: -r["cr"])]
    return (f"Paper's X-ray point (ROI exact, NROI PSNR >= {PAPER_XRAY_NROI_DB:g} dB; the paper prints CR "
            f"{PAPER_XRAY_CR} with ROI 56.07 dB, i.e. not exact), best CR per codec on these X-rays: " + "; ".join(parts) + ".")


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------


def _f(v, fmt="{:.2f}") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    return fmt.format(v)


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def git_rev() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "medroi", "benchmarks/classical.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return rev + (" (medroi/ has uncommitted changes)" if dirty else "")
    except Exception:
        return "unknown"


def write_markdown(path: Path, meta: dict, results: dict) -> None:
    L = [
        "# medroi vs classical codecs: compression ratio, error and speed on the same slices",
        "",
        f"- command: `{meta['command']}`",
        f"- date: {meta['date']}; git {meta['git']}",
        f"- machine: {meta['machine']} (shared with other jobs: speeds are noisy; best of {meta['repeats']} per slice)",
        f"- versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}",
        f"- medroi: {meta['medroi']}; network predictor: "
        + (", ".join(f"{k}: {v}" for k, v in meta.get("network", {}).items()) or "-"),
        "",
        "CR = raw native bytes (rows x cols x itemsize, summed over slices) / compressed bytes "
        "(classical wrappers include a 4-8 byte header: dtype, offset, shape). PSNR with MAX = "
        "the original's dynamic range (per volume for BRATS, per image for X-rays), squared "
        "errors pooled over the region; inf = exact. Bounds = guaranteed max abs error "
        "(ROI, NROI); '-' = no guarantee. Hybrids: ROI exact + NROI by the named codec, "
        "smaller of layout (a) whole image + exact ROI residual (zero-order ANS, stored "
        "histogram) + mask, and (b) lossless ROI bounding box + ROI-filled image + mask; "
        "mask = smaller of 1-bit JPEG-LS and zlib(packbits). Speeds: single thread, per "
        "slice/image, codec call only (no file I/O). SSIM = medroi.metrics.ssim (7 x 7 uniform window, "
        "MAX = dynamic range), mean over slices/images. medroi rows: `medroi` = classical predictor "
        "(ROI 0, NROI k); `medroi+net` = the shipped network predictor at (0,0), (0,4), (0,AE) = NROI "
        "the autoencoder's reconstruction alone, and paper mode = latent + mask only (both regions AE); "
        "the ground-truth ROI is the stored mask for every medroi row.",
        "",
    ]
    for ds, info in results.items():
        L += [f"## {ds}", "", info["description"], ""]
        L += [
            "| codec | setting | bound ROI/NROI | CR | bpp | PSNR ROI | PSNR NROI | SSIM | max err ROI | max err NROI | enc slices/s | dec slices/s | enc Mpx/s | dec Mpx/s | notes |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in info["rows"]:
            b = f"{_f(r['bound_roi'], '{}')}/{_f(r['bound_nroi'], '{}')}"
            notes = []
            if r["error"]:
                notes.append(r["error"])
            if r["violations"]:
                notes.append(f"BOUND VIOLATED on {r['violations']} slices")
            if r["layouts"]:
                notes.append("layout " + ", ".join(f"{k}: {v}" for k, v in sorted(r["layouts"].items())) + " ROI slices")
            L.append(
                f"| {r['codec']} | {r['setting']} | {b} | {_f(r['cr'])} | {_f(r['bpp'], '{:.3f}')} | "
                f"{_f(r['psnr_roi'], '{:.1f}')} | {_f(r['psnr_nroi'], '{:.1f}')} | {_f(r.get('ssim'), '{:.4f}')} | "
                f"{_f(r['max_err_roi'], '{}')} | "
                f"{_f(r['max_err_nroi'], '{}')} | {_f(r['enc_slices_s'], '{:.1f}')} | {_f(r['dec_slices_s'], '{:.1f}')} | "
                f"{_f(r['enc_mpx_s'], '{:.2f}')} | {_f(r['dec_mpx_s'], '{:.2f}')} | {'; '.join(notes)} |"
            )
        L.append("")
        if info.get("paper_point"):
            L += [info["paper_point"], ""]
        lost = info.get("losses", [])
        L += ["**Where medroi loses** (a classical setting reaches a higher CR with PSNR ROI and NROI at least "
              "medroi's and max errors within medroi's bounds; generated from the numbers above):", ""]
        L += [f"- {x}" for x in lost] if lost else ["- none at the measured points"]
        L.append("")
    L += ["![NROI PSNR vs CR; CR at (0,0) and (0,4)](" + meta["plot"] + ")", ""]
    path.write_text("\n".join(L))


def _find(rows, codec, setting):
    for r in rows:
        if r["codec"] == codec and r["setting"] == setting and r["cr"]:
            return r
    return None


def write_plot(path: Path, results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dsets = list(results)
    fig, axes = plt.subplots(2, max(1, len(dsets)), figsize=(7 * max(1, len(dsets)), 10), squeeze=False)
    for j, ds in enumerate(dsets):
        rows = [r for r in results[ds]["rows"] if r["cr"]]
        ax = axes[0, j]
        finite = [r["psnr_nroi"] for r in rows if r["psnr_nroi"] is not None and math.isfinite(r["psnr_nroi"])]
        top = (max(finite) if finite else 60) + 6
        fams = []
        for r in rows:
            if r["codec"] not in fams:
                fams.append(r["codec"])
        for fam in fams:
            pts = sorted(
                (r["cr"], top if not math.isfinite(r["psnr_nroi"]) else r["psnr_nroi"], r["bound_roi"] == 0)
                for r in rows
                if r["codec"] == fam
            )
            xs, ys, exact = zip(*pts)
            line = ax.plot(xs, ys, "-", label=fam)[0]
            for x, y, e in pts:
                ax.plot(x, y, "o", color=line.get_color(), mfc=line.get_color() if e else "white")
            if fam.startswith("medroi"):  # ROI fidelity written next to medroi's lossy-ROI points
                for r in rows:
                    if r["codec"] == fam and r["bound_roi"] != 0 and r["psnr_roi"] is not None:
                        ax.annotate(f"ROI {r['psnr_roi']:.1f} dB", (r["cr"], r["psnr_nroi"]), fontsize=7,
                                    xytext=(4, -10), textcoords="offset points", color=line.get_color())
        ax.axhline(top, color="grey", lw=0.5, ls=":")
        ax.text(ax.get_xlim()[0] if False else min(r["cr"] for r in rows), top + 0.5, "lossless (inf)", fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("compression ratio (raw native bytes / compressed)")
        ax.set_ylabel("NROI PSNR [dB], MAX = dynamic range")
        ax.set_title(f"{ds}: NROI PSNR vs CR (filled = ROI exact, hollow = ROI lossy)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)

        ax = axes[1, j]
        bars = [
            ("JPEG-LS\nlossless", _find(rows, "JPEG-LS", "lossless")),
            ("JPEG XL e7\nlossless", _find(rows, "JPEG XL e7", "lossless")),
            ("JPEG 2000\nlossless", _find(rows, "JPEG 2000", "lossless")),
            ("Hybrid\nJPEG-LS (0,0)", _find(rows, "Hybrid JPEG-LS", "(0,0)")),
            ("medroi\n(0,0)", _find(rows, "medroi", "(0,0)")),
            ("JPEG-LS NEAR=4\n(ROI not exact)", _find(rows, "JPEG-LS", "NEAR=4")),
            ("Hybrid\nJPEG-LS (0,4)", _find(rows, "Hybrid JPEG-LS", "(0,4)")),
            ("medroi\n(0,4)", _find(rows, "medroi", "(0,4)")),
            ("medroi+net\n(0,4)", _find(rows, "medroi+net", "(0,4)")),
        ]
        labels = [b[0] for b in bars]
        vals = [b[1]["cr"] if b[1] else 0 for b in bars]
        colors = ["tab:blue"] * 5 + ["tab:orange"] * 4
        ax.bar(range(len(bars)), vals, color=colors)
        for i, (v, b) in enumerate(zip(vals, bars)):
            ax.text(i, v, f"{v:.2f}" if b[1] else "n/a", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(bars)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylabel("compression ratio")
        ax.set_title(f"{ds}: CR at (ROI, NROI) bound (0,0) [blue] and (0,4) [orange]")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--all" in argv:  # the per-image run on every image of the shared data
        import codecs_all

        return codecs_all.main([a for a in argv if a != "--all"])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 BRATS case, 1 modality, 3 small X-rays")
    ap.add_argument("--repeats", type=int, default=None, help="best-of-N timing per slice (default 1)")
    ap.add_argument(
        "--xray-max-mpx",
        type=float,
        default=4.0,
        help="skip X-rays larger than this many megapixels (run time; 0 = all). Default 4.",
    )
    ap.add_argument("--no-network", action="store_true", help="skip the medroi+net rows")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="output folder")
    args = ap.parse_args(argv)
    repeats = args.repeats or 1
    t_start = time.perf_counter()

    mc, mstatus = medroi_status()
    net_status: dict = {}
    print(f"medroi: {mstatus}", flush=True)
    brats = load_brats(args.quick)
    xrays, skipped = load_xrays(args.quick, args.xray_max_mpx)
    datasets = {}
    if brats:
        cases = sorted({u.name.rsplit("_", 1)[0] for u in brats})
        raw = sum(u.array.nbytes for u in brats)
        stored = sum(u.stored_bytes for u in brats)
        datasets["BRATS"] = (
            brats,
            f"Cases {', '.join(cases)}; modalities {', '.join(sorted({u.name.rsplit('_', 1)[1] for u in brats}))}; "
            f"{sum(u.n_slices for u in brats)} axial slices 240 x 240 int16; ROI = labels 1, 2, 4 "
            f"({100 * np.mean([u.roi.mean() for u in brats]):.2f} % of voxels). For reference, the .nii.gz "
            f"files as stored give CR {raw / stored:.2f}.",
        )
    if xrays:
        px = sum(u.array.size for u in xrays)
        datasets["X-ray"] = (
            xrays,
            f"{len(xrays)} radiographs with lung masks ({', '.join(u.name for u in xrays)}), "
            f"{px / 1e6:.1f} Mpx in total, 8-bit; ROI = lung labels 1, 2 "
            f"({100 * sum(u.roi.sum() for u in xrays) / px:.1f} % of pixels)."
            + (f" Not run (larger than {args.xray_max_mpx:g} Mpx; `--xray-max-mpx 0` includes them): {', '.join(skipped)}." if skipped else ""),
        )

    results = {}
    for ds, (units, desc) in datasets.items():
        rows = []
        for codec in classical_codecs(ds, args.quick):
            t = time.perf_counter()
            st = run_classical(units, codec, repeats)
            r = st.row()
            rows.append(r)
            print(
                f"[{ds}] {codec.name:42s} CR {_f(r['cr'])}  PSNR NROI {_f(r['psnr_nroi'], '{:.1f}')}  "
                f"max err {r['max_err_roi']}/{r['max_err_nroi']}  enc {_f(r['enc_slices_s'], '{:.1f}')}/s  "
                f"({time.perf_counter() - t:.0f} s){'  ERROR ' + r['error'] if r['error'] else ''}"
                f"{'  VIOLATIONS ' + str(r['violations']) if r['violations'] else ''}",
                flush=True,
            )
        for k in MEDROI_KS:
            if mc is None:
                r = Stats("medroi", f"(0,{k})", 0, k, k, error=mstatus).row()
            else:
                r = run_medroi(mc, units, 0, k, repeats).row()
            rows.append(r)
            print(f"[{ds}] medroi (0,{k}): CR {_f(r['cr'])} {r['error'] or ''}", flush=True)
        pred, pstatus = network_predictor(ds) if mc is not None and not args.no_network else (None, "not run")
        net_status[ds] = pstatus
        print(f"[{ds}] network predictor: {pstatus}", flush=True)
        for rb, nb in NET_POINTS:
            setting = "paper mode" if rb is None and nb is None else f"({_bound(rb)},{_bound(nb)})"
            if pred is None:
                r = Stats("medroi+net", setting, rb, nb, nb, error=pstatus).row()
            else:
                t = time.perf_counter()
                r = run_medroi(mc, units, rb, nb, repeats, predictor=pred, family="medroi+net").row()
                print(f"[{ds}] medroi+net {setting}: CR {_f(r['cr'])} PSNR {_f(r['psnr_roi'], '{:.1f}')}/"
                      f"{_f(r['psnr_nroi'], '{:.1f}')} ({time.perf_counter() - t:.0f} s) {r['error'] or ''}", flush=True)
            rows.append(r)
        results[ds] = {"description": desc, "rows": rows, "losses": losses(rows),
                       "paper_point": paper_point(rows) if ds == "X-ray" else None}

    args.out.mkdir(parents=True, exist_ok=True)
    stem = "codecs_quick" if args.quick else "codecs"
    argv_str = " ".join(shlex.quote(a) for a in argv)
    vers = C.versions()
    try:
        from importlib.metadata import version

        vers = {"medroi": version("medroi"), **vers}
    except Exception:
        pass
    meta = {
        "command": f"python benchmarks/bench_codecs.py {argv_str}".strip(),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git": git_rev(),
        "machine": machine(),
        "versions": vers,
        "medroi": mstatus,
        "network": net_status,
        "repeats": repeats,
        "plot": f"{stem}.png",
        "wall_seconds": round(time.perf_counter() - t_start, 1),
    }
    write_plot(args.out / f"{stem}.png", results)
    write_markdown(args.out / f"{stem}.md", meta, results)
    (args.out / f"{stem}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    print(f"wrote {args.out / (stem + '.md')}, .png, .json in {meta['wall_seconds']} s")
    bad = [r for res in results.values() for r in res["rows"] if r["violations"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
