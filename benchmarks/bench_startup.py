"""Start-up time of the ``medroi`` command: whole-process wall time next to the work itself.

    python benchmarks/bench_startup.py            # best of 5
    python benchmarks/bench_startup.py --runs 3

Commands timed (each a fresh process, wall clock from spawn to exit, best of ``--runs``):

- ``medroi --help``;
- the classical path: ``medroi compress`` with a mask, and ``medroi decompress``, of a
  256 x 256 uint8 PNG crop of an X-ray and of a small NIfTI (16 slices of a BRATS FLAIR
  volume), written to a temp folder;
- the network path: ``--mode paper``, ``--roi auto`` and ``--predictor network`` on the
  NIfTI (BRATS model) and ``--mode paper`` on the PNG (X-ray model), and decompression;
  "not available" when the model is not shipped;
- for reference: ``python -c "import torch"`` and ``python -c "import monai"`` (best of
  ``--ref-runs``, default 1: importing monai takes a minute on a loaded machine).

"work" = the ``seconds`` the command reports in its ``--json`` output (the API call, after
imports and argument parsing); start-up overhead = whole process - work. Also checked: which
of torch / monai / numba the process imported (``-X importtime`` on the same command line).

Writes benchmarks/results/startup.{md,json}.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import shutil
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
SMALL = 256
HEAVY = ("torch", "monai", "numba")


def medroi_cmd() -> list[str]:
    exe = shutil.which("medroi", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    return [exe] if exe else [sys.executable, "-m", "medroi.cli"]


def make_inputs(tmp: Path) -> tuple[Path, Path, str]:
    """A 256 x 256 uint8 crop (centred on the lungs) of the first X-ray with a lung mask."""
    from PIL import Image

    from medroi.data import xray_cases

    item = xray_cases(DATA_ROOT)[0]
    with Image.open(item["image"]) as im:
        arr = np.asarray(im)
    arr = arr[..., 0] if arr.ndim == 3 else arr
    mask = np.asarray(Image.open(item["mask"]))
    ys, xs = np.nonzero(mask)
    cy, cx = int(ys.mean()), int(xs.mean())
    y0 = int(np.clip(cy - SMALL // 2, 0, arr.shape[0] - SMALL))
    x0 = int(np.clip(cx - SMALL // 2, 0, arr.shape[1] - SMALL))
    img, msk = tmp / "small.png", tmp / "small_lungs.png"
    Image.fromarray(np.ascontiguousarray(arr[y0:y0 + SMALL, x0:x0 + SMALL])).save(img)
    Image.fromarray(np.ascontiguousarray(mask[y0:y0 + SMALL, x0:x0 + SMALL])).save(msk)
    return img, msk, f"{item['name']} crop {SMALL} x {SMALL} uint8 at ({y0}, {x0})"


def make_volume(tmp: Path, slices: int = 16) -> tuple[Path, Path, str]:
    """A small NIfTI: ``slices`` axial slices around the tumour of the last BRATS validation
    case's FLAIR (240 x 240 x 16 int16), and its seg."""
    import nibabel as nib

    from medroi.data import brats_cases

    case = brats_cases(DATA_ROOT, split="val")[-1]
    img, seg = nib.load(case["flair"]), nib.load(case["seg"])
    s = np.asarray(seg.dataobj)
    zs = np.flatnonzero(s.any(axis=(0, 1)))
    z0 = int(np.clip((zs.mean() if zs.size else s.shape[2] / 2) - slices // 2, 0, s.shape[2] - slices))
    vol = np.asarray(img.dataobj.get_unscaled() if hasattr(img.dataobj, "get_unscaled") else img.dataobj)
    vp, sp = tmp / "small_flair.nii.gz", tmp / "small_seg.nii.gz"
    nib.save(nib.Nifti1Image(np.ascontiguousarray(vol[:, :, z0:z0 + slices]), img.affine), vp)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(s[:, :, z0:z0 + slices]).astype(np.uint8), seg.affine), sp)
    return vp, sp, f"{case['case']} FLAIR slices {z0}..{z0 + slices - 1} (240 x 240 x {slices} int16)"


def run(cmd: list[str], runs: int) -> dict:
    """Best-of-``runs`` wall time of a whole process; the --json 'seconds' of that run."""
    best = None
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if p.returncode != 0:
            return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1][:300]}
        work = None
        try:
            work = float(json.loads(p.stdout.strip().splitlines()[-1])["seconds"])
        except Exception:
            pass
        if best is None or wall < best["wall_s"]:
            best = {"wall_s": wall, "work_s": work}
    return best


