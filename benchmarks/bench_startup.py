"""Start-up time of the ``medroi`` command: whole-process wall time next to the work itself.

    python benchmarks/bench_startup.py            # best of 5
    python benchmarks/bench_startup.py --runs 3

Commands timed (each a fresh process, wall clock from spawn to exit, best of ``--runs``):

- ``medroi --help``;
- the classical path: ``medroi compress small.png -o small.mroi --roi-mask mask.png --json``
  and ``medroi decompress small.mroi -o out.png --json`` (a 256 x 256 uint8 crop of an
  X-ray and its lung mask, written to a temp folder);
- the network path: ``medroi compress small.png --mode paper --json`` and ``--roi auto``,
  and their decompression, with the shipped X-ray model (reported as not available when no
  model is shipped);
- for reference: ``python -c "import torch"`` and ``python -c "import monai"``.

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
    args = ap.parse_args(argv)

    from bench_codecs import _f, git_rev, machine

    m = medroi_cmd()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        img, msk, desc = make_inputs(tmp)
        c_mroi, n_mroi, a_mroi = tmp / "c.mroi", tmp / "paper.mroi", tmp / "auto.mroi"
        cases = [
            ("help", "`medroi --help`", m + ["--help"]),
            ("classical", "`medroi compress small.png --roi-mask mask.png` (classical, (0,4))",
             m + ["compress", str(img), "-o", str(c_mroi), "--roi-mask", str(msk), "--json", "--force"]),
            ("classical", "`medroi decompress small.mroi -o out.png` (classical)",
             m + ["decompress", str(c_mroi), "-o", str(tmp / "c.png"), "--json", "--force"]),
            ("network", "`medroi compress small.png --mode paper --roi-mask mask.png` (network)",
             m + ["compress", str(img), "-o", str(n_mroi), "--mode", "paper", "--roi-mask", str(msk), "--json", "--force"]),
            ("network", "`medroi decompress paper.mroi -o out.png` (network)",
             m + ["decompress", str(n_mroi), "-o", str(tmp / "n.png"), "--json", "--force"]),
            ("network", "`medroi compress small.png --roi auto` (network U-Net mask, (0,4))",
             m + ["compress", str(img), "-o", str(a_mroi), "--roi", "auto", "--json", "--force"]),
            ("network", "`medroi decompress auto.mroi -o out.png` (network)",
             m + ["decompress", str(a_mroi), "-o", str(tmp / "a.png"), "--json", "--force"]),
            ("reference", '`python -c "import torch"`', [sys.executable, "-c", "import torch"]),
            ("reference", '`python -c "import monai"`', [sys.executable, "-c", "import monai"]),
        ]
        for path_kind, label, cmd in cases:
            r = run(cmd, args.runs)
            r.update({"path": path_kind, "command": label})
            if "error" not in r and path_kind != "reference":
                r["heavy_imports"] = heavy_imports(cmd)
            rows.append(r)
            print(f"{label}: " + (r["error"] if "error" in r else
                  f"wall {r['wall_s']:.2f} s, work {_f(r['work_s'])} s, imports {r.get('heavy_imports')}"), flush=True)

    meta = {"command": "python benchmarks/bench_startup.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
            "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), "git": git_rev(),
            "machine": machine(), "runs": args.runs, "input": desc, "medroi": " ".join(Path(c).name for c in m)}
    L = ["# Start-up time of the medroi command (whole process) vs the work itself", "",
         f"- command: `{meta['command']}`", f"- date: {meta['date']}; git {meta['git']}",
         f"- machine: {meta['machine']} (shared with other jobs: noisy); best of {args.runs} runs per command",
         f"- input: {desc} and its lung mask", "",
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
