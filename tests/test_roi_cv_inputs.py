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
