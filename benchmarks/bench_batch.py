"""Batch throughput and memory of ``medroi.batch``, and medroi vs JPEG XL on a BRATS tree.

    python benchmarks/bench_batch.py              # 10 BRATS FLAIR volumes (~10-15 min on 2 shared cores)
    python benchmarks/bench_batch.py --volumes 2  # quicker; writes batch_quick.* instead

The tree: ``<case>/<case>_flair.nii.gz`` of the first ``--volumes`` BRATS cases, symlinked into
a temporary folder (nothing is copied), ROI = the case's ``_seg.nii.gz`` (labels 1, 2, 4) found
through an absolute ``--mask-pattern``; bounds ROI 0 / NROI 4, ANS, classical predictor.

Measured, each in a fresh output folder, wall time from the call to the summary:
- ``compress_tree`` with 1 worker (in-process), 2 worker processes, and a 2-worker Dask
  LocalCluster (processes, 1 thread each, started before the clock starts); the .mroi
  files of the three runs are compared byte for byte;
- peak RSS: a sampler thread reads the RSS of this process and all its descendants every
  0.1 s (psutil); reported as the largest single process and the largest sum, and for the
  largest single process separately over the first and the second half of the run (a
  batch whose memory grows with the number of files shows a larger second half);
- the issue's target: ``compress_tree`` + ``decompress_tree`` (back to .nii.gz), 2 workers,
  against JPEG XL (libjxl effort 7, lossless, ``benchmarks/classical.py``) encoding every
  axial slice of the same volumes and decoding them again, on 2 processes, with the same
  file work on both sides (read the NIfTI, write one file of slices; read it, decode,
  write the .nii.gz).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

DATA_ROOT = Path(os.environ.get("MEDROI_DATA", REPO.parent / "shared" / "data"))
MB = 1 << 20


class RssSampler:
    """Peak RSS of this process and its descendants, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = 0.1):
        import psutil

        self.root = psutil.Process()
        self.interval = interval
        self.samples: list[tuple[float, int, int]] = []  # (t, max single process, sum)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        while not self._stop.is_set():
            procs = [self.root]
            try:
                procs += self.root.children(recursive=True)
            except psutil.Error:
                pass
            rss = []
            for p in procs:
                try:
                    rss.append(p.memory_info().rss)
                except psutil.Error:
                    pass
            self.samples.append((time.perf_counter(), max(rss), sum(rss)))
            self._stop.wait(self.interval)

    def __enter__(self):
        self.start = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.end = time.perf_counter()

    def report(self) -> dict:
        mid = (self.start + self.end) / 2
        first = [s[1] for s in self.samples if s[0] < mid] or [0]
        second = [s[1] for s in self.samples if s[0] >= mid] or [0]
        return {
            "peak_process_mb": max(s[1] for s in self.samples) / MB,
            "peak_total_mb": max(s[2] for s in self.samples) / MB,
            "peak_process_first_half_mb": max(first) / MB,
            "peak_process_second_half_mb": max(second) / MB,
        }


def make_tree(root: Path, cases: list[str]) -> Path:
    for case in cases:
        (root / case).mkdir(parents=True)
        os.symlink(DATA_ROOT / "brats" / case / f"{case}_flair.nii.gz", root / case / f"{case}_flair.nii.gz")
    return root


def mroi_files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.mroi"))}


def timed(label: str, fn, runs: dict, volumes: int) -> dict:
    with RssSampler() as sampler:
        start = time.perf_counter()
        summary = fn()
        seconds = time.perf_counter() - start
    if summary.get("failed"):
        raise SystemExit(f"{label}: {summary['failed']} files failed; see {summary.get('manifest')}")
    row = {"label": label, "seconds": seconds, "files_per_second": volumes / seconds, **sampler.report(),
           "cr": summary.get("cr"), "engine": summary.get("engine")}
    runs[label] = row
    print(f"{label}: {seconds:.1f} s, {volumes / seconds:.3f} files/s, peak process "
          f"{row['peak_process_mb']:.0f} MB", flush=True)
    return row


