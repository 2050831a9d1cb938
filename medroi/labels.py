"""Is a file a label image (a segmentation, a mask)? By its name or by its content.

Label images must never be coded lossily: a label moved by one is another structure.
Both tests err towards "label": an image taken for a label is only stored losslessly.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

#: Words in a file or folder name that mark label images (``x_seg.nii.gz``, ``x_lungs.png``).
LABEL_WORDS = ("seg", "mask", "label", "labelmap", "annotation", "annot", "gt", "groundtruth", "roi",
               "lungs", "lung", "heart", "lesion", "lesions", "tumor", "tumour", "liver", "kidney", "organs")
#: Substrings that mark a label wherever they occur (``segmentation``, ``masks``, ``labels``).
LABEL_SUBSTRINGS = ("seg", "mask", "label")
LABEL_FOLDERS = ("masks", "mask", "labels", "label", "segmentations", "segmentation", "seg", "annotations", "gt")
#: Content test: at most this many distinct integer values ...
MAX_LABEL_VALUES = 1024
#: ... and neighbouring foreground pixels differ at most this often (images: 0.6 and up on
#: this project's data, label maps: 0.2 and below).
MAX_LABEL_CHANGES = 0.3
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_EXTENSIONS = re.compile(r"(\.nii\.gz|\.[a-z0-9]{1,5})$")

__all__ = ["label_name_reason", "label_content_reason", "LABEL_WORDS"]


def label_name_reason(path: str | Path) -> str | None:
    """Why the name says ``path`` is a label image (e.g. "name contains 'seg'"), or None."""
    path = Path(path)
    stem = _EXTENSIONS.sub("", path.name.lower())
    words = [w for w in _WORD_SPLIT.split(stem) if w]
    for word in words[1:] if len(words) > 1 else words:  # "lung_ct" is an image of the lungs
        if word in LABEL_WORDS:
            return f"name has the label word {word!r}"
    for part in LABEL_SUBSTRINGS:
        if part in stem:
            return f"name contains {part!r}"
    if path.parent.name.lower() in LABEL_FOLDERS:
        return f"kept in a {path.parent.name!r} folder"
    return None


def label_content_reason(array: np.ndarray) -> str | None:
    """Why the pixels look like a label map (few integer values in flat regions), or None."""
    array = np.asarray(array)
    if array.dtype.kind not in "iub" or array.ndim < 2 or array.size == 0:
        return None
    sample = array
    if array.ndim == 3 and array.shape[-1] > 16:  # a volume: every k-th slice is enough
        sample = array[..., :: array.shape[-1] // 16]
    values = np.unique(sample)
    if len(values) > MAX_LABEL_VALUES:
        return None
    right, left = sample[:, 1:], sample[:, :-1]
    foreground = (right != 0) | (left != 0)
    changes = float(np.mean(right[foreground] != left[foreground])) if foreground.any() else 0.0
    if changes > MAX_LABEL_CHANGES:
        return None
    if len(values) > 1 and np.unique(array).size > MAX_LABEL_VALUES:  # the sample missed values
        return None
    return f"{len(values)} distinct values in flat regions"
