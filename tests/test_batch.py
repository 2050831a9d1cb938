"""medroi.batch: tree walking, mask pairing, manifest, resume, kill -9, processes vs Dask."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from medroi import api, batch
from tests.conftest import require_data

CASE = "Brats18_2013_11_1"
XRAYS = ("gbcxr_011.png", "mhh_19a01707.png", "mhh_1bc3008e.png")
PATTERN = "{case}_seg.nii.gz|../masks/{stem}_lungs.png"


# --------------------------------------------------------------------------- helpers


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src, dst)


def _make_tree(root: Path, *, flair: bool = True, corrupt: bool = True, xrays=XRAYS) -> Path:
    """Real files symlinked into a small tree: BRATS case (flair + seg), X-rays + one lung mask."""
    brats = require_data("brats", CASE)
    xray = require_data("xray")
    tree = root
    _link(brats / f"{CASE}_seg.nii.gz", tree / "brats" / CASE / f"{CASE}_seg.nii.gz")
    if flair:
        _link(brats / f"{CASE}_flair.nii.gz", tree / "brats" / CASE / f"{CASE}_flair.nii.gz")
    for name in xrays:
        _link(xray / "images" / name, tree / "xray" / "images" / name)
    _link(xray / "masks" / "gbcxr_011_lungs.png", tree / "xray" / "masks" / "gbcxr_011_lungs.png")
    if corrupt:  # a PNG signature followed by garbage
        (tree / "xray" / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    (tree / "README.txt").write_text("not an image: ignored\n")
    return tree


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.mroi"))}


def _manifest(out: Path) -> list[dict]:
    with open(out / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _check_within_bounds(tree: Path, out: Path, rows: list[dict]) -> None:
    """Decode every output and check ROI / NROI errors against the bounds in its header."""
    from medroi import codec
    from medroi.io import read_image, read_mask

    for row in rows:
        if row["status"] == "failed":
            continue
        data = (out / row["output"]).read_bytes()
        header = codec.read_header(data)
        decoded = codec.decompress(data)
        original = read_image(tree / row["input"]).array
        assert decoded.array.shape == original.shape and decoded.array.dtype == original.dtype
        error = np.abs(decoded.array.astype(np.int64) - original.astype(np.int64))
        roi = np.zeros(original.shape, bool)
        if row["mask"]:
            colour = original.ndim == 3 and row["format"] != "nifti"  # colour planes share the 2D mask
            roi = read_mask(tree / row["mask"], shape=original.shape[:2] if colour else original.shape)
            roi = np.repeat(roi[..., None], original.shape[-1], axis=-1) if colour else roi
            assert np.array_equal(decoded.roi_mask, roi), row["input"]
        assert error[roi].max(initial=0) <= header["roi_max_error"], row["input"]
        assert error[~roi].max(initial=0) <= header["nroi_max_error"], row["input"]
        if row["role"] == "label":
            assert error.max() == 0, row["input"]


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "medroi.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


# --------------------------------------------------------------------------- synthetic, fast


def test_find_images_and_masks(tmp_path):
    from PIL import Image

    img = np.arange(64, dtype=np.uint8).reshape(8, 8)
    for rel in ("c1/c1_t1.png", "c1/c1_seg.png", "c1/.hidden.png", ".cache/x.png", "d/x.tif", "d/x_mask.tif"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(tmp_path / rel)
    (tmp_path / "notes.csv").write_text("a,b\n")
    found = [p.relative_to(tmp_path).as_posix() for p, _ in batch.find_images(tmp_path)]
    assert found == ["c1/c1_seg.png", "c1/c1_t1.png", "d/x.tif", "d/x_mask.tif"]
    assert batch.find_mask(tmp_path / "d/x.tif", None) == tmp_path / "d/x_mask.tif"
    assert batch.find_mask(tmp_path / "c1/c1_t1.png", "{case}_seg.png") == tmp_path / "c1/c1_seg.png"
    assert batch.find_mask(tmp_path / "c1/c1_seg.png", "{case}_seg.png") is None  # never itself
    assert batch.find_mask(tmp_path / "c1/c1_t1.png", "nope_{stem}{ext}|../d/x{ext}") is None
    assert batch.find_mask(tmp_path / "c1/c1_t1.png", "nope|../d/x_mask.tif") == tmp_path / "c1/../d/x_mask.tif"
    with pytest.raises(Exception, match="placeholders"):
        batch.find_mask(tmp_path / "d/x.tif", "{series}.png")


def test_decoded_names_and_stale_temporaries(tmp_path):
    assert batch.decoded_name(Path("a/x.nii.gz.mroi")) == "x.nii.gz"
    assert batch.decoded_name(Path("a/x.jpg.mroi"), {"x.jpg"}) == "x.png"
    assert batch.decoded_name(Path("a/x.jpg.mroi"), {"x.jpg", "x.png"}) == "x.jpg.png"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".x.nii.gz.mroi.ab_cd123.tmp.mroi").write_bytes(b"partial")
    (tmp_path / ".series.mroi.k2j4h5g6.tmp").mkdir()
    (tmp_path / ".keep-me").write_text("user file")
    assert batch.remove_stale_temporaries(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".keep-me", "sub"]


def test_synthetic_tree_resume_and_lock(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (32, 40), dtype=np.uint8)).save(tree / "a" / f"im{i}.png")
    out = tmp_path / "out"
    first = batch.compress_tree(tree, out, workers=1, progress=False)
    assert (first["ok"], first["skipped"], first["failed"]) == (3, 0, 0)
    again = batch.compress_tree(tree, out, workers=1, progress=False)
    assert (again["ok"], again["skipped"], again["failed"]) == (0, 3, 0)
    # other settings redo the files; a damaged output is redone
    other = batch.compress_tree(tree, out, workers=1, nroi_max_error=1, progress=False)
    assert other["ok"] == 3
    (out / "a" / "im1.png.mroi").write_bytes(b"garbage")
    fixed = batch.compress_tree(tree, out, workers=1, nroi_max_error=1, progress=False)
    assert (fixed["ok"], fixed["skipped"]) == (1, 2)
    assert api.file_info(out / "a" / "im1.png.mroi")["nroi_max_error"] == 1
    # a second batch into the same folder is refused while one holds the lock
    with batch._locked(out):
        with pytest.raises(Exception, match="in use"):
            batch.compress_tree(tree, out, workers=1, progress=False)
    back = batch.decompress_tree(out, tmp_path / "back", workers=1, progress=False)
    assert back["ok"] == 3
    assert sorted(p.name for p in (tmp_path / "back" / "a").iterdir()) == ["im0.png", "im1.png", "im2.png"]


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return _make_tree(tmp_path_factory.mktemp("tree"))


@pytest.fixture(scope="module")
def pool_run(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("pool") / "out"
    summary = batch.compress_tree(tree, out, mask_pattern=PATTERN, workers=2, progress=False)
    return out, summary


def test_manifest_reports_corrupt_file_rest_succeed(tree, pool_run):
    out, summary = pool_run
    assert summary["engine"] == "2 processes"
    assert (summary["files"], summary["ok"], summary["failed"]) == (7, 6, 1)
    rows = {r["input"]: r for r in _manifest(out)}
    assert set(rows) == {
        f"brats/{CASE}/{CASE}_flair.nii.gz", f"brats/{CASE}/{CASE}_seg.nii.gz", "xray/images/broken.png",
        *(f"xray/images/{n}" for n in XRAYS), "xray/masks/gbcxr_011_lungs.png",
    }
    broken = rows["xray/images/broken.png"]
    assert broken["status"] == "failed" and "broken.png" in broken["error"]
    assert not (out / "xray/images/broken.png.mroi").exists()
    flair = rows[f"brats/{CASE}/{CASE}_flair.nii.gz"]
    assert flair["status"] == "ok" and flair["mask"] == f"brats/{CASE}/{CASE}_seg.nii.gz"
    assert (flair["roi_max_error"], flair["nroi_max_error"]) == ("0", "4")
    assert float(flair["cr"]) > 1 and float(flair["roi_fraction"]) > 0
    seg = rows[f"brats/{CASE}/{CASE}_seg.nii.gz"]
    assert (seg["role"], seg["roi_max_error"], seg["nroi_max_error"]) == ("label", "0", "0")
    assert seg["taken_as"].startswith("label, lossless")
    assert rows["xray/masks/gbcxr_011_lungs.png"]["role"] == "label"
    unpaired = rows["xray/images/mhh_19a01707.png"]  # no mask, no model for a PNG: lossless (rule 1)
    assert (unpaired["roi_rule"], unpaired["nroi_max_error"]) == ("no-roi-lossless", "0")
    assert rows["xray/images/gbcxr_011.png"]["mask"] == "xray/masks/gbcxr_011_lungs.png"
    assert rows["xray/images/mhh_19a01707.png"]["mask"] == ""
    document = json.loads((out / "manifest.json").read_text())
    assert document["summary"]["failed"] == 1 and len(document["files"]) == 7
    assert document["settings"]["mask_pattern"] == PATTERN
    assert not [p for p in out.rglob(".*") if p.name != batch.LOCK_NAME]  # no temporaries left


def test_resume_skips_done_files(tree, pool_run, tmp_path):
    out, _ = pool_run
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.mroi")}
    (out / "xray" / "images" / ".mhh_19a01707.png.mroi.x1y2z3w4.tmp.mroi").write_bytes(b"left by kill -9")
    summary = batch.compress_tree(tree, out, mask_pattern=PATTERN, workers=2, progress=False)
    assert (summary["ok"], summary["skipped"], summary["failed"]) == (0, 6, 1)  # only the broken one retried
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.mroi")} == before
    assert not list(out.rglob(".*.tmp*"))
    rows = {r["input"]: r for r in _manifest(out)}
    assert rows[f"brats/{CASE}/{CASE}_flair.nii.gz"]["status"] == "skipped"
    assert float(rows[f"brats/{CASE}/{CASE}_flair.nii.gz"]["cr"]) > 1


def test_dask_local_cluster_gives_byte_identical_files(tree, pool_run, tmp_path):
    from distributed import Client, LocalCluster

    out, _ = pool_run
    dask_out = tmp_path / "dask"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        summary = batch.compress_tree(tree, dask_out, mask_pattern=PATTERN, scheduler=client.scheduler.address,
                                      progress=False)
    assert summary["engine"].startswith("dask tcp://127.0.0.1")
    assert (summary["ok"], summary["failed"]) == (6, 1)
    pool_files, dask_files = _outputs(out), _outputs(dask_out)
    assert len(pool_files) == 6 and pool_files.keys() == dask_files.keys()
    for name in pool_files:
        assert pool_files[name] == dask_files[name], name


def test_decompress_tree_mirrors_back(tree, pool_run, tmp_path):
    from medroi.io import read_image

    out, _ = pool_run
    back = tmp_path / "back"
    summary = batch.decompress_tree(out, back, workers=2, progress=False)
    assert (summary["ok"], summary["failed"]) == (6, 0)
    seg = f"brats/{CASE}/{CASE}_seg.nii.gz"
    assert np.array_equal(read_image(back / seg).array, read_image(tree / seg).array)
    flair = f"brats/{CASE}/{CASE}_flair.nii.gz"
    error = np.abs(read_image(back / flair).array.astype(int) - read_image(tree / flair).array.astype(int))
    assert error.max() <= 4
    xray = read_image(back / "xray/images/mhh_19a01707.png").array
    assert xray.shape == read_image(tree / "xray/images/mhh_19a01707.png").array.shape
    again = batch.decompress_tree(out, back, workers=2, progress=False)
    assert (again["ok"], again["skipped"]) == (0, 6)


def test_cli_killed_part_way_then_rerun_completes(tmp_path):
    tree = _make_tree(tmp_path / "tree", flair=False, corrupt=False)
    out = tmp_path / "out"
    args = ("compress", str(tree), "-o", str(out), "--workers", "1", "--mask-pattern", PATTERN)
    process = _cli(*args)
    deadline = time.monotonic() + 120
    while not list(out.rglob("*.mroi")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the batch finished before it could be killed: " + process.stderr.read()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = list(out.rglob("*.mroi"))
    assert 1 <= len(partial) < 5
    for path in partial:  # whatever has a final name is complete
        api.file_info(path)
    rerun = _cli(*args, "--json")
    stdout, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["failed"] == 0 and summary["skipped"] >= len(partial) and summary["files"] == 5
    assert summary["ok"] + summary["skipped"] == 5
    assert not list(out.rglob(".*.tmp*"))
    rows = _manifest(out)
    assert len(rows) == 5 and all(r["status"] in ("ok", "skipped") for r in rows)
    _check_within_bounds(tree, out, rows)


def test_cli_exit_code_when_a_file_fails(tmp_path):
    tree = _make_tree(tmp_path / "tree", flair=False, xrays=("mhh_19a01707.png",))
    (tree / "brats").joinpath(CASE, f"{CASE}_seg.nii.gz").unlink()
    process = _cli("compress", str(tree), "-o", str(tmp_path / "out"), "--workers", "1", "--json")
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    summary = json.loads(stdout)
    assert (summary["ok"], summary["failed"]) == (2, 1)
