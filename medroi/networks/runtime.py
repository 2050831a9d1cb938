"""Load an exported JointNet (TorchScript ``models/model.ts``) with torch alone: no MONAI.

The codec's compress/decompress path uses this module (``medroi.api.load_network``), so it
must not import monai or the MONAI-based modules of ``medroi.networks``; torch is imported
only here, when a network is used.

- :class:`TorchScriptJointNet`: ``name``, ``sha256`` (of the weights file), and numpy batch
  methods ``segment``, ``encode``, ``decode`` (float32/int32 in and out), deterministic on
  CPU (fixed thread count, no autocast, eval mode, no grad).
- :class:`RuntimePredictor`: the codec's ``NetworkPredictor`` plus ``auto_roi`` for
  ``--roi auto`` (policy: the bundle's ``configs/roi.json``, see :mod:`medroi.autoroi`).
- :func:`load_model`: a bundle name, a bundle folder or a ``.ts`` path -> predictor; with no
  name, the default bundle for the image format (volumes -> BRATS, 2D -> X-ray).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from medroi.errors import MedroiError
from medroi.resources import BUNDLES_ENV, bundles_dir

__all__ = ["TorchScriptJointNet", "RuntimePredictor", "load_model", "default_model_name", "BUNDLES_ENV",
           "bundles_dir"]

BRATS_MODEL = "brats_mri_roi_compression"
XRAY_MODEL = "xray_roi_compression"
VOLUME_FORMATS = ("nifti", "dicom-series")
DOWNSAMPLING = 8
ROI_CONFIG = "roi.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _pad_to_multiple(array: np.ndarray, multiple: int = DOWNSAMPLING) -> np.ndarray:
    """Edge-pad the last two axes up to a multiple (as the codec does)."""
    h, w = array.shape[-2:]
    ph, pw = -(-h // multiple) * multiple - h, -(-w // multiple) * multiple - w
    if ph == 0 and pw == 0:
        return array
    widths = [(0, 0)] * (array.ndim - 2) + [(0, ph), (0, pw)]
    return np.pad(array, widths, mode="edge")


class TorchScriptJointNet:
    """A scripted JointNet with numpy batch methods.

    Args:
        path: the TorchScript file (``models/model.ts`` from ``monai.bundle ckpt_export``).
        name: the model's name (defaults to the bundle folder's name, else the file stem).
        threads: torch intra-op threads (fixed for reproducible CPU results).
    """

    def __init__(self, path: str | os.PathLike, name: str | None = None, threads: int = 1):
        import torch

        self._torch = torch
        self.path = Path(path)
        if not self.path.is_file():
            raise MedroiError(f"model file not found: {self.path}")
        if name is None:
            name = self.path.parent.parent.name if self.path.parent.name == "models" else self.path.stem
        self.name = name
        self.sha256 = _sha256(self.path)
        self.threads = int(threads)
        try:
            self.module = torch.jit.load(str(self.path), map_location="cpu").eval()
        except Exception as error:  # a damaged or foreign file
            raise MedroiError(f"cannot load TorchScript model {self.path}: {error}") from error

    @property
    def identity(self) -> dict:
        return {"kind": "network", "name": self.name, "sha256": self.sha256}

    def _run(self, fn, *arrays: np.ndarray):
        torch = self._torch
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():  # [N, H, W] gets its channel axis; [N, C, H, W] is passed as is
                tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
                tensors = [t[:, None] if t.dim() == 3 else t for t in tensors]
                return fn(*tensors)[:, 0].numpy()
        finally:
            torch.set_num_threads(previous)

    @staticmethod
    def _check(unit: np.ndarray, channels: bool = False) -> np.ndarray:
        unit = np.asarray(unit)
        ndims = (3, 4) if channels else (3,)
        if unit.ndim not in ndims or unit.shape[-2] % DOWNSAMPLING or unit.shape[-1] % DOWNSAMPLING:
            shape = "[N, H, W] or [N, C, H, W]" if channels else "[N, H, W]"
            raise MedroiError(f"network input must be {shape} with H, W multiples of 8, got {unit.shape}")
        return unit.astype(np.float32, copy=False)

    def segment(self, unit: np.ndarray) -> np.ndarray:
        """ROI probability float32 [N,H,W] for images float32 [N,H,W] in [0, 1], or [N,C,H,W]
        (a slice with its neighbours, for a model with ``seg_context``)."""
        return self._run(self.module.segment, self._check(unit, channels=True))

    def encode(self, unit: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Integer latent int32 [N,H/8,W/8] for images and ROI masks [N,H,W]."""
        unit = self._check(unit)
        mask = np.asarray(mask, dtype=np.float32)
        if mask.shape != unit.shape:
            raise MedroiError(f"mask shape {mask.shape} does not match image shape {unit.shape}")
        return self._run(self.module.encode, unit, mask).astype(np.int32, copy=False)

    def decode(self, latent: np.ndarray) -> np.ndarray:
        """Reconstruction float32 [N,8h,8w] in [0, 1] from an integer latent [N,h,w]."""
        latent = np.asarray(latent)
        if latent.ndim != 3:
            raise MedroiError(f"latent must be [N, h, w], got {latent.shape}")
        return self._run(self.module.decode, latent.astype(np.int32, copy=False)).astype(np.float32, copy=False)