# --------------------------------------------------------------------------- JPEG XL side


def jxl_encode_volume(args: tuple[str, str]) -> int:
    import nibabel as nib
    import numpy as np

    import classical as C

    src, dst = args
    volume = np.asarray(nib.load(src).dataobj)
    chunks = [C.jpegxl_encode(np.ascontiguousarray(volume[:, :, k]), effort=7) for k in range(volume.shape[2])]
    header = json.dumps({"shape": volume.shape, "dtype": volume.dtype.name, "src": src}).encode()
    with open(dst, "wb") as handle:
        handle.write(struct.pack("<I", len(header)) + header)
        for chunk in chunks:
            handle.write(struct.pack("<I", len(chunk)) + chunk)
    return os.path.getsize(dst)


def jxl_decode_volume(args: tuple[str, str]) -> bool:
    import nibabel as nib
    import numpy as np

    import classical as C

    src, dst = args
    data = Path(src).read_bytes()
    (n,) = struct.unpack_from("<I", data, 0)
    header = json.loads(data[4:4 + n])
    pos = 4 + n
    volume = np.empty(header["shape"], dtype=header["dtype"])
    for k in range(header["shape"][2]):
        (size,) = struct.unpack_from("<I", data, pos)
        volume[:, :, k] = C.jpegxl_decode(data[pos + 4:pos + 4 + size])
        pos += 4 + size
    source = nib.load(header["src"])
    nib.save(nib.Nifti1Image(volume, source.affine, source.header), dst)
    return bool(np.array_equal(volume, np.asarray(source.dataobj)))


def jxl_round_trip(tree: Path, work: Path, cases: list[str]) -> dict:
    enc = [(str(tree / c / f"{c}_flair.nii.gz"), str(work / f"{c}_flair.jxls")) for c in cases]
    dec = [(str(work / f"{c}_flair.jxls"), str(work / f"{c}_flair.nii.gz")) for c in cases]
    with ProcessPoolExecutor(max_workers=2) as pool:
        start = time.perf_counter()
        sizes = list(pool.map(jxl_encode_volume, enc))
        t_enc = time.perf_counter() - start
        exact = list(pool.map(jxl_decode_volume, dec))
        total = time.perf_counter() - start
    assert all(exact), "JPEG XL lossless round trip was not exact"
    raw = sum(240 * 240 * 155 * 2 for _ in cases)
    return {"encode_seconds": t_enc, "decode_seconds": total - t_enc, "seconds": total, "cr": raw / sum(sizes)}


# --------------------------------------------------------------------------- main


def git_revision() -> str:
    if os.environ.get("MEDROI_BENCH_REV"):  # run from a clean snapshot (git archive) of that revision
        return os.environ["MEDROI_BENCH_REV"] + " (clean snapshot)"
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
        dirty = subprocess.run(["git", "status", "--porcelain", "medroi"], cwd=REPO, capture_output=True,
                               text=True).stdout
        return rev.strip() + (" + uncommitted medroi/ changes" if dirty.strip() else "")
    except OSError:
        return "unknown"


def warm_up_kernels() -> None:
    """Compile (and cache on disk) the numba kernels before any clock starts: a first run after
    installing or editing the codec compiles them in every worker process (~10 s each)."""
    import numpy as np

    import medroi.codec as codec

    volume = np.random.default_rng(0).integers(0, 300, size=(32, 32, 3)).astype(np.int16)
    roi = np.zeros(volume.shape, bool)
    roi[8:16, 8:16] = True
    for bounds in ((0, 4), (0, 0)):
        codec.decompress(codec.compress(volume, roi, *bounds))


