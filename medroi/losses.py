"""Losses: Eq. 1 of the paper with a differentiable rate term, and Dice + CE for the U-Net.

Eq. 1: ``Loss = 1 - (alpha * SSIM_ROI + beta * SSIM_NROI) + (|unique(B)| - 1) / |B|``.

- SSIM_ROI / SSIM_NROI: one SSIM map (Gaussian window 11, sigma 1.5, C1 = (0.01 L)^2,
  C2 = (0.03 L)^2, L = 1 for images in [0, 1]; Eq. 2/5), averaged with the ROI mask and with
  its complement as weights (pooled over the batch). A region with no pixel in the batch
  contributes SSIM 1 (no penalty).
- beta = 1 - alpha unless given.
- Rate: ``|unique(B)|`` is piecewise constant (no gradient). medroi uses the **entropy, in
  bits per symbol, of a soft histogram of the quantized-with-noise latent** over the integer
  bins ``-latent_max..latent_max`` (a triangular kernel assigns each value to its two
  nearest integers). Why this one: the codec entropy codes the latent with a histogram
  stored in the file, so the empirical entropy is what a symbol actually costs, and
  ``log2 |unique(B)|`` is only an upper bound of it; the soft histogram is differentiable,
  needs no extra learned parameters (a factorized prior would have to ship with the model
  and be reproduced bit-exactly by the codec), and drops when the latent takes fewer
  distinct values, which is what the paper's term asks for. The term is weighted by
  ``rate_weight`` (bits are not on the same scale as SSIM). The paper's own term
  ``(|unique(round(B))| - 1) / |B|`` is returned for logging as ``unique_rate``.
- ``l1_weight`` (default 0, the paper has none) adds a mean absolute error; medroi's codec
  codes the residual, which costs bits in proportion to the pixel error, not to SSIM.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ssim_map", "masked_ssim", "soft_histogram_entropy", "RoiSsimRateLoss", "SegLoss", "JointLoss"]


def _gaussian_window(size: int, sigma: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2.0
    g = torch.exp(-(coords**2) / (2.0 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM [N,1,H,W] of single-channel images [N,1,H,W] (reflect padding keeps the size)."""
    if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 1:
        raise ValueError("ssim_map expects two [N,1,H,W] tensors of the same shape")
    w = _gaussian_window(win_size, sigma, x.device, x.dtype)
    pad = win_size // 2
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(t, (pad, pad, pad, pad), mode="reflect"), w)

    mu_x, mu_y = filt(x), filt(y)
    sxx = filt(x * x) - mu_x * mu_x
    syy = filt(y * y) - mu_y * mu_y
    sxy = filt(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    return num / den


def masked_ssim(x: torch.Tensor, y: torch.Tensor, roi: torch.Tensor, data_range: float = 1.0) -> Tuple[torch.Tensor, torch.Tensor]:
    """(SSIM_ROI, SSIM_NROI): the SSIM map averaged inside and outside ``roi`` (weights in [0,1])."""
    smap = ssim_map(x, y, data_range)
    m = roi.to(smap.dtype)
    inv = 1.0 - m
    m_sum, inv_sum = m.sum(), inv.sum()
    one = torch.ones((), dtype=smap.dtype, device=smap.device)
    s_roi = torch.where(m_sum > 0.5, (smap * m).sum() / m_sum.clamp_min(1e-6), one)
    s_nroi = torch.where(inv_sum > 0.5, (smap * inv).sum() / inv_sum.clamp_min(1e-6), one)
    return s_roi, s_nroi


def soft_histogram_entropy(latent: torch.Tensor, latent_max: float = 31.0) -> torch.Tensor:
    """Entropy (bits/symbol) of a triangular-kernel soft histogram of ``latent`` over integers.

    Integer-valued latents give exactly the empirical entropy of their values; values between
    integers are split between the two nearest bins, which makes it differentiable.
    """
    v = latent.reshape(-1).clamp(-latent_max, latent_max)
    bins = torch.arange(-int(latent_max), int(latent_max) + 1, device=v.device, dtype=v.dtype)
    weights = (1.0 - (v[:, None] - bins[None, :]).abs()).clamp_min(0.0)
    p = weights.sum(0) / weights.sum().clamp_min(1e-12)
    return -(p * torch.log2(p.clamp_min(1e-12))).sum()


def unique_rate(latent: torch.Tensor) -> torch.Tensor:
    """The paper's ``(|unique(round(B))| - 1) / |B|`` (no gradient; for logging)."""
    b = torch.round(latent.detach())
    return (torch.unique(b).numel() - 1) / float(b.numel())


class RoiSsimRateLoss(nn.Module):
    """Eq. 1 with the soft-histogram entropy in place of |unique(B)| (see the module docstring)."""

    def __init__(
        self,
        alpha: float = 0.8,
        beta: Optional[float] = None,
        rate_weight: float = 0.01,
        l1_weight: float = 0.0,
        latent_max: float = 31.0,
    ):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError("alpha must be in [0, 1]")
        self.alpha = float(alpha)
        self.beta = float(1.0 - alpha if beta is None else beta)
        self.rate_weight = float(rate_weight)
        self.l1_weight = float(l1_weight)
        self.latent_max = float(latent_max)

    def terms(self, recon: torch.Tensor, image: torch.Tensor, roi: torch.Tensor, latent: torch.Tensor) -> Dict[str, torch.Tensor]:
        s_roi, s_nroi = masked_ssim(recon, image, roi)
        rate = soft_histogram_entropy(latent, self.latent_max)
        loss = 1.0 - (self.alpha * s_roi + self.beta * s_nroi) + self.rate_weight * rate
        if self.l1_weight > 0:
            loss = loss + self.l1_weight * (recon - image).abs().mean()
        return {"loss": loss, "ssim_roi": s_roi, "ssim_nroi": s_nroi, "rate_bits": rate}

    def forward(self, recon: torch.Tensor, image: torch.Tensor, roi: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        return self.terms(recon, image, roi, latent)["loss"]


class SegLoss(nn.Module):
    """Dice + binary cross-entropy on 1-channel logits (MONAI ``DiceCELoss(sigmoid=True)``)."""

    def __init__(self, lambda_dice: float = 1.0, lambda_ce: float = 1.0):
        super().__init__()
        from monai.losses import DiceCELoss

        self.loss = DiceCELoss(sigmoid=True, lambda_dice=lambda_dice, lambda_ce=lambda_ce, batch=True)

    def forward(self, logits: torch.Tensor, roi: torch.Tensor) -> torch.Tensor:
        return self.loss(logits, roi.to(logits.dtype))


class JointLoss(nn.Module):
    """Loss on ``JointNet.forward`` output for a training stage.

    ``pred`` = (seg_logits, recon, latent); ``target`` = dict with "image" [N,1,H,W] in [0,1]
    and "roi" [N,1,H,W] in {0,1} (or a tuple (image, roi)).

    Stages (the paper: U-Net first, then freeze it and train the autoencoder):
    ``"seg"`` = Dice + CE only; ``"ae"`` = Eq. 1 only; ``"joint"`` = Eq. 1 + ``seg_weight`` x
    (Dice + CE), for optional fine-tuning of both.
    """

    def __init__(
        self,
        stage: str = "ae",
        alpha: float = 0.8,
        beta: Optional[float] = None,
        rate_weight: float = 0.01,
        l1_weight: float = 0.0,
        latent_max: float = 31.0,
        seg_weight: float = 1.0,
    ):
        super().__init__()
        if stage not in ("seg", "ae", "joint"):
            raise ValueError(f"stage must be 'seg', 'ae' or 'joint', got {stage!r}")
        self.stage = stage
        self.seg_weight = float(seg_weight)
        self.seg_loss = SegLoss()
        self.ae_loss = RoiSsimRateLoss(alpha, beta, rate_weight, l1_weight, latent_max)

    @staticmethod
    def _unpack(target) -> Tuple[torch.Tensor, torch.Tensor]:
        if isinstance(target, dict):
            return target["image"], target["roi"]
        return target[0], target[1]

    def forward(self, pred, target) -> torch.Tensor:
        logits, recon, latent = pred
        image, roi = self._unpack(target)
        if self.stage == "seg":
            return self.seg_loss(logits, roi)
        loss = self.ae_loss(recon, image, roi, latent)
        if self.stage == "joint":
            loss = loss + self.seg_weight * self.seg_loss(logits, roi)
        return loss