def _predictor_base():
    from medroi.codec.predictors import NetworkPredictor

    return NetworkPredictor


class RuntimePredictor(_predictor_base()):  # type: ignore[misc]
    """The codec's network predictor, plus the automatic ROI (``probability``, ``segment_volume``,
    ``auto_roi``) under the model's :class:`~medroi.autoroi.postprocess.RoiPolicy`."""

    def __init__(self, model: TorchScriptJointNet, batch_size: int = 16, threshold: float = 0.5, policy=None):
        from medroi.autoroi.postprocess import RoiPolicy

        super().__init__(model, batch_size=batch_size)
        self.policy = policy if policy is not None else RoiPolicy(threshold=threshold)
        self.threshold = self.policy.segmentation_threshold

    def _foreground(self, array: np.ndarray) -> np.ndarray:
        from medroi.autoroi.normalise import foreground

        return np.ones(array.shape, bool) if self.policy.foreground == "all" else foreground(array)

    def probability(self, array: np.ndarray, slice_axis: int = -1, invert: bool = False) -> np.ndarray:
        """float32 ROI probability of a native 2D image or 3D volume (slices along ``slice_axis``)."""
        array = np.asarray(array)
        if array.ndim not in (2, 3):
            raise MedroiError(f"the automatic ROI needs a 2D image or 3D volume, got shape {array.shape}")
        slices = array[None] if array.ndim == 2 else np.moveaxis(array, slice_axis, 0)
        h, w = slices.shape[1:]
        size = self.policy.input_size
        if size is None:  # legacy models: the codec's integer window on the native grid
            from medroi.intensity import integer_window, to_unit

            lo, hi = integer_window(array)
            unit = to_unit(slices, lo, hi)
            if invert:
                unit = 1.0 - unit
        else:
            from medroi.autoroi.normalise import unit_input

            fg = self._foreground(slices)
            unit = unit_input(slices, self.policy.normalise, mask=None if self.policy.foreground == "above_min" else fg,
                              invert=invert)
        if size is None:
            out = np.zeros(slices.shape, dtype=np.float32)
            for s in range(0, slices.shape[0], self.batch_size):
                part = unit[s:s + self.batch_size]
                out[s:s + self.batch_size] = self.model.segment(_pad_to_multiple(part))[:, :h, :w]
            return out[0] if array.ndim == 2 else np.moveaxis(out, 0, slice_axis)
        from medroi.autoroi.views import view_probability

        segment = self.model.segment
        if self.policy.flip_average:
            from functools import partial

            from medroi.autoroi.tta import flip_averaged

            segment = partial(flip_averaged, self.model.segment)
        # the whole stack on the model grid first (a slice's neighbours are its context); the
        # planes of a volume in its own axis order, as roi_cv trains them
        if array.ndim == 2:
            return view_probability(unit, 0, 1, size, self.policy.context_slices, segment, self.batch_size)[0]
        return view_probability(np.moveaxis(unit, 0, slice_axis), slice_axis, self.policy.views, size,
                                self.policy.context_slices, segment, self.batch_size)

    def segment_volume(self, array: np.ndarray, slice_axis: int = -1) -> np.ndarray:
        """Bool raw U-Net segmentation (probability > the policy's segmentation threshold; no
        clean-up, no margin, no check)."""
        return self.probability(array, slice_axis) > self.threshold

    def auto_roi(self, array: np.ndarray, *, spacing=None, slice_axis: int = -1, invert: bool = False,
                 modality: str | None = None, margin=None):
        """The ROI ``--roi auto`` stores: checked, cleaned and grown by the margin
        (:func:`medroi.autoroi.postprocess.finish`); ``mask`` is None with a ``reason`` when
        the model cannot be trusted on this input."""
        from medroi.autoroi.postprocess import AutoRoi, finish, input_rejection, parse_margin

        accepts = self.policy.accepts
        if modality and accepts and modality.lower() not in accepts:
            return AutoRoi(None, f"the model was trained on {'/'.join(accepts)}, not {modality}", {})
        fg = self._foreground(np.asarray(array))
        margin = None if margin is None else parse_margin(margin)
        if input_rejection(fg, self.policy):  # rejected whatever the network says: it is not run
            return finish(np.zeros(fg.shape, np.float32), fg, self.policy, margin, spacing)
        prob = self.probability(array, slice_axis, invert)
        return finish(prob, fg, self.policy, margin, spacing)


