"""Lossless image I/O for medroi: NIfTI, DICOM (file or series), PNG, TIFF, JPEG.

Imports only numpy, nibabel, pydicom and Pillow (never torch or monai), so the codec CLI
starts fast. Arrays keep their native integer dtype; ``metadata`` is JSON-serializable
and holds what ``write_image`` needs to write the source back.
"""

from __future__ import annotations

from medroi.io.api import display_values, read_image, read_mask, write_image
from medroi.io.formats import detect_format
from medroi.io.image import MedicalImage

__all__ = ["MedicalImage", "detect_format", "display_values", "read_image", "read_mask", "write_image"]
