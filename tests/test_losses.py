"""Eq. 1 loss: SSIM per region, alpha weighting, rate term; Dice+CE."""

from __future__ import annotations

import pytest
import torch

from medroi.losses import JointLoss, RoiSsimRateLoss, SegLoss, masked_ssim, soft_histogram_entropy, ssim_map, unique_rate


def _images(seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(2, 1, 64, 64, generator=g)
    roi = torch.zeros_like(img)
    roi[..., 16:48, 16:48] = 1
    return img, roi, g


def test_ssim_identity_and_degradation():
    img, roi, g = _images()
    assert torch.allclose(ssim_map(img, img), torch.ones_like(img), atol=1e-5)
    noisy = (img + 0.2 * torch.randn(img.shape, generator=g)).clamp(0, 1)
    assert float(ssim_map(noisy, img).mean()) < 0.9


def test_masked_ssim_separates_regions():
    img, roi, g = _images()
    noise = 0.3 * torch.randn(img.shape, generator=g)
    damaged_roi = (img + noise * roi).clamp(0, 1)
    s_roi, s_nroi = masked_ssim(damaged_roi, img, roi)
    assert float(s_roi) < 0.8 and float(s_nroi) > float(s_roi)
    # empty ROI: no penalty from the ROI term
    s_roi0, _ = masked_ssim(damaged_roi, img, torch.zeros_like(roi))
    assert float(s_roi0) == pytest.approx(1.0)


def test_alpha_weights_roi_against_nroi():
    img, roi, g = _images()
    noise = 0.3 * torch.randn(img.shape, generator=g)
    bad_roi = (img + noise * roi).clamp(0, 1)
    bad_nroi = (img + noise * (1 - roi)).clamp(0, 1)
    latent = torch.zeros(2, 1, 8, 8)
    high = RoiSsimRateLoss(alpha=0.8)
    low = RoiSsimRateLoss(alpha=0.2)
    assert high.beta == pytest.approx(0.2) and low.beta == pytest.approx(0.8)
    # with alpha 0.8 damage in the ROI costs more than the same damage outside; alpha 0.2 the reverse
    assert float(high(bad_roi, img, roi, latent)) > float(high(bad_nroi, img, roi, latent))
    assert float(low(bad_roi, img, roi, latent)) < float(low(bad_nroi, img, roi, latent))
    # perfect reconstruction and a constant latent: loss 0
    assert float(high(img, img, roi, latent)) == pytest.approx(0.0, abs=1e-5)


def test_rate_term_falls_with_fewer_distinct_values():
    g = torch.Generator().manual_seed(3)
    many = torch.randint(-20, 21, (4, 1, 16, 16), generator=g).float()
    few = torch.randint(-1, 2, (4, 1, 16, 16), generator=g).float()
    one = torch.zeros(4, 1, 16, 16)
    h_many, h_few, h_one = (float(soft_histogram_entropy(t)) for t in (many, few, one))
    assert h_many > h_few > h_one == pytest.approx(0.0)
    assert h_few == pytest.approx(1.585, abs=0.05)  # 3 equiprobable values: log2(3)
    assert unique_rate(many) > unique_rate(few) > unique_rate(one) == 0.0
    img, roi, _ = _images()
    loss = RoiSsimRateLoss(rate_weight=0.1)
    assert float(loss(img, img, roi, many)) > float(loss(img, img, roi, few))


def test_rate_term_is_differentiable_and_gradient_concentrates():
    y = torch.tensor([0.3, -0.2, 1.6, 2.4, -3.1], requires_grad=True)
    h = soft_histogram_entropy(y)
    h.backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    with torch.no_grad():
        y2 = y - 0.05 * y.grad
    assert float(soft_histogram_entropy(y2)) < float(h)


def test_seg_loss_and_joint_stages():
    _, roi, _ = _images()
    good = (roi * 20 - 10)
    bad = -good
    seg = SegLoss()
    assert float(seg(good, roi)) < float(seg(bad, roi))
    img = torch.rand_like(roi)
    latent = torch.zeros(2, 1, 8, 8)
    pred = (good, img, latent)
    target = {"image": img, "roi": roi}
    assert float(JointLoss("seg")(pred, target)) == pytest.approx(float(seg(good, roi)))
    assert float(JointLoss("ae")(pred, target)) == pytest.approx(0.0, abs=1e-5)
    assert float(JointLoss("joint")(pred, (img, roi))) == pytest.approx(float(seg(good, roi)), abs=1e-5)
    with pytest.raises(ValueError):
        JointLoss("other")
