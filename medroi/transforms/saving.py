"""``SaveMroid``: write each image of a MONAI pipeline as a ``.mroi`` file, like ``SaveImaged``.

It takes the image at its native integer dtype (load with ``LoadMedicalImaged``; undo the
window and padding with ``Invertd`` first) and a ROI (a mask key, e.g. a network's
post-processed prediction put back in place with ``Invertd``, or ``AutoRoid``'s ``--roi auto``
ROI, whose report it records as the CLI does), and calls the library
(``medroi.codec.compress``, with the header that ``medroi decompress`` needs to write the
source format back). The output path goes to ``meta["saved_to"]``.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

from medroi.errors import InvalidImageError, LossyInputError
from medroi.transforms.autoroi import roi_report
from medroi.transforms.loading import medroi_metadata
from medroi.transforms.utils import TransformArgumentError, single_channel, to_numpy

__all__ = ["SaveMroid", "SaveMroiD", "SaveMroiDict"]


class SaveMroid(MapTransform):
    """Compress ``keys`` (channel-first, one channel, native integers) to ``output_dir``.

    Args:
        keys: the image keys to write.
        roi_key: the key of the ROI mask (non-zero = ROI) or probability (> 0.5), same
            spatial shape as the image; None: no ROI (every voxel within ``nroi_max_error``).
        output_dir: where files go: ``<output_dir>/<relative path>.mroi``, the path taken
            relative to ``data_root_dir`` (MONAI's SaveImage convention), else the file name.
        roi_max_error, nroi_max_error: the bounds (0 = bit-exact).
        entropy: "ans" or "huffman".
        model: None for the classical predictor, or a bundle name / folder / ``.ts`` path whose
            autoencoder's reconstruction the codec adds as a reference (the file records it).
        data_root_dir: see ``output_dir``.
        force: overwrite existing outputs (otherwise an existing output is an error).
    """

    def __init__(
        self,
        keys: KeysCollection,
        roi_key: str | None = "pred",
        output_dir: str | os.PathLike = "./",
        roi_max_error: int = 0,
        nroi_max_error: int | None = 4,
        entropy: str = "ans",
        model: str | os.PathLike | None = None,
        data_root_dir: str | os.PathLike = "",
        force: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if roi_max_error is None or roi_max_error < 0 or (nroi_max_error is not None and nroi_max_error < 0):
            raise TransformArgumentError("SaveMroid: bounds are integers >= 0 (nroi_max_error may be None)")
        self.roi_key = roi_key
        self.output_dir = Path(output_dir)
        self.roi_max_error, self.nroi_max_error = int(roi_max_error), nroi_max_error
        self.entropy, self.model, self.force = entropy, model, force
        self.data_root_dir = str(data_root_dir)
        self._predictor = None

    def _output_path(self, source: str) -> Path:
        if self.data_root_dir and source:
            relative = os.path.relpath(source, self.data_root_dir)
            if not relative.startswith(".."):
                return self.output_dir / f"{relative}.mroi"
        return self.output_dir / f"{Path(source).name or 'image'}.mroi"

    def _roi(self, d: Mapping, shape: tuple[int, ...]) -> np.ndarray | None:
        if self.roi_key is None:
            return None
        roi = to_numpy(d[self.roi_key])
        roi = roi[0] if roi.ndim == len(shape) + 1 else roi
        if roi.shape != shape:
            raise InvalidImageError(f"SaveMroid: ROI '{self.roi_key}' has shape {roi.shape}, the image {shape}; "
                                    "put the prediction back in the image's geometry with Invertd first")
        return roi > 0.5 if roi.dtype.kind == "f" else roi != 0

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        from medroi import api, codec
        from medroi.fsutil import atomic_write_bytes

        d = dict(data)
        for key in self.key_iterator(d):
            img = d[key]
            array, meta, source, image_format = single_channel(img, "SaveMroid", key)
            if array.dtype.kind not in "iub":
                raise LossyInputError(f"SaveMroid: '{key}' is {array.dtype}; invert the intensity window (Invertd) "
                                      "so the native integers are written")
            if self.model is not None and self._predictor is None:
                self._predictor = api.load_network(str(self.model), str(meta.get("format", "nifti")))
            header = api.mroi_metadata(image_format, Path(source).name, medroi_metadata(img))
            if source and Path(source).exists():  # for cr_vs_input_file in `medroi info`, as the CLI records it
                header["input_bytes"] = api.input_file_bytes(source)
            roi = self._roi(d, array.shape)
            report = None if self.roi_key is None else roi_report(d[self.roi_key])
            if report is not None:  # an AutoRoid ROI: recorded as `medroi compress --roi auto` records it
                header.update(roi_rule="model", roi_source=api.model_roi_source(report, roi, "bundle workflow"),
                              roi_auto=report)
            encoded = codec.compress(array, roi, roi_max_error=self.roi_max_error,
                                     nroi_max_error=self.nroi_max_error, predictor=self._predictor,
                                     entropy=self.entropy, metadata=header)
            path = atomic_write_bytes(self._output_path(source), encoded, force=self.force)
            if isinstance(img, MetaTensor):
                img.meta["saved_to"] = str(path)
        return d


SaveMroiD = SaveMroiDict = SaveMroid
