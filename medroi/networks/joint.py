"""The Segmentation Autoencoder: a U-Net that finds the ROI and an autoencoder that compresses.

Paper (method.md): a U-Net gives one ROI probability per pixel; the mask is concatenated with
the image (2 channels) and a convolutional autoencoder compresses that to a 32 x 32 x 1
bottleneck for a 256 x 256 input (8x down-sampling per axis, one channel); a decoder
reconstructs the image. Everything is fully convolutional, so any H, W that are multiples of
8 work.

The bottleneck is bounded to ``[-latent_max, latent_max]`` by a scaled tanh and quantized:

- training (``self.training``): additive uniform noise U(-0.5, 0.5) (the usual relaxation of
  rounding, Balle et al. 2017) or, with ``quantization="ste"``, rounding with a
  straight-through gradient;
- evaluation and ``encode``: rounding to integers (the symbols the codec entropy codes).

The class is TorchScript-able (``torch.jit.script``); ``segment``, ``encode``, ``decode`` and
``reconstruct`` are exported, so the scripted model (``models/model.ts``) serves the codec
without importing MONAI.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import nn

from monai.networks.nets import UNet

__all__ = ["JointNet", "ConvAutoEncoder", "UNetEnsemble"]


def _conv(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1), nn.PReLU(out_ch))


def _up(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1), nn.PReLU(out_ch))


class ConvAutoEncoder(nn.Module):
    """Conv + stride-2 down-sampling x3 to a 1-channel code at 1/8 size, and its decoder.

    ``channels`` = widths at full, 1/2, 1/4 and 1/8 resolution of the encoder (the decoder
    mirrors them). ``encode_continuous`` returns the bounded real-valued code; quantization
    is done by :class:`JointNet`.
    """

    def __init__(self, in_channels: int = 2, channels: Sequence[int] = (16, 32, 48, 64), latent_max: float = 31.0,
                 latent_gain: float = 8.0):
        super().__init__()
        if len(channels) != 4:
            raise ValueError("channels must give 4 widths (full, 1/2, 1/4, 1/8 resolution)")
        c0, c1, c2, c3 = (int(c) for c in channels)
        self.latent_max = float(latent_max)
        self.latent_gain = float(latent_gain)
        self.encoder = nn.Sequential(
            _conv(in_channels, c0),
            _conv(c0, c1, stride=2),
            _conv(c1, c2, stride=2),
            _conv(c2, c3, stride=2),
            _conv(c3, c3),
            nn.Conv2d(c3, 1, 3, padding=1),
        )
        self.decoder = nn.Sequential(
            _conv(1, c3),
            _conv(c3, c3),
            _up(c3, c2),
            _up(c2, c1),
            _up(c1, c0),
            _conv(c0, c0),
            nn.Conv2d(c0, 1, 3, padding=1),
        )

    def encode_continuous(self, x: torch.Tensor) -> torch.Tensor:
        # the gain lets the code start well above the +-0.5 quantization noise (cold start)
        z = self.encoder(x) * self.latent_gain
        return self.latent_max * torch.tanh(z / self.latent_max)

    def decode_continuous(self, y: torch.Tensor) -> torch.Tensor:
        # linear output (a sigmoid learns a dark background far too slowly); clamped to
        # [0, 1] outside training
        out = self.decoder(y) + 0.5
        if self.training:
            return out
        return torch.clamp(out, 0.0, 1.0)


class UNetEnsemble(nn.Module):
    """U-Nets of one architecture averaged in probability: ``forward`` gives the logit of the
    members' mean sigmoid (so ``sigmoid(forward(x))`` is their mean probability). Members
    trained with other seeds or schedules err in different places; whether their mean beats
    one U-Net is for the cross-validation to say (``roi_calibrate --work A,B``; the BRATS
    bundle docs, 0.5.0, score two ensembles)."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least 2 members")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = torch.zeros_like(x[:, :1])
        for member in self.members:
            total = total + torch.sigmoid(member(x))
        return torch.logit(total / len(self.members), eps=1e-6)


