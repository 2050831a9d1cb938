"""The ROI training pipeline's X-ray inputs: a radiograph saved in colour trains on its luma."""

from __future__ import annotations

import numpy as np
from PIL import Image

from medroi.networks.roi_cv import cache_xray


def test_colour_radiograph_is_cached_as_its_luma(tmp_path):
    rng = np.random.default_rng(0)
    grey = (rng.random((60, 50)) * 200 + 20).astype(np.uint8)
    rgb = np.stack([grey, grey, grey], axis=-1)
    rgb[..., 0] = np.clip(rgb[..., 0].astype(int) + 3, 0, 255)  # JPEG-like chroma noise: read as planes
    lungs = np.zeros((60, 50), np.uint8)
    lungs[10:50, 5:45] = 1
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(lungs).save(tmp_path / "lungs.png")
    colour = np.load(cache_xray("colour", tmp_path / "colour.png", tmp_path / "lungs.png", 32, tmp_path / "c1"))
    plain = np.load(cache_xray("grey", tmp_path / "grey.png", tmp_path / "lungs.png", 32, tmp_path / "c2"))
    assert colour["image"].shape == plain["image"].shape == (1, 32, 32)
    np.testing.assert_array_equal(colour["roi"], plain["roi"])
    # the luma of a near-grey colour image normalises to nearly the grey image
    assert np.abs(colour["image"].astype(np.float32) - plain["image"].astype(np.float32)).max() < 0.05


def test_a_lung_mask_with_one_lung_is_incomplete(tmp_path):
    """Masks label the left lung 1 and the right lung 2; a mask with one label is not a truth
    for "both lungs" (it is held out of training and out of the fold figures)."""
    from medroi.networks.roi_cv import lung_mask_complete

    both = np.zeros((40, 40), np.uint8)
    both[5:35, 3:18], both[5:35, 22:37] = 1, 2
    one = np.where(both == 2, 0, both).astype(np.uint8)
    Image.fromarray(both).save(tmp_path / "both.png")
    Image.fromarray(one).save(tmp_path / "one.png")
    assert lung_mask_complete(tmp_path / "both.png")
    assert not lung_mask_complete(tmp_path / "one.png")


def test_a_context_unet_trains_and_predicts_on_stacked_slices():
    """roi_cv's 2.5D path: [N, 5, s, s] inputs train a 5-channel U-Net whose held-out
    prediction is [N, s, s], the same with the mirrored-average runtime option."""
    import numpy as np

    from medroi.autoroi.context import with_context
    from medroi.networks.roi_cv import predict, train

    rng = np.random.default_rng(0)
    slices = rng.random((6, 32, 32)).astype(np.float32)
    rois = slices > 0.7
    stacked = with_context(slices, 2)
    net = train(stacked, rois, np.ones(6), iters=2, batch=3, lr=1e-3, seed=0, rot_deg=5.0, keep_zero=True,
                log=lambda _: None, channels=(4, 8, 16))
    assert next(p for p in net.parameters() if p.dim() == 4).shape[1] == 5  # the first convolution reads 5 slices
    prob = predict(net, stacked)
    assert prob.shape == (6, 32, 32) and 0 <= prob.min() and prob.max() <= 1
    assert predict(net, stacked, flip_average=True).shape == (6, 32, 32)


def _brats_case(folder, rng, flair_scale: float = 1000.0, t1ce_scale: float = 50.0):
    """A synthetic skull-stripped case: FLAIR and T1ce on one grid (different scales), a seg."""
    import nibabel as nib

    folder.mkdir(parents=True)
    shape = (40, 40, 8)
    brain = np.zeros(shape, bool)
    brain[5:35, 5:35, :] = True
    seg = np.zeros(shape, np.uint8)
    seg[15:25, 15:25, 2:6] = 2
    volumes = {"flair": np.where(brain, np.round(rng.random(shape) * flair_scale) + 10, 0),
               "t1ce": np.where(brain, np.round(rng.random(shape) * t1ce_scale) + 1, 0), "seg": seg}
    for name, vol in volumes.items():
        dtype = np.uint8 if name == "seg" else np.int16  # integer, as BRATS stores them
        nib.save(nib.Nifti1Image(vol.astype(dtype), np.eye(4)), str(folder / f"{folder.name}_{name}.nii.gz"))
    return volumes


