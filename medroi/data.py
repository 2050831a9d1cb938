"""Where the training and test data are, as lists of dicts that MONAI datasets take.

- BRATS: ``<data_root>/brats/<case>/<case>_{flair,t1,t1ce,t2,seg}.nii.gz``. The split is
  by case and deterministic: cases sorted by name, the last ``n_val`` (default 2) are
  validation, the rest training.
- X-rays with lung masks: the rows of ``<data_root>/xray/index.csv`` whose
  ``masks/<name>_lungs.png`` exists, sorted by image name; same split rule.

The data root is the ``data_root`` argument, else the ``MEDROI_DATA`` environment
variable, else ``../shared/data`` beside the repository.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from medroi.errors import InputNotFoundError, InvalidImageError, MedroiError

__all__ = [
    "BRATS_MODALITIES",
    "DATA_ENV",
    "brats_cases",
    "default_data_root",
    "resolve_data_root",
    "split_items",
    "xray_cases",
]

DATA_ENV = "MEDROI_DATA"
BRATS_MODALITIES = ("flair", "t1", "t1ce", "t2")
_SPLITS = ("all", "train", "val")


def default_data_root() -> Path:
    """``$MEDROI_DATA`` if set, else ``../shared/data`` beside the repository (not checked)."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def resolve_data_root(data_root: str | os.PathLike | None = None) -> Path:
    """The data root to use; raises InputNotFoundError (saying how to set it) if it is absent."""
    root = Path(data_root) if data_root is not None else default_data_root()
    if not root.is_dir():
        raise InputNotFoundError(
            f"data root {root} not found: pass data_root=... or set {DATA_ENV} to the shared/data folder"
        )
    return root


def split_items(items: list[dict], split: str = "all", n_val: int = 2) -> list[dict]:
    """The fixed split of ``items`` (already sorted): the last ``n_val`` are validation."""
    if split not in _SPLITS:
        raise MedroiError(f"split must be one of {_SPLITS}, got {split!r}")
    if n_val < 0 or (split != "all" and n_val >= len(items)):
        raise MedroiError(f"n_val={n_val} leaves no training items out of {len(items)}; lower n_val")
    if split == "all":
        return list(items)
    cut = len(items) - n_val
    return list(items[:cut]) if split == "train" else list(items[cut:])


def brats_cases(data_root: str | os.PathLike | None = None, split: str = "all", n_val: int = 2) -> list[dict]:
    """BRATS cases as ``{"case", "flair", "t1", "t1ce", "t2", "seg"}`` dicts of paths (str)."""
    brats = resolve_data_root(data_root) / "brats"
    if not brats.is_dir():
        raise InputNotFoundError(f"no BRATS folder at {brats}: expected <data_root>/brats/<case>/<case>_flair.nii.gz ...")
    cases = []
    for case_dir in sorted(p for p in brats.iterdir() if p.is_dir()):
        case = case_dir.name
        item: dict[str, str] = {"case": case}
        for part in (*BRATS_MODALITIES, "seg"):
            path = case_dir / f"{case}_{part}.nii.gz"
            if not path.is_file():
                raise InputNotFoundError(f"BRATS case {case} lacks {path.name} (expected in {case_dir})")
            item[part] = str(path)
        cases.append(item)
    if not cases:
        raise InputNotFoundError(f"no BRATS cases under {brats}")
    return split_items(cases, split, n_val)


def xray_cases(
    data_root: str | os.PathLike | None = None, split: str = "all", n_val: int = 2, structure: str = "lungs"
) -> list[dict]:
    """X-rays that have a ``<name>_<structure>.png`` mask, as ``{"name", "image", "mask"}`` path dicts."""
    xray = resolve_data_root(data_root) / "xray"
    index = xray / "index.csv"
    if not index.is_file():
        raise InputNotFoundError(f"no X-ray index at {index}")
    items = []
    with index.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "image" not in reader.fieldnames:
            raise InvalidImageError(f"{index} has no 'image' column")
        for row in reader:
            image = xray / row["image"]
            name = image.stem
            mask = xray / "masks" / f"{name}_{structure}.png"
            if mask.is_file():
                if not image.is_file():
                    raise InputNotFoundError(f"{index} lists {row['image']}, which is missing")
                items.append({"name": name, "image": str(image), "mask": str(mask)})
    if not items:
        raise InputNotFoundError(f"no X-ray with a {structure} mask under {xray / 'masks'}")
    items.sort(key=lambda item: item["name"])
    return split_items(items, split, n_val)
