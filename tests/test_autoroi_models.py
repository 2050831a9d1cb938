"""``--roi auto`` with the shipped U-Nets on real images: scale-free, shared across a BRATS
case's modalities in tree mode, and falling back when the model cannot handle the input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import require_data

REPO = Path(__file__).resolve().parents[1]
BRATS_BUNDLE = REPO / "bundles" / "brats_mri_roi_compression"
CASE = "Brats18_TCIA03_265_1"
SLAB = slice(60, 100)  # 40 slices through the tumour keep the tests quick


@pytest.fixture(scope="module")
def brats_model():
    if not (BRATS_BUNDLE / "models" / "model.ts").is_file():
        pytest.skip("no shipped BRATS model")
    from medroi.networks.runtime import load_model

    return load_model(str(BRATS_BUNDLE), "nifti")


def _slab(case_dir: Path, modality: str, slab: slice = SLAB) -> tuple[np.ndarray, np.ndarray]:
    import nibabel as nib

    img = nib.load(str(case_dir / f"{case_dir.name}_{modality}.nii.gz"))
    return np.asarray(img.dataobj)[:, :, slab], img.affine


@pytest.mark.parametrize("case,sub", [(CASE, "brats"), ("Brats18_TCIA10_628_1", "brats_extra")])
def test_scaling_a_volume_by_30_gives_the_same_mask(brats_model, case, sub):
    case_dir = require_data(sub, case)
    flair, _ = _slab(case_dir, "flair")
    base = brats_model.auto_roi(flair, spacing=[1.0, 1.0, 1.0])
    scaled = brats_model.auto_roi(flair.astype(np.int32) * 30, spacing=[1.0, 1.0, 1.0])
    if case == CASE:  # a clear tumour: a real ROI is compared (the faint one may fall back, identically)
        assert base.accepted, base.reason
    assert base.reason == scaled.reason and base.stats == scaled.stats
    if base.accepted:
        assert np.array_equal(base.mask, scaled.mask)
    raw = brats_model.segment_volume(flair)
    assert raw.any() and np.array_equal(raw, brats_model.segment_volume(flair.astype(np.int32) * 30))


def test_blank_images_fall_back(brats_model):
    blank_volume = brats_model.auto_roi(np.zeros((96, 96, 8), np.int16))
    assert not blank_volume.accepted and blank_volume.reason
    blank_slice = brats_model.auto_roi(np.full((120, 100), 17, np.uint16))
    assert not blank_slice.accepted and blank_slice.reason


def test_a_t1ce_file_alone_falls_back(brats_model, tmp_path):
    if "t1ce" in brats_model.policy.accepts or not brats_model.policy.accepts:
        pytest.skip("this model accepts T1ce")
    from medroi import api

    case_dir = require_data("brats", CASE)
    t1ce = case_dir / f"{CASE}_t1ce.nii.gz"
    import nibabel as nib

    vol, affine = _slab(case_dir, "t1ce")
    path = tmp_path / t1ce.name
    nib.save(nib.Nifti1Image(vol, affine), str(path))
    result = api.compress_file(path, tmp_path / "t1ce.mroi", roi="auto", model=str(BRATS_BUNDLE))
    assert result["roi_auto"]["status"] == "fallback" and "flair" in result["roi_auto"]["reason"].lower()
    assert result["roi_fraction"] == 1.0  # the whole volume kept within --roi-max-error (lossless)
    assert api.file_info(tmp_path / "t1ce.mroi")["roi_auto"]["status"] == "fallback"


def test_an_image_the_model_cannot_handle_falls_back(brats_model):
    """An abdominal MR and a sagittal (not skull-stripped) head MR through the brain-tumour model."""
    from medroi.io import read_image

    for parts in (("more", "totalsegmentator", "example_mr_sm.nii.gz"), ("dicom", "mr_t1_sag_HFS_dcm_qa_decubitus")):
        image = read_image(require_data(*parts))
        result = brats_model.auto_roi(image.array, spacing=image.metadata.get("spacing"))
        assert not result.accepted and "training data" in result.reason, parts


def test_the_shipped_policy_rejects_one_fragment_more_than_its_limit(brats_model):
    """max_fragments (0.5.0: a safety limit beyond every held-out prediction, docs/README.md): a
    prediction in that many separate blobs is kept, one more blob and the volume falls back."""
    from medroi.autoroi.postprocess import finish

    limit = brats_model.policy.max_fragments
    assert limit is not None and 1 <= limit <= 40
    fg = np.zeros((100, 100, 30), bool)
    fg[20:80, 20:80] = True  # a "brain": 36 % of the voxels (skull-stripped volumes have few)
    prob = np.zeros(fg.shape, np.float32)
    spots = [(x, y, z) for z in (2, 12, 22) for x in (21, 35, 49, 63) for y in (21, 35, 49, 63)]  # 48 blobs, apart

    def blobs(n: int) -> np.ndarray:
        p = prob.copy()
        for x, y, z in spots[:n]:
            p[x:x + 10, y:y + 10, z:z + 6] = 0.9  # 600 voxels each
        return p

    accepted = finish(blobs(limit), fg, brats_model.policy, spacing=[1.0, 1.0, 1.0])
    assert accepted.accepted and accepted.stats["fragments"] == limit, accepted.reason
    rejected = finish(blobs(limit + 1), fg, brats_model.policy, spacing=[1.0, 1.0, 1.0])
    assert not rejected.accepted and f"{limit + 1} fragments" in rejected.reason


def test_the_shipped_policy_rejects_a_region_below_its_confidence(brats_model):
    """min_confidence (0.5.0: a safety limit below every held-out prediction's mean probability
    inside its mask, docs/README.md): the same region at a mean probability just above the
    limit is kept, just below it the volume falls back."""
    from medroi.autoroi.postprocess import finish

    limit = brats_model.policy.min_confidence
    assert 0.2 < limit < 1.0
    fg = np.zeros((100, 100, 30), bool)
    fg[20:80, 20:80] = True
    for level, kept in ((limit + 0.02, True), (limit - 0.02, False)):
        prob = np.zeros(fg.shape, np.float32)
        prob[40:60, 40:60, 10:20] = level
        result = finish(prob, fg, brats_model.policy, spacing=[1.0, 1.0, 1.0])
        assert result.accepted == kept, (level, result.reason)
        assert kept or "low confidence" in result.reason


def test_every_modality_of_a_brats_case_gets_the_flair_roi(brats_model, tmp_path):
    import nibabel as nib

    from medroi import batch, codec

    case_dir = require_data("brats", CASE)
    inp = tmp_path / "in" / CASE
    inp.mkdir(parents=True)
    for modality in ("flair", "t1", "t1ce", "t2"):
        vol, affine = _slab(case_dir, modality)
        nib.save(nib.Nifti1Image(vol, affine), str(inp / f"{CASE}_{modality}.nii.gz"))
    summary = batch.compress_tree(tmp_path / "in", tmp_path / "out", roi="auto", model=str(BRATS_BUNDLE),
                                  workers=1, progress=False)
    assert summary["failed"] == 0 and summary["ok"] == 4
    masks = {}
    for modality in ("flair", "t1", "t1ce", "t2"):
        data = (tmp_path / "out" / CASE / f"{CASE}_{modality}.nii.gz.mroi").read_bytes()
        masks[modality] = codec.decompress(data).roi_mask
    assert masks["flair"].any() and not masks["flair"].all()  # a real ROI, not the fallback
    for modality in ("t1", "t1ce", "t2"):
        assert np.array_equal(masks[modality], masks["flair"]), modality
    import json

    rows = json.loads((tmp_path / "out" / "manifest.json").read_text())["files"]
    assert {r["roi_source"] for r in rows} == {f"{CASE}_flair.nii.gz"}
    assert {r["roi_status"] for r in rows} == {"ok"}


def test_a_rejected_flair_roi_keeps_every_modality_of_the_case_whole(brats_model, tmp_path):
    """Tree mode, the same rule: when the shipped model's check rejects a case's FLAIR (here the
    FLAIR of a BRATS slab whose background is filled in, as in a volume that was not
    skull-stripped), the FLAIR and the T1, T1ce, T2 that share its ROI are all lossless, for
    the FLAIR's reason."""
    import json

    import nibabel as nib

    from medroi import api, batch, codec

    case = CASE
    case_dir = require_data("brats", case)
    inp = tmp_path / "in" / case
    inp.mkdir(parents=True)
    volumes = {}
    for modality in ("flair", "t1", "t1ce", "t2"):
        volumes[modality], affine = _slab(case_dir, modality)
        if modality == "flair":
            flair = volumes[modality].copy()
            background = flair == flair.min()
            flair[background] = np.random.default_rng(0).integers(5, 60, int(background.sum()), dtype=flair.dtype)
            volumes[modality] = flair
        nib.save(nib.Nifti1Image(volumes[modality], affine), str(inp / f"{case}_{modality}.nii.gz"))
    summary = batch.compress_tree(tmp_path / "in", tmp_path / "out", roi="auto", model=str(BRATS_BUNDLE),
                                  workers=1, progress=False)
    assert summary["failed"] == 0 and summary["ok"] == 4
    rows = json.loads((tmp_path / "out" / "manifest.json").read_text())["files"]
    assert {r["roi_status"] for r in rows} == {"fallback"}
    assert len({r["roi_reason"] for r in rows}) == 1 and "training data" in rows[0]["roi_reason"]
    for modality, original in volumes.items():
        out = tmp_path / "out" / case / f"{case}_{modality}.nii.gz.mroi"
        decoded = codec.decompress(out.read_bytes())
        assert decoded.roi_mask.all() and np.array_equal(decoded.array, original), modality
        assert api.file_info(out)["roi_auto"]["status"] == "fallback"


def test_the_xray_model_averages_the_mirrored_image():
    """flip_average (configs/roi.json): mirroring a radiograph mirrors its ROI probability, as
    the cross-validation scored it (medroi.autoroi.tta.flip_averaged)."""
    bundle = REPO / "bundles" / "xray_roi_compression"
    if not (bundle / "models" / "model.ts").is_file():
        pytest.skip("no shipped X-ray model")
    from medroi.io import read_image
    from medroi.networks.runtime import load_model

    model = load_model(str(bundle), "png")
    assert model.policy.flip_average
    image = read_image(require_data("xray", "images", "mhh_19a01707.png")).array
    direct = model.probability(image)
    mirrored = model.probability(np.ascontiguousarray(image[:, ::-1]))
    np.testing.assert_allclose(mirrored[:, ::-1], direct, atol=1e-4)
    assert direct.max() > 0.9  # the lungs are found
