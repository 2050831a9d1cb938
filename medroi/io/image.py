"""The in-memory image every reader returns and every writer takes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FORMATS = ("nifti", "dicom", "dicom-series", "png", "tiff", "jpeg", "nrrd", "metaimage")


@dataclass
class MedicalImage:
    """Pixels at their native integer dtype plus what is needed to write the source back.

    ``array`` axes: 2D ``(rows, cols)``; NIfTI ``(X, Y, Z)`` as nibabel stores it; DICOM
    series and multi-frame files ``(rows, cols, slices)``; NRRD/MetaImage volumes ``(X, Y, Z)``
    like NIfTI (2D: ``(rows, cols)``). ``metadata`` is JSON-serializable.
    """

    array: np.ndarray
    format: str
    metadata: dict = field(default_factory=dict)
    source: str | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype
