"""Speed and memory: medroi against JPEG-LS, JPEG 2000 and JPEG XL in the same run.

    python benchmarks/bench_speed.py             # full: 1 BRATS volume + 1 X-ray 2048 x 2048
    python benchmarks/bench_speed.py --quick     # fewer codecs, 1 repeat

Inputs: the FLAIR volume of the last BRATS validation case (240 x 240 x 155 int16; ROI =
whole tumor) and a 2048 x 2048 centre crop of the largest lossless (PNG) X-ray with a lung
mask, ``gbcxr_046`` (2567 x 2190; the crop is written to a temp folder, never to the repo).

Every (codec, input) pair runs in its own subprocess (``--worker``), so that its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``) is its own; the worker also reports the RSS peak
before coding starts (Python, imports and the loaded image), so the coder's share is visible.
Encode / decode: best of ``--repeats`` per codec call, single thread, no file I/O;
slices/s = slices of the input / seconds.

medroi is also timed as the CLI runs it, stage by stage (``medroi.api.compress_file`` /
``decompress_file`` do these same steps): read (``medroi.io.read_image`` + ``read_mask``),
network (the predictor's ``encode``/``decode`` calls, timed by wrapping them; 0 for the
classical predictor), prediction + entropy coding (``codec.compress`` / ``decompress``
minus the network), write (``atomic_write_bytes`` / ``medroi.io.write_image``).

Writes benchmarks/results/speed.{md,json} (``--quick``: speed_quick.*).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

DATA_ROOT = Path(os.environ.get("MEDROI_DATA", REPO.parent / "shared" / "data"))
XRAY_NAME = "gbcxr_046"
XRAY_CROP = 2048

# (key, label): classical codecs by their classical.py constructor, medroi by its bounds
CODECS = {
    "jpegls0": "JPEG-LS lossless",
    "jpegls4": "JPEG-LS NEAR=4",
    "j2k": "JPEG 2000 lossless",
    "jxl": "JPEG XL e7 lossless",
    "jxl_e3": "JPEG XL e3 lossless",
    "medroi00": "medroi (0,0)",
    "medroi04": "medroi (0,4)",
    "medroinet04": "medroi+net (0,4)",
}
QUICK = ("jpegls0", "j2k", "jxl_e3", "medroi04")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


# ---------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------


def prepare_inputs(tmp: Path) -> dict:
    """{"brats": {...}, "xray": {...}}: image file, mask file (+labels), slices."""
    from medroi.data import brats_cases
    from PIL import Image

    case = brats_cases(DATA_ROOT, split="val")[-1]
    out = {"brats": {"image": case["flair"], "mask": case["seg"], "labels": [1, 2, 4],
                     "label": f"BRATS {case['case']} FLAIR 240 x 240 x 155 int16", "format": "nifti"}}
    root = DATA_ROOT / "xray"
    src = sorted((root / "images").glob(XRAY_NAME + ".*"))[0]
    with Image.open(src) as im:
        arr = np.asarray(im)
    if arr.ndim == 3:
        arr = arr[..., 0]  # gray stored as RGB(A) with equal channels
    mask = np.asarray(Image.open(root / "masks" / f"{XRAY_NAME}_lungs.png"))
    h, w = arr.shape
    y0, x0 = (h - XRAY_CROP) // 2, (w - XRAY_CROP) // 2
    crop = np.ascontiguousarray(arr[y0:y0 + XRAY_CROP, x0:x0 + XRAY_CROP])
    mcrop = np.ascontiguousarray(mask[y0:y0 + XRAY_CROP, x0:x0 + XRAY_CROP])
    ip, mp = tmp / f"{XRAY_NAME}_crop.png", tmp / f"{XRAY_NAME}_crop_lungs.png"
    Image.fromarray(crop).save(ip)
    Image.fromarray(mcrop).save(mp)
    out["xray"] = {"image": str(ip), "mask": str(mp), "labels": [1, 2], "format": "png",
                   "label": f"X-ray {XRAY_NAME} ({w} x {h}) centre crop {XRAY_CROP} x {XRAY_CROP} uint8"}
    return out


# ---------------------------------------------------------------------------------------
# worker (one codec, one input, in its own process)
# ---------------------------------------------------------------------------------------


class _Timed:
    """Wraps a network model: counts the seconds spent in encode/decode."""

    def __init__(self, model):
        self.model, self.seconds = model, 0.0
        self.name, self.sha256 = model.name, model.sha256

    def __getattr__(self, name):
        return getattr(self.model, name)

    def encode(self, unit, mask):
        t = time.perf_counter()
        try:
            return self.model.encode(unit, mask)
        finally:
            self.seconds += time.perf_counter() - t

    def decode(self, latent):
        t = time.perf_counter()
        try:
            return self.model.decode(latent)
        finally:
            self.seconds += time.perf_counter() - t


def worker(codec: str, spec: dict, repeats: int) -> dict:
    from medroi.io import read_image, read_mask

    image = read_image(spec["image"])
    roi = read_mask(spec["mask"], labels=tuple(spec["labels"]), shape=image.shape)
    arr = image.array
    slices = 1 if arr.ndim == 2 else arr.shape[-1]
    res = {"codec": codec, "label": CODECS[codec], "slices": slices, "raw_bytes": int(arr.nbytes), "pixels": int(arr.size)}
    if codec.startswith("medroi"):
        import medroi.codec as mc

        k = 0 if codec == "medroi00" else 4
        pred = None
        if codec == "medroinet04":
            from medroi.networks.runtime import load_model

            t = time.perf_counter()
            pred = load_model(None, spec["format"])
            res["model_load_s"] = time.perf_counter() - t
            pred.model = _Timed(pred.model)
        res["rss_before_mib"] = peak_rss_mib()

        def best_with_network(fn):
            """(output, seconds, network seconds) of the fastest of ``repeats`` calls."""
            best = (None, float("inf"), 0.0)
            for _ in range(max(1, repeats)):
                if pred:
                    pred.model.seconds = 0.0
                t = time.perf_counter()
                out = fn()
                dt = time.perf_counter() - t
                if dt < best[1]:
                    best = (out, dt, pred.model.seconds if pred else 0.0)
            return best

        data, enc, net_enc = best_with_network(
            lambda: mc.compress(arr, roi, roi_max_error=0, nroi_max_error=k, predictor=pred))
        dec_img, dec, net_dec = best_with_network(lambda: mc.decompress(data, predictor=pred))
        assert np.abs(dec_img.array.astype(np.int64) - arr)[roi].max(initial=0) == 0
        res.update({"encode_s": enc, "decode_s": dec, "compressed_bytes": len(data)})
        # the file-level stages, as medroi compress / decompress run them
        from medroi.fsutil import atomic_write_bytes
        from medroi.io import MedicalImage, write_image

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "x.mroi"
            rec = Path(tmp) / ("x.nii.gz" if spec["format"] == "nifti" else "x.png")
            t0 = time.perf_counter()
            image2 = read_image(spec["image"])
            roi2 = read_mask(spec["mask"], labels=tuple(spec["labels"]), shape=image2.shape)
            t1 = time.perf_counter()
            atomic_write_bytes(out, data, force=True)
            t2 = time.perf_counter()
            blob = out.read_bytes()
            t3 = time.perf_counter()
            write_image(MedicalImage(dec_img.array, image2.format, image2.metadata), rec, force=True,
                        lossy={"ratio": 1.0, "method": "MEDROI"} if k else None)
            t4 = time.perf_counter()
            assert len(blob) == len(data) and roi2.shape == roi.shape
        res["stages"] = {
            "compress": {"read input + mask": t1 - t0, "network": net_enc,
                         "prediction + entropy coding": enc - net_enc, "write .mroi": t2 - t1},
            "decompress": {"read .mroi": t3 - t2, "network": net_dec,
                           "prediction + entropy decoding": dec - net_dec, "write image": t4 - t3},
        }
    else:
        import classical as C

        c = {"jpegls0": lambda: C.jpegls_codec(0), "jpegls4": lambda: C.jpegls_codec(4),
             "j2k": lambda: C.jpeg2k_codec(None), "jxl": lambda: C.jpegxl_codec(None, effort=7),
             "jxl_e3": lambda: C.jpegxl_codec(None, effort=3)}[codec]()
        sl = [arr] if arr.ndim == 2 else [np.ascontiguousarray(arr[..., z]) for z in range(slices)]
        res["rss_before_mib"] = peak_rss_mib()
        blobs, enc = C.best_of(lambda: [c.encode(s, None) for s in sl], repeats)
        decs, dec = C.best_of(lambda: [c.decode(b) for b in blobs], repeats)
        err = max(int(np.abs(d.astype(np.int64) - s).max()) for d, s in zip(decs, sl))
        assert err <= c.nroi_bound, (codec, err)
        res.update({"encode_s": enc, "decode_s": dec, "compressed_bytes": sum(len(b) for b in blobs)})
    res["peak_rss_mib"] = peak_rss_mib()
    return res


# ---------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------


def _git() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except Exception:
        return "unknown"


def write_markdown(path: Path, res: dict) -> None:
    from bench_codecs import _f

    m = res["meta"]
    L = ["# Speed and memory: medroi vs JPEG-LS, JPEG 2000, JPEG XL (same run)", "",
         f"- command: `{m['command']}`", f"- date: {m['date']}; git {m['git']}",
         f"- machine: {m['machine']} (shared with other jobs: timings are noisy; load average 1/5/15 min {m.get('load', '-')} at the end); "
         f"best of {m['repeats']} per codec call; single thread",
         "",
         "Each row is one subprocess. Encode/decode = the codec call on the whole input (a volume: all its slices; "
         "classical codecs slice by slice), no file I/O. Peak RSS = the process's max RSS "
         "(Python + imports + image + coder); 'before' = its peak before coding started.", ""]
    for ds, info in res["inputs"].items():
        rows = [r for r in res["rows"] if r.get("input") == ds]
        L += [f"## {info['label']}", "",
              "| codec | CR | encode s | decode s | enc slices/s | dec slices/s | enc Mpx/s | dec Mpx/s | peak RSS MiB | RSS before coding MiB | notes |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if r.get("error"):
                L.append(f"| {r['label']} | - | - | - | - | - | - | - | - | - | {r['error']} |")
                continue
            mpx = r["pixels"] / 1e6
            L.append(f"| {r['label']} | {r['raw_bytes'] / r['compressed_bytes']:.2f} | {r['encode_s']:.3f} | {r['decode_s']:.3f} | "
                     f"{r['slices'] / r['encode_s']:.1f} | {r['slices'] / r['decode_s']:.1f} | {mpx / r['encode_s']:.2f} | "
                     f"{mpx / r['decode_s']:.2f} | {r['peak_rss_mib']:.0f} | {r['rss_before_mib']:.0f} | "
                     f"{'model load ' + format(r['model_load_s'], '.2f') + ' s' if 'model_load_s' in r else ''} |")
        L.append("")
        staged = [r for r in rows if r.get("stages")]
        if staged:
            L += ["medroi by stage (seconds, file-level, as `medroi compress` / `decompress` run them):", "",
                  "| codec | direction | " + " | ".join(["stage 1", "stage 2", "stage 3", "stage 4"]) + " | slowest |",
                  "|---|---|---|---|---|---|---|"]
            for r in staged:
                for direction, st in r["stages"].items():
                    cells = [f"{k} {_f(v, '{:.3f}')}" for k, v in st.items()]
                    slow = max(st, key=st.get)
                    L.append(f"| {r['label']} | {direction} | " + " | ".join(cells) + f" | **{slow}** ({100 * st[slow] / sum(st.values()):.0f} %) |")
            L.append("")
    L += ["**Slowest stage:** " + res.get("slowest", "-"), ""]
    path.write_text("\n".join(L))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=None, help="best of N per codec call (default 2; quick 1)")
    ap.add_argument("--worker", nargs=2, metavar=("CODEC", "SPEC_JSON"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 2)
    if args.worker:
        codec, spec = args.worker
        print(json.dumps(worker(codec, json.loads(spec), repeats)))
        return 0

    from bench_codecs import machine

    codecs = QUICK if args.quick else tuple(CODECS)
    t_start = time.time()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        inputs = prepare_inputs(Path(tmp))
        for ds, spec in inputs.items():
            for codec in codecs:
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", codec, json.dumps(spec),
                       "--repeats", str(repeats)]
                p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
                if p.returncode == 0:
                    r = json.loads(p.stdout.strip().splitlines()[-1])
                else:
                    last = (p.stderr.strip().splitlines() or ["failed"])[-1]
                    r = {"codec": codec, "label": CODECS[codec], "error": f"not available: {last[:200]}"}
                r["input"] = ds
                rows.append(r)
                print(f"[{ds}] {CODECS[codec]:22s} " + (f"enc {r['encode_s']:.2f} s dec {r['decode_s']:.2f} s "
                      f"peak RSS {r['peak_rss_mib']:.0f} MiB" if "error" not in r else r["error"]), flush=True)
    slow = []
    for r in rows:
        for direction, st in (r.get("stages") or {}).items():
            k = max(st, key=st.get)
            slow.append(f"{r['label']} on {r['input']} {direction}: {k} ({st[k]:.2f} s of {sum(st.values()):.2f} s)")
    res = {"meta": {"command": "python benchmarks/bench_speed.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
                    "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), "git": _git(),
                    "machine": machine(), "repeats": repeats, "load": " / ".join(f"{x:.1f}" for x in os.getloadavg()), "wall_seconds": round(time.time() - t_start, 1)},
           "inputs": {k: {"label": v["label"]} for k, v in inputs.items()}, "rows": rows,
           "slowest": "; ".join(slow) if slow else "-"}
    stem = "speed_quick" if args.quick else "speed"
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(res, indent=1))
    write_markdown(out / f"{stem}.md", res)
    print(f"wrote {out / stem}.md in {res['meta']['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