class JointNet(nn.Module):
    """U-Net (ROI probability) + conv autoencoder (image given image and mask).

    Args:
        seg_channels, seg_strides, seg_res_units: the MONAI ``UNet(spatial_dims=2)``.
        ae_channels: the autoencoder's 4 widths (see :class:`ConvAutoEncoder`).
        latent_max: the code is bounded to [-latent_max, latent_max] (integers after rounding).
        quantization: "noise" (additive uniform noise in training) or "ste" (straight-through).
        seg_norm: the U-Net's normalisation ("instance", MONAI's default, or "batch": the
            shipped ROI U-Nets, see ``medroi.networks.roi_cv``).
        seg_context: neighbouring slices on each side the U-Net reads as extra channels
            (``1 + 2 * seg_context`` inputs, :func:`medroi.autoroi.context.with_context`). A
            one-channel image is repeated into every channel: a slice with no neighbours, as
            at a volume's ends.
        seg_members: U-Nets averaged in probability (:class:`UNetEnsemble`, state-dict keys
            ``seg.members.<i>.*``); 1: a single U-Net (keys ``seg.*``).

    ``forward(image)`` (training and MONAI inferers) returns ``(seg_logits, recon, latent)``:
    seg logits [N,1,H,W], reconstruction in [0,1] [N,1,H,W] and the quantized (noisy in
    training) latent [N,1,H/8,W/8]. In ``forward`` the autoencoder is conditioned on the
    U-Net's mask (probability > 0.5, straight-through gradient); ``encode`` takes the mask
    explicitly (a given ROI mask or the U-Net's).
    """

    def __init__(
        self,
        seg_channels: Sequence[int] = (16, 32, 64, 128),
        seg_strides: Sequence[int] = (2, 2, 2),
        seg_res_units: int = 1,
        ae_channels: Sequence[int] = (16, 32, 48, 64),
        latent_max: float = 31.0,
        quantization: str = "noise",
        seg_norm: str = "instance",
        seg_context: int = 0,
        seg_members: int = 1,
    ):
        super().__init__()
        if int(seg_context) < 0:
            raise ValueError(f"seg_context must be >= 0, got {seg_context}")
        self.seg_in_channels = 1 + 2 * int(seg_context)
        if quantization not in ("noise", "ste"):
            raise ValueError(f"quantization must be 'noise' or 'ste', got {quantization!r}")
        if int(seg_members) < 1:
            raise ValueError(f"seg_members must be >= 1, got {seg_members}")

        def unet() -> nn.Module:
            return UNet(
                spatial_dims=2,
                in_channels=self.seg_in_channels,
                out_channels=1,
                channels=tuple(int(c) for c in seg_channels),
                strides=tuple(int(s) for s in seg_strides),
                num_res_units=int(seg_res_units),
                norm=seg_norm,
            )

        self.seg = unet() if int(seg_members) == 1 else UNetEnsemble([unet() for _ in range(int(seg_members))])
        self.ae = ConvAutoEncoder(in_channels=2, channels=ae_channels, latent_max=latent_max)
        self.latent_max = float(latent_max)
        self.use_ste = quantization == "ste"
        self.downsampling = 8

    def _check(self, x: torch.Tensor, channels: int = 1) -> None:
        if x.dim() != 4 or x.shape[1] != channels:
            raise ValueError(f"expected an image batch [N, {channels}, H, W]")
        if x.shape[2] % 8 != 0 or x.shape[3] % 8 != 0:
            raise ValueError("H and W must be multiples of 8")

    @torch.jit.export
    def segment_logits(self, image: torch.Tensor) -> torch.Tensor:
        if image.dim() == 4 and image.shape[1] == 1 and self.seg_in_channels > 1:
            image = image.expand(-1, self.seg_in_channels, -1, -1)
        self._check(image, self.seg_in_channels)
        return self.seg(image)

    @torch.jit.export
    def segment(self, image: torch.Tensor) -> torch.Tensor:
        """ROI probability [N,1,H,W] in [0,1] for an image [N,1,H,W] (or [N,1+2k,H,W]: a slice
        with its ``seg_context`` neighbours) in [0,1]."""
        return torch.sigmoid(self.segment_logits(image))

    def _quantize(self, y: torch.Tensor) -> torch.Tensor:
        if self.training:
            if self.use_ste:
                return y + (torch.round(y) - y).detach()
            return y + torch.empty_like(y).uniform_(-0.5, 0.5)
        return torch.round(y)

    @torch.jit.export
    def encode(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Integer latent [N,1,H/8,W/8] (int32) for image and ROI mask/probability [N,1,H,W]."""
        self._check(image)
        y = self.ae.encode_continuous(torch.cat([image, mask.to(image.dtype)], dim=1))
        return torch.round(y).to(torch.int32)

    @torch.jit.export
    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Reconstruction [N,1,8h,8w] in [0,1] from a latent [N,1,h,w] (any numeric dtype)."""
        return self.ae.decode_continuous(latent.to(torch.float32))

    @torch.jit.export
    def reconstruct(self, image: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(latent, recon) for one image batch: ``decode(encode(image, mask))``."""
        latent = self.encode(image, mask)
        return latent, self.decode(latent)

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self._check(image)
        logits = self.segment_logits(image)
        prob = torch.sigmoid(logits)
        # the codec stores a binary mask (prob > 0.5, or the user's): condition on the same,
        # with a straight-through gradient to the U-Net for joint fine-tuning
        mask = (prob > 0.5).to(prob.dtype) + prob - prob.detach()
        y = self.ae.encode_continuous(torch.cat([image, mask], dim=1))
        latent = self._quantize(y)
        recon = self.ae.decode_continuous(latent)
        return logits, recon, latent


class RoiJointNet(JointNet):
    """:class:`JointNet` whose ``forward(image)`` gives only the U-Net's ROI logits [N,1,H,W].

    The same weights (state dict), the same exported ``segment``/``encode``/``decode``: what a
    MONAI inference workflow and ``verify_net_in_out`` expect of ``network_def`` (one tensor
    out, ``network_data_format`` in metadata.json); training uses :class:`JointNet`.
    """

    def forward(self, image: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.segment_logits(image)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
