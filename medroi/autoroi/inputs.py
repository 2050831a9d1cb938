"""What ``--roi auto`` needs to know about an input besides its pixels (no heavy imports).

- :func:`modality_hint`: the MR sequence named by a BRATS-style file name (``*_t1ce.nii.gz``)
  or a DICOM series description, else None (unknown: the model is tried, then checked).
- :func:`brats_flair_sibling`: the FLAIR of the same BRATS case, whose ROI serves every
  co-registered modality of the case.
- :func:`spacing_of` / :func:`is_monochrome1`: voxel size in mm, inverted gray scale.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["BRATS_IMAGE", "modality_hint", "brats_flair_sibling", "spacing_of", "is_monochrome1"]

#: ``<case>_<modality>.nii[.gz]`` as BraTS names its files
BRATS_IMAGE = re.compile(r"^(?P<case>.+)_(?P<modality>flair|t1ce|t1|t2)\.nii(\.gz)?$", re.IGNORECASE)
_SERIES_WORDS = (("flair", "flair"), ("t1ce", "t1ce"), ("t1c", "t1ce"), ("gad", "t1ce"), ("t2", "t2"), ("t1", "t1"))


def modality_hint(path, metadata: dict | None = None) -> str | None:
    """'flair' / 't1' / 't1ce' / 't2' from the file name or DICOM SeriesDescription, else None."""
    m = BRATS_IMAGE.match(Path(str(path)).name)
    if m:
        return m.group("modality").lower()
    description = str((metadata or {}).get("series_description") or "").lower()
    for word, modality in _SERIES_WORDS:
        if word in description:
            return modality
    return None


def brats_flair_sibling(path) -> Path | None:
    """The case's ``<case>_flair.nii[.gz]`` beside a BRATS-named T1/T1ce/T2 file (None for the
    FLAIR itself or when there is none)."""
    path = Path(str(path))
    m = BRATS_IMAGE.match(path.name)
    if not m or m.group("modality").lower() == "flair":
        return None
    for ext in (".nii.gz", ".nii"):
        candidate = path.parent / f"{m.group('case')}_flair{ext}"
        if candidate.is_file():
            return candidate
    return None


def spacing_of(metadata: dict) -> list | None:
    """Voxel size in mm along the array axes, when the format records it."""
    spacing = metadata.get("spacing")
    if spacing:
        return [float(s) for s in spacing]
    pixel = metadata.get("pixel_spacing")
    return [float(s) for s in pixel] if pixel else None


def is_monochrome1(metadata: dict) -> bool:
    """DICOM MONOCHROME1: high stored values are displayed dark."""
    return str(metadata.get("photometric_interpretation", "")).upper() == "MONOCHROME1"
