"""From U-Net probabilities to the stored ROI: clean-up, margin, plausibility (numpy/scipy).

- :func:`clean`: drop small connected components (relative to the largest), keep at most
  ``max_components`` of them, fill holes.
- :func:`grow`: dilate by a margin in mm (voxel spacing) or pixels, by a distance transform.
- :func:`check`: is the prediction plausible for the model? Returns the reason why not, or None.
- :func:`finish`: all of the above -> :class:`AutoRoi` (``mask`` None when rejected, so the
  caller stores the image without a network ROI: see ``medroi.api``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from medroi.errors import MedroiError

__all__ = ["RoiPolicy", "AutoRoi", "parse_margin", "clean", "grow", "extend_down", "input_rejection", "check",
           "finish"]


@dataclass(frozen=True)
class RoiPolicy:
    """How one model's prediction becomes the stored ROI (the bundle's ``configs/roi.json``).

    Fractions are of the foreground (volumes: voxels above the minimum; 2D: every pixel).
    """

    input_size: int | None = None          # model grid (square); None: native grid, codec window
    flip_average: bool = False             # average with the left-right mirrored input (tta.flip_averaged)
    context_slices: int = 0                # volumes: neighbours on each side as input channels (context.with_context)
    views: int = 1                         # volumes: 3 = average the axial, coronal and sagittal planes (views.py)
    foreground: str = "above_min"          # "above_min" (skull-stripped MR) or "all" (radiographs)
    normalise: str = "percentile"          # input intensities: "percentile" (robust_unit) or "rank" (rank_unit)
    threshold: float = 0.5                 # the mask the ROI is grown from (checked, cleaned, margin)
    segment_threshold: float | None = None  # the raw segmentation (Dice, segment_volume); None: threshold
    margin: str = "0px"                    # default --roi-margin
    margin_down: str | None = None         # 2D only: then also extend toward the bottom row (extend_down)
    min_component_ratio: float = 0.0       # drop components smaller than this x the largest
    max_components: int | None = None      # keep at most this many (largest first)
    fill_holes: bool = True
    min_fraction: float = 0.0              # plausibility: raw mask fraction of the foreground
    max_fraction: float = 1.0
    max_fragments: int | None = None       # raw components of >= fragment_voxels
    fragment_voxels: int = 50
    min_confidence: float = 0.0            # mean probability inside the raw mask
    max_foreground_fraction: float = 1.0   # input check: skull-stripped MR has most voxels at the minimum
    accepts: tuple = ()                    # modalities the model was trained on (empty: any)

    def __post_init__(self):
        if self.normalise not in ("percentile", "rank"):
            raise ValueError(f"roi.json normalise is {self.normalise!r}: 'percentile' or 'rank'")
        if self.views not in (1, 3):
            raise ValueError(f"roi.json views is {self.views!r}: 1 (slices along the slice axis) or 3 (three planes)")

    @property
    def segmentation_threshold(self) -> float:
        """The threshold of the raw segmentation: a stored ROI may start lower (coverage first)."""
        return self.threshold if self.segment_threshold is None else float(self.segment_threshold)

    @classmethod
    def from_dict(cls, data: dict) -> "RoiPolicy":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "accepts" in known:
            known["accepts"] = tuple(str(m).lower() for m in known["accepts"])
        return cls(**known)


@dataclass
class AutoRoi:
    """The outcome of ``--roi auto``: ``mask`` (bool, native shape) or None with ``reason``;
    ``raw`` is the U-Net's segmentation (probability > the policy's ``segmentation_threshold``,
    before clean-up and margin; for evaluation)."""

    mask: np.ndarray | None
    reason: str | None = None
    stats: dict = field(default_factory=dict)
    raw: np.ndarray | None = None

    @property
    def accepted(self) -> bool:
        return self.mask is not None


_MARGIN = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(mm|px|%)?\s*$")


def parse_margin(text: str | float | int) -> tuple[float, str]:
    """'3mm' / '4px' / '1.5%' / 4 (pixels) -> (value, unit)."""
    if isinstance(text, (int, float)):
        return float(text), "px"
    m = _MARGIN.match(str(text))
    if not m:
        raise MedroiError(f"--roi-margin {text!r}: give a number with mm, px or % (of the image side), e.g. 3mm")
    return float(m.group(1)), m.group(2) or "px"


def _label(mask: np.ndarray):
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)  # 8/26-connected
    return ndimage.label(mask, structure=structure)


def clean(mask: np.ndarray, policy: RoiPolicy) -> np.ndarray:
    """Drop small components, keep the largest ``max_components``, fill holes (per slice for 3D)."""
    from scipy import ndimage

    mask = np.asarray(mask, bool)
    if not mask.any():
        return mask
    labels, n = _label(mask)
    if n > 1 and (policy.min_component_ratio > 0 or policy.max_components):
        sizes = np.bincount(labels.ravel())[1:]
        order = np.argsort(sizes)[::-1]
        keep = [i for i in order if sizes[i] >= policy.min_component_ratio * sizes[order[0]]]
        if policy.max_components:
            keep = keep[: policy.max_components]
        mask = np.isin(labels, np.asarray(keep) + 1)
    if policy.fill_holes:
        if mask.ndim == 3:
            mask = np.stack([ndimage.binary_fill_holes(mask[..., z]) for z in range(mask.shape[-1])], axis=-1)
        else:
            mask = ndimage.binary_fill_holes(mask)
    return mask


def _pixels(value: float, unit: str, shape: tuple) -> float:
    """A px or % margin in pixels (% of the larger in-plane side: the first two axes)."""
    return value / 100.0 * max(shape[:2]) if unit == "%" else value


def grow(mask: np.ndarray, margin: tuple[float, str], spacing=None) -> np.ndarray:
    """Every voxel within ``margin`` of the mask (Euclidean; mm use ``spacing``, % the larger side)."""
    from scipy import ndimage

    value, unit = margin
    mask = np.asarray(mask, bool)
    if value <= 0 or not mask.any():
        return mask
    if unit == "mm":
        sampling = np.asarray(spacing if spacing is not None else [1.0] * mask.ndim, float)[: mask.ndim]
        if sampling.size < mask.ndim:
            sampling = np.concatenate([sampling, np.ones(mask.ndim - sampling.size)])
    else:
        sampling = np.ones(mask.ndim)
        value = _pixels(value, unit, mask.shape)
    # work in the bounding box grown by the margin (a whole-volume transform is slow)
    pad = [int(np.ceil(value / s)) + 1 for s in sampling]
    idx = np.nonzero(mask)
    box = tuple(slice(max(0, int(i.min()) - p), int(i.max()) + p + 1) for i, p in zip(idx, pad))
    sub = mask[box]
    dist = ndimage.distance_transform_edt(~sub, sampling=sampling)
    out = np.zeros_like(mask)
    out[box] = dist <= value
    return out


def extend_down(mask: np.ndarray, margin: str | None) -> np.ndarray:
    """A 2D mask extended toward the last row by ``margin`` (px or % of the larger side).

    On chest radiographs (head up) the lung bases lie behind the diaphragm domes, below what
    the lung fields show; masks that include them run further down than a segmentation of
    the visible fields (docs of the X-ray bundle). Volumes are returned unchanged."""
    mask = np.asarray(mask, bool)
    if margin is None or mask.ndim != 2 or not mask.any():
        return mask
    value, unit = parse_margin(margin)
    if unit == "mm":
        raise MedroiError("margin_down is in px or % (a radiograph's pixel size is not always known)")
    rows = int(round(_pixels(value, unit, mask.shape)))
    if rows <= 0:
        return mask
    # a pixel is in when a mask pixel lies at most `rows` above it (column sums, O(size))
    above = np.cumsum(mask, axis=0, dtype=np.int32)
    window = above.copy()
    window[rows + 1:] -= above[:-rows - 1]
    return window > 0


def input_rejection(foreground: np.ndarray, policy: RoiPolicy) -> str | None:
    """Why the input itself is unlike the model's training data (whatever the network would
    say), or None: more voxels above the background than ``max_foreground_fraction``."""
    fg_fraction = max(int(foreground.sum()), 1) / max(foreground.size, 1)
    if fg_fraction > policy.max_foreground_fraction:
        return (f"not an image like the model's training data ({fg_fraction:.0%} of the voxels are above the "
                f"background; the model expects <= {policy.max_foreground_fraction:.0%}, e.g. skull-stripped)")
    return None


def check(prob: np.ndarray, raw: np.ndarray, foreground: np.ndarray, policy: RoiPolicy) -> tuple[str | None, dict]:
    """(reason the prediction is implausible or None, the statistics used)."""
    fg = max(int(foreground.sum()), 1)
    n = int(raw.sum())
    fraction = n / fg
    confidence = float(prob[raw].mean()) if n else 0.0
    fragments = 0
    if n:
        labels, count = _label(raw)
        fragments = int((np.bincount(labels.ravel())[1:] >= policy.fragment_voxels).sum())
    stats = {"fraction": round(fraction, 6), "confidence": round(confidence, 4), "fragments": fragments}
    rejected_input = input_rejection(foreground, policy)
    if rejected_input:
        return rejected_input, stats
    if n == 0:
        return "the model found no region", stats
    if fraction < policy.min_fraction:
        return f"region too small ({fraction:.2%} of the image, model expects >= {policy.min_fraction:.2%})", stats
    if fraction > policy.max_fraction:
        return f"region too large ({fraction:.1%} of the image, model expects <= {policy.max_fraction:.1%})", stats
    if policy.max_fragments is not None and fragments > policy.max_fragments:
        return f"region in {fragments} fragments (model expects <= {policy.max_fragments})", stats
    if confidence < policy.min_confidence:
        return f"low confidence (mean probability {confidence:.2f} < {policy.min_confidence:.2f})", stats
    return None, stats


def finish(prob: np.ndarray, foreground: np.ndarray, policy: RoiPolicy, margin: tuple[float, str] | None = None,
           spacing=None) -> AutoRoi:
    """Probabilities (native shape) -> checked, cleaned, grown ROI (or a rejection)."""
    raw = prob > policy.threshold
    reason, stats = check(prob, raw, foreground, policy)
    margin = parse_margin(policy.margin) if margin is None else margin
    stats["margin"] = f"{margin[0]:g}{margin[1]}"
    if policy.margin_down is not None:
        stats["margin_down"] = policy.margin_down
    segmentation = raw if policy.segment_threshold is None else prob > policy.segmentation_threshold
    if reason is not None:
        return AutoRoi(None, reason, stats, segmentation)
    mask = extend_down(grow(clean(raw, policy), margin, spacing), policy.margin_down)
    stats["roi_fraction"] = round(float(mask.mean()), 6)
    return AutoRoi(mask, None, stats, segmentation)
