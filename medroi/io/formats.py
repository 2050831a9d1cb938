"""Which reader/writer handles a path: by extension, by the DICM preamble, by folder."""

from __future__ import annotations

import os
from pathlib import Path

from medroi.errors import InputNotFoundError, UnsupportedFormatError

EXTENSIONS = {
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".dcm": "dicom",
    ".dicom": "dicom",
    ".ima": "dicom",
    ".png": "png",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "metaimage",
    ".mhd": "metaimage",
}
SUPPORTED = (
    "NIfTI (.nii, .nii.gz), DICOM (.dcm, .dicom, .ima or any file with the DICM preamble), "
    "a folder holding one DICOM series, PNG (.png), TIFF (.tif, .tiff), JPEG (.jpg, .jpeg; input only), "
    "NRRD (.nrrd, .nhdr) and MetaImage (.mha, .mhd)"
)
_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "png", b"II*\x00": "tiff", b"MM\x00*": "tiff", b"\xff\xd8\xff": "jpeg"}


def format_from_extension(path: str | os.PathLike) -> str | None:
    """The format named by the file's extension (case-insensitive), or None."""
    name = Path(path).name.lower()
    if name.endswith(".nii.gz"):
        return "nifti"
    return EXTENSIONS.get(Path(name).suffix)


def has_dicm_preamble(path: str | os.PathLike) -> bool:
    """True if the file holds "DICM" at byte 128 (DICOM Part 10 file)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def looks_like_raw_dicom(head: bytes) -> bool:
    """A DICOM data set without the Part 10 preamble (old ACR-NEMA style files): it starts with
    a little-endian tag of group 0008 (or 0002) and a small element number."""
    return len(head) >= 8 and head[:2] in (b"\x08\x00", b"\x02\x00") and head[3] == 0


def _sniff(path: Path) -> str | None:
    if has_dicm_preamble(path):
        return "dicom"
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return None
    if looks_like_raw_dicom(head):
        return "dicom"
    for signature, fmt in _SIGNATURES.items():
        if head.startswith(signature):
            return fmt
    return None


def dicom_files_in(folder: Path) -> list[Path]:
    """Files of ``folder`` (not recursive, hidden files skipped) that look like DICOM."""
    files = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or not entry.is_file() or entry.name.upper() == "DICOMDIR":
            continue
        if format_from_extension(entry) == "dicom" or has_dicm_preamble(entry):
            files.append(entry)
    return files


def detect_format(path: str | os.PathLike) -> str:
    """Return "nifti", "dicom", "dicom-series", "png", "tiff", "jpeg", "nrrd" or "metaimage" for ``path``.

    Raises InputNotFoundError if it does not exist and UnsupportedFormatError if no
    supported format matches.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path} does not exist; check the path")
    if path.is_dir():
        if dicom_files_in(path):
            return "dicom-series"
        raise UnsupportedFormatError(
            f"{path} is a folder without DICOM files; medroi reads a folder only as one DICOM series. "
            f"Supported: {SUPPORTED}"
        )
    fmt = format_from_extension(path)
    if fmt is not None:
        return fmt
    fmt = _sniff(path)
    if fmt is not None:
        return fmt
    raise UnsupportedFormatError(
        f"{path}: unknown format (extension {path.suffix or 'none'!r}). Supported: {SUPPORTED}"
    )
