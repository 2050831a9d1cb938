"""Many files at once: walk a folder tree, compress (or decompress) every image in it.

``compress_tree(input_dir, output_dir, ...)`` mirrors a tree of NIfTI files, DICOM series
folders, single DICOM files and PNG/TIFF/JPEG images under ``output_dir``::

    a/b/x.nii.gz      -> OUTDIR/a/b/x.nii.gz.mroi
    a/series/ (DICOM) -> OUTDIR/a/series.mroi

``decompress_tree(input_dir, output_dir, ...)`` mirrors it back under the same names
(``x.nii.gz.mroi`` -> ``x.nii.gz``, ``series.mroi`` -> a DICOM series folder, a DICOM file
without extension keeps its name), except JPEG: it is stored as its decoded pixels and
comes back as PNG (``x.jpg.mroi`` -> ``x.png``; the manifest's ``note`` says so), as JPEG
output would be lossy again.

ROI masks are paired by ``mask_pattern``: one or more patterns separated by ``|``, tried in
order, each a path relative to the image's folder (or absolute) with the placeholders

    {name}  the image's file (or series folder) name        x_flair.nii.gz
    {stem}  the name without its image extension           x_flair
    {ext}   the image extension, with its dot              .nii.gz
    {case}  the name of the folder holding the image       Brats18_2013_11_1

The default, ``DEFAULT_MASK_PATTERN``, pairs the BRATS layout
(``<case>/<case>_seg.nii.gz`` is the ROI of ``<case>/<case>_{flair,t1,t1ce,t2}.nii.gz``)
and ``x_seg.ext`` / ``x_mask.ext`` beside ``x.ext``. The ROI is the mask's ``roi_labels``
(default: any non-zero label; for BRATS that is the whole tumour, labels 1, 2, 4).
Images without a mask follow the library's rule (``api.compress_file``): a shipped model
that fits the input finds the ROI, else the image is stored losslessly unless
``nroi_max_error`` was given. Label images are stored losslessly (both bounds 0, classical
predictor): every file a pattern pairs as a mask, files whose name says so (``*seg*``,
``*mask*``, ``*label*``, ``*_lungs*``, ... or a ``masks/``, ``labels/`` folder; see
``medroi.labels``), and unpaired files whose pixels are few integer values in flat regions.

Each file is one task, run in-process (``workers=1``), in a pool of local processes
(``workers=N``, default ``os.cpu_count()``) or on a Dask distributed cluster
(``scheduler="tcp://host:8786"``, a ``distributed.Client``, or ``"local"`` for a
``LocalCluster`` of ``workers`` single-threaded processes). The codec is deterministic,
so every mode writes byte-identical files. Tasks return small dicts; no pixel array
reaches the parent process.

Resumable: an output that exists, parses as a .mroi file (``api.file_info``), is newer
than its input and mask, and matches the settings (bounds, entropy, predictor kind,
source name, and the mask/labels recorded in the previous manifest) is skipped. Outputs
are written under a hidden temporary name and renamed, so a run killed at any moment
leaves no partial file under a final name; stale hidden temporaries are removed when
the next run starts. A lock file (``OUTDIR/.medroi-batch.lock``) keeps two runs from
writing into the same folder at once. One failing file never stops the batch: its
manifest row says ``failed`` with the error message.

Manifest: ``OUTDIR/manifest.csv`` and ``OUTDIR/manifest.json`` (written atomically,
refreshed every few seconds while running, at the end and on an interruption: Ctrl-C or
SIGTERM lets the files in progress finish, lists every finished file and exits), one row
per file with input, output, role (image / label), taken_as (e.g. "label, lossless (name
has the label word 'lungs')", "image, lossless (no ROI)"), roi_rule (``api.ROI_RULES``),
mask, status (ok / skipped / failed), error, note, raw and compressed bytes, CR, bounds,
entropy, ROI fraction and seconds. Paths in rows are relative to the input and output
folders (both named in the JSON's ``settings``). In the JSON, a value that is not a finite
number is null.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from medroi.autoroi.inputs import brats_flair_sibling
from medroi.errors import InputNotFoundError, MedroiError
from medroi.autoroi.inputs import brats_flair_sibling

#: Tried in order; see the module docstring for the placeholders.
DEFAULT_MASK_PATTERN = "{case}_seg.nii.gz|{stem}_seg{ext}|{stem}_mask{ext}"
MANIFEST_CSV = "manifest.csv"
MANIFEST_JSON = "manifest.json"
LOCK_NAME = ".medroi-batch.lock"
#: Seconds between manifest refreshes while a batch runs.
MANIFEST_INTERVAL = 5.0

MANIFEST_FIELDS = (
    "input", "output", "role", "taken_as", "roi_rule", "mask", "roi_labels", "status", "error", "note", "format",
    "raw_bytes", "compressed_bytes", "cr", "roi_max_error", "nroi_max_error", "entropy", "predictor",
    "roi_fraction", "seconds", "input_bytes", "stored", "roi_source",
    "roi_status", "roi_reason",
)
JPEG_NOTE = "JPEG is stored as its decoded pixels (exactly) and decompresses to PNG: JPEG output would be lossy again"
KEPT_NOTE = "the input file itself is kept byte-exact (smaller than coding its pixels) and comes back as it was"

_IMAGE_FORMATS = ("nifti", "dicom", "png", "tiff", "jpeg", "nrrd", "metaimage")
# tempfile.mkstemp/mkdtemp names made by medroi.fsutil.atomic_output: ".<name>.<8 chars>.tmp..."
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp")


# --------------------------------------------------------------------------- walking


def _image_ext(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".nii.gz"):
        return name[-7:]
    return os.path.splitext(name)[1]


def _is_single_series(files: Sequence[Path]) -> bool:
    """True if every DICOM file in ``files`` belongs to one series (by SeriesInstanceUID)."""
    import pydicom

    uids = set()
    for f in files:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
        except Exception:
            return False
        uids.add(str(ds.get("SeriesInstanceUID", "")))
        if len(uids) > 1:
            return False
    return True


def _file_format(path: Path) -> str | None:
    from medroi.io.formats import detect_format

    try:
        fmt = detect_format(path)
    except MedroiError:
        return None
    return fmt if fmt in _IMAGE_FORMATS else None


def find_images(root: str | os.PathLike, *, exclude: Iterable[str | os.PathLike] = ()) -> list[tuple[Path, str]]:
    """Every image under ``root``: (path, format), sorted; series folders count as one image.

    Hidden files and folders are skipped, symlinks followed (loops cut), ``exclude`` folders
    (e.g. an output folder inside the input) left out. Files of other kinds are ignored.
    """
    from medroi.io.formats import dicom_files_in

    root = Path(root)
    excluded = {os.path.realpath(p) for p in exclude}
    seen: set[str] = set()
    found: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen or real in excluded:
            dirnames[:] = []
            continue
        seen.add(real)
        keep = []
        for d in sorted(dirnames):
            sub = Path(dirpath) / d
            if d.startswith(".") or os.path.realpath(sub) in excluded:
                continue
            dicoms = dicom_files_in(sub)
            if dicoms and _is_single_series(dicoms):
                found.append((sub, "dicom-series"))  # one image; do not descend
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            fmt = _file_format(path)
            if fmt is not None:
                found.append((path, fmt))
    return sorted(found, key=lambda item: str(item[0]))


def _placeholders(path: Path) -> dict:
    name = path.name
    ext = "" if path.is_dir() else _image_ext(name)
    return {"name": name, "stem": name[: len(name) - len(ext)] if ext else name, "ext": ext,
            "case": path.parent.name}


def find_mask(image: Path, pattern: str | Sequence[str] | None) -> Path | None:
    """The first existing mask that ``pattern`` names for ``image`` (never the image itself)."""
    patterns = _patterns(pattern)
    fields = _placeholders(image)
    for p in patterns:
        try:
            rel = p.format(**fields)
        except (KeyError, IndexError, ValueError) as error:
            raise MedroiError(
                f"mask pattern {p!r}: {error}; placeholders are {{name}}, {{stem}}, {{ext}}, {{case}}"
            ) from None
        candidate = Path(rel) if os.path.isabs(rel) else image.parent / rel
        if candidate.exists() and os.path.realpath(candidate) != os.path.realpath(image):
            return candidate
    return None


def _patterns(pattern: str | Sequence[str] | None) -> list[str]:
    if pattern is None:
        pattern = DEFAULT_MASK_PATTERN
    if isinstance(pattern, str):
        return [p.strip() for p in pattern.split("|") if p.strip()]
    return [str(p) for p in pattern]


# --------------------------------------------------------------------------- tasks (run in workers)

_network_cache: dict = {}


def _install_model_cache() -> None:
    """Load each network once per worker process: memoize ``api.load_network`` here."""
    from medroi import api

    if getattr(api.load_network, "_medroi_cached", False):
        return
    original = api.load_network

    def cached(model, image_format):
        key = (model, image_format)
        if key not in _network_cache:
            _network_cache[key] = original(model, image_format)
        return _network_cache[key]

    cached._medroi_cached = True  # type: ignore[attr-defined]
    api.load_network = cached


def run_task(task: dict) -> dict:
    """Do one file (compress or decompress) and return its manifest row; never raises on a bad file."""
    from medroi import api
    from medroi.allocator import tune_allocator

    tune_allocator()  # Dask workers start with an allocator setting that slows numpy down

    row = dict(task["row"])
    start = time.perf_counter()
    try:
        if task["kind"] == "compress":
            if task["options"].get("predictor") == "network" or task["options"].get("roi") == "auto" \
                    or task["options"].get("mode") == "paper":
                _install_model_cache()
            result = api.compress_file(task["input"], task["output"], roi_mask_path=task["mask"],
                                       force=task["force"], **task["options"])
            row.update(
                status="ok", format=result["format"], raw_bytes=result["raw_bytes"],
                role="label" if result["roi_rule"] == "label" else "image", roi_rule=result["roi_rule"],
                taken_as=taken_as(result["roi_rule"], result["roi_source"], result["nroi_max_error"]),
                compressed_bytes=result["compressed_bytes"], cr=result["cr"],
                roi_max_error=result["roi_max_error"], nroi_max_error=result["nroi_max_error"],
                entropy=result["entropy"], predictor=result["predictor"], roi_fraction=result["roi_fraction"],
                input_bytes=result["input_bytes"], stored=result["stored"],
            )
            if result["stored"] != "pixels":
                row["note"] = KEPT_NOTE
            auto = result.get("roi_auto")
            if auto is not None:
                row.update(roi_source=auto["source"], roi_status=auto["status"], roi_reason=auto["reason"])
        else:
            _install_model_cache()
            result = api.decompress_file(task["input"], task["output"], model=task["model"], force=task["force"],
                                         output_format=task.get("format"))
            compressed = os.path.getsize(task["input"])
            raw = _raw_bytes(result["shape"], result["dtype"])
            row.update(
                status="ok", raw_bytes=raw, compressed_bytes=compressed, cr=raw / compressed if compressed else None,
                roi_max_error=result["roi_max_error"], nroi_max_error=result["nroi_max_error"],
            )
    except Exception as error:  # one bad file must not stop the batch
        message = str(error) if isinstance(error, MedroiError) else f"{type(error).__name__}: {error}"
        row.update(status="failed", error=message.replace("\n", " "))
    row["seconds"] = time.perf_counter() - start
    return row


def taken_as(rule: str, source: str, nroi_max_error) -> str:
    """What the manifest says a file was taken as, e.g. "label, lossless (a paired mask)"."""
    if rule == "label":
        return f"label, lossless ({source})"
    if rule == "no-roi-lossless":
        return f"image, lossless (no ROI: {source})"
    if rule == "no-roi-bound":
        return f"image, whole image within {nroi_max_error} (no ROI: {source})"
    if rule == "paper":
        return "image, the paper's pipeline (lossy everywhere)"
    return f"image, ROI from {source}"


def _raw_bytes(shape, dtype) -> int:
    import numpy as np

    return int(np.prod(shape)) * np.dtype(dtype).itemsize


# --------------------------------------------------------------------------- running tasks


def _default_workers(workers: int | None) -> int:
    if workers is None:
        return max(1, os.cpu_count() or 1)
    if workers < 1:
        raise MedroiError(f"workers must be >= 1, got {workers}")
    return workers


def _run_serial(tasks: list[dict], done: Callable[[dict], None]) -> None:
    for task in tasks:
        done(run_task(task))


def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C goes to the parent, which lets the files in progress finish."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_processes(tasks: list[dict], workers: int, done: Callable[[dict], None]) -> None:
    """A pool of local processes; a task whose worker died is retried once in a fresh pool.

    On KeyboardInterrupt (Ctrl-C, or SIGTERM via the CLI) the tasks not started are
    cancelled and the ones running finish and are reported, so the manifest lists every
    file written; a second interruption stops the workers at once.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed, wait
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("forkserver")
    attempts = {id(t): 0 for t in tasks}
    pending = list(tasks)
    while pending:
        retry = []
        pool = ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=context,
                                   initializer=_ignore_sigint)
        futures = {pool.submit(run_task, t): t for t in pending}

        def collect(future) -> None:
            task = futures.pop(future)
            try:
                done(future.result())
            except BrokenProcessPool:
                attempts[id(task)] += 1
                if attempts[id(task)] >= 2:
                    done(_failed(task, "the worker process died (out of memory?); rerun to retry"))
                else:
                    retry.append(task)
            except Exception as error:
                done(_failed(task, f"{type(error).__name__}: {error}"))

        try:
            for future in as_completed(list(futures)):
                collect(future)
        except KeyboardInterrupt:
            for future in list(futures):
                if future.cancel():
                    futures.pop(future)
            print(f"medroi: interrupted; letting {len(futures)} file(s) in progress finish "
                  "(interrupt again to stop now)", file=sys.stderr)
            try:
                wait(list(futures))
                for future in list(futures):
                    collect(future)
            except KeyboardInterrupt:
                for process in list(getattr(pool, "_processes", {}).values()):
                    process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        pending = retry