def heavy_imports(cmd: list[str]) -> list[str]:
    """Top-level packages among HEAVY that the command imported (python -X importtime)."""
    if Path(cmd[0]).name == "medroi":
        cmd = [sys.executable, "-X", "importtime", "-c", "import sys; from medroi.cli import main; sys.exit(main())",
               *cmd[1:]]
    else:
        cmd = [sys.executable, "-X", "importtime", *cmd[1:]]
    p = subprocess.run(cmd, capture_output=True, text=True)
    found = set()
    for line in p.stderr.splitlines():
        if line.startswith("import time:"):
            name = line.rsplit("|", 1)[-1].strip()
            if name.split(".")[0] in HEAVY:
                found.add(name.split(".")[0])
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="best of N (default 5)")
    ap.add_argument("--ref-runs", type=int, default=1, help="best of N for the reference imports (default 1)")
    args = ap.parse_args(argv)

    from bench_codecs import _f, git_rev, machine

    m = medroi_cmd()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        img, msk, desc = make_inputs(tmp)
        vol, seg, vdesc = make_volume(tmp)
        desc = f"PNG: {desc}; NIfTI: {vdesc}"

        def c(src, out, *extra):
            return m + ["compress", str(src), "-o", str(tmp / out), *extra, "--json", "--force"]

        def d(src, out):
            return m + ["decompress", str(tmp / src), "-o", str(tmp / out), "--json", "--force"]

        cases = [
            ("help", "`medroi --help`", m + ["--help"]),
            ("classical", "PNG: `compress --roi-mask mask.png` ((0,4), classical predictor)",
             c(img, "c.mroi", "--roi-mask", str(msk))),
            ("classical", "PNG: `decompress` of it", d("c.mroi", "c.png")),
            ("classical", "NIfTI: `compress --roi-mask seg.nii.gz` ((0,4), classical predictor)",
             c(vol, "v.mroi", "--roi-mask", str(seg))),
            ("classical", "NIfTI: `decompress` of it", d("v.mroi", "v.nii.gz")),
            ("network", "NIfTI: `compress --mode paper --roi-mask seg.nii.gz`", c(vol, "vp.mroi", "--mode", "paper", "--roi-mask", str(seg), "--model", "brats_mri_roi_compression")),
            ("network", "NIfTI: `decompress` of it", d("vp.mroi", "vp.nii.gz")),
            ("network", "NIfTI: `compress --roi auto` (U-Net mask, classical predictor)", c(vol, "va.mroi", "--roi", "auto", "--model", "brats_mri_roi_compression")),
            ("network", "NIfTI: `compress --predictor network --roi-mask seg.nii.gz` ((0,4))",
             c(vol, "vn.mroi", "--predictor", "network", "--roi-mask", str(seg), "--model", "brats_mri_roi_compression")),
            ("network", "PNG: `compress --mode paper --roi-mask mask.png` (X-ray model)",
             c(img, "p.mroi", "--mode", "paper", "--roi-mask", str(msk), "--model", "xray_roi_compression")),
            ("reference", '`python -c "import torch"`', [sys.executable, "-c", "import torch"]),
            ("reference", '`python -c "import monai"`', [sys.executable, "-c", "import monai"]),
        ]
        for path_kind, label, cmd in cases:
            r = run(cmd, args.runs if path_kind != "reference" else args.ref_runs)
            r.update({"path": path_kind, "command": label})
            if "error" not in r and path_kind != "reference":
                r["heavy_imports"] = heavy_imports(cmd)
            rows.append(r)
            print(f"{label}: " + (r["error"] if "error" in r else
                  f"wall {r['wall_s']:.2f} s, work {_f(r['work_s'])} s, imports {r.get('heavy_imports')}"), flush=True)

    meta = {"command": "python benchmarks/bench_startup.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
            "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), "git": git_rev(),
            "machine": machine(), "runs": args.runs, "load": " / ".join(f"{x:.1f}" for x in os.getloadavg()), "input": desc, "medroi": " ".join(Path(c).name for c in m)}
    L = ["# Start-up time of the medroi command (whole process) vs the work itself", "",
         f"- command: `{meta['command']}`", f"- date: {meta['date']}; git {meta['git']}",
         f"- machine: {meta['machine']} (shared with other jobs: noisy; load average {meta['load']} at the end); best of {args.runs} runs per "
         f"medroi command, {args.ref_runs} for the reference imports",
         f"- inputs: {desc}", "",
         "wall = spawn to exit of a fresh process; work = the `seconds` of `--json` (the API call: read, "
         "code, write); overhead = wall - work (interpreter, imports, argument parsing, first-call JIT "
         "compilation where it happens inside the work). 'heavy imports' = which of torch / monai / numba "
         "the same command line imported (`python -X importtime`).", "",
         "| path | command | wall s | work s | overhead s | heavy imports |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            L.append(f"| {r['path']} | {r['command']} | - | - | - | not available: {r['error']} |")
            continue
        over = r["wall_s"] - r["work_s"] if r["work_s"] is not None else None
        L.append(f"| {r['path']} | {r['command']} | {r['wall_s']:.2f} | {_f(r['work_s'])} | {_f(over)} | "
                 f"{', '.join(r.get('heavy_imports') or []) or ('-' if r['path'] == 'reference' else 'none')} |")
    L.append("")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "startup.md").write_text("\n".join(L))
    (out / "startup.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out / 'startup.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
