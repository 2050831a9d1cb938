"""medroi: ROI-guaranteed compression of medical images, built on MONAI.

Heavy dependencies (torch, monai) are imported lazily, so that the codec path starts fast.
"""

from __future__ import annotations

from medroi.errors import MedroiError

__version__ = "0.6.0"

__all__ = ["MedroiError", "__version__"]