def _run_dask(tasks: list[dict], scheduler, workers: int, done: Callable[[dict], None]) -> str:
    """Each task one Dask future (pure=False); results as they complete."""
    from distributed import Client, LocalCluster, as_completed

    with contextlib.ExitStack() as stack:
        if isinstance(scheduler, Client):
            client = scheduler
        elif scheduler == "local":
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None,
            ))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(scheduler))
        address = client.scheduler.address if client.scheduler is not None else str(scheduler)
        if not tasks:
            return address
        futures = client.map(run_task, tasks, pure=False)
        owner = dict(zip(futures, tasks))
        completed = as_completed(futures)
        del futures  # as_completed and ``owner`` hold the only references; each is dropped when done
        for future in completed:
            task = owner.pop(future)
            try:
                done(future.result())
            except Exception as error:
                done(_failed(task, f"{type(error).__name__}: {error}"))
            future.release()
        return address


def _failed(task: dict, message: str) -> dict:
    row = dict(task["row"])
    row.update(status="failed", error=message)
    return row


def _execute(tasks: list[dict], *, workers: int | None, scheduler, done: Callable[[dict], None]) -> str:
    """Run ``tasks`` (largest input first) and call ``done(row)`` for each; return the engine's name."""
    workers = _default_workers(workers)
    tasks = sorted(tasks, key=lambda t: -t.get("size", 0))
    if scheduler is not None:
        return "dask " + _run_dask(tasks, scheduler, workers, done)
    if workers == 1 or len(tasks) <= 1:
        _run_serial(tasks, done)
        return "1 process"
    _run_processes(tasks, workers, done)
    return f"{workers} processes"


