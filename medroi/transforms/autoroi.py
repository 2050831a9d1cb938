"""``AutoRoid``: the ROI that ``medroi compress --roi auto`` stores, as a MONAI dictionary transform.

It calls the library (:func:`medroi.api.auto_roi` with the model's TorchScript export and
``configs/roi.json`` policy, through :func:`medroi.api.load_network`), so a bundle's
inference workflow stores exactly the CLI's ROI: robust normalisation, the model's small
grid, threshold, clean-up, margin, and the plausibility check whose fallback is the whole
image (kept within ``roi_max_error``). A BRATS case's T1 / T1ce / T2 get the ROI found on
the case's FLAIR, as ``medroi compress`` does for a folder. The report (``roi_auto`` in
``medroi info``) travels as JSON text in the ROI's ``meta[ROI_REPORT_KEY]`` (strings
collate), where :class:`~medroi.transforms.SaveMroid` records it in the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

from monai.config import KeysCollection
from monai.transforms import MapTransform

from medroi.errors import InvalidImageError
from medroi.transforms.loading import medroi_metadata
from medroi.transforms.utils import like_input, single_channel

__all__ = ["AutoRoid", "AutoRoiD", "AutoRoiDict", "ROI_REPORT_KEY", "roi_report"]

#: The ROI meta key holding the ``--roi auto`` report (JSON text).
ROI_REPORT_KEY = "medroi_roi_auto"


def roi_report(roi: Any) -> dict | None:
    """The ``--roi auto`` report an ROI made by :class:`AutoRoid` carries, else None."""
    meta = getattr(roi, "meta", None)
    text = meta.get(ROI_REPORT_KEY) if isinstance(meta, Mapping) else None
    return json.loads(text) if isinstance(text, str) else None


class AutoRoid(MapTransform):
    """Set ``roi_key`` to the ``--roi auto`` ROI (bool MetaTensor, the image's shape) of each key.

    Args:
        keys: the image keys, loaded by ``LoadMedicalImaged`` (native integers, ``(1, ...)``,
            ``meta["filename_or_obj"]`` the file, whose name tells the MR sequence).
        model: a bundle folder, bundle name or ``.ts`` file (as ``--model``); its
            ``models/model.ts`` and ``configs/roi.json`` are used. Loaded on first use.
        roi_key: where the ROI goes (one image key; with several keys, ``<key>_<roi_key>``).
        margin: as ``--roi-margin`` ("8mm", "5%", "3px"); None: the model's policy.
        case_flair: a BRATS-named T1 / T1ce / T2 takes the ROI found on its case's FLAIR.
        threads: torch threads for the U-Net (1: the CLI's, reproducible).
    """

    def __init__(
        self,
        keys: KeysCollection,
        model: str | os.PathLike,
        roi_key: str = "roi",
        margin: str | None = None,
        case_flair: bool = True,
        threads: int = 1,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        path = Path(model)
        # a folder's own name is the model's name (as `--model NAME`), also for "." or "../x"
        self.model = str(path.resolve()) if path.is_dir() else str(model)
        self.roi_key, self.margin, self.case_flair, self.threads = roi_key, margin, case_flair, int(threads)
        self._networks: dict[str, Any] = {}

    def _network(self, image_format: str):
        from medroi.networks.runtime import load_model

        if image_format not in self._networks:  # torch only; the same predictor as `medroi compress`
            self._networks[image_format] = load_model(self.model, image_format, threads=self.threads)
        return self._networks[image_format]

    def _out_key(self, key: Hashable) -> str:
        return self.roi_key if len(self.keys) == 1 else f"{key}_{self.roi_key}"

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        from medroi.api import auto_roi
        from medroi.autoroi.inputs import brats_flair_sibling
        from medroi.io import MedicalImage

        d = dict(data)
        for key in self.key_iterator(d):
            img = d[key]
            array, _, path, fmt = single_channel(img, "AutoRoid", key)
            if array.ndim < 2:
                raise InvalidImageError(f"AutoRoid: '{key}' must be a 2D image or a volume, got spatial shape {array.shape}")
            image = MedicalImage(array=array, format=fmt, metadata=medroi_metadata(img), source=path)
            flair = brats_flair_sibling(path) if self.case_flair and path else None
            mask, report = auto_roi(self._network(fmt), image, path, roi_source=None if flair is None else str(flair),
                                    roi_margin=self.margin)
            roi = like_input(mask[None], img)
            roi.meta[ROI_REPORT_KEY] = json.dumps(report, separators=(",", ":"))
            d[self._out_key(key)] = roi
        return d


AutoRoiD = AutoRoiDict = AutoRoid
