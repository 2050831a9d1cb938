"""Which shipped model fits an input: by what the input is (modality, body part, 2D/3D,
BraTS naming), never by its shape alone. No torch import.

Each bundle declares what it was trained for in ``configs/metadata.json`` under
``medroi_input``::

    {"dims": 3, "naming": "brats", "modality": ["MR"], "body_part": ["BRAIN", "HEAD"],
     "summary": "BraTS-preprocessed brain MRI volume ..."}

A model fits an input when the dimensionality matches and either the model names a naming
convention the input follows (``"brats"``: a 3D NIfTI named ``*_flair/_t1/_t1ce/_t2``, with
"brats" in its name or on the BraTS 240 x 240 x 155 grid) or, without one, the input's
DICOM Modality and Body Part Examined are both in the model's lists. Inputs that say
nothing about themselves (PNG, TIFF, JPEG, a NIfTI without BraTS naming) fit no model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from medroi.io.image import MedicalImage

DECLARATION_KEY = "medroi_input"
BRATS_GRID = (240, 240, 155)
_BRATS_SUFFIX = re.compile(r"_(flair|t1|t1ce|t2)\.nii(\.gz)?$", re.IGNORECASE)

__all__ = ["describe_input", "shipped_models", "fits", "choose_model", "DECLARATION_KEY"]


def describe_input(image: MedicalImage, path: str | None = None) -> dict:
    """What an input is, as far as its file says: format, dims, channels, modality, body part, naming."""
    meta = image.metadata if isinstance(image.metadata, dict) else {}
    channels = int(meta.get("channels") or 1)
    dims = image.array.ndim - (1 if channels > 1 else 0)
    name = Path(str(path if path is not None else image.source or "")).name
    naming = None
    if image.format == "nifti" and dims == 3 and _BRATS_SUFFIX.search(name):
        if "brats" in name.lower() or tuple(image.array.shape) == BRATS_GRID:
            naming = "brats"
    modality = meta.get("modality") if image.format in ("dicom", "dicom-series") else None
    body_part = meta.get("body_part_examined") if image.format in ("dicom", "dicom-series") else None
    return {
        "format": image.format,
        "dims": dims,
        "channels": channels,
        "modality": str(modality).strip().upper() if modality else None,
        "body_part": str(body_part).strip().upper() if body_part else None,
        "naming": naming,
    }


def input_summary(description: dict) -> str:
    """A short human description, e.g. "3D dicom-series, MR, BRAIN"."""
    parts = [f"{description['dims']}D {description['format']}"]
    if description.get("channels", 1) > 1:
        parts.append(f"{description['channels']} colour channels")
    parts.append(description.get("modality") or "modality unknown")
    if description.get("body_part"):
        parts.append(description["body_part"])
    if description.get("naming"):
        parts.append(f"{description['naming']} naming")
    return ", ".join(parts)


def shipped_models(folder: str | Path | None = None) -> dict[str, dict]:
    """Bundle name -> its ``medroi_input`` declaration, for every bundle with weights and one."""
    from medroi.networks.runtime import bundles_dir

    folder = Path(folder) if folder is not None else bundles_dir()
    found = {}
    if not folder.is_dir():
        return found
    for bundle in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
        except (OSError, ValueError):
            continue
        declaration = metadata.get(DECLARATION_KEY) if isinstance(metadata, dict) else None
        if isinstance(declaration, dict) and (bundle / "models" / "model.ts").is_file():
            found[bundle.name] = declaration
    return found


def _upper_list(value) -> list[str]:
    if value is None:
        return []
    return [str(v).strip().upper() for v in (value if isinstance(value, (list, tuple)) else [value])]


def fits(declaration: dict, description: dict) -> bool:
    """Whether a model declared as ``declaration`` is meant for the described input."""
    if description.get("channels", 1) != 1 or int(declaration.get("dims", 0)) != description["dims"]:
        return False
    if declaration.get("naming"):
        return description.get("naming") == declaration["naming"]
    modalities, parts = _upper_list(declaration.get("modality")), _upper_list(declaration.get("body_part"))
    return (bool(modalities) and description.get("modality") in modalities
            and bool(parts) and description.get("body_part") in parts)


def choose_model(description: dict, models: dict[str, dict] | None = None) -> str | None:
    """The first shipped model (by name) that fits the input, or None."""
    models = shipped_models() if models is None else models
    for name, declaration in models.items():
        if fits(declaration, description):
            return name
    return None