# --------------------------------------------------------------------------- output folder


@contextlib.contextmanager
def _locked(output_dir: Path):
    import fcntl

    from medroi.fsutil import ensure_folder, not_writable

    ensure_folder(output_dir)
    lock_path = output_dir / LOCK_NAME
    try:
        handle = open(lock_path, "a+")
    except OSError as error:
        raise not_writable(output_dir, error) from error
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise MedroiError(
            f"{output_dir} is in use by another medroi batch (lock {lock_path}); wait for it or pick "
            "another output folder"
        ) from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()
        handle.close()


def remove_stale_temporaries(output_dir: str | os.PathLike) -> int:
    """Delete hidden temporaries left by killed writes (``.<name>.<random>.tmp*``); return how many."""
    import shutil

    removed = 0
    for dirpath, dirnames, filenames in os.walk(output_dir):
        for name in list(dirnames):
            if _TEMP_NAME.match(name):
                shutil.rmtree(Path(dirpath) / name, ignore_errors=True)
                dirnames.remove(name)
                removed += 1
        for name in filenames:
            if _TEMP_NAME.match(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(Path(dirpath) / name)
                    removed += 1
    return removed


def _mtime(path: Path) -> float:
    if path.is_dir():
        return max((p.stat().st_mtime for p in path.iterdir() if p.is_file()), default=path.stat().st_mtime)
    return path.stat().st_mtime


def _previous_rows(output_dir: Path) -> dict[str, dict]:
    try:
        data = json.loads((output_dir / MANIFEST_JSON).read_text())
        return {row["output"]: row for row in data.get("files", []) if isinstance(row, dict) and "output" in row}
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return {}


def _clean(value):
    """Strict JSON: a non-finite number is null (the JSON's ``nulls`` says so)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_manifest(output_dir: Path, rows: list[dict], settings: dict, summary: dict) -> None:
    """manifest.csv and manifest.json in ``output_dir``, each written atomically."""
    from medroi.fsutil import atomic_write_bytes

    rows = sorted(rows, key=lambda r: r["input"])
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=MANIFEST_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else _csv_value(row.get(k))) for k in MANIFEST_FIELDS})
    atomic_write_bytes(output_dir / MANIFEST_CSV, text.getvalue().encode(), force=True)
    document = {"settings": settings, "summary": {k: _clean(v) for k, v in summary.items()},
                "files": [{k: _clean(row.get(k)) for k in MANIFEST_FIELDS} for row in rows],
                "nulls": "null: not applicable, or a number that is not finite"}
    data = json.dumps(document, indent=1, default=str, allow_nan=False).encode()
    atomic_write_bytes(output_dir / MANIFEST_JSON, data, force=True)


def _csv_value(value):
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


# --------------------------------------------------------------------------- the batch loop


def _run_batch(kind: str, input_dir: Path, output_dir: Path, tasks: list[dict], skipped: list[dict],
               *, settings: dict, workers, scheduler, progress: bool) -> dict:
    from tqdm import tqdm

    rows = list(skipped)
    total = len(tasks) + len(skipped)
    counts = {"ok": 0, "skipped": len(skipped), "failed": 0}
    start = time.perf_counter()
    last_write = [time.monotonic()]
    bar = tqdm(total=total, initial=len(skipped), unit="file", desc=f"medroi {kind}", disable=not progress,
               dynamic_ncols=True)

    def summary(engine: str | None = None) -> dict:
        ok_rows = [r for r in rows if r["status"] in ("ok", "skipped")]
        raw = sum(r.get("raw_bytes") or 0 for r in ok_rows)
        compressed = sum(r.get("compressed_bytes") or 0 for r in ok_rows)
        inputs = [r for r in ok_rows if r.get("input_bytes") and r.get("compressed_bytes")]  # compress only
        seconds = time.perf_counter() - start
        return {
            "input_dir": str(input_dir), "output_dir": str(output_dir), "files": total,
            "ok": counts["ok"], "skipped": counts["skipped"], "failed": counts["failed"],
            "raw_bytes": raw, "compressed_bytes": compressed, "cr": raw / compressed if compressed else None,
            "cr_vs_input_file": (sum(int(r["input_bytes"]) for r in inputs)
                                 / sum(int(r["compressed_bytes"]) for r in inputs)) if inputs else None,
            "seconds": seconds, "files_per_second": counts["ok"] / seconds if seconds > 0 else None,
            "engine": engine, "manifest": str(output_dir / MANIFEST_CSV),
        }

    def done(row: dict) -> None:
        rows.append(row)
        counts[row["status"]] = counts.get(row["status"], 0) + 1
        bar.update(1)
        if row["status"] == "failed":
            bar.write(f"medroi: failed: {row['input']}: {row.get('error')}", file=sys.stderr)
        bar.set_postfix(failed=counts["failed"], refresh=False)
        if time.monotonic() - last_write[0] > MANIFEST_INTERVAL:
            write_manifest(output_dir, rows, settings, summary())
            last_write[0] = time.monotonic()

    engine = None
    try:
        engine = _execute(tasks, workers=workers, scheduler=scheduler, done=done)
    finally:
        bar.close()
        result = summary(engine)
        write_manifest(output_dir, rows, settings, result)
    return result


def _prepare_dirs(input_dir, output_dir) -> tuple[Path, Path]:
    input_dir = Path(input_dir)
    output_dir = Path(output_dir)
    if not input_dir.is_dir():
        raise InputNotFoundError(f"{input_dir}: no such folder")
    return input_dir, output_dir


def compress_tree(
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    mask_pattern: str | Sequence[str] | None = None,
    roi_labels: Sequence[int] | None = None,
    roi: str | None = None,
    roi_max_error: int = 0,
    nroi_max_error: int | None | str = "default",
    entropy: str = "ans",
    mode: str = "residual",
    model: str | None = None,
    predictor: str = "classical",
    workers: int | None = None,
    scheduler=None,
    force: bool = False,
    progress: bool = True,
    roi_margin: str | None = None,
) -> dict:
    """Compress every image under ``input_dir`` into a mirrored tree of .mroi files.

    ``roi``: None (default: each image's paired mask, else a shipped model that fits it,
    else no ROI and, without an explicit ``nroi_max_error``, lossless), "mask" (paired masks
    only, no model), "auto" (a network's U-Net), "none" (masks ignored). Label images are
    always stored losslessly (module docstring). When a model finds the ROI, the T1, T1ce
    and T2 files of a BRATS-layout case get the ROI found on the case's FLAIR (co-registered:
    one patient, one ROI). Other arguments as in ``api.compress_file``;
    ``workers``/``scheduler`` as in the module docstring; ``force`` redoes files that are
    already done. Returns the summary (counts ok/skipped/failed, bytes, CR, seconds, engine,
    manifest path); per-file rows are in the manifest.
    """
    from medroi import api
    from medroi.labels import label_name_reason

    input_dir, output_dir = _prepare_dirs(input_dir, output_dir)
    if roi not in (None, "mask", "auto", "none"):
        raise MedroiError(f"roi must be 'mask', 'auto', 'none' or None (default), got {roi!r}")
    labels = None if roi_labels is None else [int(v) for v in roi_labels]
    images = find_images(input_dir, exclude=[output_dir])
    if input_dir.resolve() == output_dir.resolve():
        raise MedroiError("the output folder must differ from the input folder")

    masks: dict[Path, Path | None] = {}
    if roi in (None, "mask"):
        for path, _fmt in images:
            masks[path] = find_mask(path, mask_pattern)
    mask_set = {os.path.realpath(m) for m in masks.values() if m is not None}
    settings = {
        "command": "compress", "input_dir": str(input_dir), "output_dir": str(output_dir),
        "mask_pattern": "|".join(_patterns(mask_pattern)), "roi_labels": labels, "roi": roi,
        "roi_max_error": roi_max_error, "nroi_max_error": nroi_max_error, "entropy": entropy, "mode": mode,
        "model": model, "predictor": predictor, "roi_margin": roi_margin,
    }

    with _locked(output_dir):
        remove_stale_temporaries(output_dir)
        previous = {} if force else _previous_rows(output_dir)
        tasks, skipped = [], []
        for path, fmt in images:
            rel = path.relative_to(input_dir).as_posix()
            out = output_dir / (rel + ".mroi")
            label = "a paired mask" if os.path.realpath(path) in mask_set else label_name_reason(path)
            mask = None if label else masks.get(path)
            if label:
                options = dict(roi="none", roi_labels=None, roi_max_error=0, nroi_max_error=0, entropy=entropy,
                               mode="residual", model=None, predictor="classical", label=label)
            else:  # unpaired images are also checked for label-like pixels
                options = dict(roi=roi, roi_labels=labels, roi_max_error=roi_max_error,
                               nroi_max_error=nroi_max_error, entropy=entropy, mode=mode, model=model,
                               predictor=predictor, detect_labels=mask is None)
                if roi in (None, "auto") and mask is None:  # a BRATS case: one patient, the FLAIR's ROI
                    flair = brats_flair_sibling(path)
                    options.update(roi_margin=roi_margin, roi_source=None if flair is None else str(flair))
            row = {"input": rel, "output": out.relative_to(output_dir).as_posix(),
                   "role": "label" if label else "image",
                   "taken_as": f"label, lossless ({label})" if label else None,
                   "mask": None if mask is None else os.path.relpath(mask, input_dir),
                   "roi_labels": None if mask is None else labels, "status": None, "error": None,
                   "note": JPEG_NOTE if fmt == "jpeg" else None, "format": fmt, "entropy": entropy}
            redo = force
            if not force and out.exists():
                info = _done_info(api, out, path, mask, options, row, previous.get(row["output"]))
                if info is not None:
                    row.update(info)
                    skipped.append(row)
                    continue
                redo = True  # present but invalid, stale or made with other settings
            tasks.append({"kind": "compress", "input": str(path), "output": str(out),
                          "mask": None if mask is None else str(mask), "options": options, "force": redo,
                          "row": row, "size": _size(path)})
        return _run_batch("compress", input_dir, output_dir, tasks, skipped, settings=settings,
                          workers=workers, scheduler=scheduler, progress=progress)


def _size(path: Path) -> int:
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0


def _done_info(api, out: Path, path: Path, mask: Path | None, options: dict, row: dict,
               previous: dict | None) -> dict | None:
    """The manifest fields of an output that is complete and matches the settings, else None."""
    try:
        info = api.file_info(out)
        newest_input = max(_mtime(path), _mtime(mask) if mask is not None else 0.0)
        if out.stat().st_mtime < newest_input:
            return None
    except (MedroiError, OSError, ValueError, KeyError, TypeError):
        return None
    paper = options["mode"] == "paper"
    rule = info.get("roi_rule")
    expected_roi = None if paper else options["roi_max_error"]
    expected_nroi = None if paper else options["nroi_max_error"]
    if expected_nroi == api.DEFAULT:  # rule 1: what the default gave depends on whether an ROI was found
        expected_nroi = 0 if rule == "no-roi-lossless" else api.DEFAULT_NROI_MAX_ERROR
    network = options["predictor"] == "network" or paper
    if rule == "label" and options.get("detect_labels"):  # found a label by its pixels last time
        expected_roi, expected_nroi, network = 0, 0, False
    kind = (info.get("predictor") or {}).get("kind") if isinstance(info.get("predictor"), dict) else None
    kept = info.get("kept_source")  # a kept input file: compare what was asked, not how it was stored
    bounds = tuple(kept["requested"]) if kept else (info["roi_max_error"], info["nroi_max_error"])
    if (bounds != (expected_roi, expected_nroi) or (kept is None and info["entropy"] != options["entropy"])
            or (kind == "network") != network
            or info.get("source_name") != path.name):
        return None
    if previous is not None and previous.get("status") in ("ok", "skipped"):
        if previous.get("mask") != row["mask"] or previous.get("roi_labels") != row["roi_labels"]:
            return None
    predictor = info.get("predictor") or {}
    extra = {}
    if rule is not None:
        extra = {"roi_rule": rule, "role": "label" if rule == "label" else "image",
                 "taken_as": taken_as(rule, info.get("roi_source") or "", info["nroi_max_error"])}
    return {**extra, "status": "skipped", "raw_bytes": info["raw_bytes"], "compressed_bytes": info["file_bytes"],
            "cr": info["cr"], "roi_max_error": info["roi_max_error"], "nroi_max_error": info["nroi_max_error"],
            "entropy": info["entropy"], "roi_fraction": info.get("roi_fraction"),
            "predictor": predictor.get("name") or predictor.get("kind"), "seconds": 0.0,
            "input_bytes": _size(path), "stored": "kept source" if info.get("kept_source") else "pixels"}


def find_mroi_files(root: str | os.PathLike) -> list[Path]:
    """Every visible ``*.mroi`` file under ``root``, sorted (symlinks followed, loops cut)."""
    found, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / n for n in filenames if n.endswith(".mroi") and not n.startswith("."))
    return sorted(found)


def decoded_name(mroi: Path, taken: set[str] | None = None) -> str:
    """The output name for ``mroi``: the source name back (``x.nii.gz.mroi`` -> ``x.nii.gz``,
    ``IM0001.mroi`` -> ``IM0001``). A JPEG source comes back as PNG (JPEG output would be
    lossy again; see ``JPEG_NOTE``), as ``x.png`` or, when that is taken, ``x.jpg.png``,
    unless the .mroi keeps the JPEG file itself (``KEPT_NOTE``): then as ``x.jpg``, byte-exact."""
    from medroi.io.formats import format_from_extension

    name = mroi.name[: -len(".mroi")]
    if format_from_extension(name) == "jpeg" and not _keeps_source(mroi):
        candidate = name[: -len(_image_ext(name))] + ".png"
        if taken is not None and candidate in taken:
            candidate = name + ".png"
        return candidate
    return name


def _keeps_source(mroi: Path) -> bool:
    """Whether ``mroi`` keeps its input file byte-exact (``medroi.codec.kept``); False if unreadable."""
    from medroi import codec

    try:
        return codec.read_header(mroi.read_bytes()).get("kept_source") is not None
    except (MedroiError, OSError):
        return False


def _output_format(mroi: Path, name: str) -> str | None:
    """The format to write when ``name`` has no image extension: the source's (from the header)."""
    from medroi.io.formats import format_from_extension

    if format_from_extension(name) is not None:
        return None
    from medroi import api

    try:
        return api.file_info(mroi).get("source_format")
    except MedroiError:
        return None


def decompress_tree(
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    model: str | None = None,
    workers: int | None = None,
    scheduler=None,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Decode every ``*.mroi`` under ``input_dir`` into a mirrored tree of images.

    Resumable like ``compress_tree``: an output (file or series folder) that exists and is
    newer than its .mroi file is skipped (outputs are written atomically, so one that exists
    is complete). Returns the summary; per-file rows are in OUTDIR's manifest.
    """
    input_dir, output_dir = _prepare_dirs(input_dir, output_dir)
    if input_dir.resolve() == output_dir.resolve():
        raise MedroiError("the output folder must differ from the input folder")
    from medroi.io.formats import format_from_extension

    files = find_mroi_files(input_dir)
    settings = {"command": "decompress", "input_dir": str(input_dir), "output_dir": str(output_dir),
                "model": model}
    with _locked(output_dir):
        remove_stale_temporaries(output_dir)
        previous = {} if force else {r.get("input"): r for r in _previous_rows(output_dir).values()}
        tasks, skipped = [], []
        taken: dict[Path, set[str]] = {}
        for path in files:
            rel_parent = path.parent.relative_to(input_dir)
            names = taken.setdefault(rel_parent, {p.name[: -len(".mroi")] for p in path.parent.glob("*.mroi")})
            out = output_dir / rel_parent / decoded_name(path, names)
            names.add(out.name)
            rel = path.relative_to(input_dir).as_posix()
            note = JPEG_NOTE if out.name != path.name[: -len(".mroi")] else (
                KEPT_NOTE if format_from_extension(out.name) == "jpeg" else None)
            row = {"input": rel, "output": out.relative_to(output_dir).as_posix(), "role": None, "mask": None,
                   "roi_labels": None, "status": None, "error": None, "note": note}
            redo = force
            if not force and out.exists():
                if out.stat().st_mtime >= path.stat().st_mtime:
                    old = previous.get(rel) or {}
                    row.update({k: old.get(k) for k in ("raw_bytes", "cr", "roi_max_error", "nroi_max_error")})
                    row.update(status="skipped", compressed_bytes=path.stat().st_size, seconds=0.0)
                    skipped.append(row)
                    continue
                redo = True
            tasks.append({"kind": "decompress", "input": str(path), "output": str(out), "model": model,
                          "format": _output_format(path, out.name), "force": redo, "row": row,
                          "size": _size(path)})
        return _run_batch("decompress", input_dir, output_dir, tasks, skipped, settings=settings,
                          workers=workers, scheduler=scheduler, progress=progress)


__all__ = ["compress_tree", "decompress_tree", "find_images", "find_mask", "find_mroi_files", "run_task",
           "write_manifest", "remove_stale_temporaries", "DEFAULT_MASK_PATTERN"]