def test_flair_and_t1ce_are_stacked_modality_major_with_their_neighbours(tmp_path):
    """--modalities flair,t1ce --context 1: channels are FLAIR z-1, z, z+1, then T1ce z-1, z, z+1,
    each modality normalised on its own; the FLAIR-only cache keeps its file name and shape."""
    from medroi.networks.roi_cv import brats_input, brats_network_input, cache_brats

    case = tmp_path / "Brats18_Synth_1"
    volumes = _brats_case(case, np.random.default_rng(1))
    both = cache_brats(case, 16, tmp_path / "cache", ["flair", "t1ce"])
    alone = cache_brats(case, 16, tmp_path / "cache")
    assert both.name == "Brats18_Synth_1_flair+t1ce.npz" and alone.name == "Brats18_Synth_1.npz"
    image, flair_only = np.load(both)["image"], np.load(alone)["image"]
    assert image.shape == (2, 8, 16, 16) and flair_only.shape == (8, 16, 16)
    np.testing.assert_array_equal(image[0], flair_only)
    t1ce = brats_input(volumes["t1ce"], 16).astype(np.float16)  # its own percentiles, not the FLAIR's
    np.testing.assert_array_equal(image[1], t1ce)
    # a T1ce 20x fainter than the FLAIR spans [0, 1] like it (FLAIR percentiles would map it near 0)
    assert abs(float(image[1].mean()) - float(image[0].mean())) < 0.05 and image[1].mean() > 0.1
    x = brats_network_input(image, 1)
    assert x.shape == (8, 6, 16, 16)
    for z in range(8):
        for d in (-1, 0, 1):
            src = min(max(z + d, 0), 7)
            np.testing.assert_array_equal(x[z, 1 + d], image[0, src])
            np.testing.assert_array_equal(x[z, 4 + d], image[1, src])
    np.testing.assert_array_equal(brats_network_input(flair_only, 1), x[:, :3])


def test_a_missing_modality_is_refused_with_what_to_do(tmp_path):
    import pytest

    from medroi.networks.roi_cv import cache_brats

    case = tmp_path / "Brats18_Synth_2"
    _brats_case(case, np.random.default_rng(2))
    with pytest.raises(SystemExit, match="no t2 volume"):
        cache_brats(case, 16, tmp_path / "cache", ["flair", "t2"])


def test_lesion_fade_pulls_only_the_region_towards_the_rest():
    """``--lesion-fade``: strength 1 takes the region's core to the median of the rest of the
    foreground, strength 0 and the pixels away from the region are left as they were."""
    import torch

    from medroi.networks.roi_cv import augment, fade_lesion

    x = torch.zeros(2, 5, 40, 40)
    x[:, :, 4:36, 4:36] = 0.3
    x[:, :, 14:26, 14:26] = 0.9
    y = torch.zeros(2, 1, 40, 40)
    y[:, :, 14:26, 14:26] = 1
    out = fade_lesion(x, y, torch.tensor([1.0, 0.0]))
    assert abs(float(out[0, 2, 20, 20]) - 0.3) < 1e-6  # core: at the rest's level
    assert 0.3 < float(out[0, 2, 14, 14]) < 0.9  # edge: softened, not a hard step
    torch.testing.assert_close(out[1], x[1])  # strength 0
    torch.testing.assert_close(out[0, :, :8], x[0, :, :8])  # far from the region
    # in the augmentation the background stays exactly 0 (skull-stripped MR)
    g = torch.Generator().manual_seed(0)
    faded, _ = augment(x, y, g, 0.0, True, lesion_fade=0.9)
    assert bool((faded[:, :, :3] == 0).all())