def single_volume(path: Path, seg_path: str) -> dict:
    """One volume in this process (codec only, after a warm-up; CPU seconds): encode and decode
    at ROI 0 / NROI 4 and lossless."""
    import nibabel as nib
    import numpy as np

    import medroi.codec as codec

    volume = np.asarray(nib.load(path).dataobj)
    roi = np.asarray(nib.load(seg_path).dataobj) > 0
    codec.decompress(codec.compress(volume[:, :, 70:72], roi[:, :, 70:72], 0, 4))  # compile the kernels
    result = {"case": path.name}
    for name, bounds in (("roi0_nroi4", (0, 4)), ("lossless", (0, 0))):
        start = time.process_time()
        data = codec.compress(volume, roi, *bounds)
        middle = time.process_time()
        assert np.abs(codec.decompress(data).array.astype(np.int64) - volume).max() <= bounds[1]
        result[name] = {"encode_cpu_seconds": middle - start, "decode_cpu_seconds": time.process_time() - middle,
                        "bytes": len(data)}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volumes", type=int, default=10, help="BRATS FLAIR volumes in the tree (max 10)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for batch.md / batch.json")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    from medroi import batch

    cases = sorted(p.name for p in (DATA_ROOT / "brats").iterdir() if p.is_dir())[: args.volumes]
    n = len(cases)
    pattern = str(DATA_ROOT / "brats" / "{case}" / "{case}_seg.nii.gz")
    options = dict(mask_pattern=pattern, roi_max_error=0, nroi_max_error=4, progress=False)
    runs: dict[str, dict] = {}
    warm_up_kernels()
    with tempfile.TemporaryDirectory(prefix="medroi-bench-batch-") as tmp:
        tmp = Path(tmp)
        tree = make_tree(tmp / "tree", cases)
        timed("compress, 1 worker (in-process)",
              lambda: batch.compress_tree(tree, tmp / "w1", workers=1, **options), runs, n)
        timed("compress, 2 worker processes",
              lambda: batch.compress_tree(tree, tmp / "w2", workers=2, **options), runs, n)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.run(lambda: __import__("medroi.batch"))  # workers import medroi before the clock starts
            timed("compress, Dask LocalCluster 2 workers",
                  lambda: batch.compress_tree(tree, tmp / "dask", scheduler=client.scheduler.address, **options),
                  runs, n)
        w1, w2, dk = mroi_files(tmp / "w1"), mroi_files(tmp / "w2"), mroi_files(tmp / "dask")
        identical = w1 == w2 == dk and len(w1) == n
        timed("decompress, 2 worker processes",
              lambda: batch.decompress_tree(tmp / "w2", tmp / "back", workers=2, progress=False), runs, n)
        timed("compress lossless, 2 worker processes",
              lambda: batch.compress_tree(tree, tmp / "lossless", roi="none", roi_max_error=0, nroi_max_error=0,
                                          workers=2, progress=False), runs, n)
        timed("decompress lossless, 2 worker processes",
              lambda: batch.decompress_tree(tmp / "lossless", tmp / "back0", workers=2, progress=False), runs, n)
        single = single_volume(tree / cases[0] / f"{cases[0]}_flair.nii.gz", pattern.format(case=cases[0]))
        (tmp / "jxl").mkdir()
        jxl = jxl_round_trip(tree, tmp / "jxl", cases)
        print(f"JPEG XL e7 lossless, 2 processes: {jxl['seconds']:.1f} s", flush=True)
    medroi_total = runs["compress, 2 worker processes"]["seconds"] + runs["decompress, 2 worker processes"]["seconds"]
    lossless_total = (runs["compress lossless, 2 worker processes"]["seconds"]
                      + runs["decompress lossless, 2 worker processes"]["seconds"])

    import imagecodecs
    import psutil

    stamp = {
        "command": "python " + " ".join(shlex.quote(a) for a in ["benchmarks/bench_batch.py", *sys.argv[1:]]),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git": git_revision(), "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "load_average_at_end": os.getloadavg(),
        "imagecodecs": imagecodecs.__version__, "psutil": psutil.__version__,
    }
    result = {"stamp": stamp, "volumes": n, "cases": cases, "runs": runs, "byte_identical": identical,
              "jpegxl": jxl, "medroi_compress_plus_decompress_seconds": medroi_total,
              "medroi_lossless_compress_plus_decompress_seconds": lossless_total, "single_volume": single}
    name = "batch" if n == 10 else "batch_quick"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1))
    lines = [
        f"# medroi batch: {n} BRATS FLAIR volumes (240 x 240 x 155 int16), ROI 0 / NROI 4",
        "",
        f"`{stamp['command']}` - {stamp['date']} - git {stamp['git']} - Python {stamp['python']}, "
        f"{stamp['cpus']} CPUs (shared; load average at the end {', '.join(f'{v:.1f}' for v in stamp['load_average_at_end'])}).",
        "",
        "| run | seconds | files/s | peak RSS, largest process (MB) | 1st half / 2nd half (MB) | peak RSS, all processes (MB) | CR |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in runs.values():
        cr = "" if row["cr"] is None else f"{row['cr']:.1f}"
        lines.append(
            f"| {row['label']} | {row['seconds']:.1f} | {row['files_per_second']:.3f} | {row['peak_process_mb']:.0f} | "
            f"{row['peak_process_first_half_mb']:.0f} / {row['peak_process_second_half_mb']:.0f} | "
            f"{row['peak_total_mb']:.0f} | {cr} |"
        )
    verdict = "meets" if medroi_total <= jxl["seconds"] else "misses"
    lines += [
        "",
        f"The three compress runs wrote byte-identical .mroi files: **{'yes' if identical else 'NO'}**.",
        "",
        "## Target: medroi compress + decompress vs JPEG XL (effort 7, lossless), 2 processes",
        "",
        "| | encode (s) | decode (s) | total (s) | CR |",
        "|---|---:|---:|---:|---:|",
        f"| medroi batch (ROI 0 / NROI 4), 2 workers | {runs['compress, 2 worker processes']['seconds']:.1f} | "
        f"{runs['decompress, 2 worker processes']['seconds']:.1f} | {medroi_total:.1f} | "
        f"{runs['compress, 2 worker processes']['cr']:.1f} |",
        f"| medroi batch lossless (no ROI), 2 workers | {runs['compress lossless, 2 worker processes']['seconds']:.1f} | "
        f"{runs['decompress lossless, 2 worker processes']['seconds']:.1f} | {lossless_total:.1f} | "
        f"{runs['compress lossless, 2 worker processes']['cr']:.1f} |",
        f"| JPEG XL e7 lossless, every axial slice, 2 processes | {jxl['encode_seconds']:.1f} | "
        f"{jxl['decode_seconds']:.1f} | {jxl['seconds']:.1f} | {jxl['cr']:.1f} |",
        "",
        f"medroi {verdict} the target (total {medroi_total:.1f} s vs {jxl['seconds']:.1f} s, "
        f"ratio {medroi_total / jxl['seconds']:.2f}). Both sides read the NIfTI, write one compressed file "
        "per volume, read it back and write a .nii.gz. JPEG XL is lossless everywhere; medroi is lossless "
        f"in the ROI and within 4 elsewhere. Lossless, medroi takes {lossless_total:.1f} s "
        f"(ratio {lossless_total / jxl['seconds']:.2f}).",
        "",
        f"Single volume ({single['case']}, codec only, in one process after a warm-up, CPU seconds): "
        + "; ".join(f"{name.replace('_', ' ')}: encode {single[name]['encode_cpu_seconds']:.2f} s, decode "
                    f"{single[name]['decode_cpu_seconds']:.2f} s, {single[name]['bytes']:,} B"
                    for name in ("roi0_nroi4", "lossless")) + ".",
        "",
        "Timings on a shared 2-core machine are noisy (other jobs run at the same time); sizes and CRs are "
        "deterministic. Peak RSS is sampled every 0.1 s, so short spikes can be missed.",
    ]
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