def default_model_name(image_format: str) -> str:
    """Volumes (NIfTI, DICOM series) -> the BRATS bundle; 2D images -> the X-ray bundle."""
    return BRATS_MODEL if image_format in VOLUME_FORMATS else XRAY_MODEL


def resolve_model_path(model: str | os.PathLike | None, image_format: str = "nifti") -> Path:
    """A model name (bundle folder under :func:`bundles_dir`), bundle folder or .ts file -> .ts path."""
    if model is None:
        model = default_model_name(image_format)
    path = Path(model)
    if path.suffix == ".ts" or path.is_file():
        return path
    if path.is_dir():
        return path / "models" / "model.ts"
    candidate = bundles_dir() / str(model) / "models" / "model.ts"
    if not candidate.is_file():
        raise MedroiError(
            f"model {str(model)!r} not found (looked for {candidate}); pass a bundle folder or a .ts file, "
            f"or set {BUNDLES_ENV} to the folder holding the bundles"
        )
    return candidate


def load_policy(ts_path: Path):
    """The ROI policy in ``configs/roi.json`` of the model's bundle (defaults if there is none)."""
    import json

    from medroi.autoroi.postprocess import RoiPolicy

    config = ts_path.parent.parent / "configs" / ROI_CONFIG if ts_path.parent.name == "models" else None
    if config is None or not config.is_file():
        return RoiPolicy()
    try:
        return RoiPolicy.from_dict(json.loads(config.read_text()))
    except (ValueError, TypeError) as error:
        raise MedroiError(f"{config}: not a valid ROI policy ({error}); restore the bundle's file") from error


def load_model(model: str | os.PathLike | None = None, image_format: str = "nifti", threads: int = 1,
               batch_size: int = 16) -> RuntimePredictor:
    """The codec predictor for ``model`` (name, bundle folder or .ts path; None = by format)."""
    path = resolve_model_path(model, image_format)
    name = None if (model is None or Path(str(model)).suffix == ".ts") else Path(str(model)).name
    return RuntimePredictor(TorchScriptJointNet(path, name=name, threads=threads), batch_size=batch_size,
                            policy=load_policy(path))
